// The stack family table and matching (src/inference/stack.cpp).
#include <doctest/doctest.h>

#include "inference/engine.hpp"
#include "inference/stack.hpp"
#include "inference/verdict.hpp"
#include "segments/segment.hpp"
#include "source/source.hpp"

using namespace lp;

namespace {

std::vector<std::string> ids(const ListenerVerdict& v) {
    std::vector<std::string> o;
    if (v.stack)
        for (const auto& m : v.stack->families) o.push_back(stack_traits(m.family).id);
    return o;
}

bool warned(const ListenerVerdict& v, const std::string& code) {
    for (const auto& w : v.warnings)
        if (w.code == code) return true;
    return false;
}

const StackMatch* family(const ListenerVerdict& v, const char* id) {
    for (const auto& m : v.stack->families)
        if (std::string(stack_traits(m.family).id) == id) return &m;
    return nullptr;
}

StackInput::Layout layout(const char* l) { return {l, 1, "10.0.0.1:40000 at 0.000100s"}; }

}  // namespace

TEST_CASE("the family table: ids, names, documented defaults") {
    for (int i = 0; i < kStackFamilies; ++i) {
        const StackTraits& t = stack_traits(StackFamily(i));
        CHECK(t.family == StackFamily(i));
        CHECK(stack_traits(t.id) == &t);
        CHECK(t.layouts != nullptr);
    }
    CHECK(stack_traits("nope") == nullptr);
    CHECK(stack_traits(StackFamily::linux_modern).initial_default == 1.0);
    CHECK(stack_traits(StackFamily::linux_modern).retries_default == 5);
    CHECK(stack_traits(StackFamily::linux_old).initial_default == 3.0);
    CHECK(stack_traits(StackFamily::freebsd).retries_default == 3);
    CHECK(stack_traits(StackFamily::freebsd).retries_max == 12);
    CHECK(stack_traits(StackFamily::freebsd).ack_default == AckPolicy::rst);
    CHECK(stack_traits(StackFamily::windows).retries_default == 2);
    CHECK(stack_traits(StackFamily::windows).initial_ttl == 128);
}

TEST_CASE("option layouts: from the wire, in order, and which family writes them") {
    TcpOptions o;
    for (uint8_t c : {optcode::mss, optcode::sok, optcode::ts, optcode::nop, optcode::ws}) o.push_layout(c);
    CHECK(layout_str(o.layout) == "mss,sok,ts,nop,ws");
    TcpOptions e;
    for (uint8_t c : {optcode::mss, optcode::sok, optcode::eol, optcode::nop}) e.push_layout(c);
    CHECK(layout_str(e.layout) == "mss,sok,eol");  // nothing after an EOL
    TcpOptions many;
    for (int i = 0; i < 20; ++i) many.push_layout(optcode::nop);
    CHECK(layout_str(many.layout).ends_with(",..."));
    CHECK(layout_str(0) == "");

    CHECK(layout_fits(StackFamily::linux_modern, "mss,sok,ts,nop,ws") == true);
    CHECK(layout_fits(StackFamily::freebsd, "mss,sok,ts,nop,ws") == false);
    CHECK(layout_fits(StackFamily::windows, "mss,sok,ts,nop,ws") == false);
    CHECK(layout_fits(StackFamily::freebsd, "mss,nop,ws,sok,ts") == true);
    CHECK(layout_fits(StackFamily::windows, "mss,nop,ws,sok,ts") == true);  // Windows 7/8 (p0f)
    CHECK(layout_fits(StackFamily::linux_modern, "mss,nop,ws,sok,ts") == false);
    CHECK(layout_fits(StackFamily::freebsd, "mss,nop,ws,sok,eol") == true);
    CHECK(layout_fits(StackFamily::windows, "mss,nop,ws,nop,nop,sok") == true);
    CHECK(layout_fits(StackFamily::freebsd, "mss,nop,ws,nop,nop,sok") == false);
    CHECK(layout_fits(StackFamily::linux_modern, "mss") == true);
    CHECK_FALSE(layout_fits(StackFamily::linux_modern, "").has_value());           // no options: not judged
    CHECK_FALSE(layout_fits(StackFamily::linux_modern, "mss,?,sok").has_value());  // TFO, MD5, ...
    CHECK_FALSE(layout_fits(StackFamily::linux_modern, "mss,sok,...").has_value());
}

TEST_CASE("Linux 6.x: 1 s, doubling, 5 retransmissions, Linux's option order") {
    StackInput in;
    in.initial = 1.0;
    in.gaps = "1.0s, 2.0s";
    in.retries = 5;
    in.retries_at_least = 5;
    in.on_full_ack = AckPolicy::drop;
    in.layouts = {layout("mss,sok,ts,nop,ws")};
    in.ttl_max = 64;
    in.ttl_first = "10.0.0.1:40000";
    ListenerVerdict v;
    infer_stack(in, v);
    REQUIRE(v.stack);
    CHECK(ids(v) == std::vector<std::string>{"linux"});
    CHECK(v.stack->families[0].defaults);
    CHECK(retries_setting_text(v.stack, 5) == "tcp_synack_retries=5 (or the listener's TCP_SYNCNT)");
    CHECK(stack_text(*v.stack) == "Linux 3.1 or later (its defaults)");
}

TEST_CASE("a 3 s schedule is never Linux 3.1+; several families fit and all are listed") {
    StackInput in;
    in.initial = 3.0;
    in.gaps = "3.0s, 6.0s";
    in.retries = 2;
    ListenerVerdict v;
    infer_stack(in, v);
    REQUIRE(v.stack);
    // Windows first: 3 s and two retransmissions are its documented defaults.
    CHECK(ids(v) == std::vector<std::string>{"windows", "linux-old", "freebsd"});
    CHECK(family(v, "windows")->defaults);
    CHECK_FALSE(family(v, "linux-old")->defaults);  // tcp_synack_retries=2, not 5
    CHECK_FALSE(family(v, "freebsd")->defaults);    // rexmit_initial 3 s, rexmtlimit 2
    const std::string s = retries_setting_text(v.stack, 2);
    CHECK(s.find("TcpMaxConnectResponseRetransmissions=2 (Windows)") != std::string::npos);
    CHECK(s.find("tcp_synack_retries=2 (Linux)") != std::string::npos);
    CHECK(s.find("net.inet.tcp.syncache.rexmtlimit=2 (FreeBSD)") != std::string::npos);
}

TEST_CASE("FreeBSD: 3 retransmissions, RST on overflow, its option order") {
    StackInput in;
    in.initial = 1.0;
    in.gaps = "1.0s, 2.2s, 4.2s";
    in.retries = 3;
    in.on_full_ack = AckPolicy::rst;
    in.layouts = {layout("mss,nop,ws,sok,ts")};
    ListenerVerdict v;
    infer_stack(in, v);
    REQUIRE(v.stack);
    // Windows 7/8 write the same order (p0f): both are listed, FreeBSD first (its defaults).
    CHECK(ids(v) == std::vector<std::string>{"freebsd", "windows"});
    CHECK(family(v, "freebsd")->defaults);
    CHECK_FALSE(family(v, "windows")->defaults);
}

TEST_CASE("more retransmissions than a family allows exclude it, even as a lower bound") {
    StackInput in;
    in.retries_at_least = 13;
    ListenerVerdict v;
    infer_stack(in, v);
    REQUIRE(v.stack);
    CHECK(ids(v) == std::vector<std::string>{"linux", "linux-old", "windows"});
}

TEST_CASE("nothing that tells the families apart: no verdict, a warning") {
    ListenerVerdict v;
    infer_stack(StackInput{}, v);
    CHECK_FALSE(v.stack);
    CHECK(warned(v, "stack-unknown"));

    StackInput in;
    in.layouts = {layout("mss,nop,ws"), layout("")};  // every family writes it; none judged
    in.ttl_max = 60;
    ListenerVerdict w;
    infer_stack(in, w);
    CHECK_FALSE(w.stack);
    CHECK(warned(w, "stack-unknown"));
}

TEST_CASE("evidence no family fits: no verdict, stack-none") {
    StackInput in;
    in.initial = 1.0;
    in.gaps = "1.0s";
    in.layouts = {layout("mss,nop,ws,nop,nop,sok"), layout("mss,sok,ts,nop,ws")};  // Windows' and Linux's
    in.retries = 13;
    ListenerVerdict v;
    infer_stack(in, v);
    CHECK_FALSE(v.stack);
    CHECK(warned(v, "stack-none"));
}

TEST_CASE("a TTL above a family's default keeps it, as not its defaults") {
    StackInput in;
    in.initial = 1.0;
    in.gaps = "1.0s";
    in.ttl_max = 120;
    ListenerVerdict v;
    infer_stack(in, v);
    REQUIRE(v.stack);
    CHECK(ids(v) == std::vector<std::string>{"linux", "freebsd", "windows"});
    CHECK_FALSE(family(v, "linux")->defaults);  // a changed net.ipv4.ip_default_ttl, or not Linux
    for (const std::string& n : family(v, "windows")->notes) CHECK(n.find("TTL") == std::string::npos);
}

TEST_CASE("the crafted captures: the stack verdict each one proves") {
    auto run = [](const char* name) {
        auto src = open_source(std::string(LP_CAPTURES_DIR) + "/" + name);
        return analyze_source(*src, Engine::Options{});
    };
    const Analysis w = run("stack-windows.txt");
    REQUIRE(w.listeners.size() == 1);
    CHECK(ids(w.listeners[0]) == std::vector<std::string>{"windows"});
    CHECK(w.listeners[0].retries == 2);
    CHECK(w.listeners[0].initial_rto_s == 3.0);
    const Analysis f = run("stack-freebsd.txt");
    CHECK(ids(f.listeners.at(0)) == std::vector<std::string>{"freebsd", "windows"});
    CHECK(f.listeners[0].on_full_ack == AckPolicy::rst);
    const Analysis o = run("stack-linux-old-3s.txt");
    CHECK(ids(o.listeners.at(0)) == std::vector<std::string>{"linux-old"});
    CHECK(o.listeners[0].retries == 5);
    const Analysis l = run("lab-synack-retries.pcap");
    CHECK(ids(l.listeners.at(0)) == std::vector<std::string>{"linux"});
}
