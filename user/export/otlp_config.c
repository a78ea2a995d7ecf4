// SPDX-License-Identifier: MIT
/* OTLP export settings from OTEL_* variables and the command line (see otlp_config.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "hex.h"
#include "otlp_config.h"

void tt_otlp_config__init(struct tt_otlp_config *c)
{
	tt_otlp_config__init_signal(c, TT_SIGNAL_TRACES);
}

void tt_otlp_config__init_signal(struct tt_otlp_config *c, enum tt_otlp_signal signal)
{
	memset(c, 0, sizeof(*c));
	c->signal = signal;
	c->protocol = TT_OTLP_HTTP_PROTOBUF;
	c->timeout_ms = TT_OTLP_DEFAULT_TIMEOUT_MS;
	c->sampler = TT_SAMPLER_ALWAYS_ON;
	c->ratio = 1.0;
	c->delay_ms = signal == TT_SIGNAL_LOGS ? TT_BLRP_DEFAULT_DELAY_MS : TT_BSP_DEFAULT_DELAY_MS;
	c->max_queue = TT_BSP_DEFAULT_QUEUE;
	c->max_batch = TT_BSP_DEFAULT_BATCH;
	c->export_timeout_ms = signal == TT_SIGNAL_METRICS ? TT_METRIC_DEFAULT_TIMEOUT_MS
							   : TT_BSP_DEFAULT_EXPORT_TIMEOUT_MS;
	c->interval_ms = TT_METRIC_DEFAULT_INTERVAL_MS;
	c->spool_bytes = TT_SPOOL_DEFAULT_BYTES;
	c->inflight = TT_EXPORT_DEFAULT_INFLIGHT;
	c->queue_bytes = TT_EXPORT_DEFAULT_QUEUE_BYTES;
	c->batch_bytes = TT_EXPORT_DEFAULT_BATCH_BYTES;
}

void tt_pairs__release(struct tt_pairs *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->at[i].name);
		free(p->at[i].value);
	}
	p->n = 0;
}

void tt_otlp_config__release(struct tt_otlp_config *c)
{
	enum tt_otlp_signal signal = c->signal;

	free(c->base);
	free(c->endpoint);
	free(c->ca_file);
	free(c->client_key);
	free(c->client_cert);
	free(c->service_name);
	free(c->spool_dir);
	tt_pairs__release(&c->headers);
	tt_pairs__release(&c->res_attrs);
	tt_otlp_config__init_signal(c, signal);
}

/* A copy of [s, s+n) trimmed of blanks, %XX-decoded when `decode`. NULL with errno. */
static char *dup_trimmed(const char *s, size_t n, bool decode)
{
	char *out, *o;

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < n; i++) {
		if (decode && s[i] == '%' && i + 2 < n && tt_hex_digit(s[i + 1]) >= 0 &&
		    tt_hex_digit(s[i + 2]) >= 0) {
			*o++ = (char)(tt_hex_digit(s[i + 1]) * 16 + tt_hex_digit(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int tt_pairs__parse(struct tt_pairs *out, const char *text, char *err, size_t len)
{
	const char *p = text;

	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		struct tt_pair *pair;

		eq = memchr(p, '=', n);
		if (!eq || eq == p) {
			bool blank = true;

			for (size_t i = 0; i < n; i++)
				blank = blank && isspace((unsigned char)p[i]);
			if (!blank) {
				snprintf(err, len, "'%.*s' is not key=value", (int)n, p);
				return -EINVAL;
			}
		} else {
			if (out->n == TT_OTLP_MAX_PAIRS) {
				snprintf(err, len, "more than %d entries", TT_OTLP_MAX_PAIRS);
				return -EINVAL;
			}
			pair = &out->at[out->n];
			pair->name = dup_trimmed(p, (size_t)(eq - p), false);
			pair->value = dup_trimmed(eq + 1, n - (size_t)(eq - p) - 1, true);
			if (!pair->name || !pair->value) {
				free(pair->name);
				free(pair->value);
				return -ENOMEM;
			}
			if (!pair->name[0]) {
				snprintf(err, len, "'%.*s' has an empty key", (int)n, p);
				free(pair->name);
				free(pair->value);
				return -EINVAL;
			}
			out->n++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

const char *tt_otlp_signal__name(enum tt_otlp_signal s)
{
	switch (s) {
	case TT_SIGNAL_METRICS:
		return "metrics";
	case TT_SIGNAL_LOGS:
		return "logs";
	default:
		return "traces";
	}
}

/* The signal's part of a variable's name: TRACES, METRICS, LOGS. */
static const char *signal_upper(enum tt_otlp_signal s)
{
	switch (s) {
	case TT_SIGNAL_METRICS:
		return "METRICS";
	case TT_SIGNAL_LOGS:
		return "LOGS";
	default:
		return "TRACES";
	}
}

const char *tt_otlp_protocol__name(enum tt_otlp_protocol p)
{
	switch (p) {
	case TT_OTLP_HTTP_JSON:
		return "http/json";
	case TT_OTLP_GRPC:
		return "grpc";
	default:
		return "http/protobuf";
	}
}

static int parse_protocol(const char *v, enum tt_otlp_protocol *out, char *err, size_t len)
{
	if (!strcmp(v, "http/protobuf"))
		*out = TT_OTLP_HTTP_PROTOBUF;
	else if (!strcmp(v, "http/json"))
		*out = TT_OTLP_HTTP_JSON;
	else if (!strcmp(v, "grpc"))
		*out = TT_OTLP_GRPC;
	else {
		snprintf(err, len,
			 "invalid protocol '%s': expected http/protobuf, http/json or grpc", v);
		return -EINVAL;
	}
	return 0;
}

static int parse_compression(const char *v, bool *gzip, char *err, size_t len)
{
	if (!strcmp(v, "gzip"))
		*gzip = true;
	else if (!strcmp(v, "none"))
		*gzip = false;
	else {
		snprintf(err, len, "invalid compression '%s': expected gzip or none", v);
		return -EINVAL;
	}
	return 0;
}

/* A count of milliseconds or items: a non-negative integer, at least `min`. */
static int parse_u32(const char *name, const char *v, uint32_t min, uint32_t *out, char *err,
		     size_t len)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n > UINT32_MAX || n < min) {
		snprintf(err, len, "invalid %s '%s': expected an integer of at least %u", name, v,
			 min);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

static int parse_sampler(const char *v, enum tt_sampler *out, char *err, size_t len)
{
	if (!strcmp(v, "always_on") || !strcmp(v, "parentbased_always_on"))
		*out = TT_SAMPLER_ALWAYS_ON;
	else if (!strcmp(v, "always_off") || !strcmp(v, "parentbased_always_off"))
		*out = TT_SAMPLER_ALWAYS_OFF;
	else if (!strcmp(v, "traceidratio"))
		*out = TT_SAMPLER_RATIO;
	else if (!strcmp(v, "parentbased_traceidratio"))
		*out = TT_SAMPLER_PARENT_RATIO;
	else {
		snprintf(err, len,
			 "invalid sampler '%s': expected always_on, always_off, traceidratio or "
			 "parentbased_traceidratio",
			 v);
		return -EINVAL;
	}
	return 0;
}

static int parse_ratio(const char *v, double *out, char *err, size_t len)
{
	char *end;
	double r;

	errno = 0;
	r = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(r) || r < 0 || r > 1) {
		snprintf(err, len, "invalid sampler argument '%s': expected a ratio from 0 to 1",
			 v);
		return -EINVAL;
	}
	*out = r;
	return 0;
}

static int replace(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static const char *env_get(const struct tt_env *env, const char *name)
{
	const char *v = env->get ? env->get(name, env->ctx) : getenv(name);

	return v && *v ? v : NULL;
}

/* The per-signal variable OTEL_EXPORTER_OTLP_<SIGNAL>_<what>, else OTEL_EXPORTER_OTLP_<what>. */
static const char *signal_get(const struct tt_otlp_config *c, const struct tt_env *env,
			      const char *what, const char **name)
{
	static __thread char buf[2][96];
	const char *v;

	snprintf(buf[0], sizeof(buf[0]), "OTEL_EXPORTER_OTLP_%s_%s", signal_upper(c->signal), what);
	snprintf(buf[1], sizeof(buf[1]), "OTEL_EXPORTER_OTLP_%s", what);
	v = env_get(env, buf[0]);
	*name = buf[0];
	if (!v) {
		v = env_get(env, buf[1]);
		*name = buf[1];
	}
	return v;
}

static void env_warn(const struct tt_env *env, const char *name, const char *reason)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "ignoring %s: %s", name, reason);
	if (env->warn)
		env->warn(msg, env->ctx);
	else
		tt_warn("%s", msg);
}

static bool is_true(const char *v)
{
	return v && !strcasecmp(v, "true");
}

/* A numeric variable and where it goes. */
struct num_var {
	const char *name;
	uint32_t min;
	uint32_t *out;
};

/* The batching variables of c's signal; returns their count. */
static size_t batch_vars(struct tt_otlp_config *c, struct num_var *out)
{
	if (c->signal == TT_SIGNAL_METRICS) {
		out[0] = (struct num_var){"OTEL_METRIC_EXPORT_INTERVAL", 1, &c->interval_ms};
		out[1] = (struct num_var){"OTEL_METRIC_EXPORT_TIMEOUT", 1, &c->export_timeout_ms};
		return 2;
	}
	if (c->signal == TT_SIGNAL_LOGS) {
		out[0] = (struct num_var){"OTEL_BLRP_SCHEDULE_DELAY", 0, &c->delay_ms};
		out[1] = (struct num_var){"OTEL_BLRP_MAX_QUEUE_SIZE", 1, &c->max_queue};
		out[2] = (struct num_var){"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 1, &c->max_batch};
		out[3] = (struct num_var){"OTEL_BLRP_EXPORT_TIMEOUT", 1, &c->export_timeout_ms};
		return 4;
	}
	out[0] = (struct num_var){"OTEL_BSP_SCHEDULE_DELAY", 0, &c->delay_ms};
	out[1] = (struct num_var){"OTEL_BSP_MAX_QUEUE_SIZE", 1, &c->max_queue};
	out[2] = (struct num_var){"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, &c->max_batch};
	out[3] = (struct num_var){"OTEL_BSP_EXPORT_TIMEOUT", 1, &c->export_timeout_ms};
	return 4;
}

/* The collector and how to reach it: endpoint, protocol, headers, compression, timeout, TLS. */
static int connection_from_env(struct tt_otlp_config *c, const struct tt_env *env)
{
	const char *v, *name;
	char err[256], var[64];
	int ret;

	v = env_get(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
	if (v && replace(&c->base, v))
		return -ENOMEM;
	snprintf(var, sizeof(var), "OTEL_EXPORTER_OTLP_%s_ENDPOINT", signal_upper(c->signal));
	v = env_get(env, var);
	if (v && replace(&c->endpoint, v))
		return -ENOMEM;
	/* OTEL_TRACES_EXPORTER, _METRICS_, _LOGS_: sdk_env.c (tt_sdk_config__apply) */
	v = signal_get(c, env, "PROTOCOL", &name);
	if (v && parse_protocol(v, &c->protocol, err, sizeof(err)))
		env_warn(env, name, err);
	v = signal_get(c, env, "HEADERS", &name);
	if (v) {
		struct tt_pairs tmp = {0};

		ret = tt_pairs__parse(&tmp, v, err, sizeof(err));
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			env_warn(env, name, err);
			tt_pairs__release(&tmp);
		} else {
			tt_pairs__release(&c->headers);
			c->headers = tmp;
		}
	}
	v = signal_get(c, env, "COMPRESSION", &name);
	if (v && parse_compression(v, &c->gzip, err, sizeof(err)))
		env_warn(env, name, err);
	v = signal_get(c, env, "TIMEOUT", &name);
	if (v && parse_u32("timeout", v, 1, &c->timeout_ms, err, sizeof(err)))
		env_warn(env, name, err);
	v = signal_get(c, env, "CERTIFICATE", &name);
	if (v && replace(&c->ca_file, v))
		return -ENOMEM;
	v = signal_get(c, env, "CLIENT_KEY", &name);
	if (v && replace(&c->client_key, v))
		return -ENOMEM;
	v = signal_get(c, env, "CLIENT_CERTIFICATE", &name);
	if (v && replace(&c->client_cert, v))
		return -ENOMEM;
	return 0;
}

/* OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. */
static int resource_from_env(struct tt_otlp_config *c, const struct tt_env *env)
{
	const char *v;
	char err[256];
	int ret;

	v = env_get(env, "OTEL_SERVICE_NAME");
	if (v && replace(&c->service_name, v))
		return -ENOMEM;
	v = env_get(env, "OTEL_RESOURCE_ATTRIBUTES");
	if (v) {
		ret = tt_pairs__parse(&c->res_attrs, v, err, sizeof(err));
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			/* the spec: discard the whole value when it cannot be parsed */
			env_warn(env, "OTEL_RESOURCE_ATTRIBUTES", err);
			tt_pairs__release(&c->res_attrs);
		}
	}
	return 0;
}

/* The sampler, and the batch processor's numbers. */
static void sampling_from_env(struct tt_otlp_config *c, const struct tt_env *env)
{
	struct num_var nums[4];
	size_t nnums = batch_vars(c, nums);
	const char *v;
	char err[256];

	v = env_get(env, "OTEL_TRACES_SAMPLER");
	if (v && parse_sampler(v, &c->sampler, err, sizeof(err)))
		env_warn(env, "OTEL_TRACES_SAMPLER", err);
	v = env_get(env, "OTEL_TRACES_SAMPLER_ARG");
	if (v && (c->sampler == TT_SAMPLER_RATIO || c->sampler == TT_SAMPLER_PARENT_RATIO) &&
	    parse_ratio(v, &c->ratio, err, sizeof(err)))
		env_warn(env, "OTEL_TRACES_SAMPLER_ARG", err);
	for (size_t i = 0; i < nnums; i++) {
		v = env_get(env, nums[i].name);
		if (v && parse_u32(nums[i].name, v, nums[i].min, nums[i].out, err, sizeof(err)))
			env_warn(env, nums[i].name, err);
		else if (v && nums[i].out == &c->max_queue)
			c->max_queue_set = true; /* spans: a bound beside the bytes' */
	}
	if (c->max_batch > c->max_queue) {
		env_warn(env, nums[2].name, "larger than the queue size; using the queue size");
		c->max_batch = c->max_queue;
	}
}

int tt_otlp_config__from_env(struct tt_otlp_config *c, const struct tt_env *env)
{
	int ret;

	c->disabled = is_true(env_get(env, "OTEL_SDK_DISABLED"));
	ret = connection_from_env(c, env);
	if (!ret)
		ret = resource_from_env(c, env);
	if (ret)
		return ret;
	sampling_from_env(c, env);
	return 0;
}

/* --otlp-queue-bytes (at least 64 KiB) and --otlp-batch-bytes (at least 4 KiB). */
static int set_bytes(struct tt_otlp_config *c, const char *key, const char *value, char *err,
		     size_t len)
{
	bool queue = !strcmp(key, "otlp-queue-bytes");
	size_t min = queue ? 65536 : 4096, n;

	if (tt_parse_size(value, &n) || n < min) {
		snprintf(err, len,
			 "invalid %s size '%s': expected bytes (K, M or G suffix), at least %zu",
			 queue ? "queue" : "batch", value, min);
		return -EINVAL;
	}
	if (queue)
		c->queue_bytes = n;
	else
		c->batch_bytes = n;
	return 0;
}

int tt_otlp_config__set(struct tt_otlp_config *c, const char *key, const char *value, char *err,
			size_t len)
{
	int ret = 0;

	if (!strcmp(key, "otlp-endpoint")) {
		if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
			snprintf(err, len,
				 "invalid endpoint '%s': expected an http:// or https:// URL",
				 value);
			return -EINVAL;
		}
		ret = replace(&c->base, value);
		c->base_on_cli = true;
	} else if (!strcmp(key, "otlp-protocol")) {
		ret = parse_protocol(value, &c->protocol, err, len);
	} else if (!strcmp(key, "otlp-header")) {
		ret = tt_pairs__parse(&c->headers, value, err, len);
	} else if (!strcmp(key, "otlp-compression")) {
		ret = parse_compression(value, &c->gzip, err, len);
	} else if (!strcmp(key, "otlp-timeout")) {
		ret = parse_u32("timeout", value, 1, &c->timeout_ms, err, len);
	} else if (!strcmp(key, "otlp-inflight")) {
		uint32_t n;

		ret = parse_u32("requests in flight", value, 1, &n, err, len);
		if (!ret && n > TT_EXPORT_MAX_INFLIGHT) {
			snprintf(err, len, "invalid requests in flight '%s': expected 1 to %d",
				 value, TT_EXPORT_MAX_INFLIGHT);
			ret = -EINVAL;
		}
		if (!ret)
			c->inflight = n;
	} else if (!strcmp(key, "otlp-queue-bytes") || !strcmp(key, "otlp-batch-bytes")) {
		ret = set_bytes(c, key, value, err, len);
	} else if (!strcmp(key, "spool")) {
		ret = replace(&c->spool_dir, value);
		c->spool_off = false;
	} else if (!strcmp(key, "no-spool")) {
		c->spool_off = true;
	} else if (!strcmp(key, "spool-size")) {
		size_t n;

		if (tt_parse_size(value, &n) || n < 4096) {
			snprintf(err, len,
				 "invalid spool size '%s': expected bytes (K, M or G suffix), "
				 "at least 4096",
				 value);
			return -EINVAL;
		}
		c->spool_bytes = n;
	} else if (!strcmp(key, "sampler")) {
		ret = parse_sampler(value, &c->sampler, err, len);
	} else if (!strcmp(key, "sampler-arg")) {
		ret = parse_ratio(value, &c->ratio, err, len);
	} else if (!strcmp(key, "logs")) {
		c->logs_on = true;
	} else {
		snprintf(err, len, "unknown setting '%s'", key);
		return -EINVAL;
	}
	if (ret == -ENOMEM)
		snprintf(err, len, "out of memory");
	return ret;
}

bool tt_otlp_config__enabled(const struct tt_otlp_config *c)
{
	if (c->disabled || c->signal_off || !(c->base || c->endpoint))
		return false;
	if (c->signal == TT_SIGNAL_METRICS)
		return !c->metrics_off;
	if (c->signal == TT_SIGNAL_LOGS)
		return c->logs_on || c->endpoint;
	return true;
}

/* The path appended to a base endpoint: the URL path (http) or the gRPC method. */
static const char *signal_path(const struct tt_otlp_config *c)
{
	bool grpc = c->protocol == TT_OTLP_GRPC;

	switch (c->signal) {
	case TT_SIGNAL_METRICS:
		return grpc ? TT_OTLP_GRPC_METRICS_PATH : TT_OTLP_METRICS_PATH;
	case TT_SIGNAL_LOGS:
		return grpc ? TT_OTLP_GRPC_LOGS_PATH : TT_OTLP_LOGS_PATH;
	default:
		return grpc ? TT_OTLP_GRPC_TRACES_PATH : TT_OTLP_TRACES_PATH;
	}
}

int tt_otlp_config__traces_url(const struct tt_otlp_config *c, char *buf, size_t len)
{
	return tt_otlp_config__url(c, buf, len);
}

int tt_otlp_config__url(const struct tt_otlp_config *c, char *buf, size_t len)
{
	const char *suffix = signal_path(c);
	size_t n;
	int w;

	if (c->endpoint && !c->base_on_cli) {
		if (c->protocol != TT_OTLP_GRPC || strstr(c->endpoint, suffix))
			w = snprintf(buf, len, "%s", c->endpoint);
		else
			w = snprintf(buf, len, "%s%s", c->endpoint, suffix);
		return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
	}
	if (!c->base)
		return -ENOENT;
	n = strlen(c->base);
	while (n && c->base[n - 1] == '/')
		n--;
	w = snprintf(buf, len, "%.*s%s", (int)n, c->base, suffix);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

const char *tt_otlp_config__spool_dir(const struct tt_otlp_config *c, char *buf, size_t len)
{
	if (c->spool_dir)
		return c->spool_dir;
	if (geteuid() == 0)
		return TT_SPOOL_DEFAULT_DIR;
	snprintf(buf, len, "/tmp/tasktap-%u/spool", (unsigned)geteuid());
	return buf;
}

bool tt_sampler__keep(enum tt_sampler s, double ratio, const uint8_t trace_id[16])
{
	uint64_t x = 0, bound;

	switch (s) {
	case TT_SAMPLER_ALWAYS_OFF:
		return false;
	case TT_SAMPLER_RATIO:
	case TT_SAMPLER_PARENT_RATIO:
		/* parent-based: every span of a trace shares its root's id, so the same decision */
		if (ratio >= 1.0)
			return true;
		if (ratio <= 0.0)
			return false;
		for (int i = 8; i < 16; i++)
			x = (x << 8) | trace_id[i];
		bound = (uint64_t)(ratio * 9223372036854775808.0); /* ratio * 2^63 */
		return (x >> 1) < bound;
	default:
		return true;
	}
}
