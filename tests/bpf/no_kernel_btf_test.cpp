// no_kernel_btf_test.cpp — the daemon on a kernel without BTF (root; run only under
// tests/support/without_kernel_btf, which hides /sys/kernel/btf in a private mount namespace and
// names a copy of the kernel's BTF — or a minimized one — in RINGPROBE_TEST_BTF_PATH).
//
// Each eBPF module's real events under these conditions are checked by the module's own tests run
// under the same wrapper (CTest's *_no_kernel_btf tests). This file checks what is specific to
// the mode: which BTF /debug/stats, /debug/ebpf_btf_loader_info and --check-config say was used,
// that every eBPF module runs on raw tracepoints, and that without system_probe_config.btf_path
// each eBPF module fails with a reason that names the missing BTF while the others serve.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>
#include <string_view>

#include "support/bpf_skip.h"
#include "support/btf_mode.h"
#include "support/daemon.h"

namespace {

using rp::test::DaemonOptions;
using rp::test::TestDaemon;

constexpr std::string_view kEbpfModules[] = {"oom_kill_probe", "tcp_queue_length_tracer",
                                             "seccomp_tracer"};

// Every module of the shipped config; `extra` goes into [system_probe_config].
std::string all_modules(std::string_view extra = {}) {
    return "[system_probe_config]\n" + std::string(extra) +
           "enable_oom_kill = true\n"
           "enable_tcp_queue_length = true\n"
           "[system_probe_config.process_config]\n"
           "enabled = true\n"
           "[ebpf_check]\n"
           "enabled = true\n"
           "[seccomp_tracer]\n"
           "enabled = true\n";
}

void require_hidden_btf() {
    rp::test::require_bpf_or_skip();
    rp::test::skip_unless(
        rp::test::without_kernel_btf() ? "" : "runs only under tests/support/without_kernel_btf");
}

std::string get_body(TestDaemon& d, std::string_view path, int want_status = 200) {
    auto c = d.client();
    auto r = c.get(path);
    REQUIRE_MESSAGE(r, std::string(path) << ": " << (r ? "" : r.error()));
    CHECK_MESSAGE(r->status == want_status, std::string(path) << ": " << r->body);
    return r->body;
}

}  // namespace

TEST_CASE("no kernel BTF: with btf_path every eBPF module runs on raw tracepoints, and says so") {
    require_hidden_btf();
    const std::string btf = rp::test::external_btf_path();
    REQUIRE_FALSE(btf.empty());
    // The key from the config file (TestDaemon then adds no DD_SYSTEM_PROBE_BTF_PATH).
    DaemonOptions o;
    o.toml = all_modules("btf_path = \"" + btf + "\"\n");
    TestDaemon d(o);
    REQUIRE(d.ready());

    simdjson::dom::parser p;
    const std::string stats = get_body(d, "/debug/stats");
    simdjson::dom::element root = p.parse(stats);
    simdjson::dom::element features = root["ringprobe"]["bpf_features"];
    CHECK(bool(features["btf"]["available"]));
    CHECK(std::string_view(features["btf"]["source"]) == "system_probe_config.btf_path");
    CHECK(std::string_view(features["btf"]["path"]) == btf);
    CHECK_FALSE(bool(features["kernel_btf"]["available"]));
    CHECK(std::string_view(features["kernel_btf"]["detail"]) == "/sys/kernel/btf/vmlinux missing");
    CHECK_FALSE(bool(features["tp_btf"]["available"]));
    CHECK(bool(features["raw_tracepoint"]["available"]));
    for (std::string_view m : kEbpfModules) {
        simdjson::dom::element s = root[m];
        std::string_view err;
        CHECK_MESSAGE(s["Error"].get(err) != simdjson::SUCCESS, m << ": " << err);
        CHECK_MESSAGE(std::string_view(s["hook_kind"]) == "raw_tp", m);
        for (auto h : simdjson::dom::array(s["hooks"]))
            CHECK_MESSAGE(std::string_view(h).starts_with("raw_tp/"), m << ": " << h);
    }
    std::string_view err;
    CHECK(root["ebpf"]["Error"].get(err) != simdjson::SUCCESS);

    const std::string info = get_body(d, "/debug/ebpf_btf_loader_info");
    CHECK(info.starts_with(
        "btfLoader result: 0\nsource: system_probe_config.btf_path\npath: " + btf + "\n"));
    CHECK(info.find("kernel btf: no, /sys/kernel/btf/vmlinux missing") != std::string::npos);
    CHECK(get_body(d, "/metrics")
              .find("ringprobe_bpf_btf_info{source=\"system_probe_config.btf_path\","
                    "kernel_btf=\"false\"} 1\n") != std::string::npos);

    // --check-config says the same before anything loads.
    auto [rc, out] =
        rp::test::run_command(std::string(RINGPROBE_BIN) + " --check-config --config " + d.dir() +
                              "/ringprobe.toml 2>/dev/null");
    CHECK(rc == 0);
    CHECK(out.find("# BTF:\n#   btfLoader result: 0\n#   source: system_probe_config.btf_path\n") !=
          std::string::npos);
}

TEST_CASE(
    "no kernel BTF: without btf_path each eBPF module names the missing BTF, the rest serves") {
    require_hidden_btf();
    DaemonOptions o;
    o.toml = all_modules();
    o.env["DD_SYSTEM_PROBE_BTF_PATH"] = "";
    TestDaemon d(o);
    REQUIRE(d.ready());

    simdjson::dom::parser p;
    const std::string stats = get_body(d, "/debug/stats");
    simdjson::dom::element root = p.parse(stats);
    for (std::string_view m : kEbpfModules) {
        std::string_view err;
        REQUIRE_MESSAGE(root[m]["Error"].get(err) == simdjson::SUCCESS, m);
        CHECK_MESSAGE(err ==
                          "no BTF for CO-RE (/sys/kernel/btf/vmlinux missing; "
                          "system_probe_config.btf_path is not set (point it at a BTF file of "
                          "this kernel))",
                      m);
        // Its routes are not there.
        get_body(d, "/" + std::string(m) + "/check", 404);
    }
    // ebpf loads no program: it needs no BTF. process never needed any.
    std::string_view err;
    CHECK(root["ebpf"]["Error"].get(err) != simdjson::SUCCESS);
    CHECK(root["process"]["Error"].get(err) != simdjson::SUCCESS);
    CHECK(std::string_view(root["ringprobe"]["bpf_features"]["btf"]["source"]) == "none");
    get_body(d, "/ebpf/check");
    auto c = d.client();
    auto r = c.post("/process/stats", "{\"pids\":[1]}");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.find("\"1\"") != std::string::npos);

    const std::string info = get_body(d, "/debug/ebpf_btf_loader_info");
    CHECK(info.starts_with("btfLoader result: 3\nsource: none\n"));
    CHECK(get_body(d, "/metrics")
              .find("ringprobe_bpf_btf_info{source=\"none\",kernel_btf=\"false\"} 1\n") !=
          std::string::npos);
}

TEST_CASE("no kernel BTF: a btf_path that cannot be read is the reason given") {
    require_hidden_btf();
    DaemonOptions o;
    o.toml = all_modules("btf_path = \"{dir}/missing.btf\"\n");
    TestDaemon d(o);
    REQUIRE(d.ready());
    simdjson::dom::parser p;
    const std::string stats = get_body(d, "/debug/stats");
    simdjson::dom::element root = p.parse(stats);
    std::string_view err;
    REQUIRE(root["oom_kill_probe"]["Error"].get(err) == simdjson::SUCCESS);
    CHECK(err ==
          "no BTF for CO-RE (/sys/kernel/btf/vmlinux missing; system_probe_config.btf_path "
          "unusable: " +
              d.dir() + "/missing.btf: No such file or directory)");
    CHECK(d.log().find("system_probe_config.btf_path unusable: ") != std::string::npos);
}

TEST_CASE("no kernel BTF: the tp_btf-only modules say why they are off; discovery reads /proc") {
    require_hidden_btf();
    const std::string btf = rp::test::external_btf_path();
    REQUIRE_FALSE(btf.empty());
    DaemonOptions o;
    o.toml = all_modules("btf_path = \"" + btf + "\"\n") +
             "[network_config]\nenabled = true\n"
             "[noisy_neighbor]\nenabled = true\n"
             "[gpu_monitoring]\nenabled = true\n"
             "[discovery]\nenabled = true\n";
    TestDaemon d(o);
    REQUIRE(d.ready());
    simdjson::dom::parser p;
    const std::string stats = get_body(d, "/debug/stats");
    simdjson::dom::element root = p.parse(stats);
    for (std::string_view m : {"network_tracer", "noisy_neighbor", "gpu"}) {
        std::string_view err;
        REQUIRE_MESSAGE(root[m]["Error"].get(err) == simdjson::SUCCESS, m << ": " << stats);
        CHECK_MESSAGE(err.find("BTF") != std::string_view::npos, m << ": " << err);
    }
    // The rest serves: the raw_tp modules, process, and discovery from /proc.
    std::string_view err;
    for (std::string_view m : {"oom_kill_probe", "process", "discovery"})
        CHECK_MESSAGE(root[m]["Error"].get(err) != simdjson::SUCCESS, m << ": " << err);
    std::string_view source;
    REQUIRE(root["discovery"]["open_files_source"].get(source) == simdjson::SUCCESS);
    CHECK_MESSAGE(source.starts_with("procfs ("), source);
}
