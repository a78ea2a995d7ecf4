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

static const uint8_t zero_id[8];

static uint64_t next_random(struct tt_asm *a)
{
	/* xorshift64*: span ids need to be unique, not unpredictable */
	a->rng ^= a->rng >> 12;
	a->rng ^= a->rng << 25;
	a->rng ^= a->rng >> 27;
	return a->rng * 0x2545F4914F6CDD1DULL;
}

static void random_id(struct tt_asm *a, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = next_random(a);

		memcpy(out + i, &r, len - i < 8 ? len - i : 8);
	}
}

static void hash_field(XXH3_state_t *st, const void *data, size_t len)
{
	uint8_t n[4] = {len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >> 24) & 0xff};

	XXH3_128bits_update(st, n, sizeof(n));
	XXH3_128bits_update(st, data, len);
}

void tt_ids__trace(const char *salt, const char *keyspace, const void *key, size_t key_len,
		   uint8_t out[16])
{
	XXH3_state_t st;
	XXH128_hash_t h;
	XXH128_canonical_t c;

	XXH3_INITSTATE(&st);
	XXH3_128bits_reset(&st);
	hash_field(&st, salt, strlen(salt));
	hash_field(&st, "T", 1);
	hash_field(&st, keyspace, strlen(keyspace));
	hash_field(&st, key, key_len);
	h = XXH3_128bits_digest(&st);
	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, 16);
}

static void hash_field64(XXH3_state_t *st, const void *data, size_t len)
{
	uint8_t n[4] = {len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >> 24) & 0xff};

	XXH3_64bits_update(st, n, sizeof(n));
	XXH3_64bits_update(st, data, len);
}

void tt_ids__producer(const char *salt, const char *keyspace, const void *key, size_t key_len,
		      const void *message_id, size_t message_id_len, uint8_t out[8])
{
	XXH3_state_t st;
	XXH64_canonical_t c;

	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	hash_field64(&st, salt, strlen(salt));
	hash_field64(&st, "P", 1);
	hash_field64(&st, keyspace, strlen(keyspace));
	hash_field64(&st, key, key_len);
	hash_field64(&st, message_id, message_id_len);
	XXH64_canonicalFromHash(&c, XXH3_64bits_digest(&st));
	memcpy(out, c.digest, 8);
}

static uint64_t table_key(uint64_t h)
{
	return h ? h : 1; /* 0 marks an empty table entry */
}

uint64_t key_hash(const uint8_t *key, size_t len)
{
	return table_key(XXH3_64bits(key, len));
}

static uint64_t try_hash(const uint8_t *key, size_t key_len, const char *step, size_t step_len)
{
	XXH3_state_t st;

	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, &key_len, sizeof(key_len));
	XXH3_64bits_update(&st, key, key_len);
	XXH3_64bits_update(&st, step, step_len);
	return table_key(XXH3_64bits_digest(&st));
}

uint64_t thread_key(uint32_t pid, uint32_t tid)
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
	if (!a->chunks || tt_table__init(&a->threads, 64) || tt_table__init(&a->tasks, 64) ||
	    tt_table__init(&a->tries, 256) || tt_table__init(&a->async, 64) ||
	    tt_table__init(&a->consumes, 64) || tt_table__init(&a->pubs, 64)) {
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
	tt_table__release(&a->threads);
	tt_table__release(&a->tasks);
	tt_table__release(&a->tries);
	tt_table__release(&a->async);
	tt_table__release(&a->consumes);
	tt_table__release(&a->pubs);
	free(a);
}

void tt_asm__stats(const struct tt_asm *a, struct tt_asm_stats *stats)
{
	*stats = a->stats;
	stats->tries = a->tries.len;
}

uint64_t tt_asm__unannotated(const struct tt_asm *a, int hook_id)
{
	return hook_id > 0 && hook_id <= TT_MAX_PROBES ? a->unannotated[hook_id] : 0;
}

void tt_asm__for_each_task(const struct tt_asm *a, size_t max, tt_task_fn fn, void *ctx)
{
	size_t n = 0;

	for (int32_t i = a->oldest; i != NIL && (!max || n < max); i = slot_at(a, i)->newer) {
		const struct slot *t = slot_at(a, i);

		if (t->span.probe->role != TT_ROLE_TASK)
			continue;
		fn(&t->span, t->cur_step != NIL ? &slot_at(a, t->cur_step)->span : NULL, ctx);
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
int32_t slot_get(struct tt_asm *a)
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
		struct tt_span *old = &slot_at(a, a->oldest)->span;

		a->stats.evictions++;
		end_span(a, a->oldest, old->start_ns, TT_CUT_EVICTED,
			 "evicted: max_open_spans reached");
	}
	i = a->free_head;
	a->free_head = slot_at(a, i)->next_free;
	return i;
}

static void slot_put(struct tt_asm *a, int32_t i)
{
	struct slot *s = slot_at(a, i);

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

/* The record of capture `cap` in the span, from the payload of its site; NULL if absent. */
static const struct tt_cap_rec *record(const struct tt_span *s, const struct tt_capture *cap)
{
	const struct tt_cap_rec *recs[TT_MAX_CAPTURES];
	const uint8_t *p = cap->site == TT_SITE_START ? s->payload : s->end_payload;
	size_t len = cap->site == TT_SITE_START ? s->payload_len : s->end_len;
	int n;

	if (cap->index < 0)
		return NULL;
	n = payload_records(p, len, recs, TT_MAX_CAPTURES);
	return cap->index < n ? recs[cap->index] : NULL;
}

/* A record that holds a value (it exists and its read did not fault). */
const struct tt_cap_rec *value_of(const struct tt_span *s, const struct tt_capture *cap)
{
	const struct tt_cap_rec *r = record(s, cap);

	return r && !(r->flags & TT_CAPF_FAULT) ? r : NULL;
}

const struct tt_attr *find_attr(const struct tt_probe *p, const char *name, size_t len)
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
void note_redactions(struct tt_span *s)
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
		r = value_of(s, &at->cap);
		if (r)
			redact_into(s->redacted[i], sizeof(s->redacted[i]), record_data(r), r->len);
	}
	s->redacted[TT_MAX_ATTRS][0] = '\0';
	if (p->redact_key && s->key_len)
		redact_into(s->redacted[TT_MAX_ATTRS], sizeof(s->redacted[0]), s->key, s->key_len);
}

/* The text of the attribute `name` of a span, from what is recorded so far; NULL if none. */
static const char *span_str_attr(const struct tt_span *s, const char *name, size_t name_len,
				 size_t *len)
{
	const struct tt_attr *at = find_attr(s->probe, name, name_len);
	const struct tt_cap_rec *r;

	if (!at)
		return NULL;
	if (at->redact) {
		/* its hash (note_redactions()), never the value: names are exported too */
		const char *h = s->redacted[at - s->probe->attrs];

		*len = strlen(h);
		return h[0] ? h : NULL;
	}
	if (at->literal) {
		*len = strlen(at->literal);
		return at->literal;
	}
	r = value_of(s, &at->cap);
	if (!r || r->type == TT_CAP_INT)
		return NULL;
	*len = r->len;
	return record_data(r);
}

/* Writes a captured value as text: integers in decimal, strings and bytes as they are. */
static size_t record_text(const struct tt_cap_rec *r, uint8_t *out, size_t room)
{
	size_t n;

	if (r->type == TT_CAP_INT) {
		uint64_t v;
		int w;

		memcpy(&v, record_data(r), sizeof(v));
		w = snprintf((char *)out, room, "%" PRIu64, v);
		return w < 0 ? 0 : (size_t)w < room ? (size_t)w : room - 1;
	}
	n = r->len < room ? r->len : room;
	memcpy(out, record_data(r), n);
	return n;
}

static void set_key(struct tt_span *s, const struct tt_capture *cap)
{
	const struct tt_cap_rec *r = value_of(s, cap);

	s->key_len = r ? record_text(r, s->key, sizeof(s->key)) : 0;
}

/* The innermost open span of `role` on the thread (any role when role < 0). */
struct tt_span *open_on_thread(struct tt_asm *a, uint32_t pid, uint32_t tid, int role)
{
	uint64_t *top = tt_table__get(&a->threads, thread_key(pid, tid));

	for (int32_t i = top ? (int32_t)top[0] : NIL; i != NIL; i = slot_at(a, i)->below) {
		if (role < 0 || slot_at(a, i)->span.probe->role == (enum tt_role)role)
			return &slot_at(a, i)->span;
	}
	return NULL;
}

/* The index that keeps open spans of this role by key, or NULL. */
struct tt_table *key_index(struct tt_asm *a, enum tt_role role)
{
	if (role == TT_ROLE_TASK)
		return &a->tasks;
	if (role == TT_ROLE_CONSUME)
		return &a->consumes;
	return NULL;
}

/* The newest open span indexed in `index` (tasks or consumes) with s's key. */
struct tt_span *open_with_key(struct tt_asm *a, struct tt_table *index, const struct tt_span *s)
{
	uint64_t *v;
	struct tt_span *t;

	if (!s->key_len)
		return NULL;
	v = tt_table__get(index, key_hash(s->key, s->key_len));
	if (!v)
		return NULL;
	t = &slot_at(a, (int32_t)v[0])->span;
	if (t->key_len != s->key_len || memcmp(t->key, s->key, s->key_len) != 0)
		return NULL;
	return t;
}

static bool parse_hex(const char *s, uint8_t *out, size_t n)
{
	bool nonzero = false;

	for (size_t i = 0; i < n; i++) {
		int hi = tt_hex_digit(s[2 * i]), lo = tt_hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
		nonzero |= out[i] != 0;
	}
	return nonzero;
}

/*
 * A captured W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>") makes the span
 * a child of the publisher's span, in its trace. Returns whether it did.
 */
static bool join_traceparent(const struct tt_asm *a, struct tt_span *s)
{
	const struct tt_cap_rec *r =
		a->opts.no_traceparent ? NULL : value_of(s, &s->probe->traceparent);
	const char *t;
	uint8_t trace[16], span[8];

	if (!r || r->type == TT_CAP_INT || r->len < 55)
		return false;
	t = record_data(r);
	if (t[2] != '-' || t[35] != '-' || t[52] != '-' || !parse_hex(t + 3, trace, 16) ||
	    !parse_hex(t + 36, span, 8))
		return false;
	memcpy(s->trace_id, trace, 16);
	memcpy(s->parent_id, span, 8);
	return true;
}

static void set_parent(struct tt_asm *a, struct tt_span *s, const struct tt_span *parent)
{
	if (parent) {
		memcpy(s->trace_id, parent->trace_id, sizeof(s->trace_id));
		memcpy(s->parent_id, parent->span_id, sizeof(s->parent_id));
	} else if (s->key_len) {
		tt_ids__trace(a->salt, a->opts.spec->keyspace, s->key, s->key_len, s->trace_id);
	} else {
		random_id(a, s->trace_id, sizeof(s->trace_id));
	}
}

/*
 * Keeps the attempts table within max_tries: first forgets what is older
 * than the retry window; when that frees too little, forgets everything
 * (later attempts then count from 1 again) and counts it.
 */
static void bound_tries(struct tt_asm *a, uint64_t now)
{
	struct tt_table *t = &a->tries;

	if (t->len < a->opts.max_tries)
		return;
	for (size_t i = 0; i < t->cap;) {
		if (t->e[i].key && now - t->e[i].v[1] > a->opts.retry_window_ns &&
		    tt_table__del(t, t->e[i].key))
			continue; /* a later entry may have moved into slot i */
		i++;
	}
	if (t->len >= a->opts.max_tries / 4 * 3) {
		memset(t->e, 0, t->cap * sizeof(*t->e));
		t->len = 0;
		a->stats.tries_forgotten++;
	}
}

uint32_t next_attempt(struct tt_asm *a, const struct tt_span *s, const char *step, size_t step_len)
{
	uint64_t h = try_hash(s->key, s->key_len, step, step_len);
	uint64_t *v = tt_table__get(&a->tries, h);
	uint64_t seen = 0;

	if (v && s->start_ns - v[1] <= a->opts.retry_window_ns)
		seen = v[0];
	else if (!v)
		bound_tries(a, s->start_ns);
	tt_table__put(&a->tries, h, seen + 1, s->start_ns); /* out of memory: counts restart */
	return (uint32_t)seen + 1;
}

/* The function a span's hook is on: the glob's match, else the spec's symbol. */
const char *span_function(const struct tt_span *s)
{
	return s->hook && s->hook->function ? s->hook->function : s->probe->symbol;
}

/* Expands a name template: "{attr}" is the attribute's value, "{symbol}" the function. */
void name_from_template(struct tt_span *s)
{
	const char *t = s->probe->name;
	size_t off = 0;

	while (*t && off + 1 < sizeof(s->name)) {
		const char *close;
		const char *v;
		size_t len = 0;

		if (*t != '{') {
			s->name[off++] = *t++;
			continue;
		}
		close = strchr(t, '}');
		if (!close)
			break;
		if (close - t - 1 == 6 && strncmp(t + 1, "symbol", 6) == 0) {
			v = span_function(s);
			len = strlen(v);
		} else if (close - t - 1 == 7 && strncmp(t + 1, "task.id", 7) == 0 &&
			   s->probe->redact_key) {
			v = s->redacted[TT_MAX_ATTRS];
			len = strlen(v);
		} else if (close - t - 1 == 7 && strncmp(t + 1, "task.id", 7) == 0) {
			v = (const char *)s->key;
			len = s->key_len;
		} else {
			v = span_str_attr(s, t + 1, (size_t)(close - t - 1), &len);
		}
		if (v) {
			if (len > sizeof(s->name) - 1 - off)
				len = sizeof(s->name) - 1 - off;
			memcpy(s->name + off, v, len);
			off += len;
		}
		t = close + 1;
	}
	s->name[off] = '\0';
}

static void name_span(struct tt_span *s, const struct tt_span *task)
{
	const struct tt_probe *p = s->probe;
	const char *fn = span_function(s);
	size_t len;
	const char *v;

	if (p->name) {
		name_from_template(s);
		return;
	}
	switch (p->role) {
	case TT_ROLE_TASK:
		v = span_str_attr(s, "task.name", 9, &len);
		if (v)
			snprintf(s->name, sizeof(s->name), "%.*s", (int)len, v);
		else
			snprintf(s->name, sizeof(s->name), "%s", fn);
		return;
	case TT_ROLE_STEP:
	case TT_ROLE_COMPENSATION:
		v = span_str_attr(s, "step.name", 9, &len);
		if (!v) {
			v = fn;
			len = strlen(v);
		}
		if (task)
			snprintf(s->name, sizeof(s->name), "%s.%.*s%s", task->name, (int)len, v,
				 p->role == TT_ROLE_COMPENSATION ? ".Compensate" : "");
		else
			snprintf(s->name, sizeof(s->name), "%.*s%s", (int)len, v,
				 p->role == TT_ROLE_COMPENSATION ? ".Compensate" : "");
		return;
	case TT_ROLE_PUBLISH:
	case TT_ROLE_CONSUME:
		v = span_str_attr(s, "messaging.destination.name", 26, &len);
		if (!v) {
			v = fn;
			len = strlen(v);
		}
		snprintf(s->name, sizeof(s->name), "%s %.*s",
			 p->role == TT_ROLE_PUBLISH ? "publish" : "process", (int)len, v);
		return;
	default:
		snprintf(s->name, sizeof(s->name), "%s", fn);
	}
}

uint64_t async_hash(const struct tt_probe *p, const uint8_t *key, size_t len)
{
	XXH3_state_t st;

	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, &p->id, sizeof(p->id));
	XXH3_64bits_update(&st, key, len);
	return table_key(XXH3_64bits_digest(&st));
}

static void finish(struct tt_asm *a, int32_t i, const struct tt_event *ev, const uint8_t *end,
		   size_t end_len);

/* The message id a span captured, as text, for producer ids. */
static size_t message_id_of(const struct tt_span *s, uint8_t *out, size_t room)
{
	const struct tt_cap_rec *r = value_of(s, &s->probe->message_id);

	return r ? record_text(r, out, room) : 0;
}

/* The key of (key, message id) in the table of publishes. */
static uint64_t pub_hash(const struct tt_span *s, const uint8_t *mid, size_t mid_len)
{
	XXH3_state_t st;

	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	hash_field64(&st, s->key, s->key_len);
	hash_field64(&st, mid, mid_len);
	return table_key(XXH3_64bits_digest(&st));
}

/*
 * A publish's span id (DESIGN §5): the first publish of (key, message id)
 * this agent sees has the derived producer id, which a consumer on any node
 * derives too; a later one (a re-push) gets a random id of its own, so that
 * no two spans of the trace share one. Remembers the newest for consumers.
 */
void publish_id(struct tt_asm *a, struct tt_span *s)
{
	uint8_t mid[TT_KEY_MAX];
	size_t mid_len = message_id_of(s, mid, sizeof(mid));
	uint64_t h = pub_hash(s, mid, mid_len);
	uint64_t *v = tt_table__get(&a->pubs, h);
	uint64_t seen = v ? v[0] : 0;
	uint64_t id;

	if (seen)
		random_id(a, s->span_id, sizeof(s->span_id));
	else
		tt_ids__producer(a->salt, a->opts.spec->keyspace, s->key, s->key_len, mid, mid_len,
				 s->span_id);
	if (!v && a->pubs.len >= a->opts.max_tries) {
		memset(a->pubs.e, 0, a->pubs.cap * sizeof(*a->pubs.e));
		a->pubs.len = 0;
		a->stats.publishes_forgotten++;
	}
	memcpy(&id, s->span_id, sizeof(id));
	tt_table__put(&a->pubs, h, seen + 1, id); /* out of memory: later ones reuse the first */
}

/*
 * A consume's parent: the newest publish of its (key, message id) this
 * agent saw, else the derived id of the first publish (made on another
 * node, or before this agent started).
 */
void consume_parent(struct tt_asm *a, struct tt_span *s)
{
	uint8_t mid[TT_KEY_MAX];
	size_t mid_len = message_id_of(s, mid, sizeof(mid));
	uint64_t *v = tt_table__get(&a->pubs, pub_hash(s, mid, mid_len));

	tt_ids__trace(a->salt, a->opts.spec->keyspace, s->key, s->key_len, s->trace_id);
	if (v)
		memcpy(s->parent_id, &v[1], 8);
	else
		tt_ids__producer(a->salt, a->opts.spec->keyspace, s->key, s->key_len, mid, mid_len,
				 s->parent_id);
}

/*
 * Trace, parent and (for a publish) span id by the rules of DESIGN §4-5:
 * a captured traceparent wins; a publish with a key starts its message's
 * trace with the derived producer id and links to the span that made it;
 * a consume with a key is the child of its derived producer (when the spec
 * declares a publish) or a root; a task is the child of the consume it runs
 * in; a step the child of its task, else of its task's consume; other spans
 * the child of the innermost span on their thread; else the key's root.
 * Returns the open span it made the parent, or NULL.
 */
static const struct tt_span *set_identity(struct tt_asm *a, struct tt_span *s,
					  const struct tt_event *ev)
{
	const struct tt_probe *p = s->probe;
	const char *ks = a->opts.spec->keyspace;
	const struct tt_span *parent = NULL;

	if (join_traceparent(a, s))
		return NULL;
	switch (p->role) {
	case TT_ROLE_PUBLISH:
		parent = open_on_thread(a, ev->pid, ev->tid, -1);
		if (!s->key_len)
			break;
		tt_ids__trace(a->salt, ks, s->key, s->key_len, s->trace_id);
		publish_id(a, s);
		if (parent && memcmp(parent->trace_id, s->trace_id, 16) != 0) {
			memcpy(s->link_trace_id, parent->trace_id, 16);
			memcpy(s->link_span_id, parent->span_id, 8);
		} else if (parent) {
			memcpy(s->parent_id, parent->span_id, 8);
		}
		return parent;
	case TT_ROLE_CONSUME:
		if (s->key_len && a->has_publish) {
			consume_parent(a, s);
			return NULL;
		}
		break;
	case TT_ROLE_TASK:
		parent = open_on_thread(a, ev->pid, ev->tid, TT_ROLE_CONSUME);
		if (!parent)
			parent = open_with_key(a, &a->consumes, s);
		break;
	case TT_ROLE_STEP:
	case TT_ROLE_COMPENSATION:
		parent = open_on_thread(a, ev->pid, ev->tid, TT_ROLE_TASK);
		if (!parent)
			parent = open_with_key(a, &a->tasks, s);
		if (!parent)
			parent = open_with_key(a, &a->consumes, s);
		break;
	default:
		parent = open_on_thread(a, ev->pid, ev->tid, -1);
	}
	set_parent(a, s, parent);
	return parent;
}

/* Marks a slot just taken as holding an open span on no index yet. */
void slot_open(struct slot *sl)
{
	sl->used = true;
	sl->on_stack = false;
	sl->cur_step = NIL;
	sl->parent_task = NIL;
	sl->parent_slot = NIL;
	sl->has_children = false;
	sl->child_exported = false;
	sl->async = 0;
	sl->same_key = NIL;
}

/*
 * Puts open span i on the indexes its pairing and role use (its thread's
 * stack, its (probe, key) chain, the tasks or consumes by key) and on the
 * age list. Returns 0, or -ENOMEM after freeing the slot.
 */
int index_span(struct tt_asm *a, int32_t i)
{
	struct slot *sl = slot_at(a, i);
	struct tt_span *s = &sl->span;
	const struct tt_probe *p = s->probe;
	uint64_t tk = thread_key(s->pid, s->tid);
	uint64_t *top;

	if (p->pairing == TT_PAIR_CALL || p->pairing == TT_PAIR_THREAD) {
		top = tt_table__get(&a->threads, tk);
		sl->below = top ? (int32_t)top[0] : NIL;
		if (tt_table__put(&a->threads, tk, i, 0)) {
			slot_put(a, i);
			return -ENOMEM;
		}
		sl->on_stack = true;
	} else if (p->pairing == TT_PAIR_KEY) {
		uint64_t h = async_hash(p, s->key, s->key_len);
		uint64_t *v = tt_table__get(&a->async, h);

		sl->same_key = v ? (int32_t)v[0] : NIL;
		if (tt_table__put(&a->async, h, i, 0)) {
			slot_put(a, i);
			return -ENOMEM;
		}
		sl->async = h;
	}
	if (key_index(a, p->role) && s->key_len)
		tt_table__put(key_index(a, p->role), key_hash(s->key, s->key_len), i, 0);
	age_append(a, i);
	if (p->role != TT_ROLE_ANNOTATE)
		a->stats.spans_started++;
	a->stats.open_spans++;
	return 0;
}

static void start_span(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		       const uint8_t *payload, size_t payload_len)
{
	const struct tt_probe *p = hook->probe;
	int32_t i = slot_get(a);
	struct slot *sl;
	struct tt_span *s;
	const struct tt_span *parent;
	const struct tt_cap_rec *attempt;

	if (i == NIL)
		return;
	sl = slot_at(a, i);
	s = &sl->span;
	memset(s, 0, offsetof(struct tt_span, key));
	slot_open(sl);
	s->probe = p;
	s->hook = hook;
	s->start_ns = ev->ts_ns;
	s->pid = ev->pid;
	s->tid = ev->tid;
	s->kind = p->role == TT_ROLE_PUBLISH   ? TT_KIND_PRODUCER
		  : p->role == TT_ROLE_CONSUME ? TT_KIND_CONSUMER
					       : TT_KIND_INTERNAL;
	s->payload_len = payload_len;
	memcpy(s->payload, payload, payload_len);
	set_key(s, &p->key);
	random_id(a, s->span_id, sizeof(s->span_id));
	if (p->role == TT_ROLE_ANNOTATE) {
		/* no span of its own: it completes another when it fires (its return) */
		if (!index_span(a, i) && p->pairing == TT_PAIR_POINT)
			finish(a, i, ev, NULL, 0);
		return;
	}

	parent = set_identity(a, s, ev);
	if (parent && !memcmp(s->parent_id, parent->span_id, 8)) {
		sl->parent_slot = slot_index(a, parent);
		if (sl->parent_slot != NIL)
			slot_at(a, sl->parent_slot)->has_children = true;
	}
	/* a step's name starts with its task's; a publish linking away has no parent */
	if (parent &&
	    (parent->probe->role != TT_ROLE_TASK || memcmp(s->parent_id, parent->span_id, 8) != 0))
		parent = NULL;
	note_redactions(s);
	name_span(s, parent);
	if (parent && (p->role == TT_ROLE_STEP || p->role == TT_ROLE_COMPENSATION)) {
		sl->parent_task = slot_index(a, parent);
		if (sl->parent_task != NIL)
			slot_at(a, sl->parent_task)->cur_step = i;
	}
	attempt = value_of(s, &p->attempt);
	if (attempt && attempt->type == TT_CAP_INT) {
		int64_t v;

		memcpy(&v, record_data(attempt), sizeof(v));
		s->attempt = v > 0 && v < UINT32_MAX ? (uint32_t)v : 0;
	} else if (p->role == TT_ROLE_STEP || p->role == TT_ROLE_COMPENSATION) {
		size_t len;
		const char *step = span_str_attr(s, "step.name", 9, &len);

		if (!step) {
			step = span_function(s);
			len = strlen(step);
		}
		s->attempt = next_attempt(a, s, step, len);
	} else if ((p->role == TT_ROLE_TASK || p->role == TT_ROLE_CONSUME) && s->key_len) {
		/* a job run again (its worker died) is attempt 2, on any process of the node */
		s->attempt = next_attempt(a, s, s->name, strlen(s->name));
	}

	if (index_span(a, i))
		return;
	if (p->pairing == TT_PAIR_POINT)
		finish(a, i, ev, NULL, 0);
}

void describe_exit(char *buf, size_t len, int64_t status)
{
	int sig = status & 0x7f;

	if (sig)
		snprintf(buf, len, "killed by signal %d (%s)", sig,
			 sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	else
		snprintf(buf, len, "exited with status %d", (int)((status >> 8) & 0xff));
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
	uint64_t tk = thread_key(sl->span.pid, sl->span.tid);
	uint64_t *v = tt_table__get(&a->threads, tk);

	if (v && (int32_t)v[0] == i) {
		if (sl->below == NIL)
			tt_table__del(&a->threads, tk);
		else
			v[0] = sl->below;
	} else if (v) {
		for (int32_t k = (int32_t)v[0]; k != NIL; k = slot_at(a, k)->below) {
			if (slot_at(a, k)->below == i) {
				slot_at(a, k)->below = sl->below;
				break;
			}
		}
	}
}

/* Takes span i out of its (probe, key) chain of open begin/end spans. */
void async_remove(struct tt_asm *a, int32_t i)
{
	struct slot *sl = slot_at(a, i);
	uint64_t *v = tt_table__get(&a->async, sl->async);

	if (v && (int32_t)v[0] == i) {
		if (sl->same_key == NIL)
			tt_table__del(&a->async, sl->async);
		else
			v[0] = sl->same_key;
	} else if (v) {
		for (int32_t k = (int32_t)v[0]; k != NIL; k = slot_at(a, k)->same_key) {
			if (slot_at(a, k)->same_key == i) {
				slot_at(a, k)->same_key = sl->same_key;
				break;
			}
		}
	}
}

/*
 * Takes span i off every index it is on, hands it to the sink and frees
 * its slot.
 */
void end_span(struct tt_asm *a, int32_t i, uint64_t ts, enum tt_cut cut, const char *why)
{
	struct slot *sl = slot_at(a, i);
	struct tt_span *s = &sl->span;
	uint64_t *v;

	if (sl->on_stack)
		stack_remove(a, i);
	if (sl->async)
		async_remove(a, i);
	if (sl->parent_task != NIL) {
		struct slot *t = slot_at(a, sl->parent_task);

		/* the slot may hold another span by now: check it is still the task */
		if (t->used && t->cur_step == i && !memcmp(t->span.span_id, s->parent_id, 8))
			t->cur_step = NIL;
	}
	if (key_index(a, s->probe->role) && s->key_len) {
		uint64_t h = key_hash(s->key, s->key_len);

		v = tt_table__get(key_index(a, s->probe->role), h);
		if (v && (int32_t)v[0] == i)
			tt_table__del(key_index(a, s->probe->role), h);
	}
	age_remove(a, i);
	if (s->probe->role == TT_ROLE_ANNOTATE) {
		a->stats.open_spans--;
		if (cut == TT_CUT_NONE)
			annotate(a, s);
		slot_put(a, i);
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
	note_redactions(s);
	a->stats.open_spans--;
	a->stats.spans_finished++;
	a->opts.on_span(s, a->opts.ctx);
	slot_put(a, i);
}

int64_t tt_ret__value(uint64_t rax)
{
	/* a C int comes back in eax with the upper half of rax zeroed */
	if ((rax >> 32) == 0)
		return (int64_t)(int32_t)(uint32_t)rax;
	return (int64_t)rax;
}

/* Evaluates `error:` on a span that has all its captures. Writes why into msg. */
static bool is_error(const struct tt_span *s, const struct tt_event *ev, char *msg, size_t len,
		     char *type, size_t type_len)
{
	const struct tt_pred *err = &s->probe->error;
	const struct tt_cap_rec *r;
	bool hit;

	if (!err->set)
		return false;
	if (err->on_ret) {
		hit = tt_cmp__eval(err->op, s->ret, err->rhs);
		if (hit) {
			snprintf(msg, len, "returned %" PRId64 " (error: %s)", s->ret, err->text);
			snprintf(type, type_len, "%" PRId64, s->ret);
		}
		return hit;
	}
	r = value_of(s, &err->lhs);
	if (!r)
		return false; /* not readable: no verdict */
	if (err->str) {
		size_t n = strlen(err->str);
		bool eq = err->prefix ? r->len >= n && memcmp(record_data(r), err->str, n) == 0
				      : r->len == n && memcmp(record_data(r), err->str, n) == 0;

		hit = err->op == TT_CMP_EQ ? eq : !eq;
		if (hit) {
			snprintf(msg, len, "%s is \"%.*s\" (error: %s)", err->lhs.text,
				 (int)(r->len < 48 ? r->len : 48), record_data(r), err->text);
			snprintf(type, type_len, "%.*s", (int)r->len, record_data(r));
		}
		return hit;
	}
	{
		int64_t v;

		memcpy(&v, record_data(r), sizeof(v));
		hit = tt_cmp__eval(err->op, v, err->rhs);
		if (hit) {
			snprintf(msg, len, "%s is %" PRId64 " (error: %s)", err->lhs.text, v,
				 err->text);
			snprintf(type, type_len, "%" PRId64, v);
		}
		return hit;
	}
}

/*
 * A key captured at return (`key: ... @return`, such as an id the call
 * assigns) arrives when the span ends: derive the ids that depend on it
 * now. A publish moves into its message's trace, and the span it was made
 * in becomes its link.
 */
static void rekey(struct tt_asm *a, struct tt_span *s)
{
	const char *ks = a->opts.spec->keyspace;
	uint8_t old_trace[16];
	bool has_parent = memcmp(s->parent_id, zero_id, 8) != 0;

	if (!a->opts.no_traceparent && value_of(s, &s->probe->traceparent))
		return; /* the publisher's own trace was joined */
	memcpy(old_trace, s->trace_id, 16);
	switch (s->probe->role) {
	case TT_ROLE_PUBLISH:
		tt_ids__trace(a->salt, ks, s->key, s->key_len, s->trace_id);
		publish_id(a, s);
		if (has_parent && memcmp(old_trace, s->trace_id, 16) != 0) {
			memcpy(s->link_trace_id, old_trace, 16);
			memcpy(s->link_span_id, s->parent_id, 8);
			memset(s->parent_id, 0, 8);
		}
		return;
	case TT_ROLE_CONSUME:
		if (a->has_publish) {
			consume_parent(a, s);
			return;
		}
		break;
	default:
		break;
	}
	if (!has_parent)
		tt_ids__trace(a->salt, ks, s->key, s->key_len, s->trace_id);
}

static void finish(struct tt_asm *a, int32_t i, const struct tt_event *ev, const uint8_t *end,
		   size_t end_len)
{
	struct tt_span *s = &slot_at(a, i)->span;

	if (ev->kind == TT_EV_RETURN) {
		s->has_ret = true;
		s->ret = tt_ret__value(ev->ret);
	}
	s->end_len = end_len;
	if (end_len)
		memcpy(s->end_payload, end, end_len);
	if (!s->key_len && s->probe->key.site == TT_SITE_RETURN) {
		set_key(s, &s->probe->key);
		if (s->key_len)
			rekey(a, s);
	}
	if (s->probe->name)
		name_from_template(s); /* again, now that every capture is in */
	/* otherwise UNSET: instrumentation leaves OK to the application */
	if (is_error(s, ev, s->status_msg, sizeof(s->status_msg), s->error_type,
		     sizeof(s->error_type))) {
		s->status = TT_STATUS_ERROR;
	} else if (s->probe->error_unless && !s->marked && s->status != TT_STATUS_ERROR) {
		/* an error an annotate probe gave (a nack) says more than the missing ack */
		s->status = TT_STATUS_ERROR;
		snprintf(s->status_msg, sizeof(s->status_msg),
			 "no '%s' before the span ended (error_unless: %s)", s->probe->error_unless,
			 s->probe->error_unless);
		snprintf(s->error_type, sizeof(s->error_type), "error_unless");
	}
	end_span(a, i, ev->ts_ns, TT_CUT_NONE, NULL);
}

/*
 * Whether open span `above` began at the same call as `s`, below it on the
 * thread: another probe entered at the same function, with nothing in
 * between. Several probes may end at one function's return, and the kernel
 * runs their return handlers in entry order, so the lower one returns first.
 */
static bool same_call(const struct tt_span *above, const struct tt_span *s)
{
	return above->probe->pairing == TT_PAIR_CALL && s->probe->pairing == TT_PAIR_CALL &&
	       above->hook != s->hook && above->start_ns >= s->start_ns &&
	       !strcmp(span_function(above), span_function(s)) &&
	       tt_target__same(above->probe->target, s->probe->target);
}

/* Whether every span from `from` down to `to` (not included) began at to's call. */
static bool only_same_call(const struct tt_asm *a, int32_t from, int32_t to)
{
	for (int32_t k = from; k != to && k != NIL; k = slot_at(a, k)->below) {
		if (!same_call(&slot_at(a, k)->span, &slot_at(a, to)->span))
			return false;
	}
	return true;
}

/*
 * Finds the open span on this thread's stack that `match` accepts, ends
 * the spans above it (their ends were lost) but those of the same call,
 * and finishes it.
 */
static void finish_on_stack(struct tt_asm *a, const struct tt_event *ev, const uint8_t *end,
			    size_t end_len, bool (*match)(const struct tt_span *, const void *),
			    const void *what)
{
	uint64_t *top = tt_table__get(&a->threads, thread_key(ev->pid, ev->tid));
	int32_t i;

	for (i = top ? (int32_t)top[0] : NIL; i != NIL; i = slot_at(a, i)->below) {
		if (match(&slot_at(a, i)->span, what))
			break;
	}
	if (i == NIL) {
		a->stats.orphan_returns++;
		return;
	}
	while ((int32_t)top[0] != i && !only_same_call(a, (int32_t)top[0], i)) {
		end_span(a, (int32_t)top[0], ev->ts_ns, TT_CUT_UNWOUND,
			 "return not seen (events lost)");
		top = tt_table__get(&a->threads, thread_key(ev->pid, ev->tid));
	}
	finish(a, i, ev, end, end_len);
}

static bool same_hook(const struct tt_span *s, const void *hook)
{
	return s->hook == hook;
}

static bool same_probe(const struct tt_span *s, const void *probe)
{
	return s->probe == probe;
}

/* The attribute `name` captured at `site`, or NULL. */
static const struct tt_attr *attr_at(const struct tt_probe *p, const char *name, enum tt_site site)
{
	for (int i = 0; i < p->nattrs; i++) {
		if (!p->attrs[i].literal && p->attrs[i].cap.site == site &&
		    strcmp(p->attrs[i].name, name) == 0)
			return &p->attrs[i];
	}
	return NULL;
}

/*
 * Whether open span s has the step.name that the end captured: begin/end
 * spans pair by (key, step.name) when both sides capture a step.name, so
 * that parallel steps of one task end where they began.
 */
static bool same_step(const struct tt_span *s, const struct tt_span *end)
{
	const struct tt_attr *b = attr_at(s->probe, "step.name", TT_SITE_START);
	const struct tt_attr *e = attr_at(s->probe, "step.name", TT_SITE_END);
	const struct tt_cap_rec *bv, *ev;

	if (!b || !e)
		return true;
	bv = value_of(s, &b->cap);
	ev = value_of(end, &e->cap);
	return !bv || !ev || (bv->len == ev->len && !memcmp(bv + 1, ev + 1, bv->len));
}

static void on_end_key(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
		       const uint8_t *end, size_t end_len)
{
	const struct tt_probe *p = hook->probe;
	struct tt_span probe_view; /* just enough of a span to read the end's captures */
	uint8_t key[TT_KEY_MAX];
	const struct tt_cap_rec *r;
	uint64_t *v;
	size_t key_len;

	probe_view.probe = p;
	probe_view.payload_len = 0;
	probe_view.end_len = end_len;
	memcpy(probe_view.end_payload, end, end_len);
	r = value_of(&probe_view, &p->end_key);
	if (!r) {
		a->stats.orphan_returns++;
		return;
	}
	key_len = record_text(r, key, sizeof(key));
	v = tt_table__get(&a->async, async_hash(p, key, key_len));
	for (int32_t i = v ? (int32_t)v[0] : NIL; i != NIL; i = slot_at(a, i)->same_key) {
		struct tt_span *s = &slot_at(a, i)->span;

		if (s->key_len == key_len && !memcmp(s->key, key, key_len) &&
		    same_step(s, &probe_view)) {
			finish(a, i, ev, end, end_len);
			return;
		}
	}
	a->stats.orphan_returns++;
}

static void on_end_event(struct tt_asm *a, const struct tt_event *ev, const struct tt_hook *hook,
			 const uint8_t *end, size_t end_len)
{
	if (hook->probe->pairing == TT_PAIR_THREAD)
		finish_on_stack(a, ev, end, end_len, same_probe, hook->probe);
	else if (hook->probe->pairing == TT_PAIR_KEY)
		on_end_key(a, ev, hook, end, end_len);
	else
		a->stats.malformed++;
}

static void on_exit_event(struct tt_asm *a, const struct tt_event *ev)
{
	char why[TT_STATUS_MSG_MAX];

	if (!a->stats.open_spans)
		return;
	if (ev->flags & TT_EXITF_GROUP_DEAD) {
		tt_asm__end_process(a, ev->pid, ev->ts_ns, ev->ret);
		return;
	}
	describe_exit(why, sizeof(why), ev->ret);
	end_thread(a, ev->pid, ev->tid, ev->ts_ns, why);
}

int tt_asm__push(struct tt_asm *a, const struct tt_event *ev, size_t size)
{
	const struct tt_hook *hook;
	const struct tt_cap_rec *recs[TT_MAX_CAPTURES];
	const uint8_t *payload = (const uint8_t *)(ev + 1);
	size_t payload_len;

	if (size < sizeof(*ev) || ev->size != size || size > TT_MAX_EVENT) {
		a->stats.malformed++;
		return -EINVAL;
	}
	if (ev->kind == TT_EV_EXIT) {
		a->stats.exits++;
		on_exit_event(a, ev);
		return 0;
	}
	if (ev->kind == TT_EV_EXEC)
		return 0; /* for discovery, not spans */
	a->stats.events++;
	hook = tt_spec__hook(a->opts.spec, ev->probe);
	if (!hook) {
		a->stats.unknown_probes++;
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
	if (hook->kind == TT_HOOK_END)
		on_end_event(a, ev, hook, payload, payload_len); /* at entry, or `at: return` */
	else if (ev->kind == TT_EV_RETURN && hook->probe->pairing == TT_PAIR_CALL)
		finish_on_stack(a, ev, payload, payload_len, same_hook, hook);
	else
		start_span(a, ev, hook, payload, payload_len); /* at entry, or `at: return` */
	return 0;
}
