/* SPDX-License-Identifier: MIT */
/* A scratch directory for a unit test's fixture: made under /tmp, removed with all it holds. */
#ifndef TASKTAP_TESTS_TMPDIR_H
#define TASKTAP_TESTS_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/tt-NAME-XXXXXX into dir (at least 64 bytes). Returns 0, or -1. */
static inline int tmpdir__make(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/tt-%s-XXXXXX", name);
	return mkdtemp(dir) ? 0 : -1;
}

/* Removes dir and what it holds. Returns 0, or -1. */
static inline int tmpdir__remove(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

#endif /* TASKTAP_TESTS_TMPDIR_H */
