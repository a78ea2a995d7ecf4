// SPDX-License-Identifier: MIT
/*
 * Target of the predicate tests (tests/e2e/test_filters.py): a job
 * worker in plain C, no tracing code. Each job is handed to the same
 * functions (each probed with its own `when:` or `error:`), and begins
 * and ends through job_begin()/job_end(), where an end may first be a
 * requeue (outcome 1) and then the real end. A job's message hangs eight
 * pointers deep, as an AMQP header table does.
 *
 *	pred-worker N      runs N jobs, then prints them as JSON, one per line
 *	pred-worker edges  string edges (empty, NULL, past the limit, UTF-8) for
 *	                   each string predicate, then prints the pairs as JSON
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define noinline __attribute__((noinline))

volatile long sink;

/* A chain of eight pointers to a value: value = ********msg. */
struct link {
	struct link *next;
};

struct job {
	long id;	   /* 0 */
	const char *queue; /* 8 */
	const char *kind;  /* 16 */
	struct link *msg;  /* 24: NULL for some jobs */
	int status;	   /* 32 */
};

noinline int handle_a(struct job *j, const char *name, long prio)
{
	asm volatile("" : : "r"(j) : "memory"); /* it may read all of *j */
	sink = prio + name[0];
	return j->status;
}

noinline int handle_b(struct job *j, const char *name, long prio)
{
	asm volatile("" : : "r"(j) : "memory"); /* it may read all of *j */
	sink = prio + name[0];
	return j->status;
}

noinline int handle_c(struct job *j, const char *name, long prio)
{
	asm volatile("" : : "r"(j) : "memory"); /* it may read all of *j */
	sink = prio + name[0];
	return j->status;
}

noinline int handle_d(struct job *j, const char *name, long prio)
{
	asm volatile("" : : "r"(j) : "memory"); /* it may read all of *j */
	sink = prio + name[0];
	return j->status;
}

noinline int handle_e(struct job *j, const char *name, long prio)
{
	asm volatile("" : : "r"(j) : "memory"); /* it may read all of *j */
	sink = prio + name[0];
	return j->status;
}

/* A probe whose filter and captures fill the budget of one hook exactly. */
noinline int handle_f(struct job *j, const char *name, long prio)
{
	asm volatile("" : : "r"(j) : "memory"); /* it may read all of *j */
	sink = prio + name[0];
	return j->status;
}

noinline void job_begin(long id, const char *queue)
{
	asm volatile("");
	sink = id + queue[0];
}

noinline void job_end(long id, long outcome)
{
	asm volatile("");
	sink = id + outcome;
}

/* String edges: each probed with one string predicate, called with every pair of `pairs`. */
noinline int edge_eq(const char *a, const char *b, long i)
{
	asm volatile("" : : "r"(a), "r"(b) : "memory");
	return (int)i;
}

noinline int edge_suffix(const char *a, const char *b, long i)
{
	asm volatile("" : : "r"(a), "r"(b) : "memory");
	return (int)i;
}

noinline int edge_contains(const char *a, const char *b, long i)
{
	asm volatile("" : : "r"(a), "r"(b) : "memory");
	return (int)i;
}

noinline int edge_bounded(const char *a, const char *b, long i)
{
	asm volatile("" : : "r"(a), "r"(b) : "memory");
	return (int)i;
}

/* 70 and 71 bytes: equal in the 63 a predicate reads, different after */
#define LONG_A "0123456789012345678901234567890123456789012345678901234567890123456789"
#define LONG_B LONG_A "x"

static const char *const pairs[][2] = {
	{"", ""},
	{"abc", "abc"},
	{"abc", "abcd"},
	{"abcd", "abc"},
	{"xyzabc", "abc"},
	{"abc", NULL},
	{NULL, "abc"},
	{LONG_A, LONG_B},
	{"zab", "zabc"},
	{"xxzabyy", "zab"},
	{"za", "b"},
	{"é-zabé", "é"},
	{"abcdefgh", "abcdefgh"},
	{"abcdefghi", "abcdefghj"},
	{"perfor", "perform"},
};

/* The pairs, each passed to every edge function, then printed: [a or null, b or null]. */
static void run_edges(void)
{
	size_t n = sizeof(pairs) / sizeof(pairs[0]);

	for (size_t k = 0; k < n; k++)
		sink += (long)(pairs[k][0] ? strlen(pairs[k][0]) : 0) +
			(long)(pairs[k][1] ? strlen(pairs[k][1]) : 0);
	for (size_t k = 0; k < n; k++) {
		const char *a = pairs[k][0], *b = pairs[k][1];

		sink = edge_eq(a, b, (long)k) + edge_suffix(a, b, (long)k) +
		       edge_contains(a, b, (long)k) + edge_bounded(a, b, (long)k);
	}
	printf("[");
	for (size_t k = 0; k < n; k++) {
		printf("%s[", k ? ", " : "");
		for (int s = 0; s < 2; s++)
			printf(pairs[k][s] ? "%s\"%s\"" : "%snull", s ? ", " : "",
			       pairs[k][s] ? pairs[k][s] : "");
		printf("]");
	}
	printf("]\n");
}

static const char *const queues[] = {"mail.jobs", "mail.retry", "img.jobs", "jobs",
				     "img.dead",  "skip",	"mail"};
static const char *const kinds[] = {"resize", "send", "append", "render"};
static const char *const names[] = {"mail.jobs", "img.jobs", "other", "mail"};

/* Eight links ending in `value` (stored as the last link's pointer). */
static struct link *chain(long value)
{
	struct link *l = (struct link *)value;

	for (int i = 0; i < 7; i++) {
		struct link *n = malloc(sizeof(*n));

		if (!n)
			exit(1);
		n->next = l;
		l = n;
	}
	return l;
}

int main(int argc, char **argv)
{
	long n;

	if (argc == 2 && strcmp(argv[1], "edges") == 0) {
		run_edges();
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s N | edges\n", argv[0]);
		return 2;
	}
	n = strtol(argv[1], NULL, 10);
	/* the strings' pages in memory before the first job: a probe cannot fault them in */
	for (size_t k = 0; k < 7; k++)
		sink += (long)strlen(queues[k]) + (long)strlen(kinds[k % 4]) +
			(long)strlen(names[k % 4]);
	for (long i = 0; i < n; i++) {
		struct job j = {
			.id = 1000 + i,
			.queue = queues[i % 7],
			.kind = kinds[i % 4],
			.msg = i % 6 == 5 ? NULL : chain(i % 5),
			.status = i % 3 == 0 ? 2 : 0,
		};
		const char *name = names[i % 4];
		long prio = i % 9;
		long requeued = i % 4 == 1;

		job_begin(j.id, j.queue);
		sink = handle_a(&j, name, prio) + handle_b(&j, name, prio) +
		       handle_c(&j, name, prio) + handle_d(&j, name, prio) +
		       handle_e(&j, name, prio) + handle_f(&j, name, prio);
		if (requeued)
			job_end(j.id, 1);
		job_end(j.id, i % 5 == 0 ? 2 : 0);
		printf("{\"id\": %ld, \"queue\": \"%s\", \"kind\": \"%s\", \"name\": \"%s\", "
		       "\"prio\": %ld, \"deep\": %ld, \"status\": %d, \"requeued\": %ld, "
		       "\"outcome\": %ld}\n",
		       j.id, j.queue, j.kind, name, prio, j.msg ? i % 5 : -1L, j.status, requeued,
		       i % 5 == 0 ? 2L : 0L);
	}
	return 0;
}
