// SPDX-License-Identifier: MIT
/*
 * A built spec across a reload (spec_model.c): an old spec's hooks matched
 * to the new one's, glob matches included, and probe digests that ignore
 * layout, not content.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spec.h"

#include "spec_fixture.h"

/* ---- reloads: which hooks stayed ---------------------------------------- */

static const char reload_old[] = "keyspace: demo\n"
				 "targets:\n"
				 "  - binary: /bin/worker\n"
				 "    probes:\n"
				 "      - role: task\n" /* hook 1 */
				 "        symbol: run_task\n"
				 "        key: arg0\n"
				 "        attributes: { task.name: str(arg1), team: \"a\" }\n"
				 "      - role: step\n" /* hook 2 */
				 "        symbol: execute_step\n"
				 "        key: arg0\n"
				 "      - role: span\n" /* hook 3, and glob matches */
				 "        symbol: \"helper_*\"\n"
				 "  - comm: other\n"
				 "    probes:\n"
				 "      - role: task\n" /* hook 4 */
				 "        symbol: run_task\n";

/* Reordered keys, flow style and comments; a probe added first; one changed. */
static const char reload_new[] =
	"# edited\n"
	"keyspace: demo2\n"
	"targets:\n"
	"  - comm: other\n"
	"    probes:\n"
	"      - role: task\n"
	"        symbol: run_task\n"
	"        key: arg0\n" /* changed: a key now */
	"  - binary: /bin/worker\n"
	"    probes:\n"
	"      - { role: publish, symbol: submit }\n"
	"      - { role: span, symbol: \"helper_*\" }\n"
	"      - key: arg0\n"
	"        attributes: { team: \"a\",  task.name: str(arg1) }  # same\n"
	"        symbol: run_task\n"
	"        role: task\n"
	"      - role: step\n"
	"        symbol: execute_step\n"
	"        key: arg0\n";

static const struct tt_hook *hook_named(const struct tt_spec *spec, int id)
{
	const struct tt_hook *h = tt_spec__hook(spec, id);

	assert_non_null(h);
	return h;
}

static void test_match_keeps_unchanged_probes(void **state)
{
	struct tt_spec *old = parse_ok(reload_old), *now = parse_ok(reload_new);
	struct tt_hook *glob = old->hooks[2];
	int map[TT_MAX_PROBES + 1] = {0};
	const struct tt_hook *h;

	(void)state;
	/* the old spec's glob matched two functions when it was attached */
	assert_ptr_equal(tt_spec__hook_at(old, glob, "helper_a"), glob);
	assert_int_equal(tt_spec__hook_at(old, glob, "helper_b")->id, 5);
	assert_ptr_equal(tt_spec__hook_at(old, glob, "helper_a"), glob); /* no new copy */
	assert_int_equal(old->nhooks, 5);

	assert_int_equal(tt_spec__match(old, now, map), 4);
	h = hook_named(now, map[1]);
	assert_string_equal(h->symbol, "run_task");
	assert_int_equal(h->probe->role, TT_ROLE_TASK);
	assert_int_equal(h->probe->target->kind, TT_TARGET_BINARY);
	assert_string_equal(hook_named(now, map[2])->symbol, "execute_step");
	assert_string_equal(hook_named(now, map[3])->function, "helper_a");
	assert_string_equal(hook_named(now, map[5])->function, "helper_b");
	assert_int_equal(hook_named(now, map[3])->probe->role, TT_ROLE_SPAN);
	assert_int_not_equal(map[3], map[5]);
	assert_int_equal(map[4], 0); /* the comm: target's probe changed */
	tt_spec__free(old);
	tt_spec__free(now);
}

static void test_digest_ignores_layout_not_content(void **state)
{
	struct tt_spec *a = parse_ok(reload_old), *b = parse_ok(reload_new);
	const struct tt_probe *pa = tt_spec__probe(a, 1), *pb = tt_spec__probe(b, 4);

	(void)state;
	assert_string_equal(pb->symbol, "run_task");
	assert_true(pa->digest == pb->digest);
	assert_true(tt_spec__probe(a, 2)->digest == tt_spec__probe(b, 5)->digest);
	assert_true(tt_spec__probe(a, 4)->digest != tt_spec__probe(b, 1)->digest);
	tt_spec__free(a);
	tt_spec__free(b);
	/* quoting makes a constant of what would be a capture: another probe */
	a = parse_ok("targets:\n  - binary: /w\n    probes:\n      - role: task\n"
		     "        symbol: f\n        attributes: { x: str(arg1) }\n");
	b = parse_ok("targets:\n  - binary: /w\n    probes:\n      - role: task\n"
		     "        symbol: f\n        attributes: { x: \"str(arg1)\" }\n");
	assert_true(tt_spec__probe(a, 1)->digest != tt_spec__probe(b, 1)->digest);
	tt_spec__free(a);
	tt_spec__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_keeps_unchanged_probes),
		cmocka_unit_test(test_digest_ignores_layout_not_content),
	};

	return cmocka_run_group_tests_name("spec_model", tests, NULL, NULL);
}
