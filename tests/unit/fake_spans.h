/* SPDX-License-Identifier: MIT */
/*
 * Spans for the unit tests of what consumes them (metrics, Prometheus, OTLP
 * metrics and logs, the HTTP endpoints): hand-built probes whose attributes
 * are constants, and finished spans of them, without BPF or the assembler.
 */
#ifndef TASKTAP_TESTS_FAKE_SPANS_H
#define TASKTAP_TESTS_FAKE_SPANS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "assemble.h"
#include "export/metrics.h"
#include "spec.h"

/* A probe with up to three constant attributes; their values can change between spans. */
struct fake_probe {
	struct tt_probe p;
	char val[3][96];
};

/* A probe of `role` on `symbol`: no key, attempt or message id, no attribute yet. */
static inline void fake_probe__init(struct fake_probe *pr, enum tt_role role, const char *symbol)
{
	memset(pr, 0, sizeof(*pr));
	pr->p.id = 1;
	pr->p.role = role;
	pr->p.symbol = (char *)symbol;
	pr->p.key.index = -1;
	pr->p.attempt.index = -1;
	pr->p.message_id.index = -1;
}

/* Adds the constant attribute `name` = `value` (three at most). */
static inline void fake_probe__attr(struct fake_probe *pr, const char *name, const char *value)
{
	int i = pr->p.nattrs++;

	snprintf(pr->val[i], sizeof(pr->val[i]), "%s", value);
	pr->p.attrs[i].name = (char *)name;
	pr->p.attrs[i].literal = pr->val[i];
	pr->p.attrs[i].cap.index = -1;
}

/* A probe of `role` on `symbol` with the one attribute `name` = `value`. */
static inline void fake_probe__one(struct fake_probe *pr, enum tt_role role, const char *symbol,
				   const char *name, const char *value)
{
	fake_probe__init(pr, role, symbol);
	fake_probe__attr(pr, name, value);
}

/* A finished span of `pr` called `name`: from 1000 ns for `dur_ns`, ok or an error. */
static inline void fake_span(struct tt_span *s, const struct fake_probe *pr, const char *name,
			     uint64_t dur_ns, bool error, uint32_t attempt)
{
	memset(s, 0, sizeof(*s));
	s->probe = &pr->p;
	s->start_ns = 1000;
	s->end_ns = 1000 + dur_ns;
	s->status = error ? TT_STATUS_ERROR : TT_STATUS_OK;
	s->attempt = attempt;
	s->kind = TT_KIND_INTERNAL;
	snprintf(s->name, sizeof(s->name), "%s", name);
}

/* Gives `m` a span made by fake_span(), `seconds` long. */
static inline void fake_feed(struct tt_metrics *m, const struct fake_probe *pr, const char *name,
			     double seconds, bool error, uint32_t attempt)
{
	static struct tt_span s; /* large: keep it off the stack */

	fake_span(&s, pr, name, (uint64_t)(seconds * 1e9 + 0.5), error, attempt);
	tt_metrics__span(&s, m);
}

#endif /* TASKTAP_TESTS_FAKE_SPANS_H */
