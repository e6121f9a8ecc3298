// connections_stream.cpp — see connections_stream.h.
#include "modules/network_tracer/connections_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "loop/log.h"

namespace rp::modules::network_tracer {

bool EndpointSet::Key::operator<(const Key& o) const {
    if (int c = std::memcmp(addr.a, o.addr.a, sizeof addr.a); c != 0) return c < 0;
    if (port != o.port) return port < o.port;
    return type < o.type;
}

bool EndpointSet::Key::operator==(const Key& o) const {
    return std::memcmp(addr.a, o.addr.a, sizeof addr.a) == 0 && port == o.port && type == o.type;
}

void EndpointSet::build(std::span<const nt_conn> closed) {
    keys_.clear();
    for (const auto& c : closed) keys_.push_back(Key{c.saddr, c.sport, c.type});
    std::sort(keys_.begin(), keys_.end());
}

bool EndpointSet::contains(const nt_addr& a, uint16_t port, uint8_t type) const {
    if (keys_.empty()) return false;
    Key k{a, port, type};
    auto it = std::lower_bound(keys_.begin(), keys_.end(), k);
    return it != keys_.end() && *it == k;
}

ConnectionsStream::ConnectionsStream(PollOwner& owner, PortRange range)
    : owner_(owner), encoder_(range), range_(range) {}

ConnectionsStream::~ConnectionsStream() {
    if (fd_ >= 0) ::close(fd_);
}

size_t ConnectionsStream::read_size() {
    long page = ::sysconf(_SC_PAGESIZE);
    size_t seq = static_cast<size_t>(page > 0 ? page : 4096) * 8;
    size_t n = seq - 2 * sizeof(nt_closed);
    return std::min(n, sizeof buf_);
}

void ConnectionsStream::start(Client& c, int iter_fd, Mode mode, http::Encoding enc, bool pretty) {
    client_ = &c;
    fd_ = iter_fd;
    mode_ = mode;
    started_ = false;
    iter_done_ = false;
    count_ = 0;
    have_ = 0;
    closed_next_ = 0;
    enc_ = enc;
    pretty_ = pretty;
    closed_end_ = mode == Mode::connections ? c.closed.size() : 0;
    if (translator_ != nullptr && mode == Mode::connections) translator_->begin_poll();
    if (mode == Mode::connections)
        closed_eps_.build(std::span<const nt_conn>(c.closed.data(), closed_end_));
}

void ConnectionsStream::dump_record(const nt_dump& d) {
    http::JsonWriter& w = dump_json_;
    char k[24];
    auto r = std::to_chars(k, k + sizeof k, d.cookie);
    w.key(std::string_view(k, static_cast<size_t>(r.ptr - k)));
    w.start_object();
    w.kv_uint("total_sent", d.seen.bytes_sent);
    w.kv_uint("total_recv", d.seen.bytes_recv);
    w.kv_uint("total_retransmits", d.seen.retrans);
    w.kv_uint("total_tcp_established", d.seen.established);
    w.kv_uint("total_tcp_closed", d.seen.closed);
    w.end_object();
}

void ConnectionsStream::encode_conn(const nt_conn& c) {
    bool intra = (c.flags & NT_C_INTRA_HOST) != 0 || closed_eps_.contains(c.daddr, c.dport, c.type);
    const IpTranslation* t = translator_ != nullptr ? translator_->lookup(c) : nullptr;
    if (t != nullptr) {
        intra = nat_intra_host(c, *t, [this](const nt_addr& a, uint16_t port, uint8_t type) {
            return closed_eps_.contains(a, port, type) ||
                   translator_->local_endpoint(a, port, type);
        });
        if (!nat_keep(c, *t, intra, fixed_direction(c, intra, range_))) t = nullptr;
    }
    encoder_.conn(c, intra, t);
}

namespace {
constexpr size_t kPrefetchAhead = 8;  // records
}  // namespace

void ConnectionsStream::encode_records() {
    size_t rec = mode_ == Mode::dump ? sizeof(nt_dump) : sizeof(nt_conn);
    size_t off = 0;
    for (; off + rec <= have_; off += rec) {
        if (mode_ == Mode::dump) {
            nt_dump d;
            std::memcpy(&d, buf_ + off, sizeof d);
            dump_record(d);
        } else {
            // The translation lookup of a record a few ahead is started now (its index line is
            // a cache miss, the most of a lookup's cost), so that it is in cache when encoded.
            if (translator_ != nullptr && off + (kPrefetchAhead + 1) * rec <= have_) {
                nt_conn n;
                std::memcpy(&n, buf_ + off + kPrefetchAhead * rec, sizeof n);
                translator_->prefetch(n);
            }
            nt_conn c;
            std::memcpy(&c, buf_ + off, sizeof c);
            // A client without a kernel slot: the kernel sent the counters since tracking began,
            // the delta is taken against the baselines kept here.
            if (client_->ub && !ClientTable::user_delta(*client_, c)) continue;
            encode_conn(c);
        }
        ++count_;
    }
    // A record cut by the end of a read (the kernel hands out what it buffered, in any size).
    std::memmove(buf_, buf_ + off, have_ - off);
    have_ -= off;
}

bool ConnectionsStream::produce(http::Buffer& out, size_t budget) {
    if (client_ == nullptr) return true;
    if (!started_) {
        started_ = true;
        if (mode_ == Mode::connections) {
            encoder_.begin(enc_, out, pretty_);
        } else {
            dump_json_.reset(out, pretty_);
            dump_json_.start_object();
        }
    }
    size_t start = out.size();
    auto full = [&] { return budget != SIZE_MAX && out.size() - start >= budget; };

    // 1. Closed connections since this client's last poll.
    while (closed_next_ < closed_end_ && !full()) {
        const nt_conn& c = client_->closed[closed_next_++];
        encode_conn(c);
        ++count_;
    }
    if (closed_next_ < closed_end_) return false;

    // 2. Open connections, straight from the kernel.
    size_t chunk = read_size();
    while (!iter_done_) {
        if (full()) return false;
        ssize_t n = ::read(fd_, buf_ + have_, chunk - have_);
        if (n < 0 && errno == EINTR) continue;
        ++reads_;
        if (n < 0) {
            // What was read is served; the rest waits for this client's next poll (a baseline
            // moves only with the record that reports it).
            ++read_errors_;
            LOG_WARN("network_tracer: read of the connection iterator failed: %s",
                     std::strerror(errno));
            iter_done_ = true;
            break;
        }
        if (n == 0) {
            iter_done_ = true;
            break;
        }
        have_ += static_cast<size_t>(n);
        encode_records();
    }

    // 3. The rest of the message.
    if (mode_ == Mode::connections) {
        encoder_.end(owner_.poll_trailer(*client_));
    } else {
        // A client without a kernel slot: its baselines are here, not in the kernel.
        if (client_->ub && !client_->ub->migrating)
            for (const auto& [cookie, e] : client_->ub->map) dump_record(nt_dump{cookie, e.seen});
        dump_json_.end_object();
        out.push_back('\n');
    }
    finish(true);
    return true;
}

void ConnectionsStream::abandoned() { finish(false); }

void ConnectionsStream::finish(bool complete) {
    if (client_ == nullptr) return;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    Client& c = *client_;
    client_ = nullptr;
    owner_.poll_done(c, count_, complete);
}

}  // namespace rp::modules::network_tracer
