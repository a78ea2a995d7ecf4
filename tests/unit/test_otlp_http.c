// SPDX-License-Identifier: MIT
/* Sending to the collector: the retry policy, Retry-After, gRPC framing and gzip, libcurl quirks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "export/otlp_http.h"

static struct tt_send_result res(int te, long http, int grpc, int64_t ra)
{
	struct tt_send_result r = {.transport_error = te,
				   .http_status = http,
				   .grpc_status = grpc,
				   .retry_after_ms = ra};

	return r;
}

static void test_retry_policy(void **state)
{
	struct tt_send_result r;
	uint64_t d;

	r = res(0, 200, -1, -1);
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_DONE);
	r = res(0, 204, -1, -1);
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_DONE);
	for (long code = 400; code < 600; code++) {
		bool retry = code == 429 || code == 502 || code == 503 || code == 504;

		r = res(0, code, -1, -1);
		assert_int_equal(tt_retry__decide(&r, 1, 0, &d),
				 retry ? TT_VERDICT_RETRY : TT_VERDICT_DROP);
	}
	r = res(7, 0, -1, -1); /* connection refused */
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_RETRY);
	r = res(0, 200, 0, -1);
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_DONE);
	r = res(0, 200, 14, -1);
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_RETRY);
	r = res(0, 200, 8, -1);
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_RETRY);
	r = res(0, 200, 3, -1); /* INVALID_ARGUMENT */
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_DROP);
	r = res(0, 200, 16, -1); /* UNAUTHENTICATED */
	assert_int_equal(tt_retry__decide(&r, 1, 0, &d), TT_VERDICT_DROP);
	/* exponential backoff with jitter in [d/2, d], capped */
	r = res(0, 503, -1, -1);
	tt_retry__decide(&r, 1, 0, &d);
	assert_int_equal(d, 250);
	tt_retry__decide(&r, 1, UINT64_MAX - 5, &d);
	assert_in_range(d, 250, 500);
	tt_retry__decide(&r, 2, 1000000, &d);
	assert_in_range(d, 500, 1000);
	tt_retry__decide(&r, 3, 999, &d);
	assert_in_range(d, 1000, 2000);
	tt_retry__decide(&r, 30, 12345, &d);
	assert_in_range(d, 2500, 5000);
	/* the server's delay wins, bounded */
	r = res(0, 429, -1, 3000);
	assert_int_equal(tt_retry__decide(&r, 1, 12345, &d), TT_VERDICT_RETRY);
	assert_int_equal(d, 3000);
	r = res(0, 200, 14, 7000); /* RetryInfo */
	tt_retry__decide(&r, 5, 1, &d);
	assert_int_equal(d, 7000);
	r = res(0, 503, -1, 3600 * 1000);
	tt_retry__decide(&r, 1, 1, &d);
	assert_int_equal(d, TT_RETRY_AFTER_MAX_MS);
}

static void test_retry_after_values(void **state)
{
	time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

	assert_int_equal(tt_retry__parse_after("120", now), 120000);
	assert_int_equal(tt_retry__parse_after(" 0", now), 0);
	assert_int_equal(tt_retry__parse_after("Sun, 06 Nov 1994 08:49:47 GMT", now), 10000);
	assert_int_equal(tt_retry__parse_after("Sun, 06 Nov 1994 08:00:00 GMT", now), 0);
	assert_int_equal(tt_retry__parse_after("soon", now), -1);
	assert_int_equal(tt_retry__parse_after("12abc", now), -1);
	/* more than a year ahead: refused, as delay-seconds are (found by fuzzing) */
	assert_int_equal(tt_retry__parse_after("31536001", now), -1);
	assert_int_equal(tt_retry__parse_after("Mon, 06 Nov 1995 08:49:47 GMT", now), -1);
	assert_int_equal(tt_retry__parse_after("Wed, 21 Oct 00944391323 07:28:00 GMT", now), -1);
}

static void test_grpc_framing_and_gzip(void **state)
{
	const uint8_t msg[] = "hello grpc";
	const uint8_t *got;
	uint8_t *framed, *z, *plain;
	size_t framed_len, got_len, z_len, plain_len;
	bool compressed;

	assert_int_equal(tt_grpc__frame(msg, 10, true, &framed, &framed_len), 0);
	assert_int_equal(framed_len, 15);
	assert_memory_equal(framed, "\x01\x00\x00\x00\x0a", 5);
	assert_int_equal(tt_grpc__unframe(framed, framed_len, &got, &got_len, &compressed), 0);
	assert_true(compressed);
	assert_int_equal(got_len, 10);
	assert_memory_equal(got, msg, 10);
	assert_int_equal(tt_grpc__unframe(framed, 9, &got, &got_len, &compressed), -EBADMSG);
	assert_int_equal(tt_grpc__unframe(framed, 3, &got, &got_len, &compressed), -EBADMSG);
	assert_int_equal(tt_grpc__unframe(framed, 0, &got, &got_len, &compressed), -ENODATA);
	free(framed);

	assert_int_equal(tt_gzip(msg, 10, &z, &z_len), 0);
	assert_memory_equal(z, "\x1f\x8b", 2); /* a gzip member */
	assert_int_equal(tt_gunzip(z, z_len, &plain, &plain_len), 0);
	assert_int_equal(plain_len, 10);
	assert_memory_equal(plain, msg, 10);
	free(plain);
	assert_int_equal(tt_gunzip(z, z_len - 4, &plain, &plain_len), -EBADMSG);
	free(z);
}

/*
 * gzip at zlib's fastest level is still gzip: every input, empty, tiny,
 * compressible, incompressible and larger than a batch, comes back whole
 * through inflate (what a collector runs), and repetitive input shrinks.
 */
static void test_gzip_round_trips(void **state)
{
	static const size_t sizes[] = {0, 1, 63, 4096, 300000, 3u << 20};
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (int random = 0; random < 2; random++) {
			size_t n = sizes[k], z_len = 0, plain_len = 0;
			uint8_t *in = malloc(n + 1), *z = NULL, *plain = NULL;

			assert_non_null(in);
			for (size_t i = 0; i < n; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				in[i] = random ? (uint8_t)x : (uint8_t) "span:attempt-"[i % 13];
			}
			assert_int_equal(tt_gzip(in, n, &z, &z_len), 0);
			assert_memory_equal(z, "\x1f\x8b", 2);
			if (!random && n >= 4096)
				assert_true(z_len < n / 10);
			assert_int_equal(tt_gunzip(z, z_len, &plain, &plain_len), 0);
			assert_int_equal(plain_len, n);
			if (n)
				assert_memory_equal(plain, in, n);
			free(plain);
			free(z);
			free(in);
		}
	}
}

/* The libcurl releases that break a reused prior-knowledge HTTP/2 connection. */
static void test_h2c_reuse_broken_versions(void **state)
{
	assert_false(tt_otlp__h2c_reuse_broken(0x075700)); /* 7.87.0 */
	assert_true(tt_otlp__h2c_reuse_broken(0x075800));  /* 7.88.0 */
	assert_true(tt_otlp__h2c_reuse_broken(0x075801));  /* 7.88.1, Debian 12 */
	assert_false(tt_otlp__h2c_reuse_broken(0x080000)); /* 8.0.0 has the fix */
	assert_false(tt_otlp__h2c_reuse_broken(0x080b00));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_policy),
		cmocka_unit_test(test_retry_after_values),
		cmocka_unit_test(test_grpc_framing_and_gzip),
		cmocka_unit_test(test_gzip_round_trips),
		cmocka_unit_test(test_h2c_reuse_broken_versions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
