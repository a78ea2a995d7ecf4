// SPDX-License-Identifier: MIT
/* The SDK variables besides one exporter's settings: exporters, propagators, temporality, limits.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonw.h"
#include "log.h"
#include "sdk_env.h"

#define DEFAULT_COUNT_LIMIT 128 /* the specification's default for every count limit */
#define NO_LIMIT	    UINT32_MAX

const char *const tt_sdk_env_names[] = {
	"OTEL_TRACES_EXPORTER",
	"OTEL_METRICS_EXPORTER",
	"OTEL_LOGS_EXPORTER",
	"OTEL_PROPAGATORS",
	"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
	"OTEL_EXPORTER_PROMETHEUS_HOST",
	"OTEL_EXPORTER_PROMETHEUS_PORT",
	"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	"OTEL_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_EVENT_COUNT_LIMIT",
	"OTEL_SPAN_LINK_COUNT_LIMIT",
	"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	"OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_METRICS_EXEMPLAR_FILTER",
	"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
	NULL,
};

void tt_sdk_config__init(struct tt_sdk_config *c)
{
	memset(c, 0, sizeof(*c));
	c->tracecontext = true;
	c->span = (struct tt_attr_limits){NO_LIMIT, DEFAULT_COUNT_LIMIT};
	c->log = (struct tt_attr_limits){NO_LIMIT, DEFAULT_COUNT_LIMIT};
	c->span_events = DEFAULT_COUNT_LIMIT;
	c->span_links = DEFAULT_COUNT_LIMIT;
}

static const char *get(const struct tt_env *env, const char *name)
{
	const char *v = env->get ? env->get(name, env->ctx) : getenv(name);

	return v && *v ? v : NULL;
}

static void warn(const struct tt_env *env, const char *msg)
{
	if (env->warn)
		env->warn(msg, env->ctx);
	else
		tt_warn("%s", msg);
}

/* One exporter name of a signal: its bit, or 0 when refused. */
struct choice {
	const char *name;
	unsigned bit; /* 0: none */
};

/*
 * Parses a comma-separated list of `choices` into *set. Returns 0, or
 * -EINVAL naming the variable and the first value not among them.
 */
static int parse_list(const char *var, const char *v, const struct choice *choices,
		      const char *offer, unsigned *set, char *err, size_t len)
{
	char item[64];

	*set = 0;
	while (*v) {
		const char *end = strchr(v, ',');
		size_t n = end ? (size_t)(end - v) : strlen(v), k = 0;
		bool known = false;

		while (n && isspace((unsigned char)*v)) {
			v++;
			n--;
		}
		while (n && isspace((unsigned char)v[n - 1]))
			n--;
		if (n >= sizeof(item))
			n = sizeof(item) - 1;
		for (k = 0; k < n; k++)
			item[k] = (char)tolower((unsigned char)v[k]);
		item[n] = '\0';
		for (const struct choice *c = choices; c->name && !known; c++) {
			if (!strcmp(item, c->name)) {
				*set |= c->bit;
				known = true;
			}
		}
		if (!known && n) {
			snprintf(err, len, "%s: '%s' is not supported (tasktap has %s)", var, item,
				 offer);
			return -EINVAL;
		}
		if (!end)
			break;
		v = end + 1;
	}
	return 0;
}

static int read_exporters(struct tt_sdk_config *c, const struct tt_env *env, char *err, size_t len)
{
	static const struct choice traces[] = {
		{"otlp", TT_EXPORTER_OTLP}, {"console", TT_EXPORTER_CONSOLE}, {"none", 0}, {NULL}};
	static const struct choice metrics[] = {{"otlp", TT_EXPORTER_OTLP},
						{"prometheus", TT_EXPORTER_PROMETHEUS},
						{"none", 0},
						{NULL}};
	static const struct choice logs[] = {
		{"otlp", TT_EXPORTER_OTLP}, {"console", TT_EXPORTER_CONSOLE}, {"none", 0}, {NULL}};
	const char *v;
	int ret = 0;

	v = get(env, "OTEL_TRACES_EXPORTER");
	if (v) {
		c->traces_set = true;
		ret = parse_list("OTEL_TRACES_EXPORTER", v, traces, "otlp, console and none",
				 &c->traces, err, len);
	}
	v = get(env, "OTEL_METRICS_EXPORTER");
	if (v && !ret) {
		c->metrics_set = true;
		ret = parse_list("OTEL_METRICS_EXPORTER", v, metrics,
				 "otlp, prometheus (/metrics) and none", &c->metrics, err, len);
	}
	v = get(env, "OTEL_LOGS_EXPORTER");
	if (v && !ret) {
		c->logs_set = true;
		ret = parse_list("OTEL_LOGS_EXPORTER", v, logs,
				 "otlp, console (step lines on stderr) and none", &c->logs, err,
				 len);
	}
	return ret;
}

static int read_propagators(struct tt_sdk_config *c, const struct tt_env *env, char *err,
			    size_t len)
{
	/* baggage: tasktap reads none and injects nothing, so there is nothing to do */
	static const struct choice props[] = {
		{"tracecontext", 1}, {"baggage", 2}, {"none", 0}, {NULL}};
	const char *v = get(env, "OTEL_PROPAGATORS");
	unsigned set;
	int ret;

	if (!v)
		return 0;
	ret = parse_list("OTEL_PROPAGATORS", v, props, "tracecontext, baggage and none", &set, err,
			 len);
	if (!ret)
		c->tracecontext = set & 1;
	return ret;
}

/* A count or length limit: a non-negative integer. */
static void read_limit(const struct tt_env *env, const char *name, uint32_t *out)
{
	const char *v = get(env, name);
	char *end, msg[256];
	unsigned long n;

	if (!v)
		return;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n > UINT32_MAX) {
		snprintf(msg, sizeof(msg), "ignoring %s: invalid limit '%s': expected an integer",
			 name, v);
		warn(env, msg);
		return;
	}
	*out = (uint32_t)n;
}

static void read_limits(struct tt_sdk_config *c, const struct tt_env *env)
{
	uint32_t value_len = NO_LIMIT, count = DEFAULT_COUNT_LIMIT;

	/* the general limits, then the specific ones over them */
	read_limit(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", &value_len);
	read_limit(env, "OTEL_ATTRIBUTE_COUNT_LIMIT", &count);
	c->span = (struct tt_attr_limits){value_len, count};
	c->log = (struct tt_attr_limits){value_len, count};
	read_limit(env, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", &c->span.value_length);
	read_limit(env, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", &c->span.count);
	read_limit(env, "OTEL_SPAN_EVENT_COUNT_LIMIT", &c->span_events);
	read_limit(env, "OTEL_SPAN_LINK_COUNT_LIMIT", &c->span_links);
	read_limit(env, "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", &c->log.value_length);
	read_limit(env, "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", &c->log.count);
	/* events carry 2 attributes at most and links none: below 2 is refused in from_env */
}

static int read_metrics_options(struct tt_sdk_config *c, const struct tt_env *env, char *err,
				size_t len)
{
	const char *v = get(env, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
	char msg[256];

	if (v) {
		if (!strcasecmp(v, "delta") || !strcasecmp(v, "lowmemory"))
			c->delta = true;
		else if (!strcasecmp(v, "cumulative"))
			c->delta = false;
		else {
			snprintf(msg, sizeof(msg),
				 "ignoring OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "
				 "invalid value '%s': expected cumulative, delta or lowmemory",
				 v);
			warn(env, msg);
		}
	}
	v = get(env, "OTEL_METRICS_EXEMPLAR_FILTER");
	if (v && strcasecmp(v, "trace_based") && strcasecmp(v, "always_off")) {
		/* tasktap records no exemplars: trace_based and always_off are what it does */
		snprintf(err, len,
			 "OTEL_METRICS_EXEMPLAR_FILTER: '%s' is not supported (tasktap records no "
			 "exemplars: trace_based or always_off)",
			 v);
		return -EINVAL;
	}
	v = get(env, "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION");
	if (v && strcasecmp(v, "explicit_bucket_histogram")) {
		snprintf(err, len,
			 "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: '%s' is not "
			 "supported (tasktap has explicit_bucket_histogram)",
			 v);
		return -EINVAL;
	}
	return 0;
}

/* Samplers and files the specification names that tasktap does not implement. */
static int refuse_unsupported(const struct tt_env *env, char *err, size_t len)
{
	static const char *const files[] = {"OTEL_CONFIG_FILE", "OTEL_EXPERIMENTAL_CONFIG_FILE"};
	const char *v = get(env, "OTEL_TRACES_SAMPLER");

	if (v && (!strcmp(v, "jaeger_remote") || !strcmp(v, "parentbased_jaeger_remote") ||
		  !strcmp(v, "xray"))) {
		snprintf(err, len,
			 "OTEL_TRACES_SAMPLER: '%s' is not supported (tasktap has always_on, "
			 "always_off, traceidratio and their parentbased_ forms)",
			 v);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (get(env, files[i])) {
			snprintf(err, len,
				 "%s: a configuration file is not supported (use the OTEL_* "
				 "variables or the command line)",
				 files[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static void read_prometheus(struct tt_sdk_config *c, const struct tt_env *env)
{
	const char *host = get(env, "OTEL_EXPORTER_PROMETHEUS_HOST");
	const char *port = get(env, "OTEL_EXPORTER_PROMETHEUS_PORT");

	if (!host && !port)
		return;
	if (!host)
		host = "localhost";
	if (!port)
		port = "9464";
	snprintf(c->prom_addr, sizeof(c->prom_addr), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
		 port);
}

int tt_sdk_config__from_env(struct tt_sdk_config *c, const struct tt_env *env, char *err,
			    size_t len)
{
	int ret;

	ret = read_exporters(c, env, err, len);
	if (!ret)
		ret = read_propagators(c, env, err, len);
	if (!ret)
		ret = read_metrics_options(c, env, err, len);
	if (!ret)
		ret = refuse_unsupported(env, err, len);
	if (ret)
		return ret;
	read_limits(c, env);
	read_prometheus(c, env);
	return 0;
}

/* An OTLP config that names no endpoint gets the specification's default. */
static void default_endpoint(struct tt_otlp_config *c)
{
	if (c->base || c->endpoint)
		return;
	c->base = strdup(c->protocol == TT_OTLP_GRPC ? "http://localhost:4317"
						     : "http://localhost:4318");
}

void tt_sdk_config__apply(const struct tt_sdk_config *c, struct tt_otlp_config otlp[])
{
	const struct {
		bool set;
		unsigned exporters;
	} sig[TT_SIGNAL__COUNT] = {
		[TT_SIGNAL_TRACES] = {c->traces_set, c->traces},
		[TT_SIGNAL_METRICS] = {c->metrics_set, c->metrics},
		[TT_SIGNAL_LOGS] = {c->logs_set, c->logs},
	};

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		if (!sig[s].set)
			continue;
		if (!(sig[s].exporters & TT_EXPORTER_OTLP)) {
			otlp[s].signal_off = true;
			continue;
		}
		default_endpoint(&otlp[s]);
		if (s == TT_SIGNAL_LOGS)
			otlp[s].logs_on = true;
		if (s == TT_SIGNAL_METRICS)
			otlp[s].metrics_off = false;
	}
}

size_t tt_attr_limit__cut(const char *s, size_t len, uint32_t limit)
{
	size_t n = 0;

	if (len <= limit)
		return len;
	while (n < len) {
		size_t k = tt_utf8__len((const unsigned char *)s + n, len - n);

		if (k == 0)
			k = 1; /* not UTF-8: count it as one byte */
		if (n + k > limit)
			break;
		n += k;
	}
	return n;
}
