#include "cli/many.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "segments/error.hpp"

namespace lp {

namespace {

std::string trim(std::string_view s) {
    const size_t a = s.find_first_not_of(" \t\r");
    if (a == std::string_view::npos) return {};
    const size_t b = s.find_last_not_of(" \t\r");
    return std::string(s.substr(a, b - a + 1));
}

volatile std::sig_atomic_t g_many_signal = 0;
void on_many_signal(int sig) { g_many_signal = sig; }

}  // namespace

std::vector<std::string> read_target_file(const std::string& path) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
        file.open(path);
        if (!file) throw InputError(fmt::format("--targets {}: {}", path, std::strerror(errno)));
        in = &file;
    }
    std::vector<std::string> out;
    std::string line;
    for (size_t n = 1; std::getline(*in, line); ++n) {
        if (const size_t h = line.find('#'); h != std::string::npos) line.resize(h);
        const std::string t = trim(line);
        if (t.empty()) continue;
        if (t.find_first_of(" \t") != std::string::npos)
            throw InputError(fmt::format("--targets {} line {}: one target per line: {}", path, n, t));
        out.push_back(t);
    }
    if (in->bad()) throw InputError(fmt::format("--targets {}: read error", path));
    return out;
}

Shard parse_shard(std::string_view text) {
    const size_t slash = text.find('/');
    Shard s;
    auto num = [&](std::string_view v, int& to) {
        const auto r = std::from_chars(v.data(), v.data() + v.size(), to);
        return r.ec == std::errc() && r.ptr == v.data() + v.size();
    };
    if (slash == std::string_view::npos || !num(text.substr(0, slash), s.k) || !num(text.substr(slash + 1), s.n) ||
        s.n < 1 || s.k < 1 || s.k > s.n)
        throw UsageError(fmt::format("--shard {}: K/N with 1 <= K <= N, e.g. 2/4", text));
    return s;
}

std::vector<std::string> shard_of(const std::vector<std::string>& items, Shard s) {
    std::vector<std::string> out;
    for (size_t i = 0; i < items.size(); ++i)
        if (int(i % size_t(s.n)) + 1 == s.k) out.push_back(items[i]);
    return out;
}

std::set<std::string> done_in(const std::string& jsonl_path) {
    std::set<std::string> done;
    std::ifstream in(jsonl_path);
    if (!in) {
        if (errno == ENOENT) return done;
        throw InputError(fmt::format("--resume {}: {}", jsonl_path, std::strerror(errno)));
    }
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || j.value("type", "") != "listener") continue;
        const auto& run = j.value("run", nlohmann::json::object());
        if (run.contains("target") && run["target"].is_object() && run["target"].contains("given") &&
            run.value("command", "") == "probe")
            done.insert(run["target"]["given"].get<std::string>());
        else if (j.contains("source") && j["source"].is_object() && j["source"].contains("path"))
            done.insert(j["source"]["path"].get<std::string>());
    }
    return done;
}

int run_children(const std::vector<std::string>& items, int parallel,
                 const std::function<int(const std::string&)>& one, const std::function<void(const ChildResult&)>& done) {
    struct Running {
        pid_t pid = -1;
        int fd[2] = {-1, -1};  // stdout, stderr pipes (read ends)
        ChildResult r;
        std::chrono::steady_clock::time_point started;
    };
    g_many_signal = 0;
    struct sigaction sa{}, old[3]{};
    sa.sa_handler = on_many_signal;
    sigemptyset(&sa.sa_mask);
    const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; ++i) sigaction(sigs[i], &sa, &old[i]);

    std::vector<Running> run;
    size_t next = 0;
    bool passed_on = false;
    std::cout.flush();
    std::cerr.flush();
    for (;;) {
        while (!g_many_signal && next < items.size() && int(run.size()) < std::max(1, parallel)) {
            int out[2], err[2];
            if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
                throw InputError(std::string("pipe: ") + std::strerror(errno));
            const pid_t pid = ::fork();
            if (pid < 0) throw InputError(std::string("fork: ") + std::strerror(errno));
            if (pid == 0) {
                // A process group of its own: a Ctrl-C on the terminal reaches the parent only,
                // which passes it on once (a second one would end a probe before its clean-up).
                ::setpgid(0, 0);
                for (int i = 0; i < 3; ++i) sigaction(sigs[i], &old[i], nullptr);
                for (const Running& r : run) ::close(r.fd[0]), ::close(r.fd[1]);
                ::dup2(out[1], STDOUT_FILENO);
                ::dup2(err[1], STDERR_FILENO);
                ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
                int rc = kExitInput;
                try {
                    rc = one(items[next]);
                } catch (const std::exception& e) {
                    std::cerr << "listenprobe: " << e.what() << "\n";
                }
                std::cout.flush();
                std::cerr.flush();
                std::fflush(nullptr);
                ::_exit(rc);
            }
            ::close(out[1]);
            ::close(err[1]);
            Running r;
            r.pid = pid;
            r.fd[0] = out[0];
            r.fd[1] = err[0];
            r.r.item = items[next];
            r.r.index = next;
            r.started = std::chrono::steady_clock::now();
            run.push_back(std::move(r));
            ++next;
        }
        if (run.empty()) break;
        if (g_many_signal && !passed_on) {
            for (const Running& r : run) ::kill(r.pid, g_many_signal);
            passed_on = true;
        }
        std::vector<pollfd> pf;
        std::vector<std::pair<size_t, int>> of;  // pf[i] is run[of[i].first].fd[of[i].second]
        for (size_t i = 0; i < run.size(); ++i)
            for (int k = 0; k < 2; ++k)
                if (run[i].fd[k] >= 0) {
                    pf.push_back({run[i].fd[k], POLLIN, 0});
                    of.emplace_back(i, k);
                }
        if (!pf.empty() && ::poll(pf.data(), pf.size(), 200) < 0 && errno != EINTR)
            throw InputError(std::string("poll: ") + std::strerror(errno));
        char buf[65536];
        for (size_t j = 0; j < pf.size(); ++j) {
            if (!pf[j].revents) continue;
            Running& r = run[of[j].first];
            const int k = of[j].second;
            const ssize_t n = ::read(r.fd[k], buf, sizeof buf);
            if (n > 0) {
                (k ? r.r.err : r.r.out).append(buf, size_t(n));
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                ::close(r.fd[k]);
                r.fd[k] = -1;
            }
        }
        for (size_t i = 0; i < run.size();) {
            Running& r = run[i];
            if (r.fd[0] >= 0 || r.fd[1] >= 0) {
                ++i;
                continue;
            }
            int st = 0;
            while (::waitpid(r.pid, &st, 0) < 0 && errno == EINTR) {
            }
            r.r.status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? kExitSignalBase + WTERMSIG(st) : kExitInput;
            r.r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
            done(r.r);
            run.erase(run.begin() + ptrdiff_t(i));
        }
    }
    for (int i = 0; i < 3; ++i) sigaction(sigs[i], &old[i], nullptr);
    return g_many_signal;
}

}  // namespace lp
