// SPDX-License-Identifier: MIT
/*
 * queue-worker: takes orders from a POSIX message queue and runs them as a
 * saga of steps. No tracing code.
 *
 *   Order    = Reserve, Charge (fails once, then succeeds), NotifyEmail and
 *              NotifySms in parallel threads, Ship
 *   BadOrder = the same, but Ship fails twice, so Charge and Reserve are
 *              compensated (in reverse order) and the task fails
 *
 * usage: queue-worker QUEUE COUNT [--wait-signal]
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define noinline __attribute__((noinline))

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts))
		;
}

/*
 * One step of a task; `fail` makes it fail. Parallel steps share `together`:
 * each begins its work once all have begun, so that their spans overlap
 * however late the scheduler runs one of their threads. Returns 0 on success.
 */
noinline int execute_step(const char *task_id, const char *step_name, int ms, int fail,
			  pthread_barrier_t *together)
{
	asm volatile("" : : "r"(task_id), "r"(step_name));
	if (together)
		pthread_barrier_wait(together);
	sleep_ms(ms);
	return fail ? -1 : 0;
}

/* Undoes a step that succeeded, when a later step failed for good. */
noinline void compensate_step(const char *task_id, const char *step_name)
{
	asm volatile("" : : "r"(task_id), "r"(step_name));
	sleep_ms(15);
}

struct parallel {
	const char *task_id;
	const char *step;
	int ms;
	pthread_barrier_t *together;
};

static void *parallel_step(void *arg)
{
	struct parallel *p = arg;

	execute_step(p->task_id, p->step, p->ms, 0, p->together);
	return NULL;
}

static int with_retries(const char *id, const char *step, int ms, int failures, int tries)
{
	for (int attempt = 1; attempt <= tries; attempt++) {
		if (execute_step(id, step, ms, attempt <= failures, NULL) == 0)
			return 0;
	}
	return -1;
}

/* Runs one order. Returns 0 when it completed, -1 when it was compensated. */
noinline int run_task(const char *task_id, const char *task_name)
{
	pthread_barrier_t together;
	struct parallel email = {task_id, "NotifyEmail", 40, &together},
			sms = {task_id, "NotifySms", 20, &together};
	int bad = strcmp(task_name, "BadOrder") == 0;
	pthread_t a, b;

	if (with_retries(task_id, "Reserve", 30, 0, 1))
		return -1;
	if (with_retries(task_id, "Charge", 30, 1, 3))
		return -1;
	pthread_barrier_init(&together, NULL, 2);
	pthread_create(&a, NULL, parallel_step, &email);
	pthread_create(&b, NULL, parallel_step, &sms);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	pthread_barrier_destroy(&together);
	if (with_retries(task_id, "Ship", 20, bad ? 2 : 0, 2) == 0)
		return 0;
	compensate_step(task_id, "Charge");
	compensate_step(task_id, "Reserve");
	return -1;
}

/* Handles one message taken from the queue. */
noinline int handle_message(const char *task_id, const char *task_name, const char *queue_name)
{
	asm volatile("" : : "r"(queue_name));
	return run_task(task_id, task_name);
}

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	struct mq_attr attr;
	mqd_t queue;
	int count;

	if (argc < 3) {
		fprintf(stderr, "usage: queue-worker QUEUE COUNT [--wait-signal]\n");
		return 2;
	}
	count = atoi(argv[2]);
	queue = mq_open(argv[1], O_RDONLY | O_CREAT, 0600, NULL);
	if (queue == (mqd_t)-1 || mq_getattr(queue, &attr)) {
		fprintf(stderr, "queue-worker: mq_open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (argc > 3 && !strcmp(argv[3], "--wait-signal")) {
		sigset_t none;

		signal(SIGUSR1, on_usr1);
		sigemptyset(&none);
		while (!go)
			sigsuspend(&none);
	}
	for (int i = 0; i < count; i++) {
		char msg[65536], *sep;
		ssize_t n;

		if ((size_t)attr.mq_msgsize >= sizeof(msg)) {
			fprintf(stderr, "queue-worker: messages of %ld bytes are too large\n",
				(long)attr.mq_msgsize);
			return 1;
		}
		n = mq_receive(queue, msg, sizeof(msg) - 1, NULL);
		if (n < 0) {
			fprintf(stderr, "queue-worker: receive: %s\n", strerror(errno));
			return 1;
		}
		msg[n] = '\0';
		sep = strchr(msg, '|');
		if (!sep)
			continue;
		*sep = '\0';
		handle_message(msg, sep + 1, argv[1]);
	}
	mq_close(queue);
	return 0;
}
