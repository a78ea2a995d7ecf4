// SPDX-License-Identifier: MIT
/*
 * The exporter's queue bounded in bytes, through its send seam: batches cut
 * by bytes, the spans dropped at the bound without a spool (queue_full),
 * the spill to the spool instead, and the drops past the spool's bound
 * (spool_full) or without one (spool_disabled), each counted by reason.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "export/bqueue.h"
#include "export/exporter.h"
#include "export/span_pack.h"
#include "tmpdir.h"
#include "trace_service.pb-c.h"

static struct tt_probe probe = {.id = 1, .symbol = "run_task"};
static char dir[64];
static struct tt_otlp_config cfg;

static int setup(void **state)
{
	(void)state;
	assert_int_equal(tmpdir__make(dir, sizeof(dir), "exporter-bytes"), 0);
	tt_otlp_config__init(&cfg);
	cfg.spool_dir = strdup(dir);
	cfg.delay_ms = 20;
	cfg.max_batch = 4;
	cfg.base = strdup("http://unused:4318");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tt_otlp_config__release(&cfg);
	return tmpdir__remove(dir);
}

/* A collector that decodes and records each span id (16 bits), held while `hold`. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool hold;
	bool down; /* refuse connections */
	int calls;
	int per_call[64]; /* spans in each request */
	uint16_t seen[65536];
	int spans;
} lg = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int ledger_send(void *ctx, const uint8_t *pb, size_t len, uint32_t timeout_ms,
		       struct tt_send_result *r)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req;
	int n = 0;

	memset(r, 0, sizeof(*r));
	r->grpc_status = -1;
	r->retry_after_ms = -1;
	if (lg.down) {
		r->transport_error = 7;
		snprintf(r->message, sizeof(r->message), "refused");
		return 0;
	}
	r->http_status = 200;
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, pb);
	assert_non_null(req);
	pthread_mutex_lock(&lg.mu);
	while (lg.hold)
		pthread_cond_wait(&lg.cv, &lg.mu);
	for (size_t i = 0; i < req->n_resource_spans; i++) {
		for (size_t k = 0; k < req->resource_spans[i]->n_scope_spans; k++) {
			Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
				req->resource_spans[i]->scope_spans[k];

			for (size_t j = 0; j < ss->n_spans; j++) {
				uint16_t id;

				memcpy(&id, ss->spans[j]->span_id.data, 2);
				lg.seen[id]++;
				n++;
			}
		}
	}
	if (lg.calls < 64)
		lg.per_call[lg.calls] = n;
	lg.calls++;
	lg.spans += n;
	pthread_mutex_unlock(&lg.mu);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
	return 0;
}

static void ledger_reset(bool hold)
{
	pthread_mutex_lock(&lg.mu);
	lg.hold = hold;
	lg.down = false;
	lg.calls = lg.spans = 0;
	memset(lg.per_call, 0, sizeof(lg.per_call));
	memset(lg.seen, 0, sizeof(lg.seen));
	pthread_mutex_unlock(&lg.mu);
}

static void ledger_release(void)
{
	pthread_mutex_lock(&lg.mu);
	lg.hold = false;
	pthread_cond_broadcast(&lg.cv);
	pthread_mutex_unlock(&lg.mu);
}

static int ledger_spans(void)
{
	int n;

	pthread_mutex_lock(&lg.mu);
	n = lg.spans;
	pthread_mutex_unlock(&lg.mu);
	return n;
}

/* A span with a 64-byte key and name: about 300 bytes packed. */
static struct tt_span big_span(uint16_t id)
{
	struct tt_span s = {.probe = &probe,
			    .pid = (uint32_t)getpid(),
			    .tid = 1,
			    .kind = TT_KIND_INTERNAL,
			    .status = TT_STATUS_OK};

	memset(s.trace_id, 0x02, 16);
	memcpy(s.span_id, &id, 2);
	memset(s.key, 'k', 64);
	s.key_len = 64;
	memset(s.name, 'n', 64);
	return s;
}

static struct tt_exporter *start_ledger(void)
{
	struct tt_exporter_opts o = {
		.cfg = &cfg, .send = ledger_send, .seed = 1, .hostname = "testhost"};
	char err[256];
	struct tt_exporter *e = tt_exporter__new(&o, err, sizeof(err));

	assert_non_null(e);
	return e;
}

/* Waits until the collector has `n` spans (a bound on the wait, not on the time they take). */
static void wait_ledger(int n)
{
	for (int i = 0; i < 3000 && ledger_spans() < n; i++)
		usleep(10000);
	assert_int_equal(ledger_spans(), n);
}

/* Batches are cut at --otlp-batch-bytes (past their first span) before max_batch. */
static void test_batches_by_bytes(void **state)
{
	struct tt_span s = big_span(0);
	uint64_t cost = tt_bqueue__cost(tt_span_pack__size(&s));
	struct tt_exporter *e;

	ledger_reset(false);
	cfg.max_queue_set = false;
	cfg.max_batch = 64;
	cfg.delay_ms = 60000; /* only bytes make a batch due */
	cfg.batch_bytes = 5 * cost;
	e = start_ledger();
	for (uint16_t i = 0; i < 20; i++) {
		s = big_span(i);
		tt_exporter__span(&s, e);
	}
	wait_ledger(20);
	tt_exporter__free(e);
	assert_int_equal(lg.calls, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(lg.per_call[i], 5);
}

/*
 * No spool, a collector that holds its first request: the queue fills to
 * its bound in bytes, and what does not fit is dropped, queue_full, counted
 * span by span; once the collector answers, every queued span arrives once.
 */
static void test_byte_bound_drops_queue_full_without_a_spool(void **state)
{
	struct tt_exporter_stats st;
	struct tt_span s = big_span(0);
	uint64_t cost = tt_bqueue__cost(tt_span_pack__size(&s));
	struct tt_exporter *e;
	int given = 1000;

	ledger_reset(true);
	cfg.max_queue_set = false;
	cfg.spool_off = true;
	cfg.queue_bytes = 64 << 10;
	e = start_ledger();
	for (uint16_t i = 0; i < given; i++) {
		s = big_span(i);
		tt_exporter__span(&s, e);
	}
	tt_exporter__stats(e, &st);
	assert_int_equal(st.queue_max_bytes, 64 << 10);
	assert_true(st.queue_bytes <= 64 << 10);
	assert_true(st.queue_bytes + (cfg.max_batch + 1) * cost > 64 << 10);
	assert_true(st.dropped[TT_DROP_QUEUE_FULL] > 0);
	assert_int_equal(st.spans_queued + st.dropped[TT_DROP_QUEUE_FULL], given);
	assert_int_equal(tt_signal_stats__dropped(&st.traces), st.dropped[TT_DROP_QUEUE_FULL]);
	ledger_release();
	wait_ledger((int)st.spans_queued);
	tt_exporter__stop(e, 2000);
	tt_exporter__stats(e, &st);
	assert_int_equal(st.spans_exported, st.spans_queued);
	for (int i = 0; i < given; i++)
		assert_true(lg.seen[i] <= 1);
	tt_exporter__free(e);
}

/*
 * A spool, a collector that holds its first request: past 3/4 of the bytes
 * the spill thread moves the oldest spans to the spool (files of up to half
 * the queue), none is dropped, and once the collector answers every span
 * arrives exactly once.
 */
static void test_byte_bound_spills_instead_of_dropping(void **state)
{
	struct tt_exporter_stats st;
	struct tt_span s;
	struct tt_exporter *e;
	int given = 1000;

	ledger_reset(true);
	cfg.max_queue_set = false;
	cfg.queue_bytes = 64 << 10;
	e = start_ledger();
	for (uint16_t i = 0; i < given; i++) {
		s = big_span(i);
		tt_exporter__span(&s, e);
		/* the spill is another thread: give it the time it takes to reach the disk */
		for (int w = 0; w < 1000; w++) {
			tt_exporter__stats(e, &st);
			if (st.queue_bytes * 4 < st.queue_max_bytes * 3)
				break;
			usleep(1000);
		}
	}
	tt_exporter__stats(e, &st);
	assert_int_equal(tt_signal_stats__dropped(&st.traces), 0);
	assert_int_equal(st.spans_queued, given);
	assert_true(st.spool_written > 0);
	/* the collector holds one batch: the ledger counts it in flight (once a spill settles) */
	for (int i = 0; i < 500; i++) {
		tt_exporter__stats(e, &st);
		if (st.spans_queued == st.queue_len + st.in_flight + st.spool_spans)
			break;
		usleep(10000);
	}
	assert_int_equal(st.spans_queued, st.queue_len + st.in_flight + st.spool_spans);
	assert_true(st.in_flight > 0);
	assert_true(st.spool_spans > 0);
	ledger_release();
	wait_ledger(given);
	for (int i = 0; i < 500; i++) {
		tt_exporter__stats(e, &st);
		if (st.spans_exported == (uint64_t)given && st.spool_files == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(st.spans_exported, given);
	assert_int_equal(st.spool_files, 0);
	assert_int_equal(st.in_flight, 0);
	for (int i = 0; i < given; i++)
		assert_int_equal(lg.seen[i], 1);
	tt_exporter__free(e);
}

/*
 * Past the spool's bound the spill drops, spool_full; with no spool, what
 * the collector could not take at shutdown is dropped, spool_disabled: each
 * reason counted as such, and nothing else.
 */
static void test_drop_reasons_spool_full_and_disabled(void **state)
{
	struct tt_exporter_stats st;
	struct tt_span s;
	struct tt_exporter *e;
	int given = 1000;

	ledger_reset(true);
	cfg.max_queue_set = false;
	cfg.queue_bytes = 64 << 10;
	cfg.spool_bytes = 4096; /* less than one spill file */
	e = start_ledger();
	for (uint16_t i = 0; i < given; i++) {
		s = big_span(i);
		tt_exporter__span(&s, e);
		for (int w = 0; w < 1000; w++) {
			tt_exporter__stats(e, &st);
			if (st.queue_bytes * 4 < st.queue_max_bytes * 3)
				break;
			usleep(1000);
		}
	}
	tt_exporter__stats(e, &st);
	assert_true(st.dropped[TT_DROP_SPOOL_FULL] > 0);
	assert_int_equal(tt_signal_stats__dropped(&st.traces), st.dropped[TT_DROP_SPOOL_FULL]);
	ledger_release();
	tt_exporter__stop(e, 2000);
	tt_exporter__stats(e, &st);
	/* every span: exported, in the spool, or dropped for that reason */
	assert_int_equal(st.spans_exported + st.spool_spans + st.dropped[TT_DROP_SPOOL_FULL],
			 given);
	assert_int_equal(st.spans_exported, ledger_spans());
	tt_exporter__free(e);

	/* no spool, the collector away: the shutdown drops the queue, spool_disabled */
	ledger_reset(false);
	lg.down = true;
	cfg.spool_off = true;
	cfg.delay_ms = 60000;
	e = start_ledger();
	for (uint16_t i = 0; i < 3; i++) {
		s = big_span(i);
		tt_exporter__span(&s, e);
	}
	tt_exporter__stop(e, 500);
	tt_exporter__stats(e, &st);
	assert_int_equal(st.dropped[TT_DROP_SPOOL_DISABLED], 3);
	assert_int_equal(tt_signal_stats__dropped(&st.traces), 3);
	tt_exporter__free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batches_by_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_bound_drops_queue_full_without_a_spool,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_bound_spills_instead_of_dropping, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drop_reasons_spool_full_and_disabled, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
