// SPDX-License-Identifier: MIT
/* The /health, /tasks and /metrics providers, the counters they read, and their HTTP server. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "helpers.h"
#include "log.h"
#include "export/exporter.h"
#include "export/httpd.h"
#include "export/jsonw.h"
#include "export/metrics.h"
#include "export/prom.h"
#include "export/traces.h"
#include "export/view.h"

/* Counts one open task into task.in_flight, and as stuck when it is old enough. */
static void count_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct agent *r = ctx;
	const struct tt_target *t = task->probe ? task->probe->target : NULL;
	struct tt_metric_labels l = {.task_name = task->name,
				     .service = t && t->spec ? t->spec->service : NULL};
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);

	tt_metrics__add_in_flight(r->metrics, &l, 1);
	if (now > task->start_ns && now - task->start_ns > r->stuck_after_ns)
		r->stuck++;
}

/* Refreshes task.in_flight and the stuck count from the open tasks. */
void health__count_tasks(struct agent *r)
{
	events__peek_calls(r);
	r->stuck = 0;
	tt_metrics__reset_in_flight(r->metrics);
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__for_each_task(r->slots[i]->assembler, 0, count_task, r);
	}
}

static uint64_t dropped_spans(const struct tt_exporter_stats *x)
{
	return tt_signal_stats__dropped(&x->traces);
}

#define UNANNOTATED_FUNCTIONS 64

/* Counts of annotate hooks without a span, summed by function. */
struct unannotated_sums {
	const char *fn[UNANNOTATED_FUNCTIONS];
	uint64_t n[UNANNOTATED_FUNCTIONS];
	int len;
};

static void sum_unannotated(const struct slot *s, const struct tt_hook *h, uint64_t count,
			    void *ctx)
{
	struct unannotated_sums *u = ctx;
	const char *fn = h->usdt ? h->usdt : h->function ? h->function : h->symbol;
	int i;

	(void)s;
	for (i = 0; i < u->len && strcmp(u->fn[i], fn) != 0; i++)
		;
	if (i == UNANNOTATED_FUNCTIONS)
		return; /* beyond a bound no spec reaches: the summary still names it */
	if (i == u->len) {
		u->fn[u->len] = fn;
		u->n[u->len++] = 0;
	}
	u->n[i] += count;
}

/* tasktap.annotate.unmatched, by function. */
static void update_unannotated(struct agent *r)
{
	struct unannotated_sums u = {.len = 0};

	events__for_each_unannotated(r, sum_unannotated, &u);
	for (int i = 0; i < u.len; i++)
		tt_metrics__set_unannotated(r->metrics, u.fn[i], u.n[i]);
}

static void set_hook_lost(uint32_t gid, const char *name, uint64_t count, void *ctx)
{
	(void)gid;
	tt_metrics__set_hook_lost(ctx, name, EVENTS_LOST_RING_FULL, count);
}

/* Hands the loader's, the assembler's and the exporter's counters to the metrics. */
void health__update_metrics(struct agent *r)
{
	struct tt_agent_stats st = {0};
	struct tt_exporter_stats x = {0};
	struct tt_asm_stats as = {0};

	events__asm_stats(r, &as);
	if (r->exporter)
		tt_exporter__stats(r->exporter, &x);
	if (r->loader) {
		st.events_lost = r->bpf->stat(r->loader, TT_STAT_LOST);
		st.exit_events_lost = r->bpf->stat(r->loader, TT_STAT_LOST_EXITS);
		st.events_dropped = r->events_dropped;
		st.probes_attached = (uint64_t)r->bpf->attached(r->loader);
	}
	st.events_received = as.events;
	st.open_spans = as.open_spans;
	st.spans_evicted = as.evictions;
	st.spans_exported = x.spans_exported;
	memcpy(st.spans_dropped, x.dropped, sizeof(st.spans_dropped));
	for (int i = 0; i < TT_REJECT__COUNT; i++)
		st.spans_rejected[i] = x.traces.rejected_by[i];
	st.spans_processed = x.spans_queued - x.queue_len;
	st.queue_capacity = x.queue_cap;
	st.export_failures = x.export_failures + x.metrics.export_failures + x.logs.export_failures;
	st.queue_size = x.queue_len;
	st.queue_bytes = x.queue_bytes;
	st.queue_max_bytes = x.queue_max_bytes;
	st.spool_bytes = x.spool_bytes + x.metrics.spool_bytes + x.logs.spool_bytes;
	st.tasks_stuck = r->stuck;
	st.spans_lost_killed = r->prev.killed ? r->prev.unsent : 0;
	if (r->traces) {
		st.view_traces = tt_traces__count(r->traces);
		st.view_bytes = tt_traces__bytes(r->traces);
	}
	tt_metrics__set_agent(r->metrics, &st);
	update_unannotated(r);
	events__for_each_hook_lost(r, set_hook_lost, r->metrics);
}

/* Samples the rate of events once a second, for /health and `tasktap status`. */
void health__sample_rate(struct agent *r, uint64_t now)
{
	struct tt_asm_stats as;

	events__asm_stats(r, &as);
	if (r->rate_at_ns && now > r->rate_at_ns && as.events >= r->rate_events)
		r->events_per_s =
			(double)(as.events - r->rate_events) * 1e9 / (double)(now - r->rate_at_ns);
	r->rate_events = as.events;
	r->rate_at_ns = now;
}

/* /metrics: the metrics as they are now. */
static int provide_metrics(FILE *out, bool openmetrics, void *ctx)
{
	struct agent *r = ctx;
	struct tt_prom_opts o = {.openmetrics = openmetrics};

	health__count_tasks(r);
	health__update_metrics(r);
	/* target_info: the agent's own resource, made once */
	if (!r->resource) {
		struct tt_resource_opts ro = {.spec_service = sinks__service_name(r),
					      .cfg = &r->otlp[TT_SIGNAL_METRICS]};

		r->resource = tt_resource__new(getpid(), &ro);
	}
	o.resource = r->resource;
	return tt_prom__write_as(r->metrics, &o, out);
}

/* What the exporter's state is, for people; and whether it is a problem. */
static const char *exporter_state(const struct agent *r, const struct tt_exporter_stats *x,
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

/* The specs of /health: file, whether in use, the error when not. */
static void health_specs(struct tt_jsonw *w, const struct agent *r)
{
	tt_jsonw__name(w, "specs");
	tt_jsonw__start_array(w);
	for (size_t i = 0; i < r->nslots; i++) {
		const struct slot *s = r->slots[i];

		tt_jsonw__start_object(w);
		tt_jsonw__string_field(w, "file", s->file);
		tt_jsonw__bool_field(w, "ok", s->spec != NULL);
		if (s->spec)
			tt_jsonw__int_field(w, "hooks", s->spec->nhooks);
		/* with a spec: an edit that could not be used, and the previous version runs */
		if (s->spec && s->error[0])
			tt_jsonw__string_field(w, "reload_error", s->error);
		else if (!s->spec)
			tt_jsonw__string_field(w, "error", s->error);
		tt_jsonw__end_object(w);
	}
	tt_jsonw__end_array(w);
}

/* The attachments of /health: what is attached where, for `tasktap status`. */
static void health_attachments(struct tt_jsonw *w, const struct agent *r)
{
	tt_jsonw__name(w, "attachments");
	tt_jsonw__start_array(w);
	for (const struct place *p = places__first(r->places); p; p = p->next) {
		for (size_t i = 0; i < p->nhooks; i++) {
			const struct tt_hook *h = p->hooks[i].hook;
			char where[256];

			if (h->usdt)
				snprintf(where, sizeof(where), "usdt %s:%s", h->provider, h->usdt);
			else
				snprintf(where, sizeof(where), "%s",
					 h->function ? h->function : h->symbol);
			tt_jsonw__start_object(w);
			tt_jsonw__string_field(w, "spec", p->slot->file);
			tt_jsonw__uint_field(w, "hook", p->hooks[i].gid);
			tt_jsonw__string_field(w, "role", tt_role__name(h->probe->role));
			tt_jsonw__string_field(w, "function", where);
			tt_jsonw__string_field(w, "file", p->shown);
			tt_jsonw__int_field(w, "pid", p->pid);
			if (r->bpf->link_adopted(p->hooks[i].link))
				tt_jsonw__string_field(w, "pinned", "adopted");
			else
				tt_jsonw__bool_field(w, "pinned", false);
			tt_jsonw__end_object(w);
		}
	}
	tt_jsonw__end_array(w);
}

static void write_hook_lost(uint32_t gid, const char *name, uint64_t count, void *ctx)
{
	struct tt_jsonw *w = ctx;

	tt_jsonw__start_object(w);
	tt_jsonw__uint_field(w, "hook", gid);
	tt_jsonw__string_field(w, "function", name);
	tt_jsonw__string_field(w, "reason", EVENTS_LOST_RING_FULL);
	tt_jsonw__uint_field(w, "count", count);
	tt_jsonw__end_object(w);
}

/*
 * Every event lost, by reason (events_lost counts the first two), and the
 * hooks' share of those the rings lost.
 */
static void health_losses(struct tt_jsonw *w, const struct agent *r)
{
	tt_jsonw__name(w, "events_lost_by_reason");
	tt_jsonw__start_object(w);
	tt_jsonw__uint_field(w, EVENTS_LOST_RING_FULL,
			     r->loader ? r->bpf->stat(r->loader, TT_STAT_LOST) : 0);
	tt_jsonw__uint_field(w, "ring_full_exit",
			     r->loader ? r->bpf->stat(r->loader, TT_STAT_LOST_EXITS) : 0);
	tt_jsonw__uint_field(w, "memory", r->events_dropped);
	tt_jsonw__end_object(w);
	tt_jsonw__name(w, "events_lost_by_hook");
	tt_jsonw__start_array(w);
	events__for_each_hook_lost(r, write_hook_lost, w);
	tt_jsonw__end_array(w);
}

/*
 * The spans' ledger of /health: "spans_queued", "spans_exported",
 * "spans_in_queue", "spans_in_flight", "queue_bytes", "spans_in_spool", and
 * "spans_dropped_by" with every reason (enum tt_drop_reason), 0 or not, so
 * that a reader can check queued = exported + in the queue + in flight + in
 * the spool + dropped.
 */
static void write_span_ledger(struct tt_jsonw *w, const struct tt_exporter_stats *x)
{
	tt_jsonw__uint_field(w, "spans_queued", x->spans_queued);
	tt_jsonw__uint_field(w, "spans_exported", x->spans_exported);
	tt_jsonw__uint_field(w, "spans_in_queue", x->queue_len);
	tt_jsonw__uint_field(w, "spans_in_flight", x->in_flight);
	tt_jsonw__uint_field(w, "queue_bytes", x->queue_bytes);
	tt_jsonw__uint_field(w, "queue_max_bytes", x->queue_max_bytes);
	tt_jsonw__uint_field(w, "spans_in_spool", x->spool_spans);
	tt_jsonw__name(w, "spans_dropped_by");
	tt_jsonw__start_object(w);
	for (int r = 0; r < TT_DROP__COUNT; r++)
		tt_jsonw__uint_field(w, tt_drop_reason__name(r), x->dropped[r]);
	tt_jsonw__end_object(w);
}

void health__write(struct tt_jsonw *w, const struct agent *r)
{
	struct tt_asm_stats as;

	events__asm_stats(r, &as);
	if (r->exporter) {
		struct tt_exporter_stats x = {0};

		tt_exporter__stats(r->exporter, &x);
		tt_exporter__write_rejections(w, &x);
		write_span_ledger(w, &x);
	}
	health_specs(w, r);
	health_attachments(w, r);
	health_losses(w, r);
	tt_jsonw__uint_field(w, "events_received", as.events);
	tt_jsonw__float_field_fmt(w, "events_per_second", "%.1f", r->events_per_s);
	tt_jsonw__uint_field(w, "processes_discovered", r->discovered);
	tt_jsonw__uint_field(w, "execs_seen", r->execs);
	tt_jsonw__uint_field(w, "processes_untraced_at_start", r->untraced);
	tt_jsonw__uint_field(w, "reloads", r->reloads);
	tt_jsonw__float_field_fmt(w, "uptime_seconds", "%.0f",
				  (double)(tt_now_ns(CLOCK_MONOTONIC) - r->started_ns) / 1e9);
	if (r->loader && r->bpf->adopted(r->loader))
		tt_jsonw__string_field(w, "pinned", "adopted");
	else
		tt_jsonw__bool_field(w, "pinned", r->pin_dir != NULL);
	if (r->ledger) {
		/* the previous agent's losses when it was killed (the span ledger in --pin) */
		tt_jsonw__uint_field(w, "spans_unsent_by_killed_agent",
				     r->prev.killed ? r->prev.unsent : 0);
		tt_jsonw__uint_field(w, "spans_lost_by_killed_agent",
				     r->prev.killed ? r->prev.counted_lost : 0);
	}
}

/* What /health adds for `tasktap status` (health__write()). */
static void health_extra(struct tt_jsonw *w, void *ctx)
{
	health__write(w, ctx);
}

/* /health: the numbers, and what makes it degraded besides drops and losses. */
static void provide_health(struct tt_health *h, void *ctx)
{
	static char refusing[128]; /* the event loop's: read before the next call */
	struct agent *r = ctx;
	struct tt_exporter_stats x = {0};
	struct tt_asm_stats as = {0};
	bool down;

	health__count_tasks(r);
	if (r->exporter)
		tt_exporter__stats(r->exporter, &x);
	events__asm_stats(r, &as);
	h->extra = health_extra;
	h->extra_ctx = r;
	if (r->loader) {
		h->probes_attached = (uint64_t)r->bpf->attached(r->loader);
		h->events_lost = r->bpf->stat(r->loader, TT_STAT_LOST) +
				 r->bpf->stat(r->loader, TT_STAT_LOST_EXITS);
	}
	h->exporter = exporter_state(r, &x, &down);
	h->queue_size = x.queue_len;
	h->spool_bytes = x.spool_bytes + x.metrics.spool_bytes + x.logs.spool_bytes;
	h->spans_dropped = dropped_spans(&x) + (r->prev.killed ? r->prev.unsent : 0);
	h->open_spans = as.open_spans;
	h->stuck_tasks = r->stuck;
	if (down)
		h->degraded = "the collector is unreachable";
	else if (r->exporter && tt_exporter__refusing(&x, refusing, sizeof(refusing)))
		h->degraded = refusing;
}

/* /tasks: one entry per open task; the step is the innermost open one. */
struct task_emit {
	tt_task_emit_fn emit;
	void *emit_ctx;
	uint64_t now;
	uint64_t stuck_after_ns;
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

/* The service and process of a task for the task view, from its spec. */
static void view_task_more(const struct tt_span *task, struct tt_task_more *more)
{
	const struct tt_target *tg = task->probe ? task->probe->target : NULL;
	const char *slash;

	if (!tg)
		return;
	if (tg->spec && tg->spec->service)
		more->service = tg->spec->service;
	if (tg->comm) {
		more->process = tg->comm;
	} else if (tg->path) {
		slash = strrchr(tg->path, '/');
		more->process = slash ? slash + 1 : tg->path;
	}
}

static void emit_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct task_emit *te = ctx;
	struct tt_task_info info = {.name = task->name,
				    .name_len = strnlen(task->name, sizeof(task->name)),
				    .pid = task->pid};
	struct tt_task_more more = {.service = "", .process = "", .attempt = 1};
	char id_num[24], step_num[24], attempt_num[24];
	const char *attempt;
	size_t attempt_len;

	view_task_more(task, &more);
	attempt = span_attr(task, tt_task_attrs.attempt, attempt_num, sizeof(attempt_num),
			    &attempt_len);
	if (attempt && attempt_len < sizeof(attempt_num) && attempt == attempt_num)
		more.attempt = (uint32_t)strtoul(attempt_num, NULL, 10);
	more.stuck = te->now > task->start_ns && te->now - task->start_ns > te->stuck_after_ns;
	info.more = &more;
	info.age_seconds = te->now > task->start_ns ? (double)(te->now - task->start_ns) / 1e9 : 0;
	info.id = span_attr(task, tt_task_attrs.id, id_num, sizeof(id_num), &info.id_len);
	if (step) {
		info.step = span_attr(step, tt_task_attrs.step, step_num, sizeof(step_num),
				      &info.step_len);
		if (!info.step) {
			info.step = step->name;
			info.step_len = strnlen(step->name, sizeof(step->name));
		}
	}
	te->emit(&info, te->emit_ctx);
}

static void provide_tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
{
	struct agent *r = ctx;
	struct task_emit te = {
		.emit = emit, .emit_ctx = emit_ctx, .stuck_after_ns = r->stuck_after_ns};

	events__peek_calls(r);
	te.now = tt_now_ns(CLOCK_MONOTONIC);
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__for_each_task(r->slots[i]->assembler, 0, emit_task, &te);
	}
}

/* Writes "HOST:PORT" (or "[V6]:PORT") of the address the server listens on. */
static void http_address(const char *addr, uint16_t port, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[INET6_ADDRSTRLEN] = "127.0.0.1", err[256];

	if (!tt_httpd__parse_addr(addr, true, &ss, &sslen, err, sizeof(err))) {
		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof(host));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
				  sizeof(host));
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* The task view: the ring of recent traces and the routes that read it. */
static int setup_view(struct agent *r, const struct run_args *a)
{
	struct tt_traces_opts to = {.capacity = a->recent_traces};
	struct tt_view_opts vo = {.metrics = r->metrics,
				  .tasks = provide_tasks,
				  .tasks_ctx = r,
				  .stuck_after_seconds = a->stuck_after};

	to.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	r->traces = tt_traces__new(&to);
	vo.traces = r->traces;
	r->view = r->traces ? tt_view__new(&vo) : NULL;
	if (!r->view) {
		tt_warn("cannot start the task view: %s", strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

void health__providers(struct agent *r, struct tt_httpd_providers *p)
{
	*p = (struct tt_httpd_providers){.metrics = provide_metrics,
					 .health = provide_health,
					 .tasks = provide_tasks,
					 .ctx = r,
					 .route = tt_view__route};
}

/*
 * Listens for /metrics, /health and /tasks (unless --no-http), before
 * anything is attached, so that a taken port stops the agent early.
 * Returns 0, -EINVAL (a bad address: exit 2), or -errno.
 */
int health__serve(struct agent *r, const struct run_args *a)
{
	struct tt_httpd_opts o = {
		/* --http, else OTEL_EXPORTER_PROMETHEUS_HOST and _PORT, else the default */
		.addr = a->http_addr	      ? a->http_addr
			: r->sdk.prom_addr[0] ? r->sdk.prom_addr
					      : NULL,
		.allow_remote = a->http_allow_remote,
		/* /health/live is answered while the loop is busy in the kernel */
		.own_thread = true,
	};
	char err[512], where[80];

	if (a->no_http)
		return 0;
	health__providers(r, &o.providers);
	/* OTEL_METRICS_EXPORTER without prometheus: /metrics answers 503 */
	if (r->sdk.metrics_set && !(r->sdk.metrics & TT_EXPORTER_PROMETHEUS))
		o.providers.metrics = NULL;
	if (setup_view(r, a))
		return -ENOMEM;
	o.providers.route_ctx = r->view;
	r->httpd = tt_httpd__new(&o, err, sizeof(err));
	if (!r->httpd) {
		tt_warn("%s", err);
		return errno == EINVAL || errno == EPERM ? -EINVAL : -errno;
	}
	http_address(o.addr, tt_httpd__port(r->httpd), where, sizeof(where));
	tt_info("http: serving the task view, /api, /metrics, /health and /tasks on http://%s",
		where);
	tt_info("http: open http://%s/ in a browser to see the tasks", where);
	return 0;
}
