// SPDX-License-Identifier: MIT
/*
 * bench-worker: the target of `make bench`. A plain C program with no
 * tracing code: it calls one small noinline function, tick(key, name), with
 * a distinct u64 key and a 64-byte string (63 characters and the NUL).
 *
 * usage: bench-worker loop CALLS [THREADS]
 *          CALLS per thread, as fast as it can; prints
 *          "ns_per_call X" (each thread's loop time over its calls, averaged)
 *        bench-worker rate EVENTS_PER_S SECONDS
 *          one thread, paced to EVENTS_PER_S / 2 calls a second (an entry and
 *          a return event each); prints "calls N events_per_s X"
 *        bench-worker usdt CALLS
 *          one thread, CALLS times through the USDT probe bench:hit(i) (a nop
 *          in the loop: the cost is whatever is attached to it); prints
 *          "ns_per_call X"
 *        bench-worker wait
 *          prints its pid, then waits for SIGTERM (a process to attach to)
 *
 * Every figure goes to stdout, one "name value" per line.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

#define noinline    __attribute__((noinline))
#define MAX_THREADS 64

static const char name64[64] = "bench-step-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

static uint64_t sink;

noinline void record(uint64_t i)
{
	asm volatile("" : : "r"(i) : "memory");
	sink += i;
}

/* The probed function: like a real step, it calls something, so it has a frame. */
noinline int tick(uint64_t key, const char *name)
{
	asm volatile("" : : "r"(name));
	record(key);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct thread {
	pthread_t t;
	uint64_t first_key;
	long calls;
	uint64_t ns;
};

static pthread_barrier_t start;

static void *loop(void *arg)
{
	struct thread *th = arg;
	uint64_t t0;

	pthread_barrier_wait(&start);
	t0 = now_ns();
	for (long i = 0; i < th->calls; i++)
		tick(th->first_key + (uint64_t)i, name64);
	th->ns = now_ns() - t0;
	return NULL;
}

static int run_loop(long calls, int threads)
{
	struct thread th[MAX_THREADS];
	double sum = 0;

	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		th[i] = (struct thread){.first_key = 1 + (uint64_t)i * (uint64_t)calls,
					.calls = calls};
		if (i > 0 && pthread_create(&th[i].t, NULL, loop, &th[i])) {
			fprintf(stderr, "bench-worker: cannot start thread %d\n", i);
			return 1;
		}
	}
	loop(&th[0]);
	for (int i = 1; i < threads; i++)
		pthread_join(th[i].t, NULL);
	for (int i = 0; i < threads; i++)
		sum += (double)th[i].ns / (double)calls;
	printf("ns_per_call %.2f\n", sum / threads);
	printf("calls %ld\n", calls * threads);
	return 0;
}

/* A USDT site in a tight loop: "8@%reg" of the loop counter. */
static int run_usdt(long calls)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < calls; i++) {
		STAP_PROBE1(bench, hit, i);
		sink += (uint64_t)i;
	}
	printf("ns_per_call %.2f\n", (double)(now_ns() - t0) / (double)calls);
	printf("calls %ld\n", calls);
	return 0;
}

/* Paced calls: each call is due at t0 + k * period; spin until it is. */
static int run_rate(double events_per_s, double seconds)
{
	double period = 2e9 / events_per_s; /* ns per call: two events a call */
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), now = t0;
	long k = 0;

	while (now < end) {
		uint64_t due = t0 + (uint64_t)((double)k * period);

		if (now >= due) {
			tick((uint64_t)k + 1, name64);
			k++;
			continue;
		}
		if (due - now > 200000)
			usleep((useconds_t)((due - now) / 2000));
		now = now_ns();
	}
	printf("calls %ld\n", k);
	printf("events_per_s %.0f\n", 2.0 * (double)k / ((double)(now - t0) / 1e9));
	return 0;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int run_wait(void)
{
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	while (!stop)
		pause();
	tick(1, name64);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "loop")) {
		long calls = atol(argv[2]);
		int threads = argc > 3 ? atoi(argv[3]) : 1;

		if (calls < 1 || threads < 1 || threads > MAX_THREADS)
			goto usage;
		return run_loop(calls, threads);
	}
	if (argc == 4 && !strcmp(argv[1], "rate")) {
		double rate = atof(argv[2]), seconds = atof(argv[3]);

		if (rate <= 0 || seconds <= 0)
			goto usage;
		return run_rate(rate, seconds);
	}
	if (argc == 3 && !strcmp(argv[1], "usdt")) {
		long calls = atol(argv[2]);

		if (calls < 1)
			goto usage;
		return run_usdt(calls);
	}
	if (argc == 2 && !strcmp(argv[1], "wait"))
		return run_wait();
usage:
	fprintf(stderr, "usage: bench-worker loop CALLS [THREADS] | rate EVENTS_PER_S SECONDS | "
			"usdt CALLS | wait\n");
	return 2;
}
