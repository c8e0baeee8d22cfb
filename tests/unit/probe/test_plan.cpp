// Probe plans: the committed probes/*.toml, good and bad TOML, lookup by name.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "probe/plan.hpp"
#include "segments/error.hpp"

using namespace lp;
namespace fs = std::filesystem;

namespace {

std::string usage_error(const std::string& text, const std::string& origin = "test.toml") {
    try {
        parse_plan(text, origin);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A temporary directory, and LISTENPROBE_PLANS pointing at it while the object lives.
struct PlanDir {
    fs::path dir;
    PlanDir() {
        char name[] = "/tmp/lp-plans-test.XXXXXX";
        REQUIRE(::mkdtemp(name));
        dir = name;
        ::setenv("LISTENPROBE_PLANS", name, 1);
    }
    ~PlanDir() {
        ::unsetenv("LISTENPROBE_PLANS");
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    void write(const std::string& file, const std::string& text) const { std::ofstream(dir / file) << text; }
};

}  // namespace

TEST_CASE("plans: every committed plan loads, and `all` has the documented steps") {
    int n = 0;
    for (const auto& e : fs::directory_iterator(LP_PROBES_DIR)) {
        if (e.path().extension() != ".toml") continue;
        CAPTURE(e.path().string());
        const Plan p = load_plan(e.path().string());
        CHECK_FALSE(p.steps.empty());
        CHECK_FALSE(p.description.empty());
        CHECK(p.name == e.path().stem().string());
        ++n;
    }
    CHECK(n >= 5);
    const Plan all = load_plan(std::string(LP_PROBES_DIR) + "/all.toml");
    CHECK(all.steps == std::vector<std::string>{"baseline", "syn-queue", "retries", "accept-queue"});
    CHECK(all.syn_burst == 64);
    CHECK(all.retries_requests == 3);
    CHECK(all.tcp.mss == 1460);
    CHECK(all.tcp.wscale == 7);
}

TEST_CASE("plans: a good plan with every field") {
    const Plan p = parse_plan(R"(
name = "mine"
description = "two steps"
steps = ["baseline", "retries"]
syn_tries = 5
[syn-queue]
burst = 16
[retries]
requests = 2
[tcp]
mss = 536
sack = false
timestamps = false
wscale = -1
window = 1024
)", "mine.toml");
    CHECK(p.name == "mine");
    CHECK(p.description == "two steps");
    CHECK(p.steps == std::vector<std::string>{"baseline", "retries"});
    CHECK(p.syn_tries == 5);
    CHECK(p.syn_burst == 16);
    CHECK(p.retries_requests == 2);
    CHECK(p.tcp.mss == 536);
    CHECK_FALSE(p.tcp.sack);
    CHECK_FALSE(p.tcp.timestamps);
    CHECK(p.tcp.wscale == -1);
    CHECK(p.tcp.window == 1024);
}

TEST_CASE("plans: defaults, and the name from the file when none is given") {
    const Plan p = parse_plan("steps = [\"baseline\"]\n", "/some/dir/quick.toml");
    CHECK(p.name == "quick");
    CHECK(p.syn_burst == 64);
    CHECK(p.retries_requests == 3);
    CHECK(p.syn_tries == 3);
    CHECK(p.tcp.timestamps);
}

TEST_CASE("plans: bad TOML and bad values are usage errors naming the file") {
    CHECK(has(usage_error("steps = [\"baseline\"\n", "broken.toml"), "broken.toml:"));
    CHECK(has(usage_error("= 3\n", "broken.toml"), "broken.toml:1:"));
    CHECK(has(usage_error("name = \"x\"\n"), "a plan needs `steps = [...]`"));
    CHECK(has(usage_error("steps = []\n"), "a plan needs `steps = [...]`"));
    CHECK(has(usage_error("steps = [\"baseline\", \"flood\"]\n"), "unknown step"));
    CHECK(has(usage_error("steps = [\"baseline\", 3]\n"), "unknown step"));
    CHECK(has(usage_error("steps = [\"baseline\"]\n[syn-queue]\nburst = 0\n"), "out of range"));
    CHECK(has(usage_error("steps = [\"baseline\"]\n[syn-queue]\nburst = 5000\n"), "out of range"));
    CHECK(has(usage_error("steps = [\"baseline\"]\n[retries]\nrequests = 5\n"), "out of range"));
    CHECK(has(usage_error("steps = [\"baseline\"]\nsyn_tries = 0\n"), "out of range"));
    CHECK(has(usage_error("steps = [\"baseline\"]\n[tcp]\nwscale = 15\n"), "out of range"));
}

TEST_CASE("plans: found by name in LISTENPROBE_PLANS, listed with their descriptions") {
    PlanDir d;
    d.write("quick.toml", "description = \"one SYN\"\nsteps = [\"baseline\"]\n");
    d.write("broken.toml", "steps = [\n");
    d.write("notes.txt", "not a plan");
    CHECK(plan_dirs().front() == d.dir.string());
    const Plan p = load_plan("quick");
    CHECK(p.steps == std::vector<std::string>{"baseline"});
    CHECK(p.path == (d.dir / "quick.toml").string());

    bool quick = false, broken = false;
    for (const auto& i : list_plans()) {
        CHECK(i.name != "notes");
        if (i.name == "quick") quick = i.description == "one SYN";
        if (i.name == "broken") broken = has(i.description, "unreadable");
    }
    CHECK(quick);
    CHECK(broken);

    try {
        load_plan("nosuchplan");
        FAIL("no error");
    } catch (const UsageError& e) {
        CHECK(has(e.what(), "no plan named nosuchplan in " + d.dir.string()));
    }
    CHECK_THROWS_AS(load_plan((d.dir / "missing.toml").string()), UsageError);
}

TEST_CASE("plans: where an installed binary and a build-tree binary look") {
    ::unsetenv("LISTENPROBE_PLANS");
    // Installed: PREFIX/bin/listenprobe -> PREFIX/share/listenprobe/probes.
    CHECK(plan_dirs("/opt/lp/bin/listenprobe") == std::vector<std::string>{"/opt/lp/share/listenprobe/probes"});
    // A build directory names its source tree in listenprobe-source-dir.
    char name[] = "/tmp/lp-build-test.XXXXXX";
    REQUIRE(::mkdtemp(name));
    const fs::path build = name;
    std::ofstream(build / "listenprobe-source-dir") << "/src/tree\n";
    CHECK(plan_dirs((build / "listenprobe").string()) == std::vector<std::string>{"/src/tree/probes"});
    fs::remove_all(build);
}
