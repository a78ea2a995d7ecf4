/* SPDX-License-Identifier: MIT */
/*
 * Target of the USDT tests (tests/e2e/test_usdt.py): a worker with
 * <sys/sdt.h> probes and no other tracing code.
 *
 *	ttw:job_start(id, name)          a job begins (ends at job_end)
 *	ttw:job_end(id, name, status)    the same job ends; status 0 is success
 *	ttw:tick(id * 10)                a point inside each job
 *	ttw:expensive(id, cost)          guarded by its semaphore: `cost` is
 *	                                 computed only while a tracer is attached
 *
 * It prints one JSON object on stdout: its pid, every job (id, name,
 * status, cost) and whether it ever saw the expensive probe's semaphore
 * set — which only a tracer that attached to the probe does.
 *
 *	usdt-worker [--jobs N] [--first-id K] [--wait-signal]
 *
 * --wait-signal prints "ready" on stderr, then waits for SIGUSR1 before the
 * first job, so that a tracer can attach to a process already running.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

#define noinline __attribute__((noinline, noclone))
#define SEMAPHORE(name)                                                                            \
	__extension__ unsigned short ttw_##name##_semaphore __attribute__((unused))              \
	__attribute__((section(".probes")))

SEMAPHORE(job_start);
SEMAPHORE(job_end);
SEMAPHORE(tick);
SEMAPHORE(expensive);

#define MAX_JOBS 64

static const char *const job_names[] = {"resize", "skip-thumb", "encode"};

struct job {
	uint64_t id;
	const char *name;
	int status;
	uint64_t cost;
};

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* What a worker would compute only for a tracer: kept out of the fast path. */
static noinline uint64_t expensive_cost(uint64_t id)
{
	uint64_t h = 1469598103934665603ULL;

	asm volatile("");
	for (int i = 0; i < 1000; i++)
		h = (h ^ (id + (uint64_t)i)) * 1099511628211ULL;
	return h % 100000;
}

static noinline void run_job(struct job *j, int *seen)
{
	STAP_PROBE2(ttw, job_start, j->id, j->name);
	sleep_ms(20);
	STAP_PROBE1(ttw, tick, j->id * 10);
	if (ttw_expensive_semaphore) {
		*seen = 1;
		j->cost = expensive_cost(j->id);
		STAP_PROBE2(ttw, expensive, j->id, j->cost);
	}
	sleep_ms(10);
	j->status = j->id % 2 ? 1 : 0;
	STAP_PROBE3(ttw, job_end, j->id, j->name, j->status);
}

static void wait_signal(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fprintf(stderr, "ready\n");
	fflush(stderr);
	sigwait(&set, &sig);
}

int main(int argc, char **argv)
{
	struct job jobs[MAX_JOBS];
	long njobs = 3, first = 1;
	int waiting = 0, seen = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
			njobs = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--first-id") == 0 && i + 1 < argc)
			first = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--wait-signal") == 0)
			waiting = 1;
		else {
			fprintf(stderr, "usage: %s [--jobs N] [--first-id K] [--wait-signal]\n",
				argv[0]);
			return 2;
		}
	}
	if (njobs < 0 || njobs > MAX_JOBS)
		njobs = MAX_JOBS;
	if (waiting)
		wait_signal();
	for (long i = 0; i < njobs; i++) {
		jobs[i] = (struct job){.id = (uint64_t)(first + i), .name = job_names[i % 3]};
		run_job(&jobs[i], &seen);
	}
	printf("{\"pid\": %d, \"semaphore_seen\": %s, \"jobs\": [", (int)getpid(),
	       seen ? "true" : "false");
	for (long i = 0; i < njobs; i++)
		printf("{\"id\": %" PRIu64 ", \"name\": \"%s\", \"status\": %d, \"cost\": %" PRIu64
		       "}%s",
		       jobs[i].id, jobs[i].name, jobs[i].status, jobs[i].cost,
		       i + 1 < njobs ? ", " : "");
	printf("]}\n");
	return 0;
}
