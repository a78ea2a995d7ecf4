// SPDX-License-Identifier: MIT
/* Small helpers the modules share: numbers from the command line, clocks. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
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

uint64_t tt_now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
