/* SPDX-License-Identifier: MIT */
/*
 * Target of the narrowing test (tests/e2e/test_narrow.py): loads
 * libttjob.so with dlopen, as dlopen-worker does, then runs one job per
 * line of its standard input, until end of file. No tracing code.
 *
 *	narrow-worker           each job in this process
 *	narrow-worker --fork    each job in a child forked for it (a fork-per-job worker)
 *	narrow-worker --child   every job in one child, forked once the library is loaded
 *
 * Prints "ready PID ADDR PARENT" once the library is loaded (PID: the
 * process that runs the jobs; ADDR: where ttjob_run is in it, so that a
 * test reads its first bytes through /proc/PID/mem; PARENT: its parent),
 * then "job ID PID RC" per job, PID the process that ran it.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*run_fn)(uint64_t id, const char *name, long ms);

static void run_job(run_fn run, uint64_t id)
{
	int rc = run(id, "Narrow", 5);

	printf("job %" PRIu64 " %d %d\n", id, (int)getpid(), rc);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	bool fork_each = argc > 1 && strcmp(argv[1], "--fork") == 0;
	char line[64];
	void *lib;
	run_fn run;

	lib = dlopen("libttjob.so", RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "narrow-worker: %s\n", dlerror());
		return 1;
	}
	run = (run_fn)dlsym(lib, "ttjob_run");
	if (!run) {
		fprintf(stderr, "narrow-worker: %s\n", dlerror());
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "--child") == 0) {
		pid_t child = fork();
		int status = 1;

		if (child < 0) {
			perror("narrow-worker: fork");
			return 1;
		}
		if (child > 0) {
			waitpid(child, &status, 0);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		}
	}
	printf("ready %d %" PRIxPTR " %d\n", (int)getpid(), (uintptr_t)run, (int)getppid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t id = strtoull(line, NULL, 10);
		pid_t child;

		if (!fork_each) {
			run_job(run, id);
			continue;
		}
		child = fork();
		if (child < 0) {
			perror("narrow-worker: fork");
			return 1;
		}
		if (child == 0) {
			run_job(run, id);
			_exit(0);
		}
		waitpid(child, NULL, 0);
	}
	return 0;
}
