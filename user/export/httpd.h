/* SPDX-License-Identifier: MIT */
/*
 * The agent's HTTP endpoints (DESIGN §6), served with libmicrohttpd.
 *
 *   GET /metrics       Prometheus text 0.0.4 (providers.metrics)
 *   GET /health        JSON: status ok | degraded, and why, and the numbers
 *   GET /health/live   200 while the agent runs (answered by the server itself)
 *   GET /health/ready  200 once probes are attached, else 503
 *   GET /tasks         JSON: the tasks in flight (providers.tasks)
 *   GET anything else  providers.route, when set (the task view: view.h)
 *
 * Two ways to run it:
 * - On a thread of its own (opts.own_thread: the agent). The server's
 *   thread accepts, reads and answers /health/live itself, so that a
 *   liveness probe is answered even while the agent's event loop is
 *   blocked (in the kernel, attaching probes to a new process, for
 *   seconds). Every other request needs the providers, which read the
 *   loop's data: it waits (its connection suspended) until the loop calls
 *   tt_httpd__answer(), which runs the providers on the loop's thread and
 *   hands the answers back. The loop adds tt_httpd__requests_fd() to its
 *   epoll set for that, and calls tt_httpd__progress() each time round. A
 *   request the loop has not taken within opts.loop_wait_ms is answered
 *   503 by the server's thread (/health: "unhealthy", the loop stalled),
 *   and /health/live fails once the loop has made no progress for
 *   TT_HTTPD_LIVE_STALL_S: a stuck loop is reported, a busy one is not.
 * - Driven by the caller (the unit tests, the fuzzer): it adds
 *   tt_httpd__fd() (an epoll fd) to its epoll set and calls tt_httpd__run()
 *   when it is readable and when tt_httpd__timeout_ms() has passed; the
 *   providers are called inside tt_httpd__run().
 *
 * Slow and hostile clients are held to deadlines, a new client always
 * gets a slot, and Host must name this server (httpguard.h).
 *
 * httpd knows nothing of BPF, the assembler or the exporter: what it
 * serves comes from the provider callbacks.
 */
#ifndef TASKTAP_HTTPD_H
#define TASKTAP_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define TT_HTTPD_DEFAULT_ADDR	     "127.0.0.1:9464"
#define TT_HTTPD_DEFAULT_WINDOW_MS   60000 /* drops this recent make /health degraded */
#define TT_HTTPD_DEFAULT_TASKS_LIMIT 1000  /* /tasks lists at most this many; ?limit=N */
#define TT_HTTPD_MAX_TASKS_LIMIT     100000
#define TT_HTTPD_LOOP_WAIT_MS	     2000 /* own thread: a request the loop has not taken by then */
#define TT_HTTPD_LIVE_STALL_S	     120  /* own thread: /health/live fails past this stall */

/* What /health reports; filled by providers.health. */
struct tt_jsonw;

struct tt_health {
	uint64_t probes_attached;
	const char *exporter; /* state for people: "console", "ok", "retrying", ...; NULL: "none" */
	uint64_t queue_size;  /* spans */
	uint64_t spool_bytes;
	uint64_t events_lost;	/* total since start (probe and exit events) */
	uint64_t spans_dropped; /* total since start, every reason */
	uint64_t open_spans;
	uint64_t stuck_tasks; /* open longer than stuck_after, now */
	const char *degraded; /* a further reason to report degraded, or NULL */
	/* writes further members of the /health object through w, or NULL */
	void (*extra)(struct tt_jsonw *w, void *ctx);
	void *extra_ctx;
};

/* One task in flight, as /tasks lists it. Strings need not be NUL-terminated. */
struct tt_task_info {
	const char *name;
	size_t name_len;
	const char *id; /* task.id */
	size_t id_len;
	uint32_t pid;
	double age_seconds;
	const char *step; /* the innermost open step; NULL when none */
	size_t step_len;
	const struct tt_task_more *more; /* NULL when the provider has none */
};

#define TT_HTTP_MAX_ARGS 16

/* A request handed to providers.route. Strings are valid during the call. */
struct tt_http_request {
	const char *path; /* percent-decoded, without the query */
	size_t nargs;
	bool too_many_args; /* more than TT_HTTP_MAX_ARGS; only the first are here */
	struct {
		const char *key;
		const char *value; /* NULL for "?key" without "=" */
	} args[TT_HTTP_MAX_ARGS];
};

/* The answer providers.route writes. */
struct tt_http_reply {
	FILE *out;	     /* the body */
	unsigned int status; /* 200 unless set */
	const char *type;    /* Content-Type; text/plain unless set */
	const char *csp;     /* Content-Security-Policy (and the page's other headers), or NULL */
};

/*
 * The span attributes a tasks provider reads, by name: one table to follow
 * when attribute names change (the rest of a span reaches the task view
 * through tt_span__attrs(), whatever the names).
 */
static const struct tt_task_attrs {
	const char *id;	     /* the task's id */
	const char *attempt; /* the task's attempt, when the spec captures one */
	const char *step;    /* a step's name */
} tt_task_attrs = {
	.id = "task.id",
	.attempt = "task.attempt",
	.step = "step.name",
};

/* Extra fields of a task in flight, for the task view (/api/tasks). */
struct tt_task_more {
	const char *service; /* NUL-terminated; "" when the spec names none */
	const char *process; /* the target's file name or comm, NUL-terminated */
	uint32_t attempt;    /* 1 unless the task says otherwise */
	bool stuck;	     /* open longer than stuck_after */
};

/* Called by providers.tasks once per task in flight; copies what it keeps. */
typedef void (*tt_task_emit_fn)(const struct tt_task_info *task, void *emit_ctx);

/* Every callback may be NULL: its endpoint then answers 503. */
struct tt_httpd_providers {
	/*
	 * Writes the /metrics body (tt_prom__write_as()): OpenMetrics when the
	 * request's Accept asks for it, else Prometheus text 0.0.4. Returns 0
	 * or -errno (→ 500).
	 */
	int (*metrics)(FILE *out, bool openmetrics, void *ctx);
	/* Fills `h` (zeroed before the call). */
	void (*health)(struct tt_health *h, void *ctx);
	/* Calls emit(task, emit_ctx) for each task in flight, oldest first. */
	void (*tasks)(tt_task_emit_fn emit, void *emit_ctx, void *ctx);
	void *ctx;
	/*
	 * Answers a GET for a path none of the above serves: returns true when
	 * it wrote the reply, false for 404. Called with route_ctx.
	 */
	bool (*route)(const struct tt_http_request *q, struct tt_http_reply *r, void *route_ctx);
	void *route_ctx;
};

struct tt_httpd_opts {
	/* "IP:PORT", "[IPV6]:PORT", "localhost:PORT" or "PORT"; NULL: the default */
	const char *addr;
	bool allow_remote;	     /* allow an address that is not loopback */
	uint32_t degraded_window_ms; /* 0: TT_HTTPD_DEFAULT_WINDOW_MS */
	bool own_thread;	     /* serve from a thread of its own (see above) */
	uint32_t loop_wait_ms;	     /* 0: TT_HTTPD_LOOP_WAIT_MS */
	struct tt_httpd_providers providers;
};

struct tt_httpd;

/*
 * Parses `addr` as tt_httpd_opts.addr describes into `ss` and `*sslen`.
 * An address that is not loopback is refused unless `allow_remote`.
 * Returns 0, -EINVAL for a malformed address, -EPERM for a refused one;
 * on failure writes one message into err (errlen bytes).
 */
int tt_httpd__parse_addr(const char *addr, bool allow_remote, struct sockaddr_storage *ss,
			 socklen_t *sslen, char *err, size_t errlen);

/*
 * Listens on opts->addr and returns the server, or NULL with errno set and
 * one message in err (errlen bytes): EINVAL or EPERM (the address),
 * EADDRINUSE (the port is taken), EACCES, ENOMEM. The caller frees it
 * with tt_httpd__free(); `opts->providers.ctx` must outlive it.
 */
struct tt_httpd *tt_httpd__new(const struct tt_httpd_opts *opts, char *err, size_t errlen);

/*
 * Stops the server's thread, answers what still waits 503, closes every
 * connection and the listening socket. Accepts NULL. With own_thread, call
 * it on the thread that calls tt_httpd__answer().
 */
void tt_httpd__free(struct tt_httpd *h);

/* ---- with own_thread: the event loop's side ------------------------------- */

/* Readable (EPOLLIN) when requests wait for tt_httpd__answer(). Owned by the server. */
int tt_httpd__requests_fd(const struct tt_httpd *h);

/*
 * Answers the requests waiting for the providers, calling them on this
 * thread, and hands the answers to the server's thread. Never blocks.
 */
void tt_httpd__answer(struct tt_httpd *h);

/* The loop made progress at `now_ns` (CLOCK_MONOTONIC): /health and /health/live read it. */
void tt_httpd__progress(struct tt_httpd *h, uint64_t now_ns);

/* ---- without own_thread: the caller drives the server ---------------------- */

/* The fd for the caller's epoll set (EPOLLIN). Owned by the server. */
int tt_httpd__fd(const struct tt_httpd *h);

/*
 * Accepts, reads and answers what is ready, without blocking. Call it when
 * tt_httpd__fd() is readable and when tt_httpd__timeout_ms() runs out.
 * Returns 0 or -EIO.
 */
int tt_httpd__run(struct tt_httpd *h);

/* Milliseconds until tt_httpd__run() is due regardless of the fd; -1: not due. */
int tt_httpd__timeout_ms(struct tt_httpd *h);

/* The port listened on (useful after asking for port 0). */
uint16_t tt_httpd__port(const struct tt_httpd *h);

#endif /* TASKTAP_HTTPD_H */
