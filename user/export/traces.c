// SPDX-License-Identifier: MIT
/*
 * The ring of recent traces (traces.h). Each trace, pending or finished,
 * is one struct trace in a hash table by trace id; pending ones are also
 * on a FIFO list, finished ones in the ring array. A trace keeps its spans
 * in one arena of its own; the trace pushed out of a full ring is reused,
 * arena and all, for the next one, so that once the ring is full a span
 * costs no allocation in the usual case.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export/jsonw.h"
#include "export/traces.h"
#include "spec.h"

/*
 * A finished span as the ring keeps it: what the view shows, copied out of
 * the tt_span (whose probe and spec a reload may free) into one block, and
 * rendered to JSON only when asked for. data holds the name, service,
 * process and status message, each NUL-terminated, then nattrs attributes,
 * each a type byte ('s' or 'i'), its key NUL-terminated, and its value
 * (NUL-terminated, or 8 bytes of int64).
 */
struct vspan {
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint64_t start_ns, end_ns;
	uint32_t pid, tid, attempt;
	uint8_t kind, status, cut, role;
	uint16_t nattrs;
	char data[];
};

struct trace {
	uint8_t trace_id[16];
	uint32_t *offs; /* where each span starts in arena; owned, cap entries */
	uint32_t n, cap;
	char *arena; /* the spans, each 8-byte aligned; owned */
	size_t used, acap;
	uint32_t errors;
	uint32_t spans_dropped; /* beyond TT_TRACES_MAX_SPANS */
	bool task_failed;	/* the status of its task span, when it has one */
	uint32_t named_span;	/* the span whose name and service are the trace's */
	int named_by;		/* NAMED_*: what that span is */
	bool finished;
	uint64_t start_ns, end_ns;
	uint64_t seq;
	uint64_t bytes;
	struct trace *hnext;	     /* hash chain */
	struct trace *pprev, *pnext; /* pending list, oldest first */
};

struct tt_traces {
	int64_t mono_to_unix_ns;
	struct trace **ring; /* capacity slots; ring[head] is the next to write */
	uint32_t capacity, head, count;
	struct trace **buckets;
	uint32_t nbuckets; /* a power of two */
	struct trace *pending_head, *pending_tail;
	uint32_t pending_spans;
	uint64_t pending_bytes;
	uint64_t bytes, dropped, seq;
	struct trace *spare; /* pushed out of the ring, kept for the next trace */
};

#define SPARE_MAX_ARENA (64u << 10) /* a bigger arena is freed, not reused */
#define SPARE_MAX_SPANS 1024

static const uint8_t zero_id[8];

/* What a trace's name comes from, weakest first. */
enum { NAMED_NONE = 0, NAMED_SPAN, NAMED_ROOT, NAMED_TASK };

struct tt_traces *tt_traces__new(const struct tt_traces_opts *opts)
{
	struct tt_traces *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->capacity = opts && opts->capacity ? opts->capacity : TT_TRACES_DEFAULT_CAPACITY;
	if (t->capacity > TT_TRACES_MAX_CAPACITY) {
		free(t);
		errno = EINVAL;
		return NULL;
	}
	t->mono_to_unix_ns = opts ? opts->mono_to_unix_ns : 0;
	t->nbuckets = 1024;
	while (t->nbuckets < 2 * t->capacity)
		t->nbuckets *= 2;
	t->ring = calloc(t->capacity, sizeof(*t->ring));
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->ring || !t->buckets) {
		free(t->ring);
		free(t->buckets);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->bytes = sizeof(*t) + t->capacity * sizeof(*t->ring) + t->nbuckets * sizeof(*t->buckets);
	return t;
}

static void trace_free(struct trace *tr)
{
	if (!tr)
		return;
	free(tr->offs);
	free(tr->arena);
	free(tr);
}

void tt_traces__free(struct tt_traces *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->capacity; i++)
		trace_free(t->ring[i]);
	while (t->pending_head) {
		struct trace *tr = t->pending_head;

		t->pending_head = tr->pnext;
		trace_free(tr);
	}
	trace_free(t->spare);
	free(t->ring);
	free(t->buckets);
	free(t);
}

/* ---- the hash table and the pending list ---------------------------------- */

static uint32_t bucket_of(const struct tt_traces *t, const uint8_t id[16])
{
	uint64_t h;

	/* trace ids are hashes or random already */
	memcpy(&h, id + 8, sizeof(h));
	return (uint32_t)(h ^ (h >> 32)) & (t->nbuckets - 1);
}

static struct trace *lookup(const struct tt_traces *t, const uint8_t id[16])
{
	struct trace *tr = t->buckets[bucket_of(t, id)];

	while (tr && memcmp(tr->trace_id, id, 16))
		tr = tr->hnext;
	return tr;
}

static void unhash(struct tt_traces *t, struct trace *tr)
{
	struct trace **pp = &t->buckets[bucket_of(t, tr->trace_id)];

	while (*pp && *pp != tr)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = tr->hnext;
}

static void pending_remove(struct tt_traces *t, struct trace *tr)
{
	if (tr->pprev)
		tr->pprev->pnext = tr->pnext;
	else
		t->pending_head = tr->pnext;
	if (tr->pnext)
		tr->pnext->pprev = tr->pprev;
	else
		t->pending_tail = tr->pprev;
	tr->pprev = tr->pnext = NULL;
	t->pending_spans -= tr->n;
	t->pending_bytes -= tr->bytes;
}

/* Moves a pending trace into the ring, pushing the oldest out when it is full. */
static void finish(struct tt_traces *t, struct trace *tr)
{
	struct trace *old = t->ring[t->head];

	pending_remove(t, tr);
	if (old) {
		unhash(t, old);
		t->dropped++;
		t->count--;
		if (!t->spare && old->acap <= SPARE_MAX_ARENA && old->cap <= SPARE_MAX_SPANS) {
			t->spare = old; /* its memory stays counted */
		} else {
			t->bytes -= old->bytes;
			trace_free(old);
		}
	}
	tr->finished = true;
	tr->seq = ++t->seq;
	t->ring[t->head] = tr;
	t->head = (t->head + 1) % t->capacity;
	t->count++;
}

/* Empties tr for reuse, keeping its arena and span offsets. */
static void trace_clear(struct trace *tr)
{
	struct trace keep = *tr;

	memset(tr, 0, sizeof(*tr));
	tr->offs = keep.offs;
	tr->cap = keep.cap;
	tr->arena = keep.arena;
	tr->acap = keep.acap;
	tr->bytes = keep.bytes;
}

static struct trace *trace_new(struct tt_traces *t, const uint8_t id[16])
{
	struct trace *tr = t->spare;
	uint32_t b;

	if (tr) {
		t->spare = NULL;
		trace_clear(tr);
	} else {
		tr = calloc(1, sizeof(*tr));
		if (!tr)
			return NULL;
		tr->bytes = sizeof(*tr);
		t->bytes += tr->bytes;
	}
	memcpy(tr->trace_id, id, 16);
	b = bucket_of(t, id);
	tr->hnext = t->buckets[b];
	t->buckets[b] = tr;
	tr->pprev = t->pending_tail;
	if (t->pending_tail)
		t->pending_tail->pnext = tr;
	else
		t->pending_head = tr;
	t->pending_tail = tr;
	t->pending_bytes += tr->bytes;
	return tr;
}

/* ---- rendering ------------------------------------------------------------ */

static const char *status_name(uint8_t status)
{
	switch (status) {
	case TT_STATUS_OK:
		return "ok";
	case TT_STATUS_ERROR:
		return "error";
	default:
		return "unset";
	}
}

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case TT_KIND_PRODUCER:
		return "producer";
	case TT_KIND_CONSUMER:
		return "consumer";
	default:
		return "internal";
	}
}

static const char *cut_name(uint8_t cut)
{
	static const char *const names[] = {
		[TT_CUT_EXIT] = "exit",		[TT_CUT_EVICTED] = "evicted",
		[TT_CUT_SHUTDOWN] = "shutdown", [TT_CUT_UNWOUND] = "unwound",
		[TT_CUT_EXPIRED] = "expired",	[TT_CUT_REMOVED] = "removed",
		[TT_CUT_LOST] = "lost",
	};

	if (cut < sizeof(names) / sizeof(names[0]) && names[cut])
		return names[cut];
	return "cut";
}

static const char *span_service(const struct tt_span *s)
{
	if (s->probe && s->probe->target && s->probe->target->spec &&
	    s->probe->target->spec->service)
		return s->probe->target->spec->service;
	return "";
}

/* The process a span ran in, for people: the target's file name or comm. */
static const char *span_process(const struct tt_span *s)
{
	const struct tt_target *tg = s->probe ? s->probe->target : NULL;
	const char *slash;

	if (!tg)
		return "";
	if (tg->comm)
		return tg->comm;
	if (tg->path) {
		slash = strrchr(tg->path, '/');
		return slash ? slash + 1 : tg->path;
	}
	return "";
}

static void json_key(FILE *out, const char *key)
{
	fprintf(out, ",\"%s\":", key);
}

static void json_cstr(FILE *out, const char *key, const char *val)
{
	json_key(out, key);
	tt_json__str(out, val, strlen(val));
}

static uint64_t unix_us(const struct tt_traces *t, uint64_t mono_ns)
{
	return (uint64_t)((int64_t)mono_ns + t->mono_to_unix_ns) / 1000;
}

static const struct vspan *span_at(const struct trace *tr, uint32_t i)
{
	return (const struct vspan *)(tr->arena + tr->offs[i]);
}

/* Writes the string at *p as JSON and moves *p past it. */
static void json_next(FILE *out, const char **p)
{
	size_t n = strlen(*p);

	tt_json__str(out, *p, n);
	*p += n + 1;
}

/* Writes v as one JSON object (README "Task view"). */
static void render(const struct tt_traces *t, const struct vspan *v, FILE *out)
{
	const char *p = v->data;

	fputs("{\"span_id\":", out);
	tt_json__hex(out, v->span_id, 8);
	json_key(out, "parent_id");
	if (memcmp(v->parent_id, zero_id, 8) == 0)
		fputs("null", out);
	else
		tt_json__hex(out, v->parent_id, 8);
	json_key(out, "name");
	json_next(out, &p);
	json_cstr(out, "role", tt_role__name(v->role));
	json_cstr(out, "kind", kind_name(v->kind));
	json_key(out, "service");
	json_next(out, &p);
	json_key(out, "process");
	json_next(out, &p);
	fprintf(out, ",\"pid\":%" PRIu32 ",\"tid\":%" PRIu32 ",\"attempt\":%" PRIu32, v->pid,
		v->tid, v->attempt);
	fprintf(out, ",\"start_unix_us\":%" PRIu64 ",\"duration_us\":%" PRIu64,
		unix_us(t, v->start_ns), (v->end_ns - v->start_ns) / 1000);
	json_cstr(out, "status", status_name(v->status));
	json_key(out, "message");
	if (*p) {
		json_next(out, &p);
	} else {
		fputs("null", out);
		p++;
	}
	json_key(out, "cut");
	if (v->cut != TT_CUT_NONE)
		tt_json__str(out, cut_name(v->cut), strlen(cut_name(v->cut)));
	else
		fputs("null", out);
	json_key(out, "attributes");
	fputc('{', out);
	for (int i = 0; i < v->nattrs; i++) {
		char type = *p++;
		int64_t num;

		if (i)
			fputc(',', out);
		json_next(out, &p);
		fputc(':', out);
		if (type == 's') {
			json_next(out, &p);
		} else {
			memcpy(&num, p, 8);
			p += 8;
			fprintf(out, "%" PRId64, num);
		}
	}
	fputs("}}", out);
}

/* ---- feeding -------------------------------------------------------------- */

/* Names the trace after its task span, else its first root span, else its first span. */
static void name_trace(struct trace *tr, uint32_t i, int by)
{
	if (by <= tr->named_by)
		return;
	tr->named_span = i;
	tr->named_by = by;
}

/* Room in tr's offsets for one more span. Returns 0 or -ENOMEM. */
static int offs_room(struct tt_traces *t, struct trace *tr)
{
	uint32_t cap = tr->cap ? tr->cap * 2 : 8;
	uint32_t *offs;

	if (tr->n < tr->cap)
		return 0;
	offs = realloc(tr->offs, cap * sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	t->bytes += (cap - tr->cap) * sizeof(*offs);
	tr->bytes += (cap - tr->cap) * sizeof(*offs);
	tr->offs = offs;
	tr->cap = cap;
	return 0;
}

/*
 * Grows tr's arena, doubling, to hold `need` bytes. Returns 0 or -ENOMEM.
 * Out of line: w_room()'s check, inlined, is what runs for nearly every part.
 */
static __attribute__((noinline)) int arena_grow(struct tt_traces *t, struct trace *tr, size_t need)
{
	size_t acap = tr->acap ? tr->acap * 2 : 1024;
	char *arena;

	while (acap < need)
		acap *= 2;
	arena = realloc(tr->arena, acap);
	if (!arena)
		return -ENOMEM;
	t->bytes += acap - tr->acap;
	tr->bytes += acap - tr->acap;
	tr->arena = arena;
	tr->acap = acap;
	return 0;
}

/*
 * A span takes sizeof(struct vspan) and its data: the struct's tail padding
 * (past `data`) stays counted at its end, as it always was.
 */
#define VSPAN_TAIL (sizeof(struct vspan) - offsetof(struct vspan, data))

/*
 * A span written at the end of its trace's arena in one pass, each part
 * measured once and copied. The arena grows when a part does not fit, to
 * the same size as growing it once for the whole span would.
 */
struct span_writer {
	struct tt_traces *t;
	struct trace *tr;
	size_t end; /* of what is written so far */
};

/* Room for n more bytes, or NULL when out of memory. */
static inline char *w_room(struct span_writer *w, size_t n)
{
	char *p;

	if (w->end + n + VSPAN_TAIL > w->tr->acap &&
	    arena_grow(w->t, w->tr, w->end + n + VSPAN_TAIL))
		return NULL;
	p = w->tr->arena + w->end;
	w->end += n;
	return p;
}

/* Writes len bytes of s and a NUL. Returns 0 or -ENOMEM. */
static inline int w_str(struct span_writer *w, const char *s, size_t len)
{
	char *p = w_room(w, len + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p, s, len);
	p[len] = '\0';
	return 0;
}

/* Writes the name, service, process and status message (struct vspan's data). */
static int w_texts(struct span_writer *w, const struct tt_span *s)
{
	const char *service = span_service(s), *process = span_process(s);

	if (w_str(w, s->name, strnlen(s->name, sizeof(s->name))) ||
	    w_str(w, service, strlen(service)) || w_str(w, process, strlen(process)) ||
	    w_str(w, s->status_msg, strnlen(s->status_msg, sizeof(s->status_msg))))
		return -ENOMEM;
	return 0;
}

/* Writes the attributes after the texts. Returns how many, or -ENOMEM. */
static int w_attrs(struct span_writer *w, const struct tt_span *s)
{
	static struct tt_kv kv[TT_SPAN_MAX_KV]; /* large: off the stack; one thread */
	int n = tt_span__attrs(s, kv);

	for (int i = 0; i < n; i++) {
		size_t kl = strlen(kv[i].key) + 1;
		char *p = w_room(w, 1 + kl);

		if (!p)
			return -ENOMEM;
		*p = kv[i].type == TT_KV_STR ? 's' : 'i';
		memcpy(p + 1, kv[i].key, kl);
		if (kv[i].type == TT_KV_STR) {
			if (w_str(w, kv[i].str, strnlen(kv[i].str, kv[i].len)))
				return -ENOMEM;
		} else {
			p = w_room(w, 8);
			if (!p)
				return -ENOMEM;
			memcpy(p, &kv[i].i, 8);
		}
	}
	return n;
}

/* Fills the fixed part of v from s. */
static void w_head(struct vspan *v, const struct tt_span *s, int nattrs)
{
	memcpy(v->span_id, s->span_id, 8);
	memcpy(v->parent_id, s->parent_id, 8);
	v->start_ns = s->start_ns;
	v->end_ns = s->end_ns;
	v->pid = s->pid;
	v->tid = s->tid;
	v->attempt = s->attempt;
	v->kind = s->kind;
	v->status = s->status;
	v->cut = s->cut;
	v->role = s->probe ? (uint8_t)s->probe->role : TT_ROLE_SPAN;
	v->nattrs = (uint16_t)nattrs;
}

/* Copies what the view shows of s to the end of tr. Returns 0 or -ENOMEM. */
static int append(struct tt_traces *t, struct trace *tr, const struct tt_span *s)
{
	size_t at = (tr->used + 7) & ~(size_t)7;
	struct span_writer w = {.t = t, .tr = tr, .end = at};
	int n;

	if (offs_room(t, tr) || !w_room(&w, offsetof(struct vspan, data)) || w_texts(&w, s))
		return -ENOMEM;
	n = w_attrs(&w, s);
	if (n < 0)
		return n;
	w_head((struct vspan *)(tr->arena + at), s, n);
	tr->offs[tr->n++] = (uint32_t)at;
	tr->used = w.end + VSPAN_TAIL;
	if (tr->n == 1 || s->start_ns < tr->start_ns)
		tr->start_ns = s->start_ns;
	if (s->end_ns > tr->end_ns)
		tr->end_ns = s->end_ns;
	if (s->status == TT_STATUS_ERROR)
		tr->errors++;
	return 0;
}

void tt_traces__span(const struct tt_span *s, void *ctx)
{
	struct tt_traces *t = ctx;
	struct trace *tr = lookup(t, s->trace_id);
	bool task = s->probe && s->probe->role == TT_ROLE_TASK;
	bool root = memcmp(s->parent_id, zero_id, 8) == 0;

	uint64_t before;
	int ret;

	if (!tr) {
		tr = trace_new(t, s->trace_id);
		if (!tr)
			return;
	}
	if (tr->n >= TT_TRACES_MAX_SPANS) {
		tr->spans_dropped++;
		return;
	}
	before = tr->bytes;
	ret = append(t, tr, s);
	if (!tr->finished)
		t->pending_bytes += tr->bytes - before;
	if (ret)
		return;
	name_trace(tr, tr->n - 1, task ? NAMED_TASK : root ? NAMED_ROOT : NAMED_SPAN);
	if (task)
		tr->task_failed = s->status == TT_STATUS_ERROR;
	if (tr->finished)
		return;
	t->pending_spans++;
	if (task || root) {
		finish(t, tr);
		return;
	}
	/* too many spans wait for their task: finish the oldest trace as far as it got */
	while ((t->pending_spans > TT_TRACES_MAX_PENDING ||
		t->pending_bytes > TT_TRACES_MAX_PENDING_BYTES) &&
	       t->pending_head)
		finish(t, t->pending_head);
}

/* ---- reading -------------------------------------------------------------- */

static void info_of(const struct trace *tr, struct tt_trace_info *info)
{
	memcpy(info->trace_id, tr->trace_id, 16);
	info->name = tr->named_by ? span_at(tr, tr->named_span)->data : "";
	info->service = tr->named_by ? info->name + strlen(info->name) + 1 : "";
	/* a task that succeeded after a retried step is ok; without a task, any error */
	info->error = tr->named_by == NAMED_TASK ? tr->task_failed : tr->errors > 0;
	info->start_ns = tr->start_ns;
	info->duration_ns = tr->end_ns - tr->start_ns;
	info->spans = tr->n;
	info->errors = tr->errors;
	info->spans_dropped = tr->spans_dropped;
	info->seq = tr->seq;
}

int tt_traces__each(const struct tt_traces *t,
		    int (*fn)(const struct tt_trace_info *info, void *ctx), void *ctx)
{
	for (uint32_t k = 1; k <= t->count; k++) {
		const struct trace *tr = t->ring[(t->head + t->capacity - k) % t->capacity];
		struct tt_trace_info info;
		int ret;

		info_of(tr, &info);
		ret = fn(&info, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

void tt_traces__write_info(const struct tt_traces *t, const struct tt_trace_info *info, FILE *out)
{
	fputs("{\"trace_id\":", out);
	tt_json__hex(out, info->trace_id, 16);
	json_cstr(out, "name", info->name);
	json_cstr(out, "service", info->service);
	json_cstr(out, "status", info->error ? "error" : "ok");
	fprintf(out,
		",\"start_unix_us\":%" PRIu64 ",\"duration_us\":%" PRIu64 ",\"spans\":%" PRIu32
		",\"errors\":%" PRIu32 ",\"spans_dropped\":%" PRIu32 ",\"seq\":%" PRIu64 "}",
		unix_us(t, info->start_ns), info->duration_ns / 1000, info->spans, info->errors,
		info->spans_dropped, info->seq);
}

int tt_traces__write(const struct tt_traces *t, const uint8_t trace_id[16], FILE *out)
{
	const struct trace *tr = lookup(t, trace_id);
	struct tt_trace_info info;

	if (!tr || !tr->finished)
		return -ENOENT;
	info_of(tr, &info);
	fputs("{\"trace\":", out);
	tt_traces__write_info(t, &info, out);
	fputs(",\"spans\":[", out);
	for (uint32_t i = 0; i < tr->n; i++) {
		if (i)
			fputc(',', out);
		render(t, span_at(tr, i), out);
	}
	fputs("]}", out);
	return 0;
}

size_t tt_traces__count(const struct tt_traces *t)
{
	return t->count;
}

size_t tt_traces__capacity(const struct tt_traces *t)
{
	return t->capacity;
}

uint64_t tt_traces__bytes(const struct tt_traces *t)
{
	return t->bytes;
}

uint64_t tt_traces__dropped(const struct tt_traces *t)
{
	return t->dropped;
}
