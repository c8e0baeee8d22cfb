// The firewall guard's rule text and names, and the privilege read-back:
// the pure parts. The guard itself runs in tests/lab/test_guard.sh.
#include <doctest/doctest.h>
#include <unistd.h>

#include "probe/guard.hpp"
#include "probe/privileges.hpp"
#include "segments/error.hpp"

using namespace lp;

namespace {

RstFilter v4_filter() {
    RstFilter f;
    f.target = *IpAddress::parse("10.77.0.2");
    f.target_port = 8081;
    f.sport_lo = 61000;
    f.sport_hi = 61999;
    f.mark = 0x6c70;
    return f;
}

}  // namespace

TEST_CASE("guard rule text, IPv4") {
    CHECK(rst_filter_ruleset(v4_filter(), "listenprobe_1234") ==
          "add table inet listenprobe_1234; add chain inet listenprobe_1234 out { type filter hook output "
          "priority 0; policy accept; }; add rule inet listenprobe_1234 out ip daddr 10.77.0.2 tcp dport 8081 "
          "tcp sport 61000-61999 tcp flags & rst == rst meta mark != 0x6c70 drop");
}

TEST_CASE("guard rule text, IPv6, single port, other mark") {
    RstFilter f = v4_filter();
    f.target = *IpAddress::parse("fd77:0::2");
    f.target_port = 443;
    f.sport_lo = f.sport_hi = 40000;
    f.mark = 0xdeadbeef;
    std::string r = rst_filter_ruleset(f, "listenprobe_7_2");
    CHECK(r ==
          "add table inet listenprobe_7_2; add chain inet listenprobe_7_2 out { type filter hook output "
          "priority 0; policy accept; }; add rule inet listenprobe_7_2 out ip6 daddr fd77::2 tcp dport 443 "
          "tcp sport 40000 tcp flags & rst == rst meta mark != 0xdeadbeef drop");
    CHECK(r.find(" ip daddr") == std::string::npos);
}

TEST_CASE("guard refuses filters that cannot make a sound rule") {
    RstFilter f = v4_filter();
    f.mark = 0;  // would exempt the kernel's own RSTs
    CHECK_THROWS_AS(rst_filter_ruleset(f, "t"), InputError);
    f = v4_filter();
    f.sport_lo = 62000;  // above sport_hi
    CHECK_THROWS_AS(rst_filter_ruleset(f, "t"), InputError);
    f = v4_filter();
    f.sport_lo = 0;
    CHECK_THROWS_AS(validate_rst_filter(f), InputError);
    f = v4_filter();
    f.target_port = 0;
    CHECK_THROWS_AS(validate_rst_filter(f), InputError);
    f = v4_filter();
    f.target = IpAddress{};
    CHECK_THROWS_AS(validate_rst_filter(f), InputError);
    CHECK_NOTHROW(validate_rst_filter(v4_filter()));
}

TEST_CASE("guard constructor refuses a source of the other family before touching nftables") {
    CHECK_THROWS_AS(RstGuard(v4_filter(), *IpAddress::parse("fd77::1")), InputError);
}

TEST_CASE("guard table names carry the pid") {
    CHECK(guard_table_name(1234) == "listenprobe_1234");
    CHECK(guard_table_name(1234, 1) == "listenprobe_1234");
    CHECK(guard_table_name(1234, 3) == "listenprobe_1234_3");
    CHECK(guard_table_pid("listenprobe_1234") == 1234);
    CHECK(guard_table_pid("listenprobe_1234_3") == 1234);
    CHECK(guard_table_pid(guard_table_name(99, 2)) == 99);
    CHECK_FALSE(guard_table_pid("listenprobe_"));
    CHECK_FALSE(guard_table_pid("listenprobe_abc"));
    CHECK_FALSE(guard_table_pid("listenprobe_0"));
    CHECK_FALSE(guard_table_pid("listenprobe_12x"));
    CHECK_FALSE(guard_table_pid("listenprobe_12_"));
    CHECK_FALSE(guard_table_pid("listenprobe_12_1"));  // serial 1 has no suffix
    CHECK_FALSE(guard_table_pid("listenprobe_-5"));
    CHECK_FALSE(guard_table_pid("filter"));
    CHECK_FALSE(guard_table_pid("xlistenprobe_12"));
}

TEST_CASE("guard tables are found in nft -j list tables") {
    const char* json =
        R"({"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},)"
        R"({"table": {"family": "inet", "name": "listenprobe_1234", "handle": 1}},)"
        R"({"table": {"family": "ip", "name": "listenprobe_55", "handle": 2}},)"
        R"({"table": {"family": "inet", "name": "filter", "handle": 3}},)"
        R"({"table": {"family": "inet", "name": "listenprobe_77_2", "handle": 4}}]})";
    auto names = guard_tables_in_listing(json);
    REQUIRE(names.size() == 2);
    CHECK(names[0] == "listenprobe_1234");
    CHECK(names[1] == "listenprobe_77_2");
    CHECK(guard_tables_in_listing("not json").empty());
    CHECK(guard_tables_in_listing(R"({"nftables": {}})").empty());
}

TEST_CASE("guard table comment records the process start time") {
    std::string c = guard_table_comment(1234, 136419);
    CHECK(c == "listenprobe pid 1234 start 136419");
    std::string listing = "table inet listenprobe_1234 {\n\tcomment \"" + c + "\"\n\tchain out {\n\t}\n}\n";
    CHECK(guard_comment_start(listing) == 136419u);
    CHECK_FALSE(guard_comment_start("table inet listenprobe_1234 {\n\tchain out {\n\t}\n}\n"));
    CHECK_FALSE(guard_comment_start("\tcomment \"listenprobe pid 1 start x\"\n"));
    CHECK_FALSE(guard_comment_start("\tcomment \"something else start 5\"\n"));
}

TEST_CASE("process start time of this process is readable and stable") {
    auto a = process_start_ticks(::getpid());
    REQUIRE(a);
    CHECK(a == process_start_ticks(::getpid()));
    CHECK_FALSE(process_start_ticks(0x3ffffffe));
}

TEST_CASE("nftables errors become one line") {
    CHECK(nft_error_line("Error: Could not process rule: Operation not permitted\n"
                         "add table inet X\n^^^^^^^^^^^^^^^^^\n") ==
          "Could not process rule: Operation not permitted");
    CHECK(nft_error_line("netlink: Error: cache initialization failed: Operation not permitted\n") ==
          "cache initialization failed: Operation not permitted");
    CHECK(nft_error_line("Error: a\ncmd\n  ^^\nError: b\ncmd2\n ^\nError: a\n") == "a; b");
    CHECK(nft_error_line("something odd\nmore\n") == "something odd");
    CHECK(nft_error_line("") == "nftables failed without a message");
    CHECK(nft_error_line("Error: x\n").find('\n') == std::string::npos);
}

TEST_CASE("proc status parsing") {
    const char* root =
        "Name:\tlp\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
        "Groups:\t0 4 27 \nNoNewPrivs:\t0\nCapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\n"
        "CapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n";
    ProcStatus st = parse_proc_status(root);
    CHECK(st.complete);
    CHECK(st.cap_eff == 0x1fffeffffffull);
    CHECK(st.cap_prm == 0x1fffeffffffull);
    CHECK(st.cap_inh == 0);
    CHECK(st.uid[0] == 0);
    CHECK(st.groups == std::vector<gid_t>{0, 4, 27});
    CHECK(st.no_new_privs == 0);
    auto left = privilege_leftovers(st, 65534, 65534);
    REQUIRE(left.size() == 5);  // CapEff, CapPrm, Uid, Gid, NoNewPrivs
    CHECK(left[0] == "CapEff 000001fffeffffff");
    CHECK(left[2].starts_with("Uid 0 0 0 0"));

    const char* dropped =
        "Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t \n"
        "NoNewPrivs:\t1\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
        "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n";
    st = parse_proc_status(dropped);
    CHECK(st.complete);
    CHECK(st.groups.empty());
    CHECK(privilege_leftovers(st, 65534, 65534).empty());
    CHECK(privilege_leftovers(st, 1000, 65534).size() == 1);

    // A saved uid of 0 is enough to regain root.
    std::string saved = std::string(dropped);
    saved.replace(saved.find("65534\t65534\t65534\t65534"), 23, "65534\t65534\t0\t65534");
    CHECK(privilege_leftovers(parse_proc_status(saved), 65534, 65534).size() == 1);

    std::string amb = std::string(dropped);
    amb.replace(amb.find("CapAmb:\t0000000000000000"), 24, "CapAmb:\t0000000000002000");
    auto a = privilege_leftovers(parse_proc_status(amb), 65534, 65534);
    REQUIRE(a.size() == 1);
    CHECK(a[0] == "CapAmb 0000000000002000");

    // Missing lines are not taken for "no privilege".
    CHECK_FALSE(parse_proc_status("Uid:\t1\t1\t1\t1\n").complete);
    CHECK_FALSE(privilege_leftovers(parse_proc_status("Uid:\t1\t1\t1\t1\n"), 1, 1).empty());
    CHECK_FALSE(parse_proc_status("CapEff:\tzz\nCapPrm:\t0\nUid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n").complete);
}

TEST_CASE("this process's own status parses") {
    ProcStatus st = parse_proc_status(
        [] {
            FILE* f = std::fopen("/proc/self/status", "r");
            std::string s;
            char buf[4096];
            size_t n;
            while (f && (n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
            if (f) std::fclose(f);
            return s;
        }());
    CHECK(st.complete);
    CHECK(st.uid[0] == ::getuid());
    CHECK(st.uid[1] == ::geteuid());
    CHECK(st.gid[0] == ::getgid());
    CHECK(st.no_new_privs >= 0);
    CHECK(has_capability(CAP_NET_RAW) == ((st.cap_eff >> CAP_NET_RAW) & 1));
}

TEST_CASE("drop_privileges refuses unknown and root users") {
    CHECK_THROWS_AS(drop_privileges("no-such-user-listenprobe"), InputError);
    CHECK_THROWS_AS(drop_privileges("root"), InputError);
}
