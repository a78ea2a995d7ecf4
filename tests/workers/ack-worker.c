// SPDX-License-Identifier: MIT
/*
 * ack-worker: a producer and a consumer of messages that are acked, nacked
 * or not acked, over a pipe (one key a line). No tracing code. What each
 * message does depends on its key's prefix:
 *
 *   ok-*     header frame, job, ack
 *   fail-*   header frame, job, report_result(key, 3) (the job failed), ack
 *   nack-*   header frame, job, nack
 *   noack-*  header frame, job, and no ack (a failed delivery)
 *
 * The consumer's delivery frame starts before the message's key is known
 * (deliver() reads the line); the key comes with header_frame(). Before
 * the first message it acks nothing ("stray" ack) once.
 *
 * usage: ack-worker produce KEY|sleep:MS... [--wait-signal]   (lines on stdout)
 *        ack-worker consume COUNT [--wait-signal]              (lines on stdin)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define noinline __attribute__((noinline))

static volatile int calls; /* gives each probed function a body of its own */

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts))
		;
}

noinline int publish(const char *key)
{
	asm volatile("" : : "r"(key));
	printf("%s\n", key);
	fflush(stdout);
	return 0;
}

/* The header frame: the message's id and its body's size. */
noinline void header_frame(const char *key, long size)
{
	calls++;
	asm volatile("" : : "r"(key), "r"(size));
}

noinline int run_job(const char *key)
{
	asm volatile("" : : "r"(key));
	sleep_ms(2);
	return 0;
}

/* The job's outcome, reported by the worker's code after the job ran. */
noinline void report_result(const char *key, int rc)
{
	calls++;
	asm volatile("" : : "r"(key), "r"(rc));
}

noinline void basic_ack(const char *key)
{
	calls++;
	asm volatile("" : : "r"(key));
}

noinline void basic_nack(const char *key)
{
	calls++;
	asm volatile("" : : "r"(key));
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One delivery: reads a message and handles it. Returns 0, or -1 at the end of input. */
noinline int deliver(const char *queue)
{
	char key[64];

	asm volatile("" : : "r"(queue));
	if (!fgets(key, sizeof(key), stdin))
		return -1;
	key[strcspn(key, "\n")] = '\0';
	header_frame(key, (long)strlen(key) * 100);
	run_job(key);
	if (starts(key, "fail-")) {
		report_result(key, 3);
		basic_ack(key);
	} else if (starts(key, "nack-")) {
		basic_nack(key);
	} else if (!starts(key, "noack-")) {
		report_result(key, 0);
		basic_ack(key);
	}
	return 0;
}

static void wait_signal(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigwait(&set, &sig);
}

static int usage(void)
{
	fprintf(stderr, "usage: ack-worker produce KEY|sleep:MS... [--wait-signal]\n"
			"       ack-worker consume COUNT [--wait-signal]\n");
	return 2;
}

int main(int argc, char **argv)
{
	int wait = argc > 2 && strcmp(argv[argc - 1], "--wait-signal") == 0;
	sigset_t set;

	if (argc < 3)
		return usage();
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (wait) {
		argc--;
		wait_signal();
	}
	if (strcmp(argv[1], "produce") == 0) {
		for (int i = 2; i < argc; i++) {
			if (starts(argv[i], "sleep:"))
				sleep_ms(atoi(argv[i] + 6));
			else
				publish(argv[i]);
		}
		return 0;
	}
	if (strcmp(argv[1], "consume") == 0) {
		int n = atoi(argv[2]);

		basic_ack("stray"); /* no delivery open: counted, not an error */
		for (int i = 0; i < n; i++) {
			if (deliver("acks"))
				return 1;
		}
		return 0;
	}
	return usage();
}
