/* SPDX-License-Identifier: MIT */
/*
 * The task view (DESIGN §6): the page at `/` and the JSON endpoints it
 * reads, served as httpd's providers.route (README "Task view"):
 *
 *   GET /, /view.js, /view.css, /favicon.svg   the page, compiled into the binary
 *   GET /api/tasks               the tasks in flight    ?name= &service= &limit=
 *   GET /api/traces              the recent traces      ?name= &status= &service= &limit=
 *   GET /api/traces/{trace id}   one trace, every span
 *   GET /api/rates               per task name: counts, rates per minute, percentiles
 *
 * A bad query parameter (unknown, repeated, empty, out of range) is
 * answered 400 with a message naming the parameter, never echoing its
 * value. Pages carry a Content-Security-Policy that allows only the
 * page's own script, style and endpoints.
 */
#ifndef TASKTAP_VIEW_H
#define TASKTAP_VIEW_H

#include <stdbool.h>

#include "export/httpd.h"
#include "export/metrics.h"
#include "export/traces.h"

#define TT_VIEW_CSP                                                                                \
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "            \
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct tt_view_opts {
	struct tt_traces *traces;   /* the recent traces; NULL: none kept */
	struct tt_metrics *metrics; /* for /api/rates; NULL: none */
	/* the tasks in flight, as tt_httpd_providers.tasks; NULL: none */
	void (*tasks)(tt_task_emit_fn emit, void *emit_ctx, void *ctx);
	void *tasks_ctx;
	double stuck_after_seconds; /* shown on the page; 0: not known */
};

struct tt_view;

/* Returns a view the caller frees with tt_view__free(), or NULL with errno. */
struct tt_view *tt_view__new(const struct tt_view_opts *opts);

/* Accepts NULL. What opts pointed to is not freed. */
void tt_view__free(struct tt_view *v);

/* The tt_httpd_providers.route of the view; ctx is the struct tt_view. */
bool tt_view__route(const struct tt_http_request *q, struct tt_http_reply *r, void *ctx);

/* The page's files, compiled in (view_assets.c). */
struct tt_view_asset {
	const char *path; /* "/" , "/view.js", ... */
	const char *type;
	const unsigned char *data;
	size_t len;
};

/* The asset served at `path`, or NULL. */
const struct tt_view_asset *tt_view__asset(const char *path);

#endif /* TASKTAP_VIEW_H */
