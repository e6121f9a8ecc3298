// main_test.go — the suite's set-up: one real daemon for all tests, started before them and
// stopped (SIGTERM, exit status 0 required) after them.
//
// Environment (CTest sets it, tests/agent/CMakeLists.txt):
//
//	RINGPROBE_BIN             the daemon
//	RINGPROBE_AGENT_TRIGGERS  the helper that causes kernel events (triggers/triggers.c)
//	RINGPROBE_AGENT_BPF       1 when the daemon was built with its eBPF modules, 0 when not
//	RINGPROBE_AGENT_GPU_DIR   eBPF builds: tests/gpu of the build (tests/bpf/gpu/programs.cmake)
//	RINGPROBE_REQUIRE_BPF     1 (CI) turns a skip for missing prerequisites into a failure
//
// Skips exit with 77, which CTest reports as skipped (SKIP_RETURN_CODE).
package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// suiteEnv is what TestMain set up for the tests.
type suiteEnv struct {
	bin, triggers string
	gpuDir        string // the gpu module's fake CUDA runtime, sample and mock NVML
	bpf           bool
	daemon        *Daemon
	agent         *CheckClient   // the Agent's (core and system-probe checks)
	process       *ProcessClient // the process-agent's
	modules       []string       // modules the config enables
}

var suite suiteEnv

// The config: every module this build implements, no TCP debug listener.
const configBPF = `log_level = "info"
[system_probe_config]
sysprobe_socket = "{dir}/sysprobe.sock"
debug_port = 0
enable_oom_kill = true
enable_tcp_queue_length = true
# network_tracer: DNS stats for the suite's DNS server on a loopback address
collect_local_dns = true

[system_probe_config.process_config]
enabled = true

[system_probe_config.language_detection]
enabled = true

[ebpf_check]
enabled = true

[seccomp_tracer]
enabled = true

[noisy_neighbor]
enabled = true

[compliance_config.database_benchmarks]
enabled = true

[gpu_monitoring]
enabled = true
nvml_lib_path = "{gpu_dir}/libnvidia-ml.so.1"
process_scan_interval_seconds = 0

[network_config]
enabled = true

# network namespaces made by a test are found within 200 ms (nat_test.go)
[ringprobe.network_tracer]
conntrack_rescan_ms = 200
`

// Without eBPF only the modules without BPF programs exist.
const configNoBPF = `log_level = "info"
[system_probe_config]
sysprobe_socket = "{dir}/sysprobe.sock"
debug_port = 0

[system_probe_config.process_config]
enabled = true

[system_probe_config.language_detection]
enabled = true

[compliance_config.database_benchmarks]
enabled = true
`

var (
	// discovery is on by default (no key in the configs above), as in the Agent.
	modulesBPF = []string{"ebpf", "network_tracer", "tcp_queue_length_tracer", "oom_kill_probe", "process",
		"language_detection", "seccomp_tracer", "noisy_neighbor", "compliance", "gpu", "discovery"}
	modulesNoBPF = []string{"process", "language_detection", "compliance", "discovery"}
)

// ping and traceroute open raw sockets (CAP_NET_RAW): in every build, when the suite runs as root.
const configNet = `
[ping]
enabled = true

[traceroute]
enabled = true
`

var modulesNet = []string{"ping", "traceroute"}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	runFakeIfAsked()
	suite.bin = os.Getenv("RINGPROBE_BIN")
	suite.triggers = os.Getenv("RINGPROBE_AGENT_TRIGGERS")
	suite.bpf = os.Getenv("RINGPROBE_AGENT_BPF") != "0"
	suite.gpuDir = os.Getenv("RINGPROBE_AGENT_GPU_DIR")
	if suite.bpf {
		if st, err := os.Stat(filepath.Join(suite.gpuDir, "libnvidia-ml.so.1")); err != nil || st.IsDir() {
			fmt.Fprintf(os.Stderr, "FAIL: RINGPROBE_AGENT_GPU_DIR must name the build's tests/gpu "+
				"(got %q); run the suite through ctest (tests/agent/README.md)\n", suite.gpuDir)
			return 1
		}
	}
	for name, path := range map[string]string{"RINGPROBE_BIN": suite.bin,
		"RINGPROBE_AGENT_TRIGGERS": suite.triggers} {
		if st, err := os.Stat(path); path == "" || err != nil || st.IsDir() {
			fmt.Fprintf(os.Stderr, "FAIL: %s must name an executable (got %q); run the suite "+
				"through ctest (tests/agent/README.md)\n", name, path)
			return 1
		}
	}
	if reason := missingPrerequisite(); reason != "" {
		return skip(reason)
	}

	config, modules := configNoBPF, modulesNoBPF
	if suite.bpf {
		config, modules = strings.ReplaceAll(configBPF, "{gpu_dir}", suite.gpuDir), modulesBPF
	}
	if os.Geteuid() == 0 {
		config += configNet
		modules = append(append([]string(nil), modules...), modulesNet...)
	}
	suite.modules = modules
	// An ASan daemon loading five BPF modules takes a few seconds on a busy 2-CPU machine.
	d, err := StartDaemon(suite.bin, config, 30*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	suite.daemon = d
	suite.agent = NewCheckClient(d.Socket)
	suite.process = NewProcessClient(d.Socket)

	code := m.Run()

	suite.agent.Close()
	suite.process.Close()
	exit, err := d.Stop(10 * time.Second)
	if err != nil || exit != 0 {
		fmt.Fprintf(os.Stderr, "FAIL: daemon stop: exit status %d, %v; its log:\n%s\n", exit, err,
			d.Log())
		code = 1
	} else if code != 0 {
		fmt.Fprintf(os.Stderr, "--- daemon log (%s):\n%s\n", d.LogPath, d.Log())
	}
	d.Remove()
	return code
}

// missingPrerequisite says why the suite cannot run here, or "".
func missingPrerequisite() string {
	if !suite.bpf {
		return "" // the process module needs neither root nor BPF
	}
	if os.Geteuid() != 0 {
		return "needs root (the daemon loads BPF programs; the triggers make memory cgroups)"
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return "kernel has no BTF (/sys/kernel/btf/vmlinux missing)"
	}
	if _, err := os.Stat(memcgRoot + "/memory.limit_in_bytes"); err != nil {
		return "no cgroup v1 memory controller at " + memcgRoot + " (needed for the OOM kill)"
	}
	return ""
}

// skip ends the suite as skipped (77), or as failed when RINGPROBE_REQUIRE_BPF=1.
func skip(reason string) int {
	if os.Getenv("RINGPROBE_REQUIRE_BPF") == "1" {
		fmt.Fprintf(os.Stderr, "FAIL: RINGPROBE_REQUIRE_BPF=1 but the Agent conformance suite "+
			"cannot run: %s\n", reason)
		return 1
	}
	fmt.Fprintf(os.Stderr, "SKIP: %s\n", reason)
	return 77
}

// requireBPF skips a test in a build without eBPF modules (their routes do not exist there).
func requireBPF(t *testing.T) {
	t.Helper()
	if !suite.bpf {
		t.Skip("this build has no eBPF modules (RINGPROBE_WITH_BPF=OFF): only /debug/stats and " +
			"/process/stats exist")
	}
}

// cgroupName is a unique cgroup name for one trigger of this run.
func cgroupName(kind string) string {
	return fmt.Sprintf("rp-agent-%d-%s", os.Getpid(), strings.ToLower(kind))
}
