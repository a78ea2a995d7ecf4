// SPDX-License-Identifier: MIT
/* assemble_attrs.c: a finished span's attributes as key/values, what every sink writes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "assemble.h"
#include "assemble_internal.h"

static void kv_str(struct tt_kv *kv, const char *key, const char *str, size_t len)
{
	kv->key = key;
	kv->type = TT_KV_STR;
	kv->str = str;
	kv->len = len;
	kv->i = 0;
}

static void kv_int(struct tt_kv *kv, const char *key, int64_t i)
{
	kv->key = key;
	kv->type = TT_KV_INT;
	kv->str = NULL;
	kv->len = 0;
	kv->i = i;
}

static const char *const cut_names[] = {
	[TT_CUT_EXIT] = "exit",	      [TT_CUT_EVICTED] = "evicted", [TT_CUT_SHUTDOWN] = "shutdown",
	[TT_CUT_UNWOUND] = "unwound", [TT_CUT_EXPIRED] = "expired", [TT_CUT_REMOVED] = "removed",
	[TT_CUT_LOST] = "lost",
};

static bool late_attr(const struct tt_span *s, const char *name)
{
	for (int i = 0; i < s->nlate; i++) {
		if (strcmp(s->late[i].name, name) == 0)
			return true;
	}
	return false;
}

/*
 * Whether the span has attribute `name` with a value (an annotate probe's,
 * else its probe's own); its text (an integer in decimal) into out[size]
 * when out is not NULL.
 */
static bool attr_text(const struct tt_span *s, const char *name, char *out, size_t size)
{
	const struct tt_attr *at = asm__find_attr(s->probe, name, strlen(name));
	const struct tt_cap_rec *r = NULL;
	const char *v;
	size_t len;
	int64_t i;

	v = asm__span_str_attr(s, name, strlen(name), &len);
	if (v) {
		len = strnlen(v, len); /* a C string ends at its NUL */
		if (out)
			snprintf(out, size, "%.*s", (int)len, v);
		return true;
	}
	for (int k = 0; k < s->nlate; k++) {
		if (strcmp(s->late[k].name, name) == 0 && s->late[k].is_int) {
			if (out)
				snprintf(out, size, "%lld", (long long)s->late[k].i);
			return true;
		}
	}
	if (at && !at->literal && !at->redact && !late_attr(s, name))
		r = asm__value_of(s, &at->cap);
	if (!r || r->type != TT_CAP_INT)
		return false;
	memcpy(&i, record_data(r), sizeof(i));
	if (strcmp(at->cap.text, "ret") == 0)
		i = tt_ret__value((uint64_t)i);
	if (out)
		snprintf(out, size, "%lld", (long long)i);
	return true;
}

/* Whether the spec gave the span its error's class: an error.type or exception.type attribute. */
static bool error_type_given(const struct tt_span *s)
{
	return attr_text(s, "error.type", NULL, 0) || attr_text(s, "exception.type", NULL, 0);
}

void asm__given_error_type(struct tt_span *s)
{
	if (s->status == TT_STATUS_ERROR &&
	    !attr_text(s, "error.type", s->error_type, sizeof(s->error_type)))
		attr_text(s, "exception.type", s->error_type, sizeof(s->error_type));
}

const char *tt_span__error_type(const struct tt_span *s)
{
	if (s->status != TT_STATUS_ERROR)
		return NULL;
	if (s->cut != TT_CUT_NONE && s->cut < sizeof(cut_names) / sizeof(cut_names[0]) &&
	    !error_type_given(s))
		return cut_names[s->cut];
	return s->error_type[0] ? s->error_type : "_OTHER";
}

/* The probe's own attributes, as captured, redacted or written literally. */
static int probe_attrs(const struct tt_span *s, struct tt_kv *kv)
{
	const struct tt_probe *p = s->probe;
	const struct tt_cap_rec *r;
	int n = 0;

	for (int i = 0; i < p->nattrs; i++) {
		const struct tt_attr *at = &p->attrs[i];

		if (i > 0 && asm__find_attr(p, at->name, strlen(at->name)) != at)
			continue; /* the end's copy of a begin attribute: used to pair only */
		if (late_attr(s, at->name))
			continue; /* an annotate probe gave it later */
		if (at->redact) {
			if (s->redacted[i][0])
				kv_str(&kv[n++], at->name, s->redacted[i], strlen(s->redacted[i]));
			continue;
		}
		if (at->literal) {
			kv_str(&kv[n++], at->name, at->literal, strlen(at->literal));
			continue;
		}
		r = asm__value_of(s, &at->cap);
		if (!r)
			continue;
		if (r->type == TT_CAP_INT) {
			int64_t v;

			memcpy(&v, record_data(r), sizeof(v));
			/* `ret` reads as it does in error: (a C int's -1 is -1) */
			if (strcmp(at->cap.text, "ret") == 0)
				v = tt_ret__value((uint64_t)v);
			kv_int(&kv[n++], at->name, v);
		} else {
			kv_str(&kv[n++], at->name, record_data(r), r->len);
		}
	}
	for (int i = 0; i < s->nlate; i++) {
		const struct tt_late_attr *l = &s->late[i];

		if (l->is_int)
			kv_int(&kv[n++], l->name, l->i);
		else
			kv_str(&kv[n++], l->name, l->str, l->len);
	}
	return n;
}

/* The task's id, the message id, the attempt, and the messaging operation of its role. */
static int task_attrs(const struct tt_span *s, struct tt_kv *kv)
{
	const struct tt_probe *p = s->probe;
	const struct tt_cap_rec *r;
	int n = 0;

	if (s->key_len && p->redact_key)
		kv_str(&kv[n++], "task.id", s->redacted[TT_MAX_ATTRS],
		       strlen(s->redacted[TT_MAX_ATTRS]));
	else if (s->key_len)
		kv_str(&kv[n++], "task.id", (const char *)s->key, s->key_len);
	r = asm__value_of(s, &p->message_id);
	if (r && r->type != TT_CAP_INT) {
		kv_str(&kv[n++], "messaging.message.id", record_data(r), r->len);
	} else if (r) {
		uint64_t v;

		memcpy(&v, record_data(r), sizeof(v));
		kv_int(&kv[n++], "messaging.message.id", (int64_t)v);
	}
	if (s->attempt && (p->role == TT_ROLE_TASK || p->role == TT_ROLE_CONSUME)) {
		kv_int(&kv[n++], "task.attempt", s->attempt);
	} else if (s->attempt) {
		kv_int(&kv[n++], "step.attempt", s->attempt);
	}
	/* the span names are "publish <destination>" and "process <destination>" */
	if (p->role == TT_ROLE_PUBLISH) {
		kv_str(&kv[n++], "messaging.operation.name", "publish", 7);
		kv_str(&kv[n++], "messaging.operation.type", "send", 4);
	} else if (p->role == TT_ROLE_CONSUME) {
		kv_str(&kv[n++], "messaging.operation.name", "process", 7);
		kv_str(&kv[n++], "messaging.operation.type", "process", 7);
	}
	return n;
}

int tt_span__attrs(const struct tt_span *s, struct tt_kv *kv)
{
	const char *fn;
	int n = probe_attrs(s, kv);

	n += task_attrs(s, kv + n);
	fn = asm__span_function(s);
	kv_str(&kv[n++], "code.function.name", fn, strlen(fn));
	/* the OS thread: thread.id is a runtime's managed id, which a probe cannot see */
	kv_int(&kv[n++], "tasktap.thread.tid", s->tid);
	fn = tt_span__error_type(s);
	if (fn && !attr_text(s, "error.type", NULL, 0)) /* else the spec's, written above */
		kv_str(&kv[n++], "error.type", fn, strlen(fn));
	if (s->unreadable[0])
		kv_str(&kv[n++], "tasktap.unreadable", s->unreadable, strlen(s->unreadable));
	if (s->cut != TT_CUT_NONE)
		kv_str(&kv[n++], "tasktap.cut", cut_names[s->cut], strlen(cut_names[s->cut]));
	return n;
}
