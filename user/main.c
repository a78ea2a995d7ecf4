// SPDX-License-Identifier: MIT
/*
 * tasktap: the command line. Subcommands are rows of a table; `run` lives
 * in agent.c.
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

#include "cli.h"
#include "elf.h"
#include "proc.h"
#include "resolve.h"
#include "spec.h"

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

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"binary", required_argument, NULL, 'b'},
		{0},
	};
	struct tt_spec *spec = NULL;
	struct tt_plan plan = {0};
	const char *binary = NULL;
	pid_t pid = 0;
	char err[1024];
	int c, ret;

	while ((c = getopt_long(argc, argv, "p:b:", opts, NULL)) != -1) {
		if (c == 'p' && !tt_parse_pid(optarg, &pid))
			continue;
		if (c == 'b') {
			binary = optarg;
			continue;
		}
		fprintf(stderr, "usage: %s check SPEC [--pid PID | --binary PATH]\n", tt_prog_name);
		return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: %s check SPEC [--pid PID | --binary PATH]\n", tt_prog_name);
		return 2;
	}
	ret = tt_spec__load(argv[optind], &spec, err, sizeof(err));
	if (!ret)
		ret = tt_plan__build(spec, pid, binary, &plan, err, sizeof(err));
	if (ret) {
		tt_warn("%s", err);
		tt_spec__free(spec);
		return 1;
	}
	for (size_t i = 0; i < plan.n; i++)
		print_attachment(&plan.at[i]);
	for (int i = 0; !pid && !binary && i < spec->ntargets; i++) {
		const struct tt_target *t = &spec->targets[i];

		if (t->kind == TT_TARGET_COMM)
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

static int cmd_symbols(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"match", required_argument, NULL, 'm'},
		{0},
	};
	struct symbols_ctx ctx = {0};
	char path[PATH_MAX], shown[PATH_MAX];
	size_t nusdt = 0;
	struct tt_elf *elf;
	pid_t pid = 0;
	int c, ret;

	while ((c = getopt_long(argc, argv, "p:m:", opts, NULL)) != -1) {
		if (c == 'p' && !tt_parse_pid(optarg, &pid))
			continue;
		if (c == 'm') {
			ctx.match = optarg;
			continue;
		}
		fprintf(stderr, "usage: %s symbols PATH | --pid PID [--match GLOB]\n",
			tt_prog_name);
		return 2;
	}
	if (pid) {
		ret = tt_proc__exe(pid, path, sizeof(path), shown, sizeof(shown));
		if (ret) {
			tt_warn("no process with pid %d", pid);
			return 1;
		}
	} else if (optind + 1 == argc) {
		snprintf(path, sizeof(path), "%s", argv[optind]);
		snprintf(shown, sizeof(shown), "%s", argv[optind]);
	} else {
		fprintf(stderr, "usage: %s symbols PATH | --pid PID [--match GLOB]\n",
			tt_prog_name);
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

/* ---- table -------------------------------------------------------------- */

static int cmd_version(int argc, char **argv)
{
	printf("tasktap %s\n", TASKTAP_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{"run", tt_cmd__run, "trace the targets of a spec and print or export spans"},
	{"status", tt_cmd__status, "show what a running agent traces, from its HTTP endpoint"},
	{"check", cmd_check, "validate a spec and show what would be attached, without BPF"},
	{"symbols", cmd_symbols, "list the functions and USDT probes of a binary or process"},
	{"version", cmd_version, "print the version"},
	{"help", cmd_help, "this text"},
};

static int cmd_help(int argc, char **argv)
{
	printf("usage: %s COMMAND [ARGS]\n\ncommands:\n", tt_prog_name);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-9s %s\n", cmds[i].name, cmds[i].help);
	printf("\nRun '%s COMMAND --help' for a command's options.\n", tt_prog_name);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	}
	tt_warn("unknown command '%s' (try '%s help')", argv[1], tt_prog_name);
	return 2;
}
