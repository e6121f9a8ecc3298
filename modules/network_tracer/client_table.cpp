// client_table.cpp — see client_table.h.
#include "modules/network_tracer/client_table.h"

#include <algorithm>

namespace rp::modules::network_tracer {

Client* ClientTable::find(std::string_view id) {
    for (auto& c : clients_)
        if (c->id == id) return c.get();
    return nullptr;
}

Client* ClientTable::get_or_create(std::string_view id, uint64_t now_ms) {
    if (Client* c = find(id)) return c;
    if (clients_.size() >= max_clients_) {
        ++refused_;
        return nullptr;
    }
    auto c = std::make_unique<Client>();
    c->id = id;
    c->last_fetch_ms = now_ms;
    // As upstream (minClosedCapacity): room for a usual interval's closes from the start, so that
    // the first closes of a new client do not grow the buffer one doubling at a time.
    c->closed.reserve(std::min<size_t>(max_closed_, kMinClosedCapacity));
    give_slot(*c);
    clients_.push_back(std::move(c));
    return clients_.back().get();
}

bool ClientTable::give_slot(Client& c) {
    for (uint32_t s = 0; s < NT_MAX_CLIENTS; ++s) {
        if (slot_used_[s]) continue;
        slot_used_[s] = true;
        c.slot = s;
        // Generation 0 is what an unused slot holds in the kernel: never handed out.
        c.gen = next_gen_++;
        if (next_gen_ == 0) next_gen_ = 1;
        c.held = 0;
        return true;
    }
    return false;
}

size_t ClientTable::expire(uint64_t now_ms, uint64_t expiry_ms) {
    size_t before = clients_.size();
    std::erase_if(clients_, [&](const std::unique_ptr<Client>& c) {
        if (c->streaming || c->last_fetch_ms + expiry_ms >= now_ms) return false;
        if (c->slot < NT_MAX_CLIENTS) slot_used_[c->slot] = false;
        closed_buffered_ -= c->closed.size();
        return true;
    });
    expired_ += before - clients_.size();
    // A client created while every slot was taken gets one as soon as one is free (oldest first;
    // not while it streams: its poll runs without a slot). Its next poll reports every connection
    // in full once more (no baseline yet), then deltas, as a new client's first poll.
    for (auto& c : clients_) {
        if (c->slot != NT_NO_SLOT || c->streaming) continue;
        if (!give_slot(*c)) break;
        ++slots_given_;
    }
    return before - clients_.size();
}

uint64_t ClientTable::next_expiry_ms(uint64_t expiry_ms) const {
    uint64_t next = 0;
    for (const auto& c : clients_) {
        uint64_t at = c->last_fetch_ms + expiry_ms + 1;
        if (next == 0 || at < next) next = at;
    }
    return next;
}

bool ClientTable::is_zero(const nt_counters& c) {
    return c.bytes_sent == 0 && c.bytes_recv == 0 && c.pkts_sent == 0 && c.pkts_recv == 0 &&
           c.retrans == 0 && c.rto == 0 && c.recovery == 0 && c.reord_seen == 0 &&
           c.ooo_pack == 0 && c.delivered_ce == 0 && c.established == 0 && c.closed == 0;
}

nt_counters ClientTable::minus(const nt_counters& a, const nt_counters& b) {
    auto sub = [](auto x, auto y) { return x > y ? x - y : decltype(x){0}; };
    nt_counters d = a;
    d.bytes_sent = sub(a.bytes_sent, b.bytes_sent);
    d.bytes_recv = sub(a.bytes_recv, b.bytes_recv);
    d.pkts_sent = sub(a.pkts_sent, b.pkts_sent);
    d.pkts_recv = sub(a.pkts_recv, b.pkts_recv);
    d.retrans = sub(a.retrans, b.retrans);
    d.rto = sub(a.rto, b.rto);
    d.recovery = sub(a.recovery, b.recovery);
    d.reord_seen = sub(a.reord_seen, b.reord_seen);
    d.ooo_pack = sub(a.ooo_pack, b.ooo_pack);
    d.delivered_ce = sub(a.delivered_ce, b.delivered_ce);
    d.established = sub(a.established, b.established);
    d.closed = sub(a.closed, b.closed);
    return d;
}

nt_counters ClientTable::closed_delta(const nt_closed& rec, const Client& c) {
    if (c.slot < NT_MAX_CLIENTS && rec.slot[c.slot].gen == c.gen)
        return minus(rec.conn.c, rec.slot[c.slot].seen);
    if (c.ub) {
        auto it = c.ub->map.find(rec.conn.cookie);
        if (it != c.ub->map.end()) return minus(rec.conn.c, it->second.seen);
    }
    return rec.conn.c;
}

void ClientTable::begin_user_poll(Client& c) {
    if (c.slot == NT_NO_SLOT && !c.ub) c.ub = std::make_unique<UserBaselines>(max_stats_);
    if (!c.ub) return;
    ++c.ub->gen;
    c.ub->dropped = 0;
    c.ub->migrating = c.slot != NT_NO_SLOT;
}

bool ClientTable::user_delta(Client& c, nt_conn& rec) {
    UserBaselines& ub = *c.ub;
    auto it = ub.map.find(rec.cookie);
    if (it == ub.map.end()) {
        if (ub.migrating) return !is_zero(rec.c);  // a baseline in the kernel from now on
        if (ub.map.size() >= ub.cap) {
            rec.flags |= NT_C_NO_BASELINE;
            ++ub.dropped;
            return true;
        }
        ub.map.emplace(rec.cookie, UserBaselines::Entry{rec.c, ub.gen});
        return true;
    }
    nt_counters d = minus(rec.c, it->second.seen);
    it->second.seen = rec.c;
    it->second.gen = ub.gen;
    rec.c = d;
    return !is_zero(d);
}

void ClientTable::end_user_poll(Client& c, bool complete, bool swept) {
    if (!c.ub) return;
    if (c.ub->migrating) {
        // The kernel slot holds the baselines now: that poll made one for every record it
        // produced (also a poll the client left: what it did not produce comes in full next time,
        // never less than the truth).
        c.ub.reset();
        return;
    }
    if (!complete || !swept) return;
    const uint32_t gen = c.ub->gen;
    std::erase_if(c.ub->map, [gen](const auto& kv) { return kv.second.gen != gen; });
}

void ClientTable::add_closed(const nt_closed& rec) {
    for (auto& cp : clients_) {
        Client& c = *cp;
        bool had_baseline = c.slot < NT_MAX_CLIENTS && rec.slot[c.slot].gen == c.gen;
        if (had_baseline && c.held > 0) --c.held;  // the socket, and its baseline, are gone
        nt_counters d = closed_delta(rec, c);
        if (c.ub) c.ub->map.erase(rec.conn.cookie);  // the socket is gone
        if (is_zero(d)) continue;
        if (c.closed.size() >= max_closed_) {
            ++closed_dropped_;
            continue;
        }
        c.closed.push_back(rec.conn);
        c.closed.back().c = d;
        ++closed_buffered_;
    }
}

void ClientTable::take_closed(Client& c, size_t n) {
    n = std::min(n, c.closed.size());
    c.closed.erase(c.closed.begin(), c.closed.begin() + static_cast<ptrdiff_t>(n));
    closed_buffered_ -= n;
    if (c.closed.capacity() > 4096 && c.closed.size() * 4 < c.closed.capacity()) {
        std::vector<nt_conn> kept;
        kept.reserve(std::max(c.closed.size(), std::min(max_closed_, kMinClosedCapacity)));
        kept.assign(c.closed.begin(), c.closed.end());
        c.closed.swap(kept);
    }
}

}  // namespace rp::modules::network_tracer
