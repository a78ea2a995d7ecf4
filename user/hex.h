/* SPDX-License-Identifier: MIT */
/* Hex digits, read where text is parsed: expressions, traceparents, %XX escapes. */
#ifndef TASKTAP_HEX_H
#define TASKTAP_HEX_H

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

#endif /* TASKTAP_HEX_H */
