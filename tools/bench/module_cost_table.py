#!/usr/bin/env python3
"""module_cost_table.py WORK_DIR — the table of tools/bench/module_cost.sh from its raw results
(WORK_DIR/ab, WORK_DIR/self, WORK_DIR/modules; module_cost.sh KEEP_WORK=1 keeps them).

A/B cells: median of the paired overheads (on / off - 1) and their quartiles.
Self cells: the module's BPF run time and loop CPU time per unit of the load over the load's
figure without them. The kernel's BPF statistics add their own cost to every run they time (two
clock reads); the "net" figure subtracts a per-run floor measured in the same session: the
average run time of seccomp_tracer's sys_exit program on the syscall loop, whose calls are all
unfiltered (the program then reads one field, compares and returns: the run time is almost all
floor). Without a seccomp_tracer self run the net column is omitted."""
import statistics
import sys

work = sys.argv[1]
ab = [l.split() for l in open(work + "/ab") if l.strip()]
self_rows = [l.split() for l in open(work + "/self") if l.strip()]
entries = [e.rstrip("\n").split("|") for e in open(work + "/modules") if e.strip()]


def quartiles(xs):
    xs = sorted(xs)
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4)
    return q[0], statistics.median(xs), q[2]


def self_row(name, load):
    rows = [r for r in self_rows if r[0] == name and r[1] == load]
    if not rows:
        return None
    r = rows[0]
    return {
        "fig": float(r[2]), "units": float(r[3]),
        "bpf_ns": (float(r[5]) - float(r[4])) * 1e9,
        "runs": float(r[7]) - float(r[6]),
        "loop_ns": (float(r[9]) - float(r[8])) * 1e9,
    }


floor = None
cal = self_row("seccomp_tracer", "syscall")
if cal and cal["runs"] > 0:
    floor = cal["bpf_ns"] / cal["runs"]


def ab_cell(name, load):
    rows = [r for r in ab if r[0] == name and r[1] == load]
    if not rows:
        return "n/a"
    ratios = [100 * (float(r[3]) / float(r[2]) - 1) for r in rows]
    q1, med, q3 = quartiles(ratios)
    off = statistics.median(float(r[2]) for r in rows)
    on = statistics.median(float(r[3]) for r in rows)
    return "%.0f → %.0f: %+.1f %% (%+.1f .. %+.1f; %d pairs)" % (off, on, med, q1, q3, len(rows))


def self_cell(name, load):
    s = self_row(name, load)
    if s is None:
        return "n/a"
    unit = "iteration" if load == "syscall" else "MB"
    per = (s["bpf_ns"] + s["loop_ns"]) / s["units"]
    base = s["fig"] - per  # the load's figure includes the module's own cost
    text = "%.0f ns/%s (%.2f BPF runs, loop %.1f ns): **%.2f %%**" % (
        per, unit, s["runs"] / s["units"], s["loop_ns"] / s["units"], 100 * per / base)
    if floor is not None:
        net = max(0.0, (s["bpf_ns"] - floor * s["runs"] + s["loop_ns"]) / s["units"])
        text += "; net of the statistics: **%.2f %%**" % (100 * net / base)
    return text


print("| module | syscall loop, A/B: ns/iteration off → on: median overhead (quartiles) | "
      "syscall loop, self-measured | loopback TCP, A/B: CPU ns/MB off → on: median (quartiles) | "
      "loopback TCP, self-measured |")
print("|---|---|---|---|---|")
for name, _, desc in entries:
    print("| %s | %s | %s | %s | %s |" % (desc, ab_cell(name, "syscall"), self_cell(name, "syscall"),
                                         ab_cell(name, "tcp"), self_cell(name, "tcp")))
if floor is not None:
    print()
    print("Per-run floor of the kernel's BPF statistics in this session: %.1f ns "
          "(seccomp_tracer's sys_exit on unfiltered system calls)." % floor)
