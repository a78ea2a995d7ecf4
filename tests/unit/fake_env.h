/* SPDX-License-Identifier: MIT */
/* An environment for unit tests of what reads OTEL_* variables: a table, and warnings collected. */
#ifndef TASKTAP_TESTS_FAKE_ENV_H
#define TASKTAP_TESTS_FAKE_ENV_H

#include <stdio.h>
#include <string.h>

/* The variables as {name, value} rows ending at the first NULL name; the warnings said. */
struct fake_env {
	const char *vars[32][2];
	char warnings[2048];
	int nwarn;
};

/* The `get` of a tt_env over struct fake_env `ctx`: a variable's value, or NULL. */
static inline const char *fake_get(const char *name, void *ctx)
{
	struct fake_env *f = ctx;

	for (int i = 0; i < 32 && f->vars[i][0]; i++) {
		if (!strcmp(f->vars[i][0], name))
			return f->vars[i][1];
	}
	return NULL;
}

/* The `warn` of a tt_env: appends msg and a newline to f->warnings, and counts it. */
static inline void fake_warn(const char *msg, void *ctx)
{
	struct fake_env *f = ctx;
	size_t n = strlen(f->warnings);

	snprintf(f->warnings + n, sizeof(f->warnings) - n, "%s\n", msg);
	f->nwarn++;
}

#endif /* TASKTAP_TESTS_FAKE_ENV_H */
