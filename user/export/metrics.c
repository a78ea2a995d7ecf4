// SPDX-License-Identifier: MIT
/*
 * Metrics: one array of series, found through an open-addressing index
 * keyed by (metric, label values). Each metric chains its series in the
 * order they were made, so that exposition is stable.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "export/jsonw.h"
#include "export/metrics.h"

#define NIL		  (-1)
#define INITIAL_SERIES	  64
#define COMPENSATE_SUFFIX ".Compensate"
#define LABEL_KEY_MAX	  (1 + TT_METRIC_MAX_LABELS * TT_LABEL_VALUE_MAX)

/* Agent series, made once in tt_metrics__new(). */
enum agent_series {
	A_EVENTS_RECEIVED = 0,
	A_LOST_PROBE,
	A_LOST_EXIT,
	A_SPANS_EXPORTED, /* accepted: no error.type */
	A_EXPORTED_SPOOL_FULL,
	A_PROCESSED, /* handed to the exporter: no error.type */
	A_PROCESSED_QUEUE_FULL,
	A_EXPORT_FAILURES,
	A_QUEUE_SIZE,
	A_QUEUE_CAPACITY,
	A_SPOOL_SIZE,
	A_QUEUE_BYTES,
	A_QUEUE_BYTES_CAPACITY,
	A_PROBES_ATTACHED,
	A_SPANS_OPEN,
	A_SPANS_EVICTED,
	A_TASKS_STUCK,
	A_SERIES_OVERFLOW,
	A_VIEW_TRACES,
	A_VIEW_MEMORY,
	A__COUNT,
};

struct series {
	uint64_t hash;
	int32_t next; /* next series of the same metric */
	uint8_t metric;
	bool overflow;
	bool exempt; /* not counted against max_series */
	char values[TT_METRIC_MAX_LABELS][TT_LABEL_VALUE_MAX];
	int64_t value;
	uint64_t count;
	double sum;
	uint64_t buckets[TT_METRIC_MAX_BOUNDS + 1];
};

/*
 * A publish span seen lately, for task.queue.wait: its consume (whose parent
 * it is) measures from the publish's start. Direct-mapped by span id: a
 * publish whose consume never comes is overwritten in time.
 */
#define PUBLISHED 1024
struct published {
	uint8_t span_id[8];
	uint64_t start_ns; /* 0: empty */
	char task[TT_LABEL_VALUE_MAX];
	char dest[TT_LABEL_VALUE_MAX];
};

struct tt_metrics {
	pthread_mutex_t lock;
	uint32_t max_series;
	uint64_t start_unix_ns;
	struct series *s; /* n used of cap */
	size_t n, cap;
	int32_t *index; /* open addressing, icap slots (a power of two), NIL: empty */
	size_t icap;
	int32_t head[TT_M__COUNT], tail[TT_M__COUNT];
	size_t nseries[TT_M__COUNT];
	size_t span_series; /* series counted against max_series */
	uint64_t overflowed;
	int32_t agent[A__COUNT];
	int32_t last[TT_M__COUNT]; /* the series a span last fed, by metric; NIL: none */
	struct published *pubs;	   /* PUBLISHED slots, made at the first publish span */
};

/* ---- label values -------------------------------------------------------- */

/*
 * Copies `len` bytes of `src` into `dst` (TT_LABEL_VALUE_MAX bytes) as a
 * valid UTF-8 string: stops at a NUL, replaces invalid bytes with U+FFFD,
 * and cuts at a character boundary when it does not fit.
 */
/*
 * The length of the run of ASCII bytes other than NUL that starts `src`,
 * at most `len`: eight bytes at a time (a span's label values are mostly
 * such, and one tt_utf8__len() call a byte was 3,200 instructions a span).
 */
static size_t ascii_run(const unsigned char *src, size_t len)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x;

		memcpy(&x, src + i, 8);
		if ((x & highs) || ((x - ones) & ~x & highs))
			break;
	}
	while (i < len && src[i] && src[i] < 0x80)
		i++;
	return i;
}

static void label_copy(char *dst, const char *src, size_t len)
{
	static const char repl[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)src;
	size_t i = ascii_run(p, len < TT_LABEL_VALUE_MAX - 1 ? len : TT_LABEL_VALUE_MAX - 1), o = i;

	memcpy(dst, src, i);
	while (i < len && p[i]) {
		size_t n = tt_utf8__len(p + i, len - i);
		const char *from = src + i;
		size_t take = n;

		if (n == 0) {
			from = repl;
			take = 3;
			n = 1;
		}
		if (o + take > TT_LABEL_VALUE_MAX - 1)
			break;
		memcpy(dst + o, from, take);
		o += take;
		i += n;
	}
	dst[o] = '\0';
}

static void label_set(char *dst, const char *src)
{
	label_copy(dst, src ? src : "", src ? strlen(src) : 0);
}

/* Every label a span can give, by enum tt_label. */
struct span_labels {
	char v[TT_L__COUNT][TT_LABEL_VALUE_MAX];
};

static void label_from_kv(char *dst, const struct tt_kv *kv)
{
	char num[24];

	if (kv->type == TT_KV_STR) {
		label_copy(dst, kv->str, kv->len);
		return;
	}
	snprintf(num, sizeof(num), "%" PRId64, kv->i);
	label_set(dst, num);
}

static bool has_suffix(const char *s, size_t len, const char *suffix, size_t slen)
{
	return len > slen && memcmp(s + len - slen, suffix, slen) == 0;
}

/*
 * A step span carries step.name but names its task only in its own name,
 * "<task.name>.<step.name>" (DESIGN §4): the task name is what precedes
 * the step's name. Compensations end in ".Compensate" besides.
 */
static void task_of_step(const struct tt_span *span, const char *step, size_t step_len, char *dst)
{
	const char *name = span->name;
	size_t len = strnlen(name, sizeof(span->name));
	size_t clen = strlen(COMPENSATE_SUFFIX);

	if (span->probe->role == TT_ROLE_COMPENSATION &&
	    has_suffix(name, len, COMPENSATE_SUFFIX, clen))
		len -= clen;
	if (!has_suffix(name, len, step, step_len) || name[len - step_len - 1] != '.')
		return;
	label_copy(dst, name, len - step_len - 1);
}

static void span_labels(const struct tt_span *span, struct span_labels *l)
{
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(span, kv);
	enum tt_role role = span->probe->role;
	const char *step = span->probe->symbol; /* as the assembler names the span */
	size_t step_len = strlen(step);
	bool has_task = false, has_step = false;

	for (int i = 0; i < TT_L__COUNT; i++)
		l->v[i][0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *key = kv[i].key;

		/* the first byte first: a span has a dozen attributes, and three names to find */
		if (key[0] == 't' && strcmp(key, "task.name") == 0) {
			label_from_kv(l->v[TT_L_TASK], &kv[i]);
			has_task = true;
		} else if (key[0] == 's' && strcmp(key, "step.name") == 0) {
			label_from_kv(l->v[TT_L_STEP], &kv[i]);
			has_step = true;
			if (kv[i].type == TT_KV_STR) {
				step = kv[i].str;
				step_len = strnlen(kv[i].str, kv[i].len);
			}
		} else if (key[0] == 'm' && strcmp(key, "messaging.destination.name") == 0) {
			label_from_kv(l->v[TT_L_DEST], &kv[i]);
		}
	}
	label_set(l->v[TT_L_STATUS], span->status == TT_STATUS_ERROR ? "error" : "ok");
	if (span->probe->target && span->probe->target->spec)
		label_set(l->v[TT_L_SERVICE], span->probe->target->spec->service);
	if (role == TT_ROLE_TASK && !has_task)
		label_copy(l->v[TT_L_TASK], span->name, strnlen(span->name, sizeof(span->name)));
	if (role != TT_ROLE_STEP && role != TT_ROLE_COMPENSATION)
		return;
	if (!has_step)
		label_set(l->v[TT_L_STEP], span->probe->symbol);
	if (!has_task)
		task_of_step(span, step, step_len, l->v[TT_L_TASK]);
}

/* ---- the series table ---------------------------------------------------- */

/* Label values of one series of `metric`, taken from every label of a span. */
struct key {
	uint8_t metric;
	char v[TT_METRIC_MAX_LABELS][TT_LABEL_VALUE_MAX];
};

static void key_from(struct key *k, enum tt_metric_id id, const struct span_labels *l)
{
	const struct tt_metric_desc *d = tt_metric__desc(id);

	memset(k, 0, sizeof(*k));
	k->metric = id;
	for (int i = 0; i < d->nlabels; i++)
		memcpy(k->v[i], l->v[d->labels[i]], TT_LABEL_VALUE_MAX);
}

static uint64_t key_hash(const struct key *k)
{
	char buf[LABEL_KEY_MAX];
	size_t o = 0;

	int nlabels = tt_metric__desc(k->metric)->nlabels;

	buf[o++] = (char)k->metric;
	for (int i = 0; i < nlabels; i++) {
		size_t len = strlen(k->v[i]);

		memcpy(buf + o, k->v[i], len + 1);
		o += len + 1;
	}
	return XXH3_64bits(buf, o);
}

static bool key_equal(const struct series *s, const struct key *k, uint64_t h)
{
	if (s->hash != h || s->metric != k->metric)
		return false;
	for (int i = 0; i < tt_metric__desc(k->metric)->nlabels; i++) {
		if (strcmp(s->values[i], k->v[i]) != 0)
			return false;
	}
	return true;
}

static void index_insert(int32_t *index, size_t icap, uint64_t h, int32_t i)
{
	size_t j = h & (icap - 1);

	while (index[j] != NIL)
		j = (j + 1) & (icap - 1);
	index[j] = i;
}

/* Doubles the series array and rebuilds the index. 0 or -ENOMEM. */
static int grow(struct tt_metrics *m)
{
	size_t cap = m->cap ? m->cap * 2 : INITIAL_SERIES;
	size_t icap = cap * 2;
	struct series *s = realloc(m->s, cap * sizeof(*s));
	int32_t *index;

	if (!s)
		return -ENOMEM;
	m->s = s;
	index = malloc(icap * sizeof(*index));
	if (!index)
		return -ENOMEM;
	for (size_t j = 0; j < icap; j++)
		index[j] = NIL;
	for (size_t i = 0; i < m->n; i++)
		index_insert(index, icap, m->s[i].hash, (int32_t)i);
	free(m->index);
	m->index = index;
	m->icap = icap;
	m->cap = cap;
	return 0;
}

enum { FIND_ONLY = 0, MAY_ADD = 1, EXEMPT = 2 };

/*
 * The series of key `k`: found, or made when `how` allows. Returns its
 * index; NIL when it does not exist and may not be made (max_series);
 * below NIL when it could not be allocated.
 */
static int32_t lookup(struct tt_metrics *m, const struct key *k, int how)
{
	uint64_t h = key_hash(k);
	struct series *s;
	size_t j;
	int32_t i;

	if (m->icap) {
		for (j = h & (m->icap - 1); m->index[j] != NIL; j = (j + 1) & (m->icap - 1)) {
			if (key_equal(&m->s[m->index[j]], k, h))
				return m->index[j];
		}
	}
	if (how == FIND_ONLY || (how == MAY_ADD && m->span_series >= m->max_series))
		return NIL;
	if (m->n == m->cap && grow(m))
		return NIL - 1;
	i = (int32_t)m->n++;
	s = &m->s[i];
	memset(s, 0, sizeof(*s));
	s->hash = h;
	s->next = NIL;
	s->metric = k->metric;
	s->exempt = how == EXEMPT;
	memcpy(s->values, k->v, sizeof(s->values));
	index_insert(m->index, m->icap, h, i);
	if (m->tail[k->metric] == NIL)
		m->head[k->metric] = i;
	else
		m->s[m->tail[k->metric]].next = i;
	m->tail[k->metric] = i;
	m->nseries[k->metric]++;
	if (!s->exempt)
		m->span_series++;
	return i;
}

/*
 * The series of `id` for labels `l`; beyond max_series, the metric's
 * overflow series. NULL only when out of memory.
 */
/* Whether series `s` of metric d has the label values `l` gives. */
static bool labels_equal(const struct series *s, const struct tt_metric_desc *d,
			 const struct span_labels *l)
{
	for (int i = 0; i < d->nlabels; i++) {
		if (strcmp(s->values[i], l->v[d->labels[i]]) != 0)
			return false;
	}
	return true;
}

static struct series *series_for(struct tt_metrics *m, enum tt_metric_id id,
				 const struct span_labels *l)
{
	const struct tt_metric_desc *d = tt_metric__desc(id);
	int32_t i = m->last[id];
	struct key k;

	/*
	 * Spans in a row mostly feed the same series (a worker runs one kind of
	 * task): comparing with the last costs a few string compares, finding
	 * it by its key a key built, hashed and compared (~600 instructions)
	 */
	if (i >= 0 && labels_equal(&m->s[i], d, l))
		return &m->s[i];
	key_from(&k, id, l);
	i = lookup(m, &k, MAY_ADD);
	if (i >= 0) {
		m->last[id] = i;
		return &m->s[i];
	}
	if (i < NIL)
		return NULL;
	for (int j = 0; j < d->nlabels; j++) {
		if (d->labels[j] != TT_L_STATUS)
			label_set(k.v[j], TT_METRICS_OVERFLOW_VALUE);
	}
	i = lookup(m, &k, EXEMPT);
	if (i < 0)
		return NULL;
	m->s[i].overflow = true;
	m->overflowed++;
	m->s[m->agent[A_SERIES_OVERFLOW]].value = (int64_t)m->overflowed;
	return &m->s[i];
}

static void observe(struct series *s, const struct tt_metric_desc *d, double v)
{
	int b = 0;

	if (isnan(v))
		return;
	while (b < d->nbounds && v > d->bounds[b])
		b++;
	s->buckets[b]++;
	s->count++;
	s->sum += v;
}

static void add(struct tt_metrics *m, enum tt_metric_id id, const struct span_labels *l,
		int64_t delta)
{
	struct series *s = series_for(m, id, l);

	if (s)
		s->value += delta;
}

static void record(struct tt_metrics *m, enum tt_metric_id id, const struct span_labels *l,
		   double v)
{
	struct series *s = series_for(m, id, l);

	if (s)
		observe(s, tt_metric__desc(id), v);
}

/* ---- lifecycle ----------------------------------------------------------- */

static int32_t agent_series(struct tt_metrics *m, enum tt_metric_id id, enum tt_label label,
			    const char *value)
{
	struct span_labels l;
	struct key k;

	memset(&l, 0, sizeof(l));
	if (value)
		label_set(l.v[label], value);
	key_from(&k, id, &l);
	return lookup(m, &k, EXEMPT);
}

static int make_agent_series(struct tt_metrics *m)
{
	int32_t *a = m->agent;

	a[A_EVENTS_RECEIVED] = agent_series(m, TT_M_EVENTS_RECEIVED, 0, NULL);
	a[A_LOST_PROBE] = agent_series(m, TT_M_EVENTS_LOST, TT_L_KIND, "probe");
	a[A_LOST_EXIT] = agent_series(m, TT_M_EVENTS_LOST, TT_L_KIND, "exit");
	a[A_SPANS_EXPORTED] = agent_series(m, TT_M_SPANS_EXPORTED, 0, NULL);
	a[A_EXPORTED_SPOOL_FULL] = agent_series(m, TT_M_SPANS_EXPORTED, TT_L_ERROR_TYPE,
						tt_drop_reason__name(TT_DROP_SPOOL_FULL));
	a[A_PROCESSED] = agent_series(m, TT_M_SPANS_PROCESSED, 0, NULL);
	a[A_PROCESSED_QUEUE_FULL] = agent_series(m, TT_M_SPANS_PROCESSED, TT_L_ERROR_TYPE,
						 tt_drop_reason__name(TT_DROP_QUEUE_FULL));
	a[A_EXPORT_FAILURES] = agent_series(m, TT_M_EXPORT_FAILURES, 0, NULL);
	a[A_QUEUE_SIZE] = agent_series(m, TT_M_QUEUE_SIZE, 0, NULL);
	a[A_QUEUE_CAPACITY] = agent_series(m, TT_M_QUEUE_CAPACITY, 0, NULL);
	a[A_SPOOL_SIZE] = agent_series(m, TT_M_SPOOL_SIZE, 0, NULL);
	a[A_QUEUE_BYTES] = agent_series(m, TT_M_QUEUE_BYTES, 0, NULL);
	a[A_QUEUE_BYTES_CAPACITY] = agent_series(m, TT_M_QUEUE_BYTES_CAPACITY, 0, NULL);
	a[A_PROBES_ATTACHED] = agent_series(m, TT_M_PROBES_ATTACHED, 0, NULL);
	a[A_SPANS_OPEN] = agent_series(m, TT_M_SPANS_OPEN, 0, NULL);
	a[A_SPANS_EVICTED] = agent_series(m, TT_M_SPANS_EVICTED, 0, NULL);
	a[A_TASKS_STUCK] = agent_series(m, TT_M_TASKS_STUCK, 0, NULL);
	a[A_SERIES_OVERFLOW] = agent_series(m, TT_M_SERIES_OVERFLOW, 0, NULL);
	a[A_VIEW_TRACES] = agent_series(m, TT_M_VIEW_TRACES, 0, NULL);
	a[A_VIEW_MEMORY] = agent_series(m, TT_M_VIEW_MEMORY, 0, NULL);
	for (int i = 0; i < A__COUNT; i++) {
		if (a[i] < 0)
			return -ENOMEM;
	}
	return 0;
}

struct tt_metrics *tt_metrics__new(const struct tt_metrics_opts *opts)
{
	struct tt_metrics *m = calloc(1, sizeof(*m));
	struct timespec ts;
	int err;

	if (!m)
		return NULL;
	err = pthread_mutex_init(&m->lock, NULL);
	if (err) {
		free(m);
		errno = err;
		return NULL;
	}
	m->max_series = opts && opts->max_series ? opts->max_series : TT_METRICS_DEFAULT_MAX_SERIES;
	m->start_unix_ns = opts ? opts->start_unix_ns : 0;
	if (!m->start_unix_ns) {
		clock_gettime(CLOCK_REALTIME, &ts);
		m->start_unix_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	}
	for (int i = 0; i < TT_M__COUNT; i++) {
		m->head[i] = NIL;
		m->tail[i] = NIL;
		m->last[i] = NIL;
	}
	if (make_agent_series(m)) {
		tt_metrics__free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

void tt_metrics__free(struct tt_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->pubs);
	free(m->s);
	free(m->index);
	free(m);
}

/* ---- updates ------------------------------------------------------------- */

static double span_seconds(const struct tt_span *s)
{
	return (double)(s->end_ns - s->start_ns) / 1e9;
}

static struct published *published_slot(struct tt_metrics *m, const uint8_t span_id[8])
{
	return &m->pubs[XXH3_64bits(span_id, 8) % PUBLISHED];
}

/* A publish: remembered until its consume starts. Lock held. */
static void remember_publish(struct tt_metrics *m, const struct tt_span *span,
			     const struct span_labels *l)
{
	struct published *p;

	if (!m->pubs)
		m->pubs = calloc(PUBLISHED, sizeof(*m->pubs));
	if (!m->pubs)
		return; /* no queue.wait without memory */
	p = published_slot(m, span->span_id);
	memcpy(p->span_id, span->span_id, 8);
	p->start_ns = span->start_ns ? span->start_ns : 1;
	memcpy(p->task, l->v[TT_L_TASK], TT_LABEL_VALUE_MAX);
	memcpy(p->dest, l->v[TT_L_DEST], TT_LABEL_VALUE_MAX);
}

/* A consume whose publish this agent saw: task.queue.wait, publish start to consume start. */
static void record_queue_wait(struct tt_metrics *m, const struct tt_span *span,
			      struct span_labels *l)
{
	struct published *p;

	if (!m->pubs)
		return;
	p = published_slot(m, span->parent_id);
	if (!p->start_ns || memcmp(p->span_id, span->parent_id, 8))
		return;
	if (!l->v[TT_L_TASK][0])
		memcpy(l->v[TT_L_TASK], p->task, TT_LABEL_VALUE_MAX);
	if (!l->v[TT_L_DEST][0])
		memcpy(l->v[TT_L_DEST], p->dest, TT_LABEL_VALUE_MAX);
	record(m, TT_M_QUEUE_WAIT, l,
	       span->start_ns > p->start_ns ? (double)(span->start_ns - p->start_ns) / 1e9 : 0);
	p->start_ns = 0; /* once: a message delivered again waits from its publish anew */
}

void tt_metrics__span(const struct tt_span *span, void *ctx)
{
	struct tt_metrics *m = ctx;
	struct span_labels l;
	bool err = span->status == TT_STATUS_ERROR;

	if (span->cut == TT_CUT_SHUTDOWN || span->cut == TT_CUT_EVICTED || !span->probe)
		return;
	span_labels(span, &l);
	pthread_mutex_lock(&m->lock);
	switch (span->probe->role) {
	case TT_ROLE_TASK:
		add(m, err ? TT_M_TASK_FAILED : TT_M_TASK_COMPLETED, &l, 1);
		record(m, TT_M_TASK_DURATION, &l, span_seconds(span));
		break;
	case TT_ROLE_STEP:
		record(m, TT_M_STEP_DURATION, &l, span_seconds(span));
		if (span->attempt) {
			record(m, TT_M_STEP_ATTEMPTS, &l, span->attempt);
			if (span->attempt > 1)
				add(m, TT_M_STEP_RETRIES, &l, 1);
		}
		break;
	case TT_ROLE_COMPENSATION:
		add(m, TT_M_COMPENSATIONS, &l, 1);
		break;
	case TT_ROLE_PUBLISH:
		add(m, TT_M_TASK_SUBMITTED, &l, 1);
		remember_publish(m, span, &l);
		break;
	case TT_ROLE_CONSUME:
		record_queue_wait(m, span, &l);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&m->lock);
}

static void labels_from(const struct tt_metric_labels *in, struct span_labels *l)
{
	memset(l, 0, sizeof(*l));
	if (!in)
		return;
	label_set(l->v[TT_L_TASK], in->task_name);
	label_set(l->v[TT_L_DEST], in->destination);
	label_set(l->v[TT_L_SERVICE], in->service);
}

void tt_metrics__queue_wait(struct tt_metrics *m, const struct tt_metric_labels *labels,
			    double seconds)
{
	struct span_labels l;

	labels_from(labels, &l);
	pthread_mutex_lock(&m->lock);
	record(m, TT_M_QUEUE_WAIT, &l, seconds < 0 ? 0 : seconds);
	pthread_mutex_unlock(&m->lock);
}

void tt_metrics__set_in_flight(struct tt_metrics *m, const struct tt_metric_labels *labels,
			       int64_t n)
{
	struct span_labels l;
	struct series *s;

	labels_from(labels, &l);
	pthread_mutex_lock(&m->lock);
	s = series_for(m, TT_M_IN_FLIGHT, &l);
	if (s)
		s->value = s->overflow ? s->value + n : n;
	pthread_mutex_unlock(&m->lock);
}

void tt_metrics__add_in_flight(struct tt_metrics *m, const struct tt_metric_labels *labels,
			       int64_t delta)
{
	struct span_labels l;

	labels_from(labels, &l);
	pthread_mutex_lock(&m->lock);
	add(m, TT_M_IN_FLIGHT, &l, delta);
	pthread_mutex_unlock(&m->lock);
}

void tt_metrics__reset_in_flight(struct tt_metrics *m)
{
	pthread_mutex_lock(&m->lock);
	for (int32_t i = m->head[TT_M_IN_FLIGHT]; i != NIL; i = m->s[i].next)
		m->s[i].value = 0;
	pthread_mutex_unlock(&m->lock);
}

void tt_metrics__set_unannotated(struct tt_metrics *m, const char *function, uint64_t count)
{
	int32_t i;

	pthread_mutex_lock(&m->lock);
	i = agent_series(m, TT_M_UNANNOTATED, TT_L_FUNCTION, function);
	if (i >= 0)
		m->s[i].value = (int64_t)count;
	pthread_mutex_unlock(&m->lock);
}

void tt_metrics__set_hook_lost(struct tt_metrics *m, const char *function, const char *reason,
			       uint64_t count)
{
	struct span_labels l;
	struct key k;
	int32_t i;

	memset(&l, 0, sizeof(l));
	label_set(l.v[TT_L_FUNCTION], function);
	label_set(l.v[TT_L_ERROR_TYPE], reason);
	key_from(&k, TT_M_HOOK_EVENTS_LOST, &l);
	pthread_mutex_lock(&m->lock);
	i = lookup(m, &k, EXEMPT);
	if (i >= 0)
		m->s[i].value = (int64_t)count;
	pthread_mutex_unlock(&m->lock);
}

/*
 * The drops that need a spool off, a failing disk, no memory or a late
 * span: each reason gets its series the first time it counts, under the
 * processor's metric (shutdown) or the exporter's (the others). Lock held.
 */
static void set_rare_drops(struct tt_metrics *m, const struct tt_agent_stats *st)
{
	static const enum tt_drop_reason rare[] = {TT_DROP_SPOOL_DISABLED, TT_DROP_SPOOL_ERROR,
						   TT_DROP_ENCODE, TT_DROP_SHUTDOWN};

	for (size_t k = 0; k < sizeof(rare) / sizeof(rare[0]); k++) {
		enum tt_drop_reason r = rare[k];
		int32_t i;

		if (!st->spans_dropped[r])
			continue;
		i = agent_series(m,
				 r == TT_DROP_SHUTDOWN ? TT_M_SPANS_PROCESSED : TT_M_SPANS_EXPORTED,
				 TT_L_ERROR_TYPE, tt_drop_reason__name(r));
		if (i >= 0)
			m->s[i].value = (int64_t)st->spans_dropped[r];
	}
}

void tt_metrics__set_agent(struct tt_metrics *m, const struct tt_agent_stats *st)
{
	int32_t *a = m->agent;

	pthread_mutex_lock(&m->lock);
	m->s[a[A_EVENTS_RECEIVED]].value = (int64_t)st->events_received;
	m->s[a[A_LOST_PROBE]].value = (int64_t)st->events_lost;
	m->s[a[A_LOST_EXIT]].value = (int64_t)st->exit_events_lost;
	/* rare: its series is made the first time it counts */
	if (st->events_dropped) {
		int32_t i = agent_series(m, TT_M_EVENTS_LOST, TT_L_KIND, "memory");

		if (i >= 0)
			m->s[i].value = (int64_t)st->events_dropped;
	}
	m->s[a[A_SPANS_EXPORTED]].value = (int64_t)st->spans_exported;
	m->s[a[A_EXPORTED_SPOOL_FULL]].value = (int64_t)st->spans_dropped[TT_DROP_SPOOL_FULL];
	set_rare_drops(m, st);
	/* a reason the collector gave gets its series the first time it does */
	for (int r = 0; r < TT_REJECT__COUNT; r++) {
		int32_t i;

		if (!st->spans_rejected[r])
			continue;
		i = agent_series(m, TT_M_SPANS_EXPORTED, TT_L_ERROR_TYPE,
				 tt_reject_reason__name(r));
		if (i >= 0)
			m->s[i].value = (int64_t)st->spans_rejected[r];
	}
	m->s[a[A_PROCESSED]].value = (int64_t)st->spans_processed;
	m->s[a[A_PROCESSED_QUEUE_FULL]].value = (int64_t)st->spans_dropped[TT_DROP_QUEUE_FULL];
	/* rare: the spans a killed agent took with it (--pin), counted by the next */
	if (st->spans_lost_killed) {
		int32_t i = agent_series(m, TT_M_SPANS_PROCESSED, TT_L_ERROR_TYPE, "agent_killed");

		if (i >= 0)
			m->s[i].value = (int64_t)st->spans_lost_killed;
	}
	m->s[a[A_EXPORT_FAILURES]].value = (int64_t)st->export_failures;
	m->s[a[A_QUEUE_SIZE]].value = (int64_t)st->queue_size;
	m->s[a[A_QUEUE_CAPACITY]].value = (int64_t)st->queue_capacity;
	m->s[a[A_SPOOL_SIZE]].value = (int64_t)st->spool_bytes;
	m->s[a[A_QUEUE_BYTES]].value = (int64_t)st->queue_bytes;
	m->s[a[A_QUEUE_BYTES_CAPACITY]].value = (int64_t)st->queue_max_bytes;
	m->s[a[A_PROBES_ATTACHED]].value = (int64_t)st->probes_attached;
	m->s[a[A_SPANS_OPEN]].value = (int64_t)st->open_spans;
	m->s[a[A_SPANS_EVICTED]].value = (int64_t)st->spans_evicted;
	m->s[a[A_TASKS_STUCK]].value = (int64_t)st->tasks_stuck;
	m->s[a[A_VIEW_TRACES]].value = (int64_t)st->view_traces;
	m->s[a[A_VIEW_MEMORY]].value = (int64_t)st->view_bytes;
	pthread_mutex_unlock(&m->lock);
}

/* ---- reading ------------------------------------------------------------- */

int tt_metrics__visit(const struct tt_metrics *m, const struct tt_metrics_visitor *v)
{
	struct tt_series_view view;
	int ret;

	for (int id = 0; id < TT_M__COUNT; id++) {
		const struct tt_metric_desc *d = tt_metric__desc(id);

		if (!m->nseries[id])
			continue;
		if (v->metric) {
			ret = v->metric(id, d, m->nseries[id], v->ctx);
			if (ret)
				return ret;
		}
		for (int32_t i = m->head[id]; i != NIL; i = m->s[i].next) {
			const struct series *s = &m->s[i];

			memset(&view, 0, sizeof(view));
			view.id = id;
			view.desc = d;
			for (int j = 0; j < TT_METRIC_MAX_LABELS; j++)
				view.values[j] = j < d->nlabels ? s->values[j] : "";
			view.overflow = s->overflow;
			view.value = s->value;
			view.count = s->count;
			view.sum = s->sum;
			view.buckets = d->type == TT_METRIC_HISTOGRAM ? s->buckets : NULL;
			view.start_unix_ns = m->start_unix_ns;
			ret = v->series(&view, v->ctx);
			if (ret)
				return ret;
		}
	}
	return 0;
}

void tt_metrics__subtract(struct tt_metrics *cur, const struct tt_metrics *prev)
{
	for (size_t i = 0; i < cur->n; i++) {
		struct series *s = &cur->s[i];
		const struct tt_metric_desc *d = tt_metric__desc(s->metric);
		const struct series *p;
		struct key k;
		int32_t j;

		if (d->type != TT_METRIC_COUNTER && d->type != TT_METRIC_HISTOGRAM)
			continue;
		memset(&k, 0, sizeof(k));
		k.metric = s->metric;
		memcpy(k.v, s->values, sizeof(k.v));
		/* FIND_ONLY never changes `prev` */
		j = lookup((struct tt_metrics *)prev, &k, FIND_ONLY);
		if (j < 0)
			continue;
		p = &prev->s[j];
		s->value -= p->value;
		s->count -= p->count;
		s->sum -= p->sum;
		for (int b = 0; b <= d->nbounds; b++)
			s->buckets[b] -= p->buckets[b];
	}
}

int tt_metrics__snapshot(struct tt_metrics *m, struct tt_metrics *dst)
{
	struct series *s;
	int32_t *index;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	s = dst->cap >= m->cap ? dst->s : malloc(m->cap * sizeof(*s));
	index = dst->icap == m->icap ? dst->index : malloc(m->icap * sizeof(*index));
	if (!s || !index) {
		if (s != dst->s)
			free(s);
		if (index != dst->index)
			free(index);
		ret = -ENOMEM;
		goto out;
	}
	if (s != dst->s) {
		free(dst->s);
		dst->s = s;
		dst->cap = m->cap;
	}
	if (index != dst->index) {
		free(dst->index);
		dst->index = index;
		dst->icap = m->icap;
	}
	memcpy(dst->s, m->s, m->n * sizeof(*s));
	memcpy(dst->index, m->index, m->icap * sizeof(*index));
	dst->n = m->n;
	dst->max_series = m->max_series;
	dst->start_unix_ns = m->start_unix_ns;
	memcpy(dst->head, m->head, sizeof(m->head));
	memcpy(dst->tail, m->tail, sizeof(m->tail));
	memcpy(dst->nseries, m->nseries, sizeof(m->nseries));
	dst->span_series = m->span_series;
	dst->overflowed = m->overflowed;
	memcpy(dst->agent, m->agent, sizeof(m->agent));
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

size_t tt_metrics__series(const struct tt_metrics *m)
{
	return m->span_series;
}

uint64_t tt_metrics__overflowed(const struct tt_metrics *m)
{
	return m->overflowed;
}
