// SPDX-License-Identifier: MIT
/* The diagnostics path: tt_warn for problems, tt_info for information, both on stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

const char *tt_prog_name = "tasktap";

static void say(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", tt_prog_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
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
