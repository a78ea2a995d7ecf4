// SPDX-License-Identifier: MIT
/*
 * The probe spec: the walking-skeleton demo spec field by field, a table of
 * malformed specs with the exact position and message of each, and the
 * file checks of tt_spec__load (owner, mode, missing file).
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

#define ERRLEN 512

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

static struct tt_spec *parse_ok(const char *text)
{
	struct tt_spec *spec = NULL;
	char err[ERRLEN] = "";
	int ret;

	ret = tt_spec__parse("spec.yaml", text, strlen(text), &spec, err, sizeof(err));
	if (ret)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(ret, 0);
	assert_non_null(spec);
	return spec;
}

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

/* The demo spec's first lines, then a probe whose role and symbol are set. */
#define HEAD                                                                                       \
	"service: w\n"                                                                             \
	"targets:\n"                                                                               \
	"  - binary: /bin/w\n"                                                                     \
	"    probes:\n"
/* Lines 5 and 6; a probe's next key is on line 7, column 9. */
#define PROBE HEAD "      - role: task\n        symbol: f\n"

/* 20 operations and 8 dereferences each: seven are more than TT_MAX_OPS (128). */
#define BIG "bytes(*(*(*(*(arg1 + 8) + 8) + 8) + 8), u32(*(*(*(arg1 + 16) + 4) + 4) + 4))"

struct bad_spec {
	const char *yaml;
	const char *want; /* the message starts with this */
};

static const struct bad_spec bad_specs[] = {
	/* the document */
	{"", "spec.yaml:1:1: spec is empty"},
	{"# only a comment\n", "spec.yaml:1:1: spec is empty"},
	{"---\n", "spec.yaml:1:1: spec is empty"},
	{"- a\n- b\n",
	 "spec.yaml:1:1: expected a mapping at the top of the spec, found a sequence"},
	{"service: x\n  bad: y\n", "spec.yaml:2:6: mapping values are not allowed in this context"},
	{"service: [x\n", "spec.yaml:2:1: did not find expected ',' or ']'"},
	{"service: x\n\tkeyspace: y\n",
	 "spec.yaml:2:1: found a tab character that violates indentation"},
	{"service: \"x\xff\"\n", "spec.yaml:1:12: invalid leading UTF-8 octet"},
	{"a: 1\n---\nb: 2\n", "spec.yaml:3:1: a spec is one YAML document, found a second one"},
	{"? [a]\n: b\n", "spec.yaml:1:3: expected a scalar key in spec, found a sequence"},
	/* top level */
	{"servce: x\ntargets: []\n", "spec.yaml:1:1: unknown key 'servce' in spec (expected one "
				     "of: service, keyspace, salt, targets)"},
	{"service: a\nservice: b\n",
	 "spec.yaml:2:1: duplicate key 'service' in spec (first at line 1)"},
	/* a file that is no spec: its lines are not repeated (a shadow file's hash) */
	{"root:$6$Zq3$S3cretHash:19000:0:99999:7:::\n",
	 "spec.yaml:1:1: unknown key in spec (expected one of: service, keyspace, salt, "
	 "targets)"},
	{"root: $6$Zq3$S3cretHash\n", "spec.yaml:1:1: unknown key 'root' in spec"},

	{"service: a\n", "spec.yaml:1:1: missing 'targets' in spec"},
	{"targets: []\n", "spec.yaml:1:1: 'targets' must not be empty"},
	{"targets:\n  binary: /a\n",
	 "spec.yaml:2:3: expected a sequence for 'targets', found a mapping"},
	{"service: {a: 1}\n", "spec.yaml:1:10: expected a scalar for 'service', found a mapping"},
	{"service:\ntargets: []\n", "spec.yaml:1:1: 'service' must not be empty"},
	{"keyspace: ''\n", "spec.yaml:1:1: 'keyspace' must not be empty"},
	/* targets */
	{"targets:\n  - /usr/bin/x\n",
	 "spec.yaml:2:5: expected a mapping for a target, found a scalar"},
	{"targets:\n  - probes:\n      - {role: task, symbol: f}\n",
	 "spec.yaml:2:5: target needs exactly one of binary, pid, library, comm"},
	{"targets:\n  - binary: /a\n    pid: 12\n",
	 "spec.yaml:3:5: target needs exactly one of binary, pid, library, comm"},
	{"targets:\n  - pid: abc\n",
	 "spec.yaml:2:10: 'pid' must be a positive integer, found 'abc'"},
	{"targets:\n  - pid: 0\n", "spec.yaml:2:10: 'pid' must be a positive integer, found '0'"},
	{"targets:\n  - pid: -5\n", "spec.yaml:2:10: 'pid' must be a positive integer, found '-5'"},
	{"targets:\n  - pid: 99999999999\n", "spec.yaml:2:10: 'pid' must be a positive integer"},
	{"targets:\n  - comm: abcdefghijklmnop\n",
	 "spec.yaml:2:11: 'comm' is 16 characters long, more than the kernel keeps (15)"},
	{"targets:\n  - library: \"\"\n", "spec.yaml:2:5: 'library' must not be empty"},
	{"targets:\n  - binary: /a\n", "spec.yaml:2:5: missing 'probes' in target"},
	{"targets:\n  - binary: /a\n    probes: []\n", "spec.yaml:3:5: 'probes' must not be empty"},
	{"targets:\n  - binary: /a\n    probe: []\n",
	 "spec.yaml:3:5: unknown key 'probe' in target (expected one of: binary, pid, library, "
	 "comm, cgroup, probes)"},
	/* a library narrowed to processes */
	{"targets:\n  - library: libc.so.6\n    binary: worker\n",
	 "spec.yaml:3:13: 'binary' narrowing a library must be an absolute path or glob, found "
	 "'worker'"},
	{"targets:\n  - binary: /a\n    cgroup: /system.slice\n",
	 "spec.yaml:3:5: 'cgroup' narrows a library target only (add 'library:', or narrow with "
	 "'comm:' or 'binary:')"},
	{"targets:\n  - library: libc.so.6\n    cgroup: system.slice\n",
	 "spec.yaml:3:13: 'cgroup' must be a cgroup path starting with '/' (as in "
	 "/proc/PID/cgroup), at most 1023 characters, found 'system.slice'"},
	{"targets:\n  - library: libc.so.6\n    cgroup: [/a]\n",
	 "spec.yaml:3:13: expected a scalar for 'cgroup', found a sequence"},
	{"targets:\n  - comm: w\n    library: libc.so.6\n    comm: v\n",
	 "spec.yaml:4:5: duplicate key 'comm' in target (first at line 2)"},
	{"targets:\n  - comm: abcdefghijklmnop\n    library: libc.so.6\n",
	 "spec.yaml:2:11: 'comm' is 16 characters long, more than the kernel keeps (15)"},
	{"targets:\n  - library: libc.so.6\n    pid: 12\n",
	 "spec.yaml:3:5: target needs exactly one of binary, pid, library, comm (found 'library' "
	 "and 'pid')"},
	{"targets:\n  - comm: w\n    binary: /a\n",
	 "spec.yaml:3:5: target needs exactly one of binary, pid, library, comm (found 'comm' and "
	 "'binary')"},
	/* probes */
	{HEAD "      - run_task\n",
	 "spec.yaml:5:9: expected a mapping for a probe, found a scalar"},
	{HEAD "      - role: task\n        symbl: f\n",
	 "spec.yaml:6:9: unknown key 'symbl' in probe (expected one of: role, symbol, usdt, "
	 "begin, end, key, attributes, error, when, attempt, message_id, traceparent, name, "
	 "redact, build_id, of, status, message, error_unless)"},
	{HEAD "      - role: tsk\n        symbol: f\n",
	 "spec.yaml:5:15: unknown role 'tsk' (expected task, step, compensation, publish, "
	 "consume, span or annotate)"},
	{HEAD "      - role: task\n", "spec.yaml:5:9: missing 'symbol' in probe"},
	{HEAD "      - symbol: f\n", "spec.yaml:5:9: missing 'role' in probe"},
	{HEAD "      - role: task\n        symbol: \"\"\n",
	 "spec.yaml:6:9: 'symbol' must not be empty"},
	{HEAD "      - role: [task]\n", "spec.yaml:5:15: expected a scalar for 'role', found a "
					"sequence"},
	{PROBE "        role: step\n",
	 "spec.yaml:7:9: duplicate key 'role' in probe (first at line 5)"},
	{PROBE "        attempt: str(arg2)\n",
	 "spec.yaml:7:18: 'attempt' must be an integer expression, not str() or bytes()"},
	{PROBE "        attempt: ret\n",
	 "spec.yaml:7:18: 'ret' is not available at function entry"},
	{PROBE "        build_id: 1b25\n",
	 "spec.yaml:7:19: build_id must be an even number of 8 to 64 hex digits"},
	{PROBE "        build_id: 1b25zz99\n", "spec.yaml:7:19: build_id must be hexadecimal, "
					       "found 'z'"},
	{PROBE "        name: \"{task.name\"\n", "spec.yaml:7:15: unclosed '{' in name template"},
	{PROBE "        name: \"a}b\"\n", "spec.yaml:7:15: '}' without '{' in name template"},
	{PROBE "        name: \"a{}b\"\n", "spec.yaml:7:15: empty '{}' in name template"},
	{PROBE "        redact: [customer]\n",
	 "spec.yaml:7:18: 'redact' names 'customer', which is not an attribute of this probe"},
	{PROBE "        redact: customer\n",
	 "spec.yaml:7:17: expected a sequence for 'redact', found a scalar"},
	{PROBE "        message_id: arg1\n        message_id: arg2\n",
	 "spec.yaml:8:9: duplicate key 'message_id' in probe (first at line 7)"},
	{PROBE "        traceparent: str(arg1, 99)\n",
	 "spec.yaml:7:32: string limit 99 is more than 64, the longest string read"},
	/* when: filters run in BPF */
	{PROBE "        when: arg1 == \"perform\"\n",
	 "spec.yaml:7:15: only str(EXPR) compares with a string literal"},
	{PROBE "        when: str(arg1) < \"p\"\n",
	 "spec.yaml:7:25: strings compare with == or != only"},
	{PROBE "        when: str(arg1) == 5\n",
	 "spec.yaml:7:15: a string compares with a quoted literal, not an integer"},
	{PROBE
	 "        when: str(arg1) == \"0123456789012345678901234567890123456789012345678901234"
	 "567\"\n",
	 "spec.yaml:7:28: string literal longer than 55 bytes (the limit)"},
	{PROBE "        when: arg1\n",
	 "spec.yaml:7:19: expected a comparison: EXPR OP INT or str(EXPR) OP \"literal\""},
	{PROBE "        when: arg99 > 3\n", "spec.yaml:7:15: argument slot 99 out of range"},
	{PROBE "        when: \"str(arg1) == 'unterminated\"\n",
	 "spec.yaml:7:29: unterminated string literal"},
	{PROBE "        when: \"\"\n", "spec.yaml:7:15: 'when' must not be empty"},
	/* where a span starts and ends */
	{HEAD "      - role: task\n        symbol: f\n        usdt: p:n\n",
	 "spec.yaml:7:9: 'symbol' and 'usdt' exclude each other"},
	{HEAD "      - role: task\n        usdt: python\n",
	 "spec.yaml:6:15: expected 'provider:name' for a USDT probe, found 'python'"},
	{HEAD "      - role: task\n        usdt: a:b:c\n",
	 "spec.yaml:6:15: expected 'provider:name' for a USDT probe"},
	{HEAD "      - role: task\n        symbol: f\n        end: p:n\n",
	 "spec.yaml:7:14: 'end: provider:name' follows 'usdt:'"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0 }\n",
	 "spec.yaml:6:16: 'begin' needs an 'end' mapping"},
	{HEAD "      - role: step\n        usdt: p:n\n        end: { symbol: g, key: arg0 }\n",
	 "spec.yaml:7:14: an 'end' mapping needs a 'begin'"},
	{HEAD "      - role: step\n        begin: { symbol: f }\n        end: { symbol: g, key: "
	      "arg0 }\n",
	 "spec.yaml:6:16: 'begin' needs a 'key' when 'end' has one: they are paired by key"},
	{HEAD "      - role: step\n        begin: { symbol: f, at: sideways }\n        end: { "
	      "symbol: g }\n",
	 "spec.yaml:6:33: expected 'entry' or 'return' for 'at', found 'sideways'"},
	{HEAD "      - role: step\n        begin: { usdt: p:n, at: return }\n        end: { "
	      "symbol: g }\n",
	 "spec.yaml:6:33: 'at: return' needs a function ('symbol'); a USDT probe does not return"},
	{HEAD "      - role: step\n        begin: { key: arg0 }\n        end: { symbol: g, key: "
	      "arg0 }\n",
	 "spec.yaml:6:16: 'begin' needs 'symbol' or 'usdt'"},
	{HEAD "      - role: step\n        begin: [f]\n",
	 "spec.yaml:6:16: expected a mapping for 'begin'"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0, error: ret < 0 }\n",
	 "spec.yaml:6:40: unknown key 'error' in begin (expected one of: symbol, usdt, at, key, "
	 "attributes, when)"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0 }\n"
	      "        end: { symbol: g, key: arg0, when: arg1 > 0 }\n",
	 "spec.yaml:7:38: unknown key 'when' in end (expected one of: symbol, usdt, at, key, "
	 "attributes, error)"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0 }\n"
	      "        end: { symbol: g, key: arg0, error: ret != 0 }\n",
	 "spec.yaml:7:45: error: 'ret' needs a 'symbol:' probe or an end 'at: return'"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: \"arg0 @return\" }\n"
	      "        end: { symbol: g, key: arg0 }\n",
	 "spec.yaml:6:34: '@return' is for 'symbol:' probes; in 'begin' or 'end' write 'at: "
	 "return'"},
	{HEAD "      - role: task\n        usdt: p:n\n        end: p:m\n        error: ret < 0\n",
	 "spec.yaml:8:16: error: 'ret' needs a 'symbol:' probe"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0 }\n"
	      "        end: { symbol: g, key: \"arg0 @return\" }\n",
	 "spec.yaml:7:32: '@return' applies to the start of a span only"},
	{PROBE "        end: [x]\n", "spec.yaml:7:14: expected 'provider:name' or a mapping"},
	{PROBE "      - role: step\n        symbol: g\n      - role: task\n        symbol: f\n",
	 "spec.yaml:9:9: duplicate probe: role 'task' on symbol 'f' is already declared at "
	 "line 5"},
	/* attributes */
	{PROBE "        attributes: [a, b]\n",
	 "spec.yaml:7:21: expected a mapping for 'attributes', found a sequence"},
	{PROBE "        attributes: { a: {b: c} }\n",
	 "spec.yaml:7:26: expected a scalar for attribute 'a', found a mapping"},
	{PROBE "        attributes: { a: arg0, a: \"x\" }\n",
	 "spec.yaml:7:32: duplicate key 'a' in attributes (first at line 7)"},
	{PROBE "        attributes: { a: arg0, b: arg1, c: arg2, d: arg3, e: arg4, f: arg5,\n"
	       "                      g: arg6, h: arg7 }\n",
	 "spec.yaml:8:32: more than 7 attributes in one probe (the limit)"},
	{PROBE "        attributes:\n          step.name: str(arg1, 99)\n",
	 "spec.yaml:8:32: string limit 99 is more than 64, the longest string read"},
	{PROBE "        attributes: { step.name: str(arg1, 32) }\n",
	 "spec.yaml:7:42: expected ')' to close str(), but the expression ends here; in a "
	 "{ } mapping a ',' ends the value: write it in block style"},
	{HEAD "      - { role: task, symbol: f, key: bytes(arg7, arg6) }\n",
	 "spec.yaml:5:49: bytes() needs two arguments: bytes(ptr, len); in a { } mapping"},
	{PROBE "        attributes:\n          n: \"a\"\n          m: u32(arg1 + x)\n",
	 "spec.yaml:9:25: only an integer can follow '+'"},
	/* expressions: the column points into the expression */
	{PROBE "        key: arg99\n",
	 "spec.yaml:7:14: argument slot 99 out of range (arg0..arg15)"},
	{PROBE "        key: ret\n", "spec.yaml:7:14: 'ret' is not available at function entry"},
	{PROBE "        key: u32(arg1 + 16\n", "spec.yaml:7:27: unbalanced parentheses"},
	{PROBE "        key: \"str(str(arg1))\"\n",
	 "spec.yaml:7:19: str() is only allowed as a whole capture"},
	{PROBE "        key: '**u64(u64(u64(u64(u64(u64(u64(arg0)))))))'\n",
	 "spec.yaml:7:15: more than 8 dereferences in one expression (the limit)"},
	{PROBE "        key:\n", "spec.yaml:7:13: empty expression"},
	{PROBE "        key: {a: b}\n",
	 "spec.yaml:7:14: expected a scalar for 'key', found a mapping"},
	{PROBE "        key: \"arg0\\0\"\n", "spec.yaml:7:14: 'key' contains a NUL character"},
	{PROBE "        key: *arg0\n",
	 "spec.yaml:7:14: found undefined alias; a leading '*' starts a YAML alias"},
	{PROBE "        key: " BIG "\n        attributes:\n          a: " BIG "\n          b: " BIG
	       "\n          c: " BIG "\n          d: " BIG "\n          e: " BIG
	       "\n          f: " BIG "\n",
	 "spec.yaml:14:14: the probe's captures need 140 operations, more than the 128 one hook "
	 "runs"},
	/* error: */
	{PROBE "        error: ret = 0\n",
	 "spec.yaml:7:20: expected a comparison (==, !=, <, <=, >, >=), found '='"},
	{PROBE "        error: arg0 != \"x\"\n",
	 "spec.yaml:7:16: only str(EXPR) compares with a string literal"},
	{PROBE "        error: \"!= 0\"\n", "spec.yaml:7:17: nothing to compare before '!='"},
	{PROBE "        error: ret != 0x\n", "spec.yaml:7:23: expected hex digits after '0x'"},
	/* annotate, of, status, message, error_unless */
	{HEAD "      - role: annotate\n        symbol: f\n        status: error\n",
	 "spec.yaml:5:9: an annotate probe needs 'of' (the role of the open span it completes: "
	 "'of: consume')"},
	{HEAD "      - role: annotate\n        of: job\n        symbol: f\n",
	 "spec.yaml:6:13: unknown role 'job' for 'of' (expected task, step, compensation, "
	 "publish, consume or span)"},
	{HEAD "      - role: annotate\n        of: annotate\n        symbol: f\n",
	 "spec.yaml:6:13: unknown role 'annotate' for 'of'"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n",
	 "spec.yaml:5:9: an annotate probe sets nothing: give it 'key', 'attributes', 'status' "
	 "or 'error', or a 'name' that an 'error_unless' waits for"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n"
	      "        status: failed\n",
	 "spec.yaml:8:17: expected 'error' or 'ok' for 'status', found 'failed'"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n"
	      "        status: [error]\n",
	 "spec.yaml:8:17: expected a scalar for 'status', found a sequence"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n"
	      "        message: nacked\n",
	 "spec.yaml:8:18: 'message' goes with 'status: error' or 'error:' (it is the error's "
	 "message)"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n"
	      "        status: ok\n        message: fine\n",
	 "spec.yaml:9:18: 'message' goes with 'status: error'"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n"
	      "        status: error\n        error: ret != 0\n",
	 "spec.yaml:9:16: 'status' and 'error' exclude each other"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n"
	      "        name: \"{x}\"\n",
	 "spec.yaml:8:15: an annotate probe's 'name' is a plain name that 'error_unless' refers "
	 "to (letters, digits, '_', '-', '.'), found '{x}'"},
	{HEAD "      - role: annotate\n        of: consume\n        status: error\n"
	      "        begin: { symbol: f }\n        end: { symbol: g }\n",
	 "spec.yaml:8:16: an annotate probe fires once: give it 'symbol' or 'usdt', not 'begin' "
	 "or 'end'"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n        name: ack\n"
	      "        error_unless: ack\n",
	 "spec.yaml:9:23: 'error_unless' is for spans; an annotate probe is what one waits for"},
	{HEAD "      - role: annotate\n        of: consume\n        symbol: f\n        key: arg0\n"
	      "        attempt: arg1\n",
	 "spec.yaml:9:18: 'attempt' is for spans, not for annotate probes"},
	{PROBE "        of: consume\n", "spec.yaml:7:13: 'of' is for 'role: annotate' probes"},
	{PROBE "        status: error\n",
	 "spec.yaml:7:17: 'status' is for 'role: annotate' probes"},
	{PROBE "        message: x\n", "spec.yaml:7:18: 'message' is for 'role: annotate' probes"},
	{PROBE "        error_unless: ack\n",
	 "spec.yaml:7:23: no annotate probe named 'ack' ('error_unless' names the 'name' of a "
	 "'role: annotate' probe)"},
	{PROBE "        error_unless: [ack]\n",
	 "spec.yaml:7:23: expected a scalar for 'error_unless', found a sequence"},
	{PROBE "        error_unless: ack\n      - role: annotate\n        of: consume\n"
	       "        symbol: g\n        name: ack\n",
	 "spec.yaml:7:23: annotate probe 'ack' completes 'consume' spans (its 'of'), not 'task' "
	 "spans"},
};

static void test_bad_specs(void **state)
{
	int failures = 0;
	size_t i;

	/* Every row is tried, and every mismatch printed, before the verdict. */
	for (i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		const struct bad_spec *b = &bad_specs[i];
		struct tt_spec *spec = (struct tt_spec *)&spec;
		char err[ERRLEN] = "";
		int ret;

		ret = tt_spec__parse("spec.yaml", b->yaml, strlen(b->yaml), &spec, err,
				     sizeof(err));
		if (ret == -EINVAL && !spec && strncmp(err, b->want, strlen(b->want)) == 0)
			continue;
		print_error("row %zu:\n%s\ngot %d '%s'\nwant '%s'\n", i, b->yaml, ret, err,
			    b->want);
		tt_spec__free(ret == 0 ? spec : NULL);
		failures++;
	}
	assert_true(sizeof(bad_specs) / sizeof(bad_specs[0]) >= 30);
	assert_int_equal(failures, 0);
}

/* Probe ids index a BPF array of TT_MAX_PROBES entries, id 0 unused. */
static void test_too_many_probes(void **state)
{
	size_t cap = 64 + (size_t)TT_MAX_PROBES * 40;
	char *text = malloc(cap);
	struct tt_spec *spec = NULL;
	char err[ERRLEN] = "";
	size_t len;
	int n;
	int i;

	assert_non_null(text);
	len = (size_t)snprintf(text, cap, "targets:\n  - binary: /w\n    probes:\n");
	for (i = 0; i < TT_MAX_PROBES; i++) {
		n = snprintf(text + len, cap - len, "      - { role: task, symbol: f%d }\n", i);
		assert_true(n > 0 && (size_t)n < cap - len);
		len += (size_t)n;
	}
	assert_int_equal(tt_spec__parse("spec.yaml", text, len, &spec, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "spec.yaml:1027:9: too many probes: at most 1023 in one spec "
				 "(TT_MAX_PROBES)");

	/* One fewer fits, and the last id is TT_MAX_PROBES - 1. */
	len -= strlen("      - { role: task, symbol: f1023 }\n");
	assert_int_equal(tt_spec__parse("spec.yaml", text, len, &spec, err, sizeof(err)), 0);
	assert_int_equal(spec->nprobes, TT_MAX_PROBES - 1);
	assert_string_equal(tt_spec__probe(spec, TT_MAX_PROBES - 1)->symbol, "f1022");
	tt_spec__free(spec);
	free(text);
}

/* ---- tt_spec__load ------------------------------------------------------ */

struct tmpdir {
	char dir[64];
	char path[128];
};

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
		cmocka_unit_test(test_library_narrowed),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_too_many_probes),
		cmocka_unit_test(test_match_keeps_unchanged_probes),
		cmocka_unit_test(test_digest_ignores_layout_not_content),
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
