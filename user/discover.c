// SPDX-License-Identifier: MIT
/* Discovery: which processes a spec's comm: and binary: targets apply to (see discover.h). */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"

bool tt_glob__is(const char *path)
{
	return strpbrk(path, "*?[") != NULL;
}

uint32_t tt_glob__comm_prefix(const char *path, char comm[TT_COMM_LEN])
{
	const char *base = strrchr(path, '/');
	size_t lit;

	base = base ? base + 1 : path;
	lit = strcspn(base, "*?[\\");
	memset(comm, 0, TT_COMM_LEN);
	if (lit >= TT_COMM_LEN - 1) {
		memcpy(comm, base, TT_COMM_LEN - 1);
		return TT_COMM_LEN - 1; /* the kernel cut the name: a prefix */
	}
	memcpy(comm, base, lit);
	if (base[lit] == '\0')
		return (uint32_t)lit + 1; /* the whole name, and its NUL */
	return (uint32_t)lit;
}

/* How many of the first bytes of a and b match (the NUL of an exact name is one of them). */
static uint32_t shared_start(const struct tt_comm_prefix *a, const struct tt_comm_prefix *b)
{
	uint32_t n = 0, max = a->len < b->len ? a->len : b->len;

	while (n < max && a->comm[n] == b->comm[n])
		n++;
	return n;
}

/* Whether pattern a matches every name pattern b does. */
static bool covers(const struct tt_comm_prefix *a, const struct tt_comm_prefix *b)
{
	return shared_start(a, b) == a->len;
}

/* Drops p[i] by moving the last pattern into its place; returns the new count. */
static int drop(struct tt_comm_prefix *p, int n, int i)
{
	p[i] = p[n - 1];
	return n - 1;
}

/* Drops every pattern that another one covers (of two equal ones, the later). */
static int drop_covered(struct tt_comm_prefix *p, int n)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			if (i != j && covers(&p[j], &p[i])) {
				n = drop(p, n, i);
				i = -1; /* start again: the order changed */
				break;
			}
		}
	}
	return n;
}

int tt_comm_prefix__fit(struct tt_comm_prefix *p, int n, int max)
{
	n = drop_covered(p, n);
	while (n > max) {
		int bi = -1, bj = -1;
		uint32_t best = 0;

		for (int i = 0; i < n; i++) {
			for (int j = i + 1; j < n; j++) {
				uint32_t c = shared_start(&p[i], &p[j]);

				if (c > best) {
					best = c;
					bi = i;
					bj = j;
				}
			}
		}
		if (!best)
			return -1;
		memset(p[bi].comm + best, 0, TT_COMM_LEN - best);
		p[bi].len = best;
		n = drop(p, n, bj);
		n = drop_covered(p, n);
	}
	return n;
}

bool tt_glob__path_matches(const char *pattern, const char *exe)
{
	if (!tt_glob__is(pattern))
		return strcmp(pattern, exe) == 0;
	return fnmatch(pattern, exe, FNM_PATHNAME) == 0;
}
