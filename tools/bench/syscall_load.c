// syscall_load.c — the "syscall-heavy loop" load of tools/bench/module_cost.sh: what a module's
// per-system-call hooks cost a process that does little but system calls.
//
// One iteration is four real system calls, the mix of a busy server's inner loop: getppid (a
// null call), clock_gettime through syscall() (not the vDSO), write 64 bytes to a pipe, read them
// back. The process pins itself to one CPU, warms up, then runs `rounds` rounds of `iterations`
// and prints the median and the min/max of its own CPU time (CLOCK_PROCESS_CPUTIME_ID: user +
// system, the BPF programs run in its system calls included; time preempted by other work on a
// busy machine is not counted) per iteration, in ns:
//   ns_per_iteration <median> <min> <max>
//
// Standalone: cc -O2 -o syscall_load syscall_load.c
// Usage: syscall_load [iterations per round (200000)] [rounds (7)] [cpu (1)]
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    int cpu = argc > 3 ? atoi(argv[3]) : 1;
    if (iterations <= 0 || rounds <= 0 || rounds > 99) {
        fprintf(stderr, "usage: syscall_load [iterations] [rounds <= 99] [cpu]\n");
        return 2;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity (continuing)");
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        return 1;
    }
    char buf[64];
    memset(buf, 'x', sizeof buf);
    struct timespec ts;
    double ns[99];
    for (int r = -1; r < rounds; ++r) {  // round -1: warm-up
        uint64_t t0 = cpu_ns();
        for (long i = 0; i < iterations; ++i) {
            syscall(SYS_getppid);
            syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
            if (write(p[1], buf, sizeof buf) != (ssize_t)sizeof buf) return 3;
            if (read(p[0], buf, sizeof buf) != (ssize_t)sizeof buf) return 4;
        }
        if (r >= 0) ns[r] = (double)(cpu_ns() - t0) / (double)iterations;
    }
    qsort(ns, (size_t)rounds, sizeof ns[0], cmp);
    printf("ns_per_iteration %.1f %.1f %.1f\n", ns[rounds / 2], ns[0], ns[rounds - 1]);
    return 0;
}
