// SPDX-License-Identifier: MIT
/* user/helpers.c: sizes with suffixes, pids, long names shortened for messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

static void test_size_plain_and_suffixed(void **state)
{
	static const struct {
		const char *text;
		size_t bytes;
	} ok[] = {
		{"0", 0},
		{"4096", 4096},
		{"4K", 4096},
		{"4k", 4096},
		{"8M", 8u << 20},
		{"1G", 1u << 30},
		{"2g", 2ull << 30},
		{"17179869183G", 17179869183ull << 30}, /* the largest G that fits */
	};
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = 1;
		assert_int_equal(tt_parse_size(ok[i].text, &n), 0);
		assert_int_equal(n, ok[i].bytes);
	}
}

static void test_size_overflow_refused(void **state)
{
	static const char *const big[] = {
		"4503599627370497M",	/* 2^52 + 1 MiB: wrapped to 1 MiB once */
		"17179869184G",		/* 2^64 bytes */
		"18446744073709551616", /* 2^64 */
		"99999999999999999999999K",
	};
	size_t n = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		assert_int_equal(tt_parse_size(big[i], &n), -ERANGE);
		assert_int_equal(n, 7);
	}
}

static void test_size_malformed_refused(void **state)
{
	static const char *const bad[] = {"",	 "K",  "-1",  " 5",   "+5",
					  "5KB", "5T", "5 M", "0x10", "1.5M"};
	size_t n = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tt_parse_size(bad[i], &n), -EINVAL);
		assert_int_equal(n, 7);
	}
}

static void test_pid(void **state)
{
	pid_t pid = 0;

	(void)state;
	assert_int_equal(tt_parse_pid("42", &pid), 0);
	assert_int_equal(pid, 42);
	assert_int_equal(tt_parse_pid("0", &pid), -EINVAL);
	assert_int_equal(tt_parse_pid("-3", &pid), -EINVAL);
	assert_int_equal(tt_parse_pid("4294967338", &pid), -EINVAL);
	assert_int_equal(pid, 42);
}

static void test_shorten(void **state)
{
	char buf[TT_SHORT_MAX], want[TT_SHORT_MAX], big[3001];
	/* 40 two-byte characters: a cut at byte 64 would split one */
	char utf8[82] = "x";

	(void)state;
	assert_ptr_equal(tt_shorten("run_task", buf), "run_task");
	memset(big, 'A', 3000);
	big[3000] = '\0';
	snprintf(want, sizeof(want), "%.64s... (3000 bytes)", big);
	assert_string_equal(tt_shorten(big, buf), want);
	for (int i = 0; i < 40; i++)
		memcpy(utf8 + 1 + 2 * i, "\xc3\xa9", 2); /* e-acute */
	big[0] = '\0';
	for (int i = 0; i < 2; i++)
		strcat(big, utf8); /* 162 bytes */
	snprintf(want, sizeof(want), "%.63s... (162 bytes)", big);
	assert_string_equal(tt_shorten(big, buf), want); /* 63: the character at 63 is whole */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_plain_and_suffixed),
		cmocka_unit_test(test_size_overflow_refused),
		cmocka_unit_test(test_size_malformed_refused),
		cmocka_unit_test(test_pid),
		cmocka_unit_test(test_shorten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
