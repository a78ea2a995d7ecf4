// SPDX-License-Identifier: MIT
/* Finished spans written straight into an OTLP trace export request: protobuf and OTLP/JSON. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "jsonw.h"
#include "otlp_pb.h"
#include "otlp_write.h"

void tt_wbuf__release(struct tt_wbuf *b)
{
	free(b->data);
	free(b->scratch);
	tt_arena__release(&b->arena);
	*b = (struct tt_wbuf){0};
}

/*
 * A write in progress: the buffer's data, length and capacity are kept
 * here while it runs (one load a check instead of two dependent ones: the
 * check ran before every field, 6 % of the pipeline's instructions) and
 * handed back to the buffer at the end (wbuf_done()). The first failure
 * sticks, and what is written is then thrown away; a failed growth leaves
 * no room, so later writes do nothing.
 */
/*
 * An attribute key seen in this request: its length, and whether it is
 * plain (ASCII without NUL: written as it is, not checked byte by byte
 * again). Keys are the spec's names, constants and a span's own late
 * names: each address holds the same text for the whole request.
 */
struct key_memo {
	const char *key;
	size_t len;
	bool plain;
};

#define KEY_MEMOS 64 /* a power of two */

struct w {
	struct tt_wbuf *b;
	uint8_t *data;
	size_t len, cap;
	int err;
	struct key_memo keys[KEY_MEMOS]; /* by the key's address */
};

static void wbuf_start(struct w *w, struct tt_wbuf *b)
{
	*w = (struct w){.b = b, .data = b->data, .len = 0, .cap = b->cap};
}

/* Hands the length back to the buffer: 0 after a failure. Returns the failure or 0. */
static int wbuf_done(struct w *w)
{
	w->b->len = w->err ? 0 : w->len;
	return w->err;
}

/* Grows the buffer for `n` more bytes; false (and -ENOMEM remembered) when it cannot. */
static __attribute__((noinline)) bool grow(struct w *w, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (w->err)
		return false;
	cap = w->cap ? w->cap * 2 : 64 * 1024;
	while (cap - w->len < n)
		cap *= 2;
	p = realloc(w->data, cap);
	if (!p) {
		w->err = -ENOMEM;
		w->cap = w->len; /* no room from now on */
		return false;
	}
	w->b->data = w->data = p;
	w->b->cap = w->cap = cap;
	return true;
}

/* Makes room for `n` more bytes. Returns false (and remembers -ENOMEM) when it cannot. */
static inline bool room(struct w *w, size_t n)
{
	if (w->cap - w->len >= n)
		return true;
	return grow(w, n);
}

static inline void put(struct w *w, const void *src, size_t n)
{
	if (!room(w, n))
		return;
	memcpy(w->data + w->len, src, n);
	w->len += n;
}

static inline void put_c(struct w *w, uint8_t c)
{
	if (!room(w, 1))
		return;
	w->data[w->len++] = c;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i])
			return false;
	}
	return true;
}

/* Groups the spans by resource, in order of first appearance. */
struct groups {
	uint32_t *next;	 /* the next span of the same group, or UINT32_MAX */
	uint32_t *first; /* each group's first span */
	size_t n;
};

static int group_spans(struct w *w, const struct tt_xspan *const *spans, size_t n, struct groups *g)
{
	struct tt_wbuf *b = w->b;
	uint32_t *last;
	size_t hit = 0;

	if (n > UINT32_MAX / 4)
		return -ENOMEM;
	if (b->scratch_cap < 3 * n) {
		uint32_t *p = realloc(b->scratch, 3 * n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->scratch = p;
		b->scratch_cap = 3 * n;
	}
	g->next = b->scratch;
	g->first = b->scratch + n;
	last = b->scratch + 2 * n;
	g->n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct tt_resource *res = spans[i]->res;

		g->next[i] = UINT32_MAX;
		if (!g->n || spans[g->first[hit]]->res != res) {
			for (hit = 0; hit < g->n; hit++) {
				if (spans[g->first[hit]]->res == res)
					break;
			}
		}
		if (hit == g->n) {
			g->first[g->n++] = (uint32_t)i;
		} else {
			g->next[last[hit]] = (uint32_t)i;
		}
		last[hit] = (uint32_t)i;
	}
	return 0;
}

/* ---- protobuf ---------------------------------------------------------------- */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *varint_at(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline void varint(struct w *w, uint64_t v)
{
	if (!room(w, 10))
		return;
	w->len = (size_t)(varint_at(w->data + w->len, v) - w->data);
}

static void fixed64(struct w *w, uint8_t tag, uint64_t v)
{
	uint8_t p[9] = {tag};

	for (int i = 0; i < 8; i++)
		p[1 + i] = (uint8_t)(v >> (8 * i));
	put(w, p, sizeof(p));
}

/*
 * Copies `len` bytes as a protobuf string: bytes that are not UTF-8, and
 * NULs, become '?' (as tt_arena__str() does), so the length stays `len`.
 */
static void utf8_copy(uint8_t *dst, const uint8_t *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t bad = 0;
	size_t i = 0;

	/* most strings are ASCII without NUL throughout: check it all, then copy it in one go */
	for (; i + 8 <= len; i += 8) {
		uint64_t x;

		memcpy(&x, s + i, 8);
		bad |= (x & highs) | ((x - ones) & ~x & highs);
	}
	for (; i < len && !bad; i++)
		bad = (uint8_t)(s[i] - 1) >= 0x7f;
	if (!bad) {
		memcpy(dst, s, len);
		return;
	}
	i = 0;
	while (i < len) {
		uint64_t x;
		size_t n;

		/* eight bytes at a time while they are ASCII and not NUL */
		if (i + 8 <= len) {
			memcpy(&x, s + i, 8);
			if (!(x & highs) && !((x - ones) & ~x & highs)) {
				memcpy(dst + i, &x, 8);
				i += 8;
				continue;
			}
		}
		if ((uint8_t)(s[i] - 1) < 0x7f) { /* 0x01..0x7f */
			dst[i] = s[i];
			i++;
			continue;
		}
		n = s[i] ? tt_utf8__len(s + i, len - i) : 0;
		if (n == 0) {
			dst[i++] = '?';
			continue;
		}
		memcpy(dst + i, s + i, n);
		i += n;
	}
}

/* A length-delimited string field, written even when empty. */
static void str(struct w *w, uint8_t tag, const char *s, size_t len)
{
	if (!room(w, 11 + len))
		return;
	w->data[w->len++] = tag;
	varint(w, len);
	utf8_copy(w->data + w->len, (const uint8_t *)s, len);
	w->len += len;
}

static void bytes(struct w *w, uint8_t tag, const uint8_t *p, size_t len)
{
	put_c(w, tag);
	varint(w, len);
	put(w, p, len);
}

/*
 * Opens an embedded message of field `tag` with `reserve` bytes kept for its
 * length; returns where they are, for close_msg().
 */
static size_t open_msg(struct w *w, uint8_t tag, size_t reserve)
{
	size_t at;

	put_c(w, tag);
	if (!room(w, reserve))
		return 0;
	at = w->len;
	w->len += reserve;
	return at;
}

/* Writes the length of the message opened at `at`, moving its body if the length needs to. */
static void close_msg(struct w *w, size_t at, size_t reserve)
{
	size_t body, width;

	if (w->err)
		return;
	body = w->len - at - reserve;
	width = varint_len(body);
	if (width != reserve) {
		if (width > reserve && !room(w, width - reserve))
			return;
		memmove(w->data + at + width, w->data + at + reserve, body);
		w->len = w->len - reserve + width;
	}
	varint_at(w->data + at, body);
}

/* A KeyValue of a string or an integer, as field `tag` of its message. */
/* What this request knows of `key`: its length and whether it is plain. */
static const struct key_memo *key_memo(struct w *w, const char *key)
{
	uintptr_t at = (uintptr_t)key;
	struct key_memo *m = &w->keys[(at ^ at >> 6 ^ at >> 12) & (KEY_MEMOS - 1)];
	size_t i = 0;

	if (m->key == key)
		return m;
	m->key = key;
	m->len = strlen(key);
	while (i < m->len && (uint8_t)(key[i] - 1) < 0x7f)
		i++;
	m->plain = i == m->len;
	return m;
}

static void kv_pb(struct w *w, uint8_t tag, const char *key, const struct tt_kv *kv, size_t len)
{
	const struct key_memo *m = key_memo(w, key);
	size_t klen = m->len;
	size_t val =
		kv->type == TT_KV_INT ? 1 + varint_len((uint64_t)kv->i) : 1 + varint_len(len) + len;
	size_t body = (klen ? 1 + varint_len(klen) + klen : 0) + 1 + varint_len(val) + val;

	put_c(w, tag);
	varint(w, body);
	if (klen && m->plain && room(w, 11 + klen)) {
		w->data[w->len++] = 0x0a; /* KeyValue.key */
		varint(w, klen);
		memcpy(w->data + w->len, key, klen);
		w->len += klen;
	} else if (klen) {
		str(w, 0x0a, key, klen);
	}
	put_c(w, 0x12); /* KeyValue.value */
	varint(w, val);
	if (kv->type == TT_KV_INT) {
		put_c(w, 0x18); /* AnyValue.int_value */
		varint(w, (uint64_t)kv->i);
	} else {
		str(w, 0x0a, kv->str, len); /* AnyValue.string_value */
	}
}

static void kv_str_pb(struct w *w, uint8_t tag, const char *key, const char *s)
{
	struct tt_kv kv = {.key = key, .type = TT_KV_STR, .str = s, .len = strlen(s)};

	kv_pb(w, tag, key, &kv, kv.len);
}

/* The events a span carries, in order, and how many the limit drops. */
enum { EV_COMPENSATING, EV_EXCEPTION };

static size_t span_events(const struct tt_span *s, const struct tt_sdk_config *lim, int ev[2],
			  uint32_t *dropped)
{
	size_t n = 0;

	if (s->probe->role == TT_ROLE_COMPENSATION)
		ev[n++] = EV_COMPENSATING;
	if (s->status == TT_STATUS_ERROR)
		ev[n++] = EV_EXCEPTION;
	*dropped = 0;
	if (lim && n > lim->span_events) {
		*dropped = (uint32_t)(n - lim->span_events);
		n = lim->span_events;
	}
	return n;
}

static void event_pb(struct w *w, const struct tt_span *s, int ev, uint64_t start, uint64_t end)
{
	size_t at = open_msg(w, 0x5a, 1); /* Span.events */

	if (ev == EV_COMPENSATING) {
		if (start)
			fixed64(w, 0x09, start); /* Event.time_unix_nano */
		str(w, 0x12, "Compensating", 12);
	} else {
		if (end)
			fixed64(w, 0x09, end);
		str(w, 0x12, "exception", 9);
		kv_str_pb(w, 0x1a, "exception.message", s->status_msg);
		kv_str_pb(w, 0x1a, "exception.type", tt_span__error_type(s));
	}
	close_msg(w, at, 1);
}

/* One Span, as ScopeSpans.spans. */
static void span_pb(struct w *w, const struct tt_span *s, int64_t off)
{
	const struct tt_sdk_config *lim = tt_otlp__limits();
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(s, kv), ev[2];
	uint64_t start = s->start_ns + (uint64_t)off, end = s->end_ns + (uint64_t)off;
	size_t name_len = strnlen(s->name, sizeof(s->name));
	size_t msg_len = strnlen(s->status_msg, sizeof(s->status_msg));
	uint32_t nattrs = 0, dropped = 0, ev_dropped;
	size_t nev = span_events(s, lim, ev, &ev_dropped), at;
	bool link = !all_zero(s->link_trace_id, 16);
	static const uint8_t flags[] = {0x85, 0x01, 0x01, 0x00, 0x00, 0x00}; /* 16: sampled */

	at = open_msg(w, 0x12, 2);
	bytes(w, 0x0a, s->trace_id, 16);
	bytes(w, 0x12, s->span_id, 8);
	if (!all_zero(s->parent_id, 8))
		bytes(w, 0x22, s->parent_id, 8);
	if (name_len)
		str(w, 0x2a, s->name, name_len);
	if (s->kind) {
		put_c(w, 0x30);
		varint(w, (uint64_t)(int64_t)s->kind);
	}
	if (start)
		fixed64(w, 0x39, start);
	if (end)
		fixed64(w, 0x41, end);
	for (int i = 0; i < n; i++) {
		size_t len = kv[i].len;

		if (lim && nattrs >= lim->span.count) {
			dropped++;
			continue;
		}
		if (lim && kv[i].type != TT_KV_INT)
			len = tt_attr_limit__cut(kv[i].str, len, lim->span.value_length);
		kv_pb(w, 0x4a, kv[i].key, &kv[i], len);
		nattrs++;
	}
	if (dropped) {
		put_c(w, 0x50);
		varint(w, dropped);
	}
	for (size_t i = 0; i < nev; i++)
		event_pb(w, s, ev[i], start, end);
	if (ev_dropped) {
		put_c(w, 0x60);
		varint(w, ev_dropped);
	}
	if (link && lim && lim->span_links == 0) {
		put_c(w, 0x70);
		varint(w, 1);
	} else if (link) {
		put_c(w, 0x6a);
		put_c(w, 28);
		bytes(w, 0x0a, s->link_trace_id, 16);
		bytes(w, 0x12, s->link_span_id, 8);
	}
	put_c(w, 0x7a); /* Span.status, always there */
	varint(w, (msg_len ? 1 + varint_len(msg_len) + msg_len : 0) +
			  (s->status ? 1 + varint_len((uint64_t)(int64_t)s->status) : 0));
	if (msg_len)
		str(w, 0x12, s->status_msg, msg_len);
	if (s->status) {
		put_c(w, 0x18);
		varint(w, (uint64_t)(int64_t)s->status);
	}
	put(w, flags, sizeof(flags));
	close_msg(w, at, 2);
}

/* The Resource message of `res`, as protobuf-c packs it. */
static void resource_pb(struct w *w, struct tt_arena *a, const struct tt_resource *res)
{
	Resource *r = tt_pb__resource(a, res);
	size_t size;

	if (!r) {
		w->err = -ENOMEM;
		return;
	}
	size = protobuf_c_message_get_packed_size(&r->base);
	put_c(w, 0x0a); /* ResourceSpans.resource */
	varint(w, size);
	if (!room(w, size))
		return;
	protobuf_c_message_pack(&r->base, w->data + w->len);
	w->len += size;
}

static void scope_pb(struct w *w)
{
	size_t nl = strlen(TT_SCOPE_NAME), vl = strlen(TASKTAP_VERSION);

	put_c(w, 0x0a); /* ScopeSpans.scope */
	varint(w, 1 + varint_len(nl) + nl + 1 + varint_len(vl) + vl);
	str(w, 0x0a, TT_SCOPE_NAME, nl);
	str(w, 0x12, TASKTAP_VERSION, vl);
}

int tt_otlp__write_traces(struct tt_wbuf *b, const struct tt_xspan *const *spans, size_t n,
			  int64_t mono_to_unix_ns)
{
	struct tt_arena *a = &b->arena; /* kept from request to request: no allocation */
	struct groups g;
	struct w w;

	wbuf_start(&w, b);
	w.err = group_spans(&w, spans, n, &g);
	for (size_t k = 0; k < g.n && !w.err; k++) {
		size_t rs = open_msg(&w, 0x0a, 3), ss; /* request.resource_spans */

		resource_pb(&w, a, spans[g.first[k]]->res);
		ss = open_msg(&w, 0x12, 3); /* ResourceSpans.scope_spans */
		scope_pb(&w);
		for (uint32_t i = g.first[k]; i != UINT32_MAX; i = g.next[i])
			span_pb(&w, &spans[i]->span, mono_to_unix_ns);
		close_msg(&w, ss, 3);
		close_msg(&w, rs, 3);
	}
	tt_arena__clear(a);
	return wbuf_done(&w);
}

/* ---- OTLP/JSON ------------------------------------------------------------- */

static void lit(struct w *w, const char *s)
{
	put(w, s, strlen(s));
}

static void u64_dec(struct w *w, uint64_t v)
{
	if (room(w, TT_U64_DIGITS))
		w->len += tt_u64_digits((char *)w->data + w->len, v);
}

static void i64_dec(struct w *w, int64_t v)
{
	if (v < 0) {
		put_c(w, '-');
		u64_dec(w, (uint64_t)0 - (uint64_t)v);
	} else {
		u64_dec(w, (uint64_t)v);
	}
}

static void hex(struct w *w, const uint8_t *p, size_t len)
{
	char *o;

	if (!room(w, 2 * len + 2))
		return;
	o = (char *)w->data + w->len;
	o[0] = '"';
	tt_hex_digits(o + 1, p, len);
	o[2 * len + 1] = '"';
	w->len += 2 * len + 2;
}

/*
 * A JSON string of `len` bytes as the protobuf round trip gives it: bytes
 * that are not UTF-8, and NULs, become '?' (tt_arena__str()), then quotes,
 * backslashes and control characters are escaped (tt_json__str()).
 */
static void jstr(struct w *w, const char *str_, size_t len)
{
	const uint8_t *s = (const uint8_t *)str_;
	size_t i = 0;
	uint8_t *o;

	if (!room(w, 6 * len + 2)) /* \u00XX at most per byte */
		return;
	o = w->data + w->len;
	*o++ = '"';
	while (i < len) {
		uint8_t c = s[i];
		size_t n;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o++ = c;
			i++;
			continue;
		}
		n = c && c != 0x7f && c >= 0x20 ? tt_utf8__len(s + i, len - i) : 1;
		if (c == 0 || n == 0) {
			*o++ = '?';
			i++;
		} else if (n > 1) {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		} else {
			*o++ = '\\';
			if (c == '"' || c == '\\') {
				*o++ = c;
			} else if (c == '\n') {
				*o++ = 'n';
			} else if (c == '\t') {
				*o++ = 't';
			} else {
				memcpy(o, "u00", 3);
				tt_hex_digits((char *)o + 3, &c, 1);
				o += 5;
			}
			i++;
		}
	}
	*o++ = '"';
	w->len = (size_t)(o - w->data);
}

static void jstr0(struct w *w, const char *s)
{
	jstr(w, s, strlen(s));
}

static void kv_json(struct w *w, const char *key, const struct tt_kv *kv, size_t len)
{
	lit(w, "{\"key\":");
	jstr0(w, key);
	if (kv->type == TT_KV_INT) {
		lit(w, ",\"value\":{\"intValue\":\"");
		i64_dec(w, kv->i);
		lit(w, "\"}}");
	} else {
		lit(w, ",\"value\":{\"stringValue\":");
		jstr(w, kv->str, len);
		lit(w, "}}");
	}
}

static void event_json(struct w *w, const struct tt_span *s, int ev, uint64_t start, uint64_t end)
{
	const char *type;

	lit(w, "{\"timeUnixNano\":\"");
	u64_dec(w, ev == EV_COMPENSATING ? start : end);
	if (ev == EV_COMPENSATING) {
		lit(w, "\",\"name\":\"Compensating\",\"attributes\":[]}");
		return;
	}
	type = tt_span__error_type(s);
	lit(w, "\",\"name\":\"exception\",\"attributes\":[{\"key\":\"exception.message\","
	       "\"value\":{\"stringValue\":");
	jstr0(w, s->status_msg);
	lit(w, "}},{\"key\":\"exception.type\",\"value\":{\"stringValue\":");
	jstr0(w, type);
	lit(w, "}}]}");
}

static void span_json(struct w *w, const struct tt_span *s, int64_t off)
{
	const struct tt_sdk_config *lim = tt_otlp__limits();
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(s, kv), ev[2];
	uint64_t start = s->start_ns + (uint64_t)off, end = s->end_ns + (uint64_t)off;
	size_t msg_len = strnlen(s->status_msg, sizeof(s->status_msg));
	uint32_t nattrs = 0, ev_dropped;
	size_t nev = span_events(s, lim, ev, &ev_dropped);

	lit(w, "{\"traceId\":");
	hex(w, s->trace_id, 16);
	lit(w, ",\"spanId\":");
	hex(w, s->span_id, 8);
	if (!all_zero(s->parent_id, 8)) {
		lit(w, ",\"parentSpanId\":");
		hex(w, s->parent_id, 8);
	}
	lit(w, ",\"flags\":1,\"name\":");
	jstr(w, s->name, strnlen(s->name, sizeof(s->name)));
	lit(w, ",\"kind\":");
	i64_dec(w, (int64_t)s->kind);
	lit(w, ",\"startTimeUnixNano\":\"");
	u64_dec(w, start);
	lit(w, "\",\"endTimeUnixNano\":\"");
	u64_dec(w, end);
	lit(w, "\",\"attributes\":[");
	for (int i = 0; i < n; i++) {
		size_t len = kv[i].len;

		if (lim && nattrs >= lim->span.count)
			continue;
		if (lim && kv[i].type != TT_KV_INT)
			len = tt_attr_limit__cut(kv[i].str, len, lim->span.value_length);
		if (nattrs++)
			put_c(w, ',');
		kv_json(w, kv[i].key, &kv[i], len);
	}
	put_c(w, ']');
	if (nev) {
		lit(w, ",\"events\":[");
		for (size_t i = 0; i < nev; i++) {
			if (i)
				put_c(w, ',');
			event_json(w, s, ev[i], start, end);
		}
		put_c(w, ']');
	}
	if (!all_zero(s->link_trace_id, 16) && !(lim && lim->span_links == 0)) {
		lit(w, ",\"links\":[{\"traceId\":");
		hex(w, s->link_trace_id, 16);
		lit(w, ",\"spanId\":");
		hex(w, s->link_span_id, 8);
		lit(w, "}]");
	}
	lit(w, ",\"status\":{\"code\":");
	i64_dec(w, (int64_t)s->status);
	if (msg_len) {
		lit(w, ",\"message\":");
		jstr(w, s->status_msg, msg_len);
	}
	lit(w, "}}");
}

/* The value of a resource attribute, as tt_pb__json_value() writes it. */
static void value_json(struct w *w, const AnyValue *v)
{
	char tmp[40];

	switch (v ? v->value_case : 0) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		lit(w, "{\"stringValue\":");
		jstr0(w, v->string_value);
		put_c(w, '}');
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		lit(w, "{\"intValue\":\"");
		i64_dec(w, v->int_value);
		lit(w, "\"}");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		lit(w, v->bool_value ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		snprintf(tmp, sizeof(tmp), "{\"doubleValue\":%.17g}", v->double_value);
		lit(w, tmp);
		break;
	default:
		lit(w, "{}");
		break;
	}
}

static void resource_json(struct w *w, struct tt_arena *a, const struct tt_resource *res)
{
	Resource *r = tt_pb__resource(a, res);

	if (!r) {
		w->err = -ENOMEM;
		return;
	}
	lit(w, "{\"resource\":{\"attributes\":[");
	for (size_t i = 0; i < r->n_attributes; i++) {
		if (i)
			put_c(w, ',');
		lit(w, "{\"key\":");
		jstr0(w, r->attributes[i]->key);
		lit(w, ",\"value\":");
		value_json(w, r->attributes[i]->value);
		put_c(w, '}');
	}
	lit(w, "]},\"scopeSpans\":[{\"scope\":{\"name\":");
	jstr0(w, TT_SCOPE_NAME);
	lit(w, ",\"version\":");
	jstr0(w, TASKTAP_VERSION);
	lit(w, "},\"spans\":[");
}

int tt_otlp__write_traces_json(struct tt_wbuf *b, const struct tt_xspan *const *spans, size_t n,
			       int64_t mono_to_unix_ns)
{
	struct tt_arena *a = &b->arena; /* kept from request to request: no allocation */
	struct groups g;
	struct w w;

	wbuf_start(&w, b);
	w.err = group_spans(&w, spans, n, &g);
	lit(&w, "{\"resourceSpans\":[");
	for (size_t k = 0; k < g.n && !w.err; k++) {
		if (k)
			put_c(&w, ',');
		resource_json(&w, a, spans[g.first[k]]->res);
		for (uint32_t i = g.first[k]; i != UINT32_MAX; i = g.next[i]) {
			if (i != g.first[k])
				put_c(&w, ',');
			span_json(&w, &spans[i]->span, mono_to_unix_ns);
		}
		lit(&w, "]}]}");
	}
	lit(&w, "]}");
	put_c(&w, '\0');
	tt_arena__clear(a);
	if (wbuf_done(&w))
		return w.err;
	b->len--; /* the NUL is not counted */
	return 0;
}
