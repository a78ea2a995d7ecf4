/* SPDX-License-Identifier: MIT */
/*
 * Digits: hex read where text is parsed (expressions, traceparents, %XX
 * escapes); decimal and hex written where text is made (the JSON writers,
 * captured integers as text).
 */
#ifndef TASKTAP_HEX_H
#define TASKTAP_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The value of hex digit `c` (either case), or -1 when it is not one. */
static inline int tt_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The most decimal digits a u64 has. */
#define TT_U64_DIGITS 20

/* `v` in decimal, as "%" PRIu64 writes it, into out (no NUL); returns its length. */
static inline size_t tt_u64_digits(char out[TT_U64_DIGITS], uint64_t v)
{
	char tmp[TT_U64_DIGITS];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(out, tmp + i, sizeof(tmp) - i);
	return sizeof(tmp) - i;
}

/* The `len` bytes at p as 2 * len lower-case hex digits into out (no NUL). */
static inline void tt_hex_digits(char *out, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		*out++ = digits[p[i] >> 4];
		*out++ = digits[p[i] & 15];
	}
}

#endif /* TASKTAP_HEX_H */
