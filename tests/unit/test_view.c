// SPDX-License-Identifier: MIT
/* The task view's routes (user/export/view.c), without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "export/view.h"

struct answer {
	bool routed;
	unsigned int status;
	const char *type, *csp;
	char *body;
};

/* Two tasks in flight; the second is stuck. */
static void two_tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
{
	struct tt_task_more zip = {.service = "billing", .process = "worker", .attempt = 1};
	struct tt_task_more thumb = {
		.service = "media", .process = "thumbs", .attempt = 3, .stuck = true};
	struct tt_task_info a = {.name = "CreateZip",
				 .name_len = 9,
				 .id = "17",
				 .id_len = 2,
				 .pid = 10,
				 .age_seconds = 1.5,
				 .more = &zip};
	struct tt_task_info b = {.name = "Thumbnail\"x",
				 .name_len = 11,
				 .pid = 11,
				 .age_seconds = 900,
				 .step = "Resize",
				 .step_len = 6,
				 .more = &thumb};

	emit(&a, emit_ctx);
	emit(&b, emit_ctx);
}

/* GETs path with the query given as "k=v" strings (NULL ends; "k" alone has no value). */
static struct answer get(struct tt_view *v, const char *path, const char *const *args)
{
	static char keys[TT_HTTP_MAX_ARGS][64];
	struct tt_http_request q = {.path = path};
	struct answer a = {0};
	struct tt_http_reply r = {.status = 200, .type = "text/plain"};
	size_t len = 0;

	for (; args && *args; args++) {
		const char *eq = strchr(*args, '=');

		if (q.nargs == TT_HTTP_MAX_ARGS) {
			q.too_many_args = true;
			break;
		}
		snprintf(keys[q.nargs], sizeof(keys[0]), "%.*s",
			 (int)(eq ? (size_t)(eq - *args) : strlen(*args)), *args);
		q.args[q.nargs].key = keys[q.nargs];
		q.args[q.nargs].value = eq ? eq + 1 : NULL;
		q.nargs++;
	}
	r.out = open_memstream(&a.body, &len);
	assert_non_null(r.out);
	a.routed = tt_view__route(&q, &r, v);
	fclose(r.out);
	a.status = r.status;
	a.type = r.type;
	a.csp = r.csp;
	return a;
}

static void test_tasks_and_filters(void **state)
{
	struct tt_view_opts o = {.tasks = two_tasks, .stuck_after_seconds = 600};
	struct tt_view *v = tt_view__new(&o);
	struct answer a;

	assert_non_null(v);
	a = get(v, "/api/tasks", NULL);
	assert_true(a.routed);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.type, "application/json");
	assert_non_null(strstr(a.body,
			       "{\"name\":\"CreateZip\",\"id\":\"17\",\"service\":\"billing\","
			       "\"process\":\"worker\",\"pid\":10,\"age_seconds\":1.500,"
			       "\"attempt\":1,\"stuck\":false,\"step\":null}"));
	assert_non_null(strstr(a.body, "\"name\":\"Thumbnail\\\"x\""));
	assert_non_null(strstr(a.body, "\"attempt\":3,\"stuck\":true,\"step\":\"Resize\"}"));
	assert_non_null(strstr(a.body, "\"count\":2,\"stuck\":1,\"truncated\":false"));
	free(a.body);

	a = get(v, "/api/tasks", (const char *const[]){"service=media", NULL});
	assert_null(strstr(a.body, "CreateZip"));
	assert_non_null(strstr(a.body, "\"count\":1,"));
	free(a.body);
	a = get(v, "/api/tasks", (const char *const[]){"name=Zip", "limit=1", NULL});
	assert_non_null(strstr(a.body, "\"count\":1,\"stuck\":0,\"truncated\":false"));
	free(a.body);
	a = get(v, "/api/tasks", (const char *const[]){"limit=1", NULL});
	assert_null(strstr(a.body, "Thumbnail"));
	assert_non_null(strstr(a.body, "\"count\":2,\"stuck\":1,\"truncated\":true"));
	free(a.body);
	tt_view__free(v);
}

static void test_bad_parameters(void **state)
{
	static const struct {
		const char *path;
		const char *args[4];
		const char *error;
	} bad[] = {
		{"/api/tasks", {"limit=0"}, "invalid limit: expected 1 to 100000"},
		{"/api/tasks", {"limit=12x"}, "invalid limit"},
		{"/api/tasks", {"limit= 5"}, "invalid limit"},
		{"/api/tasks", {"limit=99999999999999999999999"}, "invalid limit"},
		{"/api/tasks",
		 {"status=ok"},
		 "unknown query parameter: expected name, service or limit"},
		{"/api/tasks", {"name"}, "invalid query parameter 'name': expected 1 to 256 bytes"},
		{"/api/tasks", {"name=a", "name=b"}, "query parameter 'name' given twice"},
		{"/api/traces", {"status=maybe"}, "invalid status: expected ok or error"},
		{"/api/traces", {"Name=x"}, "unknown query parameter"},
		{"/api/traces/0123", {NULL}, "invalid trace id: expected 32 hex digits"},
		{"/api/traces/0123456789abcdef0123456789abcdeX", {NULL}, "invalid trace id"},
		{"/api/rates", {"x=1"}, "unknown query parameter: none is accepted"},
		{"/", {"q=1"}, "unknown query parameter: none is accepted"},
	};
	struct tt_view_opts o = {.tasks = two_tasks};
	struct tt_view *v = tt_view__new(&o);

	assert_non_null(v);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct answer a = get(v, bad[i].path, bad[i].args);
		char want[160];

		assert_true(a.routed);
		assert_int_equal(a.status, 400);
		assert_string_equal(a.type, "application/json");
		snprintf(want, sizeof(want), "{\"error\":\"%s", bad[i].error);
		if (strncmp(a.body, want, strlen(want)))
			fail_msg("%s: got %s, want %s", bad[i].path, a.body, want);
		free(a.body);
	}
	tt_view__free(v);
}

static void test_pages_and_other_paths(void **state)
{
	struct tt_view_opts o = {0};
	struct tt_view *v = tt_view__new(&o);
	struct answer a;

	assert_non_null(v);
	a = get(v, "/", NULL);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.type, "text/html; charset=utf-8");
	assert_string_equal(a.csp, TT_VIEW_CSP);
	assert_non_null(strstr(a.body, "<script src=\"/view.js\""));
	free(a.body);
	a = get(v, "/view.js", NULL);
	assert_string_equal(a.type, "text/javascript; charset=utf-8");
	assert_non_null(strstr(a.body, "/api/traces"));
	free(a.body);
	/* without a ring or metrics: empty, not an error */
	a = get(v, "/api/traces", NULL);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "{\"traces\":[],\"count\":0,"));
	free(a.body);
	a = get(v, "/api/traces/0123456789abcdef0123456789abcdef", NULL);
	assert_int_equal(a.status, 404);
	free(a.body);
	a = get(v, "/api/rates", NULL);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "\"tasks\":[]}"));
	free(a.body);
	a = get(v, "/api/other", NULL);
	assert_int_equal(a.status, 404);
	free(a.body);
	a = get(v, "/elsewhere", NULL);
	assert_false(a.routed); /* httpd answers 404 */
	free(a.body);
	tt_view__free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tasks_and_filters),
		cmocka_unit_test(test_bad_parameters),
		cmocka_unit_test(test_pages_and_other_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
