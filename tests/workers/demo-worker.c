// SPDX-License-Identifier: MIT
/*
 * demo-worker: a plain task worker with no tracing code at all. tasktap
 * traces it from the outside (recipes/demo-worker.yaml).
 *
 * It runs tasks made of steps:
 *   CreateZip  = UploadSourceFiles, CreateZipArchive (fails on its first
 *                attempt, succeeds on the second), UploadResult
 *   Thumbnail  = Decode, then ResizeSmall and ResizeLarge in two parallel
 *                threads, then Store
 *
 * usage: demo-worker [--tasks N] [--scale F] [--wait-signal] [--die-in STEP] [--first-id N]
 *   --tasks N       tasks to run (default 4), alternating CreateZip and Thumbnail
 *   --scale F       multiply every step's duration (default 1.0)
 *   --wait-signal   wait for SIGUSR1 before the first task
 *   --die-in STEP   kill itself with SIGKILL in the middle of step STEP
 *   --first-id N    id of the first task (default 1001)
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define noinline __attribute__((noinline))

static double scale = 1.0;
static const char *die_in;

static void sleep_ms(int ms)
{
	struct timespec ts;
	double ns = ms * scale * 1e6;

	ts.tv_sec = (time_t)(ns / 1e9);
	ts.tv_nsec = (long)(ns - ts.tv_sec * 1e9);
	while (nanosleep(&ts, &ts))
		;
}

/* One step of a task. Returns 0 on success, -1 when it fails. */
noinline int execute_step(uint64_t task_id, const char *step_name, int duration_ms, int fail)
{
	asm volatile("" : : "r"(task_id)); /* a real worker would log or store by task id */
	if (die_in && strcmp(step_name, die_in) == 0) {
		sleep_ms(duration_ms / 2);
		kill(getpid(), SIGKILL);
	}
	sleep_ms(duration_ms);
	return fail ? -1 : 0;
}

struct parallel_step {
	uint64_t task_id;
	const char *name;
	int duration_ms;
	int result;
};

static void *run_parallel_step(void *arg)
{
	struct parallel_step *p = arg;

	p->result = execute_step(p->task_id, p->name, p->duration_ms, 0);
	return NULL;
}

static int create_zip(uint64_t id)
{
	int attempt;

	if (execute_step(id, "UploadSourceFiles", 120, 0))
		return -1;
	for (attempt = 1; attempt <= 3; attempt++) {
		/* the archiver fails the first time, as flaky storage does */
		if (execute_step(id, "CreateZipArchive", attempt == 1 ? 40 : 240, attempt == 1) == 0)
			break;
	}
	if (attempt > 3)
		return -1;
	return execute_step(id, "UploadResult", 90, 0);
}

static int thumbnail(uint64_t id)
{
	struct parallel_step small = { id, "ResizeSmall", 80, 0 };
	struct parallel_step large = { id, "ResizeLarge", 150, 0 };
	pthread_t a, b;

	if (execute_step(id, "Decode", 50, 0))
		return -1;
	pthread_create(&a, NULL, run_parallel_step, &small);
	pthread_create(&b, NULL, run_parallel_step, &large);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	if (small.result || large.result)
		return -1;
	return execute_step(id, "Store", 30, 0);
}

/* Runs one task. Returns 0 on success. */
noinline int run_task(uint64_t task_id, const char *task_name)
{
	asm volatile("");
	if (strcmp(task_name, "CreateZip") == 0)
		return create_zip(task_id);
	return thumbnail(task_id);
}

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static const char usage[] = "usage: demo-worker [--tasks N] [--scale F] [--wait-signal] "
			    "[--die-in STEP] [--first-id N]\n";

int main(int argc, char **argv)
{
	int tasks = 4;
	uint64_t first_id = 1001;
	int wait_signal = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tasks") && i + 1 < argc)
			tasks = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
			scale = atof(argv[++i]);
		else if (!strcmp(argv[i], "--die-in") && i + 1 < argc)
			die_in = argv[++i];
		else if (!strcmp(argv[i], "--first-id") && i + 1 < argc)
			first_id = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--wait-signal"))
			wait_signal = 1;
		else {
			fprintf(stderr, "demo-worker: unknown argument '%s'\n%s", argv[i], usage);
			return 2;
		}
	}
	if (wait_signal) {
		sigset_t none;

		signal(SIGUSR1, on_usr1);
		sigemptyset(&none);
		while (!go)
			sigsuspend(&none);
	}
	for (int i = 0; i < tasks; i++) {
		const char *name = i % 2 == 0 ? "CreateZip" : "Thumbnail";
		int ret = run_task(first_id + i, name);

		fprintf(stderr, "demo-worker: task %llu %s %s\n", (unsigned long long)(first_id + i),
			name, ret ? "failed" : "done");
	}
	return 0;
}
