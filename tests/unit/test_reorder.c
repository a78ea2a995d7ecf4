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

/* The order the buffer must give: by time, equal times in arrival order (tid is arrival). */
static int by_ts_then_tid(const void *pa, const void *pb)
{
	const uint64_t *a = pa, *b = pb; /* {ts, tid} */

	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : a[1] > b[1];
}

/*
 * Passes drained as several rings give them: runs in order (one per ring,
 * of random lengths, equal times across and within runs), a run in reverse,
 * and single events, each pass against a reference sort of the same events.
 */
static void test_drained_runs_come_out_in_order(void **state)
{
	static uint64_t want[2000][2];
	struct tt_reorder r;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	tt_reorder__init(&r);
	for (int pass = 0; pass < 60; pass++) {
		struct seen s = {0};
		size_t n = 0;
		int nruns = 1 + pass % 7;

		for (int run = 0; run < nruns; run++) {
			size_t len = 1 + (size_t)(x % 300);
			uint64_t t = 1000 + (x >> 20) % 50;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			for (size_t i = 0; i < len && n < 2000; i++) {
				/* pass 5, 12, ...: the run goes backwards */
				uint64_t ts = pass % 7 == 5 ? t + 2 * (len - i) : t + (x % 3);

				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				if (pass % 7 != 5)
					t = ts;
				want[n][0] = ts;
				want[n][1] = n;
				add(&r, ts, (uint32_t)n, (uint32_t)(n % 9));
				n++;
			}
		}
		qsort(want, n, sizeof(want[0]), by_ts_then_tid);
		tt_reorder__flush(&r, UINT64_MAX, record, &s);
		assert_int_equal(s.n, n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(s.ts[i], want[i][0]);
			assert_int_equal(s.tid[i], want[i][1]);
		}
	}
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

#define MS    1000000ULL
#define SLACK (10 * MS)
#define BOUND (1000 * MS)

/*
 * Two rings drained each millisecond. Ring 0's reader stops at a record
 * reserved at 100 ms whose writer is preempted until 160 ms; behind it a
 * thread's entry (ts 101 ms), whose return (ts 102 ms) went to ring 1.
 * Ring 1's events keep coming. The stalled ring holds the horizon, so the
 * entry still comes out before its return and every later event.
 */
static void test_a_stalled_ring_holds_the_horizon(void **state)
{
	struct tt_ring_hold holds[2] = {0};
	struct tt_reorder r;
	struct seen s = {0};
	uint64_t prev = 99 * MS, ts1 = 102 * MS;

	(void)state;
	tt_reorder__init(&r);
	for (uint64_t now = 100 * MS; now <= 200 * MS; now += MS) {
		/* ring 0: the busy record at 0..64 holds the entry at 64..128 back until 160 ms */
		bool busy = now < 160 * MS;

		if (!busy && now == 160 * MS)
			add(&r, 101 * MS, 7, 0); /* the entry, read at last */
		for (; ts1 <= now; ts1 += MS / 2)
			add(&r, ts1, ts1 == 102 * MS ? 7 : 8, 0); /* its return, then others */
		tt_ring_hold__see(&holds[0], busy ? 0 : 128, 128, prev, now, BOUND);
		tt_ring_hold__see(&holds[1], 1000, 1000, prev, now, BOUND);
		if (busy)
			assert_int_equal(tt_ring_hold__since(&holds[0]), 99 * MS);
		tt_reorder__flush(&r, tt_ring_hold__horizon(holds, 2, now - SLACK, SLACK), record,
				  &s);
		prev = now;
	}
	tt_reorder__flush(&r, UINT64_MAX, record, &s);
	assert_true(s.n > 100);
	assert_int_equal(s.ts[0], 101 * MS); /* the entry first */
	assert_int_equal(s.tid[0], 7);
	assert_int_equal(s.ts[1], 102 * MS); /* then its return */
	for (size_t i = 1; i < s.n; i++)
		assert_true(s.ts[i - 1] <= s.ts[i]);
	assert_int_equal(tt_ring_hold__since(&holds[0]), UINT64_MAX); /* read: no hold */
	tt_reorder__release_all(&r);
}

/* Without the hold (the horizon a slack before the pass), the same entry comes after its return. */
static void test_without_the_hold_the_entry_comes_late(void **state)
{
	struct tt_reorder r;
	struct seen s = {0};

	(void)state;
	tt_reorder__init(&r);
	add(&r, 102 * MS, 7, 0);
	tt_reorder__flush(&r, 160 * MS - SLACK, record, &s);
	add(&r, 101 * MS, 7, 0);
	tt_reorder__flush(&r, UINT64_MAX, record, &s);
	assert_int_equal(s.n, 2);
	assert_true(s.ts[0] > s.ts[1]); /* what the hold prevents */
	tt_reorder__release_all(&r);
}

/*
 * The hold follows the reader: records reserved after the first pass that
 * saw the ring pending hold from the pass before theirs, once the reader
 * has passed the first ones.
 */
static void test_the_hold_moves_with_the_reader(void **state)
{
	struct tt_ring_hold h = {0};

	(void)state;
	assert_int_equal(tt_ring_hold__since(&h), UINT64_MAX);
	assert_false(tt_ring_hold__see(&h, 0, 0, 9 * MS, 10 * MS, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), UINT64_MAX); /* nothing pending */
	assert_false(tt_ring_hold__see(&h, 0, 100, 10 * MS, 11 * MS, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), 10 * MS);
	assert_false(tt_ring_hold__see(&h, 0, 200, 11 * MS, 12 * MS, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), 10 * MS); /* the first still pending */
	assert_false(tt_ring_hold__see(&h, 100, 300, 12 * MS, 13 * MS, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), 11 * MS); /* 100..200: reserved after 11 ms */
	assert_false(tt_ring_hold__see(&h, 250, 300, 13 * MS, 14 * MS, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), 12 * MS);
	assert_false(tt_ring_hold__see(&h, 300, 300, 14 * MS, 15 * MS, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), UINT64_MAX); /* all read */
}

/* More passes with new records than marks: the last mark stretches, keeping its earlier time. */
static void test_marks_full_keep_the_earlier_time(void **state)
{
	struct tt_ring_hold h = {0};
	uint64_t t = 10 * MS;

	(void)state;
	for (uint64_t prod = 100; prod <= 100 * (TT_RING_MARKS + 4); prod += 100, t += MS)
		assert_false(tt_ring_hold__see(&h, 0, prod, t - MS, t, BOUND));
	/* the reader passes every mark but the stretched last one */
	assert_false(tt_ring_hold__see(&h, 100 * (TT_RING_MARKS - 1), 100 * (TT_RING_MARKS + 4),
				       t - MS, t, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), 10 * MS + (TT_RING_MARKS - 2) * MS);
}

/*
 * A record left reserved past the bound is reported once and not waited
 * for: the horizon moves on; once the reader passes it, the ring holds
 * again for what is pending then.
 */
static void test_a_record_busy_past_the_bound_is_not_waited_for(void **state)
{
	struct tt_ring_hold h = {0};
	uint64_t t;

	(void)state;
	assert_false(tt_ring_hold__see(&h, 64, 128, 99 * MS, 100 * MS, BOUND));
	for (t = 101 * MS; t <= 100 * MS + BOUND; t += MS)
		assert_false(tt_ring_hold__see(&h, 64, 128 + t / MS, t - MS, t, BOUND));
	assert_int_equal(tt_ring_hold__since(&h), 99 * MS);
	assert_int_equal(tt_ring_hold__horizon(&h, 1, t, SLACK), 99 * MS - SLACK);
	assert_true(tt_ring_hold__see(&h, 64, 2000, t - MS, t, BOUND)); /* reported */
	assert_int_equal(tt_ring_hold__since(&h), UINT64_MAX);
	assert_int_equal(tt_ring_hold__horizon(&h, 1, t - SLACK, SLACK), t - SLACK);
	t += MS;
	assert_false(tt_ring_hold__see(&h, 64, 2100, t - MS, t, BOUND)); /* not again */
	assert_int_equal(tt_ring_hold__since(&h), UINT64_MAX);
	t += MS;
	assert_false(tt_ring_hold__see(&h, 2000, 2200, t - MS, t, BOUND)); /* read past it */
	assert_int_equal(tt_ring_hold__since(&h), t - MS);
	/* a final flush is never held */
	assert_int_equal(tt_ring_hold__horizon(&h, 1, UINT64_MAX, SLACK), UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merges_rings_in_time_order),
		cmocka_unit_test(test_events_stay_aligned),
		cmocka_unit_test(test_a_short_record_is_read_within_its_size),
		cmocka_unit_test(test_holds_events_past_the_horizon),
		cmocka_unit_test(test_equal_timestamps_keep_arrival_order),
		cmocka_unit_test(test_drained_runs_come_out_in_order),
		cmocka_unit_test(test_many_passes_keep_payloads_intact),
		cmocka_unit_test(test_held_events_survive_compaction_and_growth),
		cmocka_unit_test(test_a_stalled_ring_holds_the_horizon),
		cmocka_unit_test(test_without_the_hold_the_entry_comes_late),
		cmocka_unit_test(test_the_hold_moves_with_the_reader),
		cmocka_unit_test(test_marks_full_keep_the_earlier_time),
		cmocka_unit_test(test_a_record_busy_past_the_bound_is_not_waited_for),
	};

	return cmocka_run_group_tests_name("reorder", tests, NULL, NULL);
}
