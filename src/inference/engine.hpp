// The incremental analyzer: segments in, verdicts out, in memory bounded by the
// handshakes alive at once, not by the capture.
//
// Every source (pcap/pcapng, tcpdump text, the live capture of a probe) feeds the
// same engine: Tracker (facts) -> evaluate() per flow (src/inference/decide.cpp)
// -> ListenerModel per listener (bounds) -> ListenerVerdict.
//
// Time is capture time. A flow is evaluated when a segment touches it and when a
// deadline of its own passes (a timer wheel); once nothing more can change, it is
// released (its events kept if a report shows it). The watermark is the earliest
// capture time any live flow may still contribute at; the models answer their
// moments up to it.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "inference/decide.hpp"
#include "inference/model.hpp"
#include "inference/verdict.hpp"
#include "source/source.hpp"
#include "tracker/tracker.hpp"

namespace lp {

class Engine {
    struct Timer {
        uint32_t flow, gen;
    };

public:
    struct Options {
        // Only this listener; its segments are tracked even without a handshake.
        std::optional<Endpoint> listener;
        bool keep_flows = false;       // never release flows (the live probe looks them up)
        uint32_t report_first = 1000;  // connections per listener a report shows with events
    };
    Engine() : Engine(Options{}) {}
    explicit Engine(Options o);

    void add(const Segment& s);
    // The same for consecutive segments, with their flows prefetched first: replay feeds
    // batches so that memory latency of one segment overlaps the work of the others.
    void add_batch(const Segment* segs, size_t n);
    static constexpr size_t kBatch = 64;
    // Ends the capture at `end_ns` (at least the last packet) and gives the verdicts;
    // the engine is spent afterwards.
    Analysis finish(const SourceInfo& source, std::optional<int64_t> end_ns);
    // The verdicts as if the capture ended at `end_ns`; the engine goes on.
    Analysis snapshot(const SourceInfo& source, int64_t end_ns) const;

    const Tracker& tracker() const { return tracker_; }
    // The flow of (client, listener) the tracker holds now, or nullptr.
    const Flow* find(const Endpoint& client, const Endpoint& server) const;
    size_t live_flows() const { return tracker_.live(); }
    size_t pending_moments() const;

private:
    void evaluate(uint32_t i, bool final);
    void prefetch_flow(const Segment& s) const;
    void schedule(uint32_t i);
    void set_u(FlowState& st, int64_t u);
    void advance(int64_t now);
    void process_slot(int64_t slot);
    void look_at(uint32_t i);
    void sweep_models(bool force);
    void recheck_held(bool all_flows);
    void release(uint32_t i);
    int64_t watermark();
    ListenerModel& model_of(const Flow& f);

    Options opt_;
    Tracker tracker_;
    ChunkedPool<FlowState> st_;       // parallel to the tracker's pool
    std::vector<ListenerModel> models_;
    std::vector<uint32_t> version_seen_;
    std::vector<std::vector<Timer>> held_;
    // Flows held per listener at most: beyond, the oldest are decided with what is known, so
    // that a listener that never shows what they wait for cannot hold memory or the watermark.
    static constexpr size_t kMaxHeld = 16384;

    static constexpr int kSlotShift = 26;  // about 67 ms per slot
    static constexpr int64_t kWheel = 4096;
    std::vector<std::vector<Timer>> wheel_;
    int64_t wheel_pos_ = INT64_MIN;  // the next slot to process
    int64_t base_slot_ = 0;          // FlowState's slot numbers count from here
    std::vector<Timer> scratch_;
    static constexpr int64_t kMarks = 8192;
    std::vector<uint32_t> marks_;    // live flows per watermark slot of their u
    int64_t mark_pos_ = INT64_MIN;   // no u lies before this slot
    uint64_t marked_ = 0;
    int64_t now_ = INT64_MIN;
    int64_t swept_to_ = INT64_MIN;
};

// Reads a whole source through an engine.
Analysis analyze_source(Source& src, const Engine::Options& o, std::optional<int64_t> end_ns = std::nullopt);

}  // namespace lp
