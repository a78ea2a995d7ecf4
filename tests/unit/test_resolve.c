/* SPDX-License-Identifier: MIT */
/*
 * Tests for user/resolve.c: a spec becomes a plan, against the fixtures
 * built from tests/fixtures/ (directory from $TT_FIXTURES): globs over
 * demangled C++ and Rust names, missing symbols, build-id pinning, USDT
 * probes, and libraries found by name.
 *
 * Offsets are checked against tt_elf__func_offset() of the mangled name,
 * which test_elf checks against the file itself.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "elf.h"
#include "resolve.h"
#include "spec.h"
#include "tmpdir.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
	const char *env = getenv("TT_FIXTURES");
	static const char *const needed[] = {"cxx-prog", "rust-prog", "usdt-prog", "prog-pie",
					     "libfix.so"};

	snprintf(dir, sizeof(dir), "%s", env && env[0] ? env : ".output/fixtures");
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/%s", dir, needed[i]);
		if (access(path, R_OK)) {
			fprintf(stderr, "cannot read fixture '%s': %s (build it: make unit-bins)\n",
				path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The path of fixture `name`, in a static buffer of its own per call slot. */
static const char *fixture(const char *name)
{
	static char bufs[4][PATH_MAX + 64];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/* Parses the spec printed from fmt, failing the test on an error. */
static struct tt_spec *parse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct tt_spec *parse(const char *fmt, ...)
{
	char text[8192];
	char err[1024];
	struct tt_spec *spec = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (tt_spec__parse("spec.yaml", text, strlen(text), &spec, err, sizeof(err)))
		fail_msg("spec did not parse: %s\n%s", err, text);
	return spec;
}

/* One probe of `role` whose `key` (symbol or usdt) is `value`, in the binary at `path`. */
static struct tt_spec *one_probe(const char *path, const char *role, const char *key,
				 const char *value)
{
	return parse("targets:\n"
		     "  - binary: %s\n"
		     "    probes:\n"
		     "      - role: %s\n"
		     "        %s: \"%s\"\n",
		     path, role, key, value);
}

/* One task probe on `symbol` in the binary at `path`. */
static struct tt_spec *one_symbol(const char *path, const char *symbol)
{
	return one_probe(path, "task", "symbol", symbol);
}

/* One span probe on the USDT probe `usdt` ("provider:name") in the binary at `path`. */
static struct tt_spec *one_usdt(const char *path, const char *usdt)
{
	return one_probe(path, "span", "usdt", usdt);
}

/* Builds the plan, failing the test on an error. */
static void plan_ok(struct tt_spec *spec, struct tt_plan *plan)
{
	char err[2048] = "";

	if (tt_plan__build(spec, 0, NULL, plan, err, sizeof(err)))
		fail_msg("plan failed: %s", err);
}

/* Builds the plan, expecting failure; returns the message in err. */
static int plan_fails(struct tt_spec *spec, char *err, size_t len)
{
	struct tt_plan plan = {0};
	int ret = tt_plan__build(spec, 0, NULL, &plan, err, len);

	assert_int_not_equal(ret, 0);
	assert_int_equal(plan.n, 0);
	assert_null(plan.at);
	return ret;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("'%s' not in '%s'", needle, haystack);
}

/* The attachment whose hook's function is `fn`, or NULL. */
static const struct tt_attachment *by_function(const struct tt_plan *plan, const char *fn)
{
	for (size_t i = 0; i < plan->n; i++) {
		const char *f = plan->at[i].hook->function;

		if (f && strcmp(f, fn) == 0)
			return &plan->at[i];
	}
	return NULL;
}

/* Checks that `fn` (demangled) is attached at the offset of `mangled`. */
static void assert_attached(const struct tt_plan *plan, const char *path, const char *fn,
			    const char *mangled)
{
	const struct tt_attachment *at = by_function(plan, fn);
	struct tt_elf *elf = tt_elf__open(path);
	uint64_t off = 0;

	if (!at)
		fail_msg("no hook for '%s'", fn);
	assert_non_null(elf);
	assert_int_equal(tt_elf__func_offset(elf, mangled, &off, NULL), 0);
	assert_int_equal(at->offset, off);
	assert_string_equal(at->path, path);
	assert_int_equal(at->pid, -1);
	assert_false(at->usdt);
	assert_true(at->retprobe);
	tt_elf__free(elf);
}

/* Every attachment has a hook of its own, with its id, of the one probe. */
static void assert_own_hooks(const struct tt_spec *spec, const struct tt_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct tt_hook *h = plan->at[i].hook;

		assert_ptr_equal(tt_spec__hook(spec, h->id), h);
		assert_ptr_equal(h->probe, &spec->targets[0].probes[0]);
		assert_ptr_equal(plan->at[i].probe, h->probe);
		assert_int_equal(h->kind, TT_HOOK_START);
		for (size_t k = 0; k < i; k++)
			assert_int_not_equal(plan->at[k].hook->id, h->id);
	}
	assert_int_equal(spec->nhooks, (int)plan->n);
	assert_int_equal(spec->targets[0].probes[0].start_hook, plan->at[0].hook->id);
}

/* ---- symbols: a table ------------------------------------------------- */

/* One symbol: in a fixture and what its plan attaches. */
struct symbol_case {
	const char *fixture, *symbol;
	size_t n; /* attachments */
	struct {
		const char *function; /* hook->function (demangled); NULL: none */
		const char *mangled;  /* the symbol whose offset it is at; NULL: not checked */
	} at[6];
};

static const struct symbol_case symbol_cases[] = {
	/* not shop::Worker::run_one, WorkerPool::run_all, Worker::stop, run_free; a function
	 * template's demangled name starts with its return type */
	{"cxx-prog",
	 "Worker::run_*",
	 6,
	 {{"Worker::run_one(int)", "_ZN6Worker7run_oneEi"},
	  {"Worker::run_batch(long, char const*)", "_ZN6Worker9run_batchElPKc"},
	  {"Worker::run_batch(int)", "_ZN6Worker9run_batchEi"},
	  {"Worker::run_const() const", "_ZNK6Worker9run_constEv"},
	  {"int Worker::run_typed<int>(int)", "_ZN6Worker9run_typedIiEET_S1_"},
	  {"double Worker::run_typed<double>(double)", "_ZN6Worker9run_typedIdEET_S1_"}}},
	/* globs over namespaces */
	{"cxx-prog",
	 "*::Worker::run_*",
	 1,
	 {{"shop::Worker::run_one(int)", "_ZN4shop6Worker7run_oneEi"}}},
	/* with parameters */
	{"cxx-prog",
	 "Worker::run_batch(int)",
	 1,
	 {{"Worker::run_batch(int)", "_ZN6Worker9run_batchEi"}}},
	/* an exact demangled name */
	{"cxx-prog",
	 "shop::Worker::run_one",
	 1,
	 {{"shop::Worker::run_one(int)", "_ZN4shop6Worker7run_oneEi"}}},
	/* an overloaded name is every overload */
	{"cxx-prog",
	 "Worker::run_batch",
	 2,
	 {{"Worker::run_batch(int)", "_ZN6Worker9run_batchEi"},
	  {"Worker::run_batch(long, char const*)", "_ZN6Worker9run_batchElPKc"}}},
	/* a mangled name shows demangled */
	{"cxx-prog", "_ZN6Worker4stopEi", 1, {{"Worker::stop(int)", "_ZN6Worker4stopEi"}}},
	/* the complete and base object constructors (C1, C2) share their code: attached once */
	{"cxx-prog", "Worker::Worker", 1, {{"Worker::Worker(long)", NULL}}},
	/* a C name: code.function falls back to the symbol as written */
	{"cxx-prog", "run_free", 1, {{NULL, NULL}}},
	/* Rust: the hash is no part of the name a person knows */
	{"rust-prog",
	 "rust_prog::worker::Worker::run_*",
	 2,
	 {{"rust_prog::worker::Worker::run_fast", NULL},
	  {"rust_prog::worker::Worker::run_slow", NULL}}},
	{"rust-prog",
	 "rust_prog::worker::Worker::stop",
	 1,
	 {{"rust_prog::worker::Worker::stop", NULL}}},
};

static void check_symbol_case(const struct symbol_case *c)
{
	const char *path = fixture(c->fixture);
	struct tt_spec *spec = one_symbol(path, c->symbol);
	struct tt_plan plan = {0};

	plan_ok(spec, &plan);
	assert_int_equal(plan.n, c->n);
	assert_own_hooks(spec, &plan);
	for (size_t i = 0; i < c->n; i++) {
		const char *fn = c->at[i].function;

		if (!fn)
			assert_null(plan.at[i].hook->function);
		else if (c->at[i].mangled)
			assert_attached(&plan, path, fn, c->at[i].mangled);
		else
			assert_non_null(by_function(&plan, fn));
		if (fn)
			assert_null(strstr(fn, "::h")); /* no Rust hash */
	}
	tt_plan__release(&plan);
	tt_spec__free(spec);
}

static void test_symbols_resolve_as_the_table_says(void **state)
{
	for (size_t i = 0; i < sizeof(symbol_cases) / sizeof(symbol_cases[0]); i++) {
		print_message("%s in %s\n", symbol_cases[i].symbol, symbol_cases[i].fixture);
		check_symbol_case(&symbol_cases[i]);
	}
}

struct rust_find {
	const char *method;
	uint64_t offset;
	int found;
};

/* Finds the legacy-mangled symbol of rust_prog::worker::Worker::<method>. */
static int find_rust(const struct tt_sym *sym, void *ctx)
{
	struct rust_find *f = ctx;
	char prefix[128];
	size_t n = strlen(sym->name);

	snprintf(prefix, sizeof(prefix), "_ZN9rust_prog6worker6Worker%zu%s17h", strlen(f->method),
		 f->method);
	if (strncmp(sym->name, prefix, strlen(prefix)) != 0)
		return 0;
	/* 16 hex digits of hash, then E */
	assert_int_equal(n, strlen(prefix) + 17);
	assert_int_equal(sym->name[n - 1], 'E');
	f->offset = sym->offset;
	f->found++;
	return 0;
}

static void test_rust_offsets_are_the_hashed_symbols(void **state)
{
	const char *path = fixture("rust-prog");
	struct tt_spec *spec = one_symbol(path, "*::Worker::run_*");
	struct tt_elf *elf = tt_elf__open(path);
	static const char *const methods[] = {"run_fast", "run_slow"};
	struct tt_plan plan = {0};

	assert_non_null(elf);
	plan_ok(spec, &plan);
	assert_int_equal(plan.n, 2);
	for (int i = 0; i < 2; i++) {
		struct rust_find f = {.method = methods[i]};
		char fn[128];
		const struct tt_attachment *at;

		tt_elf__for_each_func(elf, find_rust, &f);
		assert_int_equal(f.found, 1);
		snprintf(fn, sizeof(fn), "rust_prog::worker::Worker::%s", methods[i]);
		at = by_function(&plan, fn);
		assert_non_null(at);
		/* func_offset may step past an endbr64; the symbol is at or just before */
		assert_true(at->offset == f.offset || at->offset == f.offset + 4);
	}
	tt_plan__release(&plan);
	tt_spec__free(spec);
	tt_elf__free(elf);
}

/* ---- missing symbols: a table ----------------------------------------- */

static const struct missing_case {
	const char *fixture, *symbol;
	const char *want;    /* in the message; %s: the fixture's path */
	const char *closest; /* the closest name offered, or NULL */
} missing_cases[] = {
	{"prog-pie", "proces_item", "spec.yaml:5:17: symbol 'proces_item' not found in '%s'",
	 "closest: process_item"},
	{"cxx-prog", "run_fre", "symbol 'run_fre' not found in '%s'", "closest: run_free"},
	{"cxx-prog", "Worker::walk_*",
	 "spec.yaml:5:17: no function in '%s' matches 'Worker::walk_*'", NULL},
};

static void test_missing_symbols_say_what_is_near(void **state)
{
	for (size_t i = 0; i < sizeof(missing_cases) / sizeof(missing_cases[0]); i++) {
		const struct missing_case *c = &missing_cases[i];
		const char *path = fixture(c->fixture);
		struct tt_spec *spec = one_symbol(path, c->symbol);
		char err[2048], want[PATH_MAX + 128];

		print_message("%s in %s\n", c->symbol, c->fixture);
		assert_int_equal(plan_fails(spec, err, sizeof(err)), -ENOENT);
		snprintf(want, sizeof(want), c->want, path);
		assert_contains(err, want);
		if (c->closest)
			assert_contains(err, c->closest);
		tt_spec__free(spec);
	}
}

/* ---- build-id pinning -------------------------------------------------- */

static struct tt_spec *pinned(const char *path, const char *build_id)
{
	return parse("targets:\n"
		     "  - binary: %s\n"
		     "    probes:\n"
		     "      - role: task\n"
		     "        symbol: run_task\n"
		     "        build_id: %s\n",
		     path, build_id);
}

static void test_build_id_match(void **state)
{
	const char *path = fixture("prog-pie");
	struct tt_elf *elf = tt_elf__open(path);
	char prefix[17];
	struct tt_spec *spec;
	struct tt_plan plan = {0};

	assert_non_null(elf);
	assert_non_null(tt_elf__build_id(elf));
	assert_int_equal(strlen(tt_elf__build_id(elf)), 40); /* sha1 */
	spec = pinned(path, tt_elf__build_id(elf));
	plan_ok(spec, &plan);
	assert_int_equal(plan.n, 1);
	tt_plan__release(&plan);
	tt_spec__free(spec);
	/* a prefix pins too, in either case */
	snprintf(prefix, sizeof(prefix), "%s", tt_elf__build_id(elf));
	for (char *c = prefix; *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
	spec = pinned(path, prefix);
	plan_ok(spec, &plan);
	assert_int_equal(plan.n, 1);
	tt_plan__release(&plan);
	tt_spec__free(spec);
	tt_elf__free(elf);
}

static void test_build_id_mismatch_names_both_builds(void **state)
{
	const char *path = fixture("prog-pie");
	const char *other = fixture("prog-nopie");
	struct tt_elf *elf = tt_elf__open(path);
	struct tt_elf *elf2 = tt_elf__open(other);
	struct tt_spec *spec;
	char err[2048];

	assert_non_null(elf);
	assert_non_null(elf2);
	assert_string_not_equal(tt_elf__build_id(elf), tt_elf__build_id(elf2));
	/* pinned to the PIE build, the file is the non-PIE one */
	spec = pinned(other, tt_elf__build_id(elf));
	plan_fails(spec, err, sizeof(err));
	assert_contains(err, "spec.yaml:6:19: build-id mismatch");
	assert_contains(err, tt_elf__build_id(elf));
	assert_contains(err, tt_elf__build_id(elf2));
	assert_contains(err, other);
	tt_spec__free(spec);
	tt_elf__free(elf);
	tt_elf__free(elf2);
}

/* ---- USDT -------------------------------------------------------------- */

static void test_usdt_probe_found_with_semaphore(void **state)
{
	const char *path = fixture("usdt-prog");
	struct tt_spec *spec = parse("targets:\n"
				     "  - binary: %s\n"
				     "    probes:\n"
				     "      - role: span\n"
				     "        usdt: ttfix:guarded\n"
				     "      - role: task\n"
				     "        usdt: ttfix:ints\n"
				     "        end: ttfix:strs\n",
				     path);
	struct tt_elf *elf = tt_elf__open(path);
	const struct tt_usdt_note *note;
	struct tt_plan plan = {0};

	assert_non_null(elf);
	note = tt_elf__usdt(elf, "ttfix", "guarded");
	assert_non_null(note);
	assert_int_not_equal(note->semaphore, 0);
	plan_ok(spec, &plan);
	assert_int_equal(plan.n, 3);
	assert_true(plan.at[0].usdt);
	assert_false(plan.at[0].retprobe);
	assert_string_equal(plan.at[0].hook->provider, "ttfix");
	assert_string_equal(plan.at[0].hook->usdt, "guarded");
	assert_int_equal(plan.at[0].semaphore, note->semaphore);
	assert_int_equal(plan.at[0].cost, TT_INSN_NOP5);
	assert_int_equal(plan.at[0].probe->pairing, TT_PAIR_POINT);
	/* the pair: a start hook and an end hook, neither with a semaphore */
	assert_true(plan.at[1].usdt);
	assert_string_equal(plan.at[1].hook->usdt, "ints");
	assert_int_equal(plan.at[1].hook->kind, TT_HOOK_START);
	assert_int_equal(plan.at[1].semaphore, 0);
	assert_true(plan.at[2].usdt);
	assert_string_equal(plan.at[2].hook->usdt, "strs");
	assert_int_equal(plan.at[2].hook->kind, TT_HOOK_END);
	assert_int_equal(plan.at[1].probe->pairing, TT_PAIR_THREAD);
	assert_int_equal(plan.at[1].probe->end_hook, plan.at[2].hook->id);
	tt_plan__release(&plan);
	tt_spec__free(spec);
	tt_elf__free(elf);
}

static void test_usdt_missing_lists_probes(void **state)
{
	const char *path = fixture("usdt-prog");
	struct tt_spec *spec = one_usdt(path, "ttfix:gaurded");
	char err[2048], want[PATH_MAX + 128];

	assert_int_equal(plan_fails(spec, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "spec.yaml:5:15: USDT probe 'ttfix:gaurded' not found in '%s'",
		 path);
	assert_contains(err, want);
	assert_contains(err, "it has: ttfix:nothing, ttfix:ints, ttfix:strs, ttfix:guarded");
	tt_spec__free(spec);
}

static void test_usdt_in_file_without_probes(void **state)
{
	struct tt_spec *spec = one_usdt(fixture("prog-pie"), "ttfix:ints");
	char err[2048];

	plan_fails(spec, err, sizeof(err));
	assert_contains(err, "USDT probe 'ttfix:ints' not found");
	assert_contains(err, "it has no USDT probes");
	tt_spec__free(spec);
}

/* ---- libraries --------------------------------------------------------- */

struct env_save {
	char *old;
};

static int save_env(void **state)
{
	const char *v = getenv("LD_LIBRARY_PATH");
	struct env_save *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->old = v ? strdup(v) : NULL;
	*state = s;
	return 0;
}

static int restore_env(void **state)
{
	struct env_save *s = *state;

	if (s->old)
		setenv("LD_LIBRARY_PATH", s->old, 1);
	else
		unsetenv("LD_LIBRARY_PATH");
	free(s->old);
	free(s);
	return 0;
}

static void test_library_found_through_ld_library_path(void **state)
{
	char env[PATH_MAX + 64], abs[PATH_MAX], want[PATH_MAX + 64];
	struct tt_spec *spec;
	struct tt_plan plan = {0};
	char path[PATH_MAX];

	assert_non_null(realpath(dir, abs));
	/* a directory without it first, an empty entry, then the one that has it */
	snprintf(env, sizeof(env), "/nonexistent::%s", abs);
	setenv("LD_LIBRARY_PATH", env, 1);
	assert_int_equal(tt_find_library("libfix.so", path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/libfix.so", abs);
	assert_string_equal(path, want);
	spec = parse("targets:\n"
		     "  - library: libfix.so\n"
		     "    probes:\n"
		     "      - role: publish\n"
		     "        symbol: fix_publish\n");
	plan_ok(spec, &plan);
	assert_int_equal(plan.n, 1);
	assert_string_equal(plan.at[0].path, path);
	assert_int_equal(plan.at[0].pid, -1);
	assert_true(plan.at[0].retprobe);
	tt_plan__release(&plan);
	tt_spec__free(spec);
}

static void test_library_in_system_directories(void **state)
{
	char path[PATH_MAX];

	unsetenv("LD_LIBRARY_PATH");
	assert_int_equal(tt_find_library("libc.so.6", path, sizeof(path)), 0);
	assert_int_equal(access(path, R_OK), 0);
	assert_non_null(strstr(path, "/libc.so.6"));
}

static void test_library_not_found(void **state)
{
	struct tt_spec *spec;
	char err[2048], path[PATH_MAX];

	setenv("LD_LIBRARY_PATH", dir, 1);
	assert_int_equal(tt_find_library("libttnone.so", path, sizeof(path)), -ENOENT);
	spec = parse("targets:\n"
		     "  - library: libttnone.so\n"
		     "    probes:\n"
		     "      - role: publish\n"
		     "        symbol: fix_publish\n");
	assert_int_equal(plan_fails(spec, err, sizeof(err)), -ENOENT);
	assert_contains(err, "spec.yaml:2:5: library 'libttnone.so' not found");
	assert_contains(err, "LD_LIBRARY_PATH");
	tt_spec__free(spec);
}

/* ---- overrides --------------------------------------------------------- */

static void test_binary_override_replaces_the_path(void **state)
{
	struct tt_spec *spec = one_symbol("/nonexistent/prog", "run_task");
	struct tt_plan plan = {0};
	char err[2048] = "";
	const char *path = fixture("prog-nopie");

	assert_int_equal(tt_plan__build(spec, 0, path, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.n, 1);
	assert_string_equal(plan.at[0].path, path);
	assert_int_equal(plan.at[0].pid, -1);
	tt_plan__release(&plan);
	tt_spec__free(spec);
}

static void test_pid_override_uses_the_process(void **state)
{
	struct tt_spec *spec = one_symbol("/nonexistent/prog", "main");
	struct tt_plan plan = {0};
	char err[2048] = "", self[PATH_MAX];

	assert_non_null(realpath("/proc/self/exe", self));
	assert_int_equal(tt_plan__build(spec, getpid(), NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.n, 1);
	assert_int_equal(plan.at[0].pid, getpid());
	assert_string_equal(plan.at[0].shown, self);
	tt_plan__release(&plan);
	tt_spec__free(spec);
}

/*
 * A library: target narrowed to processes is left to exec discovery: no
 * attachment in the plan, but its symbols are resolved all the same.
 */
static void test_narrowed_library_waits_for_its_processes(void **state)
{
	const char *lib = fixture("libfix.so");
	struct tt_spec *spec = parse("targets:\n"
				     "  - library: %s\n"
				     "    comm: fix-worker\n"
				     "    probes: [ { role: publish, symbol: fix_publish } ]\n",
				     lib);
	struct tt_plan plan = {0};
	char err[2048] = "";

	(void)state;
	assert_int_equal(tt_plan__build(spec, 0, NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(plan.n, 0);
	tt_plan__release(&plan);
	tt_spec__free(spec);
	spec = parse("targets:\n"
		     "  - library: %s\n"
		     "    cgroup: /jobs\n"
		     "    probes: [ { role: publish, symbol: fix_publsh } ]\n",
		     lib);
	assert_int_equal(tt_plan__build(spec, 0, NULL, &plan, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "fix_publsh"));
	tt_spec__free(spec);
}

/* --binary PATH keeps library targets (for PATH's processes, found as they start). */
static void test_binary_override_keeps_library_targets(void **state)
{
	struct tt_spec *spec = parse("targets:\n"
				     "  - library: %s\n"
				     "    probes: [ { role: publish, symbol: fix_publish } ]\n",
				     fixture("libfix.so"));
	struct tt_plan plan = {0};
	char err[2048] = "";

	(void)state;
	assert_int_equal(tt_plan__build(spec, 0, fixture("prog-nopie"), &plan, err, sizeof(err)),
			 0);
	assert_int_equal(plan.n, 0);
	tt_plan__release(&plan);
	tt_spec__free(spec);
}

/* Writes `text` into file `name` of directory `d`. */
static void write_file(const char *d, const char *name, const char *text, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* A library found through a loader cache that ldconfig wrote, not through its directory. */
static void test_ld_cache(void **state)
{
	char tmp[PATH_MAX], cmd[3 * PATH_MAX], cache[PATH_MAX], want[PATH_MAX], got[PATH_MAX];
	static const char bad[64] = "glibc-ld.so.cache1.1\xff\xff\xff\x7f";

	(void)state;
	assert_int_equal(tmpdir__make(tmp, sizeof(tmp), "ldcache"), 0);
	snprintf(
		cmd, sizeof(cmd),
		"mkdir '%s/lib' && cp '%s' '%s/lib/libttcache.so.7' && echo '%s/lib' > "
		"'%s/ld.so.conf' && PATH=\"$PATH:/sbin:/usr/sbin\" ldconfig -X -C '%s/ld.so.cache' "
		"-f '%s/ld.so.conf'",
		tmp, fixture("libfix.so"), tmp, tmp, tmp, tmp, tmp);
	assert_int_equal(system(cmd), 0);
	snprintf(cache, sizeof(cache), "%s/ld.so.cache", tmp);
	snprintf(want, sizeof(want), "%s/lib/libttcache.so.7", tmp);
	assert_int_equal(tt_ld_cache__find(cache, "libttcache.so.7", got, sizeof(got)), 0);
	assert_string_equal(got, want);
	assert_int_equal(tt_ld_cache__find(cache, "libttcache.so", got, sizeof(got)), -ENOENT);
	assert_int_equal(tt_ld_cache__find(cache, "libttcache.so.77", got, sizeof(got)), -ENOENT);
	/* not a cache, a cache that claims more entries than it holds, no file */
	write_file(tmp, "ld.so.conf.bad", "include /etc/ld.so.conf.d/*.conf\n", 33);
	snprintf(cache, sizeof(cache), "%s/ld.so.conf.bad", tmp);
	assert_int_equal(tt_ld_cache__find(cache, "libttcache.so.7", got, sizeof(got)), -ENOENT);
	write_file(tmp, "truncated", bad, sizeof(bad));
	snprintf(cache, sizeof(cache), "%s/truncated", tmp);
	assert_int_equal(tt_ld_cache__find(cache, "libttcache.so.7", got, sizeof(got)), -ENOENT);
	snprintf(cache, sizeof(cache), "%s/none", tmp);
	assert_int_equal(tt_ld_cache__find(cache, "libttcache.so.7", got, sizeof(got)), -ENOENT);
	assert_int_equal(tmpdir__remove(tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symbols_resolve_as_the_table_says),
		cmocka_unit_test(test_rust_offsets_are_the_hashed_symbols),
		cmocka_unit_test(test_missing_symbols_say_what_is_near),
		cmocka_unit_test(test_build_id_match),
		cmocka_unit_test(test_build_id_mismatch_names_both_builds),
		cmocka_unit_test(test_usdt_probe_found_with_semaphore),
		cmocka_unit_test(test_usdt_missing_lists_probes),
		cmocka_unit_test(test_usdt_in_file_without_probes),
		cmocka_unit_test_setup_teardown(test_library_found_through_ld_library_path,
						save_env, restore_env),
		cmocka_unit_test_setup_teardown(test_library_in_system_directories, save_env,
						restore_env),
		cmocka_unit_test_setup_teardown(test_library_not_found, save_env, restore_env),
		cmocka_unit_test(test_binary_override_replaces_the_path),
		cmocka_unit_test(test_pid_override_uses_the_process),
		cmocka_unit_test(test_ld_cache),
		cmocka_unit_test(test_narrowed_library_waits_for_its_processes),
		cmocka_unit_test(test_binary_override_keeps_library_targets),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
