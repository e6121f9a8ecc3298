/* pipe_pingpong.c — the context-switch-heaviest load there is: two processes pinned to one CPU
 * pass one byte back and forth over two pipes, so every round trip is two context switches and two
 * wakeups. Prints the median, min and max ns per round trip over --rounds rounds of --trips round
 * trips each (wall clock: both processes share the one CPU, so wall time is that CPU's time).
 * Used by tools/bench/noisy_neighbor_overhead.sh, with the module loaded and not.
 *
 * Standalone: cc -O2 -o pipe_pingpong pipe_pingpong.c
 * Usage: pipe_pingpong [--trips N] [--rounds R] [--cpu C]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long trips = 100000;
	int rounds = 7, cpu = 1, to_child[2], to_parent[2];
	double *ns;
	pid_t pid;
	char c = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--trips"))
			trips = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--cpu"))
			cpu = atoi(argv[i + 1]);
	}
	if (trips < 1 || rounds < 1) {
		fprintf(stderr, "pipe_pingpong: --trips and --rounds must be positive\n");
		return 2;
	}
	if (pipe(to_child) || pipe(to_parent)) {
		perror("pipe");
		return 1;
	}
	pin(cpu);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(to_child[1]); /* EOF on to_child ends the child */
		close(to_parent[0]);
		for (;;) {
			if (read(to_child[0], &c, 1) != 1)
				_exit(0);
			if (write(to_parent[1], &c, 1) != 1)
				_exit(1);
		}
	}
	ns = calloc(rounds, sizeof(*ns));
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();

		for (long i = 0; i < trips; i++) {
			if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
				perror("ping-pong");
				return 1;
			}
		}
		ns[r] = (now_ns() - t0) / trips;
	}
	close(to_child[1]);
	waitpid(pid, NULL, 0);
	qsort(ns, rounds, sizeof(*ns), cmp);
	printf("pipe_pingpong  %.1f  [%.1f, %.1f] ns per round trip (2 switches), %d rounds of %ld\n",
	       ns[rounds / 2], ns[0], ns[rounds - 1], rounds, trips);
	return 0;
}
