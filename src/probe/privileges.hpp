// Privileges of the live probe: check them before setup, drop them after.
//
// The probe needs CAP_NET_RAW (raw socket, packet capture) and CAP_NET_ADMIN
// (the nftables guard, SO_MARK) only while it opens its sockets and installs
// the guard. After that it runs as an unprivileged user with no capability;
// the guard's watchdog process keeps CAP_NET_ADMIN alone.
#pragma once
#include <sys/capability.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lp {

// True when the process (the calling thread) has `cap` in its effective set.
bool has_capability(cap_value_t cap);

// Throws lp::PrivilegeError naming what is missing:
// "the live probe needs CAP_NET_RAW and CAP_NET_ADMIN (run as root): CAP_NET_ADMIN is missing".
void require_probe_capabilities();

// After the sockets are open and the guard is installed: switch to `user`
// ("nobody" by default): setgroups(0), setgid, setuid (real, effective and
// saved), clear every capability set (libcap), PR_SET_NO_NEW_PRIVS, keep the
// process non-dumpable. Then verifies by reading back /proc/self/status and
// the status of every thread (CapEff, CapPrm, CapInh, CapAmb, Uid, Gid,
// Groups, NoNewPrivs) and throws lp::PrivilegeError if anything remains.
// A process that is not root and cannot change its uid (file capabilities)
// keeps its uid and only clears its capabilities. An unknown user is
// lp::InputError. Call it before starting threads: capability sets are per
// thread (setuid is applied to every thread by the C library, capset is not).
void drop_privileges(const std::string& user = "nobody");

// The fields of /proc/<pid>/status that tell a process's privileges.
struct ProcStatus {
    uint64_t cap_inh = 0, cap_prm = 0, cap_eff = 0, cap_bnd = 0, cap_amb = 0;
    uid_t uid[4] = {0, 0, 0, 0};  // real, effective, saved, filesystem
    gid_t gid[4] = {0, 0, 0, 0};
    std::vector<gid_t> groups;
    int no_new_privs = -1;  // -1: line absent
    bool complete = false;  // all of CapEff, CapPrm, Uid, Gid were found
};
// Parses the text of /proc/<pid>/status. Pure.
ProcStatus parse_proc_status(std::string_view text);
// What still grants privilege in `st` for a process meant to run as uid/gid
// with no capability and no_new_privs set: one phrase per finding, empty when clean. Pure.
std::vector<std::string> privilege_leftovers(const ProcStatus& st, uid_t uid, gid_t gid);

}  // namespace lp
