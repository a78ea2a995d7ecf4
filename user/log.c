// SPDX-License-Identifier: MIT
/* The diagnostics path: tt_warn for problems, tt_info for information, both on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "redact.h"

const char *tt_prog_name = "tasktap";

/* Every message has its secrets masked (redact.h): an endpoint's password, a header's token. */
static void say(const char *fmt, va_list ap)
{
	char *text = NULL, *safe = NULL;
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n >= 0)
		text = malloc((size_t)n + 1);
	/* a mask is 3 bytes: at most 3 per byte of the message */
	if (text)
		safe = malloc((size_t)n * 3 + 1);
	if (!safe) {
		/* out of memory: say that much rather than print a secret */
		fprintf(stderr, "%s: (a message could not be written: out of memory)\n",
			tt_prog_name);
		free(text);
		return;
	}
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	tt_redact__text(text, safe, (size_t)n * 3 + 1);
	fprintf(stderr, "%s: %s\n", tt_prog_name, safe);
	free(text);
	free(safe);
}

void tt_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

void tt_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}
