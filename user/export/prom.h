/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition format, version 0.0.4, of a struct
 * tt_metrics. Names follow the OpenTelemetry-to-Prometheus rules: dots
 * become underscores, the unit becomes a suffix (s → _seconds, By →
 * _bytes; annotations such as {task} are dropped), counters end in
 * _total. Histograms are _bucket{le=...} (cumulative), _sum and _count.
 */
#ifndef TASKTAP_PROM_H
#define TASKTAP_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "export/metrics.h"
#include "export/resource.h"

#define TT_PROM_CONTENT_TYPE	    "text/plain; version=0.0.4; charset=utf-8"
#define TT_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/*
 * Writes the Prometheus name of `d` (the family name: counters include
 * _total) into buf (len bytes, always NUL-terminated). Returns 0, or
 * -ENOSPC when it did not fit.
 */
int tt_prom__name(const struct tt_metric_desc *d, char *buf, size_t len);

/* Writes the Prometheus form of a label name ("task.name" → "task_name"). Same returns. */
int tt_prom__label(const char *name, char *buf, size_t len);

/*
 * Writes `v` as the shortest decimal that reads back as the same double,
 * or +Inf, -Inf, NaN, into buf (at least 32 bytes).
 */
void tt_prom__float(double v, char *buf, size_t len);

/*
 * Writes every metric of `m` that has series to `out`: # HELP and # TYPE,
 * then its samples. Called on the thread that owns `m` (or on a snapshot).
 * Returns 0, or -EIO when `out` reported an error.
 */
int tt_prom__write(const struct tt_metrics *m, FILE *out);

/* How tt_prom__write_as() writes. */
struct tt_prom_opts {
	bool openmetrics; /* OpenMetrics 1.0: counter families without _total, # EOF at the end */
	/* the resource, as target_info{...} 1 (its attributes as labels); NULL: none */
	const struct tt_resource *resource;
};

/* The same, in the format `o` asks for, with target_info first. Same returns. */
int tt_prom__write_as(const struct tt_metrics *m, const struct tt_prom_opts *o, FILE *out);

/* Whether an Accept header asks for OpenMetrics (application/openmetrics-text). */
bool tt_prom__wants_openmetrics(const char *accept);

#endif /* TASKTAP_PROM_H */
