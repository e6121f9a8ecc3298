#!/bin/sh
# seccomp_overhead.sh — per-system-call cost of the seccomp_tracer module, loaded vs not.
#
#   tools/bench/seccomp_overhead.sh [BUILD_DIR] [REPETITIONS]      (root; BUILD_DIR default: build)
#
# Compiles tools/bench/seccomp_overhead.cpp (standalone), then REPETITIONS times (default 5):
# runs it with no daemon, starts BUILD_DIR/bin/ringprobe with only seccomp_tracer enabled, runs it
# again, stops the daemon. Alternating keeps slow drifts of a shared machine out of the difference;
# the summary gives, per case, the median over repetitions of the not-loaded and loaded medians and
# of their paired difference (with its min and max).
# Finally one run with the module loaded and --bpf-stats: the BPF programs' own time per call.
# Environment: SECCOMP_BENCH_ARGS (extra arguments, e.g. "--syscall getpid --calls 500000").
# Results and how to read them: docs/modules/seccomp_tracer.md ("Overhead").
set -eu

build=${1:-build}
reps=${2:-5}
bin="$build/bin/ringprobe"
src=$(dirname "$0")/seccomp_overhead.cpp
args=${SECCOMP_BENCH_ARGS:-}

[ "$(id -u)" = 0 ] || { echo "seccomp_overhead.sh: run as root (the daemon loads BPF)" >&2; exit 1; }
[ -x "$bin" ] || { echo "seccomp_overhead.sh: no $bin (build the ringprobe target first)" >&2; exit 1; }

dir=$(mktemp -d /tmp/seccomp-bench.XXXXXX)
daemon=""
cleanup() {
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

${CXX:-g++} -O2 -std=c++20 -o "$dir/seccomp_overhead" "$src"

cat > "$dir/ringprobe.toml" <<EOF
log_level = "info"
[system_probe_config]
sysprobe_socket = "$dir/sysprobe.sock"
debug_port = 0
[seccomp_tracer]
enabled = true
EOF

start_daemon() {
    "$bin" --config "$dir/ringprobe.toml" > "$dir/daemon.log" 2>&1 &
    daemon=$!
    i=0
    until grep -q "listening on" "$dir/daemon.log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$daemon" 2>/dev/null; then
            echo "seccomp_overhead.sh: the daemon did not start:" >&2
            cat "$dir/daemon.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    grep -q "module seccomp_tracer started" "$dir/daemon.log" || {
        echo "seccomp_overhead.sh: seccomp_tracer did not start:" >&2
        cat "$dir/daemon.log" >&2
        exit 1
    }
}

stop_daemon() {
    kill "$daemon"
    wait "$daemon" 2>/dev/null || true
    daemon=""
}

# Anything else on the raw_syscalls / syscalls tracepoints puts every system call on the slow path
# already, which hides part of what the module costs: say so.
if command -v bpftool > /dev/null 2>&1; then
    others=$(bpftool link list 2>/dev/null | grep -cE "tp '(sys_enter|sys_exit)'|perf_event" || true)
    [ "$others" = 0 ] || echo "note: $others other BPF link(s) on sys_enter/sys_exit or perf events are attached (see bpftool link list): the 'not loaded' baseline may already pay for syscall tracepoints."
fi
uname -r
n=1
while [ $n -le "$reps" ]; do
    # shellcheck disable=SC2086
    "$dir/seccomp_overhead" $args --label "run $n: module not loaded" | tee -a "$dir/results"
    start_daemon
    # shellcheck disable=SC2086
    "$dir/seccomp_overhead" $args --label "run $n: module loaded" | tee -a "$dir/results"
    stop_daemon
    n=$((n + 1))
done

# Summary: lines "  <case>  <median>  [min, max]" under a "run N: module (not )loaded" header.
awk '
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^run [0-9]+: module not loaded/ { state = "off"; run = $2; next }
/^run [0-9]+: module loaded/ { state = "on"; run = $2; next }
/^  [a-z_]+ +[0-9.]+ +\[/ { v[state, $1, run] = $2; cases[$1] = 1; if (!(run in runs)) { runs[run] = 1; nruns++ } }
END {
    printf "summary (ns per call; median over %d repetitions; difference = loaded - not loaded, paired per repetition)\n", nruns
    printf "  %-18s %12s %12s %12s %20s\n", "case", "not loaded", "loaded", "difference", "difference min..max"
    nc = split("unfiltered filtered_allowed filtered_denied", order, " ")
    for (k = 1; k <= nc; k++) {
        c = order[k]
        if (!(c in cases)) continue
        off = ""; on = ""; d = ""; lo = ""; hi = ""
        for (r in runs) {
            off = off " " v["off", c, r]; on = on " " v["on", c, r]
            x = v["on", c, r] - v["off", c, r]; d = d " " x
            if (lo == "" || x < lo) lo = x; if (hi == "" || x > hi) hi = x
        }
        printf "  %-18s %12.1f %12.1f %+12.1f %9.1f .. %-9.1f\n", c, median(off), median(on), median(d), lo, hi
    }
}' "$dir/results"
start_daemon
# shellcheck disable=SC2086
"$dir/seccomp_overhead" $args --bpf-stats --label "module loaded, BPF program time"
stop_daemon
