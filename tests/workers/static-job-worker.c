// SPDX-License-Identifier: MIT
/*
 * static-job-worker: the code of libttjob.so linked into an executable of
 * another name, as a vendored or statically linked library is. A spec's
 * `library: libttjob.so` target must find it here too. No tracing code.
 *
 * usage: static-job-worker [N] [--wait-signal]   runs N jobs (default 2), ids 500, 501, ...
 */
#include "../fixtures/libttjob.c"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	int n = 2;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait-signal")) {
			sigset_t none;

			signal(SIGUSR1, on_usr1);
			sigemptyset(&none);
			while (!go)
				sigsuspend(&none);
		} else {
			n = atoi(argv[i]);
		}
	}
	for (int i = 0; i < n; i++)
		ttjob_run(500 + i, "vendored", 20); /* odd ids fail, by design */
	return 0;
}
