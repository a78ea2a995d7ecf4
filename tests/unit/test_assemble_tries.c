// SPDX-License-Identifier: MIT
/*
 * Tests for user/assemble_tries.c, the attempts table: it grows at 7/8
 * load, finds every key it holds (also in clusters that wrap around the
 * end), deletes without losing the rest of a cluster, expires what is older
 * than the window, shrinks once mostly empty, and matches a plain model
 * through a long run of random puts and deletes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "assemble_internal.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* splitmix64: keys like the hashes the table is given, never 0 */
static uint64_t next_key(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z ? z : 1;
}

static void test_grows_at_seven_eighths_and_keeps_every_key(void **state)
{
	struct asm_tries t;
	uint64_t *keys = calloc(100000, sizeof(*keys));

	(void)state;
	assert_non_null(keys);
	assert_int_equal(asm__tries_init(&t, 16), 0);
	for (uint32_t i = 0; i < 14; i++) {
		keys[i] = next_key();
		assert_int_equal(asm__tries_put(&t, keys[i], i + 1, 1000 + i), 0);
	}
	assert_int_equal(asm__tries_cap(&t), 16); /* 14 of 16: not above 7/8 */
	for (uint32_t i = 14; i < 100000; i++) {
		keys[i] = next_key();
		assert_int_equal(asm__tries_put(&t, keys[i], i + 1, 1000 + i), 0);
	}
	assert_int_equal(t.len, 100000);
	assert_int_equal(asm__tries_cap(&t), 131072); /* 100,000 <= 7/8 of it */
	for (uint32_t i = 0; i < 100000; i++) {
		struct asm_try *e = asm__tries_get(&t, keys[i]);

		assert_non_null(e);
		assert_int_equal(e->seen, i + 1);
		assert_int_equal(e->at, 1000 + i);
	}
	for (uint32_t i = 0; i < 1000; i++)
		assert_null(asm__tries_get(&t, next_key()));
	/* a put of a key there replaces its values */
	assert_int_equal(asm__tries_put(&t, keys[7], 42, 7), 0);
	assert_int_equal(t.len, 100000);
	assert_int_equal(asm__tries_get(&t, keys[7])->seen, 42);
	asm__tries_release(&t);
	free(keys);
}

static void test_a_cluster_that_wraps_survives_deletes(void **state)
{
	struct asm_tries t;
	uint64_t keys[14];

	(void)state;
	assert_int_equal(asm__tries_init(&t, 16), 0);
	/* all at home slot 13 or 15: one cluster running past the end */
	for (uint64_t i = 0; i < 14; i++) {
		keys[i] = (i + 1) << 32 | (i % 2 ? 15 : 13);
		assert_int_equal(asm__tries_put(&t, keys[i], (uint32_t)i, i), 0);
	}
	assert_int_equal(asm__tries_cap(&t), 16);
	for (uint64_t i = 0; i < 14; i += 3)
		assert_int_equal(asm__tries_del(&t, keys[i]), 1);
	assert_int_equal(asm__tries_del(&t, keys[0]), 0);
	for (uint64_t i = 0; i < 14; i++) {
		struct asm_try *e = asm__tries_get(&t, keys[i]);

		if (i % 3 == 0) {
			assert_null(e);
		} else {
			assert_non_null(e);
			assert_int_equal(e->seen, i);
		}
	}
	asm__tries_release(&t);
}

static void test_expire_forgets_the_old_and_shrinks(void **state)
{
	struct asm_tries t;
	uint64_t *keys = calloc(20000, sizeof(*keys));

	(void)state;
	assert_non_null(keys);
	assert_int_equal(asm__tries_init(&t, 16), 0);
	/* one in 20 began at 10,000 and after; the rest before */
	for (uint32_t i = 0; i < 20000; i++) {
		keys[i] = next_key();
		assert_int_equal(asm__tries_put(&t, keys[i], 1, i % 20 ? i % 1000 : 10000 + i), 0);
	}
	assert_int_equal(asm__tries_cap(&t), 32768);
	/* now 40,000, window 30,000: what began before 10,000 goes */
	assert_int_equal(asm__tries_expire(&t, 40000, 30000), 19000);
	assert_int_equal(t.len, 1000);
	assert_true(asm__tries_cap(&t) <= 4096 && asm__tries_cap(&t) >= 2000);
	for (uint32_t i = 0; i < 20000; i++) {
		struct asm_try *e = asm__tries_get(&t, keys[i]);

		if (i % 20) {
			assert_null(e);
		} else {
			assert_non_null(e);
			assert_int_equal(e->at, 10000 + i);
		}
	}
	asm__tries_clear(&t);
	assert_int_equal(t.len, 0);
	assert_int_equal(asm__tries_cap(&t), 16);
	assert_null(asm__tries_get(&t, keys[0]));
	asm__tries_release(&t);
	free(keys);
}

/* Random puts and deletes over a small key space, checked against an array. */
static void test_matches_a_model_through_puts_and_deletes(void **state)
{
	enum { N = 3000 };
	static uint64_t keys[N];
	static uint32_t model[N]; /* 0: absent */
	struct asm_tries t;
	uint32_t len = 0;

	(void)state;
	assert_int_equal(asm__tries_init(&t, 16), 0);
	for (uint32_t i = 0; i < N; i++)
		keys[i] = (next_key() & ~0xfffULL) | (i % 64); /* many share a home */
	for (uint32_t op = 1; op <= 200000; op++) {
		uint32_t i = (uint32_t)(next_key() % N);

		if (next_key() % 3) {
			len += !model[i];
			model[i] = op;
			assert_int_equal(asm__tries_put(&t, keys[i], op, op), 0);
		} else {
			assert_int_equal(asm__tries_del(&t, keys[i]), model[i] != 0);
			len -= model[i] != 0;
			model[i] = 0;
		}
		if (op % 20000)
			continue;
		assert_int_equal(t.len, len);
		for (uint32_t k = 0; k < N; k++) {
			struct asm_try *e = asm__tries_get(&t, keys[k]);

			if (model[k])
				assert_true(e && e->seen == model[k]);
			else
				assert_null(e);
		}
	}
	asm__tries_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_at_seven_eighths_and_keeps_every_key),
		cmocka_unit_test(test_a_cluster_that_wraps_survives_deletes),
		cmocka_unit_test(test_expire_forgets_the_old_and_shrinks),
		cmocka_unit_test(test_matches_a_model_through_puts_and_deletes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
