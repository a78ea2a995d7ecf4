// SPDX-License-Identifier: MIT
/*
 * The assembler (see assemble.h). Open spans live in a slab of fixed-size
 * slots allocated in chunks as needed, up to max_open_spans; small
 * open-addressing tables index them:
 *
 *   threads: (pid, tid)       -> the innermost open span paired per thread
 *   tasks:   hash(key)        -> the newest open task span with that key
 *   tries:   hash(key, step)  -> spans seen so far and when, for attempts
 *   async:   hash(probe, key) -> the newest open begin/end span
 *   pubs:    hash(key, msg id) -> publishes of it seen, and the newest's span id
 *
 * Each open span paired per thread links to the span below it on its
 * thread, and each begin/end span to the next older one with its hash, so
 * neither needs storage of its own. Every open span is
 * also on an age list, oldest first, which is what eviction takes from.
 *
 * This file: the assembler made and freed, slots, capture records, the
 * indexes, a span started and ended, and tt_asm__push(). Identity is in
 * assemble_identity.c, pairing an end with its start in assemble_pairing.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "assemble.h"
#include "assemble_internal.h"
#include "hex.h"
#include "table.h"

uint64_t asm__key_hash(const uint8_t *key, size_t len)
{
	return table_key(XXH3_64bits(key, len));
}

uint64_t asm__thread_key(uint32_t pid, uint32_t tid)
{
	return table_key(((uint64_t)pid << 32) | tid);
}

struct tt_asm *tt_asm__new(const struct tt_asm_opts *opts)
{
	struct tt_asm *a;
	uint32_t max_chunks;

	if (!opts || !opts->spec || !opts->on_span) {
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->opts = *opts;
	if (!a->opts.max_open_spans)
		a->opts.max_open_spans = TT_DEFAULT_MAX_OPEN_SPANS;
	if (!a->opts.retry_window_ns)
		a->opts.retry_window_ns = TT_DEFAULT_RETRY_WINDOW_NS;
	if (!a->opts.max_tries)
		a->opts.max_tries = TT_MAX_TRIES;
	if (!a->opts.async_ttl_ns)
		a->opts.async_ttl_ns = TT_DEFAULT_ASYNC_TTL_NS;
	for (int i = 1; i <= opts->spec->nprobes; i++)
		a->has_publish |= tt_spec__probe(opts->spec, i)->role == TT_ROLE_PUBLISH;
	a->salt = opts->salt ? opts->salt : opts->spec->salt ? opts->spec->salt : TT_DEFAULT_SALT;
	a->rng = opts->seed ? opts->seed : 0x9E3779B97F4A7C15ULL;
	a->free_head = NIL;
	a->oldest = NIL;
	a->newest = NIL;
	max_chunks = (a->opts.max_open_spans + CHUNK_SLOTS - 1) / CHUNK_SLOTS;
	a->chunks = calloc(max_chunks, sizeof(*a->chunks));
	a->work = malloc(sizeof(*a->work));
	a->done = malloc(sizeof(*a->done));
	a->peek = malloc(sizeof(*a->peek));
	if (!a->chunks || !a->work || !a->done || !a->peek ||
	    asm__slot_table_init(&a->threads, BY_THREAD, 64) ||
	    asm__slot_table_init(&a->tasks, BY_KEY, 64) || asm__tries_init(&a->tries, 256) ||
	    asm__slot_table_init(&a->async, BY_ASYNC, 64) ||
	    asm__slot_table_init(&a->consumes, BY_KEY, 64) || tt_table__init(&a->pubs, 64)) {
		tt_asm__free(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

void tt_asm__free(struct tt_asm *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->nchunks; i++)
		free(a->chunks[i]);
	free(a->chunks);
	asm__open_store_release(&a->store);
	free(a->work);
	free(a->done);
	free(a->peek);
	asm__slot_table_release(&a->threads);
	asm__slot_table_release(&a->tasks);
	asm__tries_release(&a->tries);
	asm__slot_table_release(&a->async);
	asm__slot_table_release(&a->consumes);
	tt_table__release(&a->pubs);
	free(a);
}

void tt_asm__stats(const struct tt_asm *a, struct tt_asm_stats *stats)
{
	*stats = a->stats;
	stats->tries = a->tries.len;
	stats->span_bytes = (uint64_t)a->nslots * sizeof(struct slot) + a->store.bytes;
	stats->index_bytes =
		((uint64_t)a->threads.cap + a->tasks.cap + a->async.cap + a->consumes.cap) *
		sizeof(int32_t);
	stats->tries_bytes = (uint64_t)asm__tries_cap(&a->tries) * sizeof(struct asm_try) +
			     (uint64_t)a->pubs.cap * sizeof(struct tt_table_entry);
}

uint64_t tt_asm__unannotated(const struct tt_asm *a, int hook_id)
{
	return hook_id > 0 && hook_id <= TT_MAX_PROBES ? a->unannotated[hook_id] : 0;
}

void tt_asm__for_each_task(const struct tt_asm *a, size_t max, tt_task_fn fn, void *ctx)
{
	struct tt_span task, step;
	size_t n = 0;

	for (int32_t i = a->oldest; i != NIL && (!max || n < max); i = slot_at(a, i)->newer) {
		const struct slot *t = slot_at(a, i);

		if (t->span.probe->role != TT_ROLE_TASK)
			continue;
		asm__open_load(a, i, &task);
		if (t->cur_step != NIL)
			asm__open_load(a, t->cur_step, &step);
		fn(&task, t->cur_step != NIL ? &step : NULL, ctx);
		n++;
	}
}

/* Age list: oldest <-> ... <-> newest. */
static void age_append(struct tt_asm *a, int32_t i)
{
	struct slot *s = slot_at(a, i);

	s->older = a->newest;
	s->newer = NIL;
	if (a->newest != NIL)
		slot_at(a, a->newest)->newer = i;
	else
		a->oldest = i;
	a->newest = i;
}

static void age_remove(struct tt_asm *a, int32_t i)
{
	struct slot *s = slot_at(a, i);

	if (s->older != NIL)
		slot_at(a, s->older)->newer = s->newer;
	else
		a->oldest = s->newer;
	if (s->newer != NIL)
		slot_at(a, s->newer)->older = s->older;
	else
		a->newest = s->older;
}

/* Returns a free slot, growing the slab or evicting the oldest span. */
int32_t asm__slot_get(struct tt_asm *a)
{
	int32_t i;

	if (a->free_head == NIL && a->nslots < a->opts.max_open_spans) {
		struct slot *chunk = calloc(CHUNK_SLOTS, sizeof(*chunk));
		uint32_t base = a->nslots;
		uint32_t n = CHUNK_SLOTS;

		if (!chunk)
			return NIL;
		if (n > a->opts.max_open_spans - base)
			n = a->opts.max_open_spans - base;
		a->chunks[a->nchunks++] = chunk;
		for (uint32_t k = n; k-- > 0;) {
			chunk[k].next_free = a->free_head;
			a->free_head = base + k;
		}
		a->nslots += n;
	}
	if (a->free_head == NIL) {
		const struct open_span *old = &slot_at(a, a->oldest)->span;

		a->stats.evictions++;
		asm__end_span(a, a->oldest, old->start_ns, TT_CUT_EVICTED,
			      "evicted: max_open_spans reached");
	}
	i = a->free_head;
	a->free_head = slot_at(a, i)->next_free;
	return i;
}

void asm__slot_put(struct tt_asm *a, int32_t i)
{
	struct slot *s = slot_at(a, i);

	asm__open_drop(a, i);
	s->used = false;
	s->next_free = a->free_head;
	a->free_head = i;
}

/*
 * Indexes the capture records of a payload. Returns how many records it
 * holds, or -1 when a record runs past the end.
 */
static int payload_records(const uint8_t *p, size_t len, const struct tt_cap_rec **recs, int max)
{
	size_t off = 0;
	int n = 0;

	while (off < len && n < max) {
		const struct tt_cap_rec *r = (const void *)(p + off);

		if (off + sizeof(*r) > len || off + sizeof(*r) + r->len > len)
			return -1;
		recs[n++] = r;
		off = (off + sizeof(*r) + r->len + 3) & ~(size_t)3;
	}
	return n;
}

/* Record `index` of a payload, or NULL. */
static const struct tt_cap_rec *record_in(const uint8_t *p, size_t len, int index)
{
	const struct tt_cap_rec *recs[TT_MAX_CAPTURES];
	int n;

	if (index < 0 || !len)
		return NULL;
	n = payload_records(p, len, recs, TT_MAX_CAPTURES);
	return index < n ? recs[index] : NULL;
}

/* The record of capture `cap` in the span, from the payload of its site; NULL if absent. */
static const struct tt_cap_rec *record(const struct tt_span *s, const struct tt_capture *cap)
{
	if (cap->site == TT_SITE_START)
		return record_in(s->payload, s->payload_len, cap->index);
	return record_in(s->end_payload, s->end_len, cap->index);
}

const struct tt_cap_rec *asm__open_value_of(const struct open_span *o, const struct tt_capture *cap)
{
	const struct tt_cap_rec *r =
		cap->site == TT_SITE_START ? record_in(o->data, o->payload_len, cap->index) : NULL;

	return r && !(r->flags & TT_CAPF_FAULT) ? r : NULL;
}

/* A record that holds a value (it exists and its read did not fault). */
const struct tt_cap_rec *asm__value_of(const struct tt_span *s, const struct tt_capture *cap)
{
	const struct tt_cap_rec *r = record(s, cap);

	return r && !(r->flags & TT_CAPF_FAULT) ? r : NULL;
}

const struct tt_attr *asm__find_attr(const struct tt_probe *p, const char *name, size_t len)
{
	for (int i = 0; i < p->nattrs; i++) {
		if (strlen(p->attrs[i].name) == len && strncmp(p->attrs[i].name, name, len) == 0)
			return &p->attrs[i];
	}
	return NULL;
}

static void redact_into(char *out, size_t room, const void *data, size_t len)
{
	snprintf(out, room, "xxh3:%016" PRIx64, (uint64_t)XXH3_64bits(data, len));
}

/*
 * Hashes the span's redacted values, as far as they are known: at its start
 * (so that its name, /tasks and the in-flight metric never see them) and
 * again at its end, when values read at return are there too.
 */
void asm__note_redactions(struct tt_span *s)
{
	const struct tt_probe *p = s->probe;

	for (int i = 0; i < p->nattrs; i++) {
		const struct tt_attr *at = &p->attrs[i];
		const struct tt_cap_rec *r;

		if (!at->redact)
			continue;
		s->redacted[i][0] = '\0'; /* the slot may have held another span */
		if (at->literal) {
			redact_into(s->redacted[i], sizeof(s->redacted[i]), at->literal,
				    strlen(at->literal));
			continue;
		}
		r = asm__value_of(s, &at->cap);
		if (r)
			redact_into(s->redacted[i], sizeof(s->redacted[i]), record_data(r), r->len);
	}
	s->redacted[TT_MAX_ATTRS][0] = '\0';
	if (p->redact_key && s->key_len)
		redact_into(s->redacted[TT_MAX_ATTRS], sizeof(s->redacted[0]), s->key, s->key_len);
}

/* Writes a captured value as text: integers in decimal, strings and bytes as they are. */
size_t asm__record_text(const struct tt_cap_rec *r, uint8_t *out, size_t room)
{
	size_t n;

	if (r->type == TT_CAP_INT) {
		char digits[TT_U64_DIGITS];
		uint64_t v;
		size_t w;

		/* "%" PRIu64 as snprintf writes it (cut to room - 1, NUL-terminated), faster */
		memcpy(&v, record_data(r), sizeof(v));
		w = tt_u64_digits(digits, v);
		if (!room)
			return 0;
		n = w < room ? w : room - 1;
		memcpy(out, digits, n);
		out[n] = '\0';
		return n;
	}
	n = r->len < room ? r->len : room;
	memcpy(out, record_data(r), n);
	return n;
}

void asm__set_key(struct tt_span *s, const struct tt_capture *cap)
{
	const struct tt_cap_rec *r = asm__value_of(s, cap);

	s->key_len = r ? asm__record_text(r, s->key, sizeof(s->key)) : 0;
}

/* The innermost open span of `role` on the thread (any role when role < 0). */
struct open_span *asm__open_on_thread(struct tt_asm *a, uint32_t pid, uint32_t tid, int role)
{
	int32_t *top = asm__slot_table_get(a, &a->threads, asm__thread_key(pid, tid));

	for (int32_t i = top ? top[0] : NIL; i != NIL; i = slot_at(a, i)->below) {
		const struct open_span *o = &slot_at(a, i)->span;

		/* a whole call sees the spans open at its start, not those begun inside it */
		if (a->asof_ns && o->start_ns > a->asof_ns)
			continue;
		if (role < 0 || o->probe->role == (enum tt_role)role)
			return &slot_at(a, i)->span;
	}
	return NULL;
}

/* The index that keeps open spans of this role by key, or NULL. */
struct slot_table *asm__key_index(struct tt_asm *a, enum tt_role role)
{
	if (role == TT_ROLE_TASK)
		return &a->tasks;
	if (role == TT_ROLE_CONSUME)
		return &a->consumes;
	return NULL;
}

/* The newest open span indexed in `index` (tasks or consumes) with s's key. */
struct open_span *asm__open_with_key(struct tt_asm *a, struct slot_table *index,
				     const struct tt_span *s)
{
	int32_t *v;
	struct open_span *t;

	if (!s->key_len)
		return NULL;
	v = asm__slot_table_get(a, index, asm__key_hash(s->key, s->key_len));
	if (!v)
		return NULL;
	t = &slot_at(a, v[0])->span;
	if (t->key_len != s->key_len || memcmp(open_key(t), s->key, s->key_len) != 0)
		return NULL;
	if (a->asof_ns && t->start_ns > a->asof_ns)
		return NULL; /* begun inside the whole call being started */
	return t;
}

uint64_t asm__async_hash(const struct tt_probe *p, const uint8_t *key, size_t len)
{
	uint8_t b[sizeof(p->id) + TT_KEY_MAX];

	/* one call: the digest of the id then the key, streamed */
	len = len < TT_KEY_MAX ? len : TT_KEY_MAX;
	memcpy(b, &p->id, sizeof(p->id));
	memcpy(b + sizeof(p->id), key, len);
	return table_key(XXH3_64bits(b, sizeof(p->id) + len));
}

/* Marks a slot just taken as holding an open span on no index yet. */
void asm__slot_open(struct slot *sl)
{
	sl->used = true;
	sl->on_stack = false;
	sl->cur_step = NIL;
	sl->parent_task = NIL;
	sl->parent_slot = NIL;
	sl->has_children = false;
	sl->child_exported = false;
	sl->async = 0;
	sl->khash = 0;
	sl->same_key = NIL;
	sl->gen_frame = 0;
}

/*
 * Puts span i on the thread's stack whose top is `top` below the spans
 * begun after a->asof_ns (a call started late, as at its start: a return
 * unwinds the spans above its own, and those begun inside the call are).
 * Returns false when none were: i goes on top.
 */
static bool stack_insert(struct tt_asm *a, int32_t top, int32_t i)
{
	int32_t above = NIL;

	for (int32_t k = top; k != NIL && slot_at(a, k)->span.start_ns > a->asof_ns;
	     k = slot_at(a, k)->below)
		above = k;
	if (above == NIL)
		return false;
	slot_at(a, i)->below = slot_at(a, above)->below;
	slot_at(a, above)->below = i;
	return true;
}

/*
 * Puts open span i on the indexes its pairing and role use (its thread's
 * stack, its (probe, key) chain, the tasks or consumes by key) and on the
 * age list. Returns 0, or -ENOMEM after freeing the slot.
 */
int asm__index_span(struct tt_asm *a, int32_t i)
{
	struct slot *sl = slot_at(a, i);
	const struct open_span *s = &sl->span;
	const struct tt_probe *p = s->probe;
	uint64_t tk = asm__thread_key(s->pid, s->tid);
	int32_t *top;

	if (sl->gen_frame) {
		if (asm__gen_index(a, i))
			return -ENOMEM;
	} else if (p->pairing == TT_PAIR_CALL || p->pairing == TT_PAIR_THREAD) {
		top = asm__slot_table_get(a, &a->threads, tk);
		if (top && a->asof_ns && stack_insert(a, top[0], i)) {
			sl->on_stack = true;
		} else {
			sl->below = top ? top[0] : NIL;
			if (asm__slot_table_put(a, &a->threads, tk, i)) {
				asm__slot_put(a, i);
				return -ENOMEM;
			}
			sl->on_stack = true;
		}
	} else if (p->pairing == TT_PAIR_KEY) {
		if (asm__async_index(a, i, asm__async_hash(p, open_key(s), s->key_len)))
			return -ENOMEM;
	}
	if (asm__key_index(a, p->role) && s->key_len) {
		sl->khash = asm__key_hash(open_key(s), s->key_len);
		if (asm__slot_table_put(a, asm__key_index(a, p->role), sl->khash, i))
			sl->khash = 0; /* out of memory: found by its thread only */
	}
	age_append(a, i);
	if (p->role != TT_ROLE_ANNOTATE)
		a->stats.spans_started++;
	a->stats.open_spans++;
	return 0;
}

/*
 * Keeps the span being started (a->work) in slot i and indexes it; a
 * step's or compensation's name is kept (it starts with its task's, which
 * may end first), other names are built again when the span is loaded.
 * Returns 0, or -ENOMEM after freeing the slot.
 */
static int open_span(struct tt_asm *a, int32_t i, const struct tt_span *s)
{
	const struct tt_probe *p = s->probe;
	bool keep_name = !p->name && (p->role == TT_ROLE_STEP || p->role == TT_ROLE_COMPENSATION);

	if (asm__open_save(a, i, s, keep_name)) {
		asm__slot_put(a, i);
		return -ENOMEM;
	}
	return asm__index_span(a, i);
}

/* The name of open span `o`, built into a->peek. */
static const char *open_name(struct tt_asm *a, const struct open_span *o)
{
	asm__open_load(a, slot_index(a, o), a->peek);
	return a->peek->name;
}

/* Starts a span at entry event ev; returns its slot, or NIL (out of memory, or ended at once). */
static int32_t start_span(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
			  const uint8_t *payload, size_t payload_len)
{
	const struct tt_probe *p = hook->probe;
	int32_t i = asm__slot_get(a);
	struct slot *sl;
	struct tt_span *s = a->work;
	const struct open_span *parent;
	const struct tt_cap_rec *attempt;

	if (i == NIL)
		return NIL;
	sl = slot_at(a, i);
	memset(s, 0, offsetof(struct tt_span, key));
	asm__slot_open(sl);
	if (ev->kind == TT_EV_ENTRY && (ev->flags & TT_EVF_PY_GEN))
		sl->gen_frame = (uint64_t)ev->ret; /* paired by its frame, off the thread's stack */
	s->probe = p;
	s->hook = hook;
	s->start_ns = ev->ts_ns;
	s->pid = ev->pid;
	s->tid = ev->tid;
	s->kind = span_kind(p->role);
	s->payload_len = payload_len;
	memcpy(s->payload, payload, payload_len);
	asm__set_key(s, &p->key);
	asm__random_id(a, s->span_id, sizeof(s->span_id));
	if (p->role == TT_ROLE_ANNOTATE) {
		/* no span of its own: it completes another when it fires (its return) */
		if (open_span(a, i, s))
			return NIL;
		if (p->pairing == TT_PAIR_POINT) {
			asm__finish(a, i, ev, NULL, 0);
			return NIL;
		}
		return i;
	}

	parent = asm__set_identity(a, s, ev);
	if (parent && !memcmp(s->parent_id, parent->span_id, 8)) {
		sl->parent_slot = slot_index(a, parent);
		if (sl->parent_slot != NIL)
			slot_at(a, sl->parent_slot)->has_children = true;
	}
	/* a step's name starts with its task's; a publish linking away has no parent */
	if (parent &&
	    (parent->probe->role != TT_ROLE_TASK || memcmp(s->parent_id, parent->span_id, 8) != 0))
		parent = NULL;
	asm__note_redactions(s);
	asm__name_span(s, parent && (p->role == TT_ROLE_STEP || p->role == TT_ROLE_COMPENSATION)
				  ? open_name(a, parent)
				  : NULL);
	if (parent && (p->role == TT_ROLE_STEP || p->role == TT_ROLE_COMPENSATION)) {
		sl->parent_task = slot_index(a, parent);
		if (sl->parent_task != NIL)
			slot_at(a, sl->parent_task)->cur_step = i;
	}
	attempt = asm__value_of(s, &p->attempt);
	if (attempt && attempt->type == TT_CAP_INT) {
		int64_t v;

		memcpy(&v, record_data(attempt), sizeof(v));
		s->attempt = v > 0 && v < UINT32_MAX ? (uint32_t)v : 0;
	} else if (p->role == TT_ROLE_STEP || p->role == TT_ROLE_COMPENSATION) {
		size_t len;
		const char *step = asm__span_str_attr(s, "step.name", 9, &len);

		if (!step) {
			step = asm__span_function(s);
			len = strlen(step);
		}
		s->attempt = asm__next_attempt(a, s, step, len);
	} else if ((p->role == TT_ROLE_TASK || p->role == TT_ROLE_CONSUME) && s->key_len) {
		/* a job run again (its worker died) is attempt 2, on any process of the node */
		s->attempt = asm__next_attempt(a, s, s->name, strlen(s->name));
	}

	if (open_span(a, i, s))
		return NIL;
	if (p->pairing == TT_PAIR_POINT) {
		asm__finish(a, i, ev, NULL, 0);
		return NIL;
	}
	return i;
}

static void note_unreadable(struct tt_span *s)
{
	const struct tt_probe *p = s->probe;
	size_t off = 0;

	s->unreadable[0] = '\0';
	for (int i = 0; i < p->nattrs; i++) {
		const struct tt_cap_rec *r = record(s, &p->attrs[i].cap);
		int n;

		if (!r || !(r->flags & TT_CAPF_FAULT))
			continue;
		n = snprintf(s->unreadable + off, sizeof(s->unreadable) - off, "%s%s",
			     off ? "," : "", p->attrs[i].name);
		if (n < 0 || (size_t)n >= sizeof(s->unreadable) - off)
			break;
		off += n;
	}
}

/* Takes span i off its thread's stack, wherever it is on it. */
static void stack_remove(struct tt_asm *a, int32_t i)
{
	struct slot *sl = slot_at(a, i);
	uint64_t tk = asm__thread_key(sl->span.pid, sl->span.tid);
	int32_t *v = asm__slot_table_get(a, &a->threads, tk);

	if (v && v[0] == i) {
		if (sl->below == NIL)
			asm__slot_table_del(a, &a->threads, tk);
		else
			v[0] = sl->below;
	} else if (v) {
		for (int32_t k = v[0]; k != NIL; k = slot_at(a, k)->below) {
			if (slot_at(a, k)->below == i) {
				slot_at(a, k)->below = sl->below;
				break;
			}
		}
	}
}

/* Takes span i out of its (probe, key) chain of open begin/end spans. */
void asm__async_remove(struct tt_asm *a, int32_t i)
{
	struct slot *sl = slot_at(a, i);
	int32_t *v = asm__slot_table_get(a, &a->async, sl->async);

	if (v && v[0] == i) {
		if (sl->same_key == NIL)
			asm__slot_table_del(a, &a->async, sl->async);
		else
			v[0] = sl->same_key;
	} else if (v) {
		for (int32_t k = v[0]; k != NIL; k = slot_at(a, k)->same_key) {
			if (slot_at(a, k)->same_key == i) {
				slot_at(a, k)->same_key = sl->same_key;
				break;
			}
		}
	}
}

/*
 * Takes span i off every index it is on, hands it to the sink (loaded
 * whole into a->done, which the sink may not keep) and frees its slot.
 */
void asm__end_span(struct tt_asm *a, int32_t i, uint64_t ts, enum tt_cut cut, const char *why)
{
	asm__open_load(a, i, a->done);
	asm__end_loaded(a, i, a->done, ts, cut, why);
}

void asm__end_loaded(struct tt_asm *a, int32_t i, struct tt_span *s, uint64_t ts, enum tt_cut cut,
		     const char *why)
{
	struct slot *sl = slot_at(a, i);
	int32_t *v;

	if (sl->on_stack)
		stack_remove(a, i);
	if (sl->async)
		asm__async_remove(a, i);
	if (sl->parent_task != NIL) {
		struct slot *t = slot_at(a, sl->parent_task);

		/* the slot may hold another span by now: check it is still the task */
		if (t->used && t->cur_step == i && !memcmp(t->span.span_id, s->parent_id, 8))
			t->cur_step = NIL;
	}
	if (asm__key_index(a, s->probe->role) && sl->khash) {
		v = asm__slot_table_get(a, asm__key_index(a, s->probe->role), sl->khash);
		if (v && v[0] == i)
			asm__slot_table_del(a, asm__key_index(a, s->probe->role), sl->khash);
	}
	age_remove(a, i);
	if (s->probe->role == TT_ROLE_ANNOTATE) {
		a->stats.open_spans--;
		if (cut == TT_CUT_NONE)
			asm__annotate(a, s);
		asm__slot_put(a, i);
		return;
	}
	if (sl->parent_slot != NIL) {
		struct slot *ps = slot_at(a, sl->parent_slot);

		if (ps->used && !memcmp(ps->span.span_id, s->parent_id, 8))
			ps->child_exported = true;
	}

	s->end_ns = ts < s->start_ns ? s->start_ns : ts;
	s->cut = cut;
	/* a span whose end was lost is no failure of the worker: tasktap.cut says what happened */
	if (cut != TT_CUT_NONE && cut != TT_CUT_LOST && cut != TT_CUT_UNWOUND) {
		s->status = TT_STATUS_ERROR;
		snprintf(s->status_msg, sizeof(s->status_msg), "%s", why);
	}
	note_unreadable(s);
	asm__note_redactions(s);
	asm__given_error_type(s);
	a->stats.open_spans--;
	a->stats.spans_finished++;
	a->opts.on_span(s, a->opts.ctx);
	asm__slot_put(a, i);
}

/*
 * Records n of payload p (len bytes), exactly n of them: the bytes they
 * take, or -1 when one runs past the end.
 */
static long records_len(const uint8_t *p, size_t len, uint32_t n)
{
	size_t off = 0;

	for (uint32_t k = 0; k < n; k++) {
		const struct tt_cap_rec *r = (const void *)(p + off);

		if (off + sizeof(*r) > len || off + sizeof(*r) + r->len > len)
			return -1;
		off = (off + sizeof(*r) + r->len + 3) & ~(size_t)3;
	}
	return off <= len ? (long)off : -1;
}

/*
 * A whole call paired in BPF (TT_EV_CALL, event.h): started as its entry
 * event would have started it, with the spans open at its start for
 * parents, then finished as its return event would have finished it; or,
 * when the span of its entry is open already (a call an agent handed over
 * with --pin), only finished.
 * Only hooks whose spans have no children of their spec come this way
 * (tt_spec__session_refusal()), so nothing began inside the call waits for
 * it. Returns 0, or -EINVAL for a malformed event.
 */
static int on_call_event(struct tt_asm *a, const struct tt_event *ev, size_t size,
			 const struct tt_hook *hook)
{
	const uint8_t *payload = (const uint8_t *)(ev + 1);
	struct tt_call_tail tail;
	struct tt_event at;
	size_t room, tail_off = size - sizeof(tail);
	long ret_len;
	int32_t i;

	if (size < sizeof(*ev) + sizeof(tail) || hook->kind != TT_HOOK_START ||
	    hook->probe->pairing != TT_PAIR_CALL || tail_off % 8)
		return -EINVAL;
	memcpy(&tail, (const uint8_t *)ev + tail_off, sizeof(tail));
	room = tail_off - sizeof(*ev);
	if (tail.entry_len > room || tail.entry_ncaps > ev->ncaps ||
	    records_len(payload, tail.entry_len, tail.entry_ncaps) != (long)tail.entry_len)
		return -EINVAL;
	ret_len = records_len(payload + tail.entry_len, room - tail.entry_len,
			      ev->ncaps - tail.entry_ncaps);
	if (ret_len < 0 || ((sizeof(*ev) + tail.entry_len + ret_len + 7) & ~(size_t)7) != tail_off)
		return -EINVAL;
	at = *ev;
	at.kind = TT_EV_RETURN;
	/* its entry already open: a call the agent before this one handed over */
	if (asm__finish_call(a, &at, hook, tail.start_ns, payload + tail.entry_len,
			     (size_t)ret_len))
		return 0;
	at = *ev;
	at.kind = TT_EV_ENTRY;
	at.ts_ns = tail.start_ns;
	at.ret = 0;
	a->asof_ns = tail.start_ns ? tail.start_ns : 1;
	i = start_span(a, &at, hook, payload, tail.entry_len);
	a->asof_ns = 0;
	if (i == NIL)
		return 0;
	at = *ev;
	at.kind = TT_EV_RETURN;
	asm__finish(a, i, &at, payload + tail.entry_len, (size_t)ret_len);
	return 0;
}

/*
 * The entry of a call a session program held (TT_ENTRYF_HELD): its call
 * in flight, or its thread dead in it, or the agent stopping. Started as
 * at its call's start, with the spans open then for parents, unless its
 * span is open already: the agent reads the calls in flight whenever it
 * counts the open tasks (events__peek_calls()), and again when their
 * thread dies or it stops. Its TT_EV_CALL, when the call returns, ends it.
 */
static void start_held(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		       const uint8_t *payload, size_t payload_len)
{
	if (hook->kind != TT_HOOK_START || hook->probe->pairing != TT_PAIR_CALL ||
	    asm__call_open(a, ev->pid, ev->tid, hook, ev->ts_ns))
		return;
	a->asof_ns = ev->ts_ns ? ev->ts_ns : 1;
	start_span(a, ev, hook, payload, payload_len);
	a->asof_ns = 0;
}

int tt_asm__push(struct tt_asm *a, const struct tt_event *ev, size_t size)
{
	const struct tt_hook *hook;
	const struct tt_cap_rec *recs[TT_MAX_CAPTURES];
	const uint8_t *payload = (const uint8_t *)(ev + 1);
	size_t payload_len;

	if (size < sizeof(*ev) || ev->size != size ||
	    size > (ev->kind == TT_EV_CALL ? TT_MAX_CALL_EVENT : TT_MAX_EVENT)) {
		a->stats.malformed++;
		return -EINVAL;
	}
	if (ev->kind == TT_EV_EXIT) {
		a->stats.exits++;
		asm__on_exit_event(a, ev);
		return 0;
	}
	if (ev->kind == TT_EV_EXEC)
		return 0; /* for discovery, not spans */
	if (!(ev->flags & TT_ENTRYF_HELD) || ev->kind != TT_EV_ENTRY)
		a->stats.events++; /* from the rings: a held entry was read from BPF */
	hook = tt_spec__hook(a->opts.spec, ev->probe);
	if (!hook) {
		a->stats.unknown_probes++;
		return 0;
	}
	if (ev->kind == TT_EV_CALL) {
		if (on_call_event(a, ev, size, hook)) {
			a->stats.malformed++;
			return -EINVAL;
		}
		return 0;
	}
	if (ev->kind != TT_EV_ENTRY && ev->kind != TT_EV_RETURN) {
		a->stats.malformed++;
		return -EINVAL;
	}
	payload_len = size - sizeof(*ev);
	if (payload_records(payload, payload_len, recs, TT_MAX_CAPTURES) != (int)ev->ncaps) {
		a->stats.malformed++;
		return -EINVAL;
	}
	if (ev->kind == TT_EV_ENTRY && (ev->flags & TT_ENTRYF_HELD))
		start_held(a, ev, hook, payload, payload_len);
	else if (hook->kind == TT_HOOK_END)
		asm__on_end_event(a, ev, hook, payload,
				  payload_len); /* at entry, or `at: return` */
	else if (ev->kind == TT_EV_RETURN && hook->probe->pairing == TT_PAIR_CALL)
		asm__on_return_event(a, ev, hook, payload, payload_len);
	else
		start_span(a, ev, hook, payload, payload_len); /* at entry, or `at: return` */
	return 0;
}
