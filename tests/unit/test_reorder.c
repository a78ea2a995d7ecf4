// SPDX-License-Identifier: MIT
/* The reorder buffer: events from per-CPU rings come out in time order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "reorder.h"

struct seen {
	uint64_t ts[4096];
	uint32_t tid[4096];
	size_t n;
};

static void record(const struct tt_event *ev, size_t size, void *ctx)
{
	struct seen *s = ctx;

	assert_int_equal(size, ev->size);
	for (size_t i = sizeof(*ev); i < size; i++)
		assert_int_equal(((const uint8_t *)ev)[i], 0xab);
	s->ts[s->n] = ev->ts_ns;
	s->tid[s->n++] = ev->tid;
}

static void add(struct tt_reorder *r, uint64_t ts, uint32_t tid, uint32_t extra)
{
	union {
		struct tt_event ev;
		uint8_t bytes[sizeof(struct tt_event) + 64];
	} u = {0};
	uint8_t *buf = u.bytes;
	struct tt_event *ev = &u.ev;

	ev->ts_ns = ts;
	ev->tid = tid;
	ev->size = sizeof(*ev) + extra;
	memset(buf + sizeof(*ev), 0xab, extra);
	assert_int_equal(tt_reorder__add(r, ev, ev->size), 0);
}

static void count_sizes(const struct tt_event *ev, size_t size, void *ctx)
{
	size_t *sizes = ctx;

	sizes[sizes[0] + 1] = size;
	sizes[0]++;
}

/*
 * A record shorter than a header (found by fuzzing: its time was read past
 * its end) is kept and handed over first, whole, for the assembler to count.
 */
static void test_a_short_record_is_read_within_its_size(void **state)
{
	uint8_t *tiny = malloc(4); /* exactly its size: ASan sees a read past it */
	struct tt_reorder r;
	size_t sizes[4] = {0};

	assert_non_null(tiny);
	memset(tiny, 0xff, 4);
	tt_reorder__init(&r);
	add(&r, 5, 1, 0);
	assert_int_equal(tt_reorder__add(&r, (const struct tt_event *)tiny, 4), 0);
	tt_reorder__flush(&r, 10, count_sizes, sizes);
	assert_int_equal(sizes[0], 2);
	assert_int_equal(sizes[1], 4);
	assert_int_equal(sizes[2], sizeof(struct tt_event));
	tt_reorder__release_all(&r);
	free(tiny);
}

static void check_aligned(const struct tt_event *ev, size_t size, void *ctx)
{
	size_t *n = ctx;

	assert_int_equal((uintptr_t)ev % _Alignof(struct tt_event), 0);
	record(ev, size, &(struct seen){0});
	(*n)++;
}

/* Events whose sizes are not multiples of 8 still hand over aligned headers. */
static void test_events_stay_aligned(void **state)
{
	struct tt_reorder r;
	size_t n = 0;

	(void)state;
	tt_reorder__init(&r);
	for (uint32_t i = 0; i < 5000; i++)
		add(&r, 5000 - i, i, 4 + i % 8); /* grows and compacts the buffer on the way */
	tt_reorder__flush(&r, 2500, check_aligned, &n);
	assert_int_equal(n, 2500);
	for (uint32_t i = 0; i < 5000; i++)
		add(&r, 10000 + i, i, 12);
	tt_reorder__flush(&r, UINT64_MAX, check_aligned, &n);
	assert_int_equal(n, 10000);
	tt_reorder__release_all(&r);
}

static void test_merges_rings_in_time_order(void **state)
{
	struct tt_reorder r;
	struct seen s = {0};

	(void)state;
	tt_reorder__init(&r);
	/* ring of cpu 0, then ring of cpu 1: a return seen before its entry */
	add(&r, 300, 1, 0);
	add(&r, 100, 1, 16);
	add(&r, 200, 2, 8);
	tt_reorder__flush(&r, 1000, record, &s);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ts[0], 100);
	assert_int_equal(s.ts[1], 200);
	assert_int_equal(s.ts[2], 300);
	tt_reorder__release_all(&r);
}

static void test_holds_events_past_the_horizon(void **state)
{
	struct tt_reorder r;
	struct seen s = {0};

	(void)state;
	tt_reorder__init(&r);
	add(&r, 500, 1, 24);
	add(&r, 100, 2, 0);
	add(&r, 900, 3, 40);
	tt_reorder__flush(&r, 600, record, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ts[1], 500);
	/* an older event arriving later still comes out before the held one */
	add(&r, 700, 4, 4);
	tt_reorder__flush(&r, 650, record, &s);
	assert_int_equal(s.n, 2);
	tt_reorder__flush(&r, UINT64_MAX, record, &s);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.ts[2], 700);
	assert_int_equal(s.tid[2], 4);
	assert_int_equal(s.ts[3], 900);
	assert_int_equal(s.tid[3], 3);
	tt_reorder__release_all(&r);
}

static void test_equal_timestamps_keep_arrival_order(void **state)
{
	struct tt_reorder r;
	struct seen s = {0};

	(void)state;
	tt_reorder__init(&r);
	for (uint32_t i = 0; i < 100; i++)
		add(&r, 42, i, i % 5);
	tt_reorder__flush(&r, 42, record, &s);
	assert_int_equal(s.n, 100);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(s.tid[i], i);
	tt_reorder__release_all(&r);
}

static void test_many_passes_keep_payloads_intact(void **state)
{
	struct tt_reorder r;
	struct seen s = {0};
	uint64_t t = 0;

	(void)state;
	tt_reorder__init(&r);
	/* grow past the first buffer, holding half of each pass back */
	for (int pass = 0; pass < 8; pass++) {
		for (int i = 0; i < 500; i++)
			add(&r, t + (uint64_t)(i * 7919 % 500), pass, 48);
		tt_reorder__flush(&r, t + 250, record, &s);
		t += 500;
		s.n = 0;
	}
	tt_reorder__flush(&r, UINT64_MAX, record, &s);
	assert_int_equal(s.n, 249); /* offsets 251..499 of the last pass */
	for (size_t i = 1; i < s.n; i++)
		assert_true(s.ts[i - 1] <= s.ts[i]);
	tt_reorder__release_all(&r);
}

static void test_held_events_survive_compaction_and_growth(void **state)
{
	struct tt_reorder r;
	struct seen s = {0};

	(void)state;
	tt_reorder__init(&r);
	/* hold one old event while far more than the first buffer passes through */
	add(&r, 1, 999, 64);
	for (uint64_t pass = 0; pass < 40; pass++) {
		for (uint64_t i = 0; i < 100; i++)
			add(&r, 1000 + pass * 100 + i, 1, 64);
		s.n = 0;
		tt_reorder__flush(&r, 1000 + pass * 100 + 49, record, &s);
		if (pass == 0) {
			assert_int_equal(s.tid[0], 999); /* the old one first, intact */
			assert_int_equal(s.n, 51);
		} else {
			assert_int_equal(s.n, 100);
		}
	}
	s.n = 0;
	tt_reorder__flush(&r, UINT64_MAX, record, &s);
	assert_int_equal(s.n, 50);
	for (size_t i = 1; i < s.n; i++)
		assert_true(s.ts[i - 1] < s.ts[i]);
	tt_reorder__release_all(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merges_rings_in_time_order),
		cmocka_unit_test(test_events_stay_aligned),
		cmocka_unit_test(test_a_short_record_is_read_within_its_size),
		cmocka_unit_test(test_holds_events_past_the_horizon),
		cmocka_unit_test(test_equal_timestamps_keep_arrival_order),
		cmocka_unit_test(test_many_passes_keep_payloads_intact),
		cmocka_unit_test(test_held_events_survive_compaction_and_growth),
	};

	return cmocka_run_group_tests_name("reorder", tests, NULL, NULL);
}
