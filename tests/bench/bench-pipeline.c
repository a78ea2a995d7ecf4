// SPDX-License-Identifier: MIT
/*
 * bench-pipeline: the agent's userspace pipeline without BPF, on one core,
 * fed a synthetic event stream laid out exactly as the ring buffer holds
 * it (the spec of `make bench`: a task probe capturing a u64 key and a
 * 64-byte string; an entry and a return event per call).
 *
 * usage: bench-pipeline throughput SPANS [EVENTS_PER_S [STAGE]]
 *          drain → reorder → assemble → queue copy → OTLP protobuf (+gzip,
 *          +JSON), each stage timed as the agent runs it: the direct writers
 *          (otlp_write.c); the *_protobufc rows encode through protobuf-c, the
 *          reference, as the agent did before. Timestamps advance
 *          at EVENTS_PER_S (default 2,000,000: 1M spans/s), drained every
 *          1 ms of event time with the agent's 10 ms reorder slack, so the
 *          reorder buffer holds what it would hold at that rate.
 *        bench-pipeline encode SPANS
 *          export only: batches of 512 finished spans (made once) encoded as
 *          protobuf, protobuf + gzip, OTLP/JSON, and JSON lines (--json); the
 *          *_protobufc rows through protobuf-c (JSON: protobuf, unpacked and
 *          printed, as http/json converts a spooled request)
 *        bench-pipeline memory N...
 *          heap and RSS of the assembler holding 0 then each N open spans
 *        bench-pipeline console N
 *          the console waterfall holding N finished steps of N tasks still
 *          open (held full at 4,096, then printing as it goes), then the
 *          flush at shutdown, to /dev/null: CPU ns per span of each
 *        bench-pipeline steady SPANS
 *          RSS and heap every SPANS/10 finished spans (reorder + assemble +
 *          encode): past the first 30 % (the warm-up) it must not grow
 *
 * Output: one "name value" per line on stdout. Allocation counts appear
 * when run with LD_PRELOAD=.output/bench/malloc-count.so.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "assemble.h"
#include "export/export.h"
#include "export/metrics.h"
#include "export/otlp_config.h"
#include "export/otlp_encode.h"
#include "export/otlp_http.h"
#include "export/otlp_write.h"
#include "export/resource.h"
#include "export/traces.h"
#include "helpers.h"
#include "reorder.h"
#include "spec.h"

/* The agent's constants (user/agent/agent.h): drain every 1 ms, hold events 10 ms. */
#define DRAIN_NS 1000000ULL
#define SLACK_NS 10000000ULL
#define BATCH	 512 /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE */

static const char spec_text[] = "service: bench\n"
				"keyspace: bench\n"
				"targets:\n"
				"  - binary: /bin/true\n"
				"    probes:\n"
				"      - role: task\n"
				"        symbol: tick\n"
				"        key: arg0\n"
				"        attributes:\n"
				"          task.name: str(arg1)\n"
				"        error: ret != 0\n";

static const char name63[] = "bench-step-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

/* Present only under LD_PRELOAD=malloc-count.so. */
extern void malloc_count__get(uint64_t out[3]) __attribute__((weak));

static uint64_t allocs_now(void)
{
	uint64_t c[3] = {0};

	if (malloc_count__get)
		malloc_count__get(c);
	return c[0];
}

static long rss_kb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* ---- the synthetic stream ------------------------------------------------ */

struct ev {
	struct tt_event h;
	uint8_t payload[TT_MAX_PAYLOAD];
};

static size_t put_rec(uint8_t *p, size_t off, uint8_t type, const void *data, uint16_t len)
{
	struct tt_cap_rec r = {.len = len, .type = type};

	memcpy(p + off, &r, sizeof(r));
	memcpy(p + off + sizeof(r), data, len);
	return (off + sizeof(r) + len + 3) & ~(size_t)3;
}

/* The entry event of call `key` at `ts` on thread `tid`, as bpf/tasktap.bpf.c writes it. */
static void make_entry(struct ev *e, uint64_t key, uint64_t ts, uint32_t tid)
{
	size_t off = 0;

	off = put_rec(e->payload, off, TT_CAP_INT, &key, sizeof(key));
	off = put_rec(e->payload, off, TT_CAP_STR, name63, sizeof(name63) - 1);
	e->h = (struct tt_event){.ts_ns = ts,
				 .pid = 4242,
				 .tid = tid,
				 .probe = 1,
				 .kind = TT_EV_ENTRY,
				 .size = sizeof(e->h) + off,
				 .ncaps = 2};
}

static void make_return(struct tt_event *e, uint64_t ts, uint32_t tid)
{
	*e = (struct tt_event){.ts_ns = ts,
			       .pid = 4242,
			       .tid = tid,
			       .probe = 1,
			       .kind = TT_EV_RETURN,
			       .ret = 0,
			       .size = sizeof(*e)};
}

/* ---- sinks --------------------------------------------------------------- */

enum sink_mode {
	SINK_COUNT,  /* count spans */
	SINK_ENCODE, /* copy into a batch (as the exporter's queue does), write protobuf at 512 */
	SINK_GZIP,   /* ... and gzip the request */
	SINK_JSON,   /* ... written as OTLP/JSON instead (the http/json body) */
	SINK_ENCODE_REF, /* as SINK_ENCODE through protobuf-c (tt_otlp__encode_traces) */
	SINK_JSON_REF,	 /* protobuf-c, then tt_otlp__traces_json */
	SINK_JSONL,	 /* tt_jsonl__span to /dev/null (--json) */
	SINK_VIEW,	 /* tt_traces__span: the task view's ring of recent traces */
	SINK_METRICS,	 /* tt_metrics__span: the task metrics every span feeds */
};

struct sink {
	enum sink_mode mode;
	uint64_t spans;
	uint64_t bytes; /* encoded bytes */
	struct tt_xspan *batch;
	const struct tt_xspan **ptrs;
	size_t n;
	const struct tt_resource *res;
	struct tt_jsonl jsonl;
	struct tt_traces *traces;
	struct tt_metrics *metrics;
	struct tt_wbuf out; /* the direct writers' reused buffer */
	int errors;
};

static void flush_batch(struct sink *k)
{
	uint8_t *pb = NULL, *z = NULL;
	char *json = NULL;
	size_t len = 0, zlen = 0, jlen = 0;

	if (!k->n)
		return;
	if (k->mode == SINK_ENCODE || k->mode == SINK_GZIP || k->mode == SINK_JSON) {
		int ret = k->mode == SINK_JSON
				  ? tt_otlp__write_traces_json(&k->out, k->ptrs, k->n, 0)
				  : tt_otlp__write_traces(&k->out, k->ptrs, k->n, 0);

		if (ret)
			k->errors++;
		k->bytes += k->out.len;
		if (k->mode == SINK_GZIP && tt_gzip(k->out.data, k->out.len, &z, &zlen))
			k->errors++;
		k->bytes += zlen;
		free(z);
		k->n = 0;
		return;
	}
	if (tt_otlp__encode_traces(k->ptrs, k->n, 0, &pb, &len)) {
		k->errors++;
		k->n = 0;
		return;
	}
	k->bytes += len;
	if (k->mode == SINK_JSON_REF) {
		if (tt_otlp__traces_json(pb, len, &json, &jlen))
			k->errors++;
		k->bytes += jlen;
		free(json);
	}
	free(pb);
	k->n = 0;
}

/*
 * A finished span into a batch slot as the exporter's queue copies it
 * (exporter_queue.c's copy_span()): the fixed fields and texts, then the
 * key, payloads and annotate attributes only as far as they are used.
 */
static void queue_copy(struct tt_span *d, const struct tt_span *s)
{
	size_t key = s->key_len < sizeof(d->key) ? s->key_len : sizeof(d->key);
	size_t pay = s->payload_len < sizeof(d->payload) ? s->payload_len : sizeof(d->payload);
	size_t end = s->end_len < sizeof(d->end_payload) ? s->end_len : sizeof(d->end_payload);
	size_t late = s->nlate < TT_LATE_ATTRS ? s->nlate : TT_LATE_ATTRS;

	memcpy(d, s, offsetof(struct tt_span, key));
	memcpy(d->key, s->key, key);
	memcpy(d->payload, s->payload, pay);
	memcpy(d->end_payload, s->end_payload, end);
	memcpy(d->redacted, s->redacted, sizeof(d->redacted));
	memcpy(d->late, s->late, late * sizeof(d->late[0]));
}

static void on_span(const struct tt_span *s, void *ctx)
{
	struct sink *k = ctx;

	k->spans++;
	switch (k->mode) {
	case SINK_COUNT:
		break;
	case SINK_JSONL:
		tt_jsonl__span(s, &k->jsonl);
		break;
	case SINK_VIEW:
		tt_traces__span(s, k->traces);
		break;
	case SINK_METRICS:
		tt_metrics__span(s, k->metrics);
		break;
	default:
		queue_copy(&k->batch[k->n].span, s);
		k->batch[k->n].res = k->res;
		k->n++;
		if (k->n == BATCH)
			flush_batch(k);
	}
}

/* ---- the pipeline -------------------------------------------------------- */

struct pipe {
	struct tt_spec *spec;
	struct tt_asm *a;
	struct tt_reorder ro;
	struct sink sink;
};

static void to_asm(const struct tt_event *ev, size_t size, void *ctx)
{
	tt_asm__push(ctx, ev, size);
}

static int pipe_init(struct pipe *p, enum sink_mode mode, uint32_t max_open,
		     const struct tt_resource *res)
{
	struct tt_asm_opts o = {0};
	char err[256];

	memset(p, 0, sizeof(*p));
	if (tt_spec__parse("bench.yaml", spec_text, strlen(spec_text), &p->spec, err,
			   sizeof(err))) {
		fprintf(stderr, "bench-pipeline: %s\n", err);
		return -1;
	}
	p->sink.mode = mode;
	p->sink.res = res;
	p->sink.batch = calloc(BATCH, sizeof(*p->sink.batch));
	p->sink.ptrs = calloc(BATCH, sizeof(*p->sink.ptrs));
	p->sink.jsonl.out = fopen("/dev/null", "w");
	p->sink.jsonl.service = "bench";
	p->sink.traces = tt_traces__new(NULL);
	p->sink.metrics = tt_metrics__new(NULL);
	if (!p->sink.batch || !p->sink.ptrs || !p->sink.jsonl.out || !p->sink.traces ||
	    !p->sink.metrics)
		return -1;
	for (size_t i = 0; i < BATCH; i++)
		p->sink.ptrs[i] = &p->sink.batch[i];
	o.spec = p->spec;
	o.seed = 42;
	o.max_open_spans = max_open;
	o.on_span = on_span;
	o.ctx = &p->sink;
	p->a = tt_asm__new(&o);
	tt_reorder__init(&p->ro);
	return p->a ? 0 : -1;
}

static void pipe_release(struct pipe *p)
{
	tt_asm__free(p->a);
	tt_reorder__release_all(&p->ro);
	tt_spec__free(p->spec);
	free(p->sink.batch);
	free(p->sink.ptrs);
	tt_traces__free(p->sink.traces);
	tt_metrics__free(p->sink.metrics);
	tt_wbuf__release(&p->sink.out);
	if (p->sink.jsonl.out)
		fclose(p->sink.jsonl.out);
}

/*
 * Feeds `spans` calls (2 events each) starting at key first_key, event
 * time advancing at `rate` events/s. With `reorder`, events go through the
 * reorder buffer as the agent's drain does; else straight to the assembler.
 */
static void feed(struct pipe *p, uint64_t first_key, uint64_t spans, double rate, bool reorder,
		 uint64_t *ts)
{
	struct ev e;
	struct tt_event r;
	double step = 1e9 / rate;
	uint64_t next_drain = *ts + DRAIN_NS;
	double t = (double)*ts;

	for (uint64_t i = 0; i < spans; i++) {
		uint32_t tid = 100 + (uint32_t)(i & 1); /* two target threads */

		make_entry(&e, first_key + i, (uint64_t)t, tid);
		t += step;
		make_return(&r, (uint64_t)t, tid);
		t += step;
		if (!reorder) {
			tt_asm__push(p->a, &e.h, e.h.size);
			tt_asm__push(p->a, &r, r.size);
			continue;
		}
		tt_reorder__add(&p->ro, &e.h, e.h.size);
		tt_reorder__add(&p->ro, &r, r.size);
		if ((uint64_t)t >= next_drain) {
			tt_reorder__flush(&p->ro, (uint64_t)t - SLACK_NS, to_asm, p->a);
			next_drain += DRAIN_NS;
		}
	}
	if (reorder)
		tt_reorder__flush(&p->ro, UINT64_MAX, to_asm, p->a);
	flush_batch(&p->sink);
	*ts = (uint64_t)t;
}

struct stage {
	const char *name;
	enum sink_mode mode;
	bool reorder;
};

static int throughput(uint64_t spans, double rate, const char *only)
{
	static const struct stage stages[] = {
		{"assemble", SINK_COUNT, false},
		{"reorder_assemble", SINK_COUNT, true},
		{"assemble_encode", SINK_ENCODE, false},
		{"pipeline_pb", SINK_ENCODE, true},
		{"pipeline_pb_gzip", SINK_GZIP, true},
		{"pipeline_json", SINK_JSON, true},
		{"pipeline_jsonl", SINK_JSONL, true},
		{"pipeline_view", SINK_VIEW, true},
		{"pipeline_metrics", SINK_METRICS, true},
		{"pipeline_pb_protobufc", SINK_ENCODE_REF, true},
		{"pipeline_json_protobufc", SINK_JSON_REF, true},
	};
	struct tt_otlp_config cfg;
	struct tt_resource_opts ro = {.spec_service = "bench", .cfg = NULL};
	struct tt_resource *res;

	tt_otlp_config__init(&cfg);
	ro.cfg = &cfg;
	res = tt_resource__new(getpid(), &ro);
	printf("offered_events_per_s %.0f\n", rate);
	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
		const struct stage *st = &stages[i];
		struct pipe p;
		uint64_t ts = 1000000000ULL, t0, c0, a0, warm = spans / 10 + 1;

		if (only && strcmp(only, st->name))
			continue;
		if (pipe_init(&p, st->mode, 0, res))
			return 1;
		feed(&p, 1, warm, rate, st->reorder, &ts); /* tables and buffers at size */
		p.sink.spans = 0;
		p.sink.bytes = 0;
		a0 = allocs_now();
		c0 = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID);
		t0 = tt_now_ns(CLOCK_MONOTONIC);
		feed(&p, warm + 1, spans, rate, st->reorder, &ts);
		t0 = tt_now_ns(CLOCK_MONOTONIC) - t0;
		c0 = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
		a0 = allocs_now() - a0;
		if (p.sink.spans != spans || p.sink.errors) {
			fprintf(stderr, "bench-pipeline: %s: %llu of %llu spans, %d errors\n",
				st->name, (unsigned long long)p.sink.spans,
				(unsigned long long)spans, p.sink.errors);
			return 1;
		}
		printf("%s_spans_per_s %.0f\n", st->name, (double)spans / ((double)c0 / 1e9));
		printf("%s_ns_per_span %.1f\n", st->name, (double)c0 / (double)spans);
		if (p.sink.bytes)
			printf("%s_bytes_per_span %.1f\n", st->name,
			       (double)p.sink.bytes / (double)spans);
		if (malloc_count__get)
			printf("%s_allocs_per_span %.4f\n", st->name, (double)a0 / (double)spans);
		pipe_release(&p);
	}
	tt_resource__free(res);
	tt_otlp_config__release(&cfg);
	return 0;
}

/* Keeps the first BATCH finished spans. */
static void keep_span(const struct tt_span *s, void *ctx)
{
	struct sink *k = ctx;

	if (k->n < BATCH) {
		memcpy(&k->batch[k->n].span, s, sizeof(*s));
		k->batch[k->n].res = k->res;
		k->n++;
	}
	k->spans++;
}

static int encode_only(uint64_t spans)
{
	static const struct {
		const char *name;
		enum sink_mode mode;
	} forms[] = {
		{"encode_pb", SINK_ENCODE},
		{"encode_pb_gzip", SINK_GZIP},
		{"encode_json", SINK_JSON},
		{"encode_jsonl", SINK_JSONL},
		{"encode_pb_protobufc", SINK_ENCODE_REF},
		{"encode_json_protobufc", SINK_JSON_REF},
	};
	struct tt_otlp_config cfg;
	struct tt_resource_opts ro = {.spec_service = "bench"};
	struct tt_resource *res;
	struct pipe p;
	uint64_t ts = 1000000000ULL, rounds = spans / BATCH + 1;

	tt_otlp_config__init(&cfg);
	ro.cfg = &cfg;
	res = tt_resource__new(getpid(), &ro);
	if (pipe_init(&p, SINK_COUNT, 0, res))
		return 1;
	/* made once by the assembler: real spans, then encoded over and over */
	p.sink.res = res;
	tt_asm__free(p.a);
	{
		struct tt_asm_opts o = {
			.spec = p.spec, .seed = 42, .on_span = keep_span, .ctx = &p.sink};

		p.a = tt_asm__new(&o);
	}
	feed(&p, 1, BATCH, 2e6, false, &ts);
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		uint64_t c0, a0;

		p.sink.mode = forms[f].mode;
		p.sink.bytes = 0;
		a0 = allocs_now();
		c0 = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (uint64_t r = 0; r < rounds; r++) {
			if (forms[f].mode == SINK_JSONL) {
				for (size_t i = 0; i < BATCH; i++)
					tt_jsonl__span(&p.sink.batch[i].span, &p.sink.jsonl);
				continue;
			}
			p.sink.n = BATCH;
			flush_batch(&p.sink);
		}
		c0 = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
		a0 = allocs_now() - a0;
		printf("%s_spans_per_s %.0f\n", forms[f].name,
		       (double)(rounds * BATCH) / ((double)c0 / 1e9));
		if (p.sink.bytes)
			printf("%s_bytes_per_span %.1f\n", forms[f].name,
			       (double)p.sink.bytes / (double)(rounds * BATCH));
		if (malloc_count__get)
			printf("%s_allocs_per_span %.4f\n", forms[f].name,
			       (double)a0 / (double)(rounds * BATCH));
	}
	if (p.sink.errors)
		return 1;
	pipe_release(&p);
	tt_resource__free(res);
	tt_otlp_config__release(&cfg);
	return 0;
}

/* Open spans, one per thread, each a task with its own key: nothing ends them. */
static int memory(int argc, char **argv)
{
	struct pipe p;
	struct ev e;
	uint64_t opened = 0;
	long rss0;
	size_t heap0;

	if (pipe_init(&p, SINK_COUNT, 1u << 21, NULL))
		return 1;
	malloc_trim(0);
	rss0 = rss_kb();
	heap0 = heap_bytes();
	printf("open_0_rss_kb %ld\n", rss0);
	printf("open_0_heap_bytes %zu\n", heap0);
	for (int i = 0; i < argc; i++) {
		uint64_t n = strtoull(argv[i], NULL, 10);
		struct tt_asm_stats st;

		for (; opened < n; opened++) {
			make_entry(&e, opened + 1, 1000 + opened, 1000 + (uint32_t)opened);
			tt_asm__push(p.a, &e.h, e.h.size);
		}
		tt_asm__stats(p.a, &st);
		printf("open_%llu_spans %llu\n", (unsigned long long)n,
		       (unsigned long long)st.open_spans);
		printf("open_%llu_rss_kb %ld\n", (unsigned long long)n, rss_kb());
		printf("open_%llu_heap_bytes %zu\n", (unsigned long long)n, heap_bytes());
		printf("open_%llu_rss_bytes_per_span %.0f\n", (unsigned long long)n,
		       (double)(rss_kb() - rss0) * 1024 / (double)n);
		printf("open_%llu_heap_bytes_per_span %.0f\n", (unsigned long long)n,
		       (double)(heap_bytes() - heap0) / (double)n);
		/* where they go: the span itself, the indexes, the attempts table */
		printf("open_%llu_span_bytes_per_span %.0f\n", (unsigned long long)n,
		       (double)st.span_bytes / (double)n);
		printf("open_%llu_index_bytes_per_span %.0f\n", (unsigned long long)n,
		       (double)st.index_bytes / (double)n);
		printf("open_%llu_tries_bytes_per_span %.0f\n", (unsigned long long)n,
		       (double)st.tries_bytes / (double)n);
	}
	printf("sizeof_tt_span %zu\n", sizeof(struct tt_span));
	pipe_release(&p);
	return 0;
}

static int steady(uint64_t spans)
{
	struct pipe p;
	uint64_t ts = 1000000000ULL, done = 0, step = spans / 10;
	long rss_first = 0;

	if (pipe_init(&p, SINK_ENCODE, 0, NULL))
		return 1;
	for (int k = 1; k <= 10; k++) {
		feed(&p, done + 1, step, 2e6, true, &ts);
		done += step;
		if (k == 3) /* past the warm-up: tables and buffers at their size */
			rss_first = rss_kb();
		printf("steady_%d_spans %llu rss_kb %ld heap_bytes %zu\n", k,
		       (unsigned long long)done, rss_kb(), heap_bytes());
	}
	printf("steady_spans %llu\n", (unsigned long long)done);
	printf("steady_rss_first_kb %ld\n", rss_first);
	printf("steady_rss_last_kb %ld\n", rss_kb());
	printf("steady_rss_growth_kb %ld\n", rss_kb() - rss_first);
	pipe_release(&p);
	return 0;
}

static int console_bench(uint64_t n)
{
	static const struct tt_probe probe = {.role = TT_ROLE_STEP};
	FILE *out = fopen("/dev/null", "w");
	struct tt_console *c = out ? tt_console__new(out, false) : NULL;
	struct tt_span *s = calloc(1, sizeof(*s));
	uint64_t c0, hold_ns;

	if (!c || !s)
		return 1;
	c0 = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t trace = 100 + i, id = 2 * i + 2, parent = 2 * i + 1;

		memset(s, 0, offsetof(struct tt_span, key));
		memcpy(s->trace_id, &trace, 8);
		memcpy(s->span_id, &id, 8);
		memcpy(s->parent_id, &parent, 8);
		snprintf(s->name, sizeof(s->name), "Task.step");
		s->probe = &probe;
		s->start_ns = i;
		s->end_ns = i + 1;
		s->kind = TT_KIND_INTERNAL;
		tt_console__span(s, c);
	}
	hold_ns = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
	c0 = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	tt_console__flush(c);
	c0 = tt_now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("console_spans %llu\n", (unsigned long long)n);
	printf("console_hold_ns_per_span %.1f\n", (double)hold_ns / (double)n);
	printf("console_flush_ns_per_span %.1f\n", (double)c0 / (double)n);
	printf("console_ops_per_span %.2f\n", (double)tt_console__ops(c) / (double)n);
	tt_console__free(c);
	fclose(out);
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "throughput"))
		return throughput(strtoull(argv[2], NULL, 10), argc > 3 ? atof(argv[3]) : 2e6,
				  argc > 4 ? argv[4] : NULL);
	if (argc == 3 && !strcmp(argv[1], "encode"))
		return encode_only(strtoull(argv[2], NULL, 10));
	if (argc >= 3 && !strcmp(argv[1], "memory"))
		return memory(argc - 2, argv + 2);
	if (argc == 3 && !strcmp(argv[1], "steady"))
		return steady(strtoull(argv[2], NULL, 10));
	if (argc == 3 && !strcmp(argv[1], "console"))
		return console_bench(strtoull(argv[2], NULL, 10));
	fprintf(stderr,
		"usage: bench-pipeline throughput SPANS [EVENTS_PER_S [STAGE]] | encode SPANS | "
		"memory N... | "
		"steady SPANS | console N\n");
	return 2;
}
