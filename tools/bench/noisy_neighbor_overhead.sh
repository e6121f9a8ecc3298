#!/bin/sh
# noisy_neighbor_overhead.sh — what the noisy_neighbor module costs the host: two context-switch
# heavy loads timed with the module loaded and not, alternating, in the same run.
#
#   tools/bench/noisy_neighbor_overhead.sh [BUILD_DIR] [REPETITIONS]   (root; BUILD_DIR: build)
#
# Loads:
#   pipe_pingpong   two processes pinned to one CPU (CPU 1, or 0 on a 1-CPU host) pass a byte
#                   over two pipes: every round trip is two context switches and two wakeups, the
#                   worst case for a probe on sched_switch/sched_wakeup (tools/bench/pipe_pingpong.c,
#                   100,000 round trips per round, median of 5 rounds)
#   perf_messaging  `perf bench sched messaging -g 5 -l 500` (Debian's linux-perf: 200 processes
#                   in 5 groups exchanging messages over sockets on all CPUs; "Total time")
# Each repetition runs both loads without the daemon and with BUILD_DIR/bin/ringprobe running only
# noisy_neighbor, the order flipped every other repetition so that a slow drift of the shared
# machine does not favour one side. The summary gives the median over repetitions of each side and
# of the paired ratio loaded / not loaded. By default the loads run SCHED_FIFO (chrt -f 50) to keep
# other work of a shared machine off their CPU; NN_BENCH_RT=0 runs them at normal priority.
# Finally one loaded run with kernel.bpf_stats_enabled=1 gives the BPF programs' own time per run
# (the statistics add their own cost: that run's timings are not the ones to compare).
# Results: docs/modules/noisy_neighbor.md ("Overhead") and docs/BENCHMARKS.md.
set -eu

build=${1:-build}
reps=${2:-7}
bin="$build/bin/ringprobe"
src=$(dirname "$0")/pipe_pingpong.c
rt=${NN_BENCH_RT:-1}

[ "$(id -u)" = 0 ] || { echo "noisy_neighbor_overhead.sh: run as root (the daemon loads BPF)" >&2; exit 1; }
[ -x "$bin" ] || { echo "noisy_neighbor_overhead.sh: no $bin (build the ringprobe target first)" >&2; exit 1; }

cpu=1
[ "$(nproc)" -gt 1 ] || cpu=0
prio=""
[ "$rt" = 1 ] && command -v chrt > /dev/null 2>&1 && prio="chrt -f 50"
have_perf=0
perf bench sched messaging -g 1 -l 1 > /dev/null 2>&1 && have_perf=1
[ $have_perf = 1 ] || echo "note: no working 'perf bench' (Debian linux-perf): perf_messaging is skipped"

dir=$(mktemp -d /tmp/nn-bench.XXXXXX)
daemon=""
stats_before=""
cleanup() {
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    [ -n "$stats_before" ] && sysctl -qw kernel.bpf_stats_enabled="$stats_before" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

${CC:-cc} -O2 -o "$dir/pipe_pingpong" "$src"

cat > "$dir/ringprobe.toml" <<EOT
log_level = "info"
[system_probe_config]
sysprobe_socket = "$dir/sysprobe.sock"
debug_port = 0
[noisy_neighbor]
enabled = true
EOT

start_daemon() {
    "$bin" --config "$dir/ringprobe.toml" > "$dir/daemon.log" 2>&1 &
    daemon=$!
    i=0
    until grep -q "listening on" "$dir/daemon.log" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$daemon" 2>/dev/null; then
            echo "noisy_neighbor_overhead.sh: the daemon did not start:" >&2
            cat "$dir/daemon.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    grep -q "module noisy_neighbor started" "$dir/daemon.log" || {
        echo "noisy_neighbor_overhead.sh: noisy_neighbor did not start:" >&2
        cat "$dir/daemon.log" >&2
        exit 1
    }
}

stop_daemon() {
    kill "$daemon"
    wait "$daemon" 2>/dev/null || true
    daemon=""
}

# One measurement of each load: lines "<side> <load> <value>" into results.
measure() {
    side=$1
    # shellcheck disable=SC2086
    v=$($prio "$dir/pipe_pingpong" --trips 100000 --rounds 5 --cpu $cpu | awk '{print $2}')
    echo "$side pipe_pingpong $v" | tee -a "$dir/results"
    if [ $have_perf = 1 ]; then
        # shellcheck disable=SC2086
        v=$($prio perf bench sched messaging -g 5 -l 500 2>/dev/null | awk '/Total time/ {print $3}')
        echo "$side perf_messaging $v" | tee -a "$dir/results"
    fi
}

uname -r
echo "CPU for pipe_pingpong: $cpu; priority: ${prio:-normal}; repetitions: $reps"
n=1
while [ $n -le "$reps" ]; do
    echo "repetition $n"
    if [ $((n % 2)) = 1 ]; then
        measure off; start_daemon; measure on; stop_daemon
    else
        start_daemon; measure on; stop_daemon; measure off
    fi
    n=$((n + 1))
done

awk -v reps="$reps" '
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $2; if ($1 == "off") { off[k] = off[k] " " $3; last_off[k] = $3; no[k]++ } else { on[k] = on[k] " " $3; no2[k]++ }
  vals[$1, k, ($1 == "off" ? no[k] : no2[k])] = $3; loads[k] = 1 }
END {
    printf "summary (median over %d repetitions; ratio = loaded / not loaded, paired per repetition)\n", reps
    printf "  %-16s %14s %14s %10s %18s\n", "load", "not loaded", "loaded", "ratio", "ratio min..max"
    split("pipe_pingpong perf_messaging", order, " ")
    units["pipe_pingpong"] = "ns/trip"; units["perf_messaging"] = "s"
    for (o = 1; o <= 2; o++) {
        k = order[o]; if (!(k in loads)) continue
        r = ""; lo = ""; hi = ""
        for (i = 1; i <= no[k]; i++) {
            x = vals["on", k, i] / vals["off", k, i]; r = r " " x
            if (lo == "" || x < lo) lo = x; if (hi == "" || x > hi) hi = x
        }
        printf "  %-16s %11.4g %-2s %11.4g %-2s %9.4f %8.4f .. %-8.4f\n", k, median(off[k]), units[k] == "s" ? "s" : "ns", median(on[k]), units[k] == "s" ? "s" : "ns", median(r), lo, hi
    }
}' "$dir/results"

# The programs' own cost, from the kernel's BPF statistics.
stats_before=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo "")
if [ -n "$stats_before" ] && sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null; then
    start_daemon
    # shellcheck disable=SC2086
    $prio "$dir/pipe_pingpong" --trips 100000 --rounds 3 --cpu $cpu > /dev/null
    echo "BPF program time (kernel.bpf_stats_enabled, one pipe_pingpong run plus the host's own activity):"
    # The daemon's own programs: the prog ids of its fds.
    for id in $(cat /proc/"$daemon"/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:[[:space:]]*//p' | sort -un); do
        line=$(bpftool prog show id "$id" 2>/dev/null | head -1 || true)
        p=$(echo "$line" | sed -n 's/.* name \([^ ]*\) .*/\1/p')
        t=$(echo "$line" | sed -n 's/.*run_time_ns \([0-9]*\).*/\1/p')
        c=$(echo "$line" | sed -n 's/.*run_cnt \([0-9]*\).*/\1/p')
        [ -n "$t" ] && [ -n "$c" ] && [ "$c" -gt 0 ] &&
            awk -v p="$p" -v t="$t" -v c="$c" 'BEGIN { printf "  %-16s %10d runs %8.1f ns per run\n", p, c, t / c }'
    done
    stop_daemon
    sysctl -qw kernel.bpf_stats_enabled="$stats_before"
    stats_before=""
fi
