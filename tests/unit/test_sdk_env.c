// SPDX-License-Identifier: MIT
/* Tests of sdk_env.c: exporters per signal, propagators, temporality, limits, refusals. */
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
#include "export/sdk_env.h"

/* Reads the SDK variables and the three OTLP configs as the agent does. */
static int load(struct fake_env *f, struct tt_sdk_config *c, struct tt_otlp_config otlp[],
		char *err, size_t len)
{
	struct tt_env env = {.get = fake_get, .warn = fake_warn, .ctx = f};
	int ret;

	tt_sdk_config__init(c);
	ret = tt_sdk_config__from_env(c, &env, err, len);
	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		tt_otlp_config__init_signal(&otlp[s], s);
		assert_int_equal(tt_otlp_config__from_env(&otlp[s], &env), 0);
	}
	if (!ret)
		tt_sdk_config__apply(c, otlp);
	return ret;
}

static void release(struct tt_otlp_config otlp[])
{
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		tt_otlp_config__release(&otlp[s]);
}

static void test_exporters_per_signal(void **state)
{
	struct fake_env f = {.vars = {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
				      {"OTEL_METRICS_EXPORTER", "none"},
				      {"OTEL_TRACES_EXPORTER", "console, otlp"},
				      {"OTEL_LOGS_EXPORTER", "OTLP"}}};
	struct tt_otlp_config otlp[TT_SIGNAL__COUNT];
	struct tt_sdk_config c;
	char err[256];

	assert_int_equal(load(&f, &c, otlp, err, sizeof(err)), 0);
	assert_int_equal(c.traces, TT_EXPORTER_OTLP | TT_EXPORTER_CONSOLE);
	assert_true(tt_otlp_config__enabled(&otlp[TT_SIGNAL_TRACES]));
	assert_false(tt_otlp_config__enabled(&otlp[TT_SIGNAL_METRICS]));
	assert_true(tt_otlp_config__enabled(&otlp[TT_SIGNAL_LOGS])); /* otlp turns logs on */
	release(otlp);
}

static void test_otlp_without_endpoint_takes_the_default(void **state)
{
	struct fake_env f = {.vars = {{"OTEL_TRACES_EXPORTER", "otlp"},
				      {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"}}};
	struct tt_otlp_config otlp[TT_SIGNAL__COUNT];
	struct tt_sdk_config c;
	char err[256], url[256];

	assert_int_equal(load(&f, &c, otlp, err, sizeof(err)), 0);
	assert_int_equal(tt_otlp_config__url(&otlp[TT_SIGNAL_TRACES], url, sizeof(url)), 0);
	assert_string_equal(
		url,
		"http://localhost:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export");
	/* metrics were not named: no endpoint, no export, as before */
	assert_false(tt_otlp_config__enabled(&otlp[TT_SIGNAL_METRICS]));
	release(otlp);
}

static void test_refused_values_name_the_variable(void **state)
{
	static const char *const cases[][3] = {
		{"OTEL_TRACES_EXPORTER", "zipkin",
		 "OTEL_TRACES_EXPORTER: 'zipkin' is not supported (tasktap has otlp, console and "
		 "none)"},
		{"OTEL_METRICS_EXPORTER", "otlp,console", "OTEL_METRICS_EXPORTER: 'console'"},
		{"OTEL_PROPAGATORS", "tracecontext,b3", "OTEL_PROPAGATORS: 'b3' is not supported"},
		{"OTEL_TRACES_SAMPLER", "jaeger_remote", "OTEL_TRACES_SAMPLER: 'jaeger_remote'"},
		{"OTEL_METRICS_EXEMPLAR_FILTER", "always_on", "OTEL_METRICS_EXEMPLAR_FILTER"},
		{"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
		 "base2_exponential_bucket_histogram", "'base2_exponential_bucket_histogram'"},
		{"OTEL_CONFIG_FILE", "/etc/otel.yaml", "OTEL_CONFIG_FILE: a configuration file"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_env f = {.vars = {{cases[i][0], cases[i][1]}}};
		struct tt_otlp_config otlp[TT_SIGNAL__COUNT];
		struct tt_sdk_config c;
		char err[256] = "";

		assert_int_equal(load(&f, &c, otlp, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i][2]))
			fail_msg("%s=%s: %s", cases[i][0], cases[i][1], err);
		release(otlp);
	}
}

static void test_propagators_temporality_prometheus_limits(void **state)
{
	struct fake_env f = {
		.vars = {{"OTEL_PROPAGATORS", "none"},
			 {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"},
			 {"OTEL_EXPORTER_PROMETHEUS_PORT", "9999"},
			 {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "16"},
			 {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "5"},
			 {"OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "-1"}}};
	struct tt_otlp_config otlp[TT_SIGNAL__COUNT];
	struct tt_sdk_config c;
	char err[256];

	assert_int_equal(load(&f, &c, otlp, err, sizeof(err)), 0);
	assert_false(c.tracecontext);
	assert_true(c.delta);
	assert_string_equal(c.prom_addr, "localhost:9999");
	assert_int_equal(c.span.value_length, 16);
	assert_int_equal(c.log.value_length, 16); /* the general limit */
	assert_int_equal(c.span.count, 5);
	assert_int_equal(c.log.count, 128); /* -1 is refused: the default stays */
	assert_non_null(strstr(f.warnings, "ignoring OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT"));
	release(otlp);
}

static void test_limit_cuts_at_a_character(void **state)
{
	assert_int_equal(tt_attr_limit__cut("abcdef", 6, 4), 4);
	assert_int_equal(tt_attr_limit__cut("abc", 3, 4), 3);
	/* "é" is 2 bytes: a cut at 2 keeps "a" */
	assert_int_equal(tt_attr_limit__cut("a\xc3\xa9z", 4, 2), 1);
	assert_int_equal(tt_attr_limit__cut("a\xc3\xa9z", 4, 3), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exporters_per_signal),
		cmocka_unit_test(test_otlp_without_endpoint_takes_the_default),
		cmocka_unit_test(test_refused_values_name_the_variable),
		cmocka_unit_test(test_propagators_temporality_prometheus_limits),
		cmocka_unit_test(test_limit_cuts_at_a_character),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
