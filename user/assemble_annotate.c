// SPDX-License-Identifier: MIT
/* assemble_annotate.c: annotate probes bound late to the span they complete. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "assemble.h"
#include "assemble_internal.h"

static const uint8_t zero_id[8];

/*
 * The open span of role `of` an annotate probe completes (DESIGN §3), or
 * NULL: the innermost of that role on its thread, unless the annotate has
 * a key that span does not have; then the newest open one with that key
 * (by index for tasks and consumes; other roles have no index by key, and
 * are scanned, newest first).
 */
static struct open_span *annotated_span(struct tt_asm *a, const struct tt_span *ann)
{
	enum tt_role role = ann->probe->of;
	struct open_span *t = asm__open_on_thread(a, ann->pid, ann->tid, role);
	struct slot_table *index = asm__key_index(a, role);

	if (!ann->key_len)
		return t;
	if (t && (!t->key_len ||
		  (t->key_len == ann->key_len && !memcmp(open_key(t), ann->key, t->key_len))))
		return t;
	if (index)
		return asm__open_with_key(a, index, ann);
	for (int32_t i = a->newest; i != NIL; i = slot_at(a, i)->older) {
		t = &slot_at(a, i)->span;
		if (t->probe->role == role && t->key_len == ann->key_len &&
		    !memcmp(open_key(t), ann->key, t->key_len))
			return t;
	}
	return NULL;
}

/*
 * Whether the spans in trace `trace` may still move to another trace:
 * none of them, open, has a child already exported.
 */
static bool trace_movable(const struct tt_asm *a, const uint8_t trace[16])
{
	for (int32_t i = a->oldest; i != NIL; i = slot_at(a, i)->newer) {
		const struct slot *sl = slot_at(a, i);

		if (sl->child_exported && !memcmp(sl->span.trace_id, trace, 16))
			return false;
	}
	return true;
}

/* Moves the open spans of trace `from` (t's, before its key came) into t's trace; t is slot ti. */
static void move_trace(struct tt_asm *a, const uint8_t from[16], int32_t ti,
		       const struct tt_span *t)
{
	for (int32_t i = a->oldest; i != NIL; i = slot_at(a, i)->newer) {
		struct open_span *o = &slot_at(a, i)->span;

		if (i != ti && !memcmp(o->trace_id, from, 16))
			memcpy(o->trace_id, t->trace_id, 16);
	}
}

/*
 * Gives open span t the key an annotate probe brought, and settles what
 * depends on it as if the key had come at its start: a root span's trace
 * (and a consume's parent, a publish's id), its place in the index by key,
 * its attempt. Its children still open move with it; when one of them was
 * exported already the trace stays, and the span links to the keyed trace.
 */
static void settle_key(struct tt_asm *a, int32_t ti, struct tt_span *t, const uint8_t *key,
		       size_t len)
{
	struct slot *sl = slot_at(a, ti);
	const struct tt_probe *p = t->probe;
	uint8_t old[16], derived[16];
	bool root = !memcmp(t->parent_id, zero_id, 8);

	memcpy(t->key, key, len);
	t->key_len = (uint16_t)len;
	a->stats.late_keys++;
	if (root && !asm__value_of(t, &p->traceparent)) {
		memcpy(old, t->trace_id, 16);
		tt_ids__trace(a->salt, a->opts.spec->keyspace, t->key, t->key_len, derived);
		if (sl->has_children && !trace_movable(a, old)) {
			memcpy(t->link_trace_id, derived, 16);
			if (p->role == TT_ROLE_CONSUME && a->has_publish) {
				struct tt_span probe_view = *t;

				asm__consume_parent(a, &probe_view);
				memcpy(t->link_span_id, probe_view.parent_id, 8);
			}
			a->stats.late_keys_kept++;
		} else {
			if (p->role == TT_ROLE_CONSUME && a->has_publish)
				asm__consume_parent(a, t);
			else if (p->role == TT_ROLE_PUBLISH && !sl->has_children)
				asm__publish_id(a, t);
			memcpy(t->trace_id, derived, 16);
			if (sl->has_children) /* else no open span is in its first trace */
				move_trace(a, old, ti, t);
		}
	}
	if (asm__key_index(a, p->role)) {
		sl->khash = asm__key_hash(t->key, t->key_len);
		if (asm__slot_table_put(a, asm__key_index(a, p->role), sl->khash, ti))
			sl->khash = 0; /* out of memory: found by its thread only */
	}
	if ((p->role == TT_ROLE_TASK || p->role == TT_ROLE_CONSUME) && !t->attempt &&
	    !asm__value_of(t, &p->attempt))
		t->attempt = asm__next_attempt(a, t, t->name, strlen(t->name));
	asm__note_redactions(t);
	if (p->name)
		asm__name_from_template(t);
}

/* Copies the attributes of annotate span `ann` into t, replacing ones of the same name. */
static void late_attrs(struct tt_span *t, const struct tt_span *ann)
{
	const struct tt_probe *ap = ann->probe;

	for (int k = 0; k < ap->nattrs; k++) {
		const struct tt_attr *at = &ap->attrs[k];
		const struct tt_cap_rec *r = at->literal ? NULL : asm__value_of(ann, &at->cap);
		struct tt_late_attr *l = NULL;

		if (!at->literal && !r)
			continue;
		for (int j = 0; j < t->nlate && !l; j++)
			l = strcmp(t->late[j].name, at->name) == 0 ? &t->late[j] : NULL;
		if (!l && t->nlate == TT_LATE_ATTRS)
			return;
		if (!l)
			l = &t->late[t->nlate++];
		snprintf(l->name, sizeof(l->name), "%s", at->name);
		l->is_int = false;
		if (at->redact) {
			l->len = (uint16_t)strlen(ann->redacted[k]);
			memcpy(l->str, ann->redacted[k], l->len);
		} else if (at->literal) {
			l->len = (uint16_t)snprintf(l->str, sizeof(l->str), "%s", at->literal);
			if (l->len >= sizeof(l->str))
				l->len = sizeof(l->str) - 1;
		} else if (r->type == TT_CAP_INT) {
			l->is_int = true;
			memcpy(&l->i, record_data(r), sizeof(l->i));
			if (strcmp(at->cap.text, "ret") == 0)
				l->i = tt_ret__value((uint64_t)l->i);
		} else {
			l->len = r->len < sizeof(l->str) ? r->len : sizeof(l->str);
			memcpy(l->str, record_data(r), l->len);
		}
	}
}

/*
 * An annotate probe fired (its call returned, or its USDT probe was hit):
 * completes the open span it names with its key, attributes and status,
 * and marks it for an error_unless that waits for it. Counted per hook when
 * no such span is open.
 */
void asm__annotate(struct tt_asm *a, struct tt_span *ann)
{
	const struct tt_probe *ap = ann->probe;
	struct open_span *o = annotated_span(a, ann);
	struct tt_span *t = a->peek;
	int32_t ti;

	if (!o) {
		a->stats.unannotated++;
		if (ann->hook && ann->hook->id > 0 && ann->hook->id <= TT_MAX_PROBES)
			a->unannotated[ann->hook->id]++;
		return;
	}
	a->stats.annotated++;
	ti = slot_index(a, o);
	asm__open_load(a, ti, t);
	asm__note_redactions(ann);
	if (ann->key_len && !t->key_len)
		settle_key(a, ti, t, ann->key, ann->key_len);
	late_attrs(t, ann);
	if (ap->status == TT_STATUS_ERROR || ann->status == TT_STATUS_ERROR) {
		const char *why = ap->message	       ? ap->message
				  : ann->status_msg[0] ? ann->status_msg
						       : asm__span_function(ann);

		t->status = TT_STATUS_ERROR;
		snprintf(t->status_msg, sizeof(t->status_msg), "%s", why);
		snprintf(t->error_type, sizeof(t->error_type), "%s",
			 ann->error_type[0] ? ann->error_type
			 : ap->name	    ? ap->name
					    : asm__span_function(ann));
	} else if (ap->status == TT_STATUS_OK && t->status != TT_STATUS_ERROR) {
		t->status = TT_STATUS_OK;
	}
	if (t->probe->error_unless && ap->name && !strcmp(t->probe->error_unless, ap->name))
		t->marked = true;
	/* no memory for its longer block: the span ends as it was before this probe */
	asm__open_save(a, ti, t, o->name_len > 0);
}
