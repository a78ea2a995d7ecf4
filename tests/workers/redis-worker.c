// SPDX-License-Identifier: MIT
/*
 * redis-worker: a Redis list queue on hiredis (Debian 12's 0.14), with no
 * tracing code, for recipes/redis-queue.yaml's end-to-end test.
 *
 *   redis-worker push PORT QUEUE PAYLOAD [QUEUE PAYLOAD...]
 *   redis-worker pop PORT QUEUE N [--wait-signal]
 *
 * push sends LPUSH QUEUE PAYLOAD for each pair with redisCommandArgv() and
 * prints "QUEUE PAYLOAD ok" or "QUEUE PAYLOAD error MESSAGE" (an error
 * reply, as a WRONGTYPE one). pop takes N messages with BRPOP QUEUE 30;
 * a payload starting with "fail" fails the first time it is seen and is
 * pushed back (LPUSH, a re-push: its second run succeeds). It prints
 * "PAYLOAD ok|fail" for each and frees the reply when done with it. With
 * --wait-signal it waits for SIGUSR1 before its first BRPOP (so that an
 * agent can attach first). Exits 0 when every call succeeded.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define MAX_FAILED 64

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static redisReply *command(redisContext *c, const char *cmd, const char *a, const char *b)
{
	const char *argv[3] = {cmd, a, b};

	return redisCommandArgv(c, 3, argv, NULL);
}

static int push(redisContext *c, int n, char **pairs)
{
	int failed = 0;

	for (int i = 0; i + 1 < n; i += 2) {
		redisReply *r = command(c, "LPUSH", pairs[i], pairs[i + 1]);

		if (!r) {
			fprintf(stderr, "redis-worker: LPUSH failed: %s\n", c->errstr);
			return 1;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			printf("%s %s error %s\n", pairs[i], pairs[i + 1], r->str);
			failed = 1;
		} else {
			printf("%s %s ok\n", pairs[i], pairs[i + 1]);
		}
		fflush(stdout);
		freeReplyObject(r);
	}
	return failed;
}

/* Whether payload p failed before; remembers it when not. */
static int failed_before(const char *p)
{
	static char seen[MAX_FAILED][128];
	static int n;

	for (int i = 0; i < n; i++) {
		if (strcmp(seen[i], p) == 0)
			return 1;
	}
	if (n < MAX_FAILED)
		snprintf(seen[n++], sizeof(seen[0]), "%s", p);
	return 0;
}

/* Runs one message; returns 0 when it succeeded. */
static __attribute__((noinline)) int run_job(const char *payload)
{
	asm volatile("");
	if (strncmp(payload, "fail", 4) == 0 && !failed_before(payload))
		return 1;
	return 0;
}

static int pop(redisContext *c, const char *queue, int n)
{
	for (int i = 0; i < n; i++) {
		redisReply *r = command(c, "BRPOP", queue, "30");
		int failed;

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			fprintf(stderr, "redis-worker: BRPOP failed\n");
			return 1;
		}
		failed = run_job(r->element[1]->str);
		printf("%s %s\n", r->element[1]->str, failed ? "fail" : "ok");
		fflush(stdout);
		if (failed) {
			redisReply *again = command(c, "LPUSH", queue, r->element[1]->str);

			if (!again || again->type == REDIS_REPLY_ERROR)
				return 1;
			freeReplyObject(again);
		}
		freeReplyObject(r);
	}
	return 0;
}

int main(int argc, char **argv)
{
	redisContext *c;
	int rc;

	if (argc < 5 || (strcmp(argv[1], "push") != 0 && strcmp(argv[1], "pop") != 0)) {
		fprintf(stderr, "usage: redis-worker push PORT QUEUE PAYLOAD [QUEUE PAYLOAD...]\n"
				"       redis-worker pop PORT QUEUE N [--wait-signal]\n");
		return 2;
	}
	signal(SIGUSR1, on_usr1);
	c = redisConnect("127.0.0.1", (int)strtol(argv[2], NULL, 10));
	if (!c || c->err) {
		fprintf(stderr, "redis-worker: cannot connect: %s\n", c ? c->errstr : "no memory");
		return 1;
	}
	if (strcmp(argv[1], "push") == 0) {
		rc = push(c, argc - 3, argv + 3);
	} else {
		printf("ready\n");
		fflush(stdout);
		if (argc > 5 && strcmp(argv[5], "--wait-signal") == 0) {
			while (!go)
				usleep(10000);
		}
		rc = pop(c, argv[3], (int)strtol(argv[4], NULL, 10));
	}
	redisFree(c);
	return rc;
}
