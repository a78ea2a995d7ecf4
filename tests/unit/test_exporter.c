// SPDX-License-Identifier: MIT
/*
 * The exporter through its send seam: batching, retries, spilling to the
 * spool and replaying it in order, refusals, the shutdown flush, the
 * sampler and the queue bound; and the resource of a process from a fake
 * /proc (cgroup parsing included).
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "export/exporter.h"
#include "export/jsonw.h"
#include "export/otlp_encode.h"
#include "export/otlp_logs.h"
#include "export/otlp_metrics.h"
#include "export/resource.h"
#include "export/spool.h"
#include "tmpdir.h"
#include "trace_service.pb-c.h"

/* A fake collector: answers from a script, records the span ids it accepted. */
struct fake {
	pthread_mutex_t mu;
	long answers[64]; /* HTTP status per call; 0 past the script: 200; -1: refused */
	int calls;
	uint8_t ids[4096]; /* first byte of each accepted span id, in order */
	int nids;
	int64_t rejected; /* reported with every 200 */
	bool hold;	  /* a stuck collector: every call waits until it is cleared */
	pthread_cond_t held;
};

static struct fake fk = {.mu = PTHREAD_MUTEX_INITIALIZER, .held = PTHREAD_COND_INITIALIZER};

static int fake_send(void *ctx, const uint8_t *pb, size_t len, uint32_t timeout_ms,
		     struct tt_send_result *r)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req;
	long answer;

	memset(r, 0, sizeof(*r));
	r->grpc_status = -1;
	r->retry_after_ms = -1;
	pthread_mutex_lock(&fk.mu);
	answer = fk.calls < 64 ? fk.answers[fk.calls] : 0;
	fk.calls++;
	while (fk.hold)
		pthread_cond_wait(&fk.held, &fk.mu);
	if (answer == -1) {
		r->transport_error = 7;
		snprintf(r->message, sizeof(r->message), "refused");
	} else if (answer && answer != 200) {
		r->http_status = answer;
		r->retry_after_ms = answer == 503 ? 10 : -1;
		snprintf(r->message, sizeof(r->message), "HTTP %ld", answer);
	} else {
		r->http_status = 200;
		r->rejected = fk.rejected;
		req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, len, pb);
		assert_non_null(req);
		for (size_t i = 0; i < req->n_resource_spans; i++) {
			Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
				req->resource_spans[i]->scope_spans[0];

			for (size_t j = 0; j < ss->n_spans; j++)
				fk.ids[fk.nids++] = ss->spans[j]->span_id.data[0];
		}
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
			req, NULL);
	}
	pthread_mutex_unlock(&fk.mu);
	return 0;
}

static struct tt_probe probe = {.id = 1, .symbol = "run_task"};
static char dir[64];
static struct tt_otlp_config cfg;

static int setup(void **state)
{
	pthread_mutex_lock(&fk.mu);
	memset(fk.answers, 0, sizeof(fk.answers));
	fk.calls = fk.nids = 0;
	fk.rejected = 0;
	fk.hold = false;
	pthread_mutex_unlock(&fk.mu);
	assert_int_equal(tmpdir__make(dir, sizeof(dir), "exporter"), 0);
	tt_otlp_config__init(&cfg);
	cfg.spool_dir = strdup(dir);
	cfg.delay_ms = 20;
	cfg.max_batch = 4;
	cfg.max_queue = 64; /* spans: a bound beside the bytes (OTEL_BSP_MAX_QUEUE_SIZE) */
	cfg.max_queue_set = true;
	cfg.base = strdup("http://unused:4318");
	return 0;
}

static int teardown(void **state)
{
	tt_otlp_config__release(&cfg);
	return tmpdir__remove(dir);
}

static struct tt_span_tally tally; /* the --pin ledger's counts */

static struct tt_exporter *start(void)
{
	struct tt_exporter_opts o = {
		.cfg = &cfg, .send = fake_send, .seed = 1, .hostname = "testhost", .tally = &tally};
	char err[256];
	struct tt_exporter *e = tt_exporter__new(&o, err, sizeof(err));

	assert_non_null(e);
	return e;
}

static void give(struct tt_exporter *e, uint8_t first, int n)
{
	struct tt_span s = {.probe = &probe,
			    .pid = (uint32_t)getpid(),
			    .tid = 1,
			    .kind = TT_KIND_INTERNAL,
			    .status = TT_STATUS_OK,
			    .name = "t"};

	for (int i = 0; i < n; i++) {
		memset(s.trace_id, 0x01, 16);
		memset(s.span_id, first + i, 8);
		tt_exporter__span(&s, e);
	}
}

static int accepted(void)
{
	int n;

	pthread_mutex_lock(&fk.mu);
	n = fk.nids;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

static void wait_accepted(int n)
{
	for (int i = 0; i < 1000 && accepted() < n; i++)
		usleep(10000);
	assert_int_equal(accepted(), n);
}

static void test_batches_by_size_and_delay(void **state)
{
	struct tt_exporter *e = start();
	struct tt_exporter_stats st;

	give(e, 1, 10); /* 4 + 4 at once, 2 after the delay */
	wait_accepted(10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(fk.ids[i], 1 + i);
	assert_int_equal(fk.calls, 3);
	tt_exporter__stats(e, &st);
	assert_int_equal(st.spans_queued, 10);
	assert_int_equal(st.spans_exported, 10);
	assert_int_equal(st.batches_sent, 3);
	assert_int_equal(st.export_failures, 0);
	assert_true(st.collector_up);
	tt_exporter__free(e);
}

static void test_retry_then_success(void **state)
{
	struct tt_exporter *e;
	struct tt_exporter_stats st;

	fk.answers[0] = 503; /* Retry-After 10 ms */
	fk.answers[1] = -1;  /* refused: backoff */
	e = start();
	give(e, 1, 4);
	wait_accepted(4);
	tt_exporter__stats(e, &st);
	assert_int_equal(fk.calls, 3);
	assert_int_equal(st.export_failures, 2);
	assert_int_equal(st.retries, 2);
	assert_int_equal(st.spans_exported, 4);
	assert_int_equal(st.spool_written, 0);
	tt_exporter__free(e);
}

static void test_outage_spills_and_replays_in_order(void **state)
{
	struct tt_exporter *e;
	struct tt_exporter_stats st;

	for (int i = 0; i < 4; i++)
		fk.answers[i] = -1; /* 3 attempts, then a failed replay */
	e = start();
	give(e, 1, 4);
	for (int i = 0; i < 500; i++) {
		tt_exporter__stats(e, &st);
		if (st.spool_written)
			break;
		usleep(10000);
	}
	assert_int_equal(st.spool_written, 1);
	assert_false(st.collector_up);
	give(e, 5, 4); /* behind the spooled batch: to the spool too */
	wait_accepted(8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(fk.ids[i], 1 + i);
	/* the collector has the spans; the exporter removes the replayed file after */
	for (int i = 0; i < 500; i++) {
		tt_exporter__stats(e, &st);
		if (st.spans_exported == 8 && st.spool_files == 0 && st.collector_up)
			break;
		usleep(10000);
	}
	assert_int_equal(st.spans_exported, 8);
	assert_int_equal(st.spool_written, 2);
	assert_int_equal(st.spool_replayed, 2);
	assert_int_equal(st.spool_files, 0);
	assert_true(st.collector_up);
	tt_exporter__free(e);
}

static void test_refusal_and_partial_success(void **state)
{
	struct tt_exporter *e;
	struct tt_exporter_stats st;

	fk.answers[0] = 400;
	e = start();
	give(e, 1, 4);
	for (int i = 0; i < 200 && fk.calls < 1; i++)
		usleep(10000);
	fk.rejected = 1;
	give(e, 5, 4);
	wait_accepted(4);
	tt_exporter__stop(e, 1000);
	tt_exporter__stats(e, &st);
	assert_int_equal(fk.calls, 2); /* no retry of a 400 */
	assert_int_equal(st.dropped[TT_DROP_REJECTED], 4 + 1);
	assert_int_equal(st.partial_successes, 1);
	assert_int_equal(st.spans_exported, 3);
	tt_exporter__free(e);
}

static void test_shutdown_flushes_then_spools(void **state)
{
	struct tt_exporter *e;
	struct tt_exporter_stats st;
	char err[256];
	struct tt_spool *sp;
	struct tt_spool_stats ss;

	cfg.delay_ms = 60000; /* nothing leaves before the stop */
	cfg.max_batch = 64;
	e = start();
	give(e, 1, 5);
	tt_exporter__stop(e, 2000);
	tt_exporter__stats(e, &st);
	assert_int_equal(accepted(), 5);
	assert_int_equal(st.spans_exported, 5);
	give(e, 9, 1); /* after the stop */
	tt_exporter__stats(e, &st);
	assert_int_equal(st.dropped[TT_DROP_SHUTDOWN], 1);
	tt_exporter__free(e);

	/* the collector away at shutdown: everything lands in the spool */
	fk.answers[fk.calls] = -1;
	e = start();
	give(e, 20, 7);
	tt_exporter__stop(e, 2000);
	tt_exporter__stats(e, &st);
	assert_int_equal(st.spool_spans, 7);
	tt_exporter__free(e);
	sp = tt_spool__open(dir, 1 << 20, err, sizeof(err));
	tt_spool__stats(sp, &ss);
	assert_int_equal(ss.items, 7);
	tt_spool__free(sp);
}

static uint64_t tally_of(const uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

/*
 * The tally (the --pin span ledger) says how many spans the exporter holds:
 * queued and not yet settled. A batch sent, or one spooled, is settled; one
 * waiting for its delay, or being retried, is not: a SIGKILL would take it.
 */
static void test_tally_counts_what_a_kill_would_lose(void **state)
{
	struct tt_exporter *e;

	memset(&tally, 0, sizeof(tally));
	cfg.delay_ms = 60000; /* a batch of 4 leaves at once; the rest waits */
	e = start();
	give(e, 1, 6);
	wait_accepted(4);
	for (int i = 0; i < 500 && tally_of(&tally.settled) < 4; i++)
		usleep(10000);
	assert_int_equal(tally_of(&tally.queued), 6);
	assert_int_equal(tally_of(&tally.settled), 4); /* 2 held: lost if killed now */
	fk.answers[fk.calls] = -1; /* the collector away: they go to the spool */
	tt_exporter__stop(e, 2000);
	assert_int_equal(tally_of(&tally.queued), 6);
	assert_int_equal(tally_of(&tally.settled), 6);
	tt_exporter__free(e);
}

static void test_sampler_and_queue_bound(void **state)
{
	struct tt_exporter *e;
	struct tt_exporter_stats st;

	cfg.sampler = TT_SAMPLER_ALWAYS_OFF;
	e = start();
	give(e, 1, 3);
	tt_exporter__stats(e, &st);
	assert_int_equal(st.spans_sampled_out, 3);
	assert_int_equal(st.spans_queued, 0);
	tt_exporter__free(e);

	cfg.sampler = TT_SAMPLER_ALWAYS_ON;
	cfg.max_queue = 8;
	cfg.max_batch = 8;
	cfg.delay_ms = 60000;
	cfg.spool_off = true;
	for (int i = 0; i < 64; i++)
		fk.answers[i] = 400;
	e = start();
	give(e, 1, 40);
	tt_exporter__stop(e, 1000);
	tt_exporter__stats(e, &st);
	assert_int_equal(st.spans_queued + st.dropped[TT_DROP_QUEUE_FULL], 40);
	assert_true(st.dropped[TT_DROP_QUEUE_FULL] > 0);
	assert_false(st.spool_enabled);
	tt_exporter__free(e);
}

/*
 * A collector that holds the exporter's request: the queue fills, and the
 * spill thread moves batches to the spool instead of the queue dropping
 * them; once the collector answers, every span arrives, once.
 */
static void test_slow_collector_spills_instead_of_dropping(void **state)
{
	struct tt_exporter *e;
	struct tt_exporter_stats st;
	int seen[256] = {0}, total = 4 + 200;

	pthread_mutex_lock(&fk.mu);
	fk.hold = true;
	pthread_mutex_unlock(&fk.mu);
	e = start(); /* a queue of 64, batches of 4 */
	give(e, 0, 4);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&fk.mu);
		int calls = fk.calls;
		pthread_mutex_unlock(&fk.mu);
		if (calls)
			break;
		usleep(10000);
	}
	assert_int_equal(fk.calls, 1); /* the exporter thread waits on the collector */
	for (int i = 4; i < total; i++) {
		give(e, (uint8_t)i, 1);
		/* at the spill mark (48 of 64) the spill thread empties the queue below it */
		for (int w = 0; w < 500; w++) {
			tt_exporter__stats(e, &st);
			/* in the queue: at most what is neither held by the collector nor spooled
			 */
			if (st.spans_queued - st.spool_spans - 4 < 48)
				break;
			usleep(2000);
		}
		assert_true(st.spans_queued - st.spool_spans - 4 < 48);
	}
	tt_exporter__stats(e, &st);
	assert_int_equal(st.dropped[TT_DROP_QUEUE_FULL], 0);
	assert_int_equal(st.spans_queued, total);
	assert_true(st.spool_written > 0);
	assert_int_equal(fk.calls, 1); /* still held: all of that went to the spool */

	pthread_mutex_lock(&fk.mu);
	fk.hold = false;
	pthread_cond_broadcast(&fk.held);
	pthread_mutex_unlock(&fk.mu);
	wait_accepted(total);
	for (int i = 0; i < 500; i++) {
		tt_exporter__stats(e, &st);
		if (st.spans_exported == (uint64_t)total && st.spool_files == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(st.spans_exported, total);
	assert_int_equal(st.spool_files, 0);
	assert_int_equal(tt_signal_stats__dropped(&st.traces), 0);
	for (int i = 0; i < total; i++)
		seen[fk.ids[i]]++;
	for (int i = 0; i < total; i++)
		assert_int_equal(seen[i], 1);
	tt_exporter__free(e);
}

/*
 * A collector that takes several requests at once: each waits (10 s at
 * most) until another is in flight beside it, and counts the spans.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int now, max, calls;
	int64_t spans;
} cc = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int concurrent_send(void *ctx, const uint8_t *pb, size_t len, uint32_t timeout_ms,
			   struct tt_send_result *r)
{
	int64_t n = tt_otlp__count_spans(pb, len);
	struct timespec until;

	memset(r, 0, sizeof(*r));
	r->grpc_status = -1;
	r->retry_after_ms = -1;
	r->http_status = 200;
	pthread_mutex_lock(&cc.mu);
	cc.calls++;
	cc.now++;
	if (cc.now > cc.max)
		cc.max = cc.now;
	pthread_cond_broadcast(&cc.cv);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (cc.max < 2 && pthread_cond_timedwait(&cc.cv, &cc.mu, &until) != ETIMEDOUT)
		;
	cc.spans += n > 0 ? n : 0;
	cc.now--;
	pthread_mutex_unlock(&cc.mu);
	return 0;
}

/* --otlp-inflight 3: fresh batches go out on several requests at once, every span once. */
static void test_several_requests_in_flight(void **state)
{
	struct tt_exporter_opts o = {.cfg = &cfg,
				     .send = concurrent_send,
				     .send_concurrent = true,
				     .seed = 1,
				     .hostname = "testhost"};
	struct tt_exporter_stats st;
	struct tt_exporter *e;
	char err[256];

	cfg.inflight = 3;
	e = tt_exporter__new(&o, err, sizeof(err));
	assert_non_null(e);
	give(e, 0, 32); /* 8 batches of 4, all due at once */
	for (int i = 0; i < 2000; i++) {
		tt_exporter__stats(e, &st);
		if (st.spans_exported == 32)
			break;
		usleep(10000);
	}
	assert_int_equal(st.spans_exported, 32);
	pthread_mutex_lock(&cc.mu);
	assert_true(cc.max >= 2); /* two requests were in flight together */
	assert_int_equal(cc.spans, 32);
	assert_int_equal(cc.calls, (int)st.batches_sent);
	pthread_mutex_unlock(&cc.mu);
	assert_int_equal(tt_signal_stats__dropped(&st.traces), 0);
	tt_exporter__free(e);
}

/* ---- metrics and logs: lanes of their own, on the same thread ------------- */

/* A fake collector of one signal: counts requests and items; fails the first `fail`. */
struct counter {
	pthread_mutex_t mu;
	bool metrics; /* decode metrics, else logs */
	int fail;
	int calls;
	int64_t items;
	int64_t last_completed; /* metrics: task.completed in the last request */
};

static int count_send(void *ctx, const uint8_t *pb, size_t len, uint32_t timeout_ms,
		      struct tt_send_result *r)
{
	struct counter *c = ctx;
	int64_t n = c->metrics ? tt_otlp__count_points(pb, len) : tt_otlp__count_logs(pb, len);

	memset(r, 0, sizeof(*r));
	r->grpc_status = -1;
	r->retry_after_ms = -1;
	assert_true(n > 0);
	pthread_mutex_lock(&c->mu);
	if (c->calls++ < c->fail) {
		r->http_status = 503;
		r->retry_after_ms = 10;
		snprintf(r->message, sizeof(r->message), "HTTP 503");
	} else {
		r->http_status = 200;
		c->items += n;
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int calls_of(struct counter *c)
{
	int n;

	pthread_mutex_lock(&c->mu);
	n = c->calls;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static void test_metrics_and_logs_lanes(void **state)
{
	struct counter mc = {.mu = PTHREAD_MUTEX_INITIALIZER, .metrics = true, .fail = 1};
	struct counter lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct tt_otlp_config mcfg, lcfg;
	struct tt_probe step = {.id = 2, .symbol = "execute_step", .role = TT_ROLE_STEP};
	struct tt_metrics *m = tt_metrics__new(NULL);
	struct tt_exporter_stats st;
	struct tt_exporter_opts o = {.metrics_cfg = &mcfg,
				     .logs_cfg = &lcfg,
				     .metrics = m,
				     .send_metrics = count_send,
				     .send_metrics_ctx = &mc,
				     .send_logs = count_send,
				     .send_logs_ctx = &lc,
				     .seed = 1,
				     .hostname = "testhost"};
	static struct tt_span s;
	struct tt_exporter *e;
	char err[256];

	assert_non_null(m);
	step.key.index = -1;
	step.attempt.index = -1;
	step.message_id.index = -1;
	tt_otlp_config__init_signal(&mcfg, TT_SIGNAL_METRICS);
	tt_otlp_config__init_signal(&lcfg, TT_SIGNAL_LOGS);
	mcfg.base = strdup("http://unused:4318");
	mcfg.spool_dir = strdup(dir);
	mcfg.interval_ms = 50;
	lcfg.base = strdup("http://unused:4318");
	lcfg.spool_dir = strdup(dir);
	lcfg.delay_ms = 20;
	assert_false(tt_otlp_config__enabled(&lcfg)); /* logs: only when asked */
	lcfg.logs_on = true;
	e = tt_exporter__new(&o, err, sizeof(err));
	assert_non_null(e);

	s.probe = &step;
	s.pid = (uint32_t)getpid();
	s.start_ns = 10;
	s.end_ns = 20;
	s.status = TT_STATUS_OK;
	snprintf(s.name, sizeof(s.name), "T.execute_step");
	for (int i = 0; i < 3; i++) {
		tt_metrics__span(&s, m);
		tt_exporter__span(&s, e); /* no traces lane: only its two log records */
	}
	/* the first metrics export is refused, retried after 10 ms, then accepted */
	while (calls_of(&mc) < 3 || calls_of(&lc) < 1)
		usleep(10000);
	tt_exporter__stats(e, &st);
	assert_false(st.spool_enabled); /* traces are off */
	assert_int_equal(st.spans_queued, 0);
	assert_true(st.metrics.enabled);
	assert_true(st.metrics.export_failures >= 1);
	assert_true(st.metrics.retries >= 1);
	assert_true(st.metrics.batches_sent >= 1);
	assert_true(st.metrics.spool_enabled);
	tt_exporter__stop(e, 1000);
	tt_exporter__stats(e, &st);
	assert_int_equal(st.logs.queued, 6);
	assert_int_equal(st.logs.exported, 6);
	assert_int_equal(lc.items, 6);
	/* every accepted export counted, and the last one at stop */
	assert_int_equal(st.metrics.exported, mc.items);
	assert_int_equal(st.metrics.queued, st.metrics.exported);
	assert_true(st.metrics.batches_sent >= 2);
	tt_exporter__free(e);
	tt_metrics__free(m);
	tt_otlp_config__release(&mcfg);
	tt_otlp_config__release(&lcfg);
}

/* Refusals are counted under OpenTelemetry's error.type: HTTP status, gRPC status name. */
static void test_reject_reasons(void **state)
{
	struct tt_send_result r = {.grpc_status = -1, .http_status = 404};
	struct tt_exporter_stats st = {0};
	char buf[128], *text = NULL;
	struct tt_jsonw w;
	size_t len = 0;
	FILE *out;

	assert_string_equal(tt_reject_reason__name(tt_reject_reason__of(&r)), "404");
	r.http_status = 418;
	assert_string_equal(tt_reject_reason__name(tt_reject_reason__of(&r)), "_OTHER");
	r.http_status = 200;
	r.grpc_status = 12;
	assert_string_equal(tt_reject_reason__name(tt_reject_reason__of(&r)), "UNIMPLEMENTED");
	assert_false(tt_exporter__refusing(&st, buf, sizeof(buf)));
	st.metrics.refusing = TT_REJECT_HTTP_404 + 1;
	st.metrics.rejected_by[TT_REJECT_HTTP_404] = 7;
	st.traces.rejected_by[TT_REJECT_PARTIAL] = 2;
	assert_true(tt_exporter__refusing(&st, buf, sizeof(buf)));
	assert_string_equal(buf, "the collector refuses metrics: 404");
	out = open_memstream(&text, &len);
	tt_jsonw__init(&w, out);
	tt_jsonw__start_object(&w);
	tt_exporter__write_rejections(&w, &st);
	tt_jsonw__end_object(&w);
	fclose(out);
	/* one member of the object the writer is in: the writer places the commas */
	assert_string_equal(text,
			    "{\"rejected\":{\"traces\":{\"rejected\":2},\"metrics\":{\"404\":7},"
			    "\"logs\":{}}}");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reject_reasons),
		cmocka_unit_test_setup_teardown(test_batches_by_size_and_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_then_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outage_spills_and_replays_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refusal_and_partial_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_flushes_then_spools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tally_counts_what_a_kill_would_lose, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sampler_and_queue_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_collector_spills_instead_of_dropping,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_requests_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_and_logs_lanes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
