#include "probe/plan.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "segments/error.hpp"

namespace lp {
namespace fs = std::filesystem;

namespace {
std::string fmt_error(const std::string& origin, const toml::parse_error& e) {
    return origin + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
}
}  // namespace

std::vector<std::string> plan_dirs(const std::string& exe) {
    std::vector<std::string> dirs;
    if (const char* env = std::getenv("LISTENPROBE_PLANS"); env && *env) dirs.emplace_back(env);
    std::error_code ec;
    const fs::path bin = exe.empty() ? fs::read_symlink("/proc/self/exe", ec) : fs::path(exe);
    if (ec || bin.empty()) return dirs;
    const fs::path dir = bin.parent_path();
    // A build directory names its source tree in this file (CMakeLists.txt writes it).
    if (std::ifstream marker(dir / "listenprobe-source-dir"); marker) {
        std::string src;
        if (std::getline(marker, src) && !src.empty()) {
            dirs.push_back((fs::path(src) / "probes").string());
            return dirs;
        }
    }
    dirs.push_back((dir.parent_path() / "share" / "listenprobe" / "probes").lexically_normal().string());
    return dirs;
}

Plan parse_plan(const std::string& text, const std::string& origin) {
    toml::table t;
    try {
        t = toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        throw UsageError(fmt_error(origin, e));
    }
    Plan p;
    p.path = origin;
    p.name = t["name"].value_or(std::string(fs::path(origin).stem()));
    p.description = t["description"].value_or(std::string());
    static const std::vector<std::string> known = {"baseline", "syn-queue", "retries", "accept-queue"};
    if (auto* steps = t["steps"].as_array()) {
        for (auto& s : *steps) {
            auto v = s.value<std::string>();
            if (!v || std::find(known.begin(), known.end(), *v) == known.end())
                throw UsageError(origin + ": unknown step (known: baseline, syn-queue, retries, accept-queue)");
            p.steps.push_back(*v);
        }
    }
    if (p.steps.empty()) throw UsageError(origin + ": a plan needs `steps = [...]`");
    p.syn_burst = t["syn-queue"]["burst"].value_or(p.syn_burst);
    p.retries_requests = t["retries"]["requests"].value_or(p.retries_requests);
    p.syn_tries = t["syn_tries"].value_or(p.syn_tries);
    p.tcp.mss = uint16_t(t["tcp"]["mss"].value_or(int(p.tcp.mss)));
    p.tcp.sack = t["tcp"]["sack"].value_or(p.tcp.sack);
    p.tcp.timestamps = t["tcp"]["timestamps"].value_or(p.tcp.timestamps);
    p.tcp.wscale = t["tcp"]["wscale"].value_or(p.tcp.wscale);
    p.tcp.window = uint16_t(t["tcp"]["window"].value_or(int(p.tcp.window)));
    if (p.syn_burst < 1 || p.syn_burst > 4096 || p.retries_requests < 1 || p.retries_requests > 4 ||
        p.syn_tries < 1 || p.syn_tries > 10 || p.tcp.wscale > 14)
        throw UsageError(origin + ": a value is out of range (burst 1..4096, requests 1..4, syn_tries 1..10, "
                                  "wscale -1..14)");
    return p;
}

std::vector<PlanInfo> list_plans() {
    std::vector<PlanInfo> out;
    for (const auto& d : plan_dirs()) {
        std::error_code ec;
        if (!fs::is_directory(d, ec)) continue;
        std::vector<fs::path> files;
        for (auto& e : fs::directory_iterator(d, ec))
            if (e.path().extension() == ".toml") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (auto& f : files) {
            const std::string name = f.stem();
            if (std::any_of(out.begin(), out.end(), [&](const PlanInfo& i) { return i.name == name; })) continue;
            try {
                auto p = load_plan(f.string());
                out.push_back({name, p.description, f.string()});
            } catch (const std::exception& e) {
                out.push_back({name, std::string("(unreadable: ") + e.what() + ")", f.string()});
            }
        }
    }
    return out;
}

Plan load_plan(const std::string& name_or_file) {
    std::string path;
    if (name_or_file.find('/') != std::string::npos || name_or_file.ends_with(".toml")) {
        path = name_or_file;
    } else {
        for (const auto& d : plan_dirs())
            if (fs::exists(d + "/" + name_or_file + ".toml")) {
                path = d + "/" + name_or_file + ".toml";
                break;
            }
        if (path.empty()) {
            std::string where;
            for (const auto& d : plan_dirs()) where += (where.empty() ? "" : ", ") + d;
            throw UsageError("no plan named " + name_or_file + (where.empty() ? "" : " in " + where) +
                             " (see: listenprobe plans)");
        }
    }
    std::ifstream in(path);
    if (!in) throw UsageError("cannot read plan " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_plan(ss.str(), path);
}

}  // namespace lp
