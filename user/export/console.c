// SPDX-License-Identifier: MIT
/*
 * The console waterfall (DESIGN §6): one tree per finished task,
 *
 *   CreateZip 4f1a09c2                      [==============================] 4.58s
 *     ├── CreateZip.UploadSourceFiles       [========]                       1.23s
 *     ├── CreateZip.CreateZipArchive #1 ERROR   [====]                       0.41s
 *
 * Finished spans are held until the task (or another root) they belong to
 * finishes; children finish before their task in the usual case.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"
#include "otlp_logs.h"

#define BAR_WIDTH   30
#define LABEL_WIDTH 46
#define MAX_HELD    4096

struct tt_console {
	FILE *out;
	bool color;
	struct tt_span *held;
	size_t n;
	size_t cap;
	bool *mark; /* per held span, while one tree prints */
};

static const uint8_t zero_id[8];

struct tt_console *tt_console__new(FILE *out, bool color)
{
	struct tt_console *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->out = out;
	c->color = color;
	return c;
}

static size_t display_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	}
	return w;
}

static void format_duration(char *buf, size_t len, uint64_t ns)
{
	if (ns >= 1000000000ULL)
		snprintf(buf, len, "%.2fs", ns / 1e9);
	else if (ns >= 1000000ULL)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.1fus", ns / 1e3);
}

static bool is_root(const struct tt_span *s)
{
	return s->probe->role == TT_ROLE_TASK || memcmp(s->parent_id, zero_id, 8) == 0;
}

/* Whether another held sibling of s has s's name (a retried step). */
static bool has_namesake(const struct tt_console *c, const struct tt_span *s)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct tt_span *o = &c->held[i];

		if (o != s && c->mark[i] && !memcmp(o->parent_id, s->parent_id, 8) &&
		    !strcmp(o->name, s->name))
			return true;
	}
	return false;
}

static void print_line(struct tt_console *c, const struct tt_span *root, const struct tt_span *s,
		       const char *prefix)
{
	char label[512], dur[32];
	uint64_t total = root->end_ns - root->start_ns;
	size_t w, from = 0, to = BAR_WIDTH;
	bool error = s->status == TT_STATUS_ERROR;

	if (s == root) {
		snprintf(label, sizeof(label), "%s %02x%02x%02x%02x", s->name, s->trace_id[0],
			 s->trace_id[1], s->trace_id[2], s->trace_id[3]);
	} else {
		char attempt[16] = "";

		if (s->attempt > 1 || (s->attempt && has_namesake(c, s)))
			snprintf(attempt, sizeof(attempt), " #%u", s->attempt);
		snprintf(label, sizeof(label), "%s%s%s", prefix, s->name, attempt);
	}
	if (total > 0 && s != root) {
		from = (s->start_ns - root->start_ns) * BAR_WIDTH / total;
		to = (s->end_ns - root->start_ns) * BAR_WIDTH / total;
		if (to > BAR_WIDTH)
			to = BAR_WIDTH;
		if (from >= BAR_WIDTH)
			from = BAR_WIDTH - 1;
		if (to <= from)
			to = from + 1;
	}
	fputs(label, c->out);
	w = display_width(label);
	if (error) {
		fputs(c->color ? " \033[31mERROR\033[0m" : " ERROR", c->out);
		w += 6;
	}
	do {
		fputc(' ', c->out);
	} while (++w < LABEL_WIDTH);
	fprintf(c->out, "%*s[", (int)from, "");
	for (size_t i = from; i < to; i++)
		fputc('=', c->out);
	format_duration(dur, sizeof(dur), s->end_ns - s->start_ns);
	fprintf(c->out, "]%*s %s\n", (int)(BAR_WIDTH - to), "", dur);
	if (s->cut != TT_CUT_NONE)
		fprintf(c->out, "%*s! %s\n", (int)display_width(prefix), "", s->status_msg);
}

static int by_start(const void *pa, const void *pb)
{
	const struct tt_span *a = *(const struct tt_span *const *)pa;
	const struct tt_span *b = *(const struct tt_span *const *)pb;

	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return 0;
}

static void print_children(struct tt_console *c, const struct tt_span *root,
			   const struct tt_span *parent, char *prefix, size_t plen)
{
	const struct tt_span **kids;
	size_t nk = 0;

	kids = calloc(c->n ? c->n : 1, sizeof(*kids));
	if (!kids)
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (c->mark[i] && &c->held[i] != parent &&
		    !memcmp(c->held[i].parent_id, parent->span_id, 8))
			kids[nk++] = &c->held[i];
	}
	qsort(kids, nk, sizeof(*kids), by_start);
	for (size_t k = 0; k < nk; k++) {
		bool last = k + 1 == nk;
		char line[256];

		snprintf(line, sizeof(line), "%s%s", prefix, last ? "└── " : "├── ");
		print_line(c, root, kids[k], line);
		if (plen + 8 < 200) {
			snprintf(prefix + plen, 256 - plen, "%s", last ? "    " : "│   ");
			print_children(c, root, kids[k], prefix, strlen(prefix));
			prefix[plen] = '\0';
		}
	}
	free(kids);
}

/* Marks root and its held descendants. */
static void mark_tree(struct tt_console *c, size_t root)
{
	bool grew = true;

	memset(c->mark, 0, c->n * sizeof(*c->mark));
	c->mark[root] = true;
	while (grew) {
		grew = false;
		for (size_t i = 0; i < c->n; i++) {
			if (c->mark[i])
				continue;
			for (size_t j = 0; j < c->n; j++) {
				if (c->mark[j] && j != i &&
				    !memcmp(c->held[i].parent_id, c->held[j].span_id, 8)) {
					c->mark[i] = grew = true;
					break;
				}
			}
		}
	}
}

/* Prints the tree under held[root] and drops its spans. */
static void print_tree(struct tt_console *c, size_t root)
{
	char prefix[256] = "  ";
	size_t kept = 0;

	mark_tree(c, root);
	print_line(c, &c->held[root], &c->held[root], "");
	print_children(c, &c->held[root], &c->held[root], prefix, strlen(prefix));
	fflush(c->out);
	for (size_t i = 0; i < c->n; i++) {
		if (!c->mark[i])
			c->held[kept++] = c->held[i];
	}
	c->n = kept;
}

static int hold(struct tt_console *c, const struct tt_span *s)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct tt_span *held;
		bool *mark;

		if (cap > MAX_HELD)
			return -ENOSPC;
		held = realloc(c->held, cap * sizeof(*held));
		if (!held)
			return -ENOMEM;
		c->held = held;
		mark = realloc(c->mark, cap * sizeof(*mark));
		if (!mark)
			return -ENOMEM;
		c->mark = mark;
		c->cap = cap;
	}
	c->held[c->n++] = *s;
	return 0;
}

void tt_console__span(const struct tt_span *s, void *ctx)
{
	struct tt_console *c = ctx;

	if (hold(c, s)) {
		/* full: print the oldest held tree as far as it got, then retry */
		print_tree(c, 0);
		if (hold(c, s))
			return;
	}
	if (is_root(s))
		print_tree(c, c->n - 1);
}

void tt_console__flush(struct tt_console *c)
{
	while (c->n) {
		size_t pick = 0;

		/* start from a span whose parent is not held, so that trees stay whole */
		for (size_t i = 0; i < c->n; i++) {
			bool parent_held = false;

			for (size_t j = 0; j < c->n && !parent_held; j++)
				parent_held = !memcmp(c->held[i].parent_id, c->held[j].span_id, 8);
			if (!parent_held) {
				pick = i;
				break;
			}
		}
		print_tree(c, pick);
	}
}

void tt_console__free(struct tt_console *c)
{
	if (!c)
		return;
	tt_console__flush(c);
	free(c->held);
	free(c->mark);
	free(c);
}

/* ---- step lines ------------------------------------------------------------ */

static void step_line(const struct tt_steplines *sl, const struct tt_step_log *l)
{
	uint64_t t = l->time_ns + (uint64_t)sl->mono_to_unix_ns;
	time_t secs = (time_t)(t / 1000000000ULL);
	char when[32], body[TT_STATUS_MSG_MAX + 4 * TT_STEP_LOG_STR + 64];
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	tt_step_log__body(l, body, sizeof(body));
	fprintf(sl->out, "%s.%03uZ %-5s %s\n", when, (unsigned)(t / 1000000ULL % 1000),
		tt_transition__severity_text(l->transition), body);
}

void tt_steplines__span(const struct tt_span *span, void *ctx)
{
	const struct tt_steplines *sl = ctx;
	struct tt_step_log recs[2];
	int n = tt_step_logs(span, recs);

	for (int i = 0; i < n; i++)
		step_line(sl, &recs[i]);
	if (n)
		fflush(sl->out);
}
