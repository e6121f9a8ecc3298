// prometheus_test.cpp — a real Prometheus server (Debian's prometheus, started by the test on a
// free loopback port, its data in a temporary directory) scrapes the daemon's debug TCP listener
// every 500 ms and answers a PromQL query, over its HTTP API, for an OOM kill the test caused.
//
// Prometheus asks for OpenMetrics 1.0 first (Accept: application/openmetrics-text; ...), and a
// body its parser rejects makes the target's health "down" with the parse error in
// /api/v1/targets: so this test is also the proof that the OpenMetrics output parses
// (promtool 2.42's `check metrics` lints the text format only). The daemon's own
// ringprobe_metrics_scrapes_total{format="openmetrics"} shows which format was served.
#include <doctest/doctest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"
#include "support/oom_victim.h"

namespace {

using namespace std::chrono_literals;

// Prometheus in the background, stopped (SIGTERM, then SIGKILL) and its directory removed at the
// end.
class PrometheusServer {
  public:
    PrometheusServer(int target_port)
        : dir_(rp::test::make_temp_dir()), port_(rp::test::free_port()) {
        {
            std::ofstream cfg(dir_ + "/prometheus.yml");
            cfg << "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
                   "scrape_configs:\n  - job_name: ringprobe\n    static_configs:\n"
                   "      - targets: ['127.0.0.1:"
                << target_port << "']\n";
        }
        const std::string bin = "/usr/bin/prometheus";
        std::vector<std::string> args = {bin, "--config.file=" + dir_ + "/prometheus.yml",
                                         "--storage.tsdb.path=" + dir_ + "/data",
                                         "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                         "--log.level=warn"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string log = dir_ + "/prometheus.log";
        pid_ = ::fork();
        if (pid_ == 0) {
            FILE* f = std::freopen(log.c_str(), "w", stderr);
            (void)f;
            ::dup2(STDERR_FILENO, STDOUT_FILENO);
            ::execv(bin.c_str(), argv.data());
            ::_exit(127);
        }
    }
    ~PrometheusServer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            for (int i = 0; i < 300 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
                std::this_thread::sleep_for(10ms);
            if (::waitpid(pid_, &status, WNOHANG) == 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
            }
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    // GET on its HTTP API; the body, or "" on failure.
    std::string get(const std::string& path) {
        rp::http::Endpoint ep;
        ep.kind = rp::http::Endpoint::Kind::tcp;
        ep.host = "127.0.0.1";
        ep.port = static_cast<uint16_t>(port_);
        rp::http::Client c(ep, 2000ms);
        auto r = c.get(path);
        return r && r->status == 200 ? r->body : std::string();
    }
    std::string log() const {
        std::ifstream in(dir_ + "/prometheus.log");
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    bool running() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

  private:
    std::string dir_;
    int port_;
    pid_t pid_ = -1;
};

std::string url_encode(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '_' || c == '-' || c == '.')
            out += static_cast<char>(c);
        else
            out += {'%', hex[c >> 4], hex[c & 15]};
    }
    return out;
}

// The value of an instant query's single sample, or nullopt when it has none (yet).
std::optional<double> query_one(PrometheusServer& p, const std::string& promql) {
    std::string body = p.get("/api/v1/query?query=" + url_encode(promql));
    if (body.empty()) return std::nullopt;
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return std::nullopt;
    simdjson::dom::array result;
    if (doc["data"]["result"].get_array().get(result) != simdjson::SUCCESS || result.size() != 1)
        return std::nullopt;
    std::string_view v;
    if ((*result.begin())["value"].at(1).get_string().get(v) != simdjson::SUCCESS)
        return std::nullopt;
    return std::stod(std::string(v));
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(100ms);
    }
    return true;
}

}  // namespace

TEST_CASE(
    "prometheus: a real server scrapes the daemon (OpenMetrics) and answers a PromQL query "
    "for the OOM kill the test caused") {
    rp::test::require_bpf_or_skip();
    rp::test::skip_unless(std::filesystem::exists("/usr/bin/prometheus")
                              ? ""
                              : "no /usr/bin/prometheus (Debian package prometheus; tools/setup)");
    rp::test::MemoryCgroup cg;
    rp::test::skip_unless(cg.error());
    rp::test::DaemonOptions o;
    o.toml = "[system_probe_config]\nenable_oom_kill = true\n";
    rp::test::TestDaemon d(o);
    REQUIRE_MESSAGE(d.ready(), d.log());

    PrometheusServer prom(d.port());
    // The target is up once a scrape parsed.
    bool up = eventually([&] { return query_one(prom, "up{job=\"ringprobe\"}") == 1.0; }, 20000ms);
    REQUIRE_MESSAGE(up, "target not up; /api/v1/targets: " << prom.get("/api/v1/targets")
                                                           << "\nprometheus log:\n"
                                                           << prom.log());

    rp::test::Victim v = rp::test::run_victim(cg);
    REQUIRE_MESSAGE(v.signal == SIGKILL, "the child was not OOM-killed");
    const std::string promql =
        "ringprobe_oom_kill_oom_process_total{trigger_type=\"cgroup\","
        "cgroup=\"" +
        cg.name() + "\"}";
    std::optional<double> kills;
    bool seen = eventually([&] { return (kills = query_one(prom, promql)) == 1.0; }, 10000ms);
    CHECK_MESSAGE(seen, promql << " = " << (kills ? std::to_string(*kills) : "no sample")
                               << "\nprometheus log:\n"
                               << prom.log());

    // Every scrape was served as OpenMetrics, and parsed: no scrape error on the target.
    std::optional<double> om =
        query_one(prom, "ringprobe_metrics_scrapes_total{format=\"openmetrics\"}");
    REQUIRE(om);
    CHECK(*om > 0);
    CHECK(query_one(prom, "ringprobe_metrics_scrapes_total{format=\"text\"}") == 0.0);
    std::string targets = prom.get("/api/v1/targets");
    CHECK_MESSAGE(targets.find("\"health\":\"up\"") != std::string::npos, targets);
    CHECK_MESSAGE(targets.find("\"lastError\":\"\"") != std::string::npos, targets);
    // A histogram, through OpenMetrics, answers a quantile query (once two scrapes of it exist).
    std::optional<double> median;
    CHECK(eventually(
        [&] {
            median = query_one(prom,
                               "histogram_quantile(0.5, rate(ringprobe_http_request_"
                               "duration_seconds_bucket{route=\"/metrics\"}[5s]))");
            return median && *median > 0 && *median < 1;
        },
        10000ms));
}
