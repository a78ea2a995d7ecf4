/* SPDX-License-Identifier: MIT */
/* Writing JSON text: escaped strings, hex ids, and a writer that places the commas. */
#ifndef TASKTAP_JSONW_H
#define TASKTAP_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Length of the valid UTF-8 sequence at s (left bytes remain), or 0 when
 * it is not one: a stray or missing continuation byte, an overlong form,
 * a surrogate or a code point past U+10FFFF.
 */
size_t tt_utf8__len(const unsigned char *s, size_t left);

/*
 * Writes `len` bytes of `s` as a JSON string, quotes included. Control
 * characters are escaped; bytes that are not valid UTF-8 are written as
 * \u00XX so that the output is always valid JSON.
 */
void tt_json__str(FILE *out, const char *s, size_t len);

/* Writes `len` bytes as lower-case hex inside quotes (OTLP/JSON ids). */
void tt_json__hex(FILE *out, const uint8_t *bytes, size_t len);

/*
 * A JSON writer, after bpftool's json_writer: objects, arrays, names and
 * values in the order they appear, and the writer places the commas and
 * colons, so that members written by different functions (or files) never
 * agree on them by contract. Nesting deeper than TT_JSONW_MAX_DEPTH is not
 * written (and a bug). The writer holds no memory: nothing to release.
 *
 *	struct tt_jsonw w;
 *
 *	tt_jsonw__init(&w, out);
 *	tt_jsonw__start_object(&w);
 *	tt_jsonw__name(&w, "specs");
 *	tt_jsonw__start_array(&w);
 *	...
 *	tt_jsonw__end_array(&w);
 *	tt_jsonw__uint_field(&w, "reloads", 2);
 *	tt_jsonw__end_object(&w);
 */
#define TT_JSONW_MAX_DEPTH 16

struct tt_jsonw {
	FILE *out;
	unsigned int depth;
	bool named;			  /* a name was written: its value comes next */
	bool any[TT_JSONW_MAX_DEPTH + 1]; /* something was written at that depth */
};

void tt_jsonw__init(struct tt_jsonw *w, FILE *out);
void tt_jsonw__start_object(struct tt_jsonw *w);
void tt_jsonw__end_object(struct tt_jsonw *w);
void tt_jsonw__start_array(struct tt_jsonw *w);
void tt_jsonw__end_array(struct tt_jsonw *w);
/* The name of the next value of an object. */
void tt_jsonw__name(struct tt_jsonw *w, const char *name);

/* Values: in an array, or after tt_jsonw__name(). */
void tt_jsonw__string(struct tt_jsonw *w, const char *s);
void tt_jsonw__string_len(struct tt_jsonw *w, const char *s, size_t len); /* as tt_json__str() */
void tt_jsonw__uint(struct tt_jsonw *w, uint64_t v);
void tt_jsonw__int(struct tt_jsonw *w, int64_t v);
/* A number with a printf format for one double ("%.1f"). */
void tt_jsonw__float_fmt(struct tt_jsonw *w, const char *fmt, double v);
void tt_jsonw__bool(struct tt_jsonw *w, bool v);
void tt_jsonw__null(struct tt_jsonw *w);

/* A name and its value, in one call. */
void tt_jsonw__string_field(struct tt_jsonw *w, const char *name, const char *s);
void tt_jsonw__uint_field(struct tt_jsonw *w, const char *name, uint64_t v);
void tt_jsonw__int_field(struct tt_jsonw *w, const char *name, int64_t v);
void tt_jsonw__float_field_fmt(struct tt_jsonw *w, const char *name, const char *fmt, double v);
void tt_jsonw__bool_field(struct tt_jsonw *w, const char *name, bool v);

#endif /* TASKTAP_JSONW_H */
