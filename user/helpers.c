// SPDX-License-Identifier: MIT
/* Small helpers the modules share: numbers from the command line, clocks. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

int tt_parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int tt_parse_size(const char *s, size_t *out)
{
	static const char suffixes[] = "KMG";
	unsigned long long v;
	const char *unit;
	char *end;
	int shift;

	if (*s < '0' || *s > '9') /* strtoull would take a sign or blanks */
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	shift = 0;
	unit = *end ? strchr(suffixes, toupper((unsigned char)*end)) : NULL;
	if (unit) {
		shift = 10 * (int)(unit - suffixes + 1);
		end++;
	}
	if (*end)
		return -EINVAL;
	if (v > (SIZE_MAX >> shift))
		return -ERANGE;
	*out = (size_t)(v << shift);
	return 0;
}

const char *tt_shorten(const char *s, char buf[TT_SHORT_MAX])
{
	const size_t keep = 64; /* leaves room for "... (N bytes)" */
	size_t n = strlen(s), cut = keep;

	if (n < TT_SHORT_MAX)
		return s;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--; /* not inside a UTF-8 character */
	snprintf(buf, TT_SHORT_MAX, "%.*s... (%zu bytes)", (int)cut, s, n);
	return buf;
}

uint64_t tt_now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
