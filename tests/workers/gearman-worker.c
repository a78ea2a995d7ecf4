// SPDX-License-Identifier: MIT
/*
 * gearman-worker: a Gearman worker and client on libgearman (Debian 12's
 * 1.1.20), with no tracing code, for recipes/gearman.yaml's end-to-end test.
 *
 *   gearman-worker work PORT FUNCTION N
 *   gearman-worker do|do_high|do_low|bg|bg_high|bg_low PORT FUNCTION UNIQUE WORKLOAD
 *
 * work runs N jobs of FUNCTION (a v1 function, as the PHP extension
 * registers them), each as its workload says: "ok" completes it,
 * "fail" calls gearman_job_send_fail() and "exception" calls
 * gearman_job_send_exception() (PHP's sendFail() and sendException()),
 * then the function returns GEARMAN_SUCCESS all the same, as PHP's does. It
 * prints "ready" once registered and "HANDLE UNIQUE WORKLOAD" per job.
 * The client modes submit one job with gearman_client_do*() (foreground:
 * waits for the result; the client asks for exceptions) or
 * gearman_client_do*_background() ("-" as UNIQUE lets libgearman make one)
 * and print "RET" and, in the background, the job handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libgearman-1.0/gearman.h>

static void *run(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret)
{
	const char *w = gearman_job_workload(job);
	size_t n = gearman_job_workload_size(job);

	(void)context;
	printf("%s %s %.*s\n", gearman_job_handle(job), gearman_job_unique(job), (int)n, w);
	fflush(stdout);
	*result_size = 0;
	*ret = GEARMAN_SUCCESS;
	if (n == 4 && memcmp(w, "fail", 4) == 0)
		gearman_job_send_fail(job);
	else if (n == 9 && memcmp(w, "exception", 9) == 0)
		gearman_job_send_exception(job, "boom", 4);
	return NULL;
}

static int work(int port, const char *function, int n)
{
	gearman_worker_st *w = gearman_worker_create(NULL);

	if (!w || gearman_worker_add_server(w, "127.0.0.1", (in_port_t)port) != GEARMAN_SUCCESS ||
	    gearman_worker_add_function(w, function, 0, run, NULL) != GEARMAN_SUCCESS) {
		fprintf(stderr, "gearman-worker: cannot register '%s'\n", function);
		return 1;
	}
	if (gearman_worker_echo(w, "x", 1) != GEARMAN_SUCCESS) {
		fprintf(stderr, "gearman-worker: cannot reach gearmand: %s\n", gearman_worker_error(w));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		gearman_return_t rc = gearman_worker_work(w);

		if (rc != GEARMAN_SUCCESS) {
			fprintf(stderr, "gearman-worker: %s\n", gearman_strerror(rc));
			return 1;
		}
	}
	gearman_worker_free(w);
	return 0;
}

static int submit(const char *mode, int port, const char *function, const char *unique,
		  const char *workload)
{
	gearman_client_st *c = gearman_client_create(NULL);
	char handle[GEARMAN_JOB_HANDLE_SIZE] = "";
	gearman_return_t rc = GEARMAN_SUCCESS;
	size_t len = strlen(workload), result_size = 0;
	void *result = NULL;

	if (strcmp(unique, "-") == 0)
		unique = NULL;
	if (!c || gearman_client_add_server(c, "127.0.0.1", (in_port_t)port) != GEARMAN_SUCCESS)
		return 1;
	/* gearmand ends a job on WORK_EXCEPTION only for clients that ask for exceptions */
	gearman_client_add_options(c, GEARMAN_CLIENT_EXCEPTION);
	if (strcmp(mode, "do") == 0)
		result = gearman_client_do(c, function, unique, workload, len, &result_size, &rc);
	else if (strcmp(mode, "do_high") == 0)
		result = gearman_client_do_high(c, function, unique, workload, len, &result_size,
						&rc);
	else if (strcmp(mode, "do_low") == 0)
		result = gearman_client_do_low(c, function, unique, workload, len, &result_size,
					       &rc);
	else if (strcmp(mode, "bg") == 0)
		rc = gearman_client_do_background(c, function, unique, workload, len, handle);
	else if (strcmp(mode, "bg_high") == 0)
		rc = gearman_client_do_high_background(c, function, unique, workload, len, handle);
	else if (strcmp(mode, "bg_low") == 0)
		rc = gearman_client_do_low_background(c, function, unique, workload, len, handle);
	else
		return 2;
	printf("%d %s\n", (int)rc, handle);
	free(result);
	gearman_client_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "work") == 0)
		return work((int)strtol(argv[2], NULL, 10), argv[3], (int)strtol(argv[4], NULL, 10));
	if (argc == 6)
		return submit(argv[1], (int)strtol(argv[2], NULL, 10), argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: gearman-worker work PORT FUNCTION N\n"
			"       gearman-worker do|do_high|do_low|bg|bg_high|bg_low PORT FUNCTION "
			"UNIQUE WORKLOAD\n");
	return 2;
}
