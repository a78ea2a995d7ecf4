// SPDX-License-Identifier: MIT
/*
 * The HTTP endpoints, served the way the agent serves them: from an epoll
 * loop on this thread that watches tt_httpd__fd() and calls
 * tt_httpd__run(), while a client thread makes one raw HTTP request
 * (httpd_fixture.h). The server on a thread of its own is tested in
 * test_httpd_thread.c.
 *
 * `test_httpd --serve ADDR` instead runs a small server of synthetic
 * metrics until SIGTERM, printing "port N" once it listens: something to
 * point a Prometheus at by hand (tests/e2e/test_prometheus.py scrapes the
 * real agent).
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

/* ---- addresses ----------------------------------------------------------- */

static void test_parse_addr(void **state)
{
	static const struct {
		const char *addr;
		bool allow;
		int ret;
		int family;
		uint16_t port;
	} cases[] = {
		{"127.0.0.1:9464", false, 0, AF_INET, 9464},
		{"9464", false, 0, AF_INET, 9464},
		{":9000", false, 0, AF_INET, 9000},
		{"127.1.2.3:80", false, 0, AF_INET, 80},
		{"[::1]:9464", false, 0, AF_INET6, 9464},
		{"localhost:1", false, 0, AF_INET, 1},
		{"0.0.0.0:9464", false, -EPERM, 0, 0},
		{"[::]:9464", false, -EPERM, 0, 0},
		{"0.0.0.0:9464", true, 0, AF_INET, 9464},
		{"::1:80", false, -EINVAL, 0, 0},
		{"127.0.0.1", false, -EINVAL, 0, 0},
		{"127.0.0.1:", false, -EINVAL, 0, 0},
		{"127.0.0.1:70000", false, -EINVAL, 0, 0},
		{"127.0.0.1:-1", false, -EINVAL, 0, 0},
		{"127.0.0.1:80x", false, -EINVAL, 0, 0},
		{"[::1:80", false, -EINVAL, 0, 0},
		{"example.com:80", false, -EINVAL, 0, 0}, /* no DNS */
	};
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = tt_httpd__parse_addr(cases[i].addr, cases[i].allow, &ss, &len, err,
					       sizeof(err));

		if (ret != cases[i].ret)
			fail_msg("'%s': %d, wanted %d (%s)", cases[i].addr, ret, cases[i].ret, err);
		if (ret) {
			assert_non_null(strstr(err, cases[i].addr));
			continue;
		}
		if (cases[i].family)
			assert_int_equal(ss.ss_family, cases[i].family);
		assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), cases[i].port);
	}
	assert_int_equal(tt_httpd__parse_addr(NULL, false, &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9464);
	assert_int_equal(tt_httpd__parse_addr("0.0.0.0:1", false, &ss, &len, err, sizeof(err)),
			 -EPERM);
	assert_non_null(strstr(err, "not a loopback address"));
	assert_non_null(strstr(err, "--http-allow-remote"));
}

static void test_port_in_use(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct tt_httpd_opts o = {0};
	char addr[64], err[256];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	o.addr = addr;
	errno = 0;
	assert_null(tt_httpd__new(&o, err, sizeof(err)));
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(strstr(err, addr));
	assert_non_null(strstr(err, "already in use"));
	close(fd);
}

static void test_remote_refused_unless_allowed(void **state)
{
	struct tt_httpd_opts o = {.addr = "0.0.0.0:0"};
	struct tt_httpd *h;
	char err[256];

	errno = 0;
	assert_null(tt_httpd__new(&o, err, sizeof(err)));
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(err, "not a loopback address"));
	o.allow_remote = true;
	h = tt_httpd__new(&o, err, sizeof(err));
	assert_non_null(h);
	tt_httpd__free(h);
	tt_httpd__free(NULL);
}

/* ---- endpoints ----------------------------------------------------------- */

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

static void test_metrics(void **state)
{
	struct fixture *f = *state;
	struct tt_agent_stats st = {.events_received = 77};

	tt_metrics__set_agent(f->p.m, &st);
	get(f->h, "/metrics", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_string_equal(f->r.type, TT_PROM_CONTENT_TYPE);
	assert_non_null(strstr(f->r.body, "# TYPE tasktap_event_received_total counter\n"
					  "tasktap_event_received_total 77\n"));
	assert_int_equal(f->p.metrics_calls, 1);
}

/* An OpenMetrics Accept gets OpenMetrics: its content type, counter families, # EOF. */
static void test_metrics_openmetrics(void **state)
{
	struct fixture *f = *state;
	struct tt_agent_stats st = {.events_received = 5};
	char req[512];

	tt_metrics__set_agent(f->p.m, &st);
	snprintf(req, sizeof(req),
		 "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: "
		 "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
		 "Connection: close\r\n\r\n");
	exchange(f->h, req, &f->r);
	assert_int_equal(f->r.status, 200);
	assert_string_equal(f->r.type, TT_OPENMETRICS_CONTENT_TYPE);
	assert_non_null(strstr(f->r.body, "# TYPE tasktap_event_received counter\n"
					  "tasktap_event_received_total 5\n"));
	/* the last line */
	assert_true(strlen(f->r.body) > 6);
	assert_string_equal(f->r.body + strlen(f->r.body) - 7, "\n# EOF\n");
}

static void test_metrics_error_is_500_without_half_a_body(void **state)
{
	struct fixture *f = *state;

	f->p.metrics_error = -ENOMEM;
	get(f->h, "/metrics", &f->r);
	assert_int_equal(f->r.status, 500);
	assert_string_equal(f->r.type, "text/plain; charset=utf-8");
	assert_body(&f->r, "cannot write metrics: Cannot allocate memory\n");
}

static void test_health_ok(void **state)
{
	struct fixture *f = *state;

	f->p.health = (struct tt_health){.probes_attached = 2,
					 .exporter = "ok",
					 .queue_size = 5,
					 .spool_bytes = 4096,
					 .open_spans = 3};
	get(f->h, "/health", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_string_equal(f->r.type, "application/json");
	assert_body(&f->r, "{\"status\":\"ok\",\"reasons\":[],\"probes_attached\":2,"
			   "\"exporter\":\"ok\",\"queue_size\":5,\"spool_bytes\":4096,"
			   "\"events_lost\":0,\"spans_dropped\":0,\"open_spans\":3,"
			   "\"stuck_tasks\":0}\n");
}

static void test_health_degraded_by_stuck_tasks_and_provider(void **state)
{
	struct fixture *f = *state;

	f->p.health = (struct tt_health){
		.probes_attached = 1, .stuck_tasks = 2, .degraded = "collector \"down\": spooling"};
	get(f->h, "/health", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_body(&f->r, "{\"status\":\"degraded\",\"reasons\":[\"2 tasks stuck\","
			   "\"collector \\\"down\\\": spooling\"],\"probes_attached\":1,"
			   "\"exporter\":\"none\",\"queue_size\":0,\"spool_bytes\":0,"
			   "\"events_lost\":0,\"spans_dropped\":0,\"open_spans\":0,"
			   "\"stuck_tasks\":2}\n");
}

static void test_health_degraded_while_spans_are_dropped(void **state)
{
	struct fixture *f = *state;

	uint64_t before;

	f->p.health.probes_attached = 1;
	get(f->h, "/health", &f->r);
	assert_non_null(strstr(f->r.body, "\"status\":\"ok\""));
	f->p.health.spans_dropped = 5;
	f->p.health.events_lost = 1;
	before = tt_now_ns(CLOCK_MONOTONIC); /* the server sees the drops after this */
	get(f->h, "/health", &f->r);
	assert_non_null(strstr(f->r.body, "\"status\":\"degraded\",\"reasons\":[\"spans dropped "
					  "in the last 300 ms\",\"events lost in the last 300 "
					  "ms\"]"));
	/*
	 * The totals stop growing: still degraded within the window. The
	 * answer came before the get returned, so it was inside the window
	 * when the get returned within 300 ms of `before`; a loaded machine
	 * may hold this thread longer (CI at 16:13), and then the answer
	 * may rightly be either.
	 */
	usleep(150 * 1000);
	get(f->h, "/health", &f->r);
	if (tt_now_ns(CLOCK_MONOTONIC) - before < 300 * 1000000ULL)
		assert_non_null(strstr(f->r.body, "\"status\":\"degraded\""));
	/* healthy again once the window has passed (450 ms after the drops) */
	usleep(300 * 1000);
	get(f->h, "/health", &f->r);
	assert_non_null(strstr(f->r.body, "\"status\":\"ok\""));
	assert_non_null(strstr(f->r.body, "\"spans_dropped\":5"));
	f->p.health.spans_dropped = 6;
	get(f->h, "/health", &f->r);
	assert_non_null(strstr(f->r.body, "\"reasons\":[\"spans dropped in the last 300 ms\"]"));
}

static void test_live_and_ready(void **state)
{
	struct fixture *f = *state;

	get(f->h, "/health/live", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_body(&f->r, "ok\n");
	get(f->h, "/health/ready", &f->r);
	assert_int_equal(f->r.status, 503);
	assert_body(&f->r, "not ready: no probes attached\n");
	f->p.health.probes_attached = 3;
	get(f->h, "/health/ready", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_body(&f->r, "ready\n");
}

static void test_tasks(void **state)
{
	struct fixture *f = *state;

	f->p.tasks[0] = (struct tt_task_info){.name = "CreateZip",
					      .name_len = 9,
					      .id = "42",
					      .id_len = 2,
					      .pid = 100,
					      .age_seconds = 3600.5,
					      .step = "Upload",
					      .step_len = 6};
	f->p.tasks[1] = (struct tt_task_info){.name = "Odd\"name\n",
					      .name_len = 9,
					      .id = "7x",
					      .id_len = 1,
					      .pid = 101,
					      .age_seconds = 0.25};
	f->p.tasks[2] = (struct tt_task_info){.pid = 102};
	f->p.ntasks = 3;
	get(f->h, "/tasks", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_string_equal(f->r.type, "application/json");
	assert_body(&f->r, "{\"tasks\":[{\"name\":\"CreateZip\",\"id\":\"42\",\"pid\":100,"
			   "\"age_seconds\":3600.500,\"step\":\"Upload\"},"
			   "{\"name\":\"Odd\\\"name\\n\",\"id\":\"7\",\"pid\":101,"
			   "\"age_seconds\":0.250,\"step\":null},"
			   "{\"name\":\"\",\"id\":\"\",\"pid\":102,\"age_seconds\":0.000,"
			   "\"step\":null}],\"count\":3,\"truncated\":false}\n");
	get(f->h, "/tasks?limit=1", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_non_null(strstr(f->r.body, "\"step\":\"Upload\"}],\"count\":3,\"truncated\":true}"));
	get(f->h, "/tasks?limit=0", &f->r);
	assert_body(&f->r, "{\"tasks\":[],\"count\":3,\"truncated\":true}\n");
	get(f->h, "/tasks?limit=many", &f->r);
	assert_int_equal(f->r.status, 400);
	get(f->h, "/tasks?limit=-1", &f->r);
	assert_int_equal(f->r.status, 400);
}

static void test_not_found_and_methods(void **state)
{
	struct fixture *f = *state;

	get(f->h, "/nope", &f->r);
	assert_int_equal(f->r.status, 404);
	assert_non_null(strstr(f->r.body, "/metrics"));
	get(f->h, "/metrics/", &f->r);
	assert_int_equal(f->r.status, 404);
	exchange(f->h,
		 "POST /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		 "Content-Length: 3\r\n\r\nabc",
		 &f->r);
	assert_int_equal(f->r.status, 405);
	assert_string_equal(f->r.allow, "GET, HEAD");
	exchange(f->h, "HEAD /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		 &f->r);
	assert_int_equal(f->r.status, 200);
	assert_int_equal(f->r.body_len, 0);
	/* HTTP/1.0 without a Host header works too (curl -0, simple probes) */
	exchange(f->h, "GET /health/live HTTP/1.0\r\n\r\n", &f->r);
	assert_int_equal(f->r.status, 200);
	assert_body(&f->r, "ok\n");
}

static void test_missing_providers_answer_503(void **state)
{
	struct fixture *f = *state;
	static const char *const paths[] = {"/metrics", "/health", "/tasks", "/health/ready"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		get(f->h, paths[i], &f->r);
		assert_int_equal(f->r.status, 503);
	}
	get(f->h, "/health/live", &f->r);
	assert_int_equal(f->r.status, 200);
}

/* Served on this thread only: the server starts no thread of its own. */
static void test_no_thread_and_many_requests(void **state)
{
	struct fixture *f = *state;
	int before = count_threads();

	for (int i = 0; i < 50; i++) {
		get(f->h, i % 2 ? "/metrics" : "/health/live", &f->r);
		assert_int_equal(f->r.status, 200);
	}
	assert_int_equal(count_threads(), before);
	assert_int_equal(before, 1);
}

/* ---- hostile clients (issue 12, item 4) ------------------------------------ */

/* Counts the lines of `f` that contain `what`. */
static int count_lines(FILE *f, const char *what)
{
	char line[512];
	int n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	return n;
}

/*
 * More slow clients than the server has descriptors for, each holding a
 * request it never finishes: a new client is still answered, at once (a
 * new connection drops the oldest waiting one), not after any timeout.
 * The drops do not flood stderr: at most 10 server messages a minute.
 */
static void test_slow_clients_leave_a_slot(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(tt_httpd__port(f->h))};
	static const char partial[] = "GET /health/live HTTP/1.1\r\nX-Slow: 1\r\n";
	FILE *err = tmpfile();
	int fds[70], saved = dup(2);

	assert_non_null(err);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fileno(err), 2), 2);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(write(fds[i], partial, strlen(partial)), (ssize_t)strlen(partial));
		assert_int_equal(tt_httpd__run(f->h), 0);
	}
	for (int i = 0; i < 10; i++)
		assert_int_equal(tt_httpd__run(f->h), 0);
	get(f->h, "/health/live", &f->r);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(f->r.status, 200);
	assert_body(&f->r, "ok\n");
	assert_int_equal(count_lines(err, "tasktap: http: "), 10);
	fclose(err);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close(fds[i]);
}

/*
 * A request too big to read gets its error status, read by a client that
 * sends it all before it reads: the server drains the rest instead of
 * resetting the connection under it. A small send buffer keeps the request
 * from fitting in the kernel's buffers, as over a real network.
 */
static void test_huge_url_and_headers_are_answered(void **state)
{
	struct fixture *f = *state;
	size_t sizes[] = {64 << 10, 1 << 20, 1 << 20};
	char *req = malloc((1 << 20) + 256);

	assert_non_null(req);
	for (size_t i = 0; i < 3; i++) {
		int sndbuf = i == 2 ? 4096 : 0;
		int n = sprintf(req, "GET /health/live?");

		memset(req + n, 'a', sizes[i]);
		sprintf(req + n + sizes[i], " HTTP/1.1\r\nHost: localhost\r\n\r\n");
		exchange_with(f->h, req, sndbuf, &f->r);
		if (f->r.status != 414 && f->r.status != 400)
			fail_msg("URL of %zu bytes: status %d", sizes[i], f->r.status);
		n = sprintf(req, "GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Big: ");
		memset(req + n, 'a', sizes[i]);
		sprintf(req + n + sizes[i], "\r\n\r\n");
		exchange_with(f->h, req, sndbuf, &f->r);
		if (f->r.status != 431 && f->r.status != 400)
			fail_msg("header of %zu bytes: status %d", sizes[i], f->r.status);
	}
	free(req);
	get(f->h, "/health/live", &f->r);
	assert_int_equal(f->r.status, 200);
}

static void test_host_must_name_this_server(void **state)
{
	struct fixture *f = *state;
	static const char *const refused[] = {"evil.example", "evil.example:9464",
					      "10.0.0.1",     "127.0.0.1.evil.example",
					      "[::2]:80",     ""};
	static const char *const served[] = {"localhost",    "LocalHost:1", "127.0.0.1",
					     "127.1.2.3:80", "[::1]",	    "[::1]:9464"};
	char req[256];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(req, sizeof(req),
			 "GET /health/live HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
			 refused[i]);
		exchange(f->h, req, &f->r);
		if (f->r.status != 421)
			fail_msg("Host '%s': status %d", refused[i], f->r.status);
		assert_non_null(strstr(f->r.body, "Host"));
	}
	for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
		snprintf(req, sizeof(req),
			 "GET /health/live HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
			 served[i]);
		exchange(f->h, req, &f->r);
		if (f->r.status != 200)
			fail_msg("Host '%s': status %d", served[i], f->r.status);
	}
}

/* ---- --serve: a small server for the Prometheus end-to-end test ----------- */

/* The agent's loop in miniature: signals, a 100 ms tick that makes spans, HTTP. */
static int serve(const char *addr)
{
	struct tt_metrics *m = tt_metrics__new(NULL);
	struct provider p = {.m = m, .health = {.probes_attached = 1, .exporter = "console"}};
	struct tt_httpd_opts o = {.addr = addr, .providers = all_providers};
	struct fake_probe task, step;
	struct tt_agent_stats st = {.probes_attached = 1};
	struct epoll_event ev = {.events = EPOLLIN};
	struct tt_httpd *h;
	char err[256];
	sigset_t mask;
	int epfd, sfd, hfd;
	uint64_t next = 0;

	o.providers.ctx = &p;
	h = m ? tt_httpd__new(&o, err, sizeof(err)) : NULL;
	if (!h) {
		fprintf(stderr, "test_httpd: %s\n", m ? err : "out of memory");
		return 1;
	}
	fake_probe__one(&task, TT_ROLE_TASK, "fn", "task.name", "CreateZip");
	fake_probe__one(&step, TT_ROLE_STEP, "fn", "step.name", "Upload");
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	hfd = tt_httpd__fd(h);
	ev.data.fd = hfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, hfd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	printf("port %u\n", tt_httpd__port(h));
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[2];
		int timeout = tt_httpd__timeout_ms(h);
		int n;

		if (timeout < 0 || timeout > 100)
			timeout = 100;
		n = epoll_wait(epfd, evs, 2, timeout);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd)
				goto out;
		}
		if (mono_ms() >= next) {
			next = mono_ms() + 100;
			fake_feed(m, &task, "CreateZip", 0.5, false, 0);
			fake_feed(m, &step, "CreateZip.Upload", 0.12, st.events_received % 3 == 0,
				  1);
			st.events_received += 4;
			st.open_spans = 1;
			tt_metrics__set_agent(m, &st);
		}
		tt_httpd__run(h);
	}
out:
	tt_httpd__free(h);
	tt_metrics__free(m);
	close(sfd);
	close(epfd);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_remote_refused_unless_allowed),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_openmetrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_error_is_500_without_half_a_body,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_degraded_by_stuck_tasks_and_provider,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_degraded_while_spans_are_dropped,
						setup_short_window, teardown),
		cmocka_unit_test_setup_teardown(test_live_and_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found_and_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_providers_answer_503,
						setup_no_providers, teardown),
		cmocka_unit_test_setup_teardown(test_no_thread_and_many_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_clients_leave_a_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_url_and_headers_are_answered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_host_must_name_this_server, setup, teardown),
	};

	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
