#!/usr/bin/env bash
# module_cost.sh — what each module costs the host, on two standard loads (docs/BENCHMARKS.md,
# "Module cost"; the table goes into each module's doc and decides the shipped config).
#
#   tools/bench/module_cost.sh [BUILD_DIR] [PAIRS]     (root; BUILD_DIR default build, PAIRS 20)
#   MODULES=null,gpu tools/bench/module_cost.sh ...    (only those entries of the list below)
#
# Loads:
#   syscall  tools/bench/syscall_load.c: a loop of four real system calls (getppid, clock_gettime
#            through syscall(), a 64-byte pipe write and read) pinned to CPU 1; its figure is its
#            own CPU time per iteration (user + system: the BPF programs that run in its system
#            calls included; time preempted by other work not counted).
#   tcp      iperf3 over loopback, one stream, server on CPU 0 and client on CPU 1, 1 s; its figure
#            is the CPU time both iperf3 processes used per MB moved (iperf3's own
#            cpu_utilization_percent host_total + remote_total, times the duration).
#
# Two measurements per module:
#   A/B      One daemon runs throughout; SIGHUP reloads switch the module on and off (the daemon
#            keeps only the `process` module otherwise, which hooks nothing). Each "on" run is
#            paired with the "off" run right before it: ratio = on / off per pair, and the table
#            gives the median over PAIRS pairs (syscall) or PAIRS/2 pairs (tcp), with the
#            quartiles. The daemon's own CPU time during each run (its threads' sum_exec_runtime,
#            /proc/PID/task/*/schedstat) is added to the load's figure.
#   self     The daemon with system_probe_config.self_cost = true and the module on, each load
#            run once: the module's BPF run time (ringprobe_module_bpf_cpu_seconds_total) and the
#            loop's CPU time for it (ringprobe_module_cpu_seconds_total) over the run, per unit of
#            the load, over the load's figure without the module. It has none of the A/B noise
#            but does not see the kernel's own cost of calling the hook (the tracepoint's
#            dispatch, and for sys_enter/sys_exit the system-call slow path every task takes as
#            soon as one such program is attached).
# On a shared machine other processes' BPF programs may already sit on the same hooks (the
# script lists them): then the A/B figure is the marginal cost of one more program there.
#
# Needs: root (BPF), iperf3 (RINGPROBE_SETUP_BENCH=1 tools/setup), curl, python3, a C compiler.
# KEEP_WORK=1 keeps the raw results in the printed directory; MODULE_COST_ONLY="null x" measures
# only the modules named (by the first field of the list below).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
pairs=${2:-20}
bin="$build/bin/ringprobe"
[ "$(id -u)" = 0 ] || { echo "module_cost.sh: run as root (the daemon loads BPF)" >&2; exit 1; }
[ -x "$bin" ] || { echo "module_cost.sh: no $bin (build the ringprobe target first)" >&2; exit 1; }
for t in iperf3 curl python3; do
    command -v $t >/dev/null || { echo "module_cost.sh: $t missing (RINGPROBE_SETUP_BENCH=1 tools/setup)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/module-cost.XXXXXX)
daemon=""
cleanup() {
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "raw results kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

${CC:-cc} -O2 -o "$work/syscall_load" "$root/tools/bench/syscall_load.c"
sock="$work/sysprobe.sock"

# name|TOML of the module|description
modules=(
    "null||none — null control: the same configuration both times (the noise floor)"
    "oom_kill_probe|[system_probe_config]\nenable_oom_kill = true|oom_kill_probe"
    "tcp_queue_length_tracer|[system_probe_config]\nenable_tcp_queue_length = true|tcp_queue_length_tracer"
    "ebpf|[ebpf_check]\nenabled = true|ebpf"
    "seccomp_tracer|[seccomp_tracer]\nenabled = true|seccomp_tracer (replay mode, the default)"
    "seccomp_signals|[seccomp_tracer]\nenabled = true\n[ringprobe.seccomp_tracer]\nmode = \"signals\"|seccomp_tracer, mode = \"signals\""
    "noisy_neighbor|[noisy_neighbor]\nenabled = true|noisy_neighbor"
    "gpu|[gpu_monitoring]\nenabled = true|gpu (no CUDA process running: its exec, exit and openat tracepoints, its /proc scans; per CUDA call: tools/bench/gpu_overhead.sh)"
    "gpu_scan|[gpu_monitoring]\nenabled = true\n[ringprobe.gpu]\nlibrary_opens = \"scan\"|gpu, library_opens = \"scan\" (no syscall tracepoint)"
    "network_tracer|[network_config]\nenabled = true|network_tracer (nobody polling: the cost of its hooks on the loads)"
    "discovery|[discovery]\nenabled = true|discovery (nobody asking: no hook, no timer)"
)
# MODULES=null,gpu (names of the list above) measures only those.
if [ -n "${MODULES:-}" ]; then
    kept=()
    for entry in "${modules[@]}"; do
        case ",$MODULES," in *",${entry%%|*},"*) kept+=("$entry") ;; esac
    done
    modules=("${kept[@]}")
fi
module_of() {
    case "$1" in seccomp_signals) echo seccomp_tracer ;; gpu_scan) echo gpu ;; *) echo "$1" ;; esac
}

# The config file the daemon reads: process always (so that the daemon runs with the module off),
# plus the module's own lines when `on`.
write_config() {  # toml on|off [self_cost]
    {
        # discovery is on unless turned off: off here unless it is the module measured.
        [[ "$2" = on && "$1" == *"[discovery]"* ]] || echo "discovery.enabled = false"
        echo "[system_probe_config]"
        echo "sysprobe_socket = \"$sock\""
        echo "debug_port = 0"
        [ "${3:-}" = self ] && echo "self_cost = true"
        echo "process_config.enabled = true"
        if [ "$2" = on ]; then
            # The module's TOML may open [system_probe_config] again: merge its keys instead.
            printf '%b\n' "$1" | sed '/^\[system_probe_config\]$/d'
        fi
    } > "$work/ringprobe.toml"
}

reloads=0
start_daemon() {
    "$bin" --config "$work/ringprobe.toml" > "$work/daemon.log" 2>&1 &
    daemon=$!
    reloads=0
    for _ in $(seq 400); do
        grep -q "listening on" "$work/daemon.log" 2>/dev/null && return 0
        kill -0 "$daemon" 2>/dev/null || break
        sleep 0.05
    done
    echo "module_cost.sh: the daemon did not start:" >&2
    cat "$work/daemon.log" >&2
    exit 1
}
reload() {
    kill -HUP "$daemon"
    reloads=$((reloads + 1))
    for _ in $(seq 400); do
        [ "$(grep -c 'SIGHUP: configuration reloaded' "$work/daemon.log")" -ge "$reloads" ] && return 0
        sleep 0.01
    done
    echo "module_cost.sh: reload $reloads not applied:" >&2
    tail -20 "$work/daemon.log" >&2
    exit 1
}
stop_daemon() {
    kill "$daemon"
    wait "$daemon" 2>/dev/null || true
    daemon=""
}
daemon_ns() {
    cat /proc/"$daemon"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}'
}
metric() {  # series → value (0 when absent)
    curl -s --unix-socket "$sock" http://sysprobe/metrics |
        awk -v s="$1" '$1 == s {print $2; found = 1} END {if (!found) print 0}'
}

# syscall load: prints "<ns per iteration incl. the daemon's share> <iterations>"
syscall_iters=200000
run_syscall() {  # rounds
    local d0 d1 out
    d0=$(daemon_ns)
    out=$("$work/syscall_load" "$syscall_iters" "$1" 1)
    d1=$(daemon_ns)
    awk -v line="$out" -v dd=$((d1 - d0)) -v n=$(( ($1 + 1) * syscall_iters )) \
        'BEGIN { split(line, f, " "); printf "%.2f %d\n", f[2] + dd / n, n }'
}
port=$((20000 + RANDOM % 20000))
# tcp load: prints "<CPU ns per MB incl. the daemon's share> <MB> <Mbit/s>"
run_tcp() {  # seconds
    local d0 d1 json server
    iperf3 -s -1 -p "$port" -A 0 > /dev/null 2>&1 &
    server=$!
    for _ in $(seq 100); do ss -ltn | grep -q ":$port " && break; sleep 0.01; done
    d0=$(daemon_ns)
    json=$(iperf3 -c 127.0.0.1 -p "$port" -t "$1" -A 1 -J 2>/dev/null || true)
    d1=$(daemon_ns)
    wait "$server" 2>/dev/null || true
    python3 -c '
import json, sys
end = json.loads(sys.argv[1])["end"]
mb = end["sum_received"]["bytes"] / 1e6
secs = end["sum_received"]["seconds"]
cpu = end["cpu_utilization_percent"]
ns = (cpu["host_total"] + cpu["remote_total"]) / 100 * secs * 1e9 + int(sys.argv[2])
print("%.1f %.1f %.0f" % (ns / mb, mb, end["sum_received"]["bits_per_second"] / 1e6))
' "$json" "$((d1 - d0))"
}

echo "# module_cost: kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $pairs pairs, $(date -u '+%Y-%m-%d %H:%M UTC')"
others=$(bpftool link list 2>/dev/null | grep -oE "tp '[a-z_]+'" | sort | uniq -c | tr -s ' ' | paste -sd, - || true)
echo "# BPF links already attached on this host before the run (other processes): ${others:-none}"

: > "$work/ab" ; : > "$work/self"
measured=()
for entry in "${modules[@]}"; do
    IFS='|' read -r name toml _ <<< "$entry"
    # MODULE_COST_ONLY="null noisy_neighbor": measure only these (the null control included).
    if [ -n "${MODULE_COST_ONLY:-}" ] && [[ " $MODULE_COST_ONLY " != *" $name "* ]]; then continue; fi
    measured+=("$entry")
    echo "# $name: A/B" >&2
    write_config "$toml" off
    start_daemon
    for p in $(seq 1 "$pairs"); do
        write_config "$toml" off; reload
        read -r off _ <<< "$(run_syscall 1)"
        write_config "$toml" on; reload
        read -r on _ <<< "$(run_syscall 1)"
        echo "$name syscall $off $on" >> "$work/ab"
        if [ $((p % 2)) = 0 ]; then
            write_config "$toml" off; reload
            read -r off _ _ <<< "$(run_tcp 1)"
            write_config "$toml" on; reload
            read -r on _ mbps <<< "$(run_tcp 1)"
            echo "$name tcp $off $on" >> "$work/ab"
        fi
    done
    stop_daemon

    [ "$name" = null ] && continue
    echo "# $name: self cost" >&2
    mod=$(module_of "$name")
    write_config "$toml" on self
    start_daemon
    for load in syscall tcp; do
        b0=$(metric "ringprobe_module_bpf_cpu_seconds_total{module=\"$mod\"}")
        r0=$(metric "ringprobe_module_bpf_runs_total{module=\"$mod\"}")
        l0=$(metric "ringprobe_module_cpu_seconds_total{module=\"$mod\"}")
        if [ $load = syscall ]; then read -r fig units <<< "$(run_syscall 7)"; else read -r fig units _ <<< "$(run_tcp 3)"; fi
        b1=$(metric "ringprobe_module_bpf_cpu_seconds_total{module=\"$mod\"}")
        r1=$(metric "ringprobe_module_bpf_runs_total{module=\"$mod\"}")
        l1=$(metric "ringprobe_module_cpu_seconds_total{module=\"$mod\"}")
        echo "$name $load $fig $units $b0 $b1 $r0 $r1 $l0 $l1" >> "$work/self"
    done
    stop_daemon
done

printf '%s\n' "${measured[@]}" > "$work/modules"
python3 "$root/tools/bench/module_cost_table.py" "$work"
