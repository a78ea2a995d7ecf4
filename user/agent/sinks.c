// SPDX-License-Identifier: MIT
/* Where spans go: console or JSON lines, OTLP settings, the exporter's start and stop. */
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

int sinks__read_sdk(struct agent *r)
{
	struct tt_env env = {.warn = warn_once};
	char err[512];

	tt_sdk_config__init(&r->sdk);
	if (tt_sdk_config__from_env(&r->sdk, &env, err, sizeof(err))) {
		tt_warn("%s", err);
		return -EINVAL;
	}
	/* OTEL_LOGS_EXPORTER=console: the step lines on stderr */
	if (r->sdk.logs_set && (r->sdk.logs & TT_EXPORTER_CONSOLE))
		r->log_steps = true;
	return 0;
}

int sinks__read_otlp(struct agent *r, const struct run_args *a)
{
	int ret;

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		ret = read_otlp(&r->otlp[s], s, a);
		if (ret)
			return ret;
	}
	tt_sdk_config__apply(&r->sdk, r->otlp);
	return 0;
}

/* Says where each exported signal goes. */
static void report_otlp(const struct agent *r)
{
	static const char *const what[TT_SIGNAL__COUNT] = {"spans", "metrics", "logs"};
	char url[512];

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		const struct tt_otlp_config *c = &r->otlp[s];

		if (!tt_otlp_config__enabled(c) || tt_otlp_config__url(c, url, sizeof(url)))
			continue;
		if (s == TT_SIGNAL_METRICS)
			tt_info("exporting metrics to %s every %u ms (%s%s)", url, c->interval_ms,
				tt_otlp_protocol__name(c->protocol), c->gzip ? ", gzip" : "");
		else
			tt_info("exporting %s to %s (%s%s)", what[s], url,
				tt_otlp_protocol__name(c->protocol), c->gzip ? ", gzip" : "");
	}
}

/*
 * OTLP settings: the OTEL_* environment, then the command line over it.
 * With an endpoint configured, starts the exporter. Returns 0, or -errno
 * after saying why.
 */
int sinks__start_otlp(struct agent *r, const struct run_args *a)
{
	struct tt_exporter_opts o = {0};
	bool any = false;
	char err[512];
	int ret;

	ret = sinks__read_otlp(r, a);
	if (ret)
		return ret;
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		any = any || tt_otlp_config__enabled(&r->otlp[s]);
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
	/*
	 * The agent's resource (its own metrics, and the task metrics of specs
	 * without a service:) takes the first spec's service; spans, and the
	 * task metrics of a spec with a service:, carry their own.
	 */
	for (size_t i = 0; i < r->nslots && !o.spec_service; i++)
		o.spec_service = r->slots[i]->spec ? r->slots[i]->spec->service : NULL;
	o.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	o.seed = tt_now_ns(CLOCK_REALTIME) ^ (uint64_t)getpid();
	o.sdk = &r->sdk;
	o.tally = r->ledger ? &tt_ledger__page(r->ledger)->spans : NULL;
	r->exporter = tt_exporter__new(&o, err, sizeof(err));
	if (!r->exporter) {
		tt_warn("cannot start the OTLP exporter: %s", err);
		return -errno;
	}
	report_otlp(r);
	return 0;
}

/* The service.name for spans without a spec service: the first spec's, else the environment's. */
const char *sinks__service_name(const struct agent *r)
{
	const char *env = getenv("OTEL_SERVICE_NAME");

	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->spec && r->slots[i]->spec->service)
			return r->slots[i]->spec->service;
	}
	if (env && *env)
		return env;
	for (const struct place *p = places__first(r->places); p; p = p->next) {
		const char *slash = strrchr(p->shown, '/');

		if (!strchr(p->shown, ' '))
			return slash ? slash + 1 : p->shown;
	}
	return "tasktap";
}

/* "queue_full N, spool_full N, ..." : every reason, by the name /metrics gives it. */
static const char *drop_reasons(const struct tt_signal_stats *s, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int r = 0; r < TT_DROP__COUNT && o < len; r++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s %" PRIu64, r ? ", " : "",
				      tt_drop_reason__name(r), s->dropped[r]);
	return buf;
}

/* One line of totals for metrics or logs. */
static void report_signal(const char *what, const char *items, const struct tt_signal_stats *s)
{
	char why[256];

	tt_info("%s: %" PRIu64 " %s exported in %" PRIu64 " requests, %" PRIu64
		" in the spool, %" PRIu64 " dropped (%s)",
		what, s->exported, items, s->batches_sent, s->spool_items,
		tt_signal_stats__dropped(s), drop_reasons(s, why, sizeof(why)));
}

/* Flushes the OTLP exporter (to the collector, else to the spool) and reports its totals. */
void sinks__stop(struct agent *r)
{
	struct tt_exporter_stats x;
	char why[256];

	tt_exporter__stop(r->exporter, TT_EXPORT_SHUTDOWN_MS);
	tt_exporter__stats(r->exporter, &x);
	if (x.metrics.enabled)
		report_signal("otlp metrics", "data points", &x.metrics);
	if (x.logs.enabled)
		report_signal("otlp logs", "log records", &x.logs);
	if (!tt_otlp_config__enabled(&r->otlp[TT_SIGNAL_TRACES]))
		return;
	tt_info("otlp: %" PRIu64 " spans exported, %" PRIu64 " in the spool (%" PRIu64
		" batches), %" PRIu64 " dropped (%s), %" PRIu64 " sampled out",
		x.spans_exported, x.spool_spans, x.spool_files, tt_signal_stats__dropped(&x.traces),
		drop_reasons(&x.traces, why, sizeof(why)), x.spans_sampled_out);
}

/*
 * The console's waterfall (unless spans go out as JSON lines or to OTLP),
 * the JSON lines and the step lines. 0, or -ENOMEM.
 */
int sinks__start_output(struct agent *r, const struct run_args *a)
{
	r->jsonl.out = stdout;
	r->jsonl.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	r->steplines.out = stderr;
	r->steplines.mono_to_unix_ns = r->jsonl.mono_to_unix_ns;
	/* OTEL_TRACES_EXPORTER decides when given; else the waterfall unless JSON or OTLP */
	if (r->sdk.traces_set ? (r->sdk.traces & TT_EXPORTER_CONSOLE) != 0
			      : !a->json && !tt_otlp_config__enabled(&r->otlp[TT_SIGNAL_TRACES])) {
		r->console = tt_console__new(stdout, a->color);
		if (!r->console)
			return -ENOMEM;
	}
	r->jsonl.service = sinks__service_name(r);
	return 0;
}
