/* SPDX-License-Identifier: MIT */
/*
 * The OpenTelemetry SDK configuration variables that are not one OTLP
 * exporter's settings (those are otlp_config.h): which exporter each signal
 * uses, the propagators, the metrics temporality, the attribute limits, the
 * Prometheus exporter's address. Pure: the environment is read through a
 * struct tt_env.
 *
 * Every standard variable that applies to an agent that only exports is
 * either honoured or refused here: a value tasktap does not implement
 * (OTEL_TRACES_EXPORTER=zipkin, OTEL_PROPAGATORS=b3, ...) is an error at
 * start that names the variable, not a silent default. A malformed number
 * is reported through env->warn and its default kept, as for otlp_config.
 */
#ifndef TASKTAP_SDK_ENV_H
#define TASKTAP_SDK_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp_config.h"

/* Exporters of one signal, as a set (OTEL_*_EXPORTER takes a comma-separated list). */
enum {
	TT_EXPORTER_OTLP = 1u << 0,
	TT_EXPORTER_CONSOLE = 1u << 1,	  /* traces: the waterfall; logs: step lines on stderr */
	TT_EXPORTER_PROMETHEUS = 1u << 2, /* metrics: /metrics */
};

/* An attribute limit; 0: none. */
struct tt_attr_limits {
	uint32_t value_length; /* bytes of a string value, cut at a UTF-8 boundary */
	uint32_t count;	       /* attributes of one span, event, link or log record */
};

struct tt_sdk_config {
	bool traces_set, metrics_set, logs_set; /* OTEL_*_EXPORTER given */
	unsigned traces, metrics, logs;		/* TT_EXPORTER_* sets; empty: none */
	bool tracecontext;			/* OTEL_PROPAGATORS has tracecontext */
	bool delta; /* OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE delta or lowmemory */
	char prom_addr[80]; /* OTEL_EXPORTER_PROMETHEUS_HOST:PORT as --http takes it; "": unset */
	struct tt_attr_limits span, log;  /* OTEL_SPAN_ATTRIBUTE_*, OTEL_LOGRECORD_ATTRIBUTE_* */
	uint32_t span_events, span_links; /* OTEL_SPAN_EVENT_COUNT_LIMIT, _LINK_; 0: none */
};

/* The defaults: every exporter unset, tracecontext, cumulative, no limits. */
void tt_sdk_config__init(struct tt_sdk_config *c);

/*
 * Reads the variables through `env` (env->get NULL: getenv). Returns 0, or
 * -EINVAL with the message in `err` for a value tasktap refuses.
 */
int tt_sdk_config__from_env(struct tt_sdk_config *c, const struct tt_env *env, char *err,
			    size_t len);

/*
 * Applies the exporter choices to the OTLP configs of the three signals: a
 * signal whose exporters leave out otlp is disabled; one that names otlp
 * without an endpoint gets the specification's default
 * (http://localhost:4318, or :4317 for grpc).
 */
void tt_sdk_config__apply(const struct tt_sdk_config *c, struct tt_otlp_config otlp[]);

/*
 * The SDK variables this module knows, for --print-config: each is
 * "NAME", NULL-terminated.
 */
extern const char *const tt_sdk_env_names[];

/* The length a string of `len` bytes may keep under `limit` (0: none), at a UTF-8 boundary. */
size_t tt_attr_limit__cut(const char *s, size_t len, uint32_t limit);

#endif /* TASKTAP_SDK_ENV_H */
