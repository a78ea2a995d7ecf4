/* SPDX-License-Identifier: MIT */
/*
 * OTLP export settings: the standard OTEL_* environment variables, then
 * the command line on top (command line > spec > environment; the spec has
 * no export keys yet). Pure: the environment is read through a function,
 * so that tests give their own.
 *
 * Invalid environment values are reported through `warn` and the default
 * is kept, as the OpenTelemetry specification asks of SDKs; invalid
 * command-line values are errors.
 */
#ifndef TASKTAP_OTLP_CONFIG_H
#define TASKTAP_OTLP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tt_otlp_protocol {
	TT_OTLP_HTTP_PROTOBUF = 0,
	TT_OTLP_HTTP_JSON,
	TT_OTLP_GRPC,
};

/* The three OTLP signals; each has a config of its own (endpoint, batching). */
enum tt_otlp_signal {
	TT_SIGNAL_TRACES = 0,
	TT_SIGNAL_METRICS,
	TT_SIGNAL_LOGS,
	TT_SIGNAL__COUNT,
};

enum tt_sampler {
	TT_SAMPLER_ALWAYS_ON = 0,
	TT_SAMPLER_ALWAYS_OFF,
	TT_SAMPLER_RATIO,	 /* traceidratio */
	TT_SAMPLER_PARENT_RATIO, /* parentbased_traceidratio */
};

#define TT_OTLP_MAX_PAIRS 32

/* A name and a value, both owned by the list that holds them. */
struct tt_pair {
	char *name;
	char *value;
};

struct tt_pairs {
	struct tt_pair at[TT_OTLP_MAX_PAIRS];
	size_t n;
};

#define TT_OTLP_DEFAULT_TIMEOUT_MS	 10000
#define TT_BSP_DEFAULT_DELAY_MS		 5000
#define TT_BSP_DEFAULT_QUEUE		 2048
#define TT_BSP_DEFAULT_BATCH		 512
#define TT_BSP_DEFAULT_EXPORT_TIMEOUT_MS 30000
#define TT_SPOOL_DEFAULT_BYTES		 (256ULL << 20)
#define TT_EXPORT_DEFAULT_INFLIGHT	 3 /* traces: requests in flight at once */
#define TT_EXPORT_MAX_INFLIGHT		 8
#define TT_EXPORT_DEFAULT_QUEUE_BYTES	 (32ULL << 20)	/* traces: the queue's bound */
#define TT_EXPORT_DEFAULT_BATCH_BYTES	 (512ULL << 10) /* traces: a batch's */
#define TT_SPOOL_DEFAULT_DIR		 "/var/lib/tasktap/spool"
#define TT_BLRP_DEFAULT_DELAY_MS	 1000
#define TT_METRIC_DEFAULT_INTERVAL_MS	 60000
#define TT_METRIC_DEFAULT_TIMEOUT_MS	 30000
#define TT_OTLP_TRACES_PATH		 "/v1/traces"
#define TT_OTLP_METRICS_PATH		 "/v1/metrics"
#define TT_OTLP_LOGS_PATH		 "/v1/logs"
#define TT_OTLP_GRPC_TRACES_PATH	 "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define TT_OTLP_GRPC_METRICS_PATH	 "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
#define TT_OTLP_GRPC_LOGS_PATH		 "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

/*
 * The settings of one signal. Every variable has a per-signal form
 * (OTEL_EXPORTER_OTLP_TRACES_X, _METRICS_X, _LOGS_X) that wins over the
 * generic OTEL_EXPORTER_OTLP_X for that signal only.
 */
struct tt_otlp_config {
	enum tt_otlp_signal signal; /* set by tt_otlp_config__init_signal() */
	bool disabled;		    /* OTEL_SDK_DISABLED=true: no OTLP export at all */
	char *base;		    /* OTEL_EXPORTER_OTLP_ENDPOINT or --otlp-endpoint */
	char *endpoint;		    /* OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT: used as is */
	bool base_on_cli;	    /* --otlp-endpoint given: it wins over `endpoint` */
	bool metrics_off;	    /* metrics: no OTLP metrics */
	bool signal_off;	    /* OTEL_<SIGNAL>_EXPORTER leaves out otlp (sdk_env.h) */
	bool logs_on;		    /* logs: --logs (else only with a logs endpoint) */
	enum tt_otlp_protocol protocol;
	struct tt_pairs headers;
	bool gzip;
	uint32_t timeout_ms;
	char *ca_file;
	char *client_key;
	char *client_cert;
	char *service_name;	   /* OTEL_SERVICE_NAME */
	struct tt_pairs res_attrs; /* OTEL_RESOURCE_ATTRIBUTES */
	enum tt_sampler sampler;
	double ratio;
	uint32_t delay_ms;  /* traces: OTEL_BSP_*, logs: OTEL_BLRP_* */
	uint32_t max_queue; /* traces: a bound only when max_queue_set */
	bool max_queue_set; /* OTEL_BSP_MAX_QUEUE_SIZE given: spans bound the queue too */
	uint32_t max_batch;
	uint32_t export_timeout_ms;
	uint32_t interval_ms; /* metrics: OTEL_METRIC_EXPORT_INTERVAL */
	char *spool_dir;      /* NULL: the default for this user */
	uint64_t spool_bytes;
	bool spool_off;
	uint32_t inflight;    /* traces: requests in flight at once (--otlp-inflight) */
	uint64_t queue_bytes; /* traces: the queue's bound, in packed spans (--otlp-queue-bytes) */
	uint64_t
		batch_bytes; /* traces: a batch's bound, past its first span (--otlp-batch-bytes) */
};

/* How configuration is read: the environment, and where warnings go. */
struct tt_env {
	const char *(*get)(const char *name, void *ctx);
	void (*warn)(const char *msg, void *ctx);
	void *ctx;
};

/* Sets every default, for traces. The config owns its strings: release it. */
void tt_otlp_config__init(struct tt_otlp_config *c);

/* Sets every default for `signal` (OTEL_BLRP_SCHEDULE_DELAY is 1 s for logs). */
void tt_otlp_config__init_signal(struct tt_otlp_config *c, enum tt_otlp_signal signal);

/* Frees the strings the config owns; leaves it initialised, for the same signal. */
void tt_otlp_config__release(struct tt_otlp_config *c);

/*
 * Reads the OTEL_* variables through `env` (env->get NULL: getenv). A
 * per-signal variable (OTEL_EXPORTER_OTLP_<SIGNAL>_X for c->signal) wins
 * over the generic one. Batching comes from OTEL_BSP_* (traces),
 * OTEL_BLRP_* (logs) or OTEL_METRIC_EXPORT_INTERVAL and _TIMEOUT (metrics).
 * Invalid values are reported through env->warn and ignored.
 * Returns 0, or -ENOMEM.
 */
int tt_otlp_config__from_env(struct tt_otlp_config *c, const struct tt_env *env);

/*
 * Applies one command-line setting; `key` is the long option's name
 * ("otlp-endpoint", "otlp-protocol", "otlp-header", "otlp-compression",
 * "otlp-timeout", "otlp-inflight", "otlp-queue-bytes", "otlp-batch-bytes", "spool",
 * "spool-size", "no-spool", "sampler",
 * "sampler-arg", "logs"). Returns 0, or -EINVAL with the reason in `err`.
 */
int tt_otlp_config__set(struct tt_otlp_config *c, const char *key, const char *value, char *err,
			size_t len);

/*
 * Writes the URL the signal's requests are sent to into `buf`: the
 * per-signal endpoint as is, else the generic one with /v1/traces,
 * /v1/metrics or /v1/logs appended (http protocols) or the gRPC method path
 * appended (grpc). Returns 0, -ENOENT when no endpoint is configured, or
 * -ENAMETOOLONG.
 */
int tt_otlp_config__url(const struct tt_otlp_config *c, char *buf, size_t len);

/* The same, for a traces config (the name it had first). */
int tt_otlp_config__traces_url(const struct tt_otlp_config *c, char *buf, size_t len);

/*
 * Whether the signal goes to OTLP: the SDK is not disabled and an endpoint
 * is configured and OTEL_<SIGNAL>_EXPORTER does not leave otlp out; for logs,
 * only with --logs or a logs endpoint of their own.
 */
bool tt_otlp_config__enabled(const struct tt_otlp_config *c);

/* "traces", "metrics" or "logs". */
const char *tt_otlp_signal__name(enum tt_otlp_signal s);

/* The spool directory: the configured one, else the default for this user. */
const char *tt_otlp_config__spool_dir(const struct tt_otlp_config *c, char *buf, size_t len);

/*
 * Parses a W3C-baggage-like list "k1=v1,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_RESOURCE_ATTRIBUTES): keys and values trimmed, values URL-decoded.
 * Appends to `out`. Returns 0, -EINVAL (the entry in `err`) or -ENOMEM.
 */
int tt_pairs__parse(struct tt_pairs *out, const char *text, char *err, size_t len);

/* Frees the pairs. */
void tt_pairs__release(struct tt_pairs *p);

/* The protocol's name as the variables spell it. */
const char *tt_otlp_protocol__name(enum tt_otlp_protocol p);

/*
 * The sampling decision for a trace id (OTel TraceIdRatioBased): the last
 * 8 bytes of the id as a big-endian integer, shifted right by one, below
 * ratio * 2^63. Every agent decides alike for the same derived trace id.
 */
bool tt_sampler__keep(enum tt_sampler s, double ratio, const uint8_t trace_id[16]);

#endif /* TASKTAP_OTLP_CONFIG_H */
