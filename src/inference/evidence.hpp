// Wording shared by the model's evidence lines and warnings.
#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <string>

#include "inference/bounds.hpp"

namespace lp {

// A capture time as reports give it: seconds from the first packet of the source.
inline std::string at_time(int64_t ns, int64_t t0) {
    const double s = double(ns - t0) / 1e9;
    return s < 1.0 ? fmt::format("{:.6f}s", s) : fmt::format("{:.3f}s", s);
}

inline std::string who(const Cite& c) { return c.client.str(); }

}  // namespace lp
