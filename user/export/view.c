// SPDX-License-Identifier: MIT
/*
 * The task view's routes (view.h): the page's files and the /api/ endpoints. Every
 * endpoint first checks its query parameters against a table of what it
 * accepts, so that a script's typo is a 400, not a silently ignored filter.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "hex.h"
#include "export/jsonw.h"
#include "export/view.h"

#define TYPE_JSON	 "application/json"
#define MAX_ARG_LEN	 256 /* bytes of a filter value */
#define TASKS_LIMIT	 1000
#define TASKS_MAX_LIMIT	 100000
#define TRACES_LIMIT	 100
#define TRACES_MAX_LIMIT TT_TRACES_MAX_CAPACITY
#define MAX_RATES	 256 /* task names /api/rates reports */
#define RATE_SAMPLE_NS	 (30 * 1000000000ULL)

/* Per task name, what /api/rates reports. */
struct rate {
	char name[TT_LABEL_VALUE_MAX];
	uint64_t completed, failed, retried;
	uint64_t count; /* task.duration observations */
	uint64_t buckets[TT_METRIC_MAX_BOUNDS + 1];
};

/* The totals at one moment, the base of the rates per minute. */
struct sample {
	uint64_t at_ns; /* CLOCK_MONOTONIC; 0: not taken */
	size_t n;
	struct rate rows[MAX_RATES];
};

struct tt_view {
	struct tt_view_opts o;
	struct sample prev, cur;
	struct rate now[MAX_RATES];
};

struct tt_view *tt_view__new(const struct tt_view_opts *opts)
{
	struct tt_view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->o = *opts;
	/* before the first sample, rates are since the view started, from zero */
	v->prev.at_ns = tt_now_ns(CLOCK_MONOTONIC);
	return v;
}

void tt_view__free(struct tt_view *v)
{
	free(v);
}

/* ---- query parameters ----------------------------------------------------- */

/* The parameters an endpoint accepts; values are NULL when not given. */
struct params {
	const char *name, *service, *status, *limit;
};

enum param_id { P_NAME = 1 << 0, P_SERVICE = 1 << 1, P_STATUS = 1 << 2, P_LIMIT = 1 << 3 };

static const struct param_desc {
	enum param_id id;
	const char *key;
	size_t off;
} param_descs[] = {
	{P_NAME, "name", offsetof(struct params, name)},
	{P_SERVICE, "service", offsetof(struct params, service)},
	{P_STATUS, "status", offsetof(struct params, status)},
	{P_LIMIT, "limit", offsetof(struct params, limit)},
};

static void json_error(struct tt_http_reply *r, unsigned int status, const char *msg)
{
	r->status = status;
	r->type = TYPE_JSON;
	fputs("{\"error\":", r->out);
	tt_json__str(r->out, msg, strlen(msg));
	fputs("}\n", r->out);
}

/* "name, service or limit" for the parameters in `accepted`. */
static void accepted_list(unsigned accepted, char *buf, size_t len)
{
	size_t n = 0, total = 0, k = 0;

	for (size_t i = 0; i < sizeof(param_descs) / sizeof(param_descs[0]); i++)
		total += (accepted & param_descs[i].id) != 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(param_descs) / sizeof(param_descs[0]); i++) {
		if (!(accepted & param_descs[i].id))
			continue;
		k++;
		n += snprintf(buf + n, n < len ? len - n : 0, "%s%s",
			      k == 1	   ? ""
			      : k == total ? " or "
					   : ", ",
			      param_descs[i].key);
	}
}

/*
 * Fills p from q, accepting the parameters in `accepted`. Returns 0, or
 * -EINVAL having written a 400 that names the parameter (never its value).
 */
static int parse_params(const struct tt_http_request *q, unsigned accepted, struct params *p,
			struct tt_http_reply *r)
{
	char msg[160], list[64];

	memset(p, 0, sizeof(*p));
	accepted_list(accepted, list, sizeof(list));
	if (q->too_many_args) {
		json_error(r, 400, "too many query parameters");
		return -EINVAL;
	}
	for (size_t i = 0; i < q->nargs; i++) {
		const struct param_desc *d = NULL;
		const char **slot;

		for (size_t k = 0; k < sizeof(param_descs) / sizeof(param_descs[0]); k++) {
			if ((accepted & param_descs[k].id) &&
			    !strcmp(q->args[i].key, param_descs[k].key))
				d = &param_descs[k];
		}
		if (!d) {
			if (accepted)
				snprintf(msg, sizeof(msg), "unknown query parameter: expected %s",
					 list);
			else
				snprintf(msg, sizeof(msg),
					 "unknown query parameter: none is accepted");
			json_error(r, 400, msg);
			return -EINVAL;
		}
		slot = (const char **)((char *)p + d->off);
		if (*slot) {
			snprintf(msg, sizeof(msg), "query parameter '%s' given twice", d->key);
			json_error(r, 400, msg);
			return -EINVAL;
		}
		if (!q->args[i].value || !q->args[i].value[0] ||
		    strlen(q->args[i].value) > MAX_ARG_LEN) {
			snprintf(msg, sizeof(msg),
				 "invalid query parameter '%s': expected 1 to %d bytes", d->key,
				 MAX_ARG_LEN);
			json_error(r, 400, msg);
			return -EINVAL;
		}
		*slot = q->args[i].value;
	}
	return 0;
}

/* Parses p->limit into *limit (kept when absent). Returns 0 or -EINVAL with a 400. */
static int parse_limit(const struct params *p, uint64_t max, uint64_t *limit,
		       struct tt_http_reply *r)
{
	char msg[96], *end;
	uint64_t n;

	if (!p->limit)
		return 0;
	errno = 0;
	n = strtoull(p->limit, &end, 10);
	if (errno || *end || p->limit[0] < '0' || p->limit[0] > '9' || n < 1 || n > max) {
		snprintf(msg, sizeof(msg), "invalid limit: expected 1 to %" PRIu64, max);
		json_error(r, 400, msg);
		return -EINVAL;
	}
	*limit = n;
	return 0;
}

/* Whether `s` (len bytes) contains `needle`; NULL matches everything. */
static bool contains(const char *s, size_t len, const char *needle)
{
	size_t n;

	if (!needle)
		return true;
	n = strlen(needle);
	if (n > len)
		return false;
	for (size_t i = 0; i + n <= len; i++) {
		if (!memcmp(s + i, needle, n))
			return true;
	}
	return false;
}

/* ---- /api/tasks ----------------------------------------------------------- */

struct task_list {
	FILE *out;
	const struct params *p;
	uint64_t limit, matched, stuck;
};

static void emit_task(const struct tt_task_info *t, void *ctx)
{
	struct task_list *l = ctx;
	const struct tt_task_more *m = t->more;
	const char *service = m && m->service ? m->service : "";

	if (!contains(t->name ? t->name : "", t->name ? t->name_len : 0, l->p->name))
		return;
	if (l->p->service && strcmp(service, l->p->service))
		return;
	if (m && m->stuck)
		l->stuck++;
	if (l->matched++ >= l->limit)
		return;
	fputs(l->matched > 1 ? ",{\"name\":" : "{\"name\":", l->out);
	tt_json__str(l->out, t->name ? t->name : "", t->name ? t->name_len : 0);
	fputs(",\"id\":", l->out);
	tt_json__str(l->out, t->id ? t->id : "", t->id ? t->id_len : 0);
	fputs(",\"service\":", l->out);
	tt_json__str(l->out, service, strlen(service));
	fputs(",\"process\":", l->out);
	tt_json__str(l->out, m && m->process ? m->process : "",
		     m && m->process ? strlen(m->process) : 0);
	fprintf(l->out, ",\"pid\":%" PRIu32 ",\"age_seconds\":%.3f,\"attempt\":%" PRIu32 ",",
		t->pid, t->age_seconds, m && m->attempt ? m->attempt : 1);
	fprintf(l->out, "\"stuck\":%s,\"step\":", m && m->stuck ? "true" : "false");
	if (t->step)
		tt_json__str(l->out, t->step, t->step_len);
	else
		fputs("null", l->out);
	fputc('}', l->out);
}

static void api_tasks(struct tt_view *v, const struct tt_http_request *q, struct tt_http_reply *r)
{
	struct params p;
	struct task_list l = {.out = r->out, .p = &p, .limit = TASKS_LIMIT};

	if (parse_params(q, P_NAME | P_SERVICE | P_LIMIT, &p, r) ||
	    parse_limit(&p, TASKS_MAX_LIMIT, &l.limit, r))
		return;
	r->type = TYPE_JSON;
	fputs("{\"tasks\":[", r->out);
	if (v->o.tasks)
		v->o.tasks(emit_task, &l, v->o.tasks_ctx);
	fprintf(r->out,
		"],\"count\":%" PRIu64 ",\"stuck\":%" PRIu64
		",\"truncated\":%s,\"stuck_after_seconds\":%g}\n",
		l.matched, l.stuck, l.matched > l.limit ? "true" : "false",
		v->o.stuck_after_seconds);
}

/* ---- /api/traces ---------------------------------------------------------- */

struct trace_list {
	const struct tt_traces *traces;
	FILE *out;
	const struct params *p;
	uint64_t limit, matched;
};

static int list_trace(const struct tt_trace_info *info, void *ctx)
{
	struct trace_list *l = ctx;

	if (!contains(info->name, strlen(info->name), l->p->name))
		return 0;
	if (l->p->service && strcmp(info->service, l->p->service))
		return 0;
	if (l->p->status && strcmp(info->error ? "error" : "ok", l->p->status))
		return 0;
	if (l->matched++ >= l->limit)
		return 0;
	if (l->matched > 1)
		fputc(',', l->out);
	tt_traces__write_info(l->traces, info, l->out);
	return 0;
}

static void api_traces(struct tt_view *v, const struct tt_http_request *q, struct tt_http_reply *r)
{
	struct params p;
	struct trace_list l = {
		.traces = v->o.traces, .out = r->out, .p = &p, .limit = TRACES_LIMIT};

	if (parse_params(q, P_NAME | P_SERVICE | P_STATUS | P_LIMIT, &p, r) ||
	    parse_limit(&p, TRACES_MAX_LIMIT, &l.limit, r))
		return;
	if (p.status && strcmp(p.status, "ok") && strcmp(p.status, "error")) {
		json_error(r, 400, "invalid status: expected ok or error");
		return;
	}
	r->type = TYPE_JSON;
	fputs("{\"traces\":[", r->out);
	if (v->o.traces)
		tt_traces__each(v->o.traces, list_trace, &l);
	fprintf(r->out, "],\"count\":%" PRIu64 ",\"truncated\":%s,", l.matched,
		l.matched > l.limit ? "true" : "false");
	fprintf(r->out,
		"\"kept\":%zu,\"capacity\":%zu,\"bytes\":%" PRIu64 ",\"dropped\":%" PRIu64 "}\n",
		v->o.traces ? tt_traces__count(v->o.traces) : 0,
		v->o.traces ? tt_traces__capacity(v->o.traces) : 0,
		v->o.traces ? tt_traces__bytes(v->o.traces) : 0,
		v->o.traces ? tt_traces__dropped(v->o.traces) : 0);
}

static void api_trace(struct tt_view *v, const char *hex, const struct tt_http_request *q,
		      struct tt_http_reply *r)
{
	struct params p;
	uint8_t id[16];

	if (parse_params(q, 0, &p, r))
		return;
	if (strlen(hex) != 32) {
		json_error(r, 400, "invalid trace id: expected 32 hex digits");
		return;
	}
	for (int i = 0; i < 16; i++) {
		int hi = tt_hex_digit(hex[2 * i]), lo = tt_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			json_error(r, 400, "invalid trace id: expected 32 hex digits");
			return;
		}
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	r->type = TYPE_JSON;
	if (!v->o.traces || tt_traces__write(v->o.traces, id, r->out)) {
		json_error(r, 404, "no such trace among the recent ones");
		return;
	}
	fputc('\n', r->out);
}

/* ---- /api/rates ----------------------------------------------------------- */

static struct rate *rate_of(struct rate *rows, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++) {
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	}
	if (*n == MAX_RATES)
		return NULL;
	memset(&rows[*n], 0, sizeof(rows[*n]));
	snprintf(rows[*n].name, sizeof(rows[*n].name), "%s", name);
	return &rows[(*n)++];
}

struct rate_visit {
	struct rate *rows;
	size_t n;
	int nbounds;
	const double *bounds;
};

static int visit_series(const struct tt_series_view *s, void *ctx)
{
	struct rate_visit *rv = ctx;
	struct rate *row;

	switch (s->id) {
	case TT_M_TASK_COMPLETED:
	case TT_M_TASK_FAILED:
	case TT_M_STEP_RETRIES:
	case TT_M_TASK_DURATION:
		break;
	default:
		return 0;
	}
	/* the first label of each is task.name */
	row = rate_of(rv->rows, &rv->n, s->values[0]);
	if (!row)
		return 0;
	if (s->id == TT_M_TASK_COMPLETED)
		row->completed += (uint64_t)s->value;
	else if (s->id == TT_M_TASK_FAILED)
		row->failed += (uint64_t)s->value;
	else if (s->id == TT_M_STEP_RETRIES)
		row->retried += (uint64_t)s->value;
	else {
		row->count += s->count;
		for (int i = 0; i <= s->desc->nbounds && i <= TT_METRIC_MAX_BOUNDS; i++)
			row->buckets[i] += s->buckets[i];
		rv->nbounds = s->desc->nbounds;
		rv->bounds = s->desc->bounds;
	}
	return 0;
}

/* The q-quantile of a histogram, interpolated inside its bucket, in seconds. */
static double quantile(const struct rate *row, int nbounds, const double *bounds, double q)
{
	double target = q * (double)row->count, cum = 0;

	for (int i = 0; i <= nbounds; i++) {
		double lo = i ? bounds[i - 1] : 0,
		       hi = i < nbounds ? bounds[i] : bounds[nbounds - 1];
		double c = (double)row->buckets[i];

		if (c > 0 && cum + c >= target)
			return lo + (hi - lo) * ((target - cum) / c);
		cum += c;
	}
	return nbounds ? bounds[nbounds - 1] : 0;
}

static const struct rate *base_of(const struct sample *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (!strcmp(s->rows[i].name, name))
			return &s->rows[i];
	}
	return NULL;
}

static double per_minute(uint64_t now, uint64_t base, double window_s)
{
	return window_s > 0 && now >= base ? (double)(now - base) * 60.0 / window_s : 0;
}

static void api_rates(struct tt_view *v, const struct tt_http_request *q, struct tt_http_reply *r)
{
	struct rate_visit rv = {.rows = v->now};
	struct tt_metrics_visitor vis = {.series = visit_series, .ctx = &rv};
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);
	struct params p;
	double window;

	if (parse_params(q, 0, &p, r))
		return;
	if (v->o.metrics)
		tt_metrics__visit(v->o.metrics, &vis);
	/* two samples 30 s apart: rates are over the last 30 to 60 s */
	if (!v->cur.at_ns || now - v->cur.at_ns >= RATE_SAMPLE_NS) {
		if (v->cur.at_ns)
			v->prev = v->cur;
		v->cur.at_ns = now;
		v->cur.n = rv.n;
		memcpy(v->cur.rows, rv.rows, rv.n * sizeof(rv.rows[0]));
	}
	window = (double)(now - v->prev.at_ns) / 1e9;
	r->type = TYPE_JSON;
	fprintf(r->out, "{\"window_seconds\":%.1f,\"tasks\":[", window);
	for (size_t i = 0; i < rv.n; i++) {
		const struct rate *row = &rv.rows[i];
		const struct rate *b = base_of(&v->prev, row->name);
		struct rate zero = {0};

		if (!b)
			b = &zero;
		fputs(i ? ",{\"name\":" : "{\"name\":", r->out);
		tt_json__str(r->out, row->name, strlen(row->name));
		fprintf(r->out,
			",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"retried\":%" PRIu64
			",\"completed_per_minute\":%.2f,\"failed_per_minute\":%.2f"
			",\"retried_per_minute\":%.2f",
			row->completed, row->failed, row->retried,
			per_minute(row->completed, b->completed, window),
			per_minute(row->failed, b->failed, window),
			per_minute(row->retried, b->retried, window));
		fprintf(r->out, ",\"duration_seconds\":{\"count\":%" PRIu64, row->count);
		if (row->count && rv.bounds)
			fprintf(r->out, ",\"p50\":%.4g,\"p95\":%.4g,\"p99\":%.4g}}",
				quantile(row, rv.nbounds, rv.bounds, 0.50),
				quantile(row, rv.nbounds, rv.bounds, 0.95),
				quantile(row, rv.nbounds, rv.bounds, 0.99));
		else
			fputs(",\"p50\":null,\"p95\":null,\"p99\":null}}", r->out);
	}
	fputs("]}\n", r->out);
}

/* ---- routing -------------------------------------------------------------- */

static void serve_asset(const struct tt_view_asset *a, const struct tt_http_request *q,
			struct tt_http_reply *r)
{
	struct params p;

	/* the page takes its state from the fragment (#/trace/ID), never the query */
	if (q->nargs || q->too_many_args) {
		r->csp = TT_VIEW_CSP;
		if (parse_params(q, 0, &p, r))
			return;
	}
	fwrite(a->data, 1, a->len, r->out);
	r->type = a->type;
	r->csp = TT_VIEW_CSP;
}

bool tt_view__route(const struct tt_http_request *q, struct tt_http_reply *r, void *ctx)
{
	struct tt_view *v = ctx;
	const struct tt_view_asset *a = tt_view__asset(q->path);

	if (a) {
		serve_asset(a, q, r);
		return true;
	}
	if (!strcmp(q->path, "/api/tasks"))
		api_tasks(v, q, r);
	else if (!strcmp(q->path, "/api/traces"))
		api_traces(v, q, r);
	else if (!strncmp(q->path, "/api/traces/", 12))
		api_trace(v, q->path + 12, q, r);
	else if (!strcmp(q->path, "/api/rates"))
		api_rates(v, q, r);
	else if (!strncmp(q->path, "/api/", 5))
		json_error(r, 404,
			   "not found: try /api/tasks, /api/traces, /api/traces/{id}, "
			   "/api/rates");
	else
		return false;
	return true;
}
