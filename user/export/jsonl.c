// SPDX-License-Identifier: MIT
/*
 * The JSON-lines span sink: one JSON object per finished span (see export.h).
 *
 * Each line is written into a buffer on the stack and handed to stdio with
 * one fwrite(): through stdio a character or a piece at a time (fputc,
 * fputs, fprintf per field, tt_json__str() per character) a span took 56k
 * instructions, 35k of them in its strings. The output is the same, byte for
 * byte (test_otlp_write compares the two on its table of spans).
 */
#include <inttypes.h>
#include <string.h>

#include "export.h"
#include "hex.h"
#include "jsonw.h"

static const uint8_t zero_id[8];
static const uint8_t zero_trace[16];

/* A line being written: full, its bytes go to `out` and it starts again. */
struct line {
	FILE *out;
	size_t len;
	char buf[8192];
};

static void line_flush(struct line *l)
{
	if (l->len)
		fwrite(l->buf, 1, l->len, l->out);
	l->len = 0;
}

/* Room for `n` (at most sizeof(buf)) more bytes; returns where they go. */
static inline char *line_room(struct line *l, size_t n)
{
	if (l->len + n > sizeof(l->buf))
		line_flush(l);
	return l->buf + l->len;
}

static void line_put(struct line *l, const void *s, size_t n)
{
	if (n > sizeof(l->buf)) {
		line_flush(l);
		fwrite(s, 1, n, l->out);
		return;
	}
	memcpy(line_room(l, n), s, n);
	l->len += n;
}

#define LIT(l, s) line_put((l), (s), sizeof(s) - 1)

static void line_c(struct line *l, char c)
{
	*line_room(l, 1) = c;
	l->len++;
}

static void line_u64(struct line *l, uint64_t v)
{
	l->len += tt_u64_digits(line_room(l, TT_U64_DIGITS), v);
}

static void line_i64(struct line *l, int64_t v)
{
	if (v < 0) {
		line_c(l, '-');
		line_u64(l, (uint64_t)0 - (uint64_t)v);
	} else {
		line_u64(l, (uint64_t)v);
	}
}

/* As tt_json__hex(): lower-case hex digits in quotes. */
static void line_hex(struct line *l, const uint8_t *p, size_t len)
{
	char *o = line_room(l, 2 * len + 2);

	o[0] = '"';
	tt_hex_digits(o + 1, p, len);
	o[2 * len + 1] = '"';
	l->len += 2 * len + 2;
}

/* Whether byte c goes into a JSON string as it is (tt_json__str()'s rules). */
static inline bool plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Whether a byte of x is below `n` (n <= 128). */
static inline uint64_t has_less(uint64_t x, uint8_t n)
{
	return (x - 0x0101010101010101ULL * n) & ~x & 0x8080808080808080ULL;
}

/* Whether a byte of x is `c`. */
static inline uint64_t has_byte(uint64_t x, uint8_t c)
{
	return has_less(x ^ (0x0101010101010101ULL * c), 1);
}

/* The length of the run of plain bytes that starts `p`: eight at a time, then one. */
static size_t plain_run(const unsigned char *p, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x;

		memcpy(&x, p + i, 8);
		if ((x & 0x8080808080808080ULL) || has_less(x, 0x20) || has_byte(x, '"') ||
		    has_byte(x, '\\') || has_byte(x, 0x7f))
			break;
	}
	while (i < len && plain(p[i]))
		i++;
	return i;
}

/*
 * As tt_json__str(): runs of plain bytes copied at once, UTF-8 sequences as
 * they are, quotes, backslashes, \n and \t escaped, any other control byte,
 * DEL and a byte that is not UTF-8 as \u00XX.
 */
static void line_str(struct line *l, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	line_c(l, '"');
	while (i < len) {
		size_t j = i, n;
		char *o;

		j += plain_run(p + j, len - j);
		if (j > i) {
			line_put(l, s + i, j - i);
			i = j;
			continue;
		}
		n = tt_utf8__len(p + i, len - i);
		o = line_room(l, 6);
		if (n == 1 && (p[i] == '"' || p[i] == '\\' || p[i] == '\n' || p[i] == '\t')) {
			o[0] = '\\';
			o[1] = p[i] == '\n' ? 'n' : p[i] == '\t' ? 't' : (char)p[i];
			l->len += 2;
		} else if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			memcpy(o, "\\u00", 4);
			tt_hex_digits(o + 4, p + i, 1);
			l->len += 6;
			n = 1;
		} else {
			memcpy(o, p + i, n);
			l->len += n;
		}
		i += n;
	}
	line_c(l, '"');
}

static void line_str0(struct line *l, const char *s)
{
	line_str(l, s, strlen(s));
}

static void write_attr(struct line *l, const struct tt_kv *kv)
{
	LIT(l, "{\"key\":");
	line_str0(l, kv->key);
	if (kv->type == TT_KV_INT) {
		LIT(l, ",\"value\":{\"intValue\":\"");
		line_i64(l, kv->i);
		LIT(l, "\"}}");
	} else {
		LIT(l, ",\"value\":{\"stringValue\":");
		line_str(l, kv->str, kv->len);
		LIT(l, "}}");
	}
}

/* As the OTLP exporter does: "Compensating" and "exception" events, and the link. */
static void write_events_and_links(struct line *l, const struct tt_span *s, int64_t off)
{
	bool comp = s->probe->role == TT_ROLE_COMPENSATION;
	bool err = s->status == TT_STATUS_ERROR;

	if (comp || err) {
		LIT(l, ",\"events\":[");
		if (comp) {
			LIT(l, "{\"timeUnixNano\":\"");
			line_u64(l, s->start_ns + (uint64_t)off);
			LIT(l, "\",\"name\":\"Compensating\"}");
		}
		if (err) {
			if (comp)
				line_c(l, ',');
			LIT(l, "{\"timeUnixNano\":\"");
			line_u64(l, s->end_ns + (uint64_t)off);
			LIT(l, "\",\"name\":\"exception\",\"attributes\":[{\"key\":"
			       "\"exception.message\",\"value\":{\"stringValue\":");
			line_str0(l, s->status_msg);
			LIT(l, "}},{\"key\":\"exception.type\",\"value\":{\"stringValue\":");
			line_str0(l, tt_span__error_type(s));
			LIT(l, "}}]}");
		}
		line_c(l, ']');
	}
	if (memcmp(s->link_trace_id, zero_trace, sizeof(zero_trace)) != 0) {
		LIT(l, ",\"links\":[{\"traceId\":");
		line_hex(l, s->link_trace_id, 16);
		LIT(l, ",\"spanId\":");
		line_hex(l, s->link_span_id, 8);
		LIT(l, "}]");
	}
}

void tt_jsonl__span(const struct tt_span *s, void *ctx)
{
	struct tt_jsonl *j = ctx;
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(s, kv);
	struct line l;

	l.out = j->out;
	l.len = 0;
	LIT(&l, "{\"traceId\":");
	line_hex(&l, s->trace_id, sizeof(s->trace_id));
	LIT(&l, ",\"spanId\":");
	line_hex(&l, s->span_id, sizeof(s->span_id));
	if (memcmp(s->parent_id, zero_id, sizeof(zero_id)) != 0) {
		LIT(&l, ",\"parentSpanId\":");
		line_hex(&l, s->parent_id, sizeof(s->parent_id));
	}
	LIT(&l, ",\"name\":");
	line_str0(&l, s->name);
	LIT(&l, ",\"kind\":");
	line_i64(&l, (int64_t)s->kind);
	LIT(&l, ",\"startTimeUnixNano\":\"");
	line_u64(&l, s->start_ns + (uint64_t)j->mono_to_unix_ns);
	LIT(&l, "\",\"endTimeUnixNano\":\"");
	line_u64(&l, s->end_ns + (uint64_t)j->mono_to_unix_ns);
	LIT(&l, "\",\"attributes\":[");
	for (int i = 0; i < n; i++) {
		if (i)
			line_c(&l, ',');
		write_attr(&l, &kv[i]);
	}
	line_c(&l, ']');
	write_events_and_links(&l, s, j->mono_to_unix_ns);
	LIT(&l, ",\"status\":{\"code\":");
	line_i64(&l, (int64_t)s->status);
	if (s->status_msg[0]) {
		LIT(&l, ",\"message\":");
		line_str0(&l, s->status_msg);
	}
	LIT(&l, "},\"resource\":{\"service.name\":");
	line_str0(&l, j->service);
	LIT(&l, ",\"process.pid\":");
	line_u64(&l, s->pid);
	LIT(&l, "}}\n");
	line_flush(&l);
}
