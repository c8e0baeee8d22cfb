// The handshake tracker: groups segments into flows (client endpoint, listener
// endpoint), classifies each segment of a handshake and keeps the facts of
// src/tracker/flow.hpp. One call per segment, in capture order; no inference.
//
// Contract:
//  - add() returns the flow a segment belongs to (or none) and what changed in
//    it, so the engine re-evaluates only what may have moved.
//  - Flows live in a pool indexed by uint32 and stay until release(); the flow
//    table forgets a flow when a new handshake takes its tuple (add() reports the
//    replaced flow) or when it is released.
//  - Events (for reports) are kept only for the first `events_for_first` flows of
//    each listener; take_events() hands them over before release().
//  - Per-listener facts (ListenerFacts) are wire facts too: the first measured
//    RTT, whether the listener ever honoured window scale or SACK, whether any of
//    its requests was retransmitted by its timer, and a counter of completions.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "segments/segment.hpp"
#include "tracker/event.hpp"
#include "tracker/flow.hpp"
#include "tracker/flow_table.hpp"
#include "tracker/pool.hpp"

namespace lp {

struct ListenerFacts {
    Endpoint ep;
    uint32_t flows = 0;              // flows started (the next ordinal)
    // Client segments that may have completed a handshake (an ACK of a flow with a
    // SYN-ACK and no proof from the listener yet): the accept queue can only grow at one.
    uint32_t completions = 0;
    int64_t completion_ns = INT64_MIN;  // capture time of the latest of them
    // The latest room moment: the SYN of the latest first SYN-ACK that answered the flow's
    // latest SYN (Linux 4.10+ answers a SYN only while the accept queue has room), the flow
    // (ordinal) and `completions` then. A SYN or final ACK of another flow that meets a full
    // queue after it, with no completion in between, met another queue (SO_REUSEPORT).
    int64_t room_ns = INT64_MIN;
    uint32_t room_completions = 0, room_ordinal = 0;
    std::optional<int64_t> rtt_ns;   // SYN -> SYN-ACK of the first flow answered at its SYN
    bool options_honoured = false;   // a SYN-ACK carried window scale or SACK that its SYN offered
    bool retransmits = false;        // a timer-driven SYN-ACK retransmission was seen
    uint8_t most_rtx = 0;            // most timer-driven retransmissions of one request so far
    // The option layouts of first SYN-ACKs (src/segments/segment.hpp, TcpOptions::layout): the
    // first distinct ones, each with how many SYN-ACKs had it and the first that did.
    struct Layout {
        uint64_t layout = 0;
        uint32_t count = 0;
        Endpoint client;
        int64_t t_ns = 0;
    };
    static constexpr size_t kLayouts = 4;
    std::array<Layout, kLayouts> layouts{};
    uint8_t n_layouts = 0;
    uint32_t layouts_more = 0;       // first SYN-ACKs with a layout beyond those kept
    // First SYN-ACKs with a zero window (a SYN proxy's cookie: nftables/iptables SYNPROXY
    // answers with window 0 until the listener behind it has the connection) and without.
    uint32_t synack_win0 = 0, synack_win_open = 0;
    std::optional<Endpoint> synack_win0_client;
    int64_t synack_win0_ns = 0;
    bool later_win_open = false;     // a listener segment after the handshake had a window (the
                                     // input shows windows: tcpdump text may leave them out)
    uint8_t synack_ttl_max = 0;      // highest IPv4 TTL / IPv6 hop limit of a first SYN-ACK (0: not known)
    std::optional<Endpoint> synack_ttl_client;  // the first SYN-ACK with it
    uint64_t midstream = 0;          // segments of flows whose handshake is not in the capture
    uint64_t untracked_app = 0;      // listener payload or FIN on such flows: the application accepts
    std::optional<int64_t> untracked_app_ns;
    std::optional<Endpoint> untracked_app_client;
};

class Tracker {
public:
    static constexpr uint32_t kNone = 0xFFFFFFFFu;

    struct Options {
        // With a hint, segments to or from that endpoint are tracked even without a
        // handshake, and only that listener is tracked.
        std::optional<Endpoint> hint;
        uint32_t events_for_first = 1000;  // flows per listener whose events are kept
    };
    enum Change : uint32_t {
        ch_new = 1u << 0,          // the flow started with this segment
        ch_syn = 1u << 1,          // a client SYN (first or again)
        ch_synack = 1u << 2,       // the first SYN-ACK
        ch_rtx = 1u << 3,          // a SYN-ACK retransmission (timer or answer)
        ch_final_ack = 1u << 4,    // the final ACK
        ch_proof = 1u << 5,        // the first proof from the listener (data ACKed, data, FIN)
        ch_rst = 1u << 6,          // a RST from either side
        ch_fin = 1u << 7,
        ch_app = 1u << 8,          // the first listener payload or FIN
        ch_client = 1u << 9,       // any client segment
        ch_syn_unanswered = 1u << 10,  // a client SYN again before any SYN-ACK: the one before met
                                       // silence (Result::prev_syn_ns)
    };
    struct Result {
        uint32_t flow = kNone;
        uint32_t changes = 0;
        uint32_t replaced = kNone;  // a finished flow whose tuple a new handshake took
        int64_t prev_syn_ns = 0;    // ch_syn_unanswered: when the SYN before was sent
    };

    Tracker() : Tracker(Options{}) {}
    explicit Tracker(Options o);

    Result add(const Segment& s);

    // Prefetching for a batch of segments (Engine::add_batch): stage 1 brings the flow
    // table's slot into the cache, stage 2 the flow record it names (returned: its index,
    // or kNone). Lookups stay exact; these only hide memory latency.
    void prefetch_slot(const Segment& s) const { table_.prefetch(FlowTable::pair_hash(s.src, s.dst)); }
    uint32_t prefetch_flow(const Segment& s) const {
        const uint32_t i = table_.guess(FlowTable::pair_hash(s.src, s.dst));
        if (i != kNone && i < pool_.size()) {
            const char* p = reinterpret_cast<const char*>(pool_.address(i));
            __builtin_prefetch(p);
            __builtin_prefetch(p + 64);
        }
        return i;
    }

    Flow& flow(uint32_t i) { return pool_[i]; }
    const Flow& flow(uint32_t i) const { return pool_[i]; }
    // Size of the pool (for arrays that run parallel to it).
    uint32_t pool_size() const { return pool_.size(); }
    size_t live() const { return live_; }
    // Forgets a flow: its table entry, its events, its slot (reused).
    void release(uint32_t i);

    // The events of a flow whose events are kept (nullptr otherwise), and how many
    // were left out once the cap was reached.
    const std::vector<Event>* events(uint32_t i) const;
    uint32_t events_omitted(uint32_t i) const;
    std::vector<Event> take_events(uint32_t i, uint32_t* omitted = nullptr);

    const std::vector<ListenerFacts>& listeners() const { return listeners_; }
    std::optional<uint32_t> listener_index(const Endpoint& ep) const;
    const Endpoint& listener_of(const Flow& f) const { return listeners_[f.listener].ep; }

    // The flow of (client, listener) that the table holds now, or kNone.
    uint32_t find(const Endpoint& client, const Endpoint& server) const;

    std::optional<int64_t> first_ns() const { return first_ns_; }
    std::optional<int64_t> last_ns() const { return last_ns_; }
    uint64_t untracked() const { return untracked_; }

    static constexpr size_t kMaxEvents = 64;      // events kept per flow
    static constexpr size_t kMaxKeyEvents = 160;  // room kept for handshake events past that

private:
    uint32_t start(const Endpoint& client, const Endpoint& server, int64_t t_ns);
    uint32_t listener_for(const Endpoint& server);
    void on_client(uint32_t i, Flow& f, const Segment& s, Result& r);
    void on_server(uint32_t i, Flow& f, const Segment& s, Result& r);
    void untracked_segment(const Segment& s);
    void push(uint32_t i, const Flow& f, const Segment& s, Dir d, EventKind k, bool timer = false);
    int64_t answer_window(const Flow& f) const;

    Options opt_;
    ChunkedPool<Flow> pool_;
    std::vector<uint32_t> free_;
    size_t live_ = 0;
    FlowTable table_;
    std::vector<ListenerFacts> listeners_;
    std::unordered_map<Endpoint, uint32_t, EndpointHash> listener_ids_;
    struct EventBuf {
        std::vector<Event> ev;
        uint32_t omitted = 0;
    };
    std::unordered_map<uint32_t, EventBuf> events_;
    std::optional<int64_t> first_ns_, last_ns_;
    uint64_t untracked_ = 0;
};

}  // namespace lp
