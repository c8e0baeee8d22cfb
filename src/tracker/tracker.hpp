// The handshake tracker: groups segments into connections (client endpoint,
// listener endpoint), classifies each segment as an event of the handshake and
// keeps the facts inference needs. Streaming: one call per segment, in order.
#pragma once
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "segments/segment.hpp"
#include "tracker/connection.hpp"

namespace lp {

class Tracker {
public:
    // With a hint, segments to or from that endpoint are tracked even without a SYN,
    // and only that listener is tracked.
    explicit Tracker(std::optional<Endpoint> listener_hint = std::nullopt);

    void add(const Segment& s);

    // Connections in order of first appearance.
    const std::vector<std::unique_ptr<Connection>>& connections() const { return conns_; }
    // Inference writes each connection's fate back into the model.
    std::vector<std::unique_ptr<Connection>>& connections_mut() { return conns_; }
    std::optional<int64_t> first_ns() const { return first_ns_; }
    std::optional<int64_t> last_ns() const { return last_ns_; }
    uint64_t untracked() const { return untracked_; }

    // Connections to one listener, for a live probe that watches its own handshakes.
    const Connection* find(const Endpoint& client, const Endpoint& server) const;

    static constexpr size_t kMaxEvents = 64;       // events kept per connection
    static constexpr size_t kMaxKeyEvents = 160;   // room kept for handshake-relevant events

private:
    struct FlowKey {
        Endpoint client, server;
        bool operator==(const FlowKey&) const = default;
    };
    struct FlowHash {
        size_t operator()(const FlowKey& k) const noexcept {
            EndpointHash h;
            return h(k.client) * 31 + h(k.server);
        }
    };

    Connection& start(const Endpoint& client, const Endpoint& server);
    void on_client(Connection& c, const Segment& s);
    void on_server(Connection& c, const Segment& s);
    static void push(Connection& c, const Segment& s, Dir d, EventKind k);

    std::optional<Endpoint> hint_;
    std::vector<std::unique_ptr<Connection>> conns_;
    std::unordered_map<FlowKey, Connection*, FlowHash> flows_;
    std::optional<int64_t> first_ns_, last_ns_;
    uint64_t untracked_ = 0;
};

}  // namespace lp
