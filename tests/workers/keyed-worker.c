/* SPDX-License-Identifier: MIT */
/*
 * Target of the begin/end test (tests/e2e/test_keyed.py): a step starts in
 * one function on the job's thread and ends in another function, called
 * from the thread that did the work. Two jobs run at once, each with two
 * parallel steps; the shorter step, started first, ends first, so only
 * (key, step.name) pairs each end with its start.
 *
 * The two steps of a job begin their work once both have begun (a barrier),
 * so that they overlap however late a loaded machine runs a thread.
 *
 * It prints one JSON object on stdout: its pid and, per step, the key, the
 * name, how long it worked, its status, the threads of its two ends and the
 * time from before its begin to after its end (window_ns: the span is within).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define noinline __attribute__((noinline, noclone))

struct step {
	uint64_t key;
	const char *name;
	long ms;
	int status;
	pid_t begin_tid;
	pid_t end_tid;
	pthread_t thread;
	pthread_barrier_t *together;
	uint64_t begin_ns; /* CLOCK_MONOTONIC before on_step_started() */
	uint64_t window_ns; /* ... to after on_step_finished() */
};

struct job {
	uint64_t key;
	const char *name;
	struct step steps[2];
	pid_t tid;
	pthread_t thread;
};

static volatile long sink;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

noinline void on_step_started(uint64_t key, const char *step)
{
	asm volatile("");
	sink = (long)key + step[0];
}

noinline void on_step_finished(uint64_t key, const char *step, int status)
{
	asm volatile("");
	sink = (long)key + step[0] + status;
}

static void *step_thread(void *arg)
{
	struct step *s = arg;

	s->end_tid = gettid_();
	pthread_barrier_wait(s->together);
	sleep_ms(s->ms);
	on_step_finished(s->key, s->name, s->status);
	s->window_ns = now_ns() - s->begin_ns;
	return NULL;
}

noinline int run_job(uint64_t key, const char *name, struct job *j)
{
	pthread_barrier_t together;

	asm volatile("");
	sink = (long)key;
	pthread_barrier_init(&together, NULL, 2);
	for (int i = 0; i < 2; i++) {
		struct step *s = &j->steps[i];

		s->begin_tid = gettid_();
		s->together = &together;
		s->begin_ns = now_ns();
		on_step_started(s->key, s->name);
		pthread_create(&s->thread, NULL, step_thread, s);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(j->steps[i].thread, NULL);
	pthread_barrier_destroy(&together);
	return name[0] ? 0 : -1;
}

static void *job_thread(void *arg)
{
	struct job *j = arg;

	j->tid = gettid_();
	run_job(j->key, j->name, j);
	return NULL;
}

int main(void)
{
	struct job jobs[2] = {
		{.key = 100, .name = "Thumbnail"},
		{.key = 101, .name = "Thumbnail"},
	};

	for (int k = 0; k < 2; k++) {
		/* the short one starts first and ends first */
		jobs[k].steps[0] = (struct step){.key = jobs[k].key, .name = "resize-small",
						 .ms = 40 + 20 * k, .status = 0};
		jobs[k].steps[1] = (struct step){.key = jobs[k].key, .name = "resize-large",
						 .ms = 150 + 20 * k, .status = k};
	}
	/*
	 * Reads the names, as a worker logging its jobs would: a probe cannot
	 * read a page the process never touched (test_captures.py, cold page).
	 */
	for (int k = 0; k < 2; k++)
		fprintf(stderr, "job %" PRIu64 " %s: %s, %s\n", jobs[k].key, jobs[k].name,
			jobs[k].steps[0].name, jobs[k].steps[1].name);
	for (int k = 0; k < 2; k++)
		pthread_create(&jobs[k].thread, NULL, job_thread, &jobs[k]);
	for (int k = 0; k < 2; k++)
		pthread_join(jobs[k].thread, NULL);
	printf("{\"pid\": %d, \"jobs\": [", (int)getpid());
	for (int k = 0; k < 2; k++) {
		printf("{\"key\": \"%" PRIu64 "\", \"name\": \"%s\", \"tid\": %d, \"steps\": [",
		       jobs[k].key, jobs[k].name, (int)jobs[k].tid);
		for (int i = 0; i < 2; i++) {
			const struct step *s = &jobs[k].steps[i];

			printf("{\"name\": \"%s\", \"ms\": %ld, \"status\": %d, \"begin_tid\": %d, "
			       "\"end_tid\": %d, \"window_ns\": %" PRIu64 "}%s",
			       s->name, s->ms, s->status, (int)s->begin_tid, (int)s->end_tid,
			       s->window_ns, i ? "" : ", ");
		}
		printf("]}%s", k ? "" : ", ");
	}
	printf("]}\n");
	return 0;
}
