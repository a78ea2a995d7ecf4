// SPDX-License-Identifier: MIT
/* The Prometheus text exposition of the metrics (see prom.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "export/prom.h"

#define NAME_MAX_LEN 128

/* The Prometheus suffix of a UCUM unit; "" for annotations like {task}. */
static const char *unit_suffix(const char *unit)
{
	static const struct {
		const char *ucum, *prom;
	} units[] = {
		{"s", "seconds"},
		{"ms", "milliseconds"},
		{"By", "bytes"},
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].ucum) == 0)
			return units[i].prom;
	}
	return "";
}

/* Appends `s` to buf at *o, turning characters Prometheus forbids into '_'. */
static int append_name(char *buf, size_t len, size_t *o, const char *s)
{
	for (; *s; s++) {
		char c = *s;

		if (*o + 1 >= len)
			return -ENOSPC;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			c = '_';
		buf[(*o)++] = c;
	}
	buf[*o] = '\0';
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int tt_prom__name(const struct tt_metric_desc *d, char *buf, size_t len)
{
	const char *unit = unit_suffix(d->unit);
	size_t o = 0;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	if (append_name(buf, len, &o, d->name))
		return -ENOSPC;
	if (*unit && !ends_with(buf, unit)) {
		if (append_name(buf, len, &o, "_") || append_name(buf, len, &o, unit))
			return -ENOSPC;
	}
	if (d->type == TT_METRIC_COUNTER && !ends_with(buf, "_total")) {
		if (append_name(buf, len, &o, "_total"))
			return -ENOSPC;
	}
	return 0;
}

int tt_prom__label(const char *name, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	return append_name(buf, len, &o, name);
}

/*
 * As Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus clients
 * use: the fewest significant digits that read back as v, in exponent
 * form only when the exponent is below -4 or at least 6 (so 3600, 0.005).
 */
void tt_prom__float(double v, char *buf, size_t len)
{
	char e[40];
	int p, exp;

	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		snprintf(buf, len, "0");
		return;
	}
	for (p = 1; p < 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", p - 1, v);
	exp = (int)strtol(strchr(e, 'e') + 1, NULL, 10); /* printf wrote it: digits */
	if (exp < -4 || exp >= 6)
		snprintf(buf, len, "%s", e);
	else
		snprintf(buf, len, "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0, v);
}

/* Writes `s` with \, " and newline escaped, as a label value must be. */
static void put_escaped(FILE *out, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (quote && *s == '"')
			fputs("\\\"", out);
		else
			fputc(*s, out);
	}
}

struct writer {
	FILE *out;
	bool openmetrics;
	char name[NAME_MAX_LEN]; /* the current family */
	char labels[TT_METRIC_MAX_LABELS][NAME_MAX_LEN];
};

static const char *type_name(enum tt_metric_type t)
{
	switch (t) {
	case TT_METRIC_COUNTER:
		return "counter";
	case TT_METRIC_GAUGE:
	case TT_METRIC_UPDOWN:
		return "gauge";
	default:
		return "histogram";
	}
}

static int on_metric(enum tt_metric_id id, const struct tt_metric_desc *d, size_t nseries,
		     void *ctx)
{
	struct writer *w = ctx;
	size_t family_len;

	if (tt_prom__name(d, w->name, sizeof(w->name)))
		return -ENAMETOOLONG;
	for (int i = 0; i < d->nlabels; i++) {
		if (tt_prom__label(tt_label__name(d->labels[i]), w->labels[i],
				   sizeof(w->labels[i])))
			return -ENAMETOOLONG;
	}
	/* OpenMetrics names a counter's family without _total, its sample with it */
	family_len = strlen(w->name);
	if (w->openmetrics && d->type == TT_METRIC_COUNTER && ends_with(w->name, "_total"))
		family_len -= strlen("_total");
	fprintf(w->out, "# HELP %.*s ", (int)family_len, w->name);
	put_escaped(w->out, d->help, false);
	fprintf(w->out, "\n# TYPE %.*s %s\n", (int)family_len, w->name, type_name(d->type));
	return 0;
}

/* Writes "name{labels[,le="x"]}" for one sample. */
static void put_sample_name(struct writer *w, const struct tt_series_view *s, const char *suffix,
			    const char *le)
{
	bool any = false;

	fprintf(w->out, "%s%s", w->name, suffix);
	for (int i = 0; i < s->desc->nlabels; i++) {
		if (!s->values[i][0])
			continue; /* an empty value is an absent label */
		fprintf(w->out, "%s%s=\"", any ? "," : "{", w->labels[i]);
		put_escaped(w->out, s->values[i], true);
		fputc('"', w->out);
		any = true;
	}
	if (le) {
		fprintf(w->out, "%sle=\"%s\"", any ? "," : "{", le);
		any = true;
	}
	if (any)
		fputc('}', w->out);
	fputc(' ', w->out);
}

static void put_histogram(struct writer *w, const struct tt_series_view *s)
{
	const struct tt_metric_desc *d = s->desc;
	uint64_t cum = 0;
	char num[40];

	for (int b = 0; b <= d->nbounds; b++) {
		cum += s->buckets[b];
		tt_prom__float(b < d->nbounds ? d->bounds[b] : INFINITY, num, sizeof(num));
		put_sample_name(w, s, "_bucket", num);
		fprintf(w->out, "%" PRIu64 "\n", cum);
	}
	tt_prom__float(s->sum, num, sizeof(num));
	put_sample_name(w, s, "_sum", NULL);
	fprintf(w->out, "%s\n", num);
	put_sample_name(w, s, "_count", NULL);
	fprintf(w->out, "%" PRIu64 "\n", s->count);
}

static int on_series(const struct tt_series_view *s, void *ctx)
{
	struct writer *w = ctx;

	if (s->desc->type == TT_METRIC_HISTOGRAM) {
		put_histogram(w, s);
		return 0;
	}
	put_sample_name(w, s, "", NULL);
	fprintf(w->out, "%" PRId64 "\n", s->value);
	return 0;
}

int tt_prom__write(const struct tt_metrics *m, FILE *out)
{
	struct tt_prom_opts o = {0};

	return tt_prom__write_as(m, &o, out);
}

/*
 * target_info: the resource's attributes as labels of one sample of value 1,
 * as OpenTelemetry's Prometheus compatibility asks (an info metric).
 */
static void put_target_info(FILE *out, const struct tt_resource *res, bool openmetrics)
{
	char label[NAME_MAX_LEN], num[32];

	fprintf(out, "# HELP target_info Target metadata\n# TYPE %s\ntarget_info",
		openmetrics ? "target info" : "target_info gauge");
	for (size_t i = 0; i < res->n; i++) {
		const struct tt_res_attr *a = &res->at[i];

		if (tt_prom__label(a->key, label, sizeof(label)))
			continue;
		fprintf(out, "%s%s=\"", i ? "," : "{", label);
		if (a->str) {
			put_escaped(out, a->str, true);
		} else {
			snprintf(num, sizeof(num), "%" PRId64, a->i);
			fputs(num, out);
		}
		fputc('"', out);
	}
	fputs(res->n ? "} 1\n" : " 1\n", out);
}

int tt_prom__write_as(const struct tt_metrics *m, const struct tt_prom_opts *o, FILE *out)
{
	struct writer w = {.out = out, .openmetrics = o->openmetrics};
	struct tt_metrics_visitor v = {.metric = on_metric, .series = on_series, .ctx = &w};
	int ret;

	if (o->resource)
		put_target_info(out, o->resource, o->openmetrics);
	ret = tt_metrics__visit(m, &v);
	if (ret)
		return ret;
	if (o->openmetrics)
		fputs("# EOF\n", out);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}

bool tt_prom__wants_openmetrics(const char *accept)
{
	return accept && strstr(accept, "application/openmetrics-text") != NULL;
}
