// SPDX-License-Identifier: MIT
/* Events from the rings to the sinks: reorder, hook-id routing, assemblers, span fan-out. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "helpers.h"
#include "log.h"
#include "export/exporter.h"
#include "export/metrics.h"
#include "export/traces.h"

int events__on_ring(const struct tt_event *ev, size_t size, void *ctx)
{
	struct agent *r = ctx;

	/* an exec is acted on at once: the process may be stopped until it is */
	if (size >= sizeof(*ev) && ev->kind == TT_EV_EXEC) {
		watch__on_exec(r, ev);
		return 0;
	}
	/* a fork too: the child is stopped until it is */
	if (size >= sizeof(*ev) && ev->kind == TT_EV_FORK) {
		watch__on_fork(r, ev);
		return 0;
	}
	/* out of memory: the event is dropped, and counted (the summary, /metrics) */
	if (tt_reorder__add(&r->reorder, ev, size))
		r->events_dropped++;
	else if (size >= sizeof(*ev) && ev->kind == TT_EV_RETURN)
		r->ends_unread++;
	return 0;
}

static void on_ordered_event(const struct tt_event *ev, size_t size, void *ctx);

static int on_taken_call(const struct tt_event *ev, size_t size, void *ctx)
{
	on_ordered_event(ev, size, ctx);
	return 0;
}

void events__take_calls(struct agent *r, uint32_t pid, bool keep)
{
	if (r->bpf->take_calls)
		r->bpf->take_calls(r->loader, pid, keep, on_taken_call, r);
}

/* A call in flight: to the assemblers when every event before it has gone there. */
static int on_peeked_call(const struct tt_event *ev, size_t size, void *ctx)
{
	struct agent *r = ctx;

	if (ev->ts_ns <= r->horizon_ns)
		on_ordered_event(ev, size, ctx);
	return 0;
}

void events__peek_calls(struct agent *r)
{
	if (r->bpf->take_calls && r->loader)
		r->bpf->take_calls(r->loader, 0, true, on_peeked_call, r);
}

/*
 * The time an event counts at for its hook (places__owner_at()): its own,
 * but a whole call's start for a TT_EV_CALL: a reload's switch gives the
 * calls begun before it to the old hook's links, which write them whole.
 */
static uint64_t owner_time(const struct tt_event *ev, size_t size)
{
	struct tt_call_tail tail;

	if (ev->kind != TT_EV_CALL || size < sizeof(*ev) + sizeof(tail))
		return ev->ts_ns;
	memcpy(&tail, (const uint8_t *)ev + size - sizeof(tail), sizeof(tail));
	return tail.start_ns;
}

/* Notes the hook of a call still open (ctx: bool per hook id). */
static int note_open(const struct tt_event *ev, size_t size, void *ctx)
{
	bool *open = ctx;

	(void)size;
	if (ev->probe <= TT_MAX_PROBES)
		open[ev->probe] = true;
	return 0;
}

void events__end_retired(struct agent *r, uint64_t now)
{
	static bool open[TT_MAX_PROBES + 1];

	if (!places__retiring(r->places) || !r->bpf->take_calls)
		return;
	memset(open, 0, sizeof(open));
	r->bpf->take_calls(r->loader, 0, true, note_open, open);
	places__end_retired(r->places, open, now);
}

/*
 * Hands an event to the assembler of the spec whose hook it names, with
 * the spec's own hook id; an exit goes to every assembler, after the
 * calls its thread (or another of its process) died in that session
 * programs held (their entries).
 */
static void on_ordered_event(const struct tt_event *ev, size_t size, void *ctx)
{
	struct agent *r = ctx;
	union {
		struct tt_event h;
		uint8_t bytes[TT_MAX_CALL_EVENT];
	} copy;
	struct slot *owner;
	bool known;
	int local = 0;

	if (size >= sizeof(*ev) && ev->kind == TT_EV_RETURN && r->ends_unread)
		r->ends_unread--;
	if (size < sizeof(*ev) || ev->probe == 0) {
		/*
		 * at every thread's exit, not only the process's: the exit
		 * program moves a dying thread's open calls into `calls`
		 * before its own exit event, which may come after the
		 * process's (threads of a killed process exit in any order)
		 */
		if (size >= sizeof(*ev) && ev->kind == TT_EV_EXIT)
			events__take_calls(r, ev->pid, false);
		for (size_t i = 0; i < r->nslots; i++) {
			if (r->slots[i]->assembler)
				tt_asm__push(r->slots[i]->assembler, ev, size);
		}
		if (size >= sizeof(*ev) && ev->kind == TT_EV_EXIT &&
		    (ev->flags & TT_EXITF_GROUP_DEAD)) {
			struct forget f = {.pid = (pid_t)ev->pid, .ts = ev->ts_ns};

			places__drop_exited(r->places, place__forget_pid, &f);
		}
		return;
	}
	owner = places__owner_at(r->places, ev->probe, owner_time(ev, size), &local, &known);
	if (!owner && known)
		return; /* the other side of a reload's switch: counted there */
	if (!owner || !owner->assembler || size > sizeof(copy)) {
		r->unknown_hooks++;
		return;
	}
	memcpy(copy.bytes, ev, size);
	copy.h.probe = (uint32_t)local;
	tt_asm__push(owner->assembler, &copy.h, size);
}

/*
 * Tells the assemblers when events were lost, before they see the exits
 * that follow: a span open then may have lost its end, and is not ended as
 * a failure of its process.
 */
static void note_loss(struct agent *r)
{
	uint64_t lost = r->bpf->stat ? r->bpf->stat(r->loader, TT_STAT_LOST) : 0;
	uint64_t now;

	if (lost == r->lost_noted)
		return;
	r->lost_noted = lost;
	now = tt_now_ns(CLOCK_MONOTONIC);
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__note_loss(r->slots[i]->assembler, now);
	}
}

/* One more ring's hold (ring_holds grows by doubling). 0 or -ENOMEM. */
static int grow_holds(struct agent *r)
{
	int n = r->nring_holds ? 2 * r->nring_holds : 8;
	struct tt_ring_hold *h = realloc(r->ring_holds, (size_t)n * sizeof(*h));

	if (!h)
		return -ENOMEM;
	memset(h + r->nring_holds, 0, (size_t)(n - r->nring_holds) * sizeof(*h));
	r->ring_holds = h;
	r->nring_holds = n;
	return 0;
}

/*
 * Notes, after a pass begun at `now`, where the drain stopped in each ring:
 * short of its end at a record reserved but not committed yet, the ring
 * holds the horizon (tt_ring_hold__see()). Returns the rings noted.
 */
static size_t see_rings(struct agent *r, uint64_t now)
{
	uint64_t cons, prod;
	int i;

	if (!r->bpf->ring_pos)
		return 0;
	for (i = 0; r->bpf->ring_pos(r->loader, i, &cons, &prod) == 0; i++) {
		if (i >= r->nring_holds && grow_holds(r))
			break; /* out of memory: the rings noted so far */
		if (tt_ring_hold__see(&r->ring_holds[i], cons, prod, r->drained_ns, now,
				      RING_BUSY_BOUND_NS)) {
			r->rings_stuck++;
			tt_warn("a record of ring buffer %d stayed reserved over %llu ms: "
				"the events after it may come out of order",
				i, RING_BUSY_BOUND_NS / 1000000);
		}
	}
	return (size_t)i;
}

/*
 * Why a priority: each traced call costs the agent CPU time on the same
 * cores the target runs on. A target in a tight loop on every core took
 * most of the time slices while the drain waited, its rings overflowed
 * (part 1 of `make bench`: a third of 2.4M events lost with 8 MB rings),
 * and the agent then did the same work anyway, later. At nice -10 the
 * drain runs when its 1 ms timer fires; the CPU it takes is what the events
 * cost, no more (it sleeps between passes), and none is lost. Linux applies
 * a nice to one thread: the exporter's threads keep theirs.
 */
void events__prioritize(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (setpriority(PRIO_PROCESS, (id_t)tid, DRAIN_NICE))
		tt_info("cannot raise the event loop's priority (nice %d): %s; under CPU "
			"contention the rings may fill",
			DRAIN_NICE, strerror(errno));
}

void events__drain(struct agent *r, uint64_t horizon)
{
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);
	size_t nrings;

	r->bpf->drain(r->loader);
	note_loss(r);
	/* a ring the drain stopped short in (a busy record) holds the horizon */
	nrings = see_rings(r, now);
	r->drained_ns = now;
	horizon = tt_ring_hold__horizon(r->ring_holds, nrings, horizon, REORDER_SLACK_NS);
	tt_reorder__flush(&r->reorder, horizon, on_ordered_event, r);
	/* a flush of everything (a reload, the stop) leaves behind what the rings hold late */
	if (horizon > now - REORDER_SLACK_NS)
		horizon = now - REORDER_SLACK_NS;
	if (horizon > r->horizon_ns)
		r->horizon_ns = horizon;
	if (r->json)
		fflush(stdout); /* once per pass, not once per span */
}

/* A hook's name as people read it: "function", or "provider:probe" for USDT. */
static void hook_name(const struct tt_hook *h, char *buf, size_t len)
{
	if (!h)
		snprintf(buf, len, "?");
	else if (h->usdt)
		snprintf(buf, len, "%s:%s", h->provider, h->usdt);
	else
		snprintf(buf, len, "%s", h->function ? h->function : h->symbol);
}

void events__for_each_hook_lost(const struct agent *r, events_hook_lost_fn fn, void *ctx)
{
	if (!r->loader || !r->bpf->hook_lost || !r->bpf->stat(r->loader, TT_STAT_LOST))
		return;
	for (uint32_t g = 1; g <= TT_MAX_PROBES; g++) {
		char name[160];
		struct slot *s;
		uint64_t n;
		int local;

		s = places__owner(r->places, g, &local);
		if (!s)
			continue;
		n = r->bpf->hook_lost(r->loader, g);
		if (!n)
			continue;
		hook_name(tt_spec__hook(s->spec, local), name, sizeof(name));
		fn(g, name, n, ctx);
	}
}

struct lost_text {
	struct agent *r;
	char *buf;
	size_t len, used;
	uint64_t sum;
};

/* Appends "hook N 'name' COUNT" for a hook that lost events since the last report. */
static void describe_lost(uint32_t gid, const char *name, uint64_t count, void *ctx)
{
	struct lost_text *t = ctx;
	uint64_t *reported = &t->r->hook_lost_reported[gid];
	int n;

	if (count <= *reported)
		return;
	if (t->used + 1 < t->len) {
		n = snprintf(t->buf + t->used, t->len - t->used, "%shook %u '%s' %" PRIu64,
			     t->used ? ", " : "", gid, name, count - *reported);
		if (n > 0)
			t->used += (size_t)n;
	}
	t->sum += count - *reported;
	*reported = count;
}

/*
 * Appends to buf, for each hook that lost events since the last report,
 * "hook N 'function' COUNT" (the compiled programs count per hook), and
 * returns the sum of those counts.
 */
static uint64_t lost_by_hook(struct agent *r, char *buf, size_t len)
{
	struct lost_text t = {.r = r, .buf = buf, .len = len};

	events__for_each_hook_lost(r, describe_lost, &t);
	return t.sum;
}

void events__report_lost(struct agent *r)
{
	char hooks[1024] = "";
	/*
	 * The hooks' counts first, then the total: BPF counts a loss in the
	 * total before its hook's, so the total read last holds all the hooks
	 * did. A loss its hook has not counted yet is reported next time.
	 */
	uint64_t by_hook = lost_by_hook(r, hooks, sizeof(hooks));
	uint64_t lost = r->bpf->stat(r->loader, TT_STAT_LOST);
	uint64_t lost_exits = r->bpf->stat(r->loader, TT_STAT_LOST_EXITS);

	if (lost > r->lost_reported) {
		uint64_t n = by_hook ? by_hook : lost - r->lost_reported;

		tt_warn("%" PRIu64 " events lost: the ring buffer was full (raise --ring-size)%s%s",
			n, hooks[0] ? ": " : "", hooks);
		r->lost_reported += n;
	}
	if (lost_exits > r->lost_exits_reported) {
		tt_warn("%" PRIu64
			" exit events lost: the ring buffer was full (raise --ring-size)",
			lost_exits - r->lost_exits_reported);
		r->lost_exits_reported = lost_exits;
	}
}

/*
 * Says that generators or coroutines a Python probe names ran, untraced:
 * once when the first is seen, and (final) the total as the agent stops.
 */
void events__report_py_gen(struct agent *r, bool final)
{
	uint64_t runs = r->bpf->stat(r->loader, TT_STAT_PY_GEN);

	if (!runs || (!final && r->py_gen_warned))
		return;
	tt_warn("%" PRIu64 " runs of generator or coroutine functions that python probes name "
		"were not traced: tasktap follows generators and coroutines only on 3.11 builds "
		"with USDT probes, not on this interpreter (probe the function that runs it, or a "
		"plain function it calls)",
		runs);
	r->py_gen_warned = true;
}

/* The span sink: metrics, then step lines, console or JSON lines, and OTLP. */
void events__on_span(const struct tt_span *span, void *ctx)
{
	struct slot *s = ctx;
	struct agent *r = s->agent;

	tt_metrics__span(span, r->metrics);
	if (r->traces)
		tt_traces__span(span, r->traces);
	if (r->log_steps)
		tt_steplines__span(span, &r->steplines);
	if (r->console)
		tt_console__span(span, r->console);
	if (r->json) {
		/* the service of the spec the span comes from */
		if (s->spec->service)
			r->jsonl.service = s->spec->service;
		tt_jsonl__span(span, &r->jsonl);
	}
	if (r->exporter)
		tt_exporter__span(span, r->exporter);
}

/* Sums the assemblers' counters. */
void events__asm_stats(const struct agent *r, struct tt_asm_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < r->nslots; i++) {
		struct tt_asm_stats st;

		if (!r->slots[i]->assembler)
			continue;
		tt_asm__stats(r->slots[i]->assembler, &st);
		sum->events += st.events;
		sum->open_spans += st.open_spans;
		sum->evictions += st.evictions;
		sum->spans_finished += st.spans_finished;
		sum->cut_by_exit += st.cut_by_exit;
		sum->cut_by_loss += st.cut_by_loss;
		sum->orphan_returns += st.orphan_returns;
		sum->unpaired_ends += st.unpaired_ends;
	}
	/* exits go to every assembler: count them once */
	if (r->nslots && r->slots[0]->assembler) {
		struct tt_asm_stats st;

		tt_asm__stats(r->slots[0]->assembler, &st);
		sum->exits = st.exits;
	}
}

void events__for_each_unannotated(const struct agent *r, events_unannotated_fn fn, void *ctx)
{
	for (size_t i = 0; i < r->nslots; i++) {
		const struct slot *s = r->slots[i];

		if (!s->assembler || !s->spec)
			continue;
		for (int id = 1; id <= s->spec->nhooks; id++) {
			const struct tt_hook *h = tt_spec__hook(s->spec, id);
			uint64_t n;

			if (!h || h->probe->role != TT_ROLE_ANNOTATE)
				continue;
			n = tt_asm__unannotated(s->assembler, id);
			if (n)
				fn(s, h, n, ctx);
		}
	}
}

struct unannotated_text {
	char buf[1024];
	size_t used;
	uint64_t total;
};

static void describe_unannotated(const struct slot *s, const struct tt_hook *h, uint64_t count,
				 void *ctx)
{
	struct unannotated_text *t = ctx;
	const char *fn = h->usdt ? h->usdt : h->function ? h->function : h->symbol;
	int n;

	t->total += count;
	if (t->used + 1 >= sizeof(t->buf))
		return;
	n = snprintf(t->buf + t->used, sizeof(t->buf) - t->used, "%s'%s' (%s:%d) %" PRIu64,
		     t->used ? ", " : "", fn, s->spec->path, h->pos.line, count);
	if (n > 0)
		t->used += (size_t)n;
}

void events__report_unannotated(const struct agent *r)
{
	struct unannotated_text t = {.used = 0};

	events__for_each_unannotated(r, describe_unannotated, &t);
	if (t.total)
		tt_info("annotate probes found no open span to complete %" PRIu64 " time%s: %s",
			t.total, t.total == 1 ? "" : "s", t.buf);
}
