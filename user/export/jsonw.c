// SPDX-License-Identifier: MIT
/* Writing JSON text: escaped strings, UTF-8 checks, hex ids, and the writer (tt_jsonw). */
#include <inttypes.h>
#include <string.h>

#include "jsonw.h"

size_t tt_utf8__len(const unsigned char *s, size_t left)
{
	size_t n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void tt_json__str(FILE *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	fputc('"', out);
	while (i < len) {
		size_t n = tt_utf8__len(p + i, len - i);

		if (n == 1 && p[i] == '"') {
			fputs("\\\"", out);
		} else if (n == 1 && p[i] == '\\') {
			fputs("\\\\", out);
		} else if (n == 1 && p[i] == '\n') {
			fputs("\\n", out);
		} else if (n == 1 && p[i] == '\t') {
			fputs("\\t", out);
		} else if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			fprintf(out, "\\u%04x", p[i]);
			n = 1;
		} else {
			fwrite(p + i, 1, n, out);
		}
		i += n;
	}
	fputc('"', out);
}

void tt_json__hex(FILE *out, const uint8_t *bytes, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len; i++)
		fprintf(out, "%02x", bytes[i]);
	fputc('"', out);
}

void tt_jsonw__init(struct tt_jsonw *w, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

/*
 * Before a value or a name: the comma, unless it is the first in its
 * object or array, or follows a name. Values at the top are documents of
 * their own: no comma between them.
 */
static void jsonw_sep(struct tt_jsonw *w)
{
	if (w->named) {
		w->named = false;
		return;
	}
	if (w->depth > 0 && w->any[w->depth])
		fputc(',', w->out);
	w->any[w->depth] = true;
}

static void jsonw_open(struct tt_jsonw *w, char c)
{
	jsonw_sep(w);
	fputc(c, w->out);
	if (w->depth < TT_JSONW_MAX_DEPTH)
		w->depth++;
	w->any[w->depth] = false;
}

static void jsonw_close(struct tt_jsonw *w, char c)
{
	fputc(c, w->out);
	if (w->depth > 0)
		w->depth--;
}

void tt_jsonw__start_object(struct tt_jsonw *w)
{
	jsonw_open(w, '{');
}

void tt_jsonw__end_object(struct tt_jsonw *w)
{
	jsonw_close(w, '}');
}

void tt_jsonw__start_array(struct tt_jsonw *w)
{
	jsonw_open(w, '[');
}

void tt_jsonw__end_array(struct tt_jsonw *w)
{
	jsonw_close(w, ']');
}

void tt_jsonw__name(struct tt_jsonw *w, const char *name)
{
	jsonw_sep(w);
	tt_json__str(w->out, name, strlen(name));
	fputc(':', w->out);
	w->named = true;
}

void tt_jsonw__string_len(struct tt_jsonw *w, const char *s, size_t len)
{
	jsonw_sep(w);
	tt_json__str(w->out, s, len);
}

void tt_jsonw__string(struct tt_jsonw *w, const char *s)
{
	tt_jsonw__string_len(w, s, strlen(s));
}

void tt_jsonw__uint(struct tt_jsonw *w, uint64_t v)
{
	jsonw_sep(w);
	fprintf(w->out, "%" PRIu64, v);
}

void tt_jsonw__int(struct tt_jsonw *w, int64_t v)
{
	jsonw_sep(w);
	fprintf(w->out, "%" PRId64, v);
}

void tt_jsonw__float_fmt(struct tt_jsonw *w, const char *fmt, double v)
{
	jsonw_sep(w);
	fprintf(w->out, fmt, v);
}

void tt_jsonw__bool(struct tt_jsonw *w, bool v)
{
	jsonw_sep(w);
	fputs(v ? "true" : "false", w->out);
}

void tt_jsonw__null(struct tt_jsonw *w)
{
	jsonw_sep(w);
	fputs("null", w->out);
}

void tt_jsonw__string_field(struct tt_jsonw *w, const char *name, const char *s)
{
	tt_jsonw__name(w, name);
	tt_jsonw__string(w, s);
}

void tt_jsonw__uint_field(struct tt_jsonw *w, const char *name, uint64_t v)
{
	tt_jsonw__name(w, name);
	tt_jsonw__uint(w, v);
}

void tt_jsonw__int_field(struct tt_jsonw *w, const char *name, int64_t v)
{
	tt_jsonw__name(w, name);
	tt_jsonw__int(w, v);
}

void tt_jsonw__float_field_fmt(struct tt_jsonw *w, const char *name, const char *fmt, double v)
{
	tt_jsonw__name(w, name);
	tt_jsonw__float_fmt(w, fmt, v);
}

void tt_jsonw__bool_field(struct tt_jsonw *w, const char *name, bool v)
{
	tt_jsonw__name(w, name);
	tt_jsonw__bool(w, v);
}
