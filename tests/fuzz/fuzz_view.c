// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: the task view's routes (user/export/view.c) on
 * arbitrary paths and query parameters, over a ring holding a few traces
 * and a provider of tasks in flight. An input is a path, then one query
 * parameter a line ("key=value", or "key" alone). Every answer must be
 * 200, 400 or 404, and a 400 must be one {"error": ...} object.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/view.h"
#include "spec.h"

static struct tt_view *view;
static struct tt_traces *traces;
static struct tt_spec spec = {.service = "fuzz"};
static struct tt_target target = {.spec = &spec, .path = "/bin/worker"};
static struct tt_probe task = {.id = 1, .role = TT_ROLE_TASK, .symbol = "run", .target = &target};
static struct tt_probe step = {.id = 2, .role = TT_ROLE_STEP, .symbol = "step", .target = &target};

static void tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
{
	struct tt_task_more more = {.service = "fuzz", .process = "worker", .attempt = 2};
	struct tt_task_info t = {.name = "resize\"\n",
				 .name_len = 8,
				 .id = "t-1",
				 .id_len = 3,
				 .pid = 42,
				 .age_seconds = 1.5,
				 .step = "fetch",
				 .step_len = 5,
				 .more = &more};

	for (int i = 0; i < 3; i++)
		emit(&t, emit_ctx);
}

static void setup(void)
{
	static struct tt_span s;
	struct tt_view_opts o = {.tasks = tasks, .stuck_after_seconds = 10};

	task.key.index = step.key.index = -1;
	task.attempt.index = step.attempt.index = -1;
	task.message_id.index = step.message_id.index = -1;
	traces = tt_traces__new(NULL);
	for (int i = 0; i < 8; i++) {
		memset(&s, 0, sizeof(s));
		s.trace_id[0] = (uint8_t)(i / 2);
		s.span_id[0] = (uint8_t)(i + 1);
		if (i % 2 == 0)
			s.parent_id[0] = (uint8_t)(i + 2);
		s.probe = i % 2 ? &task : &step;
		s.status = i % 3 == 0 ? TT_STATUS_ERROR : TT_STATUS_UNSET;
		s.start_ns = 1000;
		s.end_ns = 2000 + (uint64_t)i;
		snprintf(s.name, sizeof(s.name), i % 2 ? "Zip" : "Zip.Step");
		tt_traces__span(&s, traces);
	}
	o.traces = traces;
	view = tt_view__new(&o);
	if (!traces || !view)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *line, *next, *body = NULL;
	struct tt_http_request q = {0};
	struct tt_http_reply r = {.status = 200, .type = "text/plain"};
	size_t len = 0;
	bool routed;

	if (!view)
		setup();
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	next = strchr(text, '\n');
	if (next)
		*next++ = '\0';
	q.path = text;
	for (line = next; line && *line; line = next) {
		char *eq;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (q.nargs == TT_HTTP_MAX_ARGS) {
			q.too_many_args = true;
			break;
		}
		eq = strchr(line, '=');
		if (eq)
			*eq = '\0';
		q.args[q.nargs].key = line;
		q.args[q.nargs].value = eq ? eq + 1 : NULL;
		q.nargs++;
	}
	r.out = open_memstream(&body, &len);
	if (!r.out)
		abort();
	routed = tt_view__route(&q, &r, view);
	fclose(r.out);
	if (routed && r.status != 200 && r.status != 400 && r.status != 404)
		abort();
	if (routed && r.status == 400 &&
	    (strncmp(body, "{\"error\":\"", 10) || len < 13 || strcmp(body + len - 3, "\"}\n")))
		abort();
	if (!routed && len)
		abort(); /* httpd answers 404 on a clean body */
	free(body);
	free(text);
	return 0;
}
