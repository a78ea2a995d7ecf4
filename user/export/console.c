// SPDX-License-Identifier: MIT
/*
 * The console waterfall (DESIGN §6): one tree per trace as this agent saw
 * it, across processes: publish → process (consume) → task → steps,
 *
 *   publish jobs 4f1a09c2                   [==============================] 4.58s
 *     └── process jobs                        [=========================] 4.21s
 *         └── CreateZip #2                      [=======================] 4.02s
 *             ├── CreateZip.UploadSourceFiles   [=====]                 1.23s
 *             ├── CreateZip.CreateZipArchive #1 ERROR [==]              0.41s
 *
 * Finished spans are held until the top of their tree finishes: a span
 * without a parent (but a publish, which waits for the consume of its
 * message), or a consume (its publish, when held, goes on top). A tree
 * whose top does not come within HOLD_NS (by the spans' own clock: the
 * newest end seen), or the oldest tree when MAX_HELD spans are held, is
 * printed as far as it got.
 *
 * Held spans are indexed by (trace, span id) and by (trace, parent id)
 * with doubly linked sibling lists, so that holding a span, finding its
 * tree's top and dropping a printed tree cost the size of that tree, not
 * of everything held (10,000 open tasks each with a finished step once
 * made every span cost the square of the held count).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "export.h"
#include "otlp_logs.h"
#include "table.h"

#define BAR_WIDTH   30
#define LABEL_WIDTH 46
#define MAX_HELD    4096
#define MAX_DEPTH   64
#define HOLD_NS	    (5ULL * 1000000000ULL)
#define NIL	    (-1)

struct held {
	struct tt_span span;
	int32_t prev_sib; /* held spans with the same (trace, parent id) */
	int32_t next_sib;
	int32_t older; /* arrival order */
	int32_t newer;
	int32_t next_free;
	bool printed; /* while its tree prints */
};

struct tt_console {
	FILE *out;
	bool color;
	struct held *h; /* MAX_HELD slots, allocated at the first span */
	size_t n;
	int32_t free_head;
	int32_t next_unused;
	int32_t oldest;
	int32_t newest;
	struct tt_table by_id;	/* hash(trace, span id) -> slot */
	struct tt_table kids;	/* hash(trace, parent id) -> first slot of the sibling list */
	uint64_t newest_end_ns; /* of the spans seen: the clock that ages held trees */
	uint64_t ops;		/* slots visited, for tests of the bounds */
	uint64_t tree_start;	/* the extent of the tree printing: what the bars scale to */
	uint64_t tree_end;
	int32_t *order; /* scratch: a tree's slots as printed (MAX_HELD) */
	size_t norder;
};

static const uint8_t zero_id[8];

struct tt_console *tt_console__new(FILE *out, bool color)
{
	struct tt_console *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->out = out;
	c->color = color;
	c->free_head = NIL;
	c->oldest = NIL;
	c->newest = NIL;
	if (tt_table__init(&c->by_id, 64) || tt_table__init(&c->kids, 64)) {
		tt_table__release(&c->by_id);
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

uint64_t tt_console__ops(const struct tt_console *c)
{
	return c->ops;
}

static uint64_t id_key(const uint8_t trace[16], const uint8_t id[8])
{
	uint8_t buf[24];
	uint64_t k;

	memcpy(buf, trace, 16);
	memcpy(buf + 16, id, 8);
	k = XXH3_64bits(buf, sizeof(buf));
	return k ? k : 1; /* 0 is the table's "empty" */
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

/* The held parent of slot i, or NIL. */
static int32_t held_parent(struct tt_console *c, int32_t i)
{
	const struct tt_span *s = &c->h[i].span;
	uint64_t *v;
	int32_t p;

	if (!memcmp(s->parent_id, zero_id, 8))
		return NIL;
	v = tt_table__get(&c->by_id, id_key(s->trace_id, s->parent_id));
	if (!v)
		return NIL;
	p = (int32_t)v[0];
	c->ops++;
	return memcmp(c->h[p].span.span_id, s->parent_id, 8) ? NIL : p;
}

/* The top of slot i's held tree. */
static int32_t tree_top(struct tt_console *c, int32_t i)
{
	for (int d = 0; d < MAX_DEPTH; d++) {
		int32_t p = held_parent(c, i);

		if (p == NIL)
			break;
		i = p;
	}
	return i;
}

/* The first held child of slot i, or NIL. */
static int32_t first_kid(const struct tt_console *c, int32_t i)
{
	const struct tt_span *s = &c->h[i].span;
	uint64_t *v = tt_table__get(&c->kids, id_key(s->trace_id, s->span_id));

	return v ? (int32_t)v[0] : NIL;
}

static void print_line(struct tt_console *c, const struct tt_span *root, const struct tt_span *s,
		       const char *prefix, bool namesake)
{
	char label[512], dur[32], attempt[16] = "";
	uint64_t total = c->tree_end - c->tree_start;
	size_t w, from = 0, to = BAR_WIDTH;
	bool error = s->status == TT_STATUS_ERROR;

	if (s->attempt > 1 || (s->attempt && namesake))
		snprintf(attempt, sizeof(attempt), " #%u", s->attempt);
	if (s == root)
		snprintf(label, sizeof(label), "%s%s %02x%02x%02x%02x", s->name, attempt,
			 s->trace_id[0], s->trace_id[1], s->trace_id[2], s->trace_id[3]);
	else
		snprintf(label, sizeof(label), "%s%s%s", prefix, s->name, attempt);
	if (total > 0 && s->start_ns >= c->tree_start) {
		from = (s->start_ns - c->tree_start) * BAR_WIDTH / total;
		to = (s->end_ns - c->tree_start) * BAR_WIDTH / total;
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
		fprintf(c->out, "%*s! %s\n", (int)display_width(prefix), "",
			s->status_msg[0] ? s->status_msg : "its end was not seen (events lost)");
}

static struct tt_console *sort_console; /* qsort has no context argument */

static int by_start(const void *pa, const void *pb)
{
	const struct tt_span *a = &sort_console->h[*(const int32_t *)pa].span;
	const struct tt_span *b = &sort_console->h[*(const int32_t *)pb].span;

	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return 0;
}

/* Whether another of the kids has kid k's name (a retried step): kids are sorted by name. */
static bool named_twice(struct tt_console *c, const int32_t *byname, size_t nk, size_t k)
{
	const char *name = c->h[byname[k]].span.name;

	return (k > 0 && !strcmp(c->h[byname[k - 1]].span.name, name)) ||
	       (k + 1 < nk && !strcmp(c->h[byname[k + 1]].span.name, name));
}

static int by_name(const void *pa, const void *pb)
{
	return strcmp(sort_console->h[*(const int32_t *)pa].span.name,
		      sort_console->h[*(const int32_t *)pb].span.name);
}

static void print_children(struct tt_console *c, int32_t root, int32_t parent, char *prefix,
			   size_t plen, int depth)
{
	size_t first = c->norder, nk;
	int32_t *byname;

	for (int32_t k = first_kid(c, parent); k != NIL; k = c->h[k].next_sib) {
		c->ops++;
		if (!c->h[k].printed && k != parent &&
		    !memcmp(c->h[k].span.parent_id, c->h[parent].span.span_id, 8)) {
			c->h[k].printed = true;
			c->order[c->norder++] = k;
		}
	}
	nk = c->norder - first;
	if (!nk)
		return;
	sort_console = c;
	qsort(c->order + first, nk, sizeof(*c->order), by_start);
	byname = malloc(nk * sizeof(*byname));
	if (byname) {
		memcpy(byname, c->order + first, nk * sizeof(*byname));
		qsort(byname, nk, sizeof(*byname), by_name);
	}
	for (size_t k = 0; k < nk; k++) {
		int32_t i = c->order[first + k];
		bool last = k + 1 == nk, twice = false;
		char line[256];

		if (byname) {
			/* its place among the kids sorted by name */
			size_t lo = 0, hi = nk;

			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				int cmp = strcmp(c->h[byname[mid]].span.name, c->h[i].span.name);

				if (cmp < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			twice = named_twice(c, byname, nk, lo);
		}
		snprintf(line, sizeof(line), "%s%s", prefix, last ? "└── " : "├── ");
		print_line(c, &c->h[root].span, &c->h[i].span, line, twice);
		if (plen + 8 < 200 && depth < MAX_DEPTH) {
			snprintf(prefix + plen, 256 - plen, "%s", last ? "    " : "│   ");
			print_children(c, root, i, prefix, strlen(prefix), depth + 1);
			prefix[plen] = '\0';
		}
	}
	free(byname);
}

/* Takes slot i off the indexes and the arrival list and frees it. */
static void drop(struct tt_console *c, int32_t i)
{
	struct held *h = &c->h[i];
	const struct tt_span *s = &h->span;
	uint64_t k = id_key(s->trace_id, s->span_id);
	uint64_t *v = tt_table__get(&c->by_id, k);

	c->ops++;
	if (v && (int32_t)v[0] == i)
		tt_table__del(&c->by_id, k);
	if (h->prev_sib != NIL) {
		c->h[h->prev_sib].next_sib = h->next_sib;
	} else {
		k = id_key(s->trace_id, s->parent_id);
		if (h->next_sib == NIL)
			tt_table__del(&c->kids, k);
		else
			tt_table__put(&c->kids, k, (uint64_t)h->next_sib, 0);
	}
	if (h->next_sib != NIL)
		c->h[h->next_sib].prev_sib = h->prev_sib;
	if (h->older != NIL)
		c->h[h->older].newer = h->newer;
	else
		c->oldest = h->newer;
	if (h->newer != NIL)
		c->h[h->newer].older = h->older;
	else
		c->newest = h->older;
	h->next_free = c->free_head;
	c->free_head = i;
	c->n--;
}

/* Widens [tree_start, tree_end] to the spans under slot i. */
static void tree_extent(struct tt_console *c, int32_t i, int depth)
{
	const struct tt_span *s = &c->h[i].span;

	if (s->start_ns < c->tree_start)
		c->tree_start = s->start_ns;
	if (s->end_ns > c->tree_end)
		c->tree_end = s->end_ns;
	if (depth >= MAX_DEPTH)
		return;
	for (int32_t k = first_kid(c, i); k != NIL; k = c->h[k].next_sib) {
		c->ops++;
		if (k != i && !memcmp(c->h[k].span.parent_id, s->span_id, 8))
			tree_extent(c, k, depth + 1);
	}
}

/* Prints the tree under slot root and drops its spans. */
static void print_tree(struct tt_console *c, int32_t root)
{
	char prefix[256] = "  ";

	c->norder = 0;
	c->tree_start = c->h[root].span.start_ns;
	c->tree_end = c->h[root].span.end_ns;
	tree_extent(c, root, 0);
	c->h[root].printed = true;
	c->order[c->norder++] = root;
	print_line(c, &c->h[root].span, &c->h[root].span, "", false);
	print_children(c, root, root, prefix, strlen(prefix), 0);
	fflush(c->out);
	for (size_t k = 0; k < c->norder; k++)
		drop(c, c->order[k]);
}

/* Holds a copy of s. Returns 0, or -ENOMEM. */
static int hold(struct tt_console *c, const struct tt_span *s)
{
	struct held *h;
	uint64_t *v, pk;
	int32_t i;

	if (!c->h) {
		c->h = calloc(MAX_HELD, sizeof(*c->h));
		c->order = calloc(MAX_HELD, sizeof(*c->order));
		if (!c->h || !c->order)
			return -ENOMEM;
	}
	if (c->free_head != NIL) {
		i = c->free_head;
		c->free_head = c->h[i].next_free;
	} else {
		i = c->next_unused++;
	}
	h = &c->h[i];
	h->span = *s;
	h->printed = false;
	if (tt_table__put(&c->by_id, id_key(s->trace_id, s->span_id), (uint64_t)i, 0)) {
		h->next_free = c->free_head;
		c->free_head = i;
		return -ENOMEM;
	}
	pk = id_key(s->trace_id, s->parent_id);
	v = tt_table__get(&c->kids, pk);
	h->prev_sib = NIL;
	h->next_sib = v ? (int32_t)v[0] : NIL;
	if (h->next_sib != NIL)
		c->h[h->next_sib].prev_sib = i;
	tt_table__put(&c->kids, pk, (uint64_t)i, 0); /* no memory: it prints as its own tree */
	h->older = c->newest;
	h->newer = NIL;
	if (c->newest != NIL)
		c->h[c->newest].newer = i;
	else
		c->oldest = i;
	c->newest = i;
	c->n++;
	c->ops++;
	return 0;
}

/* Whether span s, just held at slot i, completes the tree it is in. */
static bool tops_its_tree(const struct tt_span *s)
{
	if (s->kind == TT_KIND_CONSUMER)
		return true; /* its publish, when held here, goes on top */
	if (memcmp(s->parent_id, zero_id, 8))
		return false;
	return s->kind != TT_KIND_PRODUCER; /* a publish waits for its consume */
}

void tt_console__span(const struct tt_span *s, void *ctx)
{
	struct tt_console *c = ctx;
	int32_t i;

	if (s->end_ns > c->newest_end_ns)
		c->newest_end_ns = s->end_ns;
	while (c->n >= MAX_HELD) /* full: the oldest tree, as far as it got */
		print_tree(c, tree_top(c, c->oldest));
	if (hold(c, s))
		return;
	i = c->newest;
	if (tops_its_tree(s))
		print_tree(c, tree_top(c, i));
	/* trees whose top did not come in time */
	while (c->oldest != NIL && c->h[c->oldest].span.end_ns + HOLD_NS < c->newest_end_ns)
		print_tree(c, tree_top(c, c->oldest));
}

void tt_console__flush(struct tt_console *c)
{
	while (c->oldest != NIL)
		print_tree(c, tree_top(c, c->oldest));
}

void tt_console__free(struct tt_console *c)
{
	if (!c)
		return;
	tt_console__flush(c);
	tt_table__release(&c->by_id);
	tt_table__release(&c->kids);
	free(c->h);
	free(c->order);
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
