// SPDX-License-Identifier: MIT
/* The open-addressing table, checked against a plain array as the model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "table.h"

#define N 5000

static void test_put_get_del_against_model(void **state)
{
	static uint64_t model[N];
	struct tt_table t;
	uint64_t rng = 1;

	(void)state;
	assert_int_equal(tt_table__init(&t, 4), 0);
	for (int step = 0; step < 200000; step++) {
		uint64_t k, *v;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		k = (rng >> 33) % N;
		switch ((rng >> 20) % 3) {
		case 0:
			assert_int_equal(tt_table__put(&t, k + 1, step, k), 0);
			model[k] = step + 1;
			break;
		case 1:
			assert_int_equal(tt_table__del(&t, k + 1), model[k] != 0);
			model[k] = 0;
			break;
		default:
			v = tt_table__get(&t, k + 1);
			if (!model[k]) {
				assert_null(v);
			} else {
				assert_non_null(v);
				assert_int_equal(v[0], model[k] - 1);
				assert_int_equal(v[1], k);
			}
		}
	}
	{
		size_t live = 0;

		for (int k = 0; k < N; k++)
			live += model[k] != 0;
		assert_int_equal(t.len, live);
	}
	tt_table__release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del_against_model),
	};

	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
