// Errors with the exit status CONTRACT.md gives them.
#pragma once
#include <stdexcept>
#include <string>

namespace lp {

enum ExitCode : int { kExitOk = 0, kExitInput = 1, kExitUsage = 2, kExitPrivilege = 3 };

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
