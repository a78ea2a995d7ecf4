/* SPDX-License-Identifier: MIT */
/* spec_fixture.h: what the spec tests (test_spec*.c) share: a spec parsed or the test fails. */
#ifndef TASKTAP_TEST_SPEC_FIXTURE_H
#define TASKTAP_TEST_SPEC_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spec.h"

#define ERRLEN 512

static inline struct tt_spec *parse_ok(const char *text)
{
	struct tt_spec *spec = NULL;
	char err[ERRLEN] = "";
	int ret;

	ret = tt_spec__parse("spec.yaml", text, strlen(text), &spec, err, sizeof(err));
	if (ret)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(ret, 0);
	assert_non_null(spec);
	return spec;
}

#endif /* TASKTAP_TEST_SPEC_FIXTURE_H */
