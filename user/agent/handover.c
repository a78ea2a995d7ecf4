// SPDX-License-Identifier: MIT
/* The --pin hand-off: open spans handed to the next agent through the pin directory. */
/*
 * The spans still open when an agent stops are kept as fixed-size records
 * in a BPF array map pinned as DIR/handover (bpffs holds no plain files)
 * beside the pinned rings, and continued by the next agent, which takes
 * them once.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agent/agent.h"
#include "ledger.h"
#include "helpers.h"
#include "log.h"

#define HANDOVER_NAME "handover"

static void handover_path(const char *dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, HANDOVER_NAME);
}

/*
 * Stores `n` records of `size` bytes each at `recs` as DIR/handover,
 * replacing what an earlier agent left there. Returns 0, or -errno with a
 * message in err.
 */
static int handover_put(const char *dir, const void *recs, size_t size, size_t n, char *err,
			size_t errlen)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	handover_path(dir, path, sizeof(path));
	unlink(path);
	if (!n)
		return 0;
	if (size > UINT_MAX || n > UINT_MAX) {
		snprintf(err, errlen, "cannot hand over %zu records of %zu bytes", n, size);
		return -E2BIG;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tt_handover", sizeof(__u32), (__u32)size, (__u32)n,
			    NULL);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create the handover map (%zu x %zu bytes): %s", n,
			 size, strerror(-ret));
		return ret;
	}
	for (__u32 i = 0; !ret && i < n; i++) {
		if (bpf_map_update_elem(fd, &i, (const char *)recs + i * size, BPF_ANY))
			ret = -errno;
	}
	if (!ret && bpf_obj_pin(fd, path))
		ret = -errno;
	if (ret)
		snprintf(err, errlen, "cannot store the handover in '%s': %s", path,
			 strerror(-ret));
	close(fd);
	return ret;
}

/*
 * Takes what the earlier agent left: calls fn for each record, in the
 * order it was stored, then removes it. Records of another size (another
 * version of tasktap) are not read: that is -EPROTO with a message.
 * Returns how many records there were (0 when there is nothing to take),
 * or -errno with a message in err.
 */
static int handover_take(const char *dir, size_t size, void (*fn)(const void *rec, void *ctx),
			 void *ctx, char *err, size_t errlen)
{
	struct bpf_map_info info = {0};
	__u32 info_len = sizeof(info);
	char path[PATH_MAX];
	void *rec = NULL;
	int fd, ret;

	handover_path(dir, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(-ret));
		return ret;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		ret = -errno;
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(-ret));
	} else if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != size) {
		ret = -EPROTO;
		snprintf(err, errlen,
			 "'%s' holds %u records of %u bytes from another version of tasktap "
			 "(this one reads %zu bytes): left alone",
			 path, info.max_entries, info.value_size, size);
	} else if (!(rec = malloc(size))) {
		ret = -ENOMEM;
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(ENOMEM));
	} else {
		for (__u32 i = 0; i < info.max_entries; i++) {
			if (bpf_map_lookup_elem(fd, &i, rec) == 0)
				fn(rec, ctx);
		}
		ret = (int)info.max_entries;
		unlink(path);
	}
	free(rec);
	close(fd);
	return ret;
}

/* ---- the agent's part: open spans as records ------------------------------ */

#define HANDOVER_VERSION 1

/*
 * An open span as one agent hands it to the next. The hook is named by
 * its global id, which the same specs give the same hook in the next
 * agent, and checked by its probe's digest.
 */
struct handover_rec {
	uint32_t version; /* HANDOVER_VERSION */
	uint16_t gid;
	uint16_t pad;
	uint64_t digest; /* of the span's probe */
	struct tt_span span;
};

struct handover {
	struct agent *r;
	struct slot *slot;
	struct handover_rec *recs; /* owned */
	size_t n, cap;
	bool short_of_memory; /* some span could not be kept: hand none over */
	size_t continued, refused;
};

static void hand_over_span(const struct tt_span *span, void *ctx)
{
	struct handover *h = ctx;
	struct handover_rec *rec;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 256;
		struct handover_rec *more = realloc(h->recs, cap * sizeof(*more));

		if (!more) {
			h->short_of_memory = true;
			return;
		}
		h->recs = more;
		h->cap = cap;
	}
	rec = &h->recs[h->n++];
	memset(rec, 0, sizeof(*rec));
	rec->version = HANDOVER_VERSION;
	rec->gid = h->slot->gid[span->hook->id];
	rec->digest = span->probe->digest;
	rec->span = *span;
	rec->span.probe = NULL;
	rec->span.hook = NULL;
}

/*
 * With --pin, the spans still open when the agent stops are handed to the
 * next agent instead of being ended: their ends are recorded in the
 * pinned rings meanwhile. Returns whether they were (else they are ended).
 */
bool handover__give(struct agent *r)
{
	struct handover h = {.r = r};
	char err[512];
	int ret;

	for (size_t i = 0; i < r->nslots; i++) {
		h.slot = r->slots[i];
		if (h.slot->assembler)
			tt_asm__for_each_open(h.slot->assembler, hand_over_span, &h);
	}
	if (h.short_of_memory) {
		snprintf(err, sizeof(err), "cannot hand the open spans over: %s", strerror(ENOMEM));
		ret = -ENOMEM;
	} else {
		ret = handover_put(r->pin_dir, h.recs, sizeof(*h.recs), h.n, err, sizeof(err));
	}
	free(h.recs);
	if (ret) {
		tt_warn("%s: ending the open spans instead", err);
		return false;
	}
	if (h.n)
		tt_info("handed %zu open spans over to the next agent (in %s)", h.n, r->pin_dir);
	return true;
}

static void take_span(const void *p, void *ctx)
{
	const struct handover_rec *rec = p;
	struct handover *h = ctx;
	const struct tt_hook *hook = NULL;
	struct slot *owner;
	int local = 0;

	owner = places__owner(h->r->places, rec->gid, &local);
	if (rec->version == HANDOVER_VERSION && owner && owner->spec)
		hook = tt_spec__hook(owner->spec, local);
	if (hook && hook->probe->digest == rec->digest &&
	    tt_asm__restore(owner->assembler, &rec->span, hook) == 0)
		h->continued++;
	else
		h->refused++;
}

/* Continues the spans the agent before this one left open (see handover__give()). */
void handover__take(struct agent *r)
{
	struct handover h = {.r = r};
	char err[512];
	int n = handover_take(r->pin_dir, sizeof(struct handover_rec), take_span, &h, err,
			      sizeof(err));

	if (n < 0)
		tt_warn("%s", err);
	if (h.continued)
		tt_info("continuing %zu spans the earlier agent left open", h.continued);
	if (h.refused)
		tt_warn("cannot continue %zu spans the earlier agent left open: their probes are "
			"not in the specs now",
			h.refused);
}

/* What the agent before lost when it was killed, said at the start and in the summary. */
static void say_prev(const struct tt_ledger_prev *p)
{
	if (!p->killed)
		return;
	if (p->unsent)
		tt_warn("%" PRIu64 " spans of the previous agent (pid %" PRIu64 ") lost: it was "
			"killed before sending them",
			p->unsent, p->pid);
	if (p->counted_lost)
		tt_warn("%" PRIu64 " spans lost by the previous agent (pid %" PRIu64 ") before it "
			"was killed: their end came without their start",
			p->counted_lost, p->pid);
}

void handover__open_ledger(struct agent *r)
{
	char err[512];

	if (!r->pin_dir)
		return;
	r->ledger = tt_ledger__open(r->pin_dir, &r->prev, err, sizeof(err));
	if (!r->ledger) {
		tt_warn("%s: spans lost if this agent is killed will not be counted by the next",
			err);
		return;
	}
	say_prev(&r->prev);
}

void handover__note_lost(struct agent *r)
{
	struct tt_asm_stats st;

	if (!r->ledger)
		return;
	events__asm_stats(r, &st);
	__atomic_store_n(&tt_ledger__page(r->ledger)->counted_lost, st.orphan_returns,
			 __ATOMIC_RELAXED);
	/* what a SIGKILL now would take with it before the spans are made */
	__atomic_store_n(&tt_ledger__page(r->ledger)->ends_unread, r->ends_unread,
			 __ATOMIC_RELAXED);
}

void handover__report_ledger(const struct agent *r)
{
	say_prev(&r->prev);
}
