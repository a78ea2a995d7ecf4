// SPDX-License-Identifier: MIT
/*
 * piecemeter: the BPF run time of each piece of a compiled entry program
 * (see piecemeter.bpf.c), on bench-worker's tick(). For each round, each
 * piece in turn is attached as a uprobe, `bench-worker loop CALLS` runs
 * while the rings are drained every millisecond, and bpf_stats (enabled
 * for the run with BPF_ENABLE_STATS) gives its ns per run. Prints, per
 * piece, the min and median over the rounds and the median less the empty
 * program's:
 *
 *   PIECE  min X  median Y  less empty Z ns/run
 *
 * usage: piecemeter BENCH_WORKER CALLS ROUNDS     (as root)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "piecemeter.skel.h"

#define MAX_ROUNDS 16
#define MAX_CPUS   64
#define MAX_PROGS  32

static int drain(void *ctx, void *data, size_t size)
{
	return 0;
}

/* Runs the worker's loop of `calls` calls, draining `rb` meanwhile; false if it failed. */
static bool run_worker(const char *worker, const char *calls, struct ring_buffer *rb)
{
	int status;
	pid_t pid, done;

	fflush(stdout); /* else the child's copy of what is buffered is written twice */
	pid = fork();
	if (pid < 0)
		return false;
	if (!pid) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(worker, worker, "loop", calls, (char *)NULL);
		_exit(127);
	}
	do {
		ring_buffer__consume(rb);
		usleep(1000);
		done = waitpid(pid, &status, WNOHANG);
	} while (done == 0);
	ring_buffer__consume(rb);
	return done == pid && WIFEXITED(status) && !WEXITSTATUS(status);
}

/* Run time and run count of program p so far (bpf_stats accumulate). */
static void stats_of(const struct bpf_program *p, unsigned long long *ns, unsigned long long *runs)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, len);
	*ns = *runs = 0;
	if (!bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len)) {
		*ns = info.run_time_ns;
		*runs = info.run_cnt;
	}
}

/* Attaches p to tick() in worker, runs it; ns per run of this round, or -1. */
static double round_of(struct bpf_program *p, const char *worker, const char *calls,
		       struct ring_buffer *rb)
{
	LIBBPF_OPTS(bpf_uprobe_opts, on_entry, .func_name = "tick", .bpf_cookie = 1);
	unsigned long long t0, c0, t1, c1;
	struct bpf_link *a;
	bool ok;

	stats_of(p, &t0, &c0);
	a = bpf_program__attach_uprobe_opts(p, -1, worker, 0, &on_entry);
	ok = a && run_worker(worker, calls, rb);
	bpf_link__destroy(a);
	stats_of(p, &t1, &c1);
	if (!ok || c1 == c0) {
		fprintf(stderr, "piecemeter: %s: cannot attach to tick() in %s or run it\n",
			bpf_program__name(p), worker);
		return -1;
	}
	return (double)(t1 - t0) / (double)(c1 - c0);
}

/* One ring per CPU in `rings`, all drained by the returned ring_buffer; NULL on failure. */
static struct ring_buffer *make_rings(struct piecemeter_bpf *s)
{
	struct ring_buffer *rb = NULL;
	int ncpu = libbpf_num_possible_cpus();

	for (int cpu = 0; cpu < ncpu && cpu < MAX_CPUS; cpu++) {
		int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, 4 << 20, NULL);

		if (fd < 0 || bpf_map_update_elem(bpf_map__fd(s->maps.rings), &cpu, &fd, 0))
			return NULL;
		if (!rb)
			rb = ring_buffer__new(fd, drain, NULL, NULL);
		else if (ring_buffer__add(rb, fd, drain, NULL))
			return NULL;
		if (!rb)
			return NULL;
	}
	return rb;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static double ns[MAX_PROGS][MAX_ROUNDS];
	struct piecemeter_bpf *s;
	struct ring_buffer *rb;
	struct bpf_program *p;
	int stats, rounds, n = 0;
	double empty = 0;

	rounds = argc == 4 ? atoi(argv[3]) : 0;
	if (argc != 4 || atol(argv[2]) <= 0 || rounds <= 0 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: piecemeter BENCH_WORKER CALLS ROUNDS   (as root, "
				"ROUNDS 1-16)\n");
		return 2;
	}
	libbpf_set_print(NULL);
	s = piecemeter_bpf__open_and_load();
	if (!s) {
		fprintf(stderr, "piecemeter: cannot load the BPF programs (root?)\n");
		return 1;
	}
	rb = make_rings(s);
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (!rb || stats < 0) {
		fprintf(stderr, "piecemeter: cannot make the rings or enable bpf_stats\n");
		piecemeter_bpf__destroy(s);
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		int i = 0;

		bpf_object__for_each_program(p, s->obj)
		{
			if (i < MAX_PROGS)
				ns[i++][r] = round_of(p, argv[1], argv[2], rb);
		}
		n = i;
	}
	close(stats);
	for (int i = 0; i < n; i++)
		qsort(ns[i], rounds, sizeof(double), by_value);
	n = 0;
	bpf_object__for_each_program(p, s->obj)
	{
		double med;

		if (n >= MAX_PROGS)
			break;
		med = ns[n][rounds / 2];

		if (n == 0)
			empty = med; /* the first program is the empty one */
		printf("%-12s min %5.0f  median %5.0f  less empty %5.0f ns/run\n",
		       bpf_program__name(p), ns[n][0], med, med - empty);
		n++;
	}
	ring_buffer__free(rb);
	piecemeter_bpf__destroy(s);
	return 0;
}
