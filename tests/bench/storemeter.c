// SPDX-License-Identifier: MIT
/*
 * storemeter: the BPF run time of keeping a call's entry record until its
 * return, by store (see storemeter.bpf.c), on bench-worker's tick().
 * For each store in turn it attaches that store's entry and return
 * programs, runs `bench-worker loop CALLS`, and prints
 *
 *   STORE entry X ns/run, return Y ns/run (N runs)
 *
 * from bpf_stats (enabled for the run with BPF_ENABLE_STATS).
 *
 * usage: storemeter BENCH_WORKER CALLS     (as root)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "storemeter.skel.h"

/* Run time per run of program p, and its run count in *runs. */
static double ns_per_run(const struct bpf_program *p, unsigned long long *runs)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, len);
	if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
		return -1;
	*runs = info.run_cnt;
	return info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0;
}

/* Runs the worker's loop of `calls` calls; false if it failed. */
static bool run_worker(const char *worker, const char *calls)
{
	int status;
	pid_t pid;

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
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status);
}

/* Attaches entry and ret to tick() in worker, runs it, prints their costs. */
static int measure(const char *store, struct bpf_program *entry, struct bpf_program *ret,
		   const char *worker, const char *calls)
{
	LIBBPF_OPTS(bpf_uprobe_opts, on_entry, .func_name = "tick");
	LIBBPF_OPTS(bpf_uprobe_opts, on_return, .func_name = "tick", .retprobe = true);
	struct bpf_link *a = bpf_program__attach_uprobe_opts(entry, -1, worker, 0, &on_entry);
	struct bpf_link *b = bpf_program__attach_uprobe_opts(ret, -1, worker, 0, &on_return);
	unsigned long long n1 = 0, n2 = 0;
	double e, r;
	bool ok = a && b && run_worker(worker, calls);

	bpf_link__destroy(a);
	bpf_link__destroy(b);
	if (!ok) {
		fprintf(stderr, "storemeter: %s: cannot attach to tick() in %s or run it\n", store,
			worker);
		return 1;
	}
	e = ns_per_run(entry, &n1);
	r = ns_per_run(ret, &n2);
	printf("%-6s entry %4.0f ns/run, return %4.0f ns/run (%llu runs)\n", store, e, r, n1);
	return 0;
}

int main(int argc, char **argv)
{
	struct storemeter_bpf *s;
	int stats, bad = 0;

	if (argc != 3 || atol(argv[2]) <= 0) {
		fprintf(stderr, "usage: storemeter BENCH_WORKER CALLS   (as root)\n");
		return 2;
	}
	libbpf_set_print(NULL);
	s = storemeter_bpf__open_and_load();
	if (!s) {
		fprintf(stderr, "storemeter: cannot load the BPF programs (root? task storage?)\n");
		return 1;
	}
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats < 0) {
		fprintf(stderr, "storemeter: cannot enable bpf_stats\n");
		storemeter_bpf__destroy(s);
		return 1;
	}
	bad |= measure("empty", s->progs.empty_entry, s->progs.empty_return, argv[1], argv[2]);
	bad |= measure("hash", s->progs.hash_entry, s->progs.hash_return, argv[1], argv[2]);
	bad |= measure("task", s->progs.task_entry, s->progs.task_return, argv[1], argv[2]);
	bad |= measure("frame", s->progs.frame_entry, s->progs.frame_return, argv[1], argv[2]);
	close(stats);
	storemeter_bpf__destroy(s);
	return bad;
}
