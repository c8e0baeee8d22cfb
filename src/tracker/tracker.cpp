#include "tracker/tracker.hpp"

namespace lp {

Tracker::Tracker(std::optional<Endpoint> listener_hint) : hint_(std::move(listener_hint)) {}

const Connection* Tracker::find(const Endpoint& client, const Endpoint& server) const {
    auto it = flows_.find(FlowKey{client, server});
    return it == flows_.end() ? nullptr : it->second;
}

Connection& Tracker::start(const Endpoint& client, const Endpoint& server) {
    if (listener_seen_.try_emplace(server, true).second) listener_order_.push_back(server);
    if (flows_.empty()) flows_.reserve(1024);
    auto c = std::make_unique<Connection>();
    c->id = conns_.size();
    c->client = client;
    c->server = server;
    c->events.reserve(16);  // a typical handshake and close fit without reallocation
    Connection& ref = *c;
    conns_.push_back(std::move(c));
    flows_[FlowKey{client, server}] = &ref;
    return ref;
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

    Connection* c = nullptr;
    bool from_client = true;
    if (auto it = flows_.find(FlowKey{s.src, s.dst}); it != flows_.end()) {
        c = it->second;
        from_client = true;
    } else if (auto it2 = flows_.find(FlowKey{s.dst, s.src}); it2 != flows_.end()) {
        c = it2->second;
        from_client = false;
    }

    if (hint_ && !(s.dst == *hint_ || s.src == *hint_)) {
        ++untracked_;
        return;
    }

    // A new SYN (another ISN) on a tuple whose earlier handshake is over starts a new connection.
    if (c && from_client && s.is_syn() && c->client_isn_known && s.seq != c->client_isn &&
        (c->client_rst_ns || c->server_rst_ns || c->refused_ns || c->server_fin_ns ||
         c->final_ack_ns || c->synack_ns.empty())) {
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
    flows_.erase(FlowKey{c.client, c.server});
    conns_[c.id].reset();  // ids are positions until the next compaction
    if (++retired_slots_ > 4096 && retired_slots_ * 2 > conns_.size()) {
        std::erase_if(conns_, [](const std::unique_ptr<Connection>& p) { return !p; });
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
            c.synack_ns.push_back(s.t_ns);
            c.synack_timer.push_back(first);
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
