/* SPDX-License-Identifier: MIT */
/* The fixture programs the unit tests read, built into $TT_FIXTURES (default .output/fixtures). */
#ifndef TASKTAP_TESTS_FIXTURES_H
#define TASKTAP_TESTS_FIXTURES_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Writes the absolute path of fixture `name` into out (PATH_MAX bytes).
 * Returns 0, or -1 after saying on stderr that it is missing.
 */
static inline int fixture__path(const char *name, char out[PATH_MAX])
{
	const char *env = getenv("TT_FIXTURES");
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/%s", env && env[0] ? env : ".output/fixtures", name);
	if (!realpath(rel, out)) {
		fprintf(stderr, "cannot read fixture '%s': %s (build it: make unit-bins)\n", rel,
			strerror(errno));
		return -1;
	}
	return 0;
}

#endif /* TASKTAP_TESTS_FIXTURES_H */
