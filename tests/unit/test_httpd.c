// SPDX-License-Identifier: MIT
/*
 * The HTTP endpoints, served the way the agent serves them: from an epoll
 * loop on this thread that watches tt_httpd__fd() and calls
 * tt_httpd__run(), while a client thread makes one raw HTTP request.
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

/* ---- providers ----------------------------------------------------------- */

struct provider {
	struct tt_metrics *m;
	pthread_t metrics_thread; /* where the metrics provider last ran */
	int metrics_error;	  /* returned by the metrics provider when set */
	struct tt_health health;
	struct tt_task_info tasks[8];
	int ntasks;
	int metrics_calls;
};

static int provide_metrics(FILE *out, bool openmetrics, void *ctx)
{
	struct provider *p = ctx;
	struct tt_prom_opts o = {.openmetrics = openmetrics};

	p->metrics_calls++;
	p->metrics_thread = pthread_self();
	if (p->metrics_error) {
		fputs("half a body", out);
		return p->metrics_error;
	}
	return tt_prom__write_as(p->m, &o, out);
}

static void provide_health(struct tt_health *h, void *ctx)
{
	struct provider *p = ctx;

	*h = p->health;
}

static void provide_tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
{
	struct provider *p = ctx;

	for (int i = 0; i < p->ntasks; i++)
		emit(&p->tasks[i], emit_ctx);
}

static const struct tt_httpd_providers all_providers = {
	.metrics = provide_metrics,
	.health = provide_health,
	.tasks = provide_tasks,
};

/* ---- a client on another thread, the server on this one ------------------- */

struct response {
	int status;
	char type[128];
	char allow[64];
	const char *body;
	size_t body_len;
	char raw[1 << 18];
	size_t len;
};

struct client {
	uint16_t port;
	const char *request;
	struct response *r;
	int sndbuf; /* SO_SNDBUF of the client's socket; 0: the default */
	int done;   /* eventfd */
	int err;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
	size_t len = strlen(c->request), off = 0;
	uint64_t one = 1;
	ssize_t n;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && c->sndbuf)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &c->sndbuf, sizeof(c->sndbuf));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		c->err = errno;
		goto out;
	}
	while (off < len) {
		n = send(fd, c->request + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			c->err = errno;
			goto out;
		}
		off += (size_t)n;
	}
	while (c->r->len + 1 < sizeof(c->r->raw)) {
		n = read(fd, c->r->raw + c->r->len, sizeof(c->r->raw) - 1 - c->r->len);
		if (n <= 0)
			break;
		c->r->len += (size_t)n;
	}
	c->r->raw[c->r->len] = '\0';
out:
	if (fd >= 0)
		close(fd);
	if (write(c->done, &one, sizeof(one)) != sizeof(one))
		c->err = errno;
	return NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copies the value of header `name` (case-insensitive) into dst. */
static void header(const char *head, const char *name, char *dst, size_t len)
{
	size_t n = strlen(name);

	dst[0] = '\0';
	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
		const char *end;

		if (strncasecmp(l + 2, name, n) || l[2 + n] != ':')
			continue;
		l += 2 + n + 1;
		while (*l == ' ')
			l++;
		end = strstr(l, "\r\n");
		snprintf(dst, len, "%.*s", (int)(end ? end - l : (long)strlen(l)), l);
		return;
	}
}

/*
 * Sends `request` from a client thread (a socket with send buffer `sndbuf`,
 * 0: the default) while this thread runs the event loop the agent runs;
 * returns once the client has the whole response.
 */
static void exchange_with(struct tt_httpd *h, const char *request, int sndbuf, struct response *r)
{
	struct client c = {.port = tt_httpd__port(h), .request = request, .r = r, .sndbuf = sndbuf};
	struct epoll_event ev = {.events = EPOLLIN};
	int epfd = epoll_create1(EPOLL_CLOEXEC), hfd = tt_httpd__fd(h);
	uint64_t deadline = mono_ms() + 5000;
	bool done = false;
	pthread_t t;
	char *sep;

	memset(r, 0, offsetof(struct response, raw));
	r->len = 0;
	c.done = eventfd(0, EFD_CLOEXEC);
	assert_true(epfd >= 0 && hfd >= 0 && c.done >= 0);
	ev.data.fd = hfd;
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_ADD, hfd, &ev), 0);
	ev.data.fd = c.done;
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_ADD, c.done, &ev), 0);
	assert_int_equal(pthread_create(&t, NULL, client_main, &c), 0);
	while (!done) {
		struct epoll_event evs[2];
		int timeout = tt_httpd__timeout_ms(h);
		int n;

		if (timeout < 0 || timeout > 50)
			timeout = 50;
		n = epoll_wait(epfd, evs, 2, timeout);
		assert_true(n >= 0 || errno == EINTR);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == c.done)
				done = true;
		}
		/* on readiness or on timeout, as the agent's loop does */
		assert_int_equal(tt_httpd__run(h), 0);
		if (mono_ms() > deadline)
			fail_msg("no response within 5 s to: %s", request);
	}
	pthread_join(t, NULL);
	close(c.done);
	close(epfd);
	assert_int_equal(c.err, 0);
	assert_true(sscanf(r->raw, "HTTP/1.%*d %d", &r->status) == 1);
	sep = strstr(r->raw, "\r\n\r\n");
	assert_non_null(sep);
	*sep = '\0';
	header(r->raw, "Content-Type", r->type, sizeof(r->type));
	header(r->raw, "Allow", r->allow, sizeof(r->allow));
	r->body = sep + 4;
	r->body_len = r->len - (size_t)(sep + 4 - r->raw);
}

static void exchange(struct tt_httpd *h, const char *request, struct response *r)
{
	exchange_with(h, request, 0, r);
}

static void get(struct tt_httpd *h, const char *path, struct response *r)
{
	char req[512];

	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
	exchange(h, req, r);
}

/* ---- fixtures ------------------------------------------------------------ */

struct fixture {
	struct provider p;
	struct tt_httpd *h;
	struct response r;
};

static int setup_with(void **state, uint32_t window_ms, bool providers)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_httpd_opts o = {.addr = "127.0.0.1:0", .degraded_window_ms = window_ms};
	char err[256];

	assert_non_null(f);
	f->p.m = tt_metrics__new(NULL);
	assert_non_null(f->p.m);
	if (providers)
		o.providers = all_providers;
	o.providers.ctx = &f->p;
	f->h = tt_httpd__new(&o, err, sizeof(err));
	if (!f->h)
		fail_msg("%s", err);
	assert_true(tt_httpd__port(f->h) > 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0, true);
}

static int setup_short_window(void **state)
{
	return setup_with(state, 300, true);
}

static int setup_no_providers(void **state)
{
	return setup_with(state, 0, false);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tt_httpd__free(f->h);
	tt_metrics__free(f->p.m);
	free(f);
	return 0;
}

static void assert_body(const struct response *r, const char *want)
{
	if (r->body_len != strlen(want) || memcmp(r->body, want, r->body_len))
		fail_msg("body:\n%.*s\nwanted:\n%s", (int)r->body_len, r->body, want);
}

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

	f->p.health.probes_attached = 1;
	get(f->h, "/health", &f->r);
	assert_non_null(strstr(f->r.body, "\"status\":\"ok\""));
	f->p.health.spans_dropped = 5;
	f->p.health.events_lost = 1;
	get(f->h, "/health", &f->r);
	assert_non_null(strstr(f->r.body, "\"status\":\"degraded\",\"reasons\":[\"spans dropped "
					  "in the last 300 ms\",\"events lost in the last 300 "
					  "ms\"]"));
	/* the totals stop growing: healthy again once the window has passed */
	usleep(150 * 1000);
	get(f->h, "/health", &f->r);
	assert_non_null(strstr(f->r.body, "\"status\":\"degraded\""));
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
		cmocka_unit_test_setup_teardown(test_own_thread_answers_live_while_the_loop_is_busy,
						setup_own_thread, teardown),
		cmocka_unit_test_setup_teardown(test_own_thread_hands_requests_to_the_loop,
						setup_own_thread, teardown),
		cmocka_unit_test_setup_teardown(test_own_thread_reports_a_stalled_loop,
						setup_own_thread, teardown),
		cmocka_unit_test_setup_teardown(test_own_thread_freed_with_a_request_waiting,
						setup_own_thread, teardown),
	};

	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
