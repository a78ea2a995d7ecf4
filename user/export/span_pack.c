// SPDX-License-Identifier: MIT
/* span_pack.c: a finished span packed at its length for the export queue (span_pack.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "span_pack.h"

/* The parts of struct tt_span copied as they are; the texts between them go at their length. */
#define HEAD_END  offsetof(struct tt_span, name)
#define MID_START offsetof(struct tt_span, marked)
#define MID_END	  offsetof(struct tt_span, key)
#define LATE_FIX  (offsetof(struct tt_late_attr, str) - offsetof(struct tt_late_attr, is_int))

_Static_assert(offsetof(struct tt_span, name) < offsetof(struct tt_span, status_msg) &&
		       offsetof(struct tt_span, status_msg) <
			       offsetof(struct tt_span, error_type) &&
		       offsetof(struct tt_span, error_type) <
			       offsetof(struct tt_span, unreadable) &&
		       offsetof(struct tt_span, unreadable) < MID_START && MID_START < MID_END,
	       "span_pack.c copies struct tt_span by ranges: its layout changed");
_Static_assert(sizeof(((struct tt_span *)0)->name) < 65536 &&
		       sizeof(((struct tt_span *)0)->redacted[0]) < 256,
	       "text lengths are packed in 2 bytes (1 for redacted)");

/* A packing or unpacking cursor. */
struct cur {
	unsigned char *p;
	const unsigned char *end; /* reading: the end of the input */
};

static size_t text_len(const char *s, size_t size)
{
	return strnlen(s, size);
}

static void put(struct cur *c, const void *src, size_t n)
{
	memcpy(c->p, src, n);
	c->p += n;
}

/* A text as a 2-byte length and its bytes. */
static void put_text(struct cur *c, const char *s, size_t size)
{
	uint16_t n = (uint16_t)text_len(s, size);

	put(c, &n, sizeof(n));
	put(c, s, n);
}

static size_t lengths(const struct tt_span *s, size_t *key, size_t *pay, size_t *end, size_t *late)
{
	*key = s->key_len < sizeof(s->key) ? s->key_len : sizeof(s->key);
	*pay = s->payload_len < sizeof(s->payload) ? s->payload_len : sizeof(s->payload);
	*end = s->end_len < sizeof(s->end_payload) ? s->end_len : sizeof(s->end_payload);
	*late = s->nlate < TT_LATE_ATTRS ? s->nlate : TT_LATE_ATTRS;
	return *key + *pay + *end;
}

static size_t late_len(const struct tt_late_attr *l)
{
	size_t n = l->len < sizeof(l->str) ? l->len : sizeof(l->str);

	return 2 + text_len(l->name, sizeof(l->name)) + LATE_FIX + n;
}

size_t tt_span_pack__size(const struct tt_span *s)
{
	size_t key, pay, end, late;
	size_t n = HEAD_END + (MID_END - MID_START) + lengths(s, &key, &pay, &end, &late);

	n += 8 + text_len(s->name, sizeof(s->name)) +
	     text_len(s->status_msg, sizeof(s->status_msg)) +
	     text_len(s->error_type, sizeof(s->error_type)) +
	     text_len(s->unreadable, sizeof(s->unreadable));
	for (int i = 0; i <= TT_MAX_ATTRS; i++)
		n += 1 + text_len(s->redacted[i], sizeof(s->redacted[i]));
	for (size_t k = 0; k < late; k++)
		n += late_len(&s->late[k]);
	return n + sizeof(const struct tt_resource *);
}

size_t tt_span_pack__max(void)
{
	struct tt_span s;

	/* every text full, every length at its most */
	memset(&s, 'x', sizeof(s));
	s.key_len = s.payload_len = s.end_len = UINT16_MAX;
	s.nlate = TT_LATE_ATTRS;
	for (int k = 0; k < TT_LATE_ATTRS; k++)
		s.late[k].len = UINT16_MAX;
	return tt_span_pack__size(&s);
}

void tt_span_pack__write(void *dst, const struct tt_span *s, const struct tt_resource *res)
{
	struct cur c = {.p = dst};
	size_t key, pay, end, late;
	struct tt_span mid;

	lengths(s, &key, &pay, &end, &late);
	put(&c, s, HEAD_END);
	put_text(&c, s->name, sizeof(s->name));
	put_text(&c, s->status_msg, sizeof(s->status_msg));
	put_text(&c, s->error_type, sizeof(s->error_type));
	put_text(&c, s->unreadable, sizeof(s->unreadable));
	/* the lengths as they will be read: clamped to the arrays */
	memcpy((char *)&mid + MID_START, (const char *)s + MID_START, MID_END - MID_START);
	mid.key_len = (uint16_t)key;
	mid.payload_len = (uint16_t)pay;
	mid.end_len = (uint16_t)end;
	mid.nlate = (uint8_t)late;
	put(&c, (const char *)&mid + MID_START, MID_END - MID_START);
	put(&c, s->key, key);
	put(&c, s->payload, pay);
	put(&c, s->end_payload, end);
	for (int i = 0; i <= TT_MAX_ATTRS; i++) {
		uint8_t n = (uint8_t)text_len(s->redacted[i], sizeof(s->redacted[i]));

		put(&c, &n, 1);
		put(&c, s->redacted[i], n);
	}
	for (size_t k = 0; k < late; k++) {
		const struct tt_late_attr *l = &s->late[k];
		struct tt_late_attr fix = *l;

		fix.len = l->len < sizeof(l->str) ? l->len : sizeof(l->str);
		put_text(&c, l->name, sizeof(l->name));
		put(&c, &fix.is_int, LATE_FIX);
		put(&c, l->str, fix.len);
	}
	put(&c, &res, sizeof(res));
}

static int get(struct cur *c, void *dst, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -EBADMSG;
	memcpy(dst, c->p, n);
	c->p += n;
	return 0;
}

/* A text into an array of `size`, NUL-terminated when shorter. */
static int get_text(struct cur *c, char *dst, size_t size)
{
	uint16_t n;

	if (get(c, &n, sizeof(n)) || n > size || get(c, dst, n))
		return -EBADMSG;
	if (n < size)
		dst[n] = '\0';
	return 0;
}

/* The redacted values and the annotate attributes, after the payloads. */
static int read_tail(struct cur *c, struct tt_span *s)
{
	for (int i = 0; i <= TT_MAX_ATTRS; i++) {
		uint8_t n;

		if (get(c, &n, 1) || n > sizeof(s->redacted[i]) || get(c, s->redacted[i], n))
			return -EBADMSG;
		if (n < sizeof(s->redacted[i]))
			s->redacted[i][n] = '\0';
	}
	for (int k = 0; k < s->nlate; k++) {
		struct tt_late_attr *l = &s->late[k];

		if (get_text(c, l->name, sizeof(l->name)) || get(c, &l->is_int, LATE_FIX) ||
		    l->len > sizeof(l->str) || get(c, l->str, l->len))
			return -EBADMSG;
	}
	return 0;
}

int tt_span_pack__read(struct tt_xspan *x, const void *src, size_t len)
{
	struct tt_span *s = &x->span;
	struct cur c = {.p = (unsigned char *)src, .end = (const unsigned char *)src + len};

	if (get(&c, s, HEAD_END) || get_text(&c, s->name, sizeof(s->name)) ||
	    get_text(&c, s->status_msg, sizeof(s->status_msg)) ||
	    get_text(&c, s->error_type, sizeof(s->error_type)) ||
	    get_text(&c, s->unreadable, sizeof(s->unreadable)) ||
	    get(&c, (char *)s + MID_START, MID_END - MID_START))
		return -EBADMSG;
	if (s->key_len > sizeof(s->key) || s->payload_len > sizeof(s->payload) ||
	    s->end_len > sizeof(s->end_payload) || s->nlate > TT_LATE_ATTRS)
		return -EBADMSG;
	if (get(&c, s->key, s->key_len) || get(&c, s->payload, s->payload_len) ||
	    get(&c, s->end_payload, s->end_len) || read_tail(&c, s) ||
	    get(&c, &x->res, sizeof(x->res)) || c.p != c.end)
		return -EBADMSG;
	return 0;
}
