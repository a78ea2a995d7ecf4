// SPDX-License-Identifier: MIT
/*
 * Malformed specs: a table of them with the exact position and message of
 * each (every row tried, every mismatch printed), and the limit on probes.
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
	 "comm, cgroup, probes, runtime, match)"},
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
	 "redact, build_id, of, status, message, error_unless, function)"},
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
	{PROBE "        key: str(arg1, arg2)\n",
	 "spec.yaml:7:24: the limit of str(EXPR, N) is a number of bytes; for a length read at "
	 "run time, capture bytes(ptr, len)"},
	{PROBE "        when: str(arg1, arg2) == \"x\"\n",
	 "spec.yaml:7:25: the limit of str(EXPR, N) is a number of bytes"},
	/* compound predicates */
	{PROBE "        when: arg0 == 1 &&\n",
	 "spec.yaml:7:27: expected an expression, but the expression ends here"},
	{PROBE "        when: (arg0 == 1 || arg1 == 2\n",
	 "spec.yaml:7:38: unbalanced parentheses: '(' at column 0 is not closed"},
	{PROBE "        when: arg0 == 1)\n",
	 "spec.yaml:7:24: unbalanced parentheses: ')' without '('"},
	{PROBE "        when: arg0 == 1 and arg1 == 2\n",
	 "spec.yaml:7:25: expected '&&', '||' or the end of the predicate, found 'a'"},
	{PROBE "        when: '!arg0'\n", "spec.yaml:7:21: expected a comparison"},
	{PROBE "        when: 'contains(str(arg1), \"\")'\n",
	 "spec.yaml:7:36: contains() of an empty string holds for every string"},
	{PROBE "        when: 'ends_with(arg1, \"x\")'\n",
	 "spec.yaml:7:26: ends_with() tests a string: ends_with(str(EXPR), \"literal\")"},
	{PROBE "        when: starts_with(str(arg1), arg2)\n",
	 "spec.yaml:7:38: expected a quoted literal, found 'a'"},
	{PROBE "        when: str(arg1, 99) == str(arg2)\n",
	 "spec.yaml:7:25: string limit 99 is more than 64, the longest string read"},
	{PROBE "        when: str(arg1) == arg2\n",
	 "spec.yaml:7:28: a string compares with a string (str(EXPR) or a quoted literal), not "
	 "a number"},
	{PROBE "        when: 3 == 4\n", "spec.yaml:7:15: both sides are constants"},
	{PROBE "        when: u64(u64(u64(u64(u64(u64(u64(u64(u64(arg0))))))))) == 1\n",
	 "spec.yaml:7:15: more than 8 dereferences in one expression (the limit)"},
	{PROBE "        when: nosuch > 1\n", "spec.yaml:7:15: unknown name 'nosuch'"},
	{PROBE "        attributes:\n          blob: bytes(arg1, 4)\n        when: blob == 1\n",
	 "spec.yaml:9:15: in 'blob' (bytes(arg1, 4)): bytes() cannot be compared"},
	{PROBE "        attributes:\n          n: arg1\n        error: n == \"x\"\n",
	 "spec.yaml:9:16: only str(EXPR) compares with a string literal"},
	{PROBE "        attributes:\n          s: str(arg1)\n        error: s == 5\n",
	 "spec.yaml:9:16: error: 's' is a string, and is compared with a number"},
	{PROBE "        error: exit_status != 0\n",
	 "spec.yaml:7:16: unknown name 'exit_status' (expected argN, ret, an integer, str(...) or "
	 "the name of one of this probe's attributes)"},
	{PROBE "        attributes:\n          exit_status: s32(arg1 + 4)\n"
	       "        error: exit_status != 0 && code.lineno == 1393\n",
	 "spec.yaml:9:36: unknown name 'code.lineno'"},
	{PROBE "        error: arg0 == 1 || nosuch > 2\n", "spec.yaml:7:29: unknown name 'nosuch'"},
	{PROBE "        error: str(arg1) == str(arg2) &&\n",
	 "spec.yaml:7:41: expected an expression, but the expression ends here"},
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
	      "        end: { symbol: g, key: arg0, when: arg1 > 0, when: arg1 > 1 }\n",
	 "spec.yaml:7:54: duplicate key 'when' in end"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0 }\n"
	      "        end: { symbol: g, key: arg0, when: arg1 >= }\n",
	 "spec.yaml:7:51: expected an expression, but the expression ends here"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0 }\n"
	      "        end:\n          symbol: g\n          when: ret < 0\n",
	 "spec.yaml:9:17: 'ret' is not available at function entry"},
	{HEAD "      - role: step\n        begin: { symbol: f, key: arg0 }\n"
	      "        end: { symbol: g, key: arg0, when: \"\" }\n",
	 "spec.yaml:7:44: 'when' must not be empty"},
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_too_many_probes),
	};

	return cmocka_run_group_tests_name("spec_errors", tests, NULL, NULL);
}
