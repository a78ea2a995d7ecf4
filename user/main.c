// SPDX-License-Identifier: MIT
/*
 * tasktap: the command line. Subcommands are rows of a table; `run` is
 * one straight line: load the spec, resolve symbols, load BPF, attach,
 * then one event loop (rings, timer, signals) until stopped.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "assemble.h"
#include "elf.h"
#include "export/export.h"
#include "loader.h"
#include "proc.h"
#include "reorder.h"
#include "resolve.h"
#include "spec.h"

#define DRAIN_INTERVAL_NS 1000000ULL	/* 1 ms */
#define REORDER_SLACK_NS  10000000ULL	/* 10 ms */
#define HOUSEKEEPING_NS	  1000000000ULL /* 1 s */

static const char *prog_name = "tasktap";

/* The one diagnostics path: messages for people go to stderr. */
static void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx_(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- run ---------------------------------------------------------------- */

struct run {
	struct tt_spec *spec;
	struct tt_plan plan;
	struct tt_loader *loader;
	struct tt_asm *assembler;
	struct tt_console *console;
	struct tt_jsonl jsonl;
	struct tt_reorder reorder;
	uint64_t lost_reported;
	uint64_t lost_exits_reported;
	bool json;
};

static int on_ring_event(const struct tt_event *ev, size_t size, void *ctx)
{
	struct run *r = ctx;

	/* out of memory: the event is dropped and counted by the assembler's totals */
	if (tt_reorder__add(&r->reorder, ev, size))
		return 0;
	return 0;
}

static void on_ordered_event(const struct tt_event *ev, size_t size, void *ctx)
{
	struct run *r = ctx;

	tt_asm__push(r->assembler, ev, size);
}

static void drain(struct run *r, uint64_t horizon)
{
	tt_loader__drain(r->loader);
	tt_reorder__flush(&r->reorder, horizon, on_ordered_event, r);
}

static void report_lost(struct run *r)
{
	uint64_t lost = tt_loader__stat(r->loader, TT_STAT_LOST);
	uint64_t lost_exits = tt_loader__stat(r->loader, TT_STAT_LOST_EXITS);

	if (lost > r->lost_reported) {
		warnx_("%" PRIu64 " events lost: the ring buffer was full (raise --ring-size)",
		       lost - r->lost_reported);
		r->lost_reported = lost;
	}
	if (lost_exits > r->lost_exits_reported) {
		warnx_("%" PRIu64 " exit events lost: the ring buffer was full (raise --ring-size)",
		       lost_exits - r->lost_exits_reported);
		r->lost_exits_reported = lost_exits;
	}
}

/* Whether every target is a single process, and all of them are gone. */
static bool all_targets_gone(struct run *r)
{
	bool any_pid = false;

	for (size_t i = 0; i < r->plan.n; i++) {
		const struct tt_attachment *at = &r->plan.at[i];

		if (at->pid <= 0)
			return false;
		any_pid = true;
		if (tt_proc__alive(at->pid))
			return false;
	}
	return any_pid;
}

static int add_fd(int epfd, int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

/* Runs the event loop until a signal, the deadline, or every target process is gone. */
static int event_loop(struct run *r, double duration)
{
	struct itimerspec tick = {.it_interval = {0, DRAIN_INTERVAL_NS},
				  .it_value = {0, DRAIN_INTERVAL_NS}};
	uint64_t start = now_ns(CLOCK_MONOTONIC), next_housekeeping = start + HOUSEKEEPING_NS;
	int epfd = -1, tfd = -1, sfd = -1, ring_fd = tt_loader__epoll_fd(r->loader);
	sigset_t mask;
	int ret = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (epfd < 0 || tfd < 0 || sfd < 0 || timerfd_settime(tfd, 0, &tick, NULL) ||
	    add_fd(epfd, tfd) || add_fd(epfd, sfd) || add_fd(epfd, ring_fd)) {
		ret = -errno;
		warnx_("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}

	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, -1);
		uint64_t now;
		bool stop = false;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			warnx_("epoll_wait failed: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t ticks;
			struct signalfd_siginfo si;

			if (evs[i].data.fd == tfd && read(tfd, &ticks, sizeof(ticks)) < 0)
				continue;
			if (evs[i].data.fd == sfd && read(sfd, &si, sizeof(si)) == sizeof(si))
				stop = true;
		}
		now = now_ns(CLOCK_MONOTONIC);
		drain(r, now - REORDER_SLACK_NS);
		if (duration > 0 && now - start >= (uint64_t)(duration * 1e9))
			stop = true;
		if (now >= next_housekeeping) {
			next_housekeeping = now + HOUSEKEEPING_NS;
			report_lost(r);
			if (all_targets_gone(r)) {
				warnx_("every traced process has exited");
				stop = true;
			}
		}
		if (stop)
			break;
	}
out:
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (epfd >= 0)
		close(epfd);
	return ret;
}

/* Detaches, drains what is left, and ends what is still open. */
static void shut_down(struct run *r)
{
	struct tt_asm_stats st;

	if (!r->loader)
		return;
	tt_loader__detach(r->loader);
	drain(r, UINT64_MAX);
	report_lost(r);
	/* a target that died before its exit event was seen: end its spans */
	for (size_t i = 0; i < r->plan.n; i++) {
		const struct tt_attachment *at = &r->plan.at[i];

		if (at->pid > 0 && !tt_proc__alive(at->pid))
			tt_asm__end_process(r->assembler, at->pid, now_ns(CLOCK_MONOTONIC), 0);
	}
	tt_asm__end_all(r->assembler, now_ns(CLOCK_MONOTONIC));
	tt_asm__stats(r->assembler, &st);
	if (r->console)
		tt_console__flush(r->console);
	warnx_("%" PRIu64 " spans, %" PRIu64 " events, %" PRIu64 " lost, %" PRIu64
	       " ended early (process exit)",
	       st.spans_finished, st.events, r->lost_reported, st.cut_by_exit);
}

static const char *service_name(const struct run *r)
{
	const char *env = getenv("OTEL_SERVICE_NAME");
	const char *slash;

	if (r->spec->service)
		return r->spec->service;
	if (env && *env)
		return env;
	if (r->plan.n) {
		slash = strrchr(r->plan.at[0].shown, '/');
		return slash ? slash + 1 : r->plan.at[0].shown;
	}
	return "tasktap";
}

static int check_btf(void)
{
	const char *btf = getenv("TASKTAP_BTF");

	if (!btf)
		btf = "/sys/kernel/btf/vmlinux";
	if (access(btf, R_OK) == 0)
		return 0;
	warnx_("no kernel BTF at '%s': tasktap needs a kernel built with CONFIG_DEBUG_INFO_BTF=y",
	       btf);
	return -ENOENT;
}

static int attach_plan(struct run *r)
{
	char err[512];
	int ret;

	for (int id = 1; id <= r->spec->nprobes; id++) {
		ret = tt_loader__set_probe(r->loader, id, &tt_spec__probe(r->spec, id)->prog);
		if (ret) {
			warnx_("cannot store probe %d: %s", id, strerror(-ret));
			return ret;
		}
	}
	for (size_t i = 0; i < r->plan.n; i++) {
		const struct tt_attachment *at = &r->plan.at[i];

		ret = tt_loader__attach(r->loader, at->probe->id, at->path, at->offset, at->pid,
					err, sizeof(err));
		if (ret) {
			if (at->pid > 0 && !tt_proc__alive(at->pid))
				warnx_("process %d exited before tasktap could attach", at->pid);
			else
				warnx_("%s", err);
			return ret;
		}
	}
	return 0;
}

struct run_args {
	const char *spec;
	pid_t pid;
	const char *binary;
	bool json;
	bool color;
	double duration;
	size_t ring_bytes;
};

static int run(const struct run_args *a)
{
	struct run r = {.json = a->json};
	struct tt_loader_opts lopts = {
		.ring_bytes = a->ring_bytes, .on_event = on_ring_event, .ctx = &r};
	struct tt_asm_opts aopts = {0};
	char err[1024];
	int ret;

	tt_reorder__init(&r.reorder);
	ret = tt_spec__load(a->spec, &r.spec, err, sizeof(err));
	if (ret) {
		warnx_("%s", err);
		return 2;
	}
	ret = tt_proc__check_caps(err, sizeof(err));
	if (ret == -EPERM) {
		warnx_("missing capabilities: %s (run as root, or grant them to tasktap)", err);
		ret = 1;
		goto out;
	}
	if (check_btf()) {
		ret = 1;
		goto out;
	}
	ret = tt_plan__build(r.spec, a->pid, a->binary, &r.plan, err, sizeof(err));
	if (ret) {
		warnx_("%s", err);
		ret = 2;
		goto out;
	}
	for (size_t i = 0; i < r.plan.n; i++) {
		if (r.plan.at[i].cost == TT_INSN_STEPPED)
			warnx_("warning: probe on '%s' lands on an instruction the kernel "
			       "single-steps (slow)",
			       r.plan.at[i].probe->symbol);
	}

	aopts.spec = r.spec;
	aopts.seed = now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
	if (a->json) {
		r.jsonl.out = stdout;
		r.jsonl.mono_to_unix_ns = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC);
		aopts.on_span = tt_jsonl__span;
		aopts.ctx = &r.jsonl;
	} else {
		r.console = tt_console__new(stdout, a->color);
		if (!r.console) {
			ret = 1;
			goto out;
		}
		aopts.on_span = tt_console__span;
		aopts.ctx = r.console;
	}
	r.assembler = tt_asm__new(&aopts);
	if (!r.assembler) {
		warnx_("cannot create the assembler: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	r.jsonl.service = service_name(&r);

	r.loader = tt_loader__new(&lopts, err, sizeof(err));
	if (!r.loader) {
		warnx_("%s", err);
		ret = 1;
		goto out;
	}
	if (attach_plan(&r)) {
		ret = 1;
		goto out;
	}
	warnx_("attached %d probes (%zu locations); tracing, Ctrl-C to stop",
	       tt_loader__attached(r.loader), r.plan.n);
	ret = event_loop(&r, a->duration) ? 1 : 0;
out:
	shut_down(&r);
	tt_loader__free(r.loader);
	tt_asm__free(r.assembler);
	tt_console__free(r.console);
	tt_reorder__release_all(&r.reorder);
	tt_plan__release(&r.plan);
	tt_spec__free(r.spec);
	return ret;
}

static void usage_run(FILE *out)
{
	fprintf(out,
		"usage: %s run SPEC [--pid PID | --binary PATH] [--json] [--duration SECONDS]\n"
		"                   [--ring-size BYTES] [--no-color]\n",
		prog_name);
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"binary", required_argument, NULL, 'b'},
		{"json", no_argument, NULL, 'j'},
		{"duration", required_argument, NULL, 'd'},
		{"ring-size", required_argument, NULL, 'r'},
		{"no-color", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct run_args a = {.color = isatty(STDOUT_FILENO)};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "p:b:jd:r:Ch", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_pid(optarg, &a.pid)) {
				warnx_("invalid pid '%s': expected a positive integer", optarg);
				return 2;
			}
			break;
		case 'b':
			a.binary = optarg;
			break;
		case 'j':
			a.json = true;
			break;
		case 'd':
			a.duration = strtod(optarg, &end);
			if (*end || a.duration <= 0) {
				warnx_("invalid duration '%s': expected seconds", optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_size(optarg, &a.ring_bytes) || a.ring_bytes < 4096 ||
			    (a.ring_bytes & (a.ring_bytes - 1))) {
				warnx_("invalid ring size '%s': expected a power of two of at "
				       "least 4096 bytes",
				       optarg);
				return 2;
			}
			break;
		case 'C':
			a.color = false;
			break;
		case 'h':
			usage_run(stdout);
			return 0;
		default:
			usage_run(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage_run(stderr);
		return 2;
	}
	if (a.pid && a.binary) {
		warnx_("--pid and --binary exclude each other");
		return 2;
	}
	a.spec = argv[optind];
	return run(&a);
}

/* ---- check -------------------------------------------------------------- */

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
		if (c == 'p' && !parse_pid(optarg, &pid))
			continue;
		if (c == 'b') {
			binary = optarg;
			continue;
		}
		fprintf(stderr, "usage: %s check SPEC [--pid PID | --binary PATH]\n", prog_name);
		return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: %s check SPEC [--pid PID | --binary PATH]\n", prog_name);
		return 2;
	}
	ret = tt_spec__load(argv[optind], &spec, err, sizeof(err));
	if (!ret)
		ret = tt_plan__build(spec, pid, binary, &plan, err, sizeof(err));
	if (ret) {
		warnx_("%s", err);
		tt_spec__free(spec);
		return 1;
	}
	for (size_t i = 0; i < plan.n; i++) {
		const struct tt_attachment *at = &plan.at[i];

		printf("probe %d %-6s %-28s %s+0x%" PRIx64 " %s%s\n", at->probe->id,
		       tt_role__name(at->probe->role), at->probe->symbol, at->shown, at->offset,
		       at->pid > 0 ? "pid " : "every process",
		       at->cost == TT_INSN_STEPPED ? " (warning: single-stepped instruction)" : "");
		if (at->pid > 0)
			printf("%*s\n", 0, "");
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

static int print_symbol(const struct tt_sym *sym, void *ctx)
{
	struct symbols_ctx *s = ctx;

	if (s->match && fnmatch(s->match, sym->name, 0) != 0)
		return 0;
	printf("0x%08" PRIx64 " %6" PRIu64 " %s\n", sym->offset, sym->size, sym->name);
	s->n++;
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
	struct tt_elf *elf;
	pid_t pid = 0;
	int c, ret;

	while ((c = getopt_long(argc, argv, "p:m:", opts, NULL)) != -1) {
		if (c == 'p' && !parse_pid(optarg, &pid))
			continue;
		if (c == 'm') {
			ctx.match = optarg;
			continue;
		}
		fprintf(stderr, "usage: %s symbols PATH | --pid PID [--match GLOB]\n", prog_name);
		return 2;
	}
	if (pid) {
		ret = tt_proc__exe(pid, path, sizeof(path), shown, sizeof(shown));
		if (ret) {
			warnx_("no process with pid %d", pid);
			return 1;
		}
	} else if (optind + 1 == argc) {
		snprintf(path, sizeof(path), "%s", argv[optind]);
		snprintf(shown, sizeof(shown), "%s", argv[optind]);
	} else {
		fprintf(stderr, "usage: %s symbols PATH | --pid PID [--match GLOB]\n", prog_name);
		return 2;
	}
	elf = tt_elf__open(path);
	if (!elf) {
		warnx_("cannot read '%s': %s", shown,
		       errno == ENOEXEC ? "not an ELF file" : strerror(errno));
		return 1;
	}
	printf("# functions in %s (file offset, size, name)\n", shown);
	tt_elf__for_each_func(elf, print_symbol, &ctx);
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
	{"run", cmd_run, "trace the targets of a spec and print or export spans"},
	{"check", cmd_check, "validate a spec and show what would be attached, without BPF"},
	{"symbols", cmd_symbols, "list the functions of a binary or process"},
	{"version", cmd_version, "print the version"},
	{"help", cmd_help, "this text"},
};

static int cmd_help(int argc, char **argv)
{
	printf("usage: %s COMMAND [ARGS]\n\ncommands:\n", prog_name);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-9s %s\n", cmds[i].name, cmds[i].help);
	printf("\nRun '%s COMMAND --help' for a command's options.\n", prog_name);
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
	warnx_("unknown command '%s' (try '%s help')", argv[1], prog_name);
	return 2;
}
