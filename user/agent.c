// SPDX-License-Identifier: MIT
/*
 * `tasktap run`: the agent. One straight line: load the spec, resolve
 * symbols, load BPF, start the exporter and the HTTP endpoints, attach,
 * then one event loop (rings, timer, signals, HTTP) until stopped, then
 * detach, drain and end what is still open.
 *
 * Every finished span goes through one fan-out (on_span): the metrics
 * first, then the step lines, the console or JSON lines, and the OTLP
 * exporter, each when it is on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "assemble.h"
#include "cli.h"
#include "export/export.h"
#include "export/exporter.h"
#include "export/httpd.h"
#include "export/metrics.h"
#include "export/otlp_config.h"
#include "export/prom.h"
#include "loader.h"
#include "proc.h"
#include "reorder.h"
#include "resolve.h"
#include "spec.h"

#define DRAIN_INTERVAL_NS   1000000ULL	  /* 1 ms */
#define REORDER_SLACK_NS    10000000ULL	  /* 10 ms */
#define HOUSEKEEPING_NS	    1000000000ULL /* 1 s */
#define DEFAULT_STUCK_AFTER 600.0	  /* seconds */

struct run {
	struct tt_spec *spec;
	struct tt_plan plan;
	struct tt_loader *loader;
	struct tt_asm *assembler;
	struct tt_console *console; /* the waterfall, unless --json or spans go to OTLP */
	struct tt_jsonl jsonl;
	struct tt_steplines steplines;
	struct tt_otlp_config otlp[TT_SIGNAL__COUNT];
	struct tt_exporter *exporter;
	struct tt_metrics *metrics;
	struct tt_httpd *httpd;
	struct tt_reorder reorder;
	uint64_t lost_reported;
	uint64_t lost_exits_reported;
	uint64_t stuck_after_ns;
	uint64_t stuck; /* tasks open longer than stuck_after, at the last count */
	bool json;
	bool log_steps;
};

static int on_ring_event(const struct tt_event *ev, size_t size, void *ctx)
{
	struct run *r = ctx;

	/* out of memory: the event is dropped and counted by the assembler's totals */
	if (tt_reorder__add(&r->reorder, ev, size))
		return 0;
	return 0;
}

static void on_ordered_event(const struct tt_event *ev, size_t size, void *ctx)
{
	struct run *r = ctx;

	tt_asm__push(r->assembler, ev, size);
}

static void drain(struct run *r, uint64_t horizon)
{
	tt_loader__drain(r->loader);
	tt_reorder__flush(&r->reorder, horizon, on_ordered_event, r);
	if (r->json)
		fflush(stdout); /* once per pass, not once per span */
}

static void report_lost(struct run *r)
{
	uint64_t lost = tt_loader__stat(r->loader, TT_STAT_LOST);
	uint64_t lost_exits = tt_loader__stat(r->loader, TT_STAT_LOST_EXITS);

	if (lost > r->lost_reported) {
		tt_warn("%" PRIu64 " events lost: the ring buffer was full (raise --ring-size)",
			lost - r->lost_reported);
		r->lost_reported = lost;
	}
	if (lost_exits > r->lost_exits_reported) {
		tt_warn("%" PRIu64
			" exit events lost: the ring buffer was full (raise --ring-size)",
			lost_exits - r->lost_exits_reported);
		r->lost_exits_reported = lost_exits;
	}
}

/* The span sink: metrics, then step lines, console or JSON lines, and OTLP. */
static void on_span(const struct tt_span *span, void *ctx)
{
	struct run *r = ctx;

	tt_metrics__span(span, r->metrics);
	if (r->log_steps)
		tt_steplines__span(span, &r->steplines);
	if (r->console)
		tt_console__span(span, r->console);
	if (r->json)
		tt_jsonl__span(span, &r->jsonl);
	if (r->exporter)
		tt_exporter__span(span, r->exporter);
}

/* Counts one open task into task.in_flight, and as stuck when it is old enough. */
static void count_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct run *r = ctx;
	struct tt_metric_labels l = {.task_name = task->name};
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);

	tt_metrics__add_in_flight(r->metrics, &l, 1);
	if (now > task->start_ns && now - task->start_ns > r->stuck_after_ns)
		r->stuck++;
}

/* Refreshes task.in_flight and the stuck count from the open tasks. */
static void count_tasks(struct run *r)
{
	r->stuck = 0;
	tt_metrics__reset_in_flight(r->metrics);
	if (r->assembler)
		tt_asm__for_each_task(r->assembler, 0, count_task, r);
}

static uint64_t dropped_spans(const struct tt_exporter_stats *x)
{
	return x->dropped_queue_full + x->dropped_rejected + x->dropped_spool_full +
	       x->dropped_failed + x->dropped_encode;
}

/* Hands the loader's, the assembler's and the exporter's counters to the metrics. */
static void update_agent_metrics(struct run *r)
{
	struct tt_agent_stats st = {0};
	struct tt_exporter_stats x = {0};
	struct tt_asm_stats as = {0};

	if (r->assembler)
		tt_asm__stats(r->assembler, &as);
	if (r->exporter)
		tt_exporter__stats(r->exporter, &x);
	if (r->loader) {
		st.events_lost = tt_loader__stat(r->loader, TT_STAT_LOST);
		st.exit_events_lost = tt_loader__stat(r->loader, TT_STAT_LOST_EXITS);
		st.probes_attached = (uint64_t)tt_loader__attached(r->loader);
	}
	st.events_received = as.events;
	st.open_spans = as.open_spans;
	st.spans_evicted = as.evictions;
	st.spans_exported = x.spans_exported;
	st.spans_dropped[TT_DROP_QUEUE_FULL] = x.dropped_queue_full;
	st.spans_dropped[TT_DROP_SPOOL_FULL] = x.dropped_spool_full;
	st.spans_dropped[TT_DROP_REJECTED] = x.dropped_rejected;
	st.spans_dropped[TT_DROP_FAILED] = x.dropped_failed + x.dropped_encode;
	st.export_failures = x.export_failures + x.metrics.export_failures + x.logs.export_failures;
	st.queue_size = x.queue_len;
	st.spool_bytes = x.spool_bytes + x.metrics.spool_bytes + x.logs.spool_bytes;
	st.tasks_stuck = r->stuck;
	tt_metrics__set_agent(r->metrics, &st);
}

/* /metrics: the metrics as they are now. */
static int provide_metrics(FILE *out, void *ctx)
{
	struct run *r = ctx;

	count_tasks(r);
	update_agent_metrics(r);
	return tt_prom__write(r->metrics, out);
}

/* What the exporter's state is, for people; and whether it is a problem. */
static const char *exporter_state(const struct run *r, const struct tt_exporter_stats *x,
				  bool *down)
{
	*down = false;
	if (!r->exporter)
		return r->json ? "json" : "console";
	*down = !x->collector_up || !x->metrics.collector_up || !x->logs.collector_up;
	if (*down)
		return x->spool_enabled ? "retrying, spooling" : "retrying";
	if (x->spool_files || x->metrics.spool_files || x->logs.spool_files)
		return "replaying the spool";
	return "ok";
}

/* /health: the numbers, and what makes it degraded besides drops and losses. */
static void provide_health(struct tt_health *h, void *ctx)
{
	struct run *r = ctx;
	struct tt_exporter_stats x = {0};
	struct tt_asm_stats as = {0};
	bool down;

	count_tasks(r);
	if (r->exporter)
		tt_exporter__stats(r->exporter, &x);
	if (r->assembler)
		tt_asm__stats(r->assembler, &as);
	if (r->loader) {
		h->probes_attached = (uint64_t)tt_loader__attached(r->loader);
		h->events_lost = tt_loader__stat(r->loader, TT_STAT_LOST) +
				 tt_loader__stat(r->loader, TT_STAT_LOST_EXITS);
	}
	h->exporter = exporter_state(r, &x, &down);
	h->queue_size = x.queue_len;
	h->spool_bytes = x.spool_bytes + x.metrics.spool_bytes + x.logs.spool_bytes;
	h->spans_dropped = dropped_spans(&x);
	h->open_spans = as.open_spans;
	h->stuck_tasks = r->stuck;
	if (down)
		h->degraded = "the collector is unreachable";
}

/* /tasks: one entry per open task; the step is the innermost open one. */
struct task_emit {
	tt_task_emit_fn emit;
	void *emit_ctx;
	uint64_t now;
};

/* The value of attribute `key` of `span`, or NULL. Points into `span` or `num`. */
static const char *span_attr(const struct tt_span *span, const char *key, char *num, size_t numlen,
			     size_t *len)
{
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(span, kv);

	for (int i = 0; i < n; i++) {
		if (strcmp(kv[i].key, key))
			continue;
		if (kv[i].type == TT_KV_STR) {
			*len = strnlen(kv[i].str, kv[i].len);
			return kv[i].str;
		}
		snprintf(num, numlen, "%" PRId64, kv[i].i);
		*len = strlen(num);
		return num;
	}
	return NULL;
}

static void emit_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct task_emit *te = ctx;
	struct tt_task_info info = {.name = task->name,
				    .name_len = strnlen(task->name, sizeof(task->name)),
				    .pid = task->pid};
	char id_num[24], step_num[24];

	info.age_seconds = te->now > task->start_ns ? (double)(te->now - task->start_ns) / 1e9 : 0;
	info.id = span_attr(task, "task.id", id_num, sizeof(id_num), &info.id_len);
	if (step) {
		info.step =
			span_attr(step, "step.name", step_num, sizeof(step_num), &info.step_len);
		if (!info.step) {
			info.step = step->name;
			info.step_len = strnlen(step->name, sizeof(step->name));
		}
	}
	te->emit(&info, te->emit_ctx);
}

static void provide_tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
{
	struct run *r = ctx;
	struct task_emit te = {.emit = emit, .emit_ctx = emit_ctx};

	if (!r->assembler)
		return;
	te.now = tt_now_ns(CLOCK_MONOTONIC);
	tt_asm__for_each_task(r->assembler, 0, emit_task, &te);
}

/* Whether every target is a single process, and all of them are gone. */
static bool all_targets_gone(struct run *r)
{
	bool any_pid = false;

	for (size_t i = 0; i < r->plan.n; i++) {
		const struct tt_attachment *at = &r->plan.at[i];

		if (at->pid <= 0)
			return false;
		any_pid = true;
		if (tt_proc__alive(at->pid))
			return false;
	}
	return any_pid;
}

static int add_fd(int epfd, int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

/* Runs the event loop until a signal, the deadline, or every target process is gone. */
static int event_loop(struct run *r, double duration)
{
	struct itimerspec tick = {.it_interval = {0, DRAIN_INTERVAL_NS},
				  .it_value = {0, DRAIN_INTERVAL_NS}};
	uint64_t start = tt_now_ns(CLOCK_MONOTONIC), next_housekeeping = start + HOUSEKEEPING_NS;
	int epfd = -1, tfd = -1, sfd = -1, ring_fd = tt_loader__epoll_fd(r->loader);
	int hfd = r->httpd ? tt_httpd__fd(r->httpd) : -1;
	sigset_t mask;
	int ret = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (epfd < 0 || tfd < 0 || sfd < 0 || timerfd_settime(tfd, 0, &tick, NULL) ||
	    add_fd(epfd, tfd) || add_fd(epfd, sfd) || add_fd(epfd, ring_fd) ||
	    (hfd >= 0 && add_fd(epfd, hfd))) {
		ret = -errno;
		tt_warn("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}

	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, -1);
		uint64_t now;
		bool stop = false, serve_http = false;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			tt_warn("epoll_wait failed: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t ticks;
			struct signalfd_siginfo si;

			if (evs[i].data.fd == tfd && read(tfd, &ticks, sizeof(ticks)) < 0)
				continue;
			if (evs[i].data.fd == sfd && read(sfd, &si, sizeof(si)) == sizeof(si))
				stop = true;
			if (evs[i].data.fd == hfd)
				serve_http = true;
		}
		now = tt_now_ns(CLOCK_MONOTONIC);
		drain(r, now - REORDER_SLACK_NS);
		/* after the drain: what HTTP answers includes what just arrived */
		if (serve_http)
			tt_httpd__run(r->httpd);
		if (duration > 0 && now - start >= (uint64_t)(duration * 1e9))
			stop = true;
		if (now >= next_housekeeping) {
			next_housekeeping = now + HOUSEKEEPING_NS;
			report_lost(r);
			tt_asm__expire(r->assembler, now); /* begin/end spans that saw no end */
			count_tasks(r);
			update_agent_metrics(r);
			/* idle connections time out only when MHD runs */
			if (r->httpd)
				tt_httpd__run(r->httpd);
			if (all_targets_gone(r)) {
				tt_warn("every traced process has exited");
				stop = true;
			}
		}
		if (stop)
			break;
	}
out:
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (epfd >= 0)
		close(epfd);
	return ret;
}

/* One line of totals for metrics or logs. */
static void report_signal(const char *what, const char *items, const struct tt_signal_stats *s)
{
	tt_warn("%s: %" PRIu64 " %s exported in %" PRIu64 " requests, %" PRIu64
		" in the spool, %" PRIu64 " dropped (queue full %" PRIu64 ", rejected %" PRIu64
		", spool full %" PRIu64 ", failed %" PRIu64 ")",
		what, s->exported, items, s->batches_sent, s->spool_items,
		s->dropped_queue_full + s->dropped_rejected + s->dropped_spool_full +
			s->dropped_failed + s->dropped_encode,
		s->dropped_queue_full, s->dropped_rejected, s->dropped_spool_full,
		s->dropped_failed + s->dropped_encode);
}

/* Flushes the OTLP exporter (to the collector, else to the spool) and reports its totals. */
static void stop_exporter(struct run *r)
{
	struct tt_exporter_stats x;

	tt_exporter__stop(r->exporter, TT_EXPORT_SHUTDOWN_MS);
	tt_exporter__stats(r->exporter, &x);
	if (x.metrics.enabled)
		report_signal("otlp metrics", "data points", &x.metrics);
	if (x.logs.enabled)
		report_signal("otlp logs", "log records", &x.logs);
	if (!tt_otlp_config__enabled(&r->otlp[TT_SIGNAL_TRACES]))
		return;
	tt_warn("otlp: %" PRIu64 " spans exported, %" PRIu64 " in the spool (%" PRIu64
		" batches), %" PRIu64 " dropped (queue full %" PRIu64 ", rejected %" PRIu64
		", spool full %" PRIu64 ", failed %" PRIu64 "), %" PRIu64 " sampled out",
		x.spans_exported, x.spool_spans, x.spool_files,
		x.dropped_queue_full + x.dropped_rejected + x.dropped_spool_full +
			x.dropped_failed + x.dropped_encode,
		x.dropped_queue_full, x.dropped_rejected, x.dropped_spool_full, x.dropped_failed,
		x.spans_sampled_out);
}

/* Detaches, drains what is left, and ends what is still open. */
static void shut_down(struct run *r)
{
	struct tt_asm_stats st;

	if (!r->loader)
		return;
	tt_loader__detach(r->loader);
	drain(r, UINT64_MAX);
	report_lost(r);
	/* a target that died before its exit event was seen: end its spans */
	for (size_t i = 0; i < r->plan.n; i++) {
		const struct tt_attachment *at = &r->plan.at[i];

		if (at->pid > 0 && !tt_proc__alive(at->pid))
			tt_asm__end_process(r->assembler, at->pid, tt_now_ns(CLOCK_MONOTONIC), 0);
	}
	tt_asm__end_all(r->assembler, tt_now_ns(CLOCK_MONOTONIC));
	tt_asm__stats(r->assembler, &st);
	if (r->console)
		tt_console__flush(r->console);
	tt_warn("%" PRIu64 " spans, %" PRIu64 " events, %" PRIu64 " lost, %" PRIu64
		" ended early (process exit)",
		st.spans_finished, st.events, r->lost_reported, st.cut_by_exit);
	/* the last metrics export reads these */
	count_tasks(r);
	update_agent_metrics(r);
	if (r->exporter)
		stop_exporter(r);
}

static const char *service_name(const struct run *r)
{
	const char *env = getenv("OTEL_SERVICE_NAME");
	const char *slash;

	if (r->spec->service)
		return r->spec->service;
	if (env && *env)
		return env;
	if (r->plan.n) {
		slash = strrchr(r->plan.at[0].shown, '/');
		return slash ? slash + 1 : r->plan.at[0].shown;
	}
	return "tasktap";
}

static int check_btf(void)
{
	const char *btf = getenv("TASKTAP_BTF");

	if (!btf)
		btf = "/sys/kernel/btf/vmlinux";
	if (access(btf, R_OK) == 0)
		return 0;
	tt_warn("no kernel BTF at '%s': tasktap needs a kernel built with CONFIG_DEBUG_INFO_BTF=y",
		btf);
	return -ENOENT;
}

static int attach_plan(struct run *r)
{
	char err[512];
	int ret;

	for (int id = 1; id <= r->spec->nhooks; id++) {
		ret = tt_loader__set_hook(r->loader, id, &tt_spec__hook(r->spec, id)->prog);
		if (ret) {
			tt_warn("cannot store hook %d: %s", id, strerror(-ret));
			return ret;
		}
	}
	for (size_t i = 0; i < r->plan.n; i++) {
		const struct tt_attachment *at = &r->plan.at[i];
		const struct tt_hook *h = at->hook;

		if (at->usdt)
			ret = tt_loader__attach_usdt(r->loader, h->id, at->path, h->provider,
						     h->usdt, at->pid, err, sizeof(err));
		else
			ret = tt_loader__attach(r->loader, h->id, at->path, at->offset,
						at->retprobe, at->pid, err, sizeof(err));
		if (ret) {
			if (at->pid > 0 && !tt_proc__alive(at->pid))
				tt_warn("process %d exited before tasktap could attach", at->pid);
			else
				tt_warn("%s", err);
			return ret;
		}
	}
	return 0;
}

#define MAX_OTLP_ARGS 64

struct run_args {
	const char *spec;
	/* OTLP settings from the command line, applied over the environment in order */
	struct {
		const char *key;
		const char *value;
	} otlp[MAX_OTLP_ARGS];
	int notlp;
	pid_t pid;
	const char *binary;
	bool json;
	bool color;
	bool log_steps;
	bool logs; /* --logs: OTLP logs (with an endpoint) */
	double duration;
	size_t ring_bytes;
	const char *http_addr; /* NULL: TT_HTTPD_DEFAULT_ADDR */
	bool no_http;
	bool http_allow_remote;
	double stuck_after; /* seconds */
};

/* Warnings about the environment, once each although three configs read it. */
static void warn_once(const char *msg, void *ctx)
{
	static char seen[16][256];
	static int n;

	for (int i = 0; i < n; i++) {
		if (!strcmp(seen[i], msg))
			return;
	}
	if (n < 16)
		snprintf(seen[n++], sizeof(seen[0]), "%s", msg);
	tt_warn("%s", msg);
}

/* One signal's settings: the environment, then the command line. 0 or -errno. */
static int read_otlp(struct tt_otlp_config *c, enum tt_otlp_signal sig, const struct run_args *a)
{
	struct tt_env env = {.warn = warn_once};
	char err[512];
	int ret;

	tt_otlp_config__init_signal(c, sig);
	ret = tt_otlp_config__from_env(c, &env);
	if (ret) {
		tt_warn("cannot read the OTLP settings: %s", strerror(-ret));
		return ret;
	}
	for (int i = 0; i < a->notlp; i++) {
		ret = tt_otlp_config__set(c, a->otlp[i].key, a->otlp[i].value, err, sizeof(err));
		if (ret) {
			tt_warn("--%s: %s", a->otlp[i].key, err);
			return -EINVAL;
		}
	}
	if (a->logs)
		c->logs_on = true;
	return 0;
}

/* Says where each exported signal goes. */
static void report_otlp(const struct run *r)
{
	static const char *const what[TT_SIGNAL__COUNT] = {"spans", "metrics", "logs"};
	char url[512];

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		const struct tt_otlp_config *c = &r->otlp[s];

		if (!tt_otlp_config__enabled(c) || tt_otlp_config__url(c, url, sizeof(url)))
			continue;
		if (s == TT_SIGNAL_METRICS)
			tt_warn("exporting metrics to %s every %u ms (%s%s)", url, c->interval_ms,
				tt_otlp_protocol__name(c->protocol), c->gzip ? ", gzip" : "");
		else
			tt_warn("exporting %s to %s (%s%s)", what[s], url,
				tt_otlp_protocol__name(c->protocol), c->gzip ? ", gzip" : "");
	}
}

/*
 * OTLP settings: the OTEL_* environment, then the command line over it.
 * With an endpoint configured, starts the exporter. Returns 0, or -errno
 * after saying why.
 */
static int setup_otlp(struct run *r, const struct run_args *a)
{
	struct tt_exporter_opts o = {0};
	bool any = false;
	char err[512];
	int ret;

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		ret = read_otlp(&r->otlp[s], s, a);
		if (ret)
			return ret;
		any = any || tt_otlp_config__enabled(&r->otlp[s]);
	}
	if (a->logs && !tt_otlp_config__enabled(&r->otlp[TT_SIGNAL_LOGS])) {
		tt_warn("--logs: no OTLP endpoint to send logs to (set OTEL_EXPORTER_OTLP_ENDPOINT "
			"or --otlp-endpoint; --log-steps prints them)");
		return -EINVAL;
	}
	if (!any)
		return 0;
	o.cfg = &r->otlp[TT_SIGNAL_TRACES];
	o.metrics_cfg = &r->otlp[TT_SIGNAL_METRICS];
	o.logs_cfg = &r->otlp[TT_SIGNAL_LOGS];
	o.metrics = r->metrics;
	o.spec_service = r->spec->service;
	o.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	o.seed = tt_now_ns(CLOCK_REALTIME) ^ (uint64_t)getpid();
	r->exporter = tt_exporter__new(&o, err, sizeof(err));
	if (!r->exporter) {
		tt_warn("cannot start the OTLP exporter: %s", err);
		return -errno;
	}
	report_otlp(r);
	return 0;
}

/* Writes "HOST:PORT" (or "[V6]:PORT") of the address the server listens on. */
static void http_address(const struct run_args *a, uint16_t port, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[INET6_ADDRSTRLEN] = "127.0.0.1", err[256];

	if (!tt_httpd__parse_addr(a->http_addr, true, &ss, &sslen, err, sizeof(err))) {
		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof(host));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
				  sizeof(host));
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

/*
 * Listens for /metrics, /health and /tasks (unless --no-http), before
 * anything is attached, so that a taken port stops the agent early.
 * Returns 0, -EINVAL (a bad address: exit 2), or -errno.
 */
static int setup_http(struct run *r, const struct run_args *a)
{
	struct tt_httpd_opts o = {
		.addr = a->http_addr,
		.allow_remote = a->http_allow_remote,
		.providers = {.metrics = provide_metrics,
			      .health = provide_health,
			      .tasks = provide_tasks,
			      .ctx = r},
	};
	char err[512], where[80];

	if (a->no_http)
		return 0;
	r->httpd = tt_httpd__new(&o, err, sizeof(err));
	if (!r->httpd) {
		tt_warn("%s", err);
		return errno == EINVAL || errno == EPERM ? -EINVAL : -errno;
	}
	http_address(a, tt_httpd__port(r->httpd), where, sizeof(where));
	tt_warn("http: serving /metrics, /health and /tasks on http://%s", where);
	return 0;
}

static int run(const struct run_args *a)
{
	struct run r = {.json = a->json, .log_steps = a->log_steps};
	struct tt_loader_opts lopts = {
		.ring_bytes = a->ring_bytes, .on_event = on_ring_event, .ctx = &r};
	struct tt_asm_opts aopts = {0};
	char err[1024];
	int ret;

	tt_reorder__init(&r.reorder);
	ret = tt_spec__load(a->spec, &r.spec, err, sizeof(err));
	if (ret) {
		tt_warn("%s", err);
		return 2;
	}
	ret = tt_proc__check_caps(err, sizeof(err));
	if (ret == -EPERM) {
		tt_warn("missing capabilities: %s (run as root, or grant them to tasktap)", err);
		ret = 1;
		goto out;
	}
	if (check_btf()) {
		ret = 1;
		goto out;
	}
	ret = tt_plan__build(r.spec, a->pid, a->binary, &r.plan, err, sizeof(err));
	if (ret) {
		tt_warn("%s", err);
		ret = 2;
		goto out;
	}
	for (size_t i = 0; i < r.plan.n; i++) {
		if (r.plan.at[i].cost == TT_INSN_STEPPED)
			tt_warn("warning: probe on '%s' lands on an instruction the kernel "
				"single-steps (slow)",
				r.plan.at[i].hook->function ? r.plan.at[i].hook->function
							    : r.plan.at[i].probe->symbol);
	}

	aopts.spec = r.spec;
	aopts.seed = tt_now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
	aopts.on_span = on_span;
	aopts.ctx = &r;
	r.stuck_after_ns = (uint64_t)(a->stuck_after * 1e9);
	r.metrics = tt_metrics__new(NULL);
	if (!r.metrics) {
		tt_warn("cannot create the metrics: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	ret = setup_otlp(&r, a);
	if (ret) {
		ret = ret == -EINVAL ? 2 : 1;
		goto out;
	}
	r.jsonl.out = stdout;
	r.jsonl.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	r.steplines.out = stderr;
	r.steplines.mono_to_unix_ns = r.jsonl.mono_to_unix_ns;
	/* the waterfall, unless spans go out as JSON lines or to OTLP */
	if (!a->json && !tt_otlp_config__enabled(&r.otlp[TT_SIGNAL_TRACES])) {
		r.console = tt_console__new(stdout, a->color);
		if (!r.console) {
			ret = 1;
			goto out;
		}
	}
	r.assembler = tt_asm__new(&aopts);
	if (!r.assembler) {
		tt_warn("cannot create the assembler: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	r.jsonl.service = service_name(&r);

	r.loader = tt_loader__new(&lopts, err, sizeof(err));
	if (!r.loader) {
		tt_warn("%s", err);
		ret = 1;
		goto out;
	}
	ret = setup_http(&r, a);
	if (ret) {
		ret = ret == -EINVAL ? 2 : 1;
		goto out;
	}
	if (attach_plan(&r)) {
		ret = 1;
		goto out;
	}
	tt_warn("attached %d probes (%zu locations); tracing, Ctrl-C to stop",
		tt_loader__attached(r.loader), r.plan.n);
	update_agent_metrics(&r);
	ret = event_loop(&r, a->duration) ? 1 : 0;
out:
	shut_down(&r);
	tt_httpd__free(r.httpd);
	tt_loader__free(r.loader);
	tt_exporter__free(r.exporter);
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		tt_otlp_config__release(&r.otlp[s]);
	tt_metrics__free(r.metrics);
	tt_asm__free(r.assembler);
	tt_console__free(r.console);
	tt_reorder__release_all(&r.reorder);
	tt_plan__release(&r.plan);
	tt_spec__free(r.spec);
	return ret;
}

static void usage_run(FILE *out)
{
	fprintf(out,
		"usage: %s run SPEC [--pid PID | --binary PATH] [--json] [--duration SECONDS]\n"
		"                   [--ring-size BYTES] [--no-color]\n"
		"                   [--otlp-endpoint URL] [--otlp-protocol PROTOCOL]\n"
		"                   [--otlp-header K=V]... [--otlp-compression gzip|none]\n"
		"                   [--otlp-timeout MS] [--spool DIR | --no-spool]\n"
		"                   [--logs] [--log-steps]\n"
		"                   [--http ADDR | --no-http] [--http-allow-remote]\n"
		"                   [--stuck-after SECONDS]\n"
		"                   [--spool-size BYTES] [--sampler NAME] [--sampler-arg RATIO]\n"
		"  PROTOCOL: http/protobuf (default), http/json or grpc\n",
		tt_prog_name);
}

int tt_cmd__run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"binary", required_argument, NULL, 'b'},
		{"json", no_argument, NULL, 'j'},
		{"duration", required_argument, NULL, 'd'},
		{"ring-size", required_argument, NULL, 'r'},
		{"no-color", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"otlp-endpoint", required_argument, NULL, 'O'},
		{"otlp-protocol", required_argument, NULL, 'O'},
		{"otlp-header", required_argument, NULL, 'O'},
		{"otlp-compression", required_argument, NULL, 'O'},
		{"otlp-timeout", required_argument, NULL, 'O'},
		{"spool", required_argument, NULL, 'O'},
		{"spool-size", required_argument, NULL, 'O'},
		{"no-spool", no_argument, NULL, 'O'},
		{"sampler", required_argument, NULL, 'O'},
		{"sampler-arg", required_argument, NULL, 'O'},
		{"logs", no_argument, NULL, 'L'},
		{"log-steps", no_argument, NULL, 'S'},
		{"http", required_argument, NULL, 'H'},
		{"no-http", no_argument, NULL, 'N'},
		{"http-allow-remote", no_argument, NULL, 'R'},
		{"stuck-after", required_argument, NULL, 'T'},
		{0},
	};
	struct run_args a = {.color = isatty(STDOUT_FILENO), .stuck_after = DEFAULT_STUCK_AFTER};
	char *end;
	int c, idx;

	while ((c = getopt_long(argc, argv, "p:b:jd:r:Ch", opts, &idx)) != -1) {
		switch (c) {
		case 'O':
			if (a.notlp == MAX_OTLP_ARGS) {
				tt_warn("too many OTLP options");
				return 2;
			}
			a.otlp[a.notlp].key = opts[idx].name;
			a.otlp[a.notlp].value = optarg ? optarg : "";
			a.notlp++;
			break;
		case 'p':
			if (tt_parse_pid(optarg, &a.pid)) {
				tt_warn("invalid pid '%s': expected a positive integer", optarg);
				return 2;
			}
			break;
		case 'b':
			a.binary = optarg;
			break;
		case 'j':
			a.json = true;
			break;
		case 'd':
			a.duration = strtod(optarg, &end);
			if (*end || a.duration <= 0) {
				tt_warn("invalid duration '%s': expected seconds", optarg);
				return 2;
			}
			break;
		case 'r':
			if (tt_parse_size(optarg, &a.ring_bytes) || a.ring_bytes < 4096 ||
			    (a.ring_bytes & (a.ring_bytes - 1))) {
				tt_warn("invalid ring size '%s': expected a power of two of at "
					"least 4096 bytes",
					optarg);
				return 2;
			}
			break;
		case 'C':
			a.color = false;
			break;
		case 'L':
			a.logs = true;
			break;
		case 'S':
			a.log_steps = true;
			break;
		case 'H':
			a.http_addr = optarg;
			break;
		case 'N':
			a.no_http = true;
			break;
		case 'R':
			a.http_allow_remote = true;
			break;
		case 'T':
			a.stuck_after = strtod(optarg, &end);
			if (*end || end == optarg || !(a.stuck_after > 0) || a.stuck_after > 1e9) {
				tt_warn("invalid --stuck-after '%s': expected seconds", optarg);
				return 2;
			}
			break;
		case 'h':
			usage_run(stdout);
			return 0;
		default:
			usage_run(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage_run(stderr);
		return 2;
	}
	if (a.pid && a.binary) {
		tt_warn("--pid and --binary exclude each other");
		return 2;
	}
	a.spec = argv[optind];
	return run(&a);
}
