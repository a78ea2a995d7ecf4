// SPDX-License-Identifier: MIT
/* OTEL_* variables, command-line precedence, bad values, URLs, the sampler. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_env.h"
#include "export/otlp_config.h"
#include "export/otlp_http.h"

static void load(struct tt_otlp_config *c, struct fake_env *f)
{
	struct tt_env env = {.get = fake_get, .warn = fake_warn, .ctx = f};

	tt_otlp_config__init(c);
	assert_int_equal(tt_otlp_config__from_env(c, &env), 0);
}

static void test_defaults(void **state)
{
	struct fake_env f = {0};
	struct tt_otlp_config c;
	char url[256];

	load(&c, &f);
	assert_false(tt_otlp_config__enabled(&c));
	assert_int_equal(tt_otlp_config__traces_url(&c, url, sizeof(url)), -ENOENT);
	assert_int_equal(c.protocol, TT_OTLP_HTTP_PROTOBUF);
	assert_int_equal(c.timeout_ms, 10000);
	assert_int_equal(c.delay_ms, 5000);
	assert_int_equal(c.max_queue, 2048);
	assert_int_equal(c.max_batch, 512);
	assert_int_equal(c.export_timeout_ms, 30000);
	assert_int_equal(c.spool_bytes, 256ULL << 20);
	assert_false(c.gzip);
	assert_int_equal(c.sampler, TT_SAMPLER_ALWAYS_ON);
	assert_int_equal(f.nwarn, 0);
	tt_otlp_config__release(&c);
}

static void test_every_variable(void **state)
{
	struct fake_env f = {
		.vars = {
			{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
			{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
			{"OTEL_EXPORTER_OTLP_HEADERS", " api-key = s%3Dcret%2C1 ,x-tenant=a b"},
			{"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
			{"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
			{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"},
			{"OTEL_EXPORTER_OTLP_CLIENT_KEY", "/key.pem"},
			{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/cert.pem"},
			{"OTEL_SERVICE_NAME", "billing"},
			{"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=a%20b"},
			{"OTEL_TRACES_SAMPLER", "traceidratio"},
			{"OTEL_TRACES_SAMPLER_ARG", "0.25"},
			{"OTEL_BSP_SCHEDULE_DELAY", "100"},
			{"OTEL_BSP_MAX_QUEUE_SIZE", "64"},
			{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16"},
			{"OTEL_BSP_EXPORT_TIMEOUT", "700"},
		}};
	struct tt_otlp_config c;
	char url[256];

	load(&c, &f);
	assert_int_equal(f.nwarn, 0);
	assert_true(tt_otlp_config__enabled(&c));
	assert_int_equal(tt_otlp_config__traces_url(&c, url, sizeof(url)), 0);
	assert_string_equal(url, "http://collector:4318/v1/traces");
	assert_int_equal(c.protocol, TT_OTLP_HTTP_JSON);
	assert_int_equal(c.headers.n, 2);
	assert_string_equal(c.headers.at[0].name, "api-key");
	assert_string_equal(c.headers.at[0].value, "s=cret,1");
	assert_string_equal(c.headers.at[1].name, "x-tenant");
	assert_string_equal(c.headers.at[1].value, "a b");
	assert_true(c.gzip);
	assert_int_equal(c.timeout_ms, 2500);
	assert_string_equal(c.ca_file, "/ca.pem");
	assert_string_equal(c.client_key, "/key.pem");
	assert_string_equal(c.client_cert, "/cert.pem");
	assert_string_equal(c.service_name, "billing");
	assert_int_equal(c.res_attrs.n, 2);
	assert_string_equal(c.res_attrs.at[1].value, "a b");
	assert_int_equal(c.sampler, TT_SAMPLER_RATIO);
	assert_true(c.ratio > 0.2499 && c.ratio < 0.2501);
	assert_int_equal(c.delay_ms, 100);
	assert_int_equal(c.max_queue, 64);
	assert_int_equal(c.max_batch, 16);
	assert_int_equal(c.export_timeout_ms, 700);
	tt_otlp_config__release(&c);
}

static void test_per_signal_wins_and_cli_wins(void **state)
{
	struct fake_env f = {
		.vars = {
			{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"},
			{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom/path"},
			{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
			{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"},
			{"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
			{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"},
		}};
	struct tt_otlp_config c;
	char url[256], err[256];

	load(&c, &f);
	/* the per-signal endpoint is used as is */
	assert_int_equal(tt_otlp_config__traces_url(&c, url, sizeof(url)), 0);
	assert_string_equal(url, "http://traces:9999/custom/path");
	assert_int_equal(c.protocol, TT_OTLP_HTTP_PROTOBUF);
	assert_false(c.gzip);
	/* the command line over the environment */
	assert_int_equal(
		tt_otlp_config__set(&c, "otlp-endpoint", "http://cli:4318", err, sizeof(err)), 0);
	assert_int_equal(tt_otlp_config__set(&c, "otlp-protocol", "grpc", err, sizeof(err)), 0);
	assert_int_equal(tt_otlp_config__traces_url(&c, url, sizeof(url)), 0);
	assert_string_equal(
		url, "http://cli:4318/opentelemetry.proto.collector.trace.v1.TraceService/Export");
	assert_int_equal(tt_otlp_config__set(&c, "otlp-header", "a=1,b=2", err, sizeof(err)), 0);
	assert_int_equal(c.headers.n, 2);
	assert_int_equal(tt_otlp_config__set(&c, "spool-size", "1M", err, sizeof(err)), 0);
	assert_int_equal(c.spool_bytes, 1 << 20);
	assert_int_equal(tt_otlp_config__set(&c, "no-spool", "", err, sizeof(err)), 0);
	assert_true(c.spool_off);
	assert_int_equal(c.inflight, TT_EXPORT_DEFAULT_INFLIGHT);
	assert_int_equal(tt_otlp_config__set(&c, "otlp-inflight", "4", err, sizeof(err)), 0);
	assert_int_equal(c.inflight, 4);
	assert_int_equal(tt_otlp_config__set(&c, "otlp-inflight", "0", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "invalid requests in flight '0': expected an integer of at least 1");
	assert_int_equal(tt_otlp_config__set(&c, "otlp-inflight", "9", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid requests in flight '9': expected 1 to 8");
	assert_int_equal(c.inflight, 4); /* a bad value leaves it as it was */
	tt_otlp_config__release(&c);
}

static void test_sdk_disabled(void **state)
{
	struct fake_env f = {.vars = {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
				      {"OTEL_SDK_DISABLED", "TRUE"}}};
	struct tt_otlp_config c;

	load(&c, &f);
	assert_false(tt_otlp_config__enabled(&c));
	tt_otlp_config__release(&c);
}

static void test_bad_values_warn_and_keep_defaults(void **state)
{
	struct fake_env f = {.vars = {
				     {"OTEL_EXPORTER_OTLP_PROTOCOL", "udp"},
				     {"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"},
				     {"OTEL_EXPORTER_OTLP_TIMEOUT", "-5"},
				     {"OTEL_EXPORTER_OTLP_HEADERS", "novalue"},
				     {"OTEL_RESOURCE_ATTRIBUTES", "a=1,=2"},
				     {"OTEL_TRACES_SAMPLER", "sometimes"},
				     {"OTEL_BSP_MAX_QUEUE_SIZE", "12x"},
				     {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"},
			     }};
	struct tt_otlp_config c;
	char err[256];

	load(&c, &f);
	assert_int_equal(f.nwarn, 8);
	assert_non_null(strstr(f.warnings,
			       "ignoring OTEL_EXPORTER_OTLP_PROTOCOL: invalid "
			       "protocol 'udp': expected http/protobuf, http/json or grpc"));
	assert_non_null(strstr(f.warnings, "invalid compression 'zstd'"));
	assert_non_null(strstr(f.warnings, "OTEL_EXPORTER_OTLP_TIMEOUT: invalid timeout '-5'"));
	assert_non_null(strstr(f.warnings, "'novalue' is not key=value"));
	assert_non_null(strstr(f.warnings, "invalid sampler 'sometimes'"));
	assert_non_null(strstr(f.warnings, "OTEL_BSP_MAX_QUEUE_SIZE: invalid"));
	assert_int_equal(c.protocol, TT_OTLP_HTTP_PROTOBUF);
	assert_false(c.gzip);
	assert_int_equal(c.timeout_ms, 10000);
	assert_int_equal(c.headers.n, 0);
	assert_int_equal(c.res_attrs.n, 0);
	assert_int_equal(c.max_queue, 2048);
	assert_int_equal(c.max_batch, 512);
	/* on the command line a bad value is an error */
	assert_int_equal(tt_otlp_config__set(&c, "otlp-protocol", "udp", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err,
			    "invalid protocol 'udp': expected http/protobuf, http/json or grpc");
	assert_int_equal(
		tt_otlp_config__set(&c, "otlp-endpoint", "collector:4318", err, sizeof(err)),
		-EINVAL);
	assert_int_equal(tt_otlp_config__set(&c, "sampler-arg", "1.5", err, sizeof(err)), -EINVAL);
	tt_otlp_config__release(&c);
}

static void test_ratio_sampler_uses_trace_id(void **state)
{
	uint8_t id[16] = {0};
	int kept = 0;

	/* the low 8 bytes, big-endian, >> 1, against ratio * 2^63 */
	id[8] = 0x3f; /* x >> 1 = 0x1f8... < 0.25 * 2^63 = 0x2000... */
	assert_true(tt_sampler__keep(TT_SAMPLER_RATIO, 0.25, id));
	id[8] = 0x41; /* 0x208... >= 0x2000... */
	assert_false(tt_sampler__keep(TT_SAMPLER_RATIO, 0.25, id));
	assert_false(tt_sampler__keep(TT_SAMPLER_PARENT_RATIO, 0.25, id));
	assert_true(tt_sampler__keep(TT_SAMPLER_RATIO, 1.0, id));
	assert_false(tt_sampler__keep(TT_SAMPLER_RATIO, 0.0, id));
	assert_false(tt_sampler__keep(TT_SAMPLER_ALWAYS_OFF, 1.0, id));
	assert_true(tt_sampler__keep(TT_SAMPLER_ALWAYS_ON, 0.0, id));
	/* about the ratio over many ids */
	for (int i = 0; i < 4096; i++) {
		id[8] = (uint8_t)(i * 37);
		id[9] = (uint8_t)(i >> 3);
		kept += tt_sampler__keep(TT_SAMPLER_RATIO, 0.5, id);
	}
	assert_in_range(kept, 1800, 2300);
}

static void load_signal(struct tt_otlp_config *c, enum tt_otlp_signal sig, struct fake_env *f)
{
	struct tt_env env = {.get = fake_get, .warn = fake_warn, .ctx = f};

	tt_otlp_config__init_signal(c, sig);
	assert_int_equal(tt_otlp_config__from_env(c, &env), 0);
}

/* Metrics and logs: their own endpoints, paths, per-signal variables and batching. */
static void test_metrics_and_logs_signals(void **state)
{
	struct fake_env f = {.vars = {
				     {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
				     {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:1/in"},
				     {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"},
				     {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"},
				     {"OTEL_METRIC_EXPORT_INTERVAL", "250"},
				     {"OTEL_METRIC_EXPORT_TIMEOUT", "900"},
				     {"OTEL_BLRP_SCHEDULE_DELAY", "77"},
				     {"OTEL_BLRP_MAX_QUEUE_SIZE", "999"},
				     {"OTEL_BSP_SCHEDULE_DELAY", "5"},
			     }};
	struct tt_otlp_config t, m, l;
	char url[256], err[128];

	load_signal(&t, TT_SIGNAL_TRACES, &f);
	load_signal(&m, TT_SIGNAL_METRICS, &f);
	load_signal(&l, TT_SIGNAL_LOGS, &f);
	assert_int_equal(f.nwarn, 0);
	assert_int_equal(tt_otlp_config__url(&t, url, sizeof(url)), 0);
	assert_string_equal(url, "http://collector:4318/v1/traces");
	assert_int_equal(tt_otlp_config__url(&m, url, sizeof(url)), 0);
	assert_string_equal(url, "http://collector:4318/"
				 "opentelemetry.proto.collector.metrics.v1.MetricsService/Export");
	assert_int_equal(tt_otlp_config__url(&l, url, sizeof(url)), 0);
	assert_string_equal(url, "http://logs:1/in"); /* per-signal: as is */
	/* a per-signal variable is for its signal only */
	assert_int_equal(t.protocol, TT_OTLP_HTTP_PROTOBUF);
	assert_int_equal(m.protocol, TT_OTLP_GRPC);
	assert_true(t.gzip);
	assert_false(m.gzip);
	assert_false(l.gzip);
	assert_int_equal(m.interval_ms, 250);
	assert_int_equal(m.export_timeout_ms, 900);
	assert_int_equal(l.delay_ms, 77);
	assert_int_equal(l.max_queue, 999);
	assert_int_equal(t.delay_ms, 5);
	assert_string_equal(tt_otlp_signal__name(m.signal), "metrics");
	/* metrics follow any endpoint; logs need --logs or their own endpoint */
	assert_true(tt_otlp_config__enabled(&m));
	assert_true(tt_otlp_config__enabled(&l));
	free(l.endpoint);
	l.endpoint = NULL;
	assert_false(tt_otlp_config__enabled(&l));
	assert_int_equal(tt_otlp_config__set(&l, "logs", "", err, sizeof(err)), 0);
	assert_true(tt_otlp_config__enabled(&l));
	assert_int_equal(tt_otlp_config__url(&l, url, sizeof(url)), 0);
	assert_string_equal(url, "http://collector:4318/v1/logs");
	/* release keeps the signal */
	tt_otlp_config__release(&m);
	assert_int_equal(m.signal, TT_SIGNAL_METRICS);
	assert_int_equal(m.interval_ms, TT_METRIC_DEFAULT_INTERVAL_MS);
	assert_int_equal(l.delay_ms, 77);
	tt_otlp_config__release(&t);
	tt_otlp_config__release(&l);
	assert_int_equal(l.delay_ms, TT_BLRP_DEFAULT_DELAY_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_variable),
		cmocka_unit_test(test_per_signal_wins_and_cli_wins),
		cmocka_unit_test(test_sdk_disabled),
		cmocka_unit_test(test_bad_values_warn_and_keep_defaults),
		cmocka_unit_test(test_ratio_sampler_uses_trace_id),
		cmocka_unit_test(test_metrics_and_logs_signals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
