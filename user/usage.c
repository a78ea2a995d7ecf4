// SPDX-License-Identifier: MIT
/* Usage texts as --help prints them and as the tasktap(8) manual page (see usage.h). */
#include <string.h>

#include "log.h"
#include "usage.h"

/* The width of the option column in --help, and of its lines. */
#define WHAT_WIDTH 26
#define LINE_WIDTH 80

/* `text` wrapped at spaces into lines of at most LINE_WIDTH, then a full stop. */
static void print_wrapped(FILE *out, const char *text)
{
	size_t col = 0;

	while (*text) {
		size_t word = strcspn(text, " ");

		if (col && col + 1 + word >= LINE_WIDTH) {
			fputc('\n', out);
			col = 0;
		} else if (col) {
			fputc(' ', out);
			col++;
		}
		fwrite(text, 1, word, out);
		col += word;
		text += word;
		text += strspn(text, " ");
	}
	fputs(".\n", out);
}

void tt_usage__short(const struct tt_usage *u, FILE *out)
{
	fprintf(out, "usage: %s %s%s%s\n", tt_prog_name, u->name, u->args[0] ? " " : "", u->args);
	fprintf(out, "Run '%s %s --help' for its options and examples.\n", tt_prog_name, u->name);
}

void tt_usage__print(const struct tt_usage *u, FILE *out)
{
	fprintf(out, "usage: %s %s%s%s\n\n", tt_prog_name, u->name, u->args[0] ? " " : "", u->args);
	print_wrapped(out, u->summary);
	if (u->options) {
		fputs("\noptions:\n", out);
		for (const struct tt_usage_item *o = u->options; o->what; o++) {
			if (strlen(o->what) < WHAT_WIDTH)
				fprintf(out, "  %-*s %s\n", WHAT_WIDTH - 1, o->what, o->text);
			else
				fprintf(out, "  %s\n  %-*s %s\n", o->what, WHAT_WIDTH - 1, "",
					o->text);
		}
	}
	if (u->examples) {
		fputs("\nexamples:\n", out);
		for (const struct tt_usage_item *e = u->examples; e->what; e++)
			fprintf(out, "  %s\n      %s\n", e->what, e->text);
	}
}

/*
 * Text as roff: a backslash is \e, a minus \- (so that it prints and
 * searches as a minus), and no line starts with a control character.
 */
static void roff(FILE *out, const char *s)
{
	for (const char *c = s; *c; c++) {
		if ((c == s || c[-1] == '\n') && (*c == '.' || *c == '\''))
			fputs("\\&", out);
		if (*c == '\\')
			fputs("\\e", out);
		else if (*c == '-')
			fputs("\\-", out);
		else
			fputc(*c, out);
	}
}

/* Options or examples: a tagged paragraph each, what is typed in bold. */
static void man_items(FILE *out, const struct tt_usage_item *items)
{
	for (const struct tt_usage_item *i = items; i && i->what; i++) {
		fputs(".TP\n.B ", out);
		roff(out, i->what);
		fputc('\n', out);
		roff(out, i->text);
		fputs(".\n", out);
	}
}

static void man_command(const struct tt_usage *u, FILE *out)
{
	fputs(".SS \"", out);
	roff(out, u->name);
	fputs("\"\n.B tasktap ", out);
	roff(out, u->name);
	fputc('\n', out);
	if (u->args[0]) {
		roff(out, u->args);
		fputc('\n', out);
	}
	fputs(".PP\n", out);
	roff(out, u->summary);
	fputs(".\n", out);
	man_items(out, u->options);
	if (u->examples)
		fputs(".PP\nExamples:\n", out);
	man_items(out, u->examples);
}

void tt_usage__man(const struct tt_usage *const *cmds, size_t n, const char *description, FILE *out)
{
	fprintf(out, ".TH TASKTAP 8 \"\" \"tasktap %s\" \"System Administration\"\n",
		TASKTAP_VERSION);
	fputs(".SH NAME\ntasktap \\- trace unmodified task workers with eBPF\n.SH SYNOPSIS\n", out);
	for (size_t i = 0; i < n; i++) {
		fputs(".B tasktap ", out);
		roff(out, cmds[i]->name);
		fputc('\n', out);
		if (cmds[i]->args[0]) {
			roff(out, cmds[i]->args);
			fputc('\n', out);
		}
		fputs(".br\n", out);
	}
	fputs(".SH DESCRIPTION\n", out);
	roff(out, description);
	fputs("\n.SH COMMANDS\n", out);
	for (size_t i = 0; i < n; i++)
		man_command(cmds[i], out);
	fputs(".SH SEE ALSO\n.BR bpftool (8)\n", out);
}
