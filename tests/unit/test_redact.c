// SPDX-License-Identifier: MIT
/* Tests of redact.c: passwords in URLs and secret-looking values are masked in messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "redact.h"

static void check(const char *in, const char *want, int count)
{
	char out[512];

	assert_int_equal(tt_redact__text(in, out, sizeof(out)), count);
	assert_string_equal(out, want);
}

static void test_url_userinfo(void **state)
{
	check("exporting spans to http://alice:s3cret@collector:4318/v1/traces (grpc)",
	      "exporting spans to http://***@collector:4318/v1/traces (grpc)", 1);
	check("https://token@h/x and http://u:p@[::1]:4318",
	      "https://***@h/x and http://***@[::1]:4318", 2);
	check("http://collector:4318/v1/traces", "http://collector:4318/v1/traces", 0);
	/* an '@' after the path is not userinfo */
	check("http://h/a@b", "http://h/a@b", 0);
}

static void test_secret_values(void **state)
{
	check("invalid OTEL_EXPORTER_OTLP_HEADERS: 'Authorization Bearer abc.def' is not key=value",
	      "invalid OTEL_EXPORTER_OTLP_HEADERS: 'Authorization Bearer ***' is not key=value", 1);
	check("Authorization=Basic dXNlcjpwYXNz,x-api-key=k1",
	      "Authorization=Basic ***,x-api-key=***", 2);
	check("api_key: 12345; password=hunter2", "api_key: ***; password=***", 2);
	check("http://h/v1/traces?access_token=xyz&a=1", "http://h/v1/traces?access_token=***&a=1",
	      1);
	check("X-Secret-Token:\"abc\"", "X-Secret-Token:\"***\"", 1);
}

static void test_plain_text_kept(void **state)
{
	check("cannot export spans: HTTP 401: Unauthorized",
	      "cannot export spans: HTTP 401: Unauthorized", 0);
	check("authentication failed; retrying", "authentication failed; retrying", 0);
	check("key: order_id", "key: order_id", 0);
	check("", "", 0);
}

static void test_bounded_output(void **state)
{
	char out[12];

	tt_redact__text("http://user:pw@host/path/long", out, sizeof(out));
	assert_string_equal(out, "http://***@");
	assert_true(tt_redact__secret_name("X-Auth-Token", 12));
	assert_false(tt_redact__secret_name("content-type", 12));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_userinfo),
		cmocka_unit_test(test_secret_values),
		cmocka_unit_test(test_plain_text_kept),
		cmocka_unit_test(test_bounded_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
