// The JSON report (docs/contract.md): its fields and types, the fast writer against
// nlohmann's, and the atomic file write.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "inference/engine.hpp"
#include "report/report.hpp"
#include "segments/error.hpp"
#include "source/source.hpp"

#ifndef LP_CAPTURES_DIR
#define LP_CAPTURES_DIR "captures"
#endif

using nlohmann::json;

namespace {

lp::Analysis analyze(const std::string& name) {
    auto src = lp::open_source(std::string(LP_CAPTURES_DIR) + "/" + name);
    return lp::analyze_source(*src, lp::Engine::Options{});
}

bool is_int_or_null(const json& j) { return j.is_null() || j.is_number_integer(); }

}  // namespace

TEST_CASE("report json: every field of the contract, with its type") {
    const lp::Analysis a = analyze("lab-backlog-full.pcap");
    const json j = lp::analysis_json(a);
    CHECK(j.at("schema") == "listenprobe/1");
    const json& src = j.at("source");
    CHECK(src.at("kind").is_string());
    CHECK(src.at("packets").get<uint64_t>() == 21);
    CHECK(src.at("skipped").is_number_unsigned());
    CHECK(src.at("duration_s").is_number());
    REQUIRE(j.at("listeners").size() == 1);
    const json& l = j.at("listeners")[0];
    CHECK(l.at("address") == "10.77.0.2");
    CHECK(l.at("port") == 8081);
    CHECK(l.at("family") == "ipv4");
    CHECK(l.at("port_state") == "open");
    const json& aq = l.at("accept_queue");
    CHECK(aq.at("capacity") == 3);
    CHECK(aq.at("backlog") == 2);
    CHECK(is_int_or_null(aq.at("capacity_at_least")));
    CHECK(is_int_or_null(aq.at("capacity_at_most")));
    CHECK(l.at("on_full").at("syn") == "drop");
    CHECK(l.at("on_full").at("ack").is_string());
    const json& sa = l.at("synack");
    CHECK(is_int_or_null(sa.at("retries")));
    CHECK(sa.at("retries_at_least").is_number_integer());
    CHECK((sa.at("initial_rto_s").is_null() || sa.at("initial_rto_s").is_number()));
    CHECK(sa.at("gaps_s").is_array());
    CHECK((l.at("rtt_s").is_null() || l.at("rtt_s").is_number()));
    CHECK(l.at("syncookies").is_string());
    for (const char* k : {"capacity", "capacity_at_least", "capacity_at_most"})
        CHECK(is_int_or_null(l.at("syn_queue").at(k)));
    CHECK(l.at("evidence").is_array());
    CHECK(l.at("assumptions").is_array());
    CHECK(l.at("connections_total") == 5);
    CHECK(l.at("connections_omitted") == 0);
    CHECK(l.at("fate_counts") == json{{"queued", 3}, {"syn-dropped", 2}});
    for (const json& w : l.at("warnings")) {
        CHECK(w.at("code").is_string());
        CHECK(w.at("message").is_string());
    }
    REQUIRE(l.at("connections").size() == 5);
    for (const json& c : l.at("connections")) {
        CHECK(c.at("client").get<std::string>().rfind("10.77.0.1:", 0) == 0);
        CHECK(c.at("fate").is_string());
        CHECK(c.at("reason").is_string());
        REQUIRE(!c.at("events").empty());
        CHECK(c.at("events")[0].at("kind") == "syn");
        CHECK(c.at("events")[0].at("dir") == "to-listener");
        for (const json& e : c.at("events")) {
            CHECK(e.at("t").is_number());
            CHECK(e.at("seq").is_number_unsigned());
            CHECK(e.at("ack").is_number_unsigned());
        }
    }
    CHECK(l.at("connections")[0].at("fate") == "queued");
    CHECK(l.at("connections")[0].contains("established_t"));
    CHECK(l.at("connections")[4].at("fate") == "syn-dropped");
    CHECK(!l.at("connections")[4].contains("established_t"));
}

TEST_CASE("report json: the fast writer prints what nlohmann prints") {
    for (const char* name : {"lab-backlog-full.pcap", "lab-groups-cookies.pcap", "lab-synack-retries.pcap",
                             "lab-backlog-full-v6.pcap", "lab-closed-port.pcap"}) {
        CAPTURE(name);
        const lp::Analysis a = analyze(name);
        CHECK(lp::analysis_json_text(a) == lp::analysis_json(a).dump(2) + "\n");
    }
}

TEST_CASE("report json: a probe's no_answer, only when set") {
    lp::Analysis a;
    a.source.kind = "live";
    lp::ListenerVerdict l;
    l.listener = *lp::Endpoint::parse("10.77.0.2:8082");
    a.listeners.push_back(l);
    CHECK_FALSE(lp::analysis_json(a).at("listeners")[0].contains("no_answer"));

    lp::NoAnswer n;
    n.cause = "port-unreachable";
    n.from = lp::IpAddress::parse("10.77.0.2");
    n.icmp_type = 3;
    n.icmp_code = 3;
    n.message = "port unreachable (ICMP type 3 code 3 from 10.77.0.2, the target itself)";
    a.listeners[0].no_answer = n;
    lp::NoAnswer silent;
    silent.cause = "silence";
    silent.message = "plain silence";
    l.no_answer = silent;
    a.listeners.push_back(l);
    const json j = lp::analysis_json(a);
    CHECK(j.at("listeners")[0].at("no_answer") ==
          json{{"cause", "port-unreachable"}, {"from", "10.77.0.2"}, {"icmp_type", 3}, {"icmp_code", 3},
               {"message", n.message}});
    const json& s = j.at("listeners")[1].at("no_answer");
    CHECK(s.at("cause") == "silence");
    CHECK(s.at("from").is_null());
    CHECK(s.at("icmp_type").is_null());
    CHECK(s.at("icmp_code").is_null());
    CHECK(lp::analysis_json_text(a) == j.dump(2) + "\n");
}

TEST_CASE("report json: a capture without listeners is an empty list, not an error") {
    lp::Analysis a;
    a.source.kind = "pcap";
    a.source.path = "empty.pcap";
    const json j = json::parse(lp::analysis_json_text(a));
    CHECK(j.at("listeners").empty());
    CHECK(!j.at("source").contains("duration_s"));
}

TEST_CASE("write_file_atomic: the whole content or nothing") {
    const auto dir = std::filesystem::temp_directory_path() / ("lp-report-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "out.json").string();
    lp::write_file_atomic(path, "{\"a\": 1}\n");
    std::ifstream in(path);
    std::stringstream got;
    got << in.rdbuf();
    CHECK(got.str() == "{\"a\": 1}\n");
    // A directory that does not exist: an InputError, and nothing is created.
    const std::string bad = (dir / "missing" / "out.json").string();
    CHECK_THROWS_AS(lp::write_file_atomic(bad, "x"), lp::InputError);
    CHECK(!std::filesystem::exists(dir / "missing"));
    // No temporary file is left next to the result.
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        (void)e;
        ++files;
    }
    CHECK(files == 1);
    std::filesystem::remove_all(dir);
}
