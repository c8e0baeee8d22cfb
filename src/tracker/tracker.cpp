#include "tracker/tracker.hpp"

#include <cstring>

namespace lp {

Tracker::Tracker(std::optional<Endpoint> listener_hint) : hint_(std::move(listener_hint)) {}

namespace {
constexpr size_t kChunk = 4096;

uint64_t endpoint_hash64(const Endpoint& e) {
    uint64_t lo, hi;
    std::memcpy(&lo, e.addr.bytes.data(), 8);
    std::memcpy(&hi, e.addr.bytes.data() + 8, 8);
    uint64_t h = (lo ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    h ^= (hi + (uint64_t(e.port) << 8) + e.addr.family) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h * 0xd6e8feb86659fd93ull;
}
}  // namespace

uint64_t Tracker::FlowTable::pair_hash(const Endpoint& a, const Endpoint& b) {
    uint64_t h = endpoint_hash64(a) + endpoint_hash64(b);  // the same from either side
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

Connection* Tracker::FlowTable::find(const Endpoint& a, const Endpoint& b, bool& a_is_client) const {
    if (slots_.empty()) return nullptr;
    const uint64_t h = pair_hash(a, b);
    const size_t mask = slots_.size() - 1;
    Connection* reversed = nullptr;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const Slot& s = slots_[i];
        if (!s.c) break;
        if (s.hash != h || s.c == tombstone()) continue;
        if (s.c->client == a && s.c->server == b) {
            a_is_client = true;
            return s.c;
        }
        if (!reversed && s.c->client == b && s.c->server == a) reversed = s.c;
    }
    a_is_client = false;
    return reversed;
}

Connection* Tracker::FlowTable::find_exact(const Endpoint& client, const Endpoint& server) const {
    bool client_first = false;
    Connection* c = find(client, server, client_first);
    return c && client_first ? c : nullptr;
}

void Tracker::FlowTable::insert(Connection* c) {
    if ((used_ + 1) * 2 > slots_.size()) grow();
    const uint64_t h = pair_hash(c->client, c->server);
    const size_t mask = slots_.size() - 1;
    size_t i = h & mask;
    while (slots_[i].c && slots_[i].c != tombstone()) i = (i + 1) & mask;
    if (!slots_[i].c) ++used_;
    slots_[i] = {h, c};
    ++live_;
}

void Tracker::FlowTable::erase(const Connection* c) {
    if (slots_.empty()) return;
    const uint64_t h = pair_hash(c->client, c->server);
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask; slots_[i].c; i = (i + 1) & mask)
        if (slots_[i].c == c) {
            slots_[i].c = tombstone();
            --live_;
            return;
        }
}

void Tracker::FlowTable::grow() {
    size_t n = 1024;
    while (n < live_ * 4 + 4) n *= 2;
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(n, Slot{});
    used_ = live_ = 0;
    for (const Slot& s : old)
        if (s.c && s.c != tombstone()) {
            size_t i = s.hash & (n - 1);
            while (slots_[i].c) i = (i + 1) & (n - 1);
            slots_[i] = s;
            ++used_;
            ++live_;
        }
}

Connection* Tracker::allocate() {
    if (!free_.empty()) {
        Connection* c = free_.back();
        free_.pop_back();
        return c;
    }
    if (chunks_.empty() || chunk_used_ == kChunk) {
        chunks_.push_back(std::make_unique<Connection[]>(kChunk));
        chunk_used_ = 0;
    }
    return &chunks_.back()[chunk_used_++];
}

void Tracker::release(Connection* c) {
    auto events = std::move(c->events);
    auto synacks = std::move(c->synack_ns);
    events.clear();
    synacks.clear();
    *c = Connection();
    c->events = std::move(events);
    c->synack_ns = std::move(synacks);
    free_.push_back(c);
}

const Connection* Tracker::find(const Endpoint& client, const Endpoint& server) const {
    return flows_.find_exact(client, server);
}

Connection& Tracker::start(const Endpoint& client, const Endpoint& server) {
    if (listener_seen_.try_emplace(server, true).second) listener_order_.push_back(server);
    Connection* c = allocate();
    c->id = conns_.size();
    c->client = client;
    c->server = server;
    if (c->events.capacity() == 0) c->events.reserve(16);  // a typical handshake and close fit
    conns_.push_back(c);
    flows_.insert(c);
    return *c;
}

void Tracker::push(Connection& c, const Segment& s, Dir d, EventKind k) {
    const bool key = k != EventKind::data && k != EventKind::ack && k != EventKind::other;
    if (c.events.size() >= kMaxEvents && !(key && c.events.size() < kMaxKeyEvents)) {
        ++c.events_omitted;
        return;
    }
    Event e;
    e.t_ns = s.t_ns;
    e.dir = d;
    e.kind = k;
    e.seq = s.seq;
    e.ack = s.ack;
    e.flags = s.flags;
    e.payload = s.payload;
    c.events.push_back(e);
}

void Tracker::add(const Segment& s) {
    if (!first_ns_) first_ns_ = s.t_ns;
    if (!last_ns_ || s.t_ns > *last_ns_) last_ns_ = s.t_ns;

    bool from_client = true;
    Connection* c = flows_.find(s.src, s.dst, from_client);

    if (hint_ && !(s.dst == *hint_ || s.src == *hint_)) {
        ++untracked_;
        return;
    }

    // A new SYN (another ISN) on a tuple whose earlier handshake is over starts a new connection.
    if (c && from_client && s.is_syn() && c->client_isn_known && s.seq != c->client_isn &&
        (c->client_rst_ns || c->server_rst_ns || c->refused_ns || c->server_fin_ns ||
         c->final_ack_ns || c->synack_ns.empty())) {
        // The new handshake takes the tuple's place: later segments are its own. The earlier
        // connection stays in the model, no longer findable.
        flows_.erase(c);
        c = nullptr;
    }

    if (!c) {
        if (s.is_syn() && (!hint_ || s.dst == *hint_)) {
            c = &start(s.src, s.dst);
            from_client = true;
        } else if (s.is_synack() && (!hint_ || s.src == *hint_)) {
            c = &start(s.dst, s.src);
            from_client = false;
        } else if (hint_) {
            from_client = s.dst == *hint_;
            c = from_client ? &start(s.src, s.dst) : &start(s.dst, s.src);
        } else {
            ++untracked_;
            return;
        }
    }
    if (from_client)
        on_client(*c, s);
    else
        on_server(*c, s);
    if (retire_ && (s.flags & (tcp::FIN | tcp::RST))) maybe_retire(*c);
}

// A connection is retired (freed, counted) once its story is complete and plain:
// answered at its first SYN, one SYN-ACK, established and accepted by the
// application (it sent data or FIN), then closed; or refused at its first SYN.
// Connections that show anything about the queues stay.
void Tracker::maybe_retire(Connection& c) {
    if (conns_.size() - retired_slots_ <= kKeepAll) return;  // small captures keep every connection
    const bool refused = c.refused_ns && c.synack_ns.empty() && c.syn_count == 1 && !c.client_rst_ns;
    const bool plain = c.syn_count == 1 && c.synack_ns.size() == 1 && !c.first_synack_missing &&
                       c.synack_other_isn == 0 && c.final_ack_ns && (c.server_payload_ns || c.server_fin_ns) &&
                       (c.server_ack_data_ns || c.server_payload_ns) &&
                       (!c.client_rst_ns || *c.client_rst_ns > *c.final_ack_ns) &&
                       (!c.server_rst_ns || *c.server_rst_ns > *c.final_ack_ns);
    const bool closed = (c.server_fin_ns && c.client_fin_ns) || c.client_rst_ns || c.server_rst_ns;
    if (!(refused || (plain && closed))) return;
    Retired& r = retired_[c.server];
    if (refused) {
        ++r.refused;
    } else {
        ++r.accepted_closed;
        if (r.example.empty()) r.example = c.client.str();
    }
    if (!r.rtt_ns && c.first_syn_ns && !c.synack_ns.empty()) r.rtt_ns = c.synack_ns.front() - *c.first_syn_ns;
    flows_.erase(&c);
    conns_[c.id] = nullptr;  // ids are positions until the next compaction
    release(&c);
    if (++retired_slots_ > 4096 && retired_slots_ * 2 > conns_.size()) {
        std::erase_if(conns_, [](const Connection* p) { return !p; });
        for (size_t i = 0; i < conns_.size(); ++i) conns_[i]->id = i;
        retired_slots_ = 0;
    }
}

void Tracker::on_client(Connection& c, const Segment& s) {
    if (s.flags & tcp::RST) {
        if (!c.client_rst_ns) {
            c.client_rst_ns = s.t_ns;
            c.client_rst_bare = !(s.flags & tcp::ACK);
        }
        push(c, s, Dir::to_listener, EventKind::rst);
        return;
    }
    if (s.is_syn()) {
        if (!c.client_isn_known) {
            c.client_isn = s.seq;
            c.client_isn_known = true;
            c.first_syn_ns = s.t_ns;
            c.syn_options = s.opt;
            c.syn_count = 1;
            push(c, s, Dir::to_listener, EventKind::syn);
        } else {
            ++c.syn_count;
            push(c, s, Dir::to_listener, EventKind::syn_retransmit);
        }
        return;
    }
    if (s.flags & tcp::SYN) {  // SYN with ACK from the client side: simultaneous open; not ours
        push(c, s, Dir::to_listener, EventKind::other);
        return;
    }
    if (s.flags & tcp::ACK) {
        // The first ACK after a SYN-ACK is the final ACK of the handshake. When the capture
        // missed the SYN-ACK, the client's ACK still proves it existed and gives its ISN.
        if (!c.server_isn && c.client_isn_known) c.server_isn = s.ack - 1;
        if (c.server_isn && !c.final_ack_ns && s.ack == *c.server_isn + 1) c.final_ack_ns = s.t_ns;
        if (!c.server_ack_data_ns && !c.server_payload_ns && !c.server_fin_ns)
            c.last_client_ack_before_proof_ns = s.t_ns;
        c.client_payload_bytes += s.payload;
        EventKind k = s.payload > 0 ? EventKind::data : EventKind::ack;
        if (s.flags & tcp::FIN) {
            k = EventKind::fin;
            if (!c.client_fin_ns) c.client_fin_ns = s.t_ns;
        }
        push(c, s, Dir::to_listener, k);
        return;
    }
    if (s.flags & tcp::FIN) {
        if (!c.client_fin_ns) c.client_fin_ns = s.t_ns;
        push(c, s, Dir::to_listener, EventKind::fin);
        return;
    }
    push(c, s, Dir::to_listener, EventKind::other);
}

void Tracker::on_server(Connection& c, const Segment& s) {
    if (s.flags & tcp::RST) {
        // A RST before any SYN-ACK answers the SYN: the port is closed.
        if (c.synack_ns.empty() && !c.final_ack_ns && !c.refused_ns) {
            c.refused_ns = s.t_ns;
        } else if (!c.server_rst_ns) {
            c.server_rst_ns = s.t_ns;
        }
        push(c, s, Dir::from_listener, EventKind::rst);
        return;
    }
    if (s.is_synack()) {
        if (!c.client_isn_known) {  // the capture started after the SYN
            c.client_isn = s.ack - 1;
            c.client_isn_known = true;
        }
        if (!c.server_isn || (c.synack_ns.empty() && !c.final_ack_ns)) {
            c.server_isn = s.seq;
        }
        if (s.seq == *c.server_isn) {
            const bool first = c.synack_ns.empty();
            c.synack_ns.push_back(s.t_ns);  // which ones the timer sent is for inference to say
            if (first && c.final_ack_ns) c.first_synack_missing = true;
            if (first) {
                c.synack_options = s.opt;
                c.synack_options_seen = true;
            }
            push(c, s, Dir::from_listener, first && !c.final_ack_ns ? EventKind::synack
                                                                    : EventKind::synack_retransmit);
        } else {
            ++c.synack_other_isn;
            push(c, s, Dir::from_listener, EventKind::other);
        }
        return;
    }
    if (s.flags & tcp::SYN) {
        push(c, s, Dir::from_listener, EventKind::other);
        return;
    }
    // Established-side segments: they prove the listener created the connection.
    if (s.payload > 0 && !c.server_payload_ns) c.server_payload_ns = s.t_ns;
    if ((s.flags & tcp::FIN) && !c.server_fin_ns) c.server_fin_ns = s.t_ns;
    if ((s.flags & tcp::ACK) && c.client_isn_known && !c.server_ack_data_ns &&
        int32_t(s.ack - (c.client_isn + 1)) > 0)
        c.server_ack_data_ns = s.t_ns;
    EventKind k = s.payload > 0 ? EventKind::data : EventKind::ack;
    if (s.flags & tcp::FIN) k = EventKind::fin;
    push(c, s, Dir::from_listener, k);
}

}  // namespace lp
