// One handshake attempt between a client endpoint and a listener, as seen on
// the wire: the events, and the facts the tracker derives from them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "segments/segment.hpp"

namespace lp {

enum class Dir : uint8_t { to_listener, from_listener };

enum class EventKind : uint8_t {
    syn, syn_retransmit, synack, synack_retransmit, ack, data, rst, fin, other
};

struct Event {  // 24 bytes: every connection keeps up to 64 of them
    int64_t t_ns = 0;
    uint32_t seq = 0, ack = 0;
    uint32_t payload = 0;
    Dir dir = Dir::to_listener;
    EventKind kind = EventKind::other;
    uint8_t flags = 0;
    // SYN-ACK retransmissions only: true when the listener's timer sent it,
    // false when it answered a retransmitted client SYN.
    bool timer = false;
};
static_assert(sizeof(Event) == 24);

enum class Fate : uint8_t {
    queued,           // proven established at the listener
    ack_dropped,      // final ACK met a SYN-ACK retransmission: the listener did not take it
    reset_after_ack,  // final ACK answered by RST (abort_on_overflow)
    syn_dropped,      // SYN(s) met silence while the listener answers others
    half_open,        // SYN-ACKed, never ACKed by the client
    cookie,           // SYN-ACK proven stateless (syncookie)
    refused,          // RST to the SYN: closed port
    reset_by_client,  // the client reset the handshake before its outcome (e.g. prober kernel)
    unknown
};

const char* to_string(EventKind k);
const char* to_string(Fate f);
const char* to_string(Dir d);

struct Connection {
    uint64_t id = 0;          // order of first appearance
    Endpoint client, server;
    std::vector<Event> events;        // capped; see events_omitted
    uint32_t events_omitted = 0;

    // Facts kept up to date by the tracker (times in capture ns).
    std::optional<int64_t> first_syn_ns;
    uint32_t client_isn = 0;
    bool client_isn_known = false;
    uint32_t syn_count = 0;
    std::optional<uint32_t> server_isn;
    std::vector<int64_t> synack_ns;          // every SYN-ACK with the request's ISN
    std::vector<bool> synack_timer;          // parallel: sent by the listener's timer (set by inference)
    bool first_synack_missing = false;       // the capture holds no SYN-ACK before the client's ACK
    uint32_t synack_other_isn = 0;           // SYN-ACKs with a different ISN (new request)
    std::optional<int64_t> refused_ns;       // RST answering the SYN
    std::optional<int64_t> final_ack_ns;     // first client segment acknowledging the SYN-ACK
    std::optional<int64_t> client_rst_ns;    // first client RST
    bool client_rst_bare = false;            // ...without ACK: a stack that knew no such connection
    std::optional<int64_t> server_rst_ns;    // first listener RST after the SYN-ACK
    std::optional<int64_t> server_ack_data_ns;  // listener acknowledged client payload: established
    std::optional<int64_t> server_payload_ns;   // listener sent payload: the application accepted
    std::optional<int64_t> server_fin_ns;
    std::optional<int64_t> client_fin_ns;
    std::optional<int64_t> last_client_ack_before_proof_ns;
    uint64_t client_payload_bytes = 0;
    bool synack_options_seen = false;
    TcpOptions syn_options, synack_options;

    // Set by inference.
    Fate fate = Fate::unknown;
    std::string fate_reason;
    std::optional<int64_t> established_ns;  // when it entered the accept queue, if proven
    bool stateless = false;                 // SYN-ACK proven to be a syncookie
    int timer_retransmits = 0;              // SYN-ACK retransmissions sent by the listener's timer
};

}  // namespace lp
