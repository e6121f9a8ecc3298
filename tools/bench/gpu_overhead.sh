#!/bin/sh
# gpu_overhead.sh — per-call cost of the gpu module's uprobes (and of its openat tracepoints),
# module loaded vs not, measured in the same run.
#
#   tools/bench/gpu_overhead.sh [BUILD_DIR] [REPETITIONS]      (root; BUILD_DIR default: build)
#
# Compiles tools/bench/gpu_overhead.c, the fake CUDA runtime and the mock NVML of tests/bpf/gpu/
# (standalone, cc -O2), then REPETITIONS times (default 5): runs the program with no daemon;
# starts BUILD_DIR/bin/ringprobe with only the gpu module (NVML mocked), runs the program again
# once the daemon traces it (/gpu/debug/traced-programs lists its pid); stops the daemon.
# Alternating keeps slow drifts of a shared machine out of the difference. The summary gives, per
# case, the median over repetitions of the not-loaded and loaded figures and of their paired
# difference (with its min and max), and the ratio loaded / not loaded. A last run with
# kernel.bpf_stats_enabled = 1 gives the BPF programs' own time per run (bpftool prog show): what
# the module's code costs, apart from the kernel's uprobe and tracepoint machinery.
# Environment: GPU_BENCH_CALLS (iterations per timing, default 200000).
# Results and how to read them: docs/modules/gpu.md ("Overhead"), docs/BENCHMARKS.md.
set -eu

build=${1:-build}
reps=${2:-5}
calls=${GPU_BENCH_CALLS:-200000}
bin="$build/bin/ringprobe"
here=$(cd "$(dirname "$0")" && pwd)
gpu_src="$here/../../tests/bpf/gpu"

[ "$(id -u)" = 0 ] || { echo "gpu_overhead.sh: run as root (the daemon loads BPF)" >&2; exit 1; }
[ -x "$bin" ] || { echo "gpu_overhead.sh: no $bin (build the ringprobe target first)" >&2; exit 1; }
command -v curl > /dev/null || { echo "gpu_overhead.sh: needs curl" >&2; exit 1; }

dir=$(mktemp -d /tmp/gpu-bench.XXXXXX)
daemon=""
cleanup() {
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

cc=${CC:-cc}
$cc -O2 -shared -fPIC -o "$dir/libcudart.so.12" "$gpu_src/fake_cudart.c"
$cc -O2 -shared -fPIC -o "$dir/libnvidia-ml.so.1" "$gpu_src/mock_nvml.c"
$cc -O2 -o "$dir/gpu_overhead" "$here/gpu_overhead.c" -ldl

cat > "$dir/ringprobe.toml" <<EOF2
log_level = "info"
[system_probe_config]
sysprobe_socket = "$dir/sysprobe.sock"
debug_port = 0
[gpu_monitoring]
enabled = true
nvml_lib_path = "$dir/libnvidia-ml.so.1"
EOF2

start_daemon() {
    "$bin" --config "$dir/ringprobe.toml" > "$dir/daemon.log" 2>&1 &
    daemon=$!
    i=0
    until grep -q "listening on" "$dir/daemon.log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$daemon" 2>/dev/null; then
            echo "gpu_overhead.sh: the daemon did not start:" >&2
            cat "$dir/daemon.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    grep -q "module gpu started" "$dir/daemon.log" || {
        echo "gpu_overhead.sh: the gpu module did not start:" >&2
        cat "$dir/daemon.log" >&2
        exit 1
    }
}

stop_daemon() {
    kill "$daemon"
    wait "$daemon" 2>/dev/null || true
    daemon=""
}

# Runs the program; with a daemon, lets it go once the daemon traces it.
run_bench() { # label traced(0|1)
    rm -f "$dir/fifo"
    mkfifo "$dir/fifo"
    "$dir/gpu_overhead" "$dir/libcudart.so.12" "$calls" < "$dir/fifo" > "$dir/out" &
    bench=$!
    exec 3> "$dir/fifo"
    i=0
    until grep -q '^ready' "$dir/out" 2>/dev/null; do i=$((i + 1)); [ $i -lt 200 ] || exit 1; sleep 0.05; done
    if [ "$2" = 1 ]; then
        i=0
        until curl -s --unix-socket "$dir/sysprobe.sock" http://x/gpu/debug/traced-programs |
                grep -q "\"PIDs\":\[[0-9,]*\b$bench\b"; do
            i=$((i + 1))
            if [ $i -gt 200 ]; then echo "gpu_overhead.sh: pid $bench never traced" >&2; exit 1; fi
            sleep 0.05
        done
    fi
    printf g >&3
    exec 3>&-
    wait "$bench"
    echo "$1"
    grep -v '^ready' "$dir/out"
}

uname -r
n=1
while [ $n -le "$reps" ]; do
    run_bench "run $n: module not loaded" 0 | tee -a "$dir/results"
    start_daemon
    run_bench "run $n: module loaded" 1 | tee -a "$dir/results"
    stop_daemon
    n=$((n + 1))
done

awk '
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^run [0-9]+: module not loaded/ { state = "off"; run = $2; next }
/^run [0-9]+: module loaded/ { state = "on"; run = $2; next }
/^  [a-z_]+ +[0-9.]+$/ { v[state, $1, run] = $2; cases[$1] = 1; if (!(run in runs)) { runs[run] = 1; nruns++ } }
END {
    printf "summary (ns per call; median over %d repetitions; difference = loaded - not loaded, paired per repetition)\n", nruns
    printf "  %-12s %12s %12s %12s %22s %8s\n", "case", "not loaded", "loaded", "difference", "difference min..max", "ratio"
    nc = split("launch malloc_free stream_sync openat", order, " ")
    for (k = 1; k <= nc; k++) {
        c = order[k]
        if (!(c in cases)) continue
        off = ""; on = ""; d = ""; lo = ""; hi = ""
        for (r in runs) {
            off = off " " v["off", c, r]; on = on " " v["on", c, r]
            x = v["on", c, r] - v["off", c, r]; d = d " " x
            if (lo == "" || x < lo) lo = x; if (hi == "" || x > hi) hi = x
        }
        printf "  %-12s %12.1f %12.1f %+12.1f %10.1f .. %-9.1f %7.1fx\n", c, median(off), median(on), median(d), lo, hi, median(on) / median(off)
    }
}' "$dir/results"

# The BPF programs' own time (the rest of the difference is the kernel's uprobe machinery: the
# breakpoint trap, the out-of-line single step, the return trampoline).
if command -v bpftool > /dev/null 2>&1; then
    old=$(sysctl -n kernel.bpf_stats_enabled)
    sysctl -qw kernel.bpf_stats_enabled=1
    start_daemon
    run_bench "module loaded, BPF program time" 1 > /dev/null
    echo "BPF program time per run (kernel.bpf_stats_enabled, one more loaded run)"
    bpftool prog show | awk '
        /^[0-9]+: / { name = ""; for (i = 1; i <= NF; i++) if ($i == "name") name = $(i + 1)
                      rt = 0; rc = 0
                      for (i = 1; i <= NF; i++) { if ($i == "run_time_ns") rt = $(i + 1); if ($i == "run_cnt") rc = $(i + 1) }
                      if (name ~ /^gpu_/ && rc > 0) printf "  %-20s %8.1f ns  (%d runs)\n", name, rt / rc, rc }'
    stop_daemon
    sysctl -qw kernel.bpf_stats_enabled="$old"
fi
