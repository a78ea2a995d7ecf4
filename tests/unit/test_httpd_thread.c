// SPDX-License-Identifier: MIT
/*
 * The HTTP server on a thread of its own (own_thread): /health/live
 * answered while the event loop is busy, other requests handed to the loop,
 * a stalled loop reported, the server freed with a request waiting.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_spans.h"
#include "assemble.h"
#include "helpers.h"
#include "export/httpd.h"
#include "export/metrics.h"
#include "export/prom.h"
#include "spec.h"

#include "httpd_fixture.h"

/* ---- own_thread: the server's thread, and the loop on this one -------------- */

/* A client on its own thread; this thread plays the agent's event loop, or not. */
struct pending_client {
	struct client c;
	pthread_t t;
	char req[256];
	struct response r;
};

static void client_start(struct pending_client *pc, struct tt_httpd *h, const char *path)
{
	memset(pc, 0, offsetof(struct pending_client, r));
	pc->r.len = 0;
	snprintf(pc->req, sizeof(pc->req),
		 "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
	pc->c = (struct client){.port = tt_httpd__port(h), .request = pc->req, .r = &pc->r};
	pc->c.done = eventfd(0, EFD_CLOEXEC);
	assert_true(pc->c.done >= 0);
	assert_int_equal(pthread_create(&pc->t, NULL, client_main, &pc->c), 0);
}

/* Whether fd is readable within ms milliseconds. */
static bool readable(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, ms) == 1;
}

/* Waits (at most 5 s) for the client's whole answer and parses it. */
static void client_finish(struct pending_client *pc)
{
	char *sep;

	if (!readable(pc->c.done, 5000))
		fail_msg("no answer within 5 s to: %s", pc->c.request);
	pthread_join(pc->t, NULL);
	close(pc->c.done);
	assert_int_equal(pc->c.err, 0);
	assert_true(sscanf(pc->r.raw, "HTTP/1.%*d %d", &pc->r.status) == 1);
	sep = strstr(pc->r.raw, "\r\n\r\n");
	assert_non_null(sep);
	*sep = '\0';
	header(pc->r.raw, "Content-Type", pc->r.type, sizeof(pc->r.type));
	pc->r.body = sep + 4;
	pc->r.body_len = pc->r.len - (size_t)(sep + 4 - pc->r.raw);
}

static int setup_own_thread(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_httpd_opts o = {.addr = "127.0.0.1:0",
				  .providers = all_providers,
				  .own_thread = true,
				  .loop_wait_ms = 300};
	char err[256];

	assert_non_null(f);
	f->p.m = tt_metrics__new(NULL);
	assert_non_null(f->p.m);
	f->p.health = (struct tt_health){.probes_attached = 3, .exporter = "console"};
	o.providers.ctx = &f->p;
	f->h = tt_httpd__new(&o, err, sizeof(err));
	if (!f->h)
		fail_msg("%s", err);
	*state = f;
	return 0;
}

/* /health/live is answered while the loop never looks at the server: it is busy elsewhere. */
static void test_own_thread_answers_live_while_the_loop_is_busy(void **state)
{
	struct fixture *f = *state;
	struct pending_client pc;

	for (int i = 0; i < 3; i++) {
		client_start(&pc, f->h, "/health/live");
		client_finish(&pc);
		assert_int_equal(pc.r.status, 200);
		assert_body(&pc.r, "ok\n");
	}
	assert_false(readable(tt_httpd__requests_fd(f->h), 0)); /* nothing asked of the loop */
}

/* /metrics waits for the loop, and its provider runs on the loop's thread. */
static void test_own_thread_hands_requests_to_the_loop(void **state)
{
	struct fixture *f = *state;
	struct pending_client pc;

	tt_httpd__progress(f->h, 1);
	client_start(&pc, f->h, "/metrics");
	if (!readable(tt_httpd__requests_fd(f->h), 5000))
		fail_msg("the request never reached the loop");
	assert_int_equal(f->p.metrics_calls, 0);
	assert_false(readable(pc.c.done, 0)); /* suspended until the loop answers */
	tt_httpd__answer(f->h);
	client_finish(&pc);
	assert_int_equal(pc.r.status, 200);
	assert_int_equal(f->p.metrics_calls, 1);
	assert_true(pthread_equal(f->p.metrics_thread, pthread_self()));
	assert_non_null(strstr(pc.r.body, "tasktap_"));
	/* /health answered by the loop says how it goes */
	client_start(&pc, f->h, "/health");
	assert_true(readable(tt_httpd__requests_fd(f->h), 5000));
	tt_httpd__progress(f->h, tt_now_ns(CLOCK_MONOTONIC));
	tt_httpd__answer(f->h);
	client_finish(&pc);
	assert_int_equal(pc.r.status, 200);
	assert_non_null(strstr(pc.r.body, "\"status\":\"ok\""));
	assert_non_null(strstr(pc.r.body, "\"loop_last_progress_seconds\":"));
	assert_non_null(strstr(pc.r.body, "\"loop_longest_stall_seconds\":"));
}

/* A loop that never answers: /health says so (503, unhealthy), the others 503 too. */
static void test_own_thread_reports_a_stalled_loop(void **state)
{
	struct fixture *f = *state;
	struct pending_client health, tasks;

	client_start(&health, f->h, "/health");
	client_start(&tasks, f->h, "/tasks");
	client_finish(&health); /* after loop_wait_ms (300 ms), from the server's thread */
	client_finish(&tasks);
	assert_int_equal(health.r.status, 503);
	assert_string_equal(health.r.type, "application/json");
	assert_non_null(strstr(health.r.body, "\"status\":\"unhealthy\""));
	assert_non_null(strstr(health.r.body, "the event loop has made no progress for"));
	assert_int_equal(tasks.r.status, 503);
	assert_non_null(strstr(tasks.r.body, "the event loop has made no progress"));
	assert_int_equal(f->p.metrics_calls, 0);
	/* the loop catches up later: nothing is left for it */
	tt_httpd__answer(f->h);
	assert_int_equal(f->p.metrics_calls, 0);
}

/* Freed with a request still waiting: answered or closed, never a hang or an abort. */
static void test_own_thread_freed_with_a_request_waiting(void **state)
{
	struct fixture *f = *state;
	struct pending_client pc;

	client_start(&pc, f->h, "/tasks");
	assert_true(readable(tt_httpd__requests_fd(f->h), 5000));
	tt_httpd__free(f->h);
	f->h = NULL;
	assert_true(readable(pc.c.done, 5000));
	pthread_join(pc.t, NULL);
	close(pc.c.done);
	assert_true(pc.r.len == 0 || strstr(pc.r.raw, " 503 ") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_own_thread_answers_live_while_the_loop_is_busy,
						setup_own_thread, teardown),
		cmocka_unit_test_setup_teardown(test_own_thread_hands_requests_to_the_loop,
						setup_own_thread, teardown),
		cmocka_unit_test_setup_teardown(test_own_thread_reports_a_stalled_loop,
						setup_own_thread, teardown),
		cmocka_unit_test_setup_teardown(test_own_thread_freed_with_a_request_waiting,
						setup_own_thread, teardown),
	};

	return cmocka_run_group_tests_name("httpd_thread", tests, NULL, NULL);
}
