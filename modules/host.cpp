// host.cpp — see host.h.
#include "modules/host.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "loop/log.h"

#if RINGPROBE_WITH_BPF
#include "bpf/runtime/bpf_stats.h"
#include "bpf/runtime/runtime.h"
#endif

namespace rp::modules {

struct Host::BpfState {
#if RINGPROBE_WITH_BPF
    std::unique_ptr<bpf::Runtime> runtime;
    bpf::BpfStats stats;  // kernel BPF statistics, on for self cost
#endif
    bool attempted = false;
    std::string error;
    // /debug/stats' "bpf_features", rendered once: they do not change after the runtime's set-up,
    // and rendering them was a quarter of a /debug/stats request's instructions.
    std::string features_json;
};

std::string_view state_name(ModuleState s) {
    switch (s) {
        case ModuleState::disabled:
            return "disabled";
        case ModuleState::running:
            return "running";
        case ModuleState::failed:
            return "failed";
    }
    return "unknown";
}

namespace {
char* put_uint(char* p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do tmp[n++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0) *p++ = tmp[--n];
    return p;
}
// v / unit, then the fraction with its trailing zeros trimmed (Go prints 1.5s, not 1.500000000s).
char* put_frac(char* p, uint64_t v, uint64_t unit) {
    p = put_uint(p, v / unit);
    uint64_t rem = v % unit;
    if (rem == 0) return p;
    *p++ = '.';
    for (uint64_t d = unit / 10; d > 0 && rem != 0; d /= 10) {
        *p++ = static_cast<char>('0' + rem / d);
        rem %= d;
    }
    return p;
}
char* put_str(char* p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}
}  // namespace

size_t format_go_duration(int64_t ns, char* out) {
    char* p = out;
    if (ns == 0) return size_t(put_str(p, "0s") - out);
    if (ns < 0) *p++ = '-';
    uint64_t u = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
    if (u < 1000) {
        p = put_str(put_uint(p, u), "ns");
    } else if (u < 1000000) {
        p = put_str(put_frac(p, u, 1000), "µs");
    } else if (u < 1000000000) {
        p = put_str(put_frac(p, u, 1000000), "ms");
    } else {
        uint64_t total_s = u / 1000000000;
        uint64_t h = total_s / 3600, m = (total_s / 60) % 60;
        uint64_t rem_ns = u - (h * 3600 + m * 60) * 1000000000;
        if (h > 0) p = put_str(put_uint(p, h), "h");
        if (h > 0 || m > 0) p = put_str(put_uint(p, m), "m");
        p = put_str(put_frac(p, rem_ns, 1000000000), "s");
    }
    return size_t(p - out);
}

http::ServerLimits http_limits(const conf::Config& cfg) {
    http::ServerLimits l;
    l.max_header_bytes = static_cast<size_t>(cfg.get_int("ringprobe.http.max_header_bytes"));
    l.max_body_bytes = static_cast<size_t>(cfg.get_int("ringprobe.http.max_body_bytes"));
    l.max_connections = static_cast<size_t>(cfg.get_int("ringprobe.http.max_connections"));
    l.header_timeout_ms = static_cast<uint64_t>(cfg.get_int("ringprobe.http.header_timeout_ms"));
    l.idle_timeout_ms = static_cast<uint64_t>(cfg.get_int("ringprobe.http.idle_timeout_ms"));
    l.write_timeout_ms = static_cast<uint64_t>(cfg.get_int("ringprobe.http.write_timeout_ms"));
    l.max_output_bytes = static_cast<size_t>(cfg.get_int("ringprobe.http.max_output_bytes"));
    return l;
}

std::string go_duration(int64_t ns) {
    char buf[kGoDurationMax];
    return std::string(buf, format_go_duration(ns, buf));
}

// Whether `cfg` enables the module: its Factory::enabled rule, else its enable key.
static bool enabled_by(const Factory& f, const conf::Config& cfg) {
    return f.enabled != nullptr ? f.enabled(cfg) : cfg.get_bool(f.enable_key);
}

Host::Host(loop::Reactor& reactor, const conf::Config& cfg, http::Router& router,
           std::span<const Factory> factories)
    : reactor_(reactor), cfg_(cfg), router_(router), bpf_(std::make_unique<BpfState>()) {
    started_ = last_stats_ = std::chrono::steady_clock::now();
    entries_.reserve(factories.size());
    for (const Factory& f : factories) {
        Entry e;
        e.factory = &f;
        e.enabled = enabled_by(f, cfg);
        entries_.push_back(std::move(e));
    }
}

Host::~Host() {
    close_all();
    loop::CpuAccount::set_enabled(false);
}

void Host::apply_self_cost() {
    self_cost_ = cfg_.get_bool("system_probe_config.self_cost");
    loop::CpuAccount::set_enabled(self_cost_);
#if RINGPROBE_WITH_BPF
    // The kernel's BPF statistics: for self cost, and for the ebpf module's kernel_bpf_stats
    // (which holds its own; the Host's makes ringprobe_module_bpf_cpu_seconds_total real then).
    bool want = self_cost_ || (cfg_.get_bool("ebpf_check.enabled") &&
                               cfg_.get_bool("ebpf_check.kernel_bpf_stats"));
    if (want && !bpf_->stats.on()) {
        if (!bpf_->stats.enable())
            LOG_WARN("self cost: kernel BPF statistics unavailable, BPF CPU time stays 0: %s",
                     bpf_->stats.mode().c_str());
    } else if (!want && bpf_->stats.on()) {
        bpf_->stats.release();
    }
#endif
}

Host::Entry* Host::find(std::string_view name) {
    for (auto& e : entries_)
        if (e.factory->name == name) return &e;
    return nullptr;
}

size_t Host::running_count() const {
    return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) {
        return e.state == ModuleState::running;
    }));
}

std::expected<void, std::string> Host::ensure_bpf_runtime() {
#if RINGPROBE_WITH_BPF
    if (!bpf_->attempted) {
        bpf_->attempted = true;
        // One scan of the kernel BTF answers every enabled module's questions (Factory::btf_names).
        bpf::RuntimeOptions opts;
        opts.btf_path = cfg_.get_string("system_probe_config.btf_path");
        for (const auto& e : entries_) {
            if (!e.enabled || !e.factory->needs_ebpf) continue;
            for (std::string_view n : e.factory->btf_names) opts.btf_names.emplace_back(n);
        }
        auto rt = bpf::Runtime::setup(opts);
        if (rt) {
            bpf_->runtime = std::move(*rt);
        } else {
            bpf_->error = rt.error();
            LOG_ERROR("eBPF runtime set-up failed: %s", bpf_->error.c_str());
        }
    }
    if (!bpf_->runtime) return std::unexpected("eBPF runtime unavailable: " + bpf_->error);
    return {};
#else
    return std::unexpected("this build has no eBPF support (RINGPROBE_WITH_BPF=OFF)");
#endif
}

bool Host::needs_bpf() const {
    for (const auto& e : entries_)
        if (e.enabled && e.factory->needs_ebpf) return true;
    return false;
}

void Host::prepare_bpf() {
    for (const auto& e : entries_) {
        if (e.enabled && e.factory->needs_ebpf) {
            (void)ensure_bpf_runtime();
            return;
        }
    }
}

std::expected<void, std::string> Host::create(Entry& e) {
    const Factory& f = *e.factory;
    Dependencies deps{reactor_, nullptr, &e.cpu};
    if (f.needs_ebpf) {
        if (auto r = ensure_bpf_runtime(); !r) return r;
#if RINGPROBE_WITH_BPF
        deps.bpf = bpf_->runtime.get();
#endif
    }
    auto t0 = std::chrono::steady_clock::now();
    auto m = f.create(cfg_, deps);
    if (!m) return std::unexpected(m.error());
    http::Router& sub = router_.mount(f.name);
    sub.set_cpu_account(&e.cpu);
    if (auto r = (*m)->register_routes(sub); !r) {
        router_.unmount(f.name);
        (*m)->close();
        return std::unexpected(r.error());
    }
    e.module = std::move(*m);
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    e.load_seconds = static_cast<double>(us) / 1e6;
    LOG_INFO("module %.*s started in %.1f ms", static_cast<int>(f.name.size()), f.name.data(),
             static_cast<double>(us) / 1000.0);
    return {};
}

std::expected<void, std::string> Host::start() {
    apply_self_cost();
    size_t enabled = 0;
    for (auto& e : entries_) {
        if (!e.enabled) continue;
        ++enabled;
        if (auto r = create(e); r) {
            e.state = ModuleState::running;
            e.error.clear();
        } else {
            e.state = ModuleState::failed;
            e.error = r.error();
            LOG_ERROR("error creating module %.*s: %s", static_cast<int>(e.factory->name.size()),
                      e.factory->name.data(), e.error.c_str());
        }
    }
    if (running_count() == 0) {
        if (enabled == 0) LOG_ERROR("no module is enabled in the configuration");
        return std::unexpected("no module could be loaded");
    }
    return {};
}

void Host::close(Entry& e) {
    router_.unmount(e.factory->name);
    if (e.module) {
        e.module->close();
        e.module.reset();
    }
}

void Host::close_all() {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
        if (it->state == ModuleState::running) {
            close(*it);
            it->state = ModuleState::disabled;
        }
    }
}

std::expected<void, std::string> Host::restart(std::string_view name) {
    Entry* e = find(name);
    if (e == nullptr || !e->enabled) return std::unexpected("invalid module");
    close(*e);
    auto r = create(*e);
    if (r) {
        e->state = ModuleState::running;
        e->error.clear();
        LOG_INFO("module %.*s restarted", static_cast<int>(name.size()), name.data());
    } else {
        e->state = ModuleState::failed;
        e->error = r.error();
        LOG_ERROR("error restarting module %.*s: %s", static_cast<int>(name.size()), name.data(),
                  e->error.c_str());
    }
    return r;
}

bool Host::changed_for(const Entry& e, const conf::Config& fresh) const {
    auto in_namespace = [&](std::string_view path) {
        for (std::string_view ns : e.factory->config_namespaces)
            if (path == ns ||
                (path.starts_with(ns) && path.size() > ns.size() && path[ns.size()] == '.'))
                return true;
        return false;
    };
    auto is_enable_key = [&](std::string_view path) {
        for (const auto& other : entries_)
            if (other.factory->enable_key == path) return true;
        return false;
    };
    for (const conf::KeySpec& k : conf::schema()) {
        if (!in_namespace(k.path) || is_enable_key(k.path)) continue;
        bool same = true;
        switch (k.type) {
            case conf::Type::boolean:
                same = cfg_.get_bool(k.path) == fresh.get_bool(k.path);
                break;
            case conf::Type::integer:
                same = cfg_.get_int(k.path) == fresh.get_int(k.path);
                break;
            case conf::Type::string:
                same = cfg_.get_string(k.path) == fresh.get_string(k.path);
                break;
            case conf::Type::number:
                same = cfg_.get_number(k.path) == fresh.get_number(k.path);
                break;
            case conf::Type::string_list:
                same = cfg_.get_string_list(k.path) == fresh.get_string_list(k.path);
                break;
        }
        if (!same) return true;
    }
    return false;
}

std::string Host::ReloadResult::summary() const {
    std::string out;
    auto part = [&](std::string_view what, const std::vector<std::string>& names) {
        if (names.empty()) return;
        if (!out.empty()) out += "; ";
        out += what;
        for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? " " : ", ") + names[i];
    };
    part("started", started);
    part("stopped", stopped);
    part("restarted", restarted);
    part("failed", failed);
    return out.empty() ? "modules unchanged" : out;
}

Host::ReloadResult Host::reload(const conf::Config& fresh) {
    enum class Action { keep, start, stop, restart };
    std::vector<Action> plan(entries_.size(), Action::keep);
    for (size_t i = 0; i < entries_.size(); ++i) {
        Entry& e = entries_[i];
        bool now = enabled_by(*e.factory, fresh);
        if (e.enabled && !now)
            plan[i] = Action::stop;
        else if (!e.enabled && now)
            plan[i] = Action::start;
        else if (now && (e.state == ModuleState::failed || changed_for(e, fresh)))
            plan[i] = Action::restart;  // a failed module gets another chance
    }
    cfg_ = fresh;
    apply_self_cost();

    ReloadResult result;
    // Stops first, in reverse order (as close_all()), then starts and restarts in registry order.
    for (size_t j = entries_.size(); j-- > 0;) {
        Entry& e = entries_[j];
        if (plan[j] != Action::stop) continue;
        if (e.state == ModuleState::running) close(e);
        e.enabled = false;
        e.state = ModuleState::disabled;
        e.error.clear();
        result.stopped.emplace_back(e.factory->name);
        LOG_INFO("module %.*s stopped (disabled by the new configuration)",
                 static_cast<int>(e.factory->name.size()), e.factory->name.data());
    }
    for (size_t i = 0; i < entries_.size(); ++i) {
        Entry& e = entries_[i];
        if (plan[i] != Action::start && plan[i] != Action::restart) continue;
        if (e.state == ModuleState::running) close(e);
        e.enabled = true;
        if (auto r = create(e); r) {
            e.state = ModuleState::running;
            e.error.clear();
            (plan[i] == Action::start ? result.started : result.restarted)
                .emplace_back(e.factory->name);
        } else {
            e.state = ModuleState::failed;
            e.error = r.error();
            result.failed.emplace_back(e.factory->name);
            LOG_ERROR("error creating module %.*s: %s", static_cast<int>(e.factory->name.size()),
                      e.factory->name.data(), e.error.c_str());
        }
    }
    return result;
}

void Host::end_streams() {
    for (auto& e : entries_)
        if (e.state == ModuleState::running) e.module->end_streams();
}

void Host::write_bpf_features(http::JsonWriter& w) const {
#if RINGPROBE_WITH_BPF
    if (bpf_->runtime) {
        auto render = [this](http::JsonWriter& out) {
            out.start_object();
            const bpf::Runtime& rt = *bpf_->runtime;
            for (const auto& f : rt.features()) {
                out.key(f.name);
                out.start_object();
                out.kv_bool("available", f.available);
                if (!f.detail.empty()) out.kv("detail", f.detail);
                if (f.id == bpf::FeatureId::btf) {
                    // Which BTF CO-RE uses: "kernel", "system_probe_config.btf_path" or "none".
                    out.kv("source", bpf::btf_source_name(rt.btf_source()));
                    out.kv("path", rt.btf_file());
                }
                out.end_object();
            }
            out.end_object();
        };
        if (w.pretty()) {
            render(w);
            return;
        }
        if (bpf_->features_json.empty()) {
            http::Buffer b;
            http::JsonWriter fw(b);
            render(fw);
            bpf_->features_json.assign(b.view());
        }
        w.raw(bpf_->features_json);
        return;
    }
    if (bpf_->attempted) {
        w.start_object();
        w.kv("Error", bpf_->error);
        w.end_object();
        return;
    }
#endif
    w.null();
}

bool Host::write_btf_loader_info(std::string& out) const {
#if RINGPROBE_WITH_BPF
    if (bpf_->runtime) {
        const bpf::Runtime& rt = *bpf_->runtime;
        const bpf::Feature& btf = rt.feature(bpf::FeatureId::btf);
        const bpf::Feature& kernel = rt.feature(bpf::FeatureId::kernel_btf);
        out = "btfLoader result: " + std::to_string(bpf::btf_loader_result(rt.btf_source())) + "\n";
        out += "source: ";
        out += bpf::btf_source_name(rt.btf_source());
        out += "\npath: " + rt.btf_file() + "\n";
        out += "co-re btf: " + btf.detail + "\n";
        out += "kernel btf: " + std::string(kernel.available ? "yes, " : "no, ") + kernel.detail +
               "\n";
        return true;
    }
    if (bpf_->attempted) {
        out = "eBPF runtime unavailable: " + bpf_->error;
        return false;
    }
    out =
        "btfLoader result: 3\nsource: none\neBPF runtime not set up: no enabled module needs "
        "eBPF\n";
    return true;
#else
    out =
        "btfLoader result: 3\nsource: none\nthis build has no eBPF support "
        "(RINGPROBE_WITH_BPF=OFF)\n";
    return true;
#endif
}

void Host::write_debug_stats(http::JsonWriter& w) {
    auto now = std::chrono::steady_clock::now();
    double delta = std::chrono::duration<double>(now - last_stats_).count();
    last_stats_ = now;
    w.start_object();
    for (auto& e : entries_) {
        if (e.state == ModuleState::running) {
            w.key(e.factory->name);
            e.module->write_stats(w);
        } else if (e.state == ModuleState::failed) {
            w.key(e.factory->name);
            w.start_object();
            w.kv("Error", e.error);
            w.end_object();
        }
    }
    w.kv_int("updated_at", loop::Reactor::unix_now_s());
    w.kv_number("delta_seconds", delta);
    char uptime[kGoDurationMax];  // not a std::string: past 15 characters ("1h0m0.5s" and up) it
                                  // allocates
    w.kv("uptime",
         std::string_view(
             uptime,
             format_go_duration(
                 std::chrono::duration_cast<std::chrono::nanoseconds>(now - started_).count(),
                 uptime)));
    if (extra_stats_) {
        w.key("ringprobe");
        extra_stats_(w);
    }
    w.end_object();
}

void Host::write_modules(http::JsonWriter& w) const {
    w.start_array();
    for (const auto& e : entries_) {
        w.start_object();
        w.kv("name", e.factory->name);
        w.kv_bool("enabled", e.enabled);
        w.kv_bool("needs_ebpf", e.factory->needs_ebpf);
        w.kv("state", state_name(e.state));
        w.key("error");
        if (e.error.empty())
            w.null();
        else
            w.string(e.error);
        w.key("routes");
        w.start_array();
        if (e.state == ModuleState::running) {
            w.string("/" + std::string(e.factory->name) + "/");
            w.string("/modules/" + std::string(e.factory->name) + "/");
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
}

namespace {

constexpr http::MetricFamily kUptime{"ringprobe_uptime_seconds", http::MetricKind::gauge,
                                     "Time since the daemon started.", "seconds"};
constexpr http::MetricFamily kModuleUp{
    "ringprobe_module_up", http::MetricKind::gauge,
    "1 when an enabled module is running, 0 when it failed (the reason is in /debug/stats)."};
constexpr http::MetricFamily kBtfInfo{
    "ringprobe_bpf_btf_info", http::MetricKind::gauge,
    "Always 1 once the eBPF runtime is set up; source names the BTF CO-RE uses (kernel, "
    "system_probe_config.btf_path or none), kernel_btf whether the kernel has its own."};
constexpr http::MetricFamily kModuleLoad{"ringprobe_module_load_seconds", http::MetricKind::gauge,
                                         "Time the module's latest creation took.", "seconds"};
constexpr http::MetricFamily kRequests{"ringprobe_http_requests", http::MetricKind::counter,
                                       "HTTP requests answered, by route and status code."};
constexpr http::MetricFamily kDuration{
    "ringprobe_http_request_duration_seconds", http::MetricKind::histogram,
    "Time from a request's handler call to the end of its answer, by route.", "seconds"};
constexpr http::MetricFamily kProcessCpu{
    "ringprobe_cpu_seconds", http::MetricKind::counter,
    "CPU time the daemon used (getrusage), by mode (user, system).", "seconds"};
constexpr http::MetricFamily kModuleCpu{
    "ringprobe_module_cpu_seconds", http::MetricKind::counter,
    "Daemon CPU time (user + system) spent for the module: its HTTP handlers and stream pieces, "
    "its ring-buffer drains (system_probe_config.self_cost).",
    "seconds"};
constexpr http::MetricFamily kModuleBpfCpu{
    "ringprobe_module_bpf_cpu_seconds", http::MetricKind::counter,
    "CPU time the module's BPF programs took in the kernel (run_time_ns; needs "
    "kernel.bpf_stats_enabled: system_probe_config.self_cost).",
    "seconds"};
constexpr http::MetricFamily kModuleBpfRuns{
    "ringprobe_module_bpf_runs", http::MetricKind::counter,
    "Runs of the module's BPF programs (run_cnt; needs kernel.bpf_stats_enabled)."};
constexpr http::MetricFamily kScrapes{"ringprobe_metrics_scrapes", http::MetricKind::counter,
                                      "/metrics answers, by format (text, openmetrics)."};
constexpr http::MetricFamily kInFlight{
    "ringprobe_http_requests_in_flight", http::MetricKind::gauge,
    "Deferred or streamed answers in progress, by route (limited routes only)."};

}  // namespace

void write_route_metrics(http::MetricsWriter& w, const http::RouteLoad& load,
                         std::string_view route) {
    char code[8];
    for (const auto& [status, n] : load.codes) {
        if (status == 0) break;
        auto end = std::to_chars(code, code + sizeof code, status).ptr;
        w.counter(kRequests,
                  {{"route", route}, {"code", std::string_view(code, size_t(end - code))}}, n);
    }
    if (load.other_codes != 0)
        w.counter(kRequests, {{"route", route}, {"code", "other"}}, load.other_codes);
    if (load.duration.count() != 0) w.histogram(kDuration, {{"route", route}}, load.duration);
    if (load.limit != 0) w.gauge(kInFlight, {{"route", route}}, int64_t{load.in_flight});
}

bool Host::bpf_stats_on() const {
#if RINGPROBE_WITH_BPF
    return bpf_->stats.on();
#else
    return false;
#endif
}

void Host::write_self_cost(http::JsonWriter& w) const {
    w.start_object();
    w.kv_bool("enabled", self_cost_);
#if RINGPROBE_WITH_BPF
    w.kv("bpf_stats", bpf_->stats.mode());
#else
    w.kv("bpf_stats", "off (no eBPF in this build)");
#endif
    loop::ProcessCpu p = loop::process_cpu();
    w.key("process");
    w.start_object();
    w.kv_number("user_seconds", static_cast<double>(p.user_us) / 1e6);
    w.kv_number("system_seconds", static_cast<double>(p.system_us) / 1e6);
    w.end_object();
    w.key("modules");
    w.start_object();
    for (const auto& e : entries_) {
        if (e.state != ModuleState::running) continue;
        w.key(e.factory->name);
        w.start_object();
        w.kv_number("loop_cpu_seconds", static_cast<double>(e.cpu.cpu_ns) / 1e9);
        w.kv_uint("loop_scopes", e.cpu.scopes);
        if (auto runs = e.module->bpf_program_runs(); runs && bpf_stats_on()) {
            w.kv_number("bpf_cpu_seconds", static_cast<double>(runs->run_time_ns) / 1e9);
            w.kv_uint("bpf_runs", runs->run_count);
        }
        w.end_object();
    }
    w.end_object();
    w.end_object();
}

void Host::write_metrics(http::MetricsWriter& w) const {
    auto now = std::chrono::steady_clock::now();
    w.gauge(kUptime, {}, std::chrono::duration<double>(now - started_).count());
    loop::ProcessCpu p = loop::process_cpu();
    w.counter(kProcessCpu, {{"mode", "user"}}, static_cast<double>(p.user_us) / 1e6);
    w.counter(kProcessCpu, {{"mode", "system"}}, static_cast<double>(p.system_us) / 1e6);
    w.counter(kScrapes, {{"format", "text"}}, scrapes_[0]);
    w.counter(kScrapes, {{"format", "openmetrics"}}, scrapes_[1]);
    const bool bpf_stats = bpf_stats_on();
    for (const auto& e : entries_) {
        if (!e.enabled) continue;
        const http::MetricLabel module{"module", e.factory->name};
        w.gauge(kModuleUp, {module}, int64_t{e.state == ModuleState::running});
        if (e.state != ModuleState::running) continue;
        w.gauge(kModuleLoad, {module}, e.load_seconds);
        if (self_cost_) w.counter(kModuleCpu, {module}, static_cast<double>(e.cpu.cpu_ns) / 1e9);
        if (bpf_stats) {
            if (auto runs = e.module->bpf_program_runs()) {
                w.counter(kModuleBpfCpu, {module}, static_cast<double>(runs->run_time_ns) / 1e9);
                w.counter(kModuleBpfRuns, {module}, runs->run_count);
            }
        }
        e.module->write_metrics(w);
    }
    router_.for_each_route([&](std::string_view, const http::RouteLoad& load) {
        write_route_metrics(w, load, load.label);
    });
#if RINGPROBE_WITH_BPF
    if (bpf_->runtime) {
        const bpf::Runtime& rt = *bpf_->runtime;
        w.gauge(kBtfInfo,
                {{"source", bpf::btf_source_name(rt.btf_source())},
                 {"kernel_btf", rt.has(bpf::FeatureId::kernel_btf) ? "true" : "false"}},
                int64_t{1});
    }
#endif
    if (extra_metrics_) extra_metrics_(w);
}

void Host::register_global_routes() {
    router_.handle("GET", "/metrics", [this](const http::Request& req, http::Response& res) {
        http::MetricsFormat format = http::negotiate_metrics(req);
        ++scrapes_[format == http::MetricsFormat::openmetrics ? 1 : 0];
        metrics_.reset();
        write_metrics(metrics_);
        metrics_.finish(
            res.raw_body(format == http::MetricsFormat::openmetrics ? http::kOpenMetricsType
                                                                    : http::kTextMetricsType),
            format);
    });
    router_.handle("GET", "/debug/stats", [this](const http::Request&, http::Response& res) {
        write_debug_stats(res.json());
    });
    // system-probe's /debug/ebpf_btf_loader_info (the Agent's flare reads it): which BTF the eBPF
    // programs were loaded with, as text.
    router_.handle("GET", "/debug/ebpf_btf_loader_info",
                   [this](const http::Request&, http::Response& res) {
                       std::string info;
                       if (!write_btf_loader_info(info)) {
                           res.error(500, info);
                           return;
                       }
                       res.text(info);
                   });
    router_.handle("GET", "/debug/modules", [this](const http::Request&, http::Response& res) {
        write_modules(res.json());
    });
    router_.handle("POST", "/module-restart/{name}",
                   [this](const http::Request& req, http::Response& res) {
                       std::string_view name = req.param("name");
                       Entry* e = find(name);
                       if (e == nullptr || !e->enabled) {
                           res.error(400, "invalid module");
                           return;
                       }
                       auto r = restart(name);
                       if (!r) {
                           res.error(500, r.error());
                           return;
                       }
                       res.set_status(200);
                   });
}

}  // namespace rp::modules
