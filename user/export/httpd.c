// SPDX-License-Identifier: MIT
/*
 * HTTP endpoints on libmicrohttpd in "external epoll" mode: MHD keeps its
 * sockets in an epoll set of its own, inside the guard's, and does its work
 * only inside tt_httpd__run(): called by the server's own thread (which
 * waits on the guard's fd), or by the caller. The listening socket is made
 * here, not by MHD, so that a taken port is reported as EADDRINUSE.
 *
 * With a thread of its own (own_thread): httpd_thread.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "helpers.h"
#include "log.h"
#include "export/httpd.h"
#include "export/httpguard.h"
#include "export/httpd_internal.h"
#include "export/jsonw.h"
#include "export/prom.h"

/* ---- addresses ----------------------------------------------------------- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		const uint8_t *a = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		/* ::ffff:127.x.y.z */
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
	}
	return false;
}

/* Splits "HOST:PORT", "[V6]:PORT" or "PORT" into host (hostlen bytes) and port. */
static int split_addr(const char *addr, char *host, size_t hostlen, unsigned long *port)
{
	const char *p, *h = "", *end;
	size_t hl = 0;
	char *stop;

	if (addr[0] == '[') {
		end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h = addr + 1;
		hl = (size_t)(end - h);
		p = end + 2;
	} else if ((end = strrchr(addr, ':'))) {
		if (memchr(addr, ':', (size_t)(end - addr)))
			return -EINVAL; /* a bare IPv6 address: ambiguous */
		h = addr;
		hl = (size_t)(end - addr);
		p = end + 1;
	} else {
		p = addr;
	}
	if (hl == 0) {
		h = "127.0.0.1";
		hl = strlen(h);
	}
	if (hl >= hostlen || *p < '0' || *p > '9')
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	*port = strtoul(p, &stop, 10);
	if (errno || *stop || *port > 65535)
		return -EINVAL;
	return 0;
}

int tt_httpd__parse_addr(const char *addr, bool allow_remote, struct sockaddr_storage *ss,
			 socklen_t *sslen, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *res = NULL;
	char host[256];
	unsigned long port;
	int ret;

	if (!addr)
		addr = TT_HTTPD_DEFAULT_ADDR;
	if (split_addr(addr, host, sizeof(host), &port)) {
		snprintf(err, errlen,
			 "invalid HTTP address '%s': expected HOST:PORT, [IPV6]:PORT or PORT",
			 addr);
		return -EINVAL;
	}
	/* numeric addresses only: starting the agent must not wait on DNS */
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	ret = getaddrinfo(host, NULL, &hints, &res);
	if (ret) {
		snprintf(err, errlen,
			 "invalid HTTP address '%s': expected a numeric IP address or localhost",
			 addr);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	if (!allow_remote && !is_loopback(ss)) {
		snprintf(err, errlen,
			 "refusing to serve HTTP on '%s': not a loopback address, and the "
			 "endpoints have no authentication (allow it with --http-allow-remote)",
			 addr);
		return -EPERM;
	}
	return 0;
}

/* Returns a listening socket on `addr`, or -errno with a message in err. */
static int listen_on(const char *addr, bool allow_remote, uint16_t *port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, ret;

	ret = tt_httpd__parse_addr(addr, allow_remote, &ss, &len, err, errlen);
	if (ret)
		return ret;
	if (!addr)
		addr = TT_HTTPD_DEFAULT_ADDR;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot serve HTTP on '%s': %s", addr, strerror(-ret));
		return ret;
	}
	/* a restarted agent must not wait for its old connections' TIME_WAIT */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, LISTEN_BACKLOG)) {
		ret = -errno;
		if (ret == -EADDRINUSE)
			snprintf(err, errlen,
				 "cannot serve HTTP on '%s': the port is already in use (another "
				 "tasktap or exporter?); choose another address",
				 addr);
		else
			snprintf(err, errlen, "cannot serve HTTP on '%s': %s", addr,
				 strerror(-ret));
		close(fd);
		return ret;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* ---- responses ----------------------------------------------------------- */

/* The value of argument `key` of rq, or NULL. */
static const char *request_arg(const struct request *rq, const char *key)
{
	for (size_t i = 0; i < rq->q.nargs; i++) {
		if (strcmp(rq->q.args[i].key, key) == 0)
			return rq->q.args[i].value;
	}
	return NULL;
}

/* Opens r's body, an answer 200 in plain text until told otherwise. 0 or -ENOMEM. */
int httpd__reply_open(struct reply *r)
{
	*r = (struct reply){.status = MHD_HTTP_OK, .type = TYPE_TEXT};
	r->out = open_memstream(&r->buf, &r->len);
	return r->out ? 0 : -ENOMEM;
}

/* Frees r's body, unless sent. */
void httpd__reply_release(struct reply *r)
{
	if (r->out)
		fclose(r->out);
	free(r->buf);
	r->out = NULL;
	r->buf = NULL;
}

static void unavailable(struct reply *r, const char *what)
{
	r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
	r->type = TYPE_TEXT;
	fprintf(r->out, "%s not available\n", what);
}

static void serve_metrics(struct tt_httpd *h, const struct request *rq, struct reply *r)
{
	bool om = tt_prom__wants_openmetrics(rq->accept);
	int ret;

	if (!h->p.metrics) {
		unavailable(r, "metrics");
		return;
	}
	ret = h->p.metrics(r->out, om, h->p.ctx);
	if (ret) {
		/* a partial body is worse than none: start over */
		fclose(r->out);
		free(r->buf);
		r->buf = NULL;
		r->len = 0;
		r->out = open_memstream(&r->buf, &r->len);
		if (!r->out)
			return;
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		r->type = TYPE_TEXT;
		fprintf(r->out, "cannot write metrics: %s\n", strerror(-ret));
		return;
	}
	r->type = om ? TT_OPENMETRICS_CONTENT_TYPE : TT_PROM_CONTENT_TYPE;
}

/*
 * Whether `total` grew within the window, remembering when it last grew.
 * The first sight of a non-zero total counts as growth now.
 */
static bool grew_recently(const struct tt_httpd *h, uint64_t now, uint64_t total, uint64_t *seen,
			  uint64_t *at)
{
	if (total > *seen)
		*at = now;
	*seen = total;
	return *at && now - *at < h->window_ns;
}

/* The loop's progress in /health: how long ago, and the longest stall since the start. */
void httpd__loop_fields(struct tt_httpd *h, struct tt_jsonw *w, uint64_t now)
{
	uint64_t at = atomic_load(&h->progress_ns);

	if (!h->threaded)
		return;
	tt_jsonw__float_field_fmt(w, "loop_last_progress_seconds", "%.3f",
				  now > at ? (double)(now - at) / 1e9 : 0.0);
	tt_jsonw__float_field_fmt(w, "loop_longest_stall_seconds", "%.3f",
				  (double)atomic_load(&h->longest_stall_ns) / 1e9);
}

static void serve_health(struct tt_httpd *h, const struct request *rq, struct reply *r)
{
	struct tt_health st = {0};
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);
	struct tt_jsonw w;
	const char *exporter;
	char window[32];
	char reasons[4][96];
	int n = 0;

	if (!h->p.health) {
		unavailable(r, "health");
		return;
	}
	h->p.health(&st, h->p.ctx);
	exporter = st.exporter ? st.exporter : "none";
	if (h->window_ns % 1000000000ULL)
		snprintf(window, sizeof(window), "%" PRIu64 " ms",
			 h->window_ns / (uint64_t)1000000);
	else
		snprintf(window, sizeof(window), "%" PRIu64 " s",
			 h->window_ns / (uint64_t)1000000000);
	if (st.stuck_tasks)
		snprintf(reasons[n++], sizeof(reasons[0]), "%" PRIu64 " tasks stuck",
			 st.stuck_tasks);
	if (grew_recently(h, now, st.spans_dropped, &h->dropped, &h->dropped_at))
		snprintf(reasons[n++], sizeof(reasons[0]), "spans dropped in the last %s", window);
	if (grew_recently(h, now, st.events_lost, &h->lost, &h->lost_at))
		snprintf(reasons[n++], sizeof(reasons[0]), "events lost in the last %s", window);
	if (st.degraded)
		snprintf(reasons[n++], sizeof(reasons[0]), "%s", st.degraded);

	tt_jsonw__init(&w, r->out);
	tt_jsonw__start_object(&w);
	tt_jsonw__string_field(&w, "status", n ? "degraded" : "ok");
	tt_jsonw__name(&w, "reasons");
	tt_jsonw__start_array(&w);
	for (int i = 0; i < n; i++)
		tt_jsonw__string(&w, reasons[i]);
	tt_jsonw__end_array(&w);
	tt_jsonw__uint_field(&w, "probes_attached", st.probes_attached);
	tt_jsonw__string_field(&w, "exporter", exporter);
	tt_jsonw__uint_field(&w, "queue_size", st.queue_size);
	tt_jsonw__uint_field(&w, "spool_bytes", st.spool_bytes);
	tt_jsonw__uint_field(&w, "events_lost", st.events_lost);
	tt_jsonw__uint_field(&w, "spans_dropped", st.spans_dropped);
	tt_jsonw__uint_field(&w, "open_spans", st.open_spans);
	if (st.extra)
		st.extra(&w, st.extra_ctx);
	tt_jsonw__uint_field(&w, "stuck_tasks", st.stuck_tasks);
	httpd__loop_fields(h, &w, now);
	tt_jsonw__end_object(&w);
	fputc('\n', r->out);
	r->type = TYPE_JSON;
}

/*
 * Answered by the server itself, never waiting for the loop: fails only
 * once the loop has made no progress for TT_HTTPD_LIVE_STALL_S, far longer
 * than the kernel keeps it busy attaching.
 */
static void serve_live(struct tt_httpd *h, struct reply *r)
{
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC), at = atomic_load(&h->progress_ns);

	if (h->threaded && now > at && now - at > TT_HTTPD_LIVE_STALL_S * 1000000000ULL) {
		r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		fprintf(r->out, "stalled: the event loop has made no progress for %.0f s\n",
			(double)(now - at) / 1e9);
		return;
	}
	fputs("ok\n", r->out);
}

static void serve_ready(struct tt_httpd *h, const struct request *rq, struct reply *r)
{
	struct tt_health st = {0};

	if (h->p.health)
		h->p.health(&st, h->p.ctx);
	if (st.probes_attached) {
		fputs("ready\n", r->out);
		return;
	}
	r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
	fputs("not ready: no probes attached\n", r->out);
}

struct task_list {
	struct tt_jsonw *w; /* inside the "tasks" array */
	uint64_t count, limit;
};

static void emit_task(const struct tt_task_info *t, void *ctx)
{
	struct task_list *l = ctx;

	if (l->count++ >= l->limit)
		return;
	tt_jsonw__start_object(l->w);
	tt_jsonw__name(l->w, "name");
	tt_jsonw__string_len(l->w, t->name ? t->name : "", t->name ? t->name_len : 0);
	tt_jsonw__name(l->w, "id");
	tt_jsonw__string_len(l->w, t->id ? t->id : "", t->id ? t->id_len : 0);
	tt_jsonw__uint_field(l->w, "pid", t->pid);
	tt_jsonw__float_field_fmt(l->w, "age_seconds", "%.3f", t->age_seconds);
	tt_jsonw__name(l->w, "step");
	if (t->step)
		tt_jsonw__string_len(l->w, t->step, t->step_len);
	else
		tt_jsonw__null(l->w);
	tt_jsonw__end_object(l->w);
}

static void serve_tasks(struct tt_httpd *h, const struct request *rq, struct reply *r)
{
	const char *arg = request_arg(rq, "limit");
	struct task_list l = {.limit = TT_HTTPD_DEFAULT_TASKS_LIMIT};
	struct tt_jsonw w;
	char *end;

	if (!h->p.tasks) {
		unavailable(r, "tasks");
		return;
	}
	if (arg) {
		errno = 0;
		l.limit = strtoull(arg, &end, 10);
		if (errno || end == arg || *end || *arg == '-' ||
		    l.limit > TT_HTTPD_MAX_TASKS_LIMIT) {
			r->status = MHD_HTTP_BAD_REQUEST;
			r->type = TYPE_TEXT;
			fprintf(r->out, "invalid limit: expected 0 to %d\n",
				TT_HTTPD_MAX_TASKS_LIMIT);
			return;
		}
	}
	tt_jsonw__init(&w, r->out);
	l.w = &w;
	tt_jsonw__start_object(&w);
	tt_jsonw__name(&w, "tasks");
	tt_jsonw__start_array(&w);
	h->p.tasks(emit_task, &l, h->p.ctx);
	tt_jsonw__end_array(&w);
	tt_jsonw__uint_field(&w, "count", l.count);
	tt_jsonw__bool_field(&w, "truncated", l.count > l.limit);
	tt_jsonw__end_object(&w);
	fputc('\n', r->out);
	r->type = TYPE_JSON;
}

static const struct route {
	const char *path;
	void (*serve)(struct tt_httpd *h, const struct request *rq, struct reply *r);
} routes[] = {
	{"/metrics", serve_metrics},
	{"/health", serve_health},
	{"/health/ready", serve_ready},
	{"/tasks", serve_tasks},
};

/* Queues r's body with its status and type; takes the buffer, and leaves r empty. */
static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *r, bool allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	FILE *out = r->out;
	char *buf;

	if (!out)
		return MHD_NO;
	r->out = NULL;
	if (fclose(out)) {
		free(r->buf);
		r->buf = NULL;
		return MHD_NO;
	}
	buf = r->buf;
	r->buf = NULL;
	resp = MHD_create_response_from_buffer(r->len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->csp) {
		MHD_add_response_header(resp, "Content-Security-Policy", r->csp);
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
		MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	}
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct tt_http_request *q = cls;

	if (q->nargs == TT_HTTP_MAX_ARGS) {
		q->too_many_args = true;
		return MHD_NO;
	}
	q->args[q->nargs].key = key;
	q->args[q->nargs].value = value;
	q->nargs++;
	return MHD_YES;
}

/* Hands the request to providers.route; returns whether it answered. */
static bool serve_route(struct tt_httpd *h, const struct request *rq, struct reply *r)
{
	struct tt_http_reply hr = {.out = r->out, .status = MHD_HTTP_OK, .type = TYPE_TEXT};

	if (!h->p.route || !h->p.route(&rq->q, &hr, h->p.route_ctx))
		return false;
	r->status = hr.status;
	r->type = hr.type;
	r->csp = hr.csp;
	return true;
}

/* Writes the answer to rq into r (open): a route above, the providers' route, or 404. */
void httpd__render(struct tt_httpd *h, const struct request *rq, struct reply *r)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(rq->q.path, routes[i].path) == 0) {
			routes[i].serve(h, rq, r);
			return;
		}
	}
	if (serve_route(h, rq, r))
		return;
	r->status = MHD_HTTP_NOT_FOUND;
	fprintf(r->out,
		"not found: try /, /metrics, /health, /health/live, /health/ready, /tasks\n");
}

/* The guard's record of connection c (tt_http_guard__started()), or NULL. */
static struct tt_http_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

/* ---- MHD's callbacks ------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req)
{
	struct tt_httpd *h = cls;
	struct request rq = {.q = {.path = url}};
	struct reply r;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		   strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);

	if (*req) /* resumed: the loop answered (or the server's thread for it) */
		return send_reply(c, httpd__pending_reply(*req), false);
	tt_http_guard__request(h->guard, conn_of(c));
	if (httpd__reply_open(&r))
		return MHD_NO;
	/* a page elsewhere that rebinds its DNS name to 127.0.0.1 still sends its name */
	if (!tt_http__host_allowed(host, h->bind_host, h->allow_remote)) {
		r.status = MHD_HTTP_MISDIRECTED_REQUEST;
		fprintf(r.out,
			"misdirected request: the Host header names another server; ask for "
			"127.0.0.1 or localhost (or run tasktap with --http-allow-remote)\n");
		return send_reply(c, &r, false);
	}
	if (!get) {
		r.status = MHD_HTTP_METHOD_NOT_ALLOWED;
		fprintf(r.out, "method not allowed: use GET\n");
		return send_reply(c, &r, true);
	}
	/* the server's own answer: never waits for the loop */
	if (strcmp(url, "/health/live") == 0) {
		serve_live(h, &r);
		return send_reply(c, &r, false);
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &rq.q);
	rq.accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	if (h->threaded) {
		httpd__reply_release(&r);
		return httpd__defer(h, c, &rq, req);
	}
	httpd__render(h, &rq, &r);
	return send_reply(c, &r, false);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode what)
{
	struct tt_httpd *h = cls;
	const union MHD_ConnectionInfo *info;

	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_ctx = info ? tt_http_guard__started(h->guard, info->connect_fd,
							    tt_now_ns(CLOCK_MONOTONIC))
				   : NULL;
	} else if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
		tt_http_guard__closed(h->guard, *socket_ctx, !h->stopping,
				      tt_now_ns(CLOCK_MONOTONIC));
		*socket_ctx = NULL;
	}
}

/* A request was answered (or abandoned): the next one has its own deadline. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req,
			 enum MHD_RequestTerminationCode why)
{
	struct tt_httpd *h = cls;

	tt_http_guard__answered(h->guard, conn_of(c), tt_now_ns(CLOCK_MONOTONIC));
	if (*req)
		httpd__pending_free(h, *req);
	*req = NULL;
}

/* Starts a new minute of server messages once the last one is over, saying what it hid. */
static void log_minute(struct tt_httpd *h, uint64_t now)
{
	if (h->log_since && now - h->log_since < 60000000000ULL)
		return;
	if (h->unlogged)
		tt_warn("http: %u more messages of the HTTP server in the last minute not shown",
			h->unlogged);
	h->log_since = now;
	h->logged = h->unlogged = 0;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
	struct tt_httpd *h = cls;
	char msg[256];
	size_t n;

	/* every dropped or malformed client makes a message: at most a few a minute */
	log_minute(h, tt_now_ns(CLOCK_MONOTONIC));
	if (h->logged == LOG_PER_MINUTE) {
		h->unlogged++;
		return;
	}
	h->logged++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	tt_warn("http: %s", msg);
}

/* ---- lifecycle ----------------------------------------------------------- */

struct tt_httpd *tt_httpd__new(const struct tt_httpd_opts *opts, char *err, size_t errlen)
{
	struct tt_httpd *h = calloc(1, sizeof(*h));
	const union MHD_DaemonInfo *info;
	unsigned long port;
	int fd, ret;

	if (!h) {
		snprintf(err, errlen, "cannot start the HTTP server: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	h->requests_fd = h->wake_fd = h->thread_epfd = -1;
	pthread_mutex_init(&h->lock, NULL);
	h->p = opts->providers;
	h->window_ns = (uint64_t)(opts->degraded_window_ms ? opts->degraded_window_ms
							   : TT_HTTPD_DEFAULT_WINDOW_MS) *
		       1000000ULL;
	fd = listen_on(opts->addr, opts->allow_remote, &h->port, err, errlen);
	if (fd < 0) {
		tt_httpd__free(h);
		errno = -fd;
		return NULL;
	}
	h->allow_remote = opts->allow_remote;
	/* listen_on() parsed the same address: it splits */
	split_addr(opts->addr ? opts->addr : TT_HTTPD_DEFAULT_ADDR, h->bind_host,
		   sizeof(h->bind_host), &port);
	/* no MHD_USE_INTERNAL_POLLING_THREAD: MHD runs only in tt_httpd__run() */
	h->daemon = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
		on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, h, MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)READ_INCREMENT,
		MHD_OPTION_END);
	info = h->daemon ? MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	h->guard = info ? tt_http_guard__new(info->epoll_fd) : NULL;
	if (!h->guard) {
		if (!h->daemon)
			close(fd);
		tt_httpd__free(h);
		snprintf(err, errlen, "cannot start the HTTP server on '%s'",
			 opts->addr ? opts->addr : TT_HTTPD_DEFAULT_ADDR);
		errno = EIO;
		return NULL;
	}
	ret = opts->own_thread ? httpd__start_thread(h, opts) : 0;
	if (ret) {
		tt_httpd__free(h);
		snprintf(err, errlen, "cannot start the HTTP server's thread: %s", strerror(-ret));
		errno = -ret;
		return NULL;
	}
	return h;
}

void tt_httpd__free(struct tt_httpd *h)
{
	int fds[3];

	if (!h)
		return;
	if (h->thread_started)
		httpd__stop_thread(h);
	h->stopping = true; /* no lingering closes now */
	if (h->daemon)
		MHD_stop_daemon(h->daemon); /* closes the listening socket too */
	tt_http_guard__free(h->guard);
	fds[0] = h->requests_fd;
	fds[1] = h->wake_fd;
	fds[2] = h->thread_epfd;
	for (int i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int tt_httpd__fd(const struct tt_httpd *h)
{
	return tt_http_guard__fd(h->guard);
}

int tt_httpd__run(struct tt_httpd *h)
{
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);
	MHD_UNSIGNED_LONG_LONG t;

	if (h->unlogged)
		log_minute(h, now);
	/* first the guard: MHD then closes in this same run what the guard dropped */
	tt_http_guard__run(h->guard, now);
	/*
	 * MHD reads a socket once per edge; a request bigger than one read
	 * stays ready with no new event (a timeout of 0). Run it out here, a
	 * bounded number of times, rather than a housekeeping tick per read.
	 */
	for (int i = 0; i < RUN_ROUNDS; i++) {
		if (MHD_run(h->daemon) != MHD_YES)
			return -EIO;
		if (MHD_get_timeout(h->daemon, &t) != MHD_YES || t > 0)
			break;
	}
	return 0;
}

int tt_httpd__timeout_ms(struct tt_httpd *h)
{
	int guard = tt_http_guard__timeout_ms(h->guard, tt_now_ns(CLOCK_MONOTONIC));
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(h->daemon, &t) != MHD_YES)
		return guard;
	if (t > INT_MAX)
		t = INT_MAX;
	return guard >= 0 && (MHD_UNSIGNED_LONG_LONG)guard < t ? guard : (int)t;
}

uint16_t tt_httpd__port(const struct tt_httpd *h)
{
	return h->port;
}
