// SPDX-License-Identifier: MIT
/*
 * Compiled against interpreted captures, on real target processes
 * (tests/e2e/test_bpfgen.py): every hook of SPEC is attached twice to the
 * same places, by two loaders, one running the programs bpfgen compiles
 * (user/bpfgen.c), one the generic interpreter (bpf/tasktap.bpf.c); then
 * each COMMAND runs to its end, and the events of each hook, in time
 * order, are compared field by field and record by record (the bytes of
 * each record, not the padding between records).
 *
 *	bpfgen-compare SPEC COMMAND...
 *
 * A whole call the compiled side writes (a uprobe session program's
 * TT_EV_CALL) is compared as its entry and return events.
 *
 * Prints one JSON object: events per form, whole calls, the records that were faults
 * and truncations, the programs compiled, and every difference found.
 * Exits 0 when the run could be made (whatever it found), 1 when not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader.h"
#include "resolve.h"
#include "spec.h"
#include "tasktap/capture.h"
#include "tasktap/event.h"

#define MAX_EVENTS 100000

struct stream {
	struct tt_event **ev;
	size_t n;
};

static int keep(const struct tt_event *ev, size_t size, void *ctx);

/* Whole calls (TT_EV_CALL) the compiled side wrote: a uprobe session program's. */
static int ncalls;

/*
 * A whole call as the two events the interpreter writes for it: its entry
 * (the entry's time, no return value) and its return (the return's
 * records), so that its captures compare record by record.
 */
static int split_call(const struct tt_event *ev, size_t size, void *ctx)
{
	union {
		struct tt_event h;
		uint8_t b[TT_MAX_CALL_EVENT];
	} half;
	struct tt_call_tail tail;
	size_t rest;
	int ret;

	if (size < sizeof(*ev) + sizeof(tail) || size > sizeof(half))
		return 0;
	ncalls++;
	memcpy(&tail, (const uint8_t *)ev + size - sizeof(tail), sizeof(tail));
	if (tail.entry_len > size - sizeof(*ev) - sizeof(tail))
		return 0;
	half.h = *ev;
	half.h.kind = TT_EV_ENTRY;
	half.h.ts_ns = tail.start_ns;
	half.h.ret = 0;
	half.h.ncaps = tail.entry_ncaps;
	half.h.size = (uint32_t)(sizeof(*ev) + tail.entry_len);
	memcpy(half.b + sizeof(*ev), ev + 1, tail.entry_len);
	ret = keep(&half.h, half.h.size, ctx);
	if (ret)
		return ret;
	/* the return's records: up to the tail, less the padding before it */
	rest = size - sizeof(tail) - sizeof(*ev) - tail.entry_len;
	half.h = *ev;
	half.h.kind = TT_EV_RETURN;
	half.h.ncaps = ev->ncaps - tail.entry_ncaps;
	memcpy(half.b + sizeof(*ev), (const uint8_t *)(ev + 1) + tail.entry_len, rest);
	{
		size_t off = 0;

		for (uint32_t k = 0; k < half.h.ncaps && off + sizeof(struct tt_cap_rec) <= rest;
		     k++) {
			struct tt_cap_rec r;

			memcpy(&r, half.b + sizeof(*ev) + off, sizeof(r));
			off = (off + sizeof(r) + r.len + 3) & ~(size_t)3;
		}
		half.h.size = (uint32_t)(sizeof(*ev) + off);
	}
	return keep(&half.h, half.h.size, ctx);
}

static int keep(const struct tt_event *ev, size_t size, void *ctx)
{
	struct stream *s = ctx;
	struct tt_event *copy;

	if (ev->kind == TT_EV_CALL)
		return split_call(ev, size, ctx);
	if (ev->kind != TT_EV_ENTRY && ev->kind != TT_EV_RETURN)
		return 0;
	if (s->n >= MAX_EVENTS || size < sizeof(*ev))
		return 0;
	copy = malloc(size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, ev, size);
	s->ev[s->n++] = copy;
	return 0;
}

/* By hook, then time: the calls of one hook in the order they were made. */
static int by_hook_time(const void *a, const void *b)
{
	const struct tt_event *x = *(const struct tt_event *const *)a;
	const struct tt_event *y = *(const struct tt_event *const *)b;

	if (x->probe != y->probe)
		return x->probe < y->probe ? -1 : 1;
	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	return 0;
}

static int ndiff, nfault, ntrunc;

static void differ(const char *what, const struct tt_event *a, size_t i)
{
	printf("%s\"hook %u event %zu: %s\"", ndiff ? ", " : "", a->probe, i, what);
	ndiff++;
}

/* Compares the records of two events of the same hook. */
static void compare_records(const struct tt_event *a, const struct tt_event *b, size_t i)
{
	size_t oa = sizeof(*a), ob = sizeof(*b);
	char what[128];

	for (uint32_t k = 0; k < a->ncaps && k < b->ncaps; k++) {
		struct tt_cap_rec ra, rb;

		if (oa + sizeof(ra) > a->size || ob + sizeof(rb) > b->size) {
			differ("a record past the event's end", a, i);
			return;
		}
		memcpy(&ra, (const char *)a + oa, sizeof(ra));
		memcpy(&rb, (const char *)b + ob, sizeof(rb));
		nfault += (ra.flags & TT_CAPF_FAULT) != 0;
		ntrunc += (ra.flags & TT_CAPF_TRUNCATED) != 0;
		if (ra.len != rb.len || ra.type != rb.type || ra.flags != rb.flags ||
		    oa + sizeof(ra) + ra.len > a->size ||
		    memcmp((const char *)a + oa + sizeof(ra), (const char *)b + ob + sizeof(rb),
			   ra.len)) {
			snprintf(what, sizeof(what),
				 "capture %u: len %u type %u flags %u, interpreted len %u type %u "
				 "flags %u or other bytes",
				 k, ra.len, ra.type, ra.flags, rb.len, rb.type, rb.flags);
			differ(what, a, i);
			return;
		}
		oa += (sizeof(ra) + ra.len + 3) & ~3u;
		ob += (sizeof(rb) + rb.len + 3) & ~3u;
	}
}

static void compare(struct stream *a, struct stream *b)
{
	char what[160];

	qsort(a->ev, a->n, sizeof(*a->ev), by_hook_time);
	qsort(b->ev, b->n, sizeof(*b->ev), by_hook_time);
	if (a->n != b->n) {
		printf("%s\"%zu events compiled, %zu interpreted\"", ndiff++ ? ", " : "", a->n,
		       b->n);
		return;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct tt_event *x = a->ev[i], *y = b->ev[i];

		if (x->probe != y->probe || x->kind != y->kind || x->pid != y->pid ||
		    x->tid != y->tid || x->flags != y->flags || x->ret != y->ret ||
		    x->size != y->size || x->ncaps != y->ncaps) {
			snprintf(what, sizeof(what),
				 "header: kind %u ret %lld size %u ncaps %u, interpreted hook %u "
				 "kind %u ret %lld size %u ncaps %u",
				 x->kind, (long long)x->ret, x->size, x->ncaps, y->probe, y->kind,
				 (long long)y->ret, y->size, y->ncaps);
			differ(what, x, i);
			continue;
		}
		compare_records(x, y, i);
	}
}

static int run(char *const *argv)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int main(int argc, char **argv)
{
	static struct tt_event *eva[MAX_EVENTS], *evb[MAX_EVENTS];
	struct stream a = {.ev = eva}, b = {.ev = evb};
	struct tt_loader_opts oa = {.on_event = keep, .ctx = &a};
	struct tt_loader_opts ob = {.on_event = keep, .ctx = &b, .interpret = true};
	struct tt_loader *la = NULL, *lb = NULL;
	struct tt_spec *spec = NULL;
	struct tt_plan plan = {0};
	int compiled, interpreted, ic, ii, shared, members, ret = 1;
	char err[1024];

	if (argc < 3) {
		fprintf(stderr, "usage: %s SPEC COMMAND...\n", argv[0]);
		return 2;
	}
	if (tt_spec__load(argv[1], &spec, err, sizeof(err)) ||
	    tt_plan__build(spec, 0, NULL, &plan, err, sizeof(err))) {
		fprintf(stderr, "bpfgen-compare: %s\n", err);
		goto cleanup;
	}
	la = tt_loader__new(&oa, err, sizeof(err));
	lb = la ? tt_loader__new(&ob, err, sizeof(err)) : NULL;
	if (!la || !lb) {
		fprintf(stderr, "bpfgen-compare: %s\n", err);
		goto cleanup;
	}
	for (int id = 1; tt_spec__hook(spec, id); id++) {
		if (tt_loader__set_hook(la, id, &tt_spec__hook(spec, id)->prog) ||
		    tt_loader__set_hook(lb, id, &tt_spec__hook(spec, id)->prog)) {
			fprintf(stderr, "bpfgen-compare: cannot store hook %d\n", id);
			goto cleanup;
		}
	}
	for (size_t i = 0; i < plan.n; i++) {
		const struct tt_attachment *at = &plan.at[i];
		const struct tt_hook *h = at->hook;
		struct tt_loader *l[2] = {la, lb};

		for (int k = 0; k < 2; k++) {
			int r = at->usdt ? tt_loader__attach_usdt(l[k], h->id, at->path,
								  h->provider, h->usdt, -1, NULL,
								  NULL, err, sizeof(err))
					 : tt_loader__attach(l[k], h->id, at->path, at->offset,
							     at->retprobe, -1, NULL, NULL, err,
							     sizeof(err));
			if (r) {
				fprintf(stderr, "bpfgen-compare: %s\n", err);
				goto cleanup;
			}
		}
	}
	for (int i = 2; i < argc; i++) {
		char *cmd[] = {argv[i], NULL};

		if (run(cmd)) {
			fprintf(stderr, "bpfgen-compare: '%s' failed\n", argv[i]);
			goto cleanup;
		}
	}
	tt_loader__drain(la);
	tt_loader__drain(lb);
	tt_loader__programs(la, &compiled, &interpreted);
	tt_loader__programs(lb, &ic, &ii);
	shared = tt_loader__shared_sites(la, &members);
	printf("{\"shared_sites\": %d, \"shared_members\": %d, \"calls\": %d, ", shared, members,
	       ncalls);
	printf("\"attachments\": %zu, \"compiled\": %d, \"not_compiled\": %d, "
	       "\"interpreter_compiled\": %d, \"events\": [%zu, %zu], \"lost\": [%llu, %llu], "
	       "\"differences\": [",
	       plan.n, compiled, interpreted, ic, a.n, b.n,
	       (unsigned long long)tt_loader__stat(la, TT_STAT_LOST),
	       (unsigned long long)tt_loader__stat(lb, TT_STAT_LOST));
	compare(&a, &b);
	printf("], \"faults\": %d, \"truncated\": %d, \"cap_faults\": [%llu, %llu]}\n", nfault,
	       ntrunc, (unsigned long long)tt_loader__stat(la, TT_STAT_CAP_FAULTS),
	       (unsigned long long)tt_loader__stat(lb, TT_STAT_CAP_FAULTS));
	ret = 0;
cleanup:
	tt_loader__free(la);
	tt_loader__free(lb);
	tt_plan__release(&plan);
	tt_spec__free(spec);
	return ret;
}
