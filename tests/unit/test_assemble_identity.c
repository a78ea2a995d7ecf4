// SPDX-License-Identifier: MIT
/*
 * A span's identity (assemble_identity.c), on synthetic event streams:
 * derived trace and producer ids and their vectors, attempts, publish and
 * consume across nodes, traceparent, ids derived from a key captured at
 * return, the salt, and redacted values in names.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "assemble.h"
#include "spec.h"

#include "assemble_fixture.h"

static void test_retries_count_attempts_and_errors(void **state)
{
	struct fixture *f = *state;

	entry(f, TASK, 1000, 10, 10, 7, "Zip");
	entry(f, STEP, 1100, 10, 10, 7, "Archive");
	ret(f, STEP, 1200, 10, 10, 0xffffffffULL); /* int -1, zero-extended in rax */
	entry(f, STEP, 1300, 10, 10, 7, "Archive");
	ret(f, STEP, 1400, 10, 10, 0xfffffffeULL);
	entry(f, STEP, 1500, 10, 10, 7, "Archive");
	ret(f, STEP, 1600, 10, 10, 0);
	ret(f, TASK, 2000, 10, 10, 0);

	assert_int_equal(f->n, 4);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(f->out[i].name, "Zip.Archive");
		assert_int_equal(f->out[i].attempt, i + 1);
		assert_kv_int(f, i, "step.attempt", i + 1);
	}
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_int_equal(f->out[0].ret, -1);
	assert_string_equal(f->out[0].status_msg, "returned -1 (error: ret < 0)");
	assert_kv_str(f, 0, "error.type", "-1"); /* the error code the predicate read */
	assert_string_equal(tt_span__error_type(&f->out[0]), "-1");
	assert_null(kv(f, 0, "step.status"));
	assert_int_equal(f->out[1].status, TT_STATUS_ERROR);
	assert_int_equal(f->out[1].ret, -2);
	assert_int_equal(f->out[2].status, TT_STATUS_UNSET);
	assert_null(tt_span__error_type(&f->out[2]));
	assert_string_equal(f->out[2].status_msg, "");
}

static void test_attempts_are_per_key_and_step(void **state)
{
	struct fixture *f = *state;

	entry(f, STEP, 100, 10, 10, 1, "A");
	ret(f, STEP, 200, 10, 10, 0);
	entry(f, STEP, 300, 10, 10, 2, "A"); /* another key */
	ret(f, STEP, 400, 10, 10, 0);
	entry(f, STEP, 500, 10, 10, 1, "B"); /* another step */
	ret(f, STEP, 600, 10, 10, 0);
	entry(f, STEP, 700, 11, 11, 1, "A"); /* another process, same key: a retry */
	ret(f, STEP, 800, 11, 11, 0);

	assert_int_equal(f->n, 4);
	assert_int_equal(f->out[0].attempt, 1);
	assert_int_equal(f->out[1].attempt, 1);
	assert_int_equal(f->out[2].attempt, 1);
	assert_int_equal(f->out[3].attempt, 2);
}

static void test_trace_id_vectors(void **state)
{
	/* computed independently: printf the length-prefixed fields | xxhsum -H2 */
	static const uint8_t v1[16] = {0x7b, 0x5f, 0x9a, 0x72, 0x6c, 0x64, 0x86, 0xef,
				       0x8e, 0x1c, 0x19, 0x16, 0xa4, 0x80, 0xab, 0x85};
	static const uint8_t v2[16] = {0xcd, 0xee, 0x4f, 0x0d, 0x01, 0xf2, 0xc2, 0x84,
				       0x72, 0xd3, 0xae, 0xe2, 0xf4, 0x6b, 0xa6, 0x6d};
	uint8_t out[16];

	(void)state;
	tt_ids__trace("tasktap", "demo", "1001", 4, out);
	assert_memory_equal(out, v1, 16);
	tt_ids__trace("fleet-a", "jobs", "order-42", 8, out);
	assert_memory_equal(out, v2, 16);
}

static void test_task_trace_id_derives_from_key(void **state)
{
	struct fixture *f = *state;
	uint8_t want[16];

	entry(f, TASK, 100, 10, 10, 1001, "T");
	ret(f, TASK, 200, 10, 10, 0);
	entry(f, TASK, 300, 11, 11, 1001, "T"); /* same key, another process */
	ret(f, TASK, 400, 11, 11, 0);
	tt_ids__trace(TT_DEFAULT_SALT, "demo", "1001", 4, want);
	assert_memory_equal(f->out[0].trace_id, want, 16);
	assert_memory_equal(f->out[1].trace_id, want, 16);
	assert_memory_not_equal(f->out[0].span_id, f->out[1].span_id, 8);
}

static void test_attempt_memory_is_bounded(void **state)
{
	struct fixture *f = *state; /* max_tries 1000, retry window 1 h */
	struct tt_asm_stats st;

	for (uint64_t k = 0; k < 5000; k++) {
		entry(f, STEP, 100 + k, 10, 10, k, "S");
		ret(f, STEP, 100 + k, 10, 10, 0);
		f->n = 0;
		tt_asm__stats(f->a, &st);
		assert_true(st.tries <= 1000);
	}
	assert_true(st.tries_forgotten >= 4);
}

static void test_attempts_outside_window_are_forgotten(void **state)
{
	struct fixture *f = *state; /* retry window 500 ns */
	struct tt_asm_stats st;

	entry(f, STEP, 100, 10, 10, 1, "S");
	ret(f, STEP, 200, 10, 10, 0);
	entry(f, STEP, 400, 10, 10, 1, "S"); /* within the window: attempt 2 */
	ret(f, STEP, 450, 10, 10, 0);
	entry(f, STEP, 2000, 10, 10, 1, "S"); /* later: a new run, attempt 1 */
	ret(f, STEP, 2100, 10, 10, 0);
	assert_int_equal(f->out[1].attempt, 2);
	assert_int_equal(f->out[2].attempt, 1);
	/* at the bound, old entries are swept rather than everything forgotten */
	for (uint64_t k = 0; k < 3000; k++) {
		entry(f, STEP, 10000 + k * 1000, 10, 10, 100 + k, "S");
		ret(f, STEP, 10000 + k * 1000, 10, 10, 0);
		f->n = 0;
	}
	tt_asm__stats(f->a, &st);
	assert_int_equal(st.tries_forgotten, 0);
	assert_true(st.tries <= 1000);
}

static void test_producer_and_consumer_on_two_nodes_join(void **state)
{
	struct fixture *node_a = *state, *node_b;
	uint8_t want_trace[16], want_producer[8];

	/* node B: another agent, sharing nothing but the spec and the default salt */
	assert_int_equal(setup2((void **)&node_b), 0);
	sentry(node_a, PUB, TT_EV_ENTRY, 100, 10, 10, "job-42", "resize", 0);
	sentry(node_a, PUB, TT_EV_RETURN, 150, 10, 10, NULL, NULL, 0);
	sentry(node_b, CONS, TT_EV_ENTRY, 5000, 77, 77, "job-42", "resize", 0);
	sentry(node_b, RUN, TT_EV_ENTRY, 5100, 77, 77, "job-42", "Resize", 0);
	sentry(node_b, RUN, TT_EV_RETURN, 5800, 77, 77, NULL, NULL, 0);
	sentry(node_b, CONS, TT_EV_RETURN, 5900, 77, 77, NULL, NULL, 0);

	tt_ids__trace(TT_DEFAULT_SALT, "jobs", "job-42", 6, want_trace);
	tt_ids__producer(TT_DEFAULT_SALT, "jobs", "job-42", 6, "", 0, want_producer);
	assert_int_equal(node_a->n, 1);
	assert_string_equal(node_a->out[0].name, "publish resize");
	assert_int_equal(node_a->out[0].kind, TT_KIND_PRODUCER);
	assert_memory_equal(node_a->out[0].trace_id, want_trace, 16);
	assert_memory_equal(node_a->out[0].span_id, want_producer, 8);
	assert_memory_equal(node_a->out[0].parent_id, zero8, 8);
	assert_kv_str(node_a, 0, "messaging.operation.name", "publish");
	assert_kv_str(node_a, 0, "messaging.operation.type", "send");

	assert_int_equal(node_b->n, 2);
	assert_string_equal(node_b->out[1].name, "process resize");
	assert_int_equal(node_b->out[1].kind, TT_KIND_CONSUMER);
	assert_kv_str(node_b, 1, "messaging.operation.name", "process");
	assert_kv_str(node_b, 1, "messaging.operation.type", "process");
	assert_memory_equal(node_b->out[1].trace_id, want_trace, 16);
	assert_memory_equal(node_b->out[1].parent_id, want_producer, 8);
	/* the task runs inside the consume span */
	assert_string_equal(node_b->out[0].name, "Resize");
	assert_memory_equal(node_b->out[0].parent_id, node_b->out[1].span_id, 8);
	assert_memory_equal(node_b->out[0].trace_id, want_trace, 16);
	teardown((void **)&node_b);
}

static void test_publish_inside_another_trace_links_to_it(void **state)
{
	struct fixture *f = *state;
	uint8_t sub[16];

	sentry(f, RUN, TT_EV_ENTRY, 100, 10, 10, "parent-1", "Parent", 0);
	sentry(f, PUB, TT_EV_ENTRY, 200, 10, 10, "child-9", "thumbs", 0);
	sentry(f, PUB, TT_EV_RETURN, 250, 10, 10, NULL, NULL, 0);
	sentry(f, RUN, TT_EV_RETURN, 300, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 2);
	tt_ids__trace(TT_DEFAULT_SALT, "jobs", "child-9", 7, sub);
	/* the publish belongs to the sub-task's trace and links to the task that made it */
	assert_memory_equal(f->out[0].trace_id, sub, 16);
	assert_memory_equal(f->out[0].parent_id, zero8, 8);
	assert_memory_equal(f->out[0].link_trace_id, f->out[1].trace_id, 16);
	assert_memory_equal(f->out[0].link_span_id, f->out[1].span_id, 8);
}

static void test_traceparent_wins(void **state)
{
	struct fixture *f = *state;
	const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	static const uint8_t trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
					  0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	static const uint8_t parent[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};

	sentry(f, RUN_TP, TT_EV_ENTRY, 100, 10, 10, "k", tp, 0);
	sentry(f, RUN_TP, TT_EV_RETURN, 200, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 1);
	assert_memory_equal(f->out[0].trace_id, trace, 16);
	assert_memory_equal(f->out[0].parent_id, parent, 8);
}

/* OTEL_PROPAGATORS=none: a captured traceparent is not joined; the key's trace is used. */
static void test_traceparent_ignored_without_tracecontext(void **state)
{
	struct fixture *f = *state;
	const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	static const uint8_t trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
					  0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	struct tt_asm_opts o = {
		.spec = f->spec, .seed = 7, .on_span = collect, .ctx = f, .no_traceparent = true};

	tt_asm__free(f->a);
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	sentry(f, RUN_TP, TT_EV_ENTRY, 100, 10, 10, "k", tp, 0);
	sentry(f, RUN_TP, TT_EV_RETURN, 200, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 1);
	assert_memory_not_equal(f->out[0].trace_id, trace, 16);
	assert_memory_equal(f->out[0].parent_id, zero8, 8);
}

static void test_job_rerun_after_worker_died_is_attempt_2(void **state)
{
	struct fixture *f = *state;

	sentry(f, GRAB, TT_EV_RETURN, 100, 20, 21, "job-9", "resize", 0);
	thread_exit(f, 200, 20, 21, 9, true); /* the worker is killed mid-job */
	sentry(f, GRAB, TT_EV_RETURN, 300, 30, 31, "job-9", "resize", 0); /* another worker */
	sentry(f, WORK, TT_EV_RETURN, 400, 30, 31, NULL, NULL, 0);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->out[0].status, TT_STATUS_ERROR);
	assert_string_equal(f->out[0].status_msg, "killed by signal 9 (KILL)");
	assert_kv_int(f, 0, "task.attempt", 1);
	assert_kv_int(f, 1, "task.attempt", 2);
	assert_memory_equal(f->out[0].trace_id, f->out[1].trace_id, 16);
}

static void test_key_captured_at_return_derives_ids_at_the_end(void **state)
{
	struct fixture *f = *state;
	uint8_t trace[16], producer[8];

	sentry(f, RUN, TT_EV_ENTRY, 100, 10, 10, "parent-2", "Parent", 0);
	sentry(f, PUB_RET, TT_EV_ENTRY, 200, 10, 10, NULL, NULL, 0);
	sentry(f, PUB_RET, TT_EV_RETURN, 250, 10, 10, "job-77", NULL, 0);
	sentry(f, RUN, TT_EV_RETURN, 300, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 2);
	tt_ids__trace(TT_DEFAULT_SALT, "jobs", "job-77", 6, trace);
	tt_ids__producer(TT_DEFAULT_SALT, "jobs", "job-77", 6, "", 0, producer);
	assert_kv_str(f, 0, "task.id", "job-77");
	assert_memory_equal(f->out[0].trace_id, trace, 16);
	assert_memory_equal(f->out[0].span_id, producer, 8);
	/* made inside Parent's trace: a link to it, not a child of it */
	assert_memory_equal(f->out[0].parent_id, zero8, 8);
	assert_memory_equal(f->out[0].link_trace_id, f->out[1].trace_id, 16);
	assert_memory_equal(f->out[0].link_span_id, f->out[1].span_id, 8);
}

static void test_salt_from_the_spec_changes_every_derived_id(void **state)
{
	static const char salted[] = "service: s\nkeyspace: jobs\nsalt: fleet-a\ntargets:\n"
				     "  - binary: /bin/true\n    probes:\n"
				     "      - { role: task, symbol: run, key: str(arg0) }\n";
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {0};
	uint8_t want[16];
	char err[256];

	(void)state;
	assert_int_equal(
		tt_spec__parse("s.yaml", salted, strlen(salted), &f->spec, err, sizeof(err)), 0);
	assert_string_equal(f->spec->salt, "fleet-a");
	o.spec = f->spec;
	o.on_span = collect;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	sentry(f, 1, TT_EV_ENTRY, 100, 10, 10, "order-42", NULL, 0);
	sentry(f, 1, TT_EV_RETURN, 200, 10, 10, NULL, NULL, 0);
	assert_int_equal(f->n, 1);
	tt_ids__trace("fleet-a", "jobs", "order-42", 8, want);
	assert_memory_equal(f->out[0].trace_id, want, 16);
	/* the independently computed vector of test_trace_id_vectors, for this salt */
	assert_int_equal(f->out[0].trace_id[0], 0xcd);
	teardown((void **)&f);
}

static void test_producer_id_vector(void **state)
{
	/* printf the length-prefixed fields (tasktap, P, jobs, job-42, "") | xxhsum -H3 */
	static const uint8_t want[8] = {0x3e, 0x7b, 0x02, 0x9d, 0x08, 0xe0, 0x90, 0xda};
	uint8_t out[8];

	(void)state;
	tt_ids__producer("tasktap", "jobs", "job-42", 6, "", 0, out);
	assert_memory_equal(out, want, 8);
}

/* ---- redact: hashed wherever the value would show ---------------------- */

static const char redact_text[] = "service: r\n"
				  "keyspace: demo\n"
				  "targets:\n"
				  "  - binary: /bin/true\n"
				  "    probes:\n"
				  "      - role: task\n"
				  "        symbol: run_task\n"
				  "        key: arg0\n"
				  "        attributes: { task.name: str(arg1) }\n"
				  "        redact: [task.name]\n"
				  "      - role: step\n"
				  "        symbol: execute_step\n"
				  "        key: arg0\n"
				  "        attributes: { step.name: str(arg1) }\n"
				  "        redact: [step.name]\n"
				  "      - role: task\n"
				  "        symbol: run_named\n"
				  "        key: arg0\n"
				  "        name: \"job {task.id} for {who}\"\n"
				  "        attributes: { who: str(arg1) }\n"
				  "        redact: [who, task.id]\n";

enum { RTASK = 1, RSTEP = 2, RNAMED = 3 };

static int setup_redact(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_asm_opts o = {.seed = 1, .on_span = collect};
	char err[256];

	assert_non_null(f);
	assert_int_equal(tt_spec__parse("r.yaml", redact_text, strlen(redact_text), &f->spec, err,
					sizeof(err)),
			 0);
	o.spec = f->spec;
	o.ctx = f;
	f->a = tt_asm__new(&o);
	assert_non_null(f->a);
	*state = f;
	return 0;
}

/* "xxh3:<16 hex digits>" of text, as the agent writes a redacted value. */
static const char *hashed(const char *text, char *buf, size_t len)
{
	snprintf(buf, len, "xxh3:%016llx", (unsigned long long)XXH3_64bits(text, strlen(text)));
	return buf;
}

/*
 * A redacted task.name or step.name names the span: its hash does, in the
 * span's name, in the open tasks (/tasks, task_in_flight{task_name}) and
 * in a name template; the value never shows.
 */
static void test_redacted_values_never_name_a_span(void **state)
{
	struct fixture *f = *state;
	struct seen_tasks t = {0};
	char task[32], step[32], who[32], want[96];

	hashed("SecretCustomer", task, sizeof(task));
	hashed("ChargeCard", step, sizeof(step));
	hashed("alice@example.com", who, sizeof(who));
	entry(f, RTASK, 100, 10, 10, 1, "SecretCustomer");
	entry(f, RSTEP, 150, 10, 10, 1, "ChargeCard");
	entry(f, RNAMED, 200, 20, 20, 4242, "alice@example.com");
	/* while they are open */
	tt_asm__for_each_task(f->a, 0, note_task, &t);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.names[0], task);
	snprintf(want, sizeof(want), "%s.%s", task, step);
	assert_memory_equal(t.steps[0], want, sizeof(t.steps[0]) - 1); /* as note_task cut it */
	assert_int_equal(strncmp(t.names[1], "job xxh3:", 9), 0);
	assert_null(strstr(t.names[1], "4242"));
	/* and once ended */
	ret(f, RSTEP, 160, 10, 10, 0);
	ret(f, RTASK, 170, 10, 10, 0);
	ret(f, RNAMED, 210, 20, 20, 0);
	assert_int_equal(f->n, 3);
	assert_string_equal(f->out[0].name, want);
	assert_kv_str(f, 0, "step.name", step);
	assert_string_equal(f->out[1].name, task);
	assert_kv_str(f, 1, "task.name", task);
	assert_non_null(kv(f, 2, "task.id"));
	snprintf(want, sizeof(want), "job %.*s for %s", (int)kv(f, 2, "task.id")->len,
		 kv(f, 2, "task.id")->str, who);
	assert_string_equal(f->out[2].name, want);
	assert_null(strstr(f->out[2].name, "4242"));
	assert_kv_str(f, 2, "who", who);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retries_count_attempts_and_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attempts_are_per_key_and_step, setup,
						teardown),
		cmocka_unit_test(test_trace_id_vectors),
		cmocka_unit_test_setup_teardown(test_task_trace_id_derives_from_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attempt_memory_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts_outside_window_are_forgotten,
						setup_short_window, teardown),
		cmocka_unit_test_setup_teardown(test_producer_and_consumer_on_two_nodes_join,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_publish_inside_another_trace_links_to_it,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_traceparent_wins, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_traceparent_ignored_without_tracecontext,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_job_rerun_after_worker_died_is_attempt_2,
						setup2, teardown),
		cmocka_unit_test_setup_teardown(test_key_captured_at_return_derives_ids_at_the_end,
						setup2, teardown),
		cmocka_unit_test(test_salt_from_the_spec_changes_every_derived_id),
		cmocka_unit_test(test_producer_id_vector),
		cmocka_unit_test_setup_teardown(test_redacted_values_never_name_a_span,
						setup_redact, teardown),
	};

	return cmocka_run_group_tests_name("assemble_identity", tests, NULL, NULL);
}
