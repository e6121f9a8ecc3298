// compliance_module.cpp — the `compliance` module: GET /compliance/dbconfig?pid=N → the
// configuration of that PostgreSQL, MongoDB or Cassandra server as the Agent's
// dbconfig.DBResource JSON (modules/compliance/db_config.h), for the CIS database benchmarks the
// security-agent runs.
//
// Answers as system-probe's compliance module: any method; concurrency limit 2; 200 with
// Content-Type application/json; 400 text/plain "pid query parameter is not an integer: <Go's
// strconv error>"; 404 text/plain "resource not found for pid=N" (no such process, not a database
// server, or its configuration unreadable). Stats: {"performed_checks": n} plus ringprobe's own
// counters. Rules and deviations: docs/modules/compliance.md.
//
// Enabled by compliance_config.database_benchmarks.enabled, or compliance_config.enabled together
// with compliance_config.run_in_system_probe, or the legacy runtime_security_config's
// compliance_module.enabled (system-probe's config.go).
//
// Files are read synchronously on the loop, bounded per request (modules/compliance/proc_root.h,
// ReadBudget: 1 MiB per file, 256 files, 32 MiB in all).
#include <cstdint>
#include <optional>
#include <string>

#include "loop/log.h"
#include "modules/compliance/db_config.h"
#include "modules/kit/config.h"
#include "modules/module.h"

namespace rp::modules {
namespace {

constexpr std::string_view kModuleName = "compliance";
constexpr std::string_view kNamespaces[] = {"compliance_config"};
constexpr uint32_t kMaxInFlight = 2;  // utils.DefaultMaxConcurrentRequests

// strconv.Quote of `s` (ASCII printable kept, the usual escapes, other bytes as \xNN; valid
// UTF-8 sequences kept).
std::string go_quote(std::string_view s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"':
                out += "\\\"";
                continue;
            case '\\':
                out += "\\\\";
                continue;
            case '\a':
                out += "\\a";
                continue;
            case '\b':
                out += "\\b";
                continue;
            case '\f':
                out += "\\f";
                continue;
            case '\n':
                out += "\\n";
                continue;
            case '\r':
                out += "\\r";
                continue;
            case '\t':
                out += "\\t";
                continue;
            case '\v':
                out += "\\v";
                continue;
            default:
                break;
        }
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
            continue;
        }
        size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
        bool valid = n > 0 && c < 0xf5 && i + n <= s.size();
        for (size_t k = 1; valid && k < n; ++k)
            valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        if (valid) {
            out.append(s.substr(i, n));
            i += n - 1;
            continue;
        }
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    return out + "\"";
}

// strconv.ParseInt(s, 10, 32): the value, or the error text Go gives.
std::optional<int32_t> parse_int32(std::string_view s0, std::string* err) {
    std::string_view s = s0;
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    auto fail = [&](const char* why) -> std::optional<int32_t> {
        *err = "strconv.ParseInt: parsing " + go_quote(s0) + ": " + why;
        return std::nullopt;
    };
    if (s.empty()) return fail("invalid syntax");
    uint64_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return fail("invalid syntax");
        n = n * 10 + static_cast<uint64_t>(c - '0');
        if (n > 0xffffffffull) return fail("value out of range");  // ParseUint's 32-bit cutoff
    }
    if ((!neg && n > 0x7fffffffull) || (neg && n > 0x80000000ull))
        return fail("value out of range");
    return static_cast<int32_t>(neg ? -static_cast<int64_t>(n) : static_cast<int64_t>(n));
}

// url.Values.Get: percent-decoded, '+' as space; a malformed escape drops the pair ("").
std::string query_value(const http::Request& req, std::string_view name) {
    auto raw = req.query_param(name);
    if (!raw) return {};
    std::string out;
    for (size_t i = 0; i < raw->size(); ++i) {
        char c = (*raw)[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            auto hex = [](char h) -> int {
                if (h >= '0' && h <= '9') return h - '0';
                if (h >= 'a' && h <= 'f') return h - 'a' + 10;
                if (h >= 'A' && h <= 'F') return h - 'A' + 10;
                return -1;
            };
            int hi = i + 1 < raw->size() ? hex((*raw)[i + 1]) : -1;
            int lo = i + 2 < raw->size() ? hex((*raw)[i + 2]) : -1;
            if (hi < 0 || lo < 0) return {};
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

class ComplianceModule final : public Module {
  public:
    static CreateResult create(const conf::Config& cfg, Dependencies& deps) {
        return std::unique_ptr<Module>(new ComplianceModule());
    }

    std::expected<void, std::string> register_routes(http::Router& r) override {
        r.handle(
            "", "/dbconfig",
            [this](const http::Request& req, http::Response& res) { dbconfig(req, res); },
            http::RouteOptions{.max_in_flight = kMaxInFlight});
        return {};
    }

    void write_stats(http::JsonWriter& w) const override {
        w.start_object();
        w.kv_uint("performed_checks", performed_checks_);
        w.kv_uint("found", found_);
        w.kv_uint("not_found", not_found_);
        w.kv_uint("bad_requests", bad_requests_);
        w.kv_uint("files_read", files_read_);
        w.kv_uint("files_truncated", files_truncated_);
        w.kv_uint("read_budget_exceeded", budget_exceeded_);
        w.end_object();
    }

    void write_metrics(http::MetricsWriter& w) const override {
        static constexpr http::MetricFamily kChecks{
            "ringprobe_compliance_dbconfig_checks", http::MetricKind::counter,
            "GET /compliance/dbconfig requests, by outcome."};
        static constexpr http::MetricFamily kFiles{
            "ringprobe_compliance_files_read", http::MetricKind::counter,
            "Configuration files read under a process's root by the compliance module."};
        static constexpr http::MetricFamily kLimits{
            "ringprobe_compliance_read_limits_hit", http::MetricKind::counter,
            "Reads cut by a limit: a file over 1 MiB (truncated) or a request over its budget."};
        w.counter(kChecks, {{"outcome", "found"}}, found_);
        w.counter(kChecks, {{"outcome", "not_found"}}, not_found_);
        w.counter(kChecks, {{"outcome", "bad_request"}}, bad_requests_);
        w.counter(kFiles, {}, files_read_);
        w.counter(kLimits, {{"limit", "file_bytes"}}, files_truncated_);
        w.counter(kLimits, {{"limit", "request_budget"}}, budget_exceeded_);
    }

    void close() override {}

  private:
    void dbconfig(const http::Request& req, http::Response& res) {
        ++performed_checks_;
        std::string err;
        auto pid = parse_int32(query_value(req, "pid"), &err);
        if (!pid) {
            ++bad_requests_;
            LOG_WARN("compliance: failed to properly handle %.*s request: %s",
                     static_cast<int>(req.path.size()), req.path.data(), err.c_str());
            res.set_status(400);
            body_ = "pid query parameter is not an integer: " + err;
            res.text(body_, "text/plain");
            return;
        }
        compliance::LoadStats stats;
        auto resource = compliance::load_db_resource(*pid, stats);
        files_read_ += stats.files_read;
        files_truncated_ += stats.truncated;
        budget_exceeded_ += stats.budget_exceeded ? 1 : 0;
        if (!resource) {
            ++not_found_;
            res.set_status(404);
            body_ = "resource not found for pid=" + std::to_string(*pid);
            res.text(body_, "text/plain");
            return;
        }
        ++found_;
        compliance::write_db_resource(res.json(), *resource);
    }

    std::string body_;  // the error text (res.text copies it; kept to reuse its storage)
    uint64_t performed_checks_ = 0;
    uint64_t found_ = 0, not_found_ = 0, bad_requests_ = 0;
    uint64_t files_read_ = 0, files_truncated_ = 0, budget_exceeded_ = 0;
};

// system-probe's config.go: (compliance_config.enabled && run_in_system_probe) ||
// database_benchmarks.enabled || (runtime_security_config.enabled && its
// compliance_module.enabled).
bool compliance_enabled(const conf::Config& cfg) {
    auto on = [&](std::string_view key) { return kit::config_bool(cfg, key, false); };
    return (on("compliance_config.enabled") && on("compliance_config.run_in_system_probe")) ||
           on("compliance_config.database_benchmarks.enabled") ||
           (on("runtime_security_config.enabled") &&
            on("runtime_security_config.compliance_module.enabled"));
}

}  // namespace

// Listed in modules/registry.cpp.
extern const Factory compliance_factory;
constinit const Factory compliance_factory{
    .name = kModuleName,
    .config_namespaces = kNamespaces,
    .enable_key = "compliance_config.database_benchmarks.enabled",
    .create = ComplianceModule::create,
    .needs_ebpf = false,
    .enabled = compliance_enabled,
};

}  // namespace rp::modules
