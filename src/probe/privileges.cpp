#include "probe/privileges.hpp"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "segments/error.hpp"

namespace lp {

namespace {

struct CapFree {
    void operator()(cap_t c) const { cap_free(c); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

std::string cap_name(cap_value_t cap) {
    char* n = cap_to_name(cap);
    if (!n) return fmt::format("capability {}", cap);
    std::string s(n);
    cap_free(n);
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
}

[[noreturn]] void fail(const std::string& what) {
    throw PrivilegeError(fmt::format("cannot drop privileges: {}: {}", what, std::strerror(errno)));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

template <typename T>
bool parse_num(std::string_view s, T& out, int base = 10) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return ec == std::errc() && end == s.data() + s.size();
}

// Splits on blanks.
std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        size_t j = i;
        while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

}  // namespace

bool has_capability(cap_value_t cap) {
    CapPtr caps(cap_get_proc());
    if (!caps) return false;
    cap_flag_value_t v = CAP_CLEAR;
    if (cap_get_flag(caps.get(), cap, CAP_EFFECTIVE, &v) != 0) return false;
    return v == CAP_SET;
}

void require_probe_capabilities() {
    std::vector<std::string> missing;
    for (cap_value_t c : {CAP_NET_RAW, CAP_NET_ADMIN})
        if (!has_capability(c)) missing.push_back(cap_name(c));
    if (missing.empty()) return;
    std::string list = missing.size() == 2 ? missing[0] + " and " + missing[1] : missing[0];
    throw PrivilegeError(fmt::format(
        "the live probe needs CAP_NET_RAW and CAP_NET_ADMIN (run as root): {} {} missing", list,
        missing.size() == 2 ? "are" : "is"));
}

ProcStatus parse_proc_status(std::string_view text) {
    ProcStatus st;
    bool eff = false, prm = false, uid = false, gid = false;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view key = line.substr(0, colon);
        auto w = words(line.substr(colon + 1));
        auto hex = [&](uint64_t& out, bool* seen = nullptr) {
            if (w.size() == 1 && parse_num(w[0], out, 16) && seen) *seen = true;
        };
        if (key == "CapInh") hex(st.cap_inh);
        else if (key == "CapPrm") hex(st.cap_prm, &prm);
        else if (key == "CapEff") hex(st.cap_eff, &eff);
        else if (key == "CapBnd") hex(st.cap_bnd);
        else if (key == "CapAmb") hex(st.cap_amb);
        else if (key == "Uid" || key == "Gid") {
            bool ok = w.size() == 4;
            unsigned v[4] = {0, 0, 0, 0};
            for (size_t i = 0; ok && i < 4; ++i) ok = parse_num(w[i], v[i]);
            if (!ok) continue;
            for (size_t i = 0; i < 4; ++i) {
                if (key == "Uid") st.uid[i] = v[i];
                else st.gid[i] = v[i];
            }
            (key == "Uid" ? uid : gid) = true;
        } else if (key == "Groups") {
            for (auto g : w) {
                unsigned v = 0;
                if (parse_num(g, v)) st.groups.push_back(v);
            }
        } else if (key == "NoNewPrivs") {
            int v = 0;
            if (w.size() == 1 && parse_num(w[0], v)) st.no_new_privs = v;
        }
    }
    st.complete = eff && prm && uid && gid;
    return st;
}

std::vector<std::string> privilege_leftovers(const ProcStatus& st, uid_t uid, gid_t gid) {
    std::vector<std::string> out;
    if (!st.complete) {
        out.push_back("status incomplete");
        return out;
    }
    auto cap = [&](const char* name, uint64_t v) {
        if (v) out.push_back(fmt::format("{} {:016x}", name, v));
    };
    cap("CapEff", st.cap_eff);
    cap("CapPrm", st.cap_prm);
    cap("CapInh", st.cap_inh);
    cap("CapAmb", st.cap_amb);
    for (int i = 0; i < 4; ++i) {
        if (st.uid[i] != uid) {
            out.push_back(fmt::format("Uid {} {} {} {} (want {})", st.uid[0], st.uid[1], st.uid[2], st.uid[3], uid));
            break;
        }
    }
    for (int i = 0; i < 4; ++i) {
        if (st.gid[i] != gid) {
            out.push_back(fmt::format("Gid {} {} {} {} (want {})", st.gid[0], st.gid[1], st.gid[2], st.gid[3], gid));
            break;
        }
    }
    if (st.no_new_privs != 1) out.push_back("NoNewPrivs not set");
    return out;
}

void drop_privileges(const std::string& user) {
    // Look the user up first: NSS may need files that will no longer be readable.
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
    passwd pw{};
    passwd* found = nullptr;
    int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || !found)
        throw InputError(fmt::format("cannot drop privileges: unknown user '{}'", user));
    uid_t want_uid = pw.pw_uid;
    gid_t want_gid = pw.pw_gid;
    if (want_uid == 0)
        throw InputError(fmt::format("cannot drop privileges: user '{}' is root", user));

    bool switch_user = true;
    if (!has_capability(CAP_SETUID) || !has_capability(CAP_SETGID)) {
        // Not allowed to change ids: fine only for a non-root process that
        // got its capabilities some other way (file capabilities).
        uid_t r, e, s;
        gid_t gr, ge, gs;
        ::getresuid(&r, &e, &s);
        ::getresgid(&gr, &ge, &gs);
        if (r == 0 || e == 0 || s == 0)
            throw PrivilegeError("cannot drop privileges: running as root without CAP_SETUID and CAP_SETGID");
        if (r != e || e != s || gr != ge || ge != gs)
            throw PrivilegeError("cannot drop privileges: mixed user or group ids and no CAP_SETUID/CAP_SETGID");
        switch_user = false;
        want_uid = r;
        want_gid = gr;
    }

    if (switch_user) {
        // The bounding set limits what a later execve could gain; clearing it
        // needs CAP_SETPCAP, which we lose with the uid below.
        if (has_capability(CAP_SETPCAP)) {
            for (cap_value_t c = 0; c < static_cast<cap_value_t>(cap_max_bits()); ++c)
                if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c) != 0) fail("cap_drop_bound");
        }
        if (::setgroups(0, nullptr) != 0) fail("setgroups");
        if (::setresgid(want_gid, want_gid, want_gid) != 0) fail("setresgid");
        if (::setresuid(want_uid, want_uid, want_uid) != 0) fail("setresuid");
    }
    // The kernel cleared permitted, effective and ambient with the uid change;
    // clear everything explicitly (inheritable included) all the same.
    CapPtr none(cap_init());
    if (!none || cap_set_proc(none.get()) != 0) fail("cap_set_proc");
    if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() != 0) fail("cap_reset_ambient");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("PR_SET_NO_NEW_PRIVS");
    // Non-dumpable: the unprivileged user may not ptrace us or read our
    // memory (we hold raw sockets) and no core file is written.
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail("PR_SET_DUMPABLE");

    // Verify what the kernel says, for the process and every thread.
    std::vector<std::string> problems;
    auto check = [&](const std::string& path, const std::string& who) {
        ProcStatus st = parse_proc_status(read_file(path));
        for (auto& p : privilege_leftovers(st, want_uid, want_gid)) problems.push_back(who + p);
        if (switch_user && st.complete && !st.groups.empty()) problems.push_back(who + "supplementary groups remain");
    };
    check("/proc/self/status", "");
    pid_t self = ::getpid();
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (dirent* e = ::readdir(d)) {
            int tid = 0;
            if (!parse_num(std::string_view(e->d_name), tid) || tid == self) continue;
            check(fmt::format("/proc/self/task/{}/status", tid), fmt::format("thread {}: ", tid));
        }
        ::closedir(d);
    }
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) problems.push_back("process is dumpable");
    if (!problems.empty()) {
        std::string all;
        for (const auto& p : problems) all += (all.empty() ? "" : ", ") + p;
        throw PrivilegeError("privileges remain after dropping them: " + all);
    }
}

}  // namespace lp
