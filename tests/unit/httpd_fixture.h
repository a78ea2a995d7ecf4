/* SPDX-License-Identifier: MIT */
/*
 * httpd_fixture.h: what the HTTP server's tests (test_httpd*.c) share:
 * providers of synthetic metrics, health and tasks; a client on another
 * thread that makes one raw request while this thread serves; a server
 * made and freed around each test.
 */
#ifndef TASKTAP_TEST_HTTPD_FIXTURE_H
#define TASKTAP_TEST_HTTPD_FIXTURE_H

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

static inline int provide_metrics(FILE *out, bool openmetrics, void *ctx)
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

static inline void provide_health(struct tt_health *h, void *ctx)
{
	struct provider *p = ctx;

	*h = p->health;
}

static inline void provide_tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
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

static inline void *client_main(void *arg)
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

static inline uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copies the value of header `name` (case-insensitive) into dst. */
static inline void header(const char *head, const char *name, char *dst, size_t len)
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
static inline void exchange_with(struct tt_httpd *h, const char *request, int sndbuf,
				 struct response *r)
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

static inline void exchange(struct tt_httpd *h, const char *request, struct response *r)
{
	exchange_with(h, request, 0, r);
}

static inline void get(struct tt_httpd *h, const char *path, struct response *r)
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

static inline int setup_with(void **state, uint32_t window_ms, bool providers)
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

static inline int setup(void **state)
{
	return setup_with(state, 0, true);
}

static inline int setup_short_window(void **state)
{
	return setup_with(state, 300, true);
}

static inline int setup_no_providers(void **state)
{
	return setup_with(state, 0, false);
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;

	tt_httpd__free(f->h);
	tt_metrics__free(f->p.m);
	free(f);
	return 0;
}

static inline void assert_body(const struct response *r, const char *want)
{
	if (r->body_len != strlen(want) || memcmp(r->body, want, r->body_len))
		fail_msg("body:\n%.*s\nwanted:\n%s", (int)r->body_len, r->body, want);
}

#endif /* TASKTAP_TEST_HTTPD_FIXTURE_H */
