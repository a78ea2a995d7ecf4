/* SPDX-License-Identifier: MIT */
/*
 * A struct tt_metrics → one OTLP ExportMetricsServiceRequest, cumulative
 * (DESIGN §6): counters as monotonic Sums of integers, gauges as Gauges of
 * integers, histograms as explicit-bucket Histograms. No I/O, no lock:
 * encode a snapshot (tt_metrics__snapshot()) or call it on the owner's
 * thread.
 */
#ifndef TASKTAP_OTLP_METRICS_H
#define TASKTAP_OTLP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "export/metrics.h"
#include "export/resource.h"

/*
 * Encodes every series of `m` under one ResourceMetrics (`res`, the agent's
 * resource; NULL: none) and one ScopeMetrics (scope `tasktap`). Each data
 * point starts at the series' start_unix_ns and is stamped `now_unix_ns`;
 * its attributes are the series' labels (absent ones left out). On success
 * returns 0, a malloc'ed buffer in *out (the caller frees it) and the
 * number of data points in *points; on failure -ENOMEM, *out untouched.
 */
int tt_otlp__encode_metrics(const struct tt_metrics *m, const struct tt_resource *res,
			    uint64_t now_unix_ns, uint8_t **out, size_t *out_len, uint32_t *points);

/*
 * The same with delta temporality: `m` holds what changed since the last
 * export (tt_metrics__subtract), at `start_unix_ns`; counters and
 * histograms are sent as DELTA from there, UpDownCounters stay CUMULATIVE
 * from the series' start, as the specification's delta preference asks.
 */
int tt_otlp__encode_metrics_delta(const struct tt_metrics *m, const struct tt_resource *res,
				  uint64_t start_unix_ns, uint64_t now_unix_ns, uint8_t **out,
				  size_t *out_len, uint32_t *points);

/*
 * Converts an encoded ExportMetricsServiceRequest to OTLP/JSON. Returns 0
 * and a malloc'ed NUL-terminated buffer in *out, -EBADMSG or -ENOMEM.
 */
int tt_otlp__metrics_json(const uint8_t *pb, size_t len, char **out, size_t *out_len);

/* The number of data points in an encoded request, or -EBADMSG. */
int64_t tt_otlp__count_points(const uint8_t *pb, size_t len);

#endif /* TASKTAP_OTLP_METRICS_H */
