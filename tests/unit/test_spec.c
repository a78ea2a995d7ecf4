// SPDX-License-Identifier: MIT
/*
 * The probe spec: the walking-skeleton demo spec field by field, and the
 * file checks of tt_spec__load (owner, mode, missing file). Malformed specs
 * are test_spec_errors.c's, reloads test_spec_model.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "spec.h"

#include "spec_fixture.h"

static const char demo_spec[] = "service: demo-worker\n"
				"keyspace: demo\n"
				"targets:\n"
				"  - binary: .output/demo-worker\n"
				"    probes:\n"
				"      - role: task\n"
				"        symbol: run_task\n"
				"        key: arg0\n"
				"        attributes:\n"
				"          task.name: str(arg1)\n"
				"        error: ret != 0\n"
				"      - role: step\n"
				"        symbol: execute_step\n"
				"        key: arg0\n"
				"        attributes: { step.name: str(arg1), step.kind: \"io\" }\n"
				"        error: ret != 0\n";

/* The entry program of a probe's start hook (needs `spec` in scope). */
#define PROG(p) (tt_spec__hook(spec, (p)->start_hook)->prog.entry)

static void assert_op(const struct tt_op *op, int code, int aux, int flags, unsigned int len,
		      int64_t imm)
{
	assert_int_equal(op->code, code);
	assert_int_equal(op->aux, aux);
	assert_int_equal(op->flags, flags);
	assert_int_equal(op->len, len);
	assert_true(op->imm == imm);
}

/* key arg0 then one str(arg1): ARG 0, EMIT_INT, ARG 1, EMIT_STR 64. */
static void assert_key_and_name_prog(const struct tt_probe_prog *prog)
{
	assert_int_equal(prog->ncaps, 2);
	assert_int_equal(prog->nops, 4);
	assert_op(&prog->ops[0], TT_OP_ARG, 0, 0, 0, 0);
	assert_op(&prog->ops[1], TT_OP_EMIT_INT, 0, 0, 0, 0);
	assert_op(&prog->ops[2], TT_OP_ARG, 0, 0, 0, 1);
	assert_op(&prog->ops[3], TT_OP_EMIT_STR, 0, 0, TT_MAX_STR, 0);
}

static void test_demo_spec(void **state)
{
	struct tt_spec *spec = parse_ok(demo_spec);
	const struct tt_target *target;
	const struct tt_probe *p;

	assert_string_equal(spec->path, "spec.yaml");
	assert_string_equal(spec->service, "demo-worker");
	assert_string_equal(spec->keyspace, "demo");
	assert_int_equal(spec->ntargets, 1);
	assert_int_equal(spec->nprobes, 2);

	target = &spec->targets[0];
	assert_int_equal(target->kind, TT_TARGET_BINARY);
	assert_string_equal(target->path, ".output/demo-worker");
	assert_null(target->comm);
	assert_int_equal(target->pos.line, 4);
	assert_int_equal(target->pos.col, 5);
	assert_int_equal(target->nprobes, 2);

	p = &target->probes[0];
	assert_int_equal(p->id, 1);
	assert_ptr_equal(p->target, target);
	assert_int_equal(p->role, TT_ROLE_TASK);
	assert_string_equal(p->symbol, "run_task");
	assert_int_equal(p->pos.line, 6);
	assert_int_equal(p->pos.col, 9);
	assert_string_equal(p->key.text, "arg0");
	assert_int_equal(p->key.index, 0);
	assert_int_equal(p->key.type, TT_CAP_INT);
	assert_int_equal(p->key.pos.line, 8);
	assert_int_equal(p->key.pos.col, 14);
	assert_int_equal(p->nattrs, 1);
	assert_string_equal(p->attrs[0].name, "task.name");
	assert_null(p->attrs[0].literal);
	assert_string_equal(p->attrs[0].cap.text, "str(arg1)");
	assert_int_equal(p->attrs[0].cap.index, 1);
	assert_int_equal(p->attrs[0].cap.type, TT_CAP_STR);
	assert_int_equal(p->attrs[0].cap.pos.line, 10);
	assert_int_equal(p->attrs[0].cap.pos.col, 22);
	assert_true(p->error.set);
	assert_int_equal(p->error.op, TT_CMP_NE);
	assert_true(p->error.rhs == 0);
	assert_string_equal(p->error.text, "ret != 0");
	assert_int_equal(p->error.pos.line, 11);
	assert_int_equal(p->error.pos.col, 16);
	assert_key_and_name_prog(&PROG(p));

	p = &target->probes[1];
	assert_int_equal(p->id, 2);
	assert_ptr_equal(p->target, target);
	assert_int_equal(p->role, TT_ROLE_STEP);
	assert_string_equal(p->symbol, "execute_step");
	assert_int_equal(p->pos.line, 12);
	assert_string_equal(p->key.text, "arg0");
	assert_int_equal(p->key.index, 0);
	assert_int_equal(p->nattrs, 2);
	assert_string_equal(p->attrs[0].name, "step.name");
	assert_null(p->attrs[0].literal);
	assert_string_equal(p->attrs[0].cap.text, "str(arg1)");
	assert_int_equal(p->attrs[0].cap.index, 1);
	assert_int_equal(p->attrs[0].cap.type, TT_CAP_STR);
	assert_string_equal(p->attrs[1].name, "step.kind");
	assert_string_equal(p->attrs[1].literal, "io");
	assert_null(p->attrs[1].cap.text);
	assert_int_equal(p->attrs[1].cap.index, -1);
	assert_true(p->error.set);
	assert_int_equal(p->error.op, TT_CMP_NE);
	assert_true(p->error.rhs == 0);
	assert_key_and_name_prog(&PROG(p));

	assert_ptr_equal(tt_spec__probe(spec, 1), &target->probes[0]);
	assert_ptr_equal(tt_spec__probe(spec, 2), &target->probes[1]);
	assert_null(tt_spec__probe(spec, 0));
	assert_null(tt_spec__probe(spec, 3));
	tt_spec__free(spec);
}

/* Defaults, several targets, ids across targets, attributes before key. */
static void test_defaults_and_order(void **state)
{
	static const char text[] = "targets:\n"
				   "  - pid: 4242\n"
				   "    probes:\n"
				   "      - symbol: a\n"
				   "        role: publish\n"
				   "        attributes:\n"
				   "          messaging.system: 'rabbitmq'\n"
				   "          messaging.destination.name: bytes(arg3, arg2)\n"
				   "        key: bytes(arg7, arg6)\n"
				   "  - comm: image-worker\n"
				   "    probes:\n"
				   "      - { role: consume, symbol: b }\n"
				   "      - { role: task, symbol: b }\n"
				   "  - library: librabbitmq.so.4\n"
				   "    probes: [ { role: span, symbol: 'c*' } ]\n";
	struct tt_spec *spec = parse_ok(text);
	const struct tt_probe *p;

	assert_null(spec->service);
	assert_string_equal(spec->keyspace, "default");
	assert_int_equal(spec->ntargets, 3);
	assert_int_equal(spec->nprobes, 4);
	assert_int_equal(spec->targets[0].kind, TT_TARGET_PID);
	assert_int_equal(spec->targets[0].pid, 4242);
	assert_null(spec->targets[0].path);
	assert_int_equal(spec->targets[1].kind, TT_TARGET_COMM);
	assert_string_equal(spec->targets[1].comm, "image-worker");
	assert_int_equal(spec->targets[2].kind, TT_TARGET_LIBRARY);
	assert_string_equal(spec->targets[2].path, "librabbitmq.so.4");

	/* The key is compiled first even though it comes last in the file. */
	p = tt_spec__probe(spec, 1);
	assert_non_null(p);
	assert_int_equal(p->role, TT_ROLE_PUBLISH);
	assert_int_equal(p->key.index, 0);
	assert_int_equal(p->key.type, TT_CAP_BYTES);
	assert_string_equal(p->attrs[0].literal, "rabbitmq");
	assert_int_equal(p->attrs[0].cap.index, -1);
	assert_int_equal(p->attrs[1].cap.index, 1);
	assert_int_equal(p->attrs[1].cap.type, TT_CAP_BYTES);
	assert_int_equal(PROG(p).ncaps, 2);
	assert_int_equal(PROG(p).nops, 8);
	assert_op(&PROG(p).ops[0], TT_OP_ARG, 0, 0, 0, 6);
	assert_op(&PROG(p).ops[2], TT_OP_ARG, 0, 0, 0, 7);
	assert_op(&PROG(p).ops[4], TT_OP_ARG, 0, 0, 0, 2);
	assert_op(&PROG(p).ops[6], TT_OP_ARG, 0, 0, 0, 3);
	assert_op(&PROG(p).ops[7], TT_OP_EMIT_BYTES, 0, 0, TT_MAX_BYTES, 0);
	assert_false(p->error.set);

	p = tt_spec__probe(spec, 2);
	assert_non_null(p);
	assert_int_equal(p->id, 2);
	assert_ptr_equal(p->target, &spec->targets[1]);
	assert_int_equal(p->role, TT_ROLE_CONSUME);
	assert_null(p->key.text);
	assert_int_equal(p->key.index, -1);
	assert_int_equal(PROG(p).nops, 0);
	assert_int_equal(tt_spec__probe(spec, 3)->role, TT_ROLE_TASK);
	p = tt_spec__probe(spec, 4);
	assert_non_null(p);
	assert_ptr_equal(p->target, &spec->targets[2]);
	assert_string_equal(p->symbol, "c*");
	tt_spec__free(spec);
}

/* A key and seven attributes: TT_MAX_CAPTURES records, in that order. */
/* comm:, binary: and cgroup: beside library: narrow it, in any order; alone they do not. */
static void test_library_narrowed(void **state)
{
	static const char text[] = "targets:\n"
				   "  - comm: php-fpm\n"
				   "    library: libcurl.so.4\n"
				   "    probes: [ { role: span, symbol: curl_easy_perform } ]\n"
				   "  - library: libc.so.6\n"
				   "    binary: /opt/workers/*\n"
				   "    cgroup: /system.slice/jobs.service\n"
				   "    probes: [ { role: span, symbol: getaddrinfo } ]\n"
				   "  - library: libz.so.1\n"
				   "    probes: [ { role: span, symbol: deflate } ]\n"
				   "  - comm: php-fpm\n"
				   "    probes: [ { role: task, symbol: run } ]\n";
	struct tt_spec *spec = parse_ok(text);
	const struct tt_target *t = spec->targets;

	(void)state;
	assert_int_equal(spec->ntargets, 4);
	assert_int_equal(t[0].kind, TT_TARGET_LIBRARY);
	assert_string_equal(t[0].path, "libcurl.so.4");
	assert_string_equal(t[0].comm, "php-fpm");
	assert_null(t[0].exe);
	assert_null(t[0].cgroup);
	assert_true(tt_target__narrowed(&t[0]));
	assert_int_equal(t[1].kind, TT_TARGET_LIBRARY);
	assert_null(t[1].comm);
	assert_string_equal(t[1].exe, "/opt/workers/*");
	assert_string_equal(t[1].cgroup, "/system.slice/jobs.service");
	assert_true(tt_target__narrowed(&t[1]));
	assert_false(tt_target__narrowed(&t[2]));
	assert_int_equal(t[3].kind, TT_TARGET_COMM);
	assert_false(tt_target__narrowed(&t[3]));
	/* a narrowing is part of what a target is: a reload that changes it is another target */
	assert_false(tt_target__same(&t[0], &t[3]));
	tt_spec__free(spec);
}

static void test_max_captures(void **state)
{
	static const char text[] =
		"targets:\n"
		"  - binary: /w\n"
		"    probes:\n"
		"      - role: task\n"
		"        symbol: f\n"
		"        key: arg0\n"
		"        attributes: { a: arg1, b: arg2, c: arg3, d: arg4, e: arg5,\n"
		"                      f: arg6, g: arg7 }\n";
	struct tt_spec *spec = parse_ok(text);
	const struct tt_probe *p = tt_spec__probe(spec, 1);
	int i;

	assert_int_equal(p->nattrs, TT_MAX_ATTRS);
	assert_int_equal(PROG(p).ncaps, TT_MAX_CAPTURES);
	for (i = 0; i < p->nattrs; i++) {
		assert_int_equal(p->attrs[i].cap.index, i + 1);
		assert_int_equal(PROG(p).ops[2 * (i + 1)].imm, i + 1);
	}
	tt_spec__free(spec);
}

/*
 * Predicates: `when:` on an end (compiled into the end hook), an `error:`
 * that names an attribute (evaluated on that attribute's capture), and a
 * compound `error:` (decided in BPF, its verdict a capture where the span
 * ends), names in `when:` standing for their expressions.
 */
static void test_predicates(void **state)
{
	struct tt_spec *spec = parse_ok("targets:\n"
					"  - binary: /bin/w\n"
					"    probes:\n"
					"      - role: task\n"
					"        symbol: run\n"
					"        attributes:\n"
					"          status: u32(arg1 + 4)\n"
					"          queue: str(arg2)\n"
					"        when: ends_with(queue, \".jobs\") && status != 3\n"
					"        error: status != 0\n"
					"      - role: step\n"
					"        begin: { symbol: f, key: arg0 }\n"
					"        end:\n"
					"          symbol: g\n"
					"          key: arg0\n"
					"          at: return\n"
					"          when: ret >= 0 || arg1 == 7\n"
					"          error: ret != 0 && str(arg2) != \"retry\"\n");
	const struct tt_probe *task = tt_spec__probe(spec, 1);
	const struct tt_probe *step = tt_spec__probe(spec, 2);
	const struct tt_probe_prog *start = &PROG(task);
	const struct tt_probe_prog *end = &tt_spec__hook(spec, step->end_hook)->prog.ret;


	/* the filter first: queue's and status's expressions, in place of their names */
	assert_op(&start->ops[0], TT_OP_ARG, 0, 0, 0, 2);
	assert_op(&start->ops[1], TT_OP_STRCMP, TT_STRCMP_SUFFIX, 0, 5, 0);
	assert_op(&start->ops[3], TT_OP_ARG, 0, 0, 0, 1);
	assert_op(&start->ops[6], TT_OP_CMP, TT_CMP_NE, TT_OPF_SIGNED, 0, 3);
	assert_int_equal(start->ncaps, 2);
	/* error: names the attribute: its capture, no new one */
	assert_false(task->error.verdict);
	assert_int_equal(task->error.lhs.site, TT_SITE_START);
	assert_int_equal(task->error.lhs.index, task->attrs[0].cap.index);

	/* the end's filter, then its key, then the verdict of its error */
	assert_int_equal(end->ops[0].code, TT_OP_RET);
	assert_int_equal(end->ops[0].flags, TT_OPF_INTRET);
	assert_int_equal(end->ops[1].flags, TT_OPF_SIGNED | TT_OPF_COND);
	assert_int_equal(end->ncaps, 2);
	assert_true(step->error.verdict);
	assert_int_equal(step->error.lhs.site, TT_SITE_END);
	assert_int_equal(step->error.lhs.index, 1);
	assert_int_equal(end->ops[end->nops - 1].code, TT_OP_EMIT_INT);
	tt_spec__free(spec);

	/* USDT: `end: p:m` is filtered as its start is; an 'end' mapping by its own when: alone */
	spec = parse_ok("targets:\n"
			"  - binary: /bin/w\n"
			"    probes:\n"
			"      - role: task\n"
			"        usdt: p:start\n"
			"        end: p:done\n"
			"        when: arg0 == 7\n"
			"      - role: step\n"
			"        begin: { usdt: p:a, when: arg0 == 1 }\n"
			"        end: { usdt: p:b, when: arg1 == 2 }\n");
	task = tt_spec__probe(spec, 1);
	step = tt_spec__probe(spec, 2);
	end = &tt_spec__hook(spec, task->end_hook)->prog.entry;
	assert_int_equal(end->nops, 2);
	assert_op(&end->ops[1], TT_OP_CMP, TT_CMP_EQ, TT_OPF_SIGNED, 0, 7);
	end = &tt_spec__hook(spec, step->end_hook)->prog.entry;
	assert_int_equal(end->nops, 2);
	assert_op(&end->ops[0], TT_OP_ARG, 0, 0, 0, 1);
	assert_op(&end->ops[1], TT_OP_CMP, TT_CMP_EQ, TT_OPF_SIGNED, 0, 2);
	tt_spec__free(spec);
}

static void test_role_names(void **state)
{
	assert_string_equal(tt_role__name(TT_ROLE_TASK), "task");
	assert_string_equal(tt_role__name(TT_ROLE_STEP), "step");
	assert_string_equal(tt_role__name(TT_ROLE_COMPENSATION), "compensation");
	assert_string_equal(tt_role__name(TT_ROLE_PUBLISH), "publish");
	assert_string_equal(tt_role__name(TT_ROLE_CONSUME), "consume");
	assert_string_equal(tt_role__name(TT_ROLE_SPAN), "span");
	assert_string_equal(tt_role__name(TT_ROLE__COUNT), "unknown");
	tt_spec__free(NULL);
}

/* ---- tt_spec__load ------------------------------------------------------ */

struct tmpdir {
	char dir[64];
	char path[128];
};

static int tmp_setup(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));
	int fd;

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_spec.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/spec.yaml", t->dir);
	fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, demo_spec, strlen(demo_spec)) != (ssize_t)strlen(demo_spec)) {
		if (fd >= 0)
			close(fd);
		free(t);
		return -1;
	}
	close(fd);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmpdir *t = *state;

	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return 0;
}

static void test_load_accepts_owner_only(void **state)
{
	struct tmpdir *t = *state;
	struct tt_spec *spec = NULL;
	char err[ERRLEN] = "";

	assert_int_equal(chmod(t->path, 0644), 0);
	assert_int_equal(tt_spec__load(t->path, &spec, err, sizeof(err)), 0);
	assert_non_null(spec);
	assert_string_equal(spec->path, t->path);
	assert_int_equal(spec->nprobes, 2);
	tt_spec__free(spec);
}

static void test_load_refuses_writable(void **state)
{
	struct tmpdir *t = *state;
	struct tt_spec *spec = NULL;
	char want[ERRLEN];
	char err[ERRLEN] = "";

	snprintf(want, sizeof(want), "refusing spec '%s': writable by users other than its owner",
		 t->path);
	assert_int_equal(chmod(t->path, 0666), 0);
	assert_int_equal(tt_spec__load(t->path, &spec, err, sizeof(err)), -EPERM);
	assert_null(spec);
	assert_string_equal(err, want);

	assert_int_equal(chmod(t->path, 0664), 0);
	assert_int_equal(tt_spec__load(t->path, &spec, err, sizeof(err)), -EPERM);
	assert_string_equal(err, want);
}

static void test_load_refuses_other_owner(void **state)
{
	struct tmpdir *t = *state;
	struct tt_spec *spec = NULL;
	char want[ERRLEN];
	char err[ERRLEN] = "";

	if (geteuid() != 0) {
		print_message("skipped, because changing a file's owner needs root\n");
		skip();
	}
	assert_int_equal(chmod(t->path, 0644), 0);
	assert_int_equal(chown(t->path, 4321, 0), 0);
	snprintf(want, sizeof(want), "refusing spec '%s': owned by uid 4321", t->path);
	assert_int_equal(tt_spec__load(t->path, &spec, err, sizeof(err)), -EPERM);
	assert_null(spec);
	assert_string_equal(err, want);
}

static void test_load_missing(void **state)
{
	struct tmpdir *t = *state;
	struct tt_spec *spec = NULL;
	char path[256];
	char want[ERRLEN];
	char err[ERRLEN] = "";

	snprintf(path, sizeof(path), "%s/nope.yaml", t->dir);
	snprintf(want, sizeof(want), "cannot open spec '%s': No such file or directory", path);
	assert_int_equal(tt_spec__load(path, &spec, err, sizeof(err)), -ENOENT);
	assert_null(spec);
	assert_string_equal(err, want);
}

static void test_load_too_large(void **state)
{
	struct tmpdir *t = *state;
	struct tt_spec *spec = NULL;
	char err[ERRLEN] = "";
	int fd;

	fd = open(t->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1024 * 1024 + 1), 0);
	close(fd);
	assert_int_equal(chmod(t->path, 0600), 0);
	assert_int_equal(tt_spec__load(t->path, &spec, err, sizeof(err)), -EFBIG);
	assert_null(spec);
	assert_non_null(strstr(err, "is larger than the limit of 1048576 bytes"));
}

/* Positions in a loaded file are reported under its path. */
static void test_load_error_names_path(void **state)
{
	struct tmpdir *t = *state;
	struct tt_spec *spec = NULL;
	char want[ERRLEN];
	char err[ERRLEN] = "";
	int fd;

	fd = open(t->path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "service: x\n", 11), 11);
	close(fd);
	assert_int_equal(chmod(t->path, 0600), 0);
	snprintf(want, sizeof(want), "%s:1:1: missing 'targets' in spec", t->path);
	assert_int_equal(tt_spec__load(t->path, &spec, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_spec),
		cmocka_unit_test(test_defaults_and_order),
		cmocka_unit_test(test_max_captures),
		cmocka_unit_test(test_role_names),
		cmocka_unit_test(test_predicates),
		cmocka_unit_test(test_library_narrowed),
		cmocka_unit_test_setup_teardown(test_load_accepts_owner_only, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_writable, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_other_owner, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_missing, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_too_large, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_error_names_path, tmp_setup,
						tmp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
