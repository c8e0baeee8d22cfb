// Lists of targets: the file format, shards, what a resume file has done.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <unistd.h>

#include "cli/many.hpp"
#include "segments/error.hpp"

using namespace lp;

namespace {
std::string temp_file(const std::string& content) {
    char name[] = "/tmp/lp-test-many.XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(name) << content;
    return name;
}
}  // namespace

TEST_CASE("a target file: one a line, comments and blanks skipped") {
    const std::string f = temp_file("# fleet\n10.0.0.1:80\n\n  [fd00::1]:443  # v6\nweb.example:http\n");
    CHECK(read_target_file(f) == std::vector<std::string>{"10.0.0.1:80", "[fd00::1]:443", "web.example:http"});
    std::remove(f.c_str());
    const std::string g = temp_file("10.0.0.1:80 10.0.0.2:80\n");
    CHECK_THROWS_AS(read_target_file(g), InputError);
    std::remove(g.c_str());
    CHECK_THROWS_AS(read_target_file("/nonexistent/targets"), InputError);
}

TEST_CASE("shards partition the list, in sizes that differ by at most one") {
    std::vector<std::string> items;
    for (int i = 0; i < 11; ++i) items.push_back("t" + std::to_string(i));
    for (int n : {1, 2, 3, 4, 11, 12}) {
        std::multiset<std::string> all;
        size_t lo = items.size(), hi = 0;
        for (int k = 1; k <= n; ++k) {
            const auto part = shard_of(items, parse_shard(std::to_string(k) + "/" + std::to_string(n)));
            all.insert(part.begin(), part.end());
            lo = std::min(lo, part.size());
            hi = std::max(hi, part.size());
        }
        CHECK(all == std::multiset<std::string>(items.begin(), items.end()));
        CHECK(hi - lo <= 1);
    }
    CHECK(shard_of(items, parse_shard("2/3")) == std::vector<std::string>{"t1", "t4", "t7", "t10"});
    for (const char* bad : {"0/2", "3/2", "1/0", "1", "a/b", "1/2/3", "-1/2", "1/ 2"})
        CHECK_THROWS_AS(parse_shard(bad), UsageError);
}

TEST_CASE("a resume file names the targets and files its listener lines finished") {
    const std::string f = temp_file(
        R"({"type":"listener","run":{"command":"probe","target":{"given":"10.0.0.1:80"}},"source":{"path":"veth0"}})" "\n"
        R"({"type":"error","command":"probe","given":"10.0.0.2:80","exit_status":1})" "\n"
        R"({"type":"listener","run":{"command":"replay","target":null},"source":{"path":"a.pcap"}})" "\n"
        R"({"type":"listener","run":{"command":"probe","tar)" "\n");
    CHECK(done_in(f) == std::set<std::string>{"10.0.0.1:80", "a.pcap"});
    std::remove(f.c_str());
    CHECK(done_in("/tmp/lp-test-many-does-not-exist.jsonl").empty());
}
