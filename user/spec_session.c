// SPDX-License-Identifier: MIT
/*
 * spec_session.c: which hooks may have their entry and return paired in
 * BPF (one TT_EV_CALL event per call, docs/architecture.md "One event per
 * call").
 *
 * The event of such a call reaches the assembler at the call's return,
 * after every event of the calls made inside it. A span that another span
 * finds open and takes for its parent (a task its steps, a consume its
 * tasks; any span a publish or a `span` probe is made in; the span an
 * annotate probe completes) must be open when those arrive, so it must
 * begin at its entry event: its hook keeps the two-event path. A span no
 * probe of the spec can take for a parent loses nothing by being whole
 * at its end, and its assembler gives it the same ids, parent, attributes,
 * status and attempt.
 */
#include <stdbool.h>
#include <stddef.h>

#include "spec.h"
#include "tasktap/capture.h"

/* Whether probe `q` may take an open span of role `r` for its parent or complete it. */
static bool takes_for_parent(const struct tt_probe *q, enum tt_role r)
{
	switch (q->role) {
	case TT_ROLE_PUBLISH:
	case TT_ROLE_SPAN:
		return true; /* the innermost open span of its thread, whatever its role */
	case TT_ROLE_ANNOTATE:
		return q->of == r;
	case TT_ROLE_TASK:
		return r == TT_ROLE_CONSUME;
	case TT_ROLE_STEP:
	case TT_ROLE_COMPENSATION:
		return r == TT_ROLE_TASK || r == TT_ROLE_CONSUME;
	default:
		return false;
	}
}

/* The first probe of the spec that may be a child of a span of role `r`, or NULL. */
static const struct tt_probe *child_of(const struct tt_spec *spec, enum tt_role r)
{
	for (int t = 0; t < spec->ntargets; t++) {
		for (int i = 0; i < spec->targets[t].nprobes; i++) {
			const struct tt_probe *q = &spec->targets[t].probes[i];

			if (takes_for_parent(q, r))
				return q;
		}
	}
	return NULL;
}

const char *tt_spec__session_refusal(const struct tt_spec *spec, const struct tt_hook *h)
{
	const struct tt_probe *p = h->probe;

	if (h->kind != TT_HOOK_START || p->pairing != TT_PAIR_CALL)
		return "not a function's call (begin/end, USDT)";
	if (h->at_return || h->python || !h->symbol)
		return h->python ? "a Python function" : "its event is the return alone";
	if (p->role == TT_ROLE_ANNOTATE)
		return "an annotate probe";
	if (child_of(spec, p->role))
		return "its span may have children (another probe may take it for a parent)";
	return NULL;
}

void tt_spec__mark_sessions(struct tt_spec *spec)
{
	for (int i = 0; i < spec->nhooks; i++) {
		struct tt_hook *h = spec->hooks[i];

		if (!tt_spec__session_refusal(spec, h))
			h->prog.flags |= TT_HOOKF_SESSION;
	}
}
