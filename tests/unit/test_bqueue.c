// SPDX-License-Identifier: MIT
/*
 * The export queue's byte queue: the bound in bytes (and in records when
 * asked), batches sized by count and by bytes, records across chunks in
 * order, and memory that follows what is held, not the bound.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "export/bqueue.h"

/* Appends a record of `len` bytes, each byte `v`. Returns 0 or the error. */
static int push(struct tt_bqueue *q, size_t len, uint8_t v)
{
	int err;
	void *p = tt_bqueue__reserve(q, len, &err);

	if (!p)
		return err;
	memset(p, v, len);
	tt_bqueue__commit(q);
	return 0;
}

/* Takes up to max_items / max_bytes; checks each record's length and bytes against `next`. */
static uint64_t take(struct tt_bqueue *q, uint64_t max_items, uint64_t max_bytes, size_t len,
		     uint8_t *next)
{
	struct tt_bqueue_run run;
	uint64_t n = tt_bqueue__peek(q, max_items, max_bytes, &run);
	const uint8_t *p;
	size_t got, k = 0;

	while ((p = tt_bqueue__next(&run, &got))) {
		assert_int_equal(got, len);
		for (size_t i = 0; i < got; i++)
			assert_int_equal(p[i], *next);
		(*next)++;
		k++;
	}
	assert_int_equal(k, n);
	tt_bqueue__pop(q, &run);
	return n;
}

static void test_bound_in_bytes(void **state)
{
	struct tt_bqueue q;
	uint64_t cost = tt_bqueue__cost(100); /* 8 + 104 */
	uint8_t next = 0;
	int n = 0;

	(void)state;
	assert_int_equal(cost, 112);
	assert_int_equal(tt_bqueue__init(&q, 100, 0, 100), -EINVAL); /* not even one */
	assert_int_equal(tt_bqueue__init(&q, 10 * cost + 50, 0, 100), 0);
	while (push(&q, 100, (uint8_t)n) == 0)
		n++;
	assert_int_equal(n, 10); /* the 11th would pass the bound by 62 bytes */
	assert_int_equal(push(&q, 100, 0), -ENOSPC);
	assert_int_equal(q.bytes, 10 * cost);
	assert_int_equal(q.items, 10);
	/* smaller records still fit in what is left */
	assert_int_equal(push(&q, 40, 0xee), 0);
	assert_int_equal(push(&q, 40, 0xee), -ENOSPC);
	/* taking one makes room for one */
	assert_int_equal(take(&q, 1, UINT64_MAX, 100, &next), 1);
	assert_int_equal(push(&q, 8, 0xee), 0);
	tt_bqueue__release(&q);
}

static void test_bound_in_records(void **state)
{
	struct tt_bqueue q;
	uint8_t next = 0;

	(void)state;
	assert_int_equal(tt_bqueue__init(&q, 1 << 20, 3, 16), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(push(&q, 16, (uint8_t)i), 0);
	assert_int_equal(push(&q, 16, 3), -ENOSPC);
	assert_int_equal(take(&q, 2, UINT64_MAX, 16, &next), 2);
	assert_int_equal(push(&q, 16, 3), 0);
	assert_int_equal(take(&q, 10, UINT64_MAX, 16, &next), 2);
	assert_int_equal(next, 4);
	assert_int_equal(q.items, 0);
	assert_int_equal(q.bytes, 0);
	tt_bqueue__release(&q);
}

/* A batch is at most max_items records and, past its first, max_bytes. */
static void test_batches_by_count_and_bytes(void **state)
{
	struct tt_bqueue q;
	uint64_t cost = tt_bqueue__cost(200); /* 208 */
	uint8_t next = 0;

	(void)state;
	assert_int_equal(tt_bqueue__init(&q, 1 << 20, 0, 4000), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(push(&q, 200, (uint8_t)i), 0);
	assert_int_equal(take(&q, 8, UINT64_MAX, 200, &next), 8); /* the count binds */
	assert_int_equal(take(&q, 100, 5 * cost, 200, &next), 5); /* the bytes bind */
	assert_int_equal(take(&q, 100, 5 * cost - 1, 200, &next), 4);
	assert_int_equal(take(&q, 100, 1, 200, &next), 1); /* the first goes whatever its size */
	assert_int_equal(take(&q, 100, UINT64_MAX, 200, &next), 22);
	assert_int_equal(take(&q, 100, UINT64_MAX, 200, &next), 0);
	assert_int_equal(next, 40);
	tt_bqueue__release(&q);
}

/*
 * Records in order across many chunks, taken in runs that end mid-chunk,
 * while more are appended; the chunks follow what is held: an empty queue
 * keeps at most its pool.
 */
static void test_order_across_chunks_and_memory(void **state)
{
	struct tt_bqueue q;
	uint8_t in = 0, out = 0;
	size_t len = 3000;

	(void)state;
	assert_int_equal(tt_bqueue__init(&q, 64ULL << 20, 0, len), 0);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 300; i++)
			assert_int_equal(push(&q, len, in++), 0);
		while (q.items > 100)
			take(&q, 37, UINT64_MAX, len, &out);
	}
	assert_true(q.chunks * TT_BQUEUE_CHUNK <
		    q.bytes + 3 * TT_BQUEUE_CHUNK + TT_BQUEUE_POOL * TT_BQUEUE_CHUNK);
	while (take(&q, 37, UINT64_MAX, len, &out))
		;
	assert_int_equal(out, in);
	assert_int_equal(q.bytes, 0);
	assert_true(q.chunks <= TT_BQUEUE_POOL + 1);
	assert_int_equal(push(&q, TT_BQUEUE_CHUNK, 0), -EMSGSIZE);
	tt_bqueue__release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound_in_bytes),
		cmocka_unit_test(test_bound_in_records),
		cmocka_unit_test(test_batches_by_count_and_bytes),
		cmocka_unit_test(test_order_across_chunks_and_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
