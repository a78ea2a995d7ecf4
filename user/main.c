// SPDX-License-Identifier: MIT
/*
 * tasktap: the command line. Subcommands are rows of a table, each with its
 * usage text; `run` lives in user/agent/cmd_run.c, `status` in status.c.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpfgen.h"
#include "cli.h"
#include "elf.h"
#include "loader.h"
#include "proc.h"
#include "python/pyproc.h"
#include "resolve.h"
#include "spec.h"
#include "usage.h"
#include "usdt.h"

/* ---- check -------------------------------------------------------------- */

static const char *const pairing_names[] = {
	[TT_PAIR_CALL] = "entry+return",
	[TT_PAIR_THREAD] = "per thread",
	[TT_PAIR_POINT] = "usdt point",
	[TT_PAIR_KEY] = "begin/end by key",
};

/* One line per attachment: hook, role, where, in which processes, and warnings. */
static void print_attachment(const struct tt_attachment *at)
{
	const struct tt_hook *h = at->hook;
	const struct tt_probe *p = at->probe;
	char where[512];

	if (at->usdt)
		snprintf(where, sizeof(where), "usdt %s:%s%s", h->provider, h->usdt,
			 at->semaphore ? " (semaphore)" : "");
	else if (at->python)
		snprintf(where, sizeof(where),
			 "%s (python %s, frames end at %s, in %s%s%.12s; generators and "
			 "coroutines: %s)",
			 h->symbol, at->py.version,
			 at->py.ret_kind == TT_PY_RET_USDT ? "usdt python:function__return"
							   : "_PyThreadState_PopFrame",
			 at->py.path,
			 at->py.known_build ? "" : "; a build the tests did not run on: build-id ",
			 at->py.known_build ? "" : at->py.build_id,
			 tt_py_interp__follows_generators(&at->py) ? "a span per call"
								   : "counted, not traced");
	else
		snprintf(where, sizeof(where), "%s+0x%" PRIx64,
			 h->function ? h->function : h->symbol, at->offset);
	printf("hook %-3d %-12s %-5s %-16s %s%s in %s", h->id, tt_role__name(p->role),
	       h->kind == TT_HOOK_START ? "start" : "end", pairing_names[p->pairing], where,
	       h->at_return ? " (at return)" : "", at->shown);
	if (at->pid > 0)
		printf(" (pid %d)", at->pid);
	else
		printf(" (every process)");
	if (at->cost == TT_INSN_STEPPED)
		printf("  warning: lands on an instruction the kernel single-steps (~10x slower)");
	putchar('\n');
}

/* A library: target attached in each process it is narrowed to, as it starts. */
static void print_narrowed(const struct tt_target *t, const char *binary)
{
	printf("library %s: %d probes, attached in each process", t->path, t->nprobes);
	if (binary)
		printf(" running %s", binary);
	if (t->comm)
		printf(" named %s", t->comm);
	if (t->exe)
		printf(" running %s", t->exe);
	if (t->cgroup)
		printf(" in cgroup %s", t->cgroup);
	printf(" as it starts, and only there\n");
}

static const struct tt_usage_item check_options[] = {
	{"-p, --pid PID", "resolve in this process: its executable, libraries and mappings"},
	{"-b, --binary PATH", "resolve in this file, as `tasktap run --binary` attaches"},
	{"-v, --verbose", "also print each hook's BPF instructions and each call's path: one event "
			  "(TASKTAP_SESSION=0: two) or why two"},
	{"-h, --help", "print this text"},
	{NULL},
};

static const struct tt_usage_item check_examples[] = {
	{"tasktap check recipes/demo-worker.yaml",
	 "show every hook the demo worker's spec attaches, and where"},
	{"tasktap check worker.yaml --pid 4242", "the same, resolved in the running process 4242"},
	{NULL},
};

static const struct tt_usage check_usage = {
	.name = "check",
	.args = "SPEC [--pid PID | --binary PATH] [--verbose]",
	.summary =
		"Validate a spec and show what would be attached, without BPF: each hook's role, "
		"function and offset or USDT probe, file and processes; exits 2 on a bad spec, "
		"whose message names file:line:column",
	.options = check_options,
	.examples = check_examples,
};

/* The maps of the programs printed by check --verbose: no fds, so any distinct numbers. */
static const struct tt_bpfgen_maps shown_maps = {.threads = 1,
						 .saved = 2,
						 .scratch = 3,
						 .stats = 4,
						 .rings = 5,
						 .hook_lost = 6,
						 .calls = 7,
						 .retired = 9};

/* The session kfuncs' ids as check shows them: this kernel's where known (any, else). */
static struct tt_bpfgen_kfuncs shown_kfuncs = {.session_cookie = 1, .session_is_return = 2};

/* Prints the program bpfgen emits for hook h of `kind` (at USDT `site`). */
static void print_program(const struct tt_hook *h, enum tt_bpfgen_kind kind,
			  const struct tt_usdt_site *site, const char *what)
{
	static struct tt_bpfgen g;
	struct tt_bpfgen_in in = {.kind = kind,
				  .hook = h->id,
				  .hook_from_cookie = true, /* as the loader builds them */
				  .prog = &h->prog,
				  .site = site,
				  .maps = shown_maps,
				  .kfuncs = shown_kfuncs};
	char err[256];

	if (tt_bpfgen__emit(&in, &g, err, sizeof(err))) {
		printf("  %s: runs in the generic interpreter: %s\n", what, err);
		return;
	}
	printf("  %s: %zu BPF instructions\n", what, g.n);
	tt_bpfgen__print(&g, &shown_maps, stdout);
}

struct usdt_print {
	const struct tt_hook *hook;
	size_t n;
};

static int print_usdt_site(const struct tt_usdt_note *note, void *ctx)
{
	struct usdt_print *u = ctx;
	struct tt_usdt_site site;
	char what[128], err[256];

	if (strcmp(note->provider, u->hook->provider) || strcmp(note->name, u->hook->usdt))
		return 0;
	u->n++;
	snprintf(what, sizeof(what), "site 0x%" PRIx64 " (%s)", note->pc_offset, note->args);
	if (tt_usdt__decode(note->args, &site, err, sizeof(err)))
		printf("  %s: %s\n", what, err);
	else
		print_program(u->hook, TT_BPFGEN_USDT, &site, what);
	return 0;
}

/*
 * Why hook h, a function's call, is not one event per call here (the
 * spec's reason, its program's, this kernel's), or NULL when it is.
 */
static const char *session_refusal(const struct tt_spec *spec, const struct tt_hook *h)
{
	const char *why = tt_spec__session_refusal(spec, h);

	if (!why)
		why = tt_bpfgen__session_refusal(&h->prog);
	if (!why)
		why = tt_loader__session_refusal();
	return why;
}

/* check --verbose: how each attachment's calls reach the agent, and the BPF it runs. */
static void print_programs(const struct tt_spec *spec, const struct tt_attachment *at)
{
	struct usdt_print u = {.hook = at->hook};
	struct tt_elf *elf;
	const char *why;

	if (at->python) {
		/* not bpfgen's: bpf/python.bpf.h runs their capture programs */
		printf("  path: the interpreter's Python programs (tt_py_entry where functions "
		       "start, tt_py_return where frames end), one run per site for all its "
		       "python probes: %u entry and %u return capture instructions\n",
		       at->hook->prog.entry.nops, at->hook->prog.ret.nops);
		return;
	}
	if (!at->usdt && at->retprobe) {
		why = session_refusal(spec, at->hook);
		if (!why) {
			printf("  path: one event per call (a uprobe session program pairs entry "
			       "and return in BPF)\n");
			print_program(at->hook, TT_BPFGEN_SESSION, NULL, "entry and return");
			return;
		}
		printf("  path: entry and return events, paired by the agent: %s\n", why);
		if (!tt_loader__pair_refusal() && !tt_bpfgen__pair_refusal(&at->hook->prog)) {
			printf("  both written by one session program (TASKTAP_PAIR=1)\n");
			print_program(at->hook, TT_BPFGEN_PAIR, NULL, "entry and return");
			return;
		}
	}
	if (!at->usdt) {
		print_program(at->hook, TT_BPFGEN_ENTRY, NULL, "entry");
		if (at->retprobe)
			print_program(at->hook, TT_BPFGEN_RETURN, NULL, "return");
		return;
	}
	elf = tt_elf__open(at->path);
	if (elf)
		tt_elf__for_each_usdt(elf, print_usdt_site, &u);
	tt_elf__free(elf);
}

/* Whether attachment b is on the function site of a (the same place, both two-event hooks). */
static bool same_fn_site(const struct tt_spec *spec, const struct tt_attachment *a,
			 const struct tt_attachment *b)
{
	return !b->usdt && !b->python && b->offset == a->offset && b->pid == a->pid &&
	       !strcmp(b->path, a->path) && (!b->retprobe || session_refusal(spec, b->hook));
}

/*
 * Prints the one program of the site: the `n` members' programs of `kind`,
 * the last member first, as the loader builds it (tt_bpfgen__emit_site()).
 */
static void print_site_program(struct tt_bpfgen_in *in, size_t n, enum tt_bpfgen_kind kind)
{
	static struct tt_bpfgen g;
	char err[256];

	printf("  %s runs hooks", kind == TT_BPFGEN_ENTRY ? "entry" : "return");
	for (size_t k = 0; k < n; k++) {
		in[k].kind = kind;
		printf("%s %u", k ? "," : "", in[n - 1 - k].hook);
	}
	if (tt_bpfgen__emit_site(in, n, &g, err, sizeof(err))) {
		printf(": each runs alone: %s\n", err);
		return;
	}
	printf(": %zu BPF instructions\n", g.n);
	tt_bpfgen__print(&g, &shown_maps, stdout);
}

/*
 * check --verbose: the functions on which several hooks share one uprobe
 * (and one uretprobe) and one program that runs every member's filter
 * (docs/architecture.md "Hooks on one function"); each site once.
 */
static void print_fn_sites(const struct tt_spec *spec, const struct tt_plan *plan)
{
	struct tt_bpfgen_in *in = calloc(plan->n, sizeof(*in));
	struct tt_bpfgen_in *ret = calloc(plan->n, sizeof(*ret));

	for (size_t i = 0; in && ret && i < plan->n; i++) {
		const struct tt_attachment *a = &plan->at[i];
		size_t n = 0, nret = 0;
		bool first = true;

		if (!same_fn_site(spec, a, a))
			continue;
		for (size_t j = 0; j < plan->n; j++) {
			const struct tt_attachment *b = &plan->at[j];

			if (!same_fn_site(spec, a, b))
				continue;
			first = first && j >= i;
			in[n++] = (struct tt_bpfgen_in){
				.hook = b->hook->id, .prog = &b->hook->prog, .maps = shown_maps};
			if (b->retprobe)
				ret[nret++] = in[n - 1];
		}
		if (!first || n < 2)
			continue;
		printf("%s+0x%" PRIx64 " in %s: shared by hooks", a->hook->symbol, a->offset,
		       a->shown);
		for (size_t k = 0; k < n; k++)
			printf("%s %u", k ? "," : "", in[k].hook);
		printf(": one uprobe%s\n", nret ? " and one uretprobe" : "");
		print_site_program(in, n, TT_BPFGEN_ENTRY);
		if (nret)
			print_site_program(ret, nret, TT_BPFGEN_RETURN);
	}
	free(in);
	free(ret);
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"binary", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{"verbose", no_argument, NULL, 'v'},
		{0},
	};
	bool verbose = false;
	struct tt_spec *spec = NULL;
	struct tt_plan plan = {0};
	const char *binary = NULL;
	pid_t pid = 0;
	char err[1024];
	int c, ret;

	while ((c = getopt_long(argc, argv, "p:b:hv", opts, NULL)) != -1) {
		if (c == 'p' && !tt_parse_pid(optarg, &pid))
			continue;
		if (c == 'v') {
			verbose = true;
			continue;
		}
		if (c == 'b') {
			binary = optarg;
			continue;
		}
		if (c == 'h') {
			tt_usage__print(&check_usage, stdout);
			return 0;
		}
		tt_usage__short(&check_usage, stderr);
		return 2;
	}
	if (optind + 1 != argc) {
		tt_usage__short(&check_usage, stderr);
		return 2;
	}
	ret = tt_spec__load(argv[optind], &spec, err, sizeof(err));
	if (!ret)
		ret = tt_plan__build(spec, pid, binary, &plan, err, sizeof(err));
	if (ret) {
		tt_warn("%s", err);
		tt_spec__free(spec);
		return ret == -ENOMEM ? 1 : 2; /* a bad spec is bad input, as for run */
	}
	for (size_t i = 0; i < plan.n; i++) {
		print_attachment(&plan.at[i]);
		if (verbose)
			print_programs(spec, &plan.at[i]);
	}
	if (verbose)
		print_fn_sites(spec, &plan);
	for (int i = 0; !pid && i < spec->ntargets; i++) {
		const struct tt_target *t = &spec->targets[i];

		if (t->kind == TT_TARGET_LIBRARY && (binary || tt_target__narrowed(t)))
			print_narrowed(t, binary);
		else if (binary)
			continue;
		else if (t->kind == TT_TARGET_COMM)
			printf("comm %s: %d probes, attached in each such process as it starts\n",
			       t->comm, t->nprobes);
		else if (t->kind == TT_TARGET_BINARY && strpbrk(t->path, "*?["))
			printf("binary %s: %d probes, attached to each matching file as it "
			       "starts\n",
			       t->path, t->nprobes);
		else if (tt_target__only_in_containers(t))
			printf("binary %s: not on this host; %d probes, attached to each "
			       "process that runs it (in a container) as it starts\n",
			       t->path, t->nprobes);
	}
	printf("%s: ok, %zu attachment%s\n", argv[optind], plan.n, plan.n == 1 ? "" : "s");
	tt_plan__release(&plan);
	tt_spec__free(spec);
	return 0;
}

/* ---- symbols ------------------------------------------------------------ */

struct symbols_ctx {
	const char *match;
	size_t n;
};

/*
 * One function: file offset, size, and its name as a spec writes it (the
 * demangled name, with the symbol's own name after it when it differs).
 * --match is a glob over either, as `symbol:` globs are.
 */
static int print_symbol(const struct tt_sym *sym, void *ctx)
{
	struct symbols_ctx *s = ctx;
	char *demangled = NULL;

	if (s->match && !tt_elf__glob_matches(s->match, sym->name, &demangled)) {
		free(demangled);
		return 0;
	}
	if (!s->match)
		demangled = tt_demangle(sym->name);
	if (demangled)
		printf("0x%08" PRIx64 " %6" PRIu64 " %s  [%s]\n", sym->offset, sym->size, demangled,
		       sym->name);
	else
		printf("0x%08" PRIx64 " %6" PRIu64 " %s\n", sym->offset, sym->size, sym->name);
	free(demangled);
	s->n++;
	return 0;
}

/* Arguments in a USDT argument spec ("-4@%edi 8@%rsi" has two). */
static int usdt_nargs(const char *args)
{
	int n = 0;

	for (const char *c = args; *c; c++) {
		if (*c != ' ' && (c == args || c[-1] == ' '))
			n++;
	}
	return n;
}

static bool usdt_selected(const struct symbols_ctx *s, const struct tt_usdt_note *note)
{
	char full[512];

	if (!s->match)
		return true;
	snprintf(full, sizeof(full), "%s:%s", note->provider, note->name);
	return fnmatch(s->match, full, 0) == 0 || fnmatch(s->match, note->name, 0) == 0;
}

/* One USDT probe: address, provider:name as `usdt:` takes it, arguments, semaphore. */
static int print_usdt(const struct tt_usdt_note *note, void *ctx)
{
	struct symbols_ctx *s = ctx;
	int nargs = usdt_nargs(note->args);
	char sema[32] = "none";

	if (!usdt_selected(s, note))
		return 0;
	if (note->semaphore)
		snprintf(sema, sizeof(sema), "0x%" PRIx64, note->semaphore);
	printf("0x%08" PRIx64 " %s:%s  %d arg%s%s%s  semaphore: %s\n", note->pc, note->provider,
	       note->name, nargs, nargs == 1 ? "" : "s", nargs ? ": " : "", note->args, sema);
	s->n++;
	return 0;
}

static int count_usdt(const struct tt_usdt_note *note, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

static const struct tt_usage_item symbols_options[] = {
	{"-p, --pid PID", "list the executable of this process instead of a file"},
	{"--python PID",
	 "list the Python functions of this running CPython (3.11-3.13) as the module:qualname "
	 "a runtime: python probe names, with file:line; * marks those on a thread's stack now"},
	{"-m, --match GLOB", "only the functions and probes whose name matches, as symbol: globs"},
	{"-h, --help", "print this text"},
	{NULL},
};

static const struct tt_usage_item symbols_examples[] = {
	{"tasktap symbols /usr/sbin/gearmand --match '*Job*'",
	 "the functions of gearmand with Job in their name, demangled"},
	{"tasktap symbols --pid 4242", "the functions and USDT probes of a running process"},
	{"tasktap symbols --python 4242 --match 'rq.*:*perform_job'",
	 "where a running RQ worker's perform_job is, as a spec names it"},
	{"tasktap symbols libcurl.so.4 --match 'curl_easy_*'",
	 "a library by the name a library: target gives it"},
	{NULL},
};

static const struct tt_usage symbols_usage = {
	.name = "symbols",
	.args = "PATH | LIBRARY | --pid PID | --python PID [--match GLOB]",
	.summary = "List the functions (file offset, size, demangled name) and USDT probes "
		   "(provider:name, arguments, semaphore) of a binary or process, to write a spec "
		   "for it; a LIBRARY name (libc.so.6) is found as a library: target finds it; "
		   "exits 1 "
		   "when nothing is listed",
	.options = symbols_options,
	.examples = symbols_examples,
};

/*
 * The file `name` names: a path as it is, or a library's name (libcurl.so.4)
 * found as a library: target finds it (tt_find_library()). 0, or -ENOENT
 * after saying so.
 */
static int symbols_file(const char *name, char *path, size_t len, char *shown, size_t shownlen)
{
	char lib[TT_SHORT_MAX];

	snprintf(path, len, "%s", name);
	snprintf(shown, shownlen, "%s", name);
	if (strchr(name, '/') || access(name, F_OK) == 0)
		return 0;
	if (tt_find_library(name, path, len) == 0) {
		snprintf(shown, shownlen, "%s (%s)", name, path);
		return 0;
	}
	tt_warn("library '%s' not found (searched LD_LIBRARY_PATH, the loader's cache and the "
		"system library directories; give its path)",
		tt_shorten(name, lib));
	return -ENOENT;
}

static int print_py_function(const struct tt_py_func *f, void *ctx)
{
	struct symbols_ctx *s = ctx;
	char name[1100];

	snprintf(name, sizeof(name), "%s:%s", f->module, f->qualname);
	if (s->match && fnmatch(s->match, name, 0) != 0)
		return 0;
	printf("%s %s  %s:%d\n", f->on_stack ? "*" : " ", name, f->filename, f->line);
	s->n++;
	return 0;
}

/* `symbols --python PID`: the functions of a running CPython, as a spec names them. */
static int symbols_python(pid_t pid, struct symbols_ctx *ctx)
{
	char err[512], root[64];
	struct tt_py_proc *p = tt_py_proc__open(pid, err, sizeof(err));
	const struct tt_py_binary *bin;
	const char *shown;

	if (!p) {
		tt_warn("%s", err);
		return 1;
	}
	bin = tt_py_proc__binary(p);
	shown = bin->path;
	tt_proc__root(pid, root, sizeof(root));
	if (strncmp(bin->path, root, strlen(root)) == 0)
		shown += strlen(root);
	printf("# python %s functions in process %d (%s): module:qualname  file:line; * on a "
	       "thread's stack now\n",
	       bin->version, (int)pid, shown);
	if (tt_py_proc__for_each_function(p, print_py_function, ctx) < 0)
		tt_warn("out of memory listing the functions of process %d", (int)pid);
	tt_py_proc__free(p);
	return ctx->n ? 0 : 1;
}

static int cmd_symbols(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"python", required_argument, NULL, 'y'},
		{"match", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct symbols_ctx ctx = {0};
	char path[PATH_MAX], shown[PATH_MAX];
	size_t nusdt = 0;
	struct tt_elf *elf;
	pid_t pid = 0, py_pid = 0;
	int c, ret;

	while ((c = getopt_long(argc, argv, "p:m:h", opts, NULL)) != -1) {
		if (c == 'p' && !tt_parse_pid(optarg, &pid))
			continue;
		if (c == 'y' && !tt_parse_pid(optarg, &py_pid))
			continue;
		if (c == 'm') {
			ctx.match = optarg;
			continue;
		}
		if (c == 'h') {
			tt_usage__print(&symbols_usage, stdout);
			return 0;
		}
		tt_usage__short(&symbols_usage, stderr);
		return 2;
	}
	if (py_pid && !pid && optind == argc)
		return symbols_python(py_pid, &ctx);
	if (py_pid) {
		tt_usage__short(&symbols_usage, stderr);
		return 2;
	}
	if (pid) {
		ret = tt_proc__exe(pid, path, sizeof(path), shown, sizeof(shown));
		if (ret) {
			tt_warn("no process with pid %d", pid);
			return 1;
		}
	} else if (optind + 1 == argc) {
		ret = symbols_file(argv[optind], path, sizeof(path), shown, sizeof(shown));
		if (ret)
			return 1;
	} else {
		tt_usage__short(&symbols_usage, stderr);
		return 2;
	}
	elf = tt_elf__open(path);
	if (!elf) {
		tt_warn("cannot read '%s': %s", shown,
			errno == ENOEXEC ? "not an ELF file" : strerror(errno));
		return 1;
	}
	printf("# functions in %s (file offset, size, name [symbol])\n", shown);
	tt_elf__for_each_func(elf, print_symbol, &ctx);
	tt_elf__for_each_usdt(elf, count_usdt, &nusdt);
	if (nusdt) {
		printf("# USDT probes in %s (address, provider:name, arguments, semaphore)\n",
		       shown);
		tt_elf__for_each_usdt(elf, print_usdt, &ctx);
	}
	tt_elf__free(elf);
	return ctx.n ? 0 : 1;
}

/* ---- version and help --------------------------------------------------- */

static const struct tt_usage version_usage = {
	.name = "version",
	.args = "",
	.summary = "Print the version",
	.options = (const struct tt_usage_item[]){{"-h, --help", "print this text"}, {NULL}},
};

static bool wants_help(int argc, char **argv)
{
	return argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
}

static int cmd_version(int argc, char **argv)
{
	if (wants_help(argc, argv)) {
		tt_usage__print(&version_usage, stdout);
		return 0;
	}
	if (argc != 1) {
		tt_usage__short(&version_usage, stderr);
		return 2;
	}
	printf("tasktap %s\n", TASKTAP_VERSION);
	return 0;
}

static const struct tt_usage_item help_options[] = {
	{"COMMAND", "print the options and examples of this command, as COMMAND --help does"},
	{"--man", "print the tasktap(8) manual page, in roff"},
	{"-h, --help", "print this text"},
	{NULL},
};

static const struct tt_usage_item help_examples[] = {
	{"tasktap help run", "the options of tasktap run"},
	{"tasktap help --man | man -l -", "read the manual page before it is installed"},
	{NULL},
};

static const struct tt_usage help_usage = {
	.name = "help",
	.args = "[COMMAND | --man]",
	.summary = "Print the commands, one command's usage, or the manual page",
	.options = help_options,
	.examples = help_examples,
};

static const struct tt_usage_item main_examples[] = {
	{"tasktap symbols ./worker --match '*job*'", "find the functions to probe"},
	{"tasktap check worker.yaml", "see what the spec would attach, without BPF"},
	{"sudo tasktap run worker.yaml", "trace the spec's workers, waterfalls on stdout"},
	{"sudo tasktap run --spec-dir /etc/tasktap/specs --pin /sys/fs/bpf/tasktap",
	 "the node agent: every spec in a directory, kept across restarts"},
	{"tasktap status", "what a running agent traces, and how it is doing"},
	{NULL},
};

static const char description[] =
	"tasktap traces unmodified task and job workers with eBPF. Uprobes fire on the functions "
	"that run a task and its steps, as a spec (YAML) names them; the agent pairs the events "
	"into spans (durations, errors, retry attempts, parent and child) and prints them as a "
	"waterfall per task or as JSON lines, or exports them over OTLP, with metrics on /metrics. "
	"Messages for people go to stderr, data to stdout.";

/* ---- table -------------------------------------------------------------- */

static int cmd_help(int argc, char **argv);

/* A command: its name, its function, and its usage (or the function that builds it). */
static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const struct tt_usage *usage;
	const char *summary;
	const struct tt_usage *(*usage_of)(void);
} cmds[] = {
	{"run", tt_cmd__run, NULL, "trace the targets of a spec and print or export spans",
	 tt_cmd__run_usage},
	{"status", tt_cmd__status, &tt_status_usage,
	 "show what a running agent traces, from its HTTP endpoint", NULL},
	{"check", cmd_check, &check_usage,
	 "validate a spec and show what would be attached, without BPF", NULL},
	{"symbols", cmd_symbols, &symbols_usage,
	 "list the functions and USDT probes of a binary or process", NULL},
	{"version", cmd_version, &version_usage, "print the version", NULL},
	{"help", cmd_help, &help_usage, "this text, a command's usage, or the manual page", NULL},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++) {
		if (strcmp(name, cmds[i].name) == 0)
			return &cmds[i];
	}
	return NULL;
}

/* The commands and examples, for `tasktap --help` (stdout) or no command at all (stderr). */
static void print_commands(FILE *out)
{
	fprintf(out, "usage: %s COMMAND [ARGS]\n\ncommands:\n", tt_prog_name);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-9s %s\n", cmds[i].name, cmds[i].summary);
	fputs("\nexamples:\n", out);
	for (const struct tt_usage_item *e = main_examples; e->what; e++)
		fprintf(out, "  %s\n      %s\n", e->what, e->text);
	fprintf(out, "\nRun '%s COMMAND --help' for a command's options and examples.\n",
		tt_prog_name);
}

static const struct tt_usage *usage_of(const struct cmd *c)
{
	return c->usage ? c->usage : c->usage_of();
}

/* `tasktap help COMMAND`: what `tasktap COMMAND --help` prints. */
static int print_cmd_usage(const struct cmd *c)
{
	tt_usage__print(usage_of(c), stdout);
	return 0;
}

static void print_man(void)
{
	const struct tt_usage *u[NCMDS];

	for (size_t i = 0; i < NCMDS; i++)
		u[i] = usage_of(&cmds[i]);
	tt_usage__man(u, NCMDS, description, stdout);
}

static int cmd_help(int argc, char **argv)
{
	const struct cmd *c;

	if (argc == 1) {
		print_commands(stdout);
		return 0;
	}
	if (wants_help(argc, argv)) {
		tt_usage__print(&help_usage, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--man") == 0) {
		print_man();
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		tt_usage__short(&help_usage, stderr);
		return 2;
	}
	c = find_cmd(argv[1]);
	if (!c) {
		tt_warn("unknown command '%s' (try '%s --help')", argv[1], tt_prog_name);
		return 2;
	}
	return print_cmd_usage(c);
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		print_commands(stderr);
		return 2;
	}
	if (wants_help(argc, argv))
		return cmd_help(1, argv);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	c = find_cmd(argv[1]);
	if (!c) {
		tt_warn("unknown command '%s' (try '%s --help')", argv[1], tt_prog_name);
		return 2;
	}
	return c->fn(argc - 1, argv + 1);
}
