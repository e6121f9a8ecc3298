// resolver.cpp — see resolver.h.
#include "modules/netprobe/resolver.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "loop/log.h"

namespace rp::modules::net {

struct Resolver::Job {
    uint64_t id = 0;
    bool reverse = false;
    std::string name;
    int family = AF_UNSPEC;
    IpAddr addr;
    Answer answer;
};

// What the helpers share with the loop. Helpers hold a reference, so it outlives a closed
// resolver until the last helper leaves.
struct Resolver::Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::unique_ptr<Job>> queue;  // waiting for a helper
    std::vector<std::unique_ptr<Job>> done;  // answered, for the loop
    unsigned threads = 0, idle = 0;
    bool closed = false;
    int efd = -1;

    ~Shared() {
        if (efd >= 0) ::close(efd);
    }
};

namespace {

void run_job(Resolver::Answer& a, bool reverse, const std::string& name, int family,
             const IpAddr& addr) {
    if (reverse) {
        sockaddr_storage ss;
        socklen_t len = addr.to_sockaddr(0, ss);
        char host[NI_MAXHOST] = {};
        int rc = ::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                               NI_NAMEREQD);
        if (rc != 0) {
            a.error = "reverse lookup " + addr.to_string() + ": " + ::gai_strerror(rc);
        } else {
            a.name = host;
            if (!a.name.empty() && a.name.back() != '.') a.name += '.';
        }
        return;
    }
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;  // one entry per address (not one per socket type)
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
        a.error = "lookup " + name + ": " +
                  (rc == EAI_SYSTEM ? std::string(std::strerror(errno)) : ::gai_strerror(rc));
        return;
    }
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        auto ip = IpAddr::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
        if (ip && std::find(a.addrs.begin(), a.addrs.end(), *ip) == a.addrs.end())
            a.addrs.push_back(*ip);
    }
    ::freeaddrinfo(res);
    if (a.addrs.empty()) a.error = "lookup " + name + ": no addresses found";
}

}  // namespace

void Resolver::helper(std::shared_ptr<Shared> s) {
    std::unique_lock lock(s->mu);
    for (;;) {
        ++s->idle;
        // An idle helper leaves after kIdleExit: a daemon that resolved a name once is back to
        // one thread a minute later.
        bool work = s->cv.wait_for(lock, kIdleExit, [&] { return s->closed || !s->queue.empty(); });
        --s->idle;
        if (s->closed || !work) break;
        std::unique_ptr<Job> job = std::move(s->queue.front());
        s->queue.pop_front();
        lock.unlock();
        run_job(job->answer, job->reverse, job->name, job->family, job->addr);
        lock.lock();
        if (s->closed) break;
        s->done.push_back(std::move(job));
        uint64_t one = 1;
        [[maybe_unused]] ssize_t w = ::write(s->efd, &one, sizeof one);
    }
    --s->threads;
}

Resolver::Ticket::Ticket(Ticket&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr)), id_(o.id_) {}

Resolver::Ticket& Resolver::Ticket::operator=(Ticket&& o) noexcept {
    if (this != &o) {
        reset();
        owner_ = std::exchange(o.owner_, nullptr);
        id_ = o.id_;
    }
    return *this;
}

void Resolver::Ticket::reset() {
    if (owner_ != nullptr) owner_->cancel(id_);
    owner_ = nullptr;
}

Resolver::Resolver(loop::Reactor& reactor)
    : reactor_(reactor), shared_(std::make_shared<Shared>()) {}

Resolver::~Resolver() {
    watch_.stop();
    {
        std::lock_guard lock(shared_->mu);
        shared_->closed = true;
        shared_->queue.clear();
        shared_->done.clear();
    }
    shared_->cv.notify_all();
}

Resolver::Ticket Resolver::lookup(std::string name, int family, Callback cb, std::string* error) {
    auto job = std::make_unique<Job>();
    job->name = std::move(name);
    job->family = family;
    ++stats_.lookups;
    return submit(std::move(job), std::move(cb), error);
}

Resolver::Ticket Resolver::reverse(const IpAddr& addr, Callback cb, std::string* error) {
    auto job = std::make_unique<Job>();
    job->reverse = true;
    job->addr = addr;
    ++stats_.reverse_lookups;
    return submit(std::move(job), std::move(cb), error);
}

Resolver::Ticket Resolver::submit(std::unique_ptr<Job> job, Callback cb, std::string* error) {
    if (shared_->efd < 0) {
        shared_->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (shared_->efd < 0) {
            if (error) *error = std::string("eventfd: ") + std::strerror(errno);
            ++stats_.failures;
            return {};
        }
    }
    if (!watch_.active() &&
        !watch_.start(reactor_, shared_->efd, POLLIN, [this](int) { on_ready(); })) {
        if (error) *error = "the reactor has no room to watch the resolver";
        ++stats_.failures;
        return {};
    }
    uint64_t id = next_id_++;
    job->id = id;
    bool spawn = false;
    {
        std::lock_guard lock(shared_->mu);
        if (shared_->queue.size() >= kMaxQueued) {
            ++stats_.overflows;
            if (error)
                *error = "too many name lookups waiting (" + std::to_string(kMaxQueued) + ")";
            return {};
        }
        shared_->queue.push_back(std::move(job));
        if (shared_->idle == 0 && shared_->threads < kThreads) {
            ++shared_->threads;
            spawn = true;
        }
    }
    if (spawn) {
        try {
            std::thread(helper, shared_).detach();
        } catch (const std::system_error& e) {
            std::lock_guard lock(shared_->mu);
            --shared_->threads;
            if (shared_->threads == 0) {
                // Nobody would ever take the request: take it back.
                shared_->queue.pop_back();
                if (error) *error = std::string("starting a resolver thread: ") + e.what();
                ++stats_.failures;
                return {};
            }
        }
    }
    shared_->cv.notify_one();
    callbacks_.emplace(id, std::move(cb));
    return Ticket(this, id);
}

void Resolver::cancel(uint64_t id) {
    auto it = callbacks_.find(id);
    if (it == callbacks_.end()) return;
    callbacks_.erase(it);
    ++stats_.cancelled;
    std::lock_guard lock(shared_->mu);
    auto q = std::find_if(shared_->queue.begin(), shared_->queue.end(),
                          [id](const auto& j) { return j->id == id; });
    if (q != shared_->queue.end()) shared_->queue.erase(q);
    // A running or answered one is dropped when the loop reads it (no callback left).
}

void Resolver::on_ready() {
    uint64_t n;
    while (::read(shared_->efd, &n, sizeof n) > 0) {
    }
    std::vector<std::unique_ptr<Job>> done;
    {
        std::lock_guard lock(shared_->mu);
        done.swap(shared_->done);
    }
    for (auto& job : done) {
        if (job->reverse) {
            CachedName entry{job->addr, job->answer, reactor_.now_ms() + kReverseCacheTtlMs};
            auto same = std::find_if(reverse_cache_.begin(), reverse_cache_.end(),
                                     [&](const CachedName& c) { return c.addr == job->addr; });
            if (same != reverse_cache_.end()) {
                *same = std::move(entry);
            } else if (reverse_cache_.size() < kReverseCacheEntries) {
                reverse_cache_.push_back(std::move(entry));
            } else {
                *std::min_element(reverse_cache_.begin(), reverse_cache_.end(),
                                  [](const CachedName& a, const CachedName& b) {
                                      return a.expires_ms < b.expires_ms;
                                  }) = std::move(entry);
            }
        }
        auto it = callbacks_.find(job->id);
        if (it == callbacks_.end()) continue;  // cancelled
        Callback cb = std::move(it->second);
        callbacks_.erase(it);
        if (!job->answer.error.empty()) ++stats_.failures;
        cb(std::move(job->answer));
    }
}

std::optional<Resolver::Answer> Resolver::cached_reverse(const IpAddr& addr) const {
    for (const auto& c : reverse_cache_) {
        if (c.addr == addr && c.expires_ms > reactor_.now_ms()) {
            ++const_cast<Stats&>(stats_).reverse_cache_hits;
            return c.answer;
        }
    }
    return std::nullopt;
}

Resolver::Stats Resolver::stats() const {
    Stats s = stats_;
    s.pending = static_cast<uint32_t>(callbacks_.size());
    std::lock_guard lock(shared_->mu);
    s.threads = shared_->threads;
    return s;
}

}  // namespace rp::modules::net
