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

int tt_cgroup__from_proc(const char *text, char *buf, size_t len)
{
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);

		/* cgroup v2: the one line of hierarchy 0 with no controllers */
		if (n >= 3 && !strncmp(line, "0::", 3)) {
			if (n - 3 >= len)
				return -ENAMETOOLONG;
			memcpy(buf, line + 3, n - 3);
			buf[n - 3] = '\0';
			return 0;
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

bool tt_cgroup__under(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	while (n > 1 && prefix[n - 1] == '/')
		n--; /* "/a/" is "/a" */
	if (n == 1 && prefix[0] == '/')
		return path[0] == '/';
	return !strncmp(prefix, path, n) && (path[n] == '\0' || path[n] == '/');
}

bool tt_narrow__holds(const struct tt_narrow *want, const char *comm, const char *exe,
		      const char *cgroup)
{
	if (want->comm && strncmp(want->comm, comm, TT_COMM_LEN - 1) != 0)
		return false;
	if (want->exe && !tt_glob__path_matches(want->exe, exe))
		return false;
	if (want->cgroup && (!cgroup || !tt_cgroup__under(want->cgroup, cgroup)))
		return false;
	return true;
}
