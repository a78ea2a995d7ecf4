// SPDX-License-Identifier: MIT
/*
 * Tests for user/spec_session.c: which hooks may be paired in BPF (one
 * event per call): a function's call whose span no probe of the spec can
 * take for a parent; every other keeps its entry and return events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "spec.h"
#include "tasktap/capture.h"

static struct tt_spec *parse(const char *probes)
{
	static char text[4096];
	struct tt_spec *spec = NULL;
	char err[512];

	snprintf(text, sizeof(text),
		 "service: t\ntargets:\n  - binary: /bin/true\n    probes:\n%s", probes);
	if (tt_spec__parse("t.yaml", text, strlen(text), &spec, err, sizeof(err)))
		fail_msg("%s", err);
	return spec;
}

/* Whether hook id is marked for the session path; its refusal agrees. */
static bool marked(const struct tt_spec *spec, int id)
{
	const struct tt_hook *h = tt_spec__hook(spec, id);
	bool on = h->prog.flags & TT_HOOKF_SESSION;

	assert_int_equal(on, tt_spec__session_refusal(spec, h) == NULL);
	return on;
}

static void test_a_task_with_steps_keeps_two_events_its_steps_do_not(void **state)
{
	struct tt_spec *spec = parse("      - role: task\n"
				     "        symbol: run_task\n"
				     "        key: arg0\n"
				     "      - role: step\n"
				     "        symbol: execute_step\n"
				     "        key: arg0\n"
				     "        attributes: { step.name: str(arg1) }\n");

	assert_false(marked(spec, 1));
	assert_string_equal(tt_spec__session_refusal(spec, tt_spec__hook(spec, 1)),
			    "its span may have children (another probe may take it for a parent)");
	assert_true(marked(spec, 2));
	tt_spec__free(spec);
}

static void test_a_task_alone_is_one_event(void **state)
{
	struct tt_spec *spec = parse("      - role: task\n"
				     "        symbol: tick\n"
				     "        key: arg0\n"
				     "        attributes: { task.name: str(arg1) }\n");

	assert_true(marked(spec, 1));
	tt_spec__free(spec);
}

/* A publish or a span probe takes any open span of its thread for a parent. */
static void test_a_span_or_publish_probe_keeps_every_hook_two_events(void **state)
{
	static const char *const others[] = {"span", "publish"};

	for (int i = 0; i < 2; i++) {
		char probes[512];
		struct tt_spec *spec;

		snprintf(probes, sizeof(probes),
			 "      - role: step\n"
			 "        symbol: execute_step\n"
			 "      - role: %s\n"
			 "        symbol: other\n",
			 others[i]);
		spec = parse(probes);
		assert_false(marked(spec, 1));
		assert_false(marked(spec, 2));
		tt_spec__free(spec);
	}
}

static void test_annotated_consumed_and_begin_end_spans_keep_two_events(void **state)
{
	struct tt_spec *spec = parse("      - role: consume\n" /* 1: its tasks' parent */
				     "        symbol: consume\n"
				     "        key: arg0\n"
				     "      - role: task\n" /* 2: an annotate completes it */
				     "        symbol: run\n"
				     "        key: arg0\n"
				     "      - role: annotate\n" /* 3 */
				     "        of: task\n"
				     "        symbol: note\n"
				     "        attributes: { task.name: str(arg0) }\n"
				     "      - role: step\n" /* 4 and 5: begin/end */
				     "        begin: { symbol: sb, key: arg0 }\n"
				     "        end: { symbol: se, key: arg0 }\n");

	assert_false(marked(spec, 1));
	assert_false(marked(spec, 2));
	assert_false(marked(spec, 3));
	assert_false(marked(spec, 4));
	assert_false(marked(spec, 5));
	assert_string_equal(tt_spec__session_refusal(spec, tt_spec__hook(spec, 4)),
			    "not a function's call (begin/end, USDT)");
	tt_spec__free(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_task_with_steps_keeps_two_events_its_steps_do_not),
		cmocka_unit_test(test_a_task_alone_is_one_event),
		cmocka_unit_test(test_a_span_or_publish_probe_keeps_every_hook_two_events),
		cmocka_unit_test(test_annotated_consumed_and_begin_end_spans_keep_two_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
