// SPDX-License-Identifier: MIT
/*
 * assemble_identity.c: a span's identity, set when it starts (DESIGN §4-5):
 * derived and random ids, a captured traceparent joined, the parent chosen
 * by role, attempts counted, names from templates, publish and consume ids,
 * and the ids derived again when a key arrives at return.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "assemble.h"
#include "assemble_internal.h"
#include "hex.h"

static const uint8_t zero_id[8];

static uint64_t next_random(struct tt_asm *a)
{
	/* xorshift64*: span ids need to be unique, not unpredictable */
	a->rng ^= a->rng >> 12;
	a->rng ^= a->rng << 25;
	a->rng ^= a->rng >> 27;
	return a->rng * 0x2545F4914F6CDD1DULL;
}

void asm__random_id(struct tt_asm *a, uint8_t *out, size_t len)
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

/*
 * Length-prefixed fields gathered into one buffer, to be hashed in one
 * call: the same digest as feeding them to a streaming state, at a fraction
 * of the cost. Returns whether they fit (else the caller streams them).
 */
#define FIELDS_MAX 512

struct fields {
	uint8_t b[FIELDS_MAX];
	size_t n;
	bool over;
};

static void field(struct fields *f, const void *data, size_t len)
{
	if (f->over || len > FIELDS_MAX - 4 - f->n) {
		f->over = true;
		return;
	}
	f->b[f->n] = len & 0xff;
	f->b[f->n + 1] = (len >> 8) & 0xff;
	f->b[f->n + 2] = (len >> 16) & 0xff;
	f->b[f->n + 3] = (len >> 24) & 0xff;
	if (len)
		memcpy(f->b + f->n + 4, data, len);
	f->n += 4 + len;
}

void tt_ids__trace(const char *salt, const char *keyspace, const void *key, size_t key_len,
		   uint8_t out[16])
{
	XXH3_state_t st;
	XXH128_hash_t h;
	XXH128_canonical_t c;
	struct fields f = {.n = 0};

	field(&f, salt, strlen(salt));
	field(&f, "T", 1);
	field(&f, keyspace, strlen(keyspace));
	field(&f, key, key_len);
	if (!f.over) {
		XXH128_canonicalFromHash(&c, XXH3_128bits(f.b, f.n));
		memcpy(out, c.digest, 16);
		return;
	}
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
	struct fields f = {.n = 0};

	field(&f, salt, strlen(salt));
	field(&f, "P", 1);
	field(&f, keyspace, strlen(keyspace));
	field(&f, key, key_len);
	field(&f, message_id, message_id_len);
	if (!f.over) {
		XXH64_canonicalFromHash(&c, XXH3_64bits(f.b, f.n));
		memcpy(out, c.digest, 8);
		return;
	}
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

static uint64_t try_hash(const uint8_t *key, size_t key_len, const char *step, size_t step_len)
{
	XXH3_state_t st;
	uint8_t b[sizeof(key_len) + TT_KEY_MAX + TT_SPAN_NAME_MAX];

	if (key_len <= TT_KEY_MAX && step_len <= TT_SPAN_NAME_MAX) {
		/* one call: the digest of the three streamed below */
		memcpy(b, &key_len, sizeof(key_len));
		memcpy(b + sizeof(key_len), key, key_len);
		memcpy(b + sizeof(key_len) + key_len, step, step_len);
		return table_key(XXH3_64bits(b, sizeof(key_len) + key_len + step_len));
	}
	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, &key_len, sizeof(key_len));
	XXH3_64bits_update(&st, key, key_len);
	XXH3_64bits_update(&st, step, step_len);
	return table_key(XXH3_64bits_digest(&st));
}

/*
 * The text of the attribute `name` of a span, from what is recorded so far
 * (an annotate probe's value first: it replaces the probe's own); NULL if none.
 */
const char *asm__span_str_attr(const struct tt_span *s, const char *name, size_t name_len,
			       size_t *len)
{
	const struct tt_attr *at;
	const struct tt_cap_rec *r;

	for (int i = 0; i < s->nlate; i++) {
		const struct tt_late_attr *l = &s->late[i];

		if (strncmp(l->name, name, name_len) || l->name[name_len])
			continue;
		if (l->is_int)
			return NULL;
		*len = l->len;
		return l->str;
	}
	at = asm__find_attr(s->probe, name, name_len);
	if (!at)
		return NULL;
	if (at->redact) {
		/* its hash (asm__note_redactions()), never the value: names are exported too */
		const char *h = s->redacted[at - s->probe->attrs];

		*len = strlen(h);
		return h[0] ? h : NULL;
	}
	if (at->literal) {
		*len = strlen(at->literal);
		return at->literal;
	}
	r = asm__value_of(s, &at->cap);
	if (!r || r->type == TT_CAP_INT)
		return NULL;
	*len = r->len;
	return record_data(r);
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
		a->opts.no_traceparent ? NULL : asm__value_of(s, &s->probe->traceparent);
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

static void set_parent(struct tt_asm *a, struct tt_span *s, const struct open_span *parent)
{
	if (parent) {
		memcpy(s->trace_id, parent->trace_id, sizeof(s->trace_id));
		memcpy(s->parent_id, parent->span_id, sizeof(s->parent_id));
	} else if (s->key_len) {
		tt_ids__trace(a->salt, a->opts.spec->keyspace, s->key, s->key_len, s->trace_id);
	} else {
		asm__random_id(a, s->trace_id, sizeof(s->trace_id));
	}
}

/*
 * Keeps the attempts table within max_tries: first forgets what is older
 * than the retry window; when that frees too little, forgets everything
 * (later attempts then count from 1 again) and counts it.
 */
static void bound_tries(struct tt_asm *a, uint64_t now)
{
	struct asm_tries *t = &a->tries;

	if (t->len < a->opts.max_tries)
		return;
	asm__tries_expire(t, now, a->opts.retry_window_ns);
	if (t->len >= a->opts.max_tries / 4 * 3) {
		asm__tries_clear(t);
		a->stats.tries_forgotten++;
	}
}

uint32_t asm__next_attempt(struct tt_asm *a, const struct tt_span *s, const char *step,
			   size_t step_len)
{
	uint64_t h = try_hash(s->key, s->key_len, step, step_len);
	struct asm_try *v;
	uint32_t seen = 0;
	bool created;

	if (a->tries.len >= a->opts.max_tries) {
		/* full: bound it first, unless this key is there (its count goes on) */
		if (!asm__tries_get(&a->tries, h))
			bound_tries(a, s->start_ns);
	}
	v = asm__tries_upsert(&a->tries, h, &created);
	if (!v)
		return 1; /* out of memory: counts restart */
	/* seen again: in the window it is one more attempt, else attempt 1 again */
	if (!created && s->start_ns - v->at <= a->opts.retry_window_ns)
		seen = v->seen;
	v->seen = seen + 1;
	v->at = s->start_ns;
	return seen + 1;
}

/* The function a span's hook is on: the glob's match, else the spec's symbol. */
const char *asm__span_function(const struct tt_span *s)
{
	return s->hook && s->hook->function ? s->hook->function : s->probe->symbol;
}

/* Expands a name template: "{attr}" is the attribute's value, "{symbol}" the function. */
void asm__name_from_template(struct tt_span *s)
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
			v = asm__span_function(s);
			len = strlen(v);
		} else if (close - t - 1 == 7 && strncmp(t + 1, "task.id", 7) == 0 &&
			   s->probe->redact_key) {
			v = s->redacted[TT_MAX_ATTRS];
			len = strlen(v);
		} else if (close - t - 1 == 7 && strncmp(t + 1, "task.id", 7) == 0) {
			v = (const char *)s->key;
			len = s->key_len;
		} else {
			v = asm__span_str_attr(s, t + 1, (size_t)(close - t - 1), &len);
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

/* Appends len bytes of v to the name at *off, as far as it has room (snprintf's cut, cheaper). */
static void name_put(struct tt_span *s, size_t *off, const char *v, size_t len)
{
	size_t room = sizeof(s->name) - 1 - *off;

	if (len > room)
		len = room;
	memcpy(s->name + *off, v, len);
	*off += len;
	s->name[*off] = '\0';
}

void asm__name_span(struct tt_span *s, const char *task_name)
{
	const struct tt_probe *p = s->probe;
	const char *fn = asm__span_function(s);
	size_t len, off = 0;
	const char *v;

	s->name[0] = '\0';
	if (p->name) {
		asm__name_from_template(s);
		return;
	}
	switch (p->role) {
	case TT_ROLE_TASK:
		v = asm__span_str_attr(s, "task.name", 9, &len);
		if (v)
			name_put(s, &off, v, strnlen(v, len)); /* "%.*s" stops at a NUL */
		else
			name_put(s, &off, fn, strlen(fn));
		return;
	case TT_ROLE_STEP:
	case TT_ROLE_COMPENSATION:
		v = asm__span_str_attr(s, "step.name", 9, &len);
		if (!v) {
			v = fn;
			len = strlen(v);
		}
		if (task_name) {
			name_put(s, &off, task_name, strlen(task_name));
			name_put(s, &off, ".", 1);
		}
		name_put(s, &off, v, strnlen(v, len));
		if (p->role == TT_ROLE_COMPENSATION)
			name_put(s, &off, ".Compensate", 11);
		return;
	case TT_ROLE_PUBLISH:
	case TT_ROLE_CONSUME:
		v = asm__span_str_attr(s, "messaging.destination.name", 26, &len);
		if (!v) {
			v = fn;
			len = strlen(v);
		}
		if (p->role == TT_ROLE_PUBLISH)
			name_put(s, &off, "publish ", 8);
		else
			name_put(s, &off, "process ", 8);
		name_put(s, &off, v, strnlen(v, len));
		return;
	default:
		name_put(s, &off, fn, strlen(fn));
	}
}

/* The message id a span captured, as text, for producer ids. */
static size_t message_id_of(const struct tt_span *s, uint8_t *out, size_t room)
{
	const struct tt_cap_rec *r = asm__value_of(s, &s->probe->message_id);

	return r ? asm__record_text(r, out, room) : 0;
}

/* The key of (key, message id) in the table of publishes. */
static uint64_t pub_hash(const struct tt_span *s, const uint8_t *mid, size_t mid_len)
{
	struct fields f = {.n = 0};

	field(&f, s->key, s->key_len);
	field(&f, mid, mid_len); /* both at most TT_KEY_MAX: they fit */
	return table_key(XXH3_64bits(f.b, f.n));
}

/*
 * A publish's span id (DESIGN §5): the first publish of (key, message id)
 * this agent sees has the derived producer id, which a consumer on any node
 * derives too; a later one (a re-push) gets a random id of its own, so that
 * no two spans of the trace share one. Remembers the newest for consumers.
 */
void asm__publish_id(struct tt_asm *a, struct tt_span *s)
{
	uint8_t mid[TT_KEY_MAX];
	size_t mid_len = message_id_of(s, mid, sizeof(mid));
	uint64_t h = pub_hash(s, mid, mid_len);
	uint64_t *v = tt_table__get(&a->pubs, h);
	uint64_t seen = v ? v[0] : 0;
	uint64_t id;

	if (seen)
		asm__random_id(a, s->span_id, sizeof(s->span_id));
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
void asm__consume_parent(struct tt_asm *a, struct tt_span *s)
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
const struct open_span *asm__set_identity(struct tt_asm *a, struct tt_span *s,
					  const struct tt_event *ev)
{
	const struct tt_probe *p = s->probe;
	const char *ks = a->opts.spec->keyspace;
	const struct open_span *parent = NULL;

	if (join_traceparent(a, s))
		return NULL;
	switch (p->role) {
	case TT_ROLE_PUBLISH:
		parent = asm__open_on_thread(a, ev->pid, ev->tid, -1);
		if (!s->key_len)
			break;
		tt_ids__trace(a->salt, ks, s->key, s->key_len, s->trace_id);
		asm__publish_id(a, s);
		if (parent && memcmp(parent->trace_id, s->trace_id, 16) != 0) {
			memcpy(s->link_trace_id, parent->trace_id, 16);
			memcpy(s->link_span_id, parent->span_id, 8);
		} else if (parent) {
			memcpy(s->parent_id, parent->span_id, 8);
		}
		return parent;
	case TT_ROLE_CONSUME:
		if (s->key_len && a->has_publish) {
			asm__consume_parent(a, s);
			return NULL;
		}
		break;
	case TT_ROLE_TASK:
		parent = asm__open_on_thread(a, ev->pid, ev->tid, TT_ROLE_CONSUME);
		if (!parent)
			parent = asm__open_with_key(a, &a->consumes, s);
		break;
	case TT_ROLE_STEP:
	case TT_ROLE_COMPENSATION:
		parent = asm__open_on_thread(a, ev->pid, ev->tid, TT_ROLE_TASK);
		if (!parent)
			parent = asm__open_with_key(a, &a->tasks, s);
		if (!parent)
			parent = asm__open_with_key(a, &a->consumes, s);
		break;
	default:
		parent = asm__open_on_thread(a, ev->pid, ev->tid, -1);
	}
	set_parent(a, s, parent);
	return parent;
}

/*
 * A key captured at return (`key: ... @return`, such as an id the call
 * assigns) arrives when the span ends: derive the ids that depend on it
 * now. A publish moves into its message's trace, and the span it was made
 * in becomes its link.
 */
void asm__rekey(struct tt_asm *a, struct tt_span *s)
{
	const char *ks = a->opts.spec->keyspace;
	uint8_t old_trace[16];
	bool has_parent = memcmp(s->parent_id, zero_id, 8) != 0;

	if (!a->opts.no_traceparent && asm__value_of(s, &s->probe->traceparent))
		return; /* the publisher's own trace was joined */
	memcpy(old_trace, s->trace_id, 16);
	switch (s->probe->role) {
	case TT_ROLE_PUBLISH:
		tt_ids__trace(a->salt, ks, s->key, s->key_len, s->trace_id);
		asm__publish_id(a, s);
		if (has_parent && memcmp(old_trace, s->trace_id, 16) != 0) {
			memcpy(s->link_trace_id, old_trace, 16);
			memcpy(s->link_span_id, s->parent_id, 8);
			memset(s->parent_id, 0, 8);
		}
		return;
	case TT_ROLE_CONSUME:
		if (a->has_publish) {
			asm__consume_parent(a, s);
			return;
		}
		break;
	default:
		break;
	}
	if (!has_parent)
		tt_ids__trace(a->salt, ks, s->key, s->key_len, s->trace_id);
}
