#include "report/known_values.hpp"

#include <fmt/format.h>

#include <array>

namespace lp {
namespace {

using K = KnownValue::Kind;

// Keep sorted by value, and in step with the table of docs/report.md (which gives a source per row).
constexpr std::array kBacklogs{
    KnownValue{5, K::listen_default, "the Python socketserver default (TCPServer.request_queue_size = 5; http.server)"},
    KnownValue{50, K::listen_default, "the Java ServerSocket default (new ServerSocket(port))"},
    KnownValue{100, K::listen_default, "the Python asyncio default (loop.create_server(backlog=100))"},
    KnownValue{100, K::listen_default, "the Tomcat default (Connector acceptCount 100)"},
    KnownValue{128, K::somaxconn_default, "the net.core.somaxconn default before Linux 5.4"},
    KnownValue{128, K::listen_default, "the Python socket.listen() default without an argument (min(SOMAXCONN, 128))"},
    KnownValue{128, K::listen_default, "programs that pass SOMAXCONN, 128 in the headers of Linux < 5.4"},
    KnownValue{511, K::listen_default, "the nginx default (listen ... backlog=511)"},
    KnownValue{511, K::listen_default, "the redis default (tcp-backlog 511)"},
    KnownValue{511, K::listen_default, "the Apache httpd default (ListenBacklog 511)"},
    KnownValue{511, K::listen_default, "the Node.js default (server.listen backlog 511)"},
    KnownValue{2048, K::listen_default, "the gunicorn default (--backlog 2048)"},
    KnownValue{4096, K::somaxconn_default, "the net.core.somaxconn default since Linux 5.4"},
    KnownValue{4096, K::listen_default, "programs that pass SOMAXCONN, 4096 in the headers of Linux >= 5.4 and glibc 2.36"},
};

}  // namespace

std::span<const KnownValue> known_backlogs() { return kBacklogs; }

std::vector<KnownValue> backlog_matches(int backlog) {
    std::vector<KnownValue> out;
    for (const KnownValue& k : kBacklogs)
        if (k.value == backlog) out.push_back(k);
    return out;
}

std::string backlog_meaning(int backlog) {
    const std::vector<KnownValue> m = backlog_matches(backlog);
    if (m.empty()) return "";
    std::string apps;
    bool somaxconn = false;
    for (const KnownValue& k : m) {
        if (k.kind == K::somaxconn_default) {
            somaxconn = true;
            continue;
        }
        apps += (apps.empty() ? "" : ", ") + std::string(k.meaning);
    }
    std::string o;
    if (somaxconn) {
        for (const KnownValue& k : m)
            if (k.kind == K::somaxconn_default)
                o = fmt::format("matches {}: perhaps clamped by net.core.somaxconn (the listen() argument may be "
                                "larger)", k.meaning);
    }
    if (!apps.empty()) o += (o.empty() ? "matches " : "; also matches ") + apps;
    return o;
}

}  // namespace lp
