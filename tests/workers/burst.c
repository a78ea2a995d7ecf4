// SPDX-License-Identifier: MIT
/*
 * burst: calls one small function as fast as it can, to fill ring buffers
 * and to measure the cost of a traced call.
 *
 * usage: burst CALLS [THREADS]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define noinline __attribute__((noinline))

static uint64_t sink;

noinline void record(uint64_t i)
{
	sink += i;
}

/* The probed function: like a real step, it calls something, so it has a frame. */
noinline int tick(uint64_t i, const char *name)
{
	asm volatile("" : : "r"(name));
	record(i);
	return 0;
}

static long calls;

static void *loop(void *arg)
{
	(void)arg;
	for (long i = 0; i < calls; i++)
		tick(i, "tick");
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t t[64];

	if (argc < 2 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: burst CALLS [THREADS]\n");
		return 2;
	}
	calls = atol(argv[1]);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, loop, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return 0;
}
