// SPDX-License-Identifier: MIT
/* --print-config: the export settings in effect, each with where it came from. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "export/httpd.h"
#include "log.h"
#include "redact.h"

static const char *const signal_upper[TT_SIGNAL__COUNT] = {"TRACES", "METRICS", "LOGS"};

/* Whether the command line gave OTLP setting `key` ("otlp-protocol"). */
static bool on_cli(const struct run_args *a, const char *key)
{
	for (int i = 0; i < a->notlp; i++) {
		if (!strcmp(a->otlp[i].key, key))
			return true;
	}
	return false;
}

static bool in_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

/*
 * Where a setting came from, by the precedence the configs apply: the flag
 * `--key` (NULL: none), then each variable of `vars` (NULL-terminated, the
 * per-signal one first), else "default". Points into a static buffer.
 */
static const char *source(const struct run_args *a, const char *key, const char *const vars[])
{
	static char buf[96];

	if (key && on_cli(a, key)) {
		snprintf(buf, sizeof(buf), "--%s", key);
		return buf;
	}
	for (int i = 0; vars && vars[i]; i++) {
		if (in_env(vars[i]))
			return vars[i];
	}
	return "default";
}

/* One line: the setting, its value (secrets masked), where it came from. */
static void row(const char *name, const char *value, const char *from)
{
	char safe[600];

	tt_redact__text(value, safe, sizeof(safe));
	printf("%-38s %-58s %s\n", name, safe, from);
}

static void row_u(const char *name, uint64_t v, const char *from)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	row(name, num, from);
}

/* The settings of one OTLP exporter variable X: OTEL_EXPORTER_OTLP_<SIGNAL>_X, then _X. */
static const char *otlp_source(const struct run_args *a, int sig, const char *key, const char *x)
{
	static char per[96], gen[96];
	const char *vars[] = {per, gen, NULL};

	snprintf(per, sizeof(per), "OTEL_EXPORTER_OTLP_%s_%s", signal_upper[sig], x);
	snprintf(gen, sizeof(gen), "OTEL_EXPORTER_OTLP_%s", x);
	return source(a, key, vars);
}

/* Whether the signal is exported over OTLP, and why (not). */
static void print_state(const struct agent *r, int sig, char *name, size_t len)
{
	const struct tt_otlp_config *c = &r->otlp[sig];
	static const char *const exporter_var[TT_SIGNAL__COUNT] = {
		"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"};
	const char *from = "an endpoint is set";

	snprintf(name, len, "%s.otlp", tt_otlp_signal__name(sig));
	if (c->disabled)
		from = "OTEL_SDK_DISABLED";
	else if (c->signal_off || in_env(exporter_var[sig]))
		from = exporter_var[sig];
	else if (!c->base && !c->endpoint)
		from = "no endpoint set";
	else if (sig == TT_SIGNAL_LOGS && !c->logs_on && !c->endpoint)
		from = "without --logs or a logs endpoint";
	else if (sig == TT_SIGNAL_LOGS && r->args->logs)
		from = "--logs";
	row(name, tt_otlp_config__enabled(c) ? "on" : "off", from);
}

static void print_signal(const struct agent *r, const struct run_args *a, int sig)
{
	const struct tt_otlp_config *c = &r->otlp[sig];
	const char *s = tt_otlp_signal__name(sig);
	char name[64], url[512], v[512];
	size_t o = 0;

	print_state(r, sig, name, sizeof(name));
	if (!tt_otlp_config__url(c, url, sizeof(url))) {
		snprintf(name, sizeof(name), "%s.endpoint", s);
		row(name, url,
		    on_cli(a, "otlp-endpoint") ? "--otlp-endpoint"
		    : otlp_source(a, sig, NULL, "ENDPOINT")[0] != 'd'
			    ? otlp_source(a, sig, NULL, "ENDPOINT")
			    : "OTEL_*_EXPORTER=otlp (the specification's default)");
	}
	snprintf(name, sizeof(name), "%s.protocol", s);
	row(name, tt_otlp_protocol__name(c->protocol),
	    otlp_source(a, sig, "otlp-protocol", "PROTOCOL"));
	snprintf(name, sizeof(name), "%s.compression", s);
	row(name, c->gzip ? "gzip" : "none",
	    otlp_source(a, sig, "otlp-compression", "COMPRESSION"));
	snprintf(name, sizeof(name), "%s.timeout_ms", s);
	row_u(name, c->timeout_ms, otlp_source(a, sig, "otlp-timeout", "TIMEOUT"));
	v[0] = '\0';
	for (size_t i = 0; i < c->headers.n && o + 1 < sizeof(v); i++)
		o += (size_t)snprintf(v + o, sizeof(v) - o, "%s%s=%s", i ? "," : "",
				      c->headers.at[i].name, c->headers.at[i].value);
	snprintf(name, sizeof(name), "%s.headers", s);
	row(name, v[0] ? v : "(none)", otlp_source(a, sig, "otlp-header", "HEADERS"));
	snprintf(name, sizeof(name), "%s.certificate", s);
	row(name, c->ca_file ? c->ca_file : "(system CAs)",
	    otlp_source(a, sig, NULL, "CERTIFICATE"));
}

/* The batching of each signal and the spool. */
static void print_batching(const struct agent *r, const struct run_args *a)
{
	const struct tt_otlp_config *t = &r->otlp[TT_SIGNAL_TRACES];
	const struct tt_otlp_config *m = &r->otlp[TT_SIGNAL_METRICS];
	const struct tt_otlp_config *l = &r->otlp[TT_SIGNAL_LOGS];
	char dir[512], n1[16];

#define VARS(...) ((const char *const[]){__VA_ARGS__, NULL})
	row_u("traces.schedule_delay_ms", t->delay_ms,
	      source(a, NULL, VARS("OTEL_BSP_SCHEDULE_DELAY")));
	snprintf(n1, sizeof(n1), "%u", t->max_queue);
	row("traces.max_queue_size", t->max_queue_set ? n1 : "none (bounded in bytes)",
	    source(a, NULL, VARS("OTEL_BSP_MAX_QUEUE_SIZE")));
	row_u("traces.queue_bytes", t->queue_bytes, source(a, "otlp-queue-bytes", NULL));
	row_u("traces.batch_bytes", t->batch_bytes, source(a, "otlp-batch-bytes", NULL));
	row_u("traces.max_export_batch_size", t->max_batch,
	      source(a, NULL, VARS("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")));
	row_u("traces.export_timeout_ms", t->export_timeout_ms,
	      source(a, NULL, VARS("OTEL_BSP_EXPORT_TIMEOUT")));
	row_u("traces.requests_in_flight", t->inflight, source(a, "otlp-inflight", NULL));
	row_u("metrics.export_interval_ms", m->interval_ms,
	      source(a, NULL, VARS("OTEL_METRIC_EXPORT_INTERVAL")));
	row_u("metrics.export_timeout_ms", m->export_timeout_ms,
	      source(a, NULL, VARS("OTEL_METRIC_EXPORT_TIMEOUT")));
	row("metrics.temporality", r->sdk.delta ? "delta" : "cumulative",
	    source(a, NULL, VARS("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")));
	row_u("logs.schedule_delay_ms", l->delay_ms,
	      source(a, NULL, VARS("OTEL_BLRP_SCHEDULE_DELAY")));
	row_u("logs.max_queue_size", l->max_queue,
	      source(a, NULL, VARS("OTEL_BLRP_MAX_QUEUE_SIZE")));
	row_u("logs.max_export_batch_size", l->max_batch,
	      source(a, NULL, VARS("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE")));
	row("spool", t->spool_off ? "off" : tt_otlp_config__spool_dir(t, dir, sizeof(dir)),
	    on_cli(a, "no-spool") ? "--no-spool" : source(a, "spool", NULL));
	row_u("spool.size_bytes", t->spool_bytes, source(a, "spool-size", NULL));
}

static const char *limit(uint32_t v, char *buf, size_t len)
{
	if (v == UINT32_MAX)
		return "none";
	snprintf(buf, len, "%u", v);
	return buf;
}

/* Sampling, resource, propagators, limits, the console and the HTTP endpoints. */
static void print_sdk(const struct agent *r, const struct run_args *a)
{
	const struct tt_otlp_config *t = &r->otlp[TT_SIGNAL_TRACES];
	static const char *const samplers[] = {"always_on", "always_off", "traceidratio",
					       "parentbased_traceidratio"};
	char v[512], n1[16];
	size_t o = 0;
	bool console = r->sdk.traces_set ? (r->sdk.traces & TT_EXPORTER_CONSOLE) != 0
					 : !a->json && !tt_otlp_config__enabled(t);

	row("traces.sampler", samplers[t->sampler],
	    source(a, "sampler", VARS("OTEL_TRACES_SAMPLER")));
	snprintf(v, sizeof(v), "%g", t->ratio);
	row("traces.sampler_arg", v, source(a, "sampler-arg", VARS("OTEL_TRACES_SAMPLER_ARG")));
	row("traces.console", console ? "on (waterfalls on stdout)" : "off",
	    r->sdk.traces_set ? "OTEL_TRACES_EXPORTER"
	    : a->json	      ? "--json"
			      : "default (off when spans go to OTLP)");
	row("traces.json_lines", a->json ? "on" : "off", a->json ? "--json" : "default");
	row("logs.console", r->log_steps ? "on (step lines on stderr)" : "off",
	    a->log_steps      ? "--log-steps"
	    : r->sdk.logs_set ? "OTEL_LOGS_EXPORTER"
			      : "default");
	row("propagators", r->sdk.tracecontext ? "tracecontext" : "none",
	    source(a, NULL, VARS("OTEL_PROPAGATORS")));
	row("service.name", t->service_name ? t->service_name : "(the spec's, else the program's)",
	    source(a, NULL, VARS("OTEL_SERVICE_NAME")));
	v[0] = '\0';
	for (size_t i = 0; i < t->res_attrs.n && o + 1 < sizeof(v); i++)
		o += (size_t)snprintf(v + o, sizeof(v) - o, "%s%s=%s", i ? "," : "",
				      t->res_attrs.at[i].name, t->res_attrs.at[i].value);
	row("resource.attributes", v[0] ? v : "(none)",
	    source(a, NULL, VARS("OTEL_RESOURCE_ATTRIBUTES")));
	row("span.attribute_count_limit", limit(r->sdk.span.count, n1, sizeof(n1)),
	    source(a, NULL, VARS("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")));
	row("span.attribute_value_length_limit", limit(r->sdk.span.value_length, n1, sizeof(n1)),
	    source(a, NULL,
		   VARS("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
			"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")));
	row("span.event_count_limit", limit(r->sdk.span_events, n1, sizeof(n1)),
	    source(a, NULL, VARS("OTEL_SPAN_EVENT_COUNT_LIMIT")));
	row("span.link_count_limit", limit(r->sdk.span_links, n1, sizeof(n1)),
	    source(a, NULL, VARS("OTEL_SPAN_LINK_COUNT_LIMIT")));
	row("logrecord.attribute_count_limit", limit(r->sdk.log.count, n1, sizeof(n1)),
	    source(a, NULL,
		   VARS("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")));
	row("logrecord.attribute_value_length_limit",
	    limit(r->sdk.log.value_length, n1, sizeof(n1)),
	    source(a, NULL,
		   VARS("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
			"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")));
	if (a->no_http)
		row("http", "off", "--no-http");
	else
		row("http",
		    a->http_addr	  ? a->http_addr
		    : r->sdk.prom_addr[0] ? r->sdk.prom_addr
					  : TT_HTTPD_DEFAULT_ADDR,
		    a->http_addr	  ? "--http"
		    : r->sdk.prom_addr[0] ? "OTEL_EXPORTER_PROMETHEUS_HOST, _PORT"
					  : "default");
	row("metrics.prometheus",
	    !r->sdk.metrics_set || (r->sdk.metrics & TT_EXPORTER_PROMETHEUS)
		    ? "on (/metrics)"
		    : "off (/metrics answers 503)",
	    r->sdk.metrics_set ? "OTEL_METRICS_EXPORTER" : "default");
#undef VARS
}

int agent__print_config(const struct run_args *a)
{
	struct agent r = {.args = a, .json = a->json, .log_steps = a->log_steps};
	int ret = 2;

	if (sinks__read_sdk(&r) || sinks__read_otlp(&r, a))
		goto out;
	printf("%-38s %-58s %s\n", "SETTING", "VALUE", "FROM");
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		print_signal(&r, a, s);
	print_batching(&r, a);
	print_sdk(&r, a);
	ret = 0;
out:
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		tt_otlp_config__release(&r.otlp[s]);
	return ret;
}
