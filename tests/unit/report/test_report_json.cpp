// The JSON report (docs/contract.md): its fields and types, the fast writer against
// nlohmann's, and the atomic file write.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

// Every object key of `j`, recursively, that jq cannot name without quotes: not [a-z0-9_]+.
void bad_keys(const json& j, const std::string& path, std::vector<std::string>& out) {
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            const bool ok = !k.empty() && std::all_of(k.begin(), k.end(), [](char ch) {
                return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
            });
            if (!ok) out.push_back(path + "." + k);
            bad_keys(v, path + "." + k, out);
        }
    } else if (j.is_array()) {
        for (size_t i = 0; i < j.size(); ++i) bad_keys(j[i], path + "[" + std::to_string(i) + "]", out);
    }
}

// A probe's run object, as the command line and the probe fill it.
lp::RunInfo probe_run() {
    lp::RunInfo r;
    r.version = "0.1.0";
    r.commit = "abc1234-dirty";
    r.command = "probe";
    r.argv = {"listenprobe", "probe", "localhost:8081", "--plan", "quick", "--rate", "500"};
    r.target_given = "localhost:8081";
    r.target = lp::Endpoint::parse("127.0.0.1:8081");
    r.format = "json";
    r.started_at = 1764637200.1234567;
    r.duration_s = 4.56789;
    r.plan = lp::RunInfo::Plan{"quick", "/x/probes/quick.toml", "d", {"baseline", "syn-queue", "accept-queue"},
                               3, 64, 3, 1460, 7, 64240, true, true};
    r.probe = lp::RunInfo::ProbeOptions{"lo", 256, 500, 200, "nobody", "", false, ""};
    r.expected_duration_s = 6.04;
    return r;
}

}  // namespace

TEST_CASE("report json: every field of the contract, with its type") {
    const lp::Analysis a = analyze("lab-backlog-full.pcap");
    const json j = lp::analysis_json(a);
    CHECK(j.at("schema") == "listenprobe/2");
    CHECK(j.at("run").at("tool") == "listenprobe");
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
    CHECK(l.at("fate_counts") == json{{"queued", 3}, {"syn_dropped", 2}});
    for (const json& w : l.at("warnings")) {
        CHECK(w.at("code").is_string());
        CHECK(w.at("message").is_string());
    }
    REQUIRE(l.at("connections").size() == 5);
    for (const json& c : l.at("connections")) {
        CHECK(c.at("client").get<std::string>().rfind("10.77.0.1:", 0) == 0);
        CHECK(c.at("client_address") == "10.77.0.1");
        CHECK(c.at("client_port").is_number_unsigned());
        CHECK(c.at("client") == "10.77.0.1:" + std::to_string(c.at("client_port").get<int>()));
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
        lp::Analysis a = analyze(name);
        CHECK(lp::analysis_json_text(a) == lp::analysis_json(a).dump(2) + "\n");
        a.run = probe_run();
        CHECK(lp::analysis_json_text(a) == lp::analysis_json(a).dump(2) + "\n");
    }
}

TEST_CASE("report json: the run object") {
    lp::Analysis a = analyze("lab-backlog-full.pcap");
    a.run = probe_run();
    const json r = lp::analysis_json(a).at("run");
    CHECK(r.at("tool") == "listenprobe");
    CHECK(r.at("version") == "0.1.0");
    CHECK(r.at("commit") == "abc1234-dirty");
    CHECK(r.at("command") == "probe");
    CHECK(r.at("argv").size() == 7);
    CHECK(r.at("target") == json{{"given", "localhost:8081"}, {"address", "127.0.0.1"}, {"port", 8081}});
    CHECK(r.at("started_at").get<double>() == doctest::Approx(1764637200.123457).epsilon(1e-15));
    CHECK(r.at("duration_s") == 4.568);
    CHECK(r.at("expected_duration_s") == 6.0);
    const json& o = r.at("options");
    CHECK(o.at("family") == "any");
    CHECK(o.at("format") == "json");
    CHECK(o.at("events") == false);
    CHECK(o.at("timeline").is_null());
    CHECK(o.at("interface") == "lo");
    CHECK(o.at("max_connections") == 256);
    CHECK(o.at("rate_pps") == 500.0);
    CHECK(o.at("max_wait_s") == 200.0);
    CHECK(o.at("user") == "nobody");
    CHECK(o.at("write").is_null());
    CHECK(o.at("quiet") == false);
    CHECK(o.at("source_ip").is_null());
    const json& p = r.at("plan");
    CHECK(p.at("name") == "quick");
    CHECK(p.at("steps") == json{"baseline", "syn-queue", "accept-queue"});
    CHECK(p.at("syn_queue_burst") == 64);
    CHECK(p.at("tcp").at("wscale") == 7);
    // A replay has no plan, no probe options and no expected duration.
    a.run = lp::RunInfo{};
    a.run.command = "replay";
    const json rr = lp::analysis_json(a).at("run");
    CHECK(rr.at("target").is_null());
    CHECK(!rr.contains("plan"));
    CHECK(!rr.contains("expected_duration_s"));
    CHECK(!rr.at("options").contains("rate_pps"));
}

TEST_CASE("report json: every key is [a-z0-9_]+ (jq reads it without quotes)") {
    for (const char* name : {"lab-backlog-full.pcap", "lab-groups-cookies.pcap", "lab-synack-retries.pcap",
                             "lab-overflow-rst.pcap", "lab-closed-port.pcap", "lab-cookies-always.pcap",
                             "seed-001-ack-dropped.txt"}) {
        CAPTURE(name);
        lp::Analysis a = analyze(name);
        a.run = probe_run();
        std::vector<std::string> bad;
        bad_keys(lp::analysis_json(a), "$", bad);
        std::istringstream lines([&] {
            std::ostringstream s;
            lp::write_analysis_jsonl(s, a, true);
            return s.str();
        }());
        for (std::string line; std::getline(lines, line);) bad_keys(json::parse(line), "$", bad);
        CHECK(bad.empty());
        for (const auto& k : bad) MESSAGE(k);
    }
    // Every fate, including those this capture does not show.
    for (int f = 0; f < lp::kFates; ++f) CHECK(lp::fate_key(lp::Fate(f)).find('-') == std::string::npos);
}

TEST_CASE("report jsonl: a listener line each, then its connections with --events") {
    lp::Analysis a = analyze("lab-backlog-full.pcap");
    a.run = probe_run();
    const json doc = lp::analysis_json(a);
    for (bool events : {false, true}) {
        CAPTURE(events);
        std::ostringstream s;
        lp::write_analysis_jsonl(s, a, events);
        std::vector<json> lines;
        std::istringstream in(s.str());
        for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
        REQUIRE(lines.size() == (events ? 6u : 1u));
        const json& l = lines[0];
        CHECK(l.at("schema") == "listenprobe/2");
        CHECK(l.at("type") == "listener");
        CHECK(l.at("run") == doc.at("run"));
        CHECK(l.at("source") == doc.at("source"));
        json want = doc.at("listeners")[0];
        want.erase("connections");
        CHECK(l.at("listener") == want);
        for (size_t i = 1; i < lines.size(); ++i) {
            const json& c = lines[i];
            CHECK(c.at("schema") == "listenprobe/2");
            CHECK(c.at("type") == "connection");
            CHECK(c.at("run_started_at") == doc.at("run").at("started_at"));
            CHECK(c.at("listener") == json{{"address", "10.77.0.2"}, {"port", 8081}, {"family", "ipv4"}});
            CHECK(c.at("connection") == doc.at("listeners")[0].at("connections")[i - 1]);
        }
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
