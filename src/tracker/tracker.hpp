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

    // What is kept of connections retired to bound memory: handshakes that completed
    // normally, were accepted by the application and closed, or were refused. They
    // prove nothing about the queues that the aggregate does not keep.
    struct Retired {
        uint64_t accepted_closed = 0;  // fate queued, the application accepted, closed
        uint64_t refused = 0;
        std::optional<int64_t> rtt_ns;  // SYN -> SYN-ACK of the first one
        std::string example;            // a client of an accepted one
    };

    // Connections in order of first appearance; retired ones are null.
    const std::vector<Connection*>& connections() const { return conns_; }
    // Inference writes each connection's fate back into the model.
    std::vector<Connection*>& connections_mut() { return conns_; }
    std::optional<int64_t> first_ns() const { return first_ns_; }
    std::optional<int64_t> last_ns() const { return last_ns_; }
    uint64_t untracked() const { return untracked_; }
    // Listeners in order of first appearance, and what was retired of each.
    const std::vector<Endpoint>& listeners() const { return listener_order_; }
    const Retired* retired(const Endpoint& listener) const {
        auto it = retired_.find(listener);
        return it == retired_.end() ? nullptr : &it->second;
    }
    // Retire finished, uninteresting connections (on by default; the live probe keeps all).
    void set_retire(bool on) { retire_ = on; }

    // Connections to one listener, for a live probe that watches its own handshakes.
    const Connection* find(const Endpoint& client, const Endpoint& server) const;

    static constexpr size_t kMaxEvents = 64;       // events kept per connection
    static constexpr size_t kKeepAll = 20000;      // live connections kept before any is retired
    static constexpr size_t kMaxKeyEvents = 160;   // room kept for handshake-relevant events

private:
    // Flows by their unordered pair of endpoints: one lookup per segment finds the
    // connection and tells from which side the segment came. Open addressing with
    // linear probing over a power-of-two table; retired connections leave tombstones
    // until the next rebuild.
    class FlowTable {
    public:
        // The connection whose (client, server) is (a, b) or (b, a); `a_is_client` says which.
        // The (a, b) orientation wins when both exist.
        Connection* find(const Endpoint& a, const Endpoint& b, bool& a_is_client) const;
        Connection* find_exact(const Endpoint& client, const Endpoint& server) const;
        void insert(Connection* c);
        void erase(const Connection* c);
        bool empty() const { return live_ == 0; }

    private:
        struct Slot {
            uint64_t hash = 0;
            Connection* c = nullptr;  // nullptr: empty; tombstone(): a retired connection was here
        };
        static Connection* tombstone() { return reinterpret_cast<Connection*>(alignof(Connection)); }
        static uint64_t pair_hash(const Endpoint& a, const Endpoint& b);
        void grow();
        std::vector<Slot> slots_;
        size_t used_ = 0, live_ = 0;  // used_ counts tombstones too
    };

    // Connections live in chunks that never move (pointers stay valid); retired ones are
    // reused, keeping the capacity of their vectors.
    Connection* allocate();
    void release(Connection* c);

    Connection& start(const Endpoint& client, const Endpoint& server);
    void maybe_retire(Connection& c);
    void on_client(Connection& c, const Segment& s);
    void on_server(Connection& c, const Segment& s);
    static void push(Connection& c, const Segment& s, Dir d, EventKind k);

    std::optional<Endpoint> hint_;
    std::vector<Connection*> conns_;
    std::vector<std::unique_ptr<Connection[]>> chunks_;
    size_t chunk_used_ = 0;
    std::vector<Connection*> free_;
    FlowTable flows_;
    std::optional<int64_t> first_ns_, last_ns_;
    uint64_t untracked_ = 0;
    std::vector<Endpoint> listener_order_;
    std::unordered_map<Endpoint, Retired, EndpointHash> retired_;
    std::unordered_map<Endpoint, bool, EndpointHash> listener_seen_;
    bool retire_ = true;
    size_t retired_slots_ = 0;
};

}  // namespace lp
