/* SPDX-License-Identifier: MIT */
/* Writing JSON text: escaped strings and hex ids. */
#ifndef TASKTAP_JSONW_H
#define TASKTAP_JSONW_H

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

#endif /* TASKTAP_JSONW_H */
