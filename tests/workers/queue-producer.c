// SPDX-License-Identifier: MIT
/*
 * queue-producer: submits orders to a POSIX message queue. No tracing code.
 *
 * usage: queue-producer QUEUE COUNT [--wait-signal] [--bad EVERY]
 *   order i is "order-<i>"; every EVERY-th one is a "BadOrder", which fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define noinline __attribute__((noinline))

static mqd_t queue;

/* Puts one task on the queue. Returns 0 on success. */
noinline int submit_task(const char *task_id, const char *task_name, const char *queue_name)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "%s|%s", task_id, task_name);

	asm volatile("" : : "r"(queue_name));
	return mq_send(queue, msg, (size_t)n, 0) == 0 ? 0 : -1;
}

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	int count, bad_every = 0, wait_signal = 0;

	if (argc < 3) {
		fprintf(stderr,
			"usage: queue-producer QUEUE COUNT [--wait-signal] [--bad EVERY]\n");
		return 2;
	}
	count = atoi(argv[2]);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--wait-signal"))
			wait_signal = 1;
		else if (!strcmp(argv[i], "--bad") && i + 1 < argc)
			bad_every = atoi(argv[++i]);
	}
	queue = mq_open(argv[1], O_WRONLY | O_CREAT, 0600, NULL);
	if (queue == (mqd_t)-1) {
		fprintf(stderr, "queue-producer: mq_open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (wait_signal) {
		sigset_t none;

		signal(SIGUSR1, on_usr1);
		sigemptyset(&none);
		while (!go)
			sigsuspend(&none);
	}
	for (int i = 1; i <= count; i++) {
		char id[32];
		const char *name = bad_every && i % bad_every == 0 ? "BadOrder" : "Order";

		snprintf(id, sizeof(id), "order-%d", i);
		if (submit_task(id, name, argv[1])) {
			fprintf(stderr, "queue-producer: send: %s\n", strerror(errno));
			return 1;
		}
	}
	mq_close(queue);
	return 0;
}
