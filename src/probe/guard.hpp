// The firewall guard of the live probe.
//
// The probe sends hand-made SYNs from a source-port range no local socket
// uses. The target's SYN-ACKs reach the prober's own kernel, which knows no
// such connection and answers with RST; that RST would destroy the handshake
// being measured. While probing, an nftables table `inet listenprobe_<pid>`
// drops exactly those kernel RSTs: outgoing TCP RST from the probe's port range
// to the target address and port, unless the packet carries the probe's mark
// (the probe's own RSTs leave through a raw socket with SO_MARK set).
//
// The table must not outlive the probe. A watchdog process (forked before the
// probe drops its privileges, keeping only CAP_NET_ADMIN) installs it and
// removes it as soon as the probe calls release() or dies in any way,
// SIGKILL included: the probe holds one end of a socket pair, whose EOF the
// watchdog sees when the probe is gone (PR_SET_PDEATHSIG is a second line).
// If the probe dies without release(), the watchdog first sends a RST for
// every connection the probe registered with add_connection(), so the
// target's queues are not left holding half-open probe requests.
//
// Create the guard from the thread that lives as long as the guard (the main
// thread): PR_SET_PDEATHSIG fires when the thread that forked exits.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "segments/segment.hpp"

namespace lp {

// What the guard drops: TCP RST, source port in [sport_lo, sport_hi], to
// target:target_port, whose packet mark is not `mark`.
struct RstFilter {
    IpAddress target;
    uint16_t target_port = 0;
    uint16_t sport_lo = 0, sport_hi = 0;
    uint32_t mark = 0;
};

// Throws lp::InputError (one line) when `f` cannot make a sound rule: unset
// address family, port 0, an empty port range, mark 0 (every kernel packet
// carries mark 0, so the exception would exempt the very RSTs to drop).
void validate_rst_filter(const RstFilter& f);

// The nftables commands that create `table` (family inet) with one output-hook
// chain `out` holding the drop rule for `f`. Pure; validates `f` first.
// IPv4: "add table inet T; add chain inet T out { type filter hook output
// priority 0; policy accept; }; add rule inet T out ip daddr 10.77.0.2 tcp
// dport 8081 tcp sport 61000-61999 tcp flags & rst == rst meta mark != 0x6c70 drop"
std::string rst_filter_ruleset(const RstFilter& f, const std::string& table);

// "listenprobe_<pid>" for the first guard of a process, "listenprobe_<pid>_<n>"
// for the n-th (n >= 2) guard held at the same time.
std::string guard_table_name(pid_t pid, unsigned serial = 1);
// The pid in a guard table name, or nullopt if `name` is not one.
std::optional<pid_t> guard_table_pid(std::string_view name);
// The guard tables (family inet) named in the JSON that `nft -j list tables` prints.
std::vector<std::string> guard_tables_in_listing(std::string_view nft_json);
// The comment the guard puts on its table, and the process start time it holds
// (clock ticks since boot, field 22 of /proc/PID/stat), so that a reused pid
// can be told apart from the probe that made the table.
std::string guard_table_comment(pid_t pid, uint64_t start_ticks);
std::optional<uint64_t> guard_comment_start(std::string_view nft_table_listing);
// Start time of a process (field 22 of /proc/PID/stat), nullopt if it does not run.
std::optional<uint64_t> process_start_ticks(pid_t pid);

// The error text libnftables buffers (several lines: message, command,
// carets) as one line: the "Error:" messages joined with "; ".
std::string nft_error_line(std::string_view nft_error_text);

// Runs nftables commands through libnftables. Throws lp::PrivilegeError when
// nftables reports EPERM, lp::InputError otherwise; `what` starts the message.
// Returns the buffered output.
std::string nft_run(const std::string& commands, const std::string& what, bool json = false);

class RstGuard {
public:
    // Forks the watchdog, which installs the table and reports back before the
    // constructor returns. `source` is the address the probe sends from (the
    // watchdog's RSTs use it). Throws lp::PrivilegeError if nftables says EPERM,
    // lp::InputError otherwise (one line). With `table` false (--source-ip: the kernel
    // owns no socket for `source`, so it sends no RSTs to stop) no table is made and
    // the watchdog only resets the registered connections if the probe dies.
    RstGuard(const RstFilter& f, const IpAddress& source, bool table = true);
    ~RstGuard();  // release() if not yet done
    RstGuard(const RstGuard&) = delete;
    RstGuard& operator=(const RstGuard&) = delete;

    // Registers a connection the probe created: the RST the watchdog sends for
    // it if the probe dies without release() goes from source:src_port to the
    // target with sequence number `seq_for_rst` (the client's next sequence
    // number). A later call for the same port replaces the earlier one.
    void add_connection(uint16_t src_port, uint32_t seq_for_rst);
    // Tells the watchdog all is clean (no RSTs), waits until it removed the
    // table and exited. True when the table is gone. Idempotent. In a process
    // forked from the probe (a copy of this object) it only closes the copy's
    // descriptor and returns false: the guard belongs to the process that made it.
    bool release();

    const std::string& table() const { return table_; }
    pid_t watchdog_pid() const { return watchdog_; }

private:
    std::string table_;
    RstFilter filter_;
    IpAddress source_;
    int sock_ = -1;       // our end of the socket pair with the watchdog
    pid_t watchdog_ = -1;
    pid_t owner_ = -1;    // the process that made the guard
    std::optional<bool> released_;
};

// Deletes every table named listenprobe_<pid> (or listenprobe_<pid>_<n>)
// whose process no longer runs (or whose pid now belongs to a process started
// later than the one that made the table). Returns the names removed. Throws
// lp::PrivilegeError without CAP_NET_ADMIN.
std::vector<std::string> remove_stale_guards();

// A raw socket for hand-made TCP segments (IPv4 or IPv6, IP header included)
// whose packets carry `mark` (SO_MARK), so the guard lets them out.
class MarkedRawSocket {
public:
    // Throws lp::PrivilegeError without CAP_NET_RAW / CAP_NET_ADMIN.
    MarkedRawSocket(uint8_t family, uint32_t mark);
    ~MarkedRawSocket();
    MarkedRawSocket(const MarkedRawSocket&) = delete;
    MarkedRawSocket& operator=(const MarkedRawSocket&) = delete;

    // Sends one bare TCP segment (no options, no payload). Returns false (errno
    // set) if the kernel refused it.
    bool send_tcp(const Endpoint& src, const Endpoint& dst, uint8_t flags, uint32_t seq,
                  uint32_t ack = 0, uint16_t window = 0) const;
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    uint8_t family_ = 0;
};

}  // namespace lp
