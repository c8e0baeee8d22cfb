// Errors with the exit status docs/contract.md gives them.
#pragma once
#include <stdexcept>
#include <string>

namespace lp {

// A replay or probe cut short by signal N prints its partial report and exits 128 + N
// (130 for SIGINT), as a shell reports a process that signal ended.
enum ExitCode : int { kExitOk = 0, kExitInput = 1, kExitUsage = 2, kExitPrivilege = 3, kExitSignalBase = 128 };

// The input or target could not be used (exit 1).
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Bad command-line usage (exit 2).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Missing privilege, e.g. CAP_NET_RAW (exit 3).
struct PrivilegeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace lp
