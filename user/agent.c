// SPDX-License-Identifier: MIT
/*
 * `tasktap run`: the agent. One straight line: load the spec, resolve
 * symbols, load BPF, attach, then one event loop (rings, timer, signals)
 * until stopped, then detach, drain and end what is still open.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "assemble.h"
#include "cli.h"
#include "export/export.h"
#include "export/exporter.h"
#include "export/otlp_config.h"
#include "loader.h"
#include "proc.h"
#include "reorder.h"
#include "resolve.h"
#include "spec.h"

#define DRAIN_INTERVAL_NS 1000000ULL	/* 1 ms */
#define REORDER_SLACK_NS  10000000ULL	/* 10 ms */
#define HOUSEKEEPING_NS	  1000000000ULL /* 1 s */

struct run {
	struct tt_spec *spec;
	struct tt_plan plan;
	struct tt_loader *loader;
	struct tt_asm *assembler;
	struct tt_console *console;
	struct tt_jsonl jsonl;
	struct tt_otlp_config otlp;
	struct tt_exporter *exporter;
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
		tt_warn("%" PRIu64 " events lost: the ring buffer was full (raise --ring-size)",
			lost - r->lost_reported);
		r->lost_reported = lost;
	}
	if (lost_exits > r->lost_exits_reported) {
		tt_warn("%" PRIu64
			" exit events lost: the ring buffer was full (raise --ring-size)",
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
	uint64_t start = tt_now_ns(CLOCK_MONOTONIC), next_housekeeping = start + HOUSEKEEPING_NS;
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
		tt_warn("cannot set up the event loop: %s", strerror(errno));
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
			tt_warn("epoll_wait failed: %s", strerror(errno));
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
		now = tt_now_ns(CLOCK_MONOTONIC);
		drain(r, now - REORDER_SLACK_NS);
		if (duration > 0 && now - start >= (uint64_t)(duration * 1e9))
			stop = true;
		if (now >= next_housekeeping) {
			next_housekeeping = now + HOUSEKEEPING_NS;
			report_lost(r);
			if (all_targets_gone(r)) {
				tt_warn("every traced process has exited");
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

/* Flushes the OTLP exporter (to the collector, else to the spool) and reports its totals. */
static void stop_exporter(struct run *r)
{
	struct tt_exporter_stats x;

	tt_exporter__stop(r->exporter, TT_EXPORT_SHUTDOWN_MS);
	tt_exporter__stats(r->exporter, &x);
	tt_warn("otlp: %" PRIu64 " spans exported, %" PRIu64 " in the spool (%" PRIu64
		" batches), %" PRIu64 " dropped (queue full %" PRIu64 ", rejected %" PRIu64
		", spool full %" PRIu64 ", failed %" PRIu64 "), %" PRIu64 " sampled out",
		x.spans_exported, x.spool_spans, x.spool_files,
		x.dropped_queue_full + x.dropped_rejected + x.dropped_spool_full +
			x.dropped_failed + x.dropped_encode,
		x.dropped_queue_full, x.dropped_rejected, x.dropped_spool_full, x.dropped_failed,
		x.spans_sampled_out);
}

/* Both sinks: JSON lines and OTLP (`--json` with an endpoint configured). */
static void tee_span(const struct tt_span *span, void *ctx)
{
	struct run *r = ctx;

	tt_jsonl__span(span, &r->jsonl);
	tt_exporter__span(span, r->exporter);
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
			tt_asm__end_process(r->assembler, at->pid, tt_now_ns(CLOCK_MONOTONIC), 0);
	}
	tt_asm__end_all(r->assembler, tt_now_ns(CLOCK_MONOTONIC));
	tt_asm__stats(r->assembler, &st);
	if (r->console)
		tt_console__flush(r->console);
	tt_warn("%" PRIu64 " spans, %" PRIu64 " events, %" PRIu64 " lost, %" PRIu64
		" ended early (process exit)",
		st.spans_finished, st.events, r->lost_reported, st.cut_by_exit);
	if (r->exporter)
		stop_exporter(r);
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
	tt_warn("no kernel BTF at '%s': tasktap needs a kernel built with CONFIG_DEBUG_INFO_BTF=y",
		btf);
	return -ENOENT;
}

static int attach_plan(struct run *r)
{
	char err[512];
	int ret;

	for (int id = 1; id <= r->spec->nhooks; id++) {
		ret = tt_loader__set_hook(r->loader, id, &tt_spec__hook(r->spec, id)->prog);
		if (ret) {
			tt_warn("cannot store hook %d: %s", id, strerror(-ret));
			return ret;
		}
	}
	for (size_t i = 0; i < r->plan.n; i++) {
		const struct tt_attachment *at = &r->plan.at[i];
		const struct tt_hook *h = at->hook;

		if (at->usdt)
			ret = tt_loader__attach_usdt(r->loader, h->id, at->path, h->provider,
						     h->usdt, at->pid, err, sizeof(err));
		else
			ret = tt_loader__attach(r->loader, h->id, at->path, at->offset,
						at->retprobe, at->pid, err, sizeof(err));
		if (ret) {
			if (at->pid > 0 && !tt_proc__alive(at->pid))
				tt_warn("process %d exited before tasktap could attach", at->pid);
			else
				tt_warn("%s", err);
			return ret;
		}
	}
	return 0;
}

#define MAX_OTLP_ARGS 64

struct run_args {
	const char *spec;
	/* OTLP settings from the command line, applied over the environment in order */
	struct {
		const char *key;
		const char *value;
	} otlp[MAX_OTLP_ARGS];
	int notlp;
	pid_t pid;
	const char *binary;
	bool json;
	bool color;
	double duration;
	size_t ring_bytes;
};

/*
 * OTLP settings: the OTEL_* environment, then the command line over it.
 * With an endpoint configured, starts the exporter. Returns 0, or -errno
 * after saying why.
 */
static int setup_otlp(struct run *r, const struct run_args *a)
{
	struct tt_env env = {0};
	struct tt_exporter_opts o = {0};
	char err[512];
	int ret;

	tt_otlp_config__init(&r->otlp);
	ret = tt_otlp_config__from_env(&r->otlp, &env);
	if (ret) {
		tt_warn("cannot read the OTLP settings: %s", strerror(-ret));
		return ret;
	}
	for (int i = 0; i < a->notlp; i++) {
		ret = tt_otlp_config__set(&r->otlp, a->otlp[i].key, a->otlp[i].value, err,
					  sizeof(err));
		if (ret) {
			tt_warn("--%s: %s", a->otlp[i].key, err);
			return -EINVAL;
		}
	}
	if (!tt_otlp_config__enabled(&r->otlp))
		return 0;
	o.cfg = &r->otlp;
	o.spec_service = r->spec->service;
	o.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	o.seed = tt_now_ns(CLOCK_REALTIME) ^ (uint64_t)getpid();
	r->exporter = tt_exporter__new(&o, err, sizeof(err));
	if (!r->exporter) {
		tt_warn("cannot start the OTLP exporter: %s", err);
		return -errno;
	}
	tt_otlp_config__traces_url(&r->otlp, err, sizeof(err));
	tt_warn("exporting spans to %s (%s%s)", err, tt_otlp_protocol__name(r->otlp.protocol),
		r->otlp.gzip ? ", gzip" : "");
	return 0;
}

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
		tt_warn("%s", err);
		return 2;
	}
	ret = tt_proc__check_caps(err, sizeof(err));
	if (ret == -EPERM) {
		tt_warn("missing capabilities: %s (run as root, or grant them to tasktap)", err);
		ret = 1;
		goto out;
	}
	if (check_btf()) {
		ret = 1;
		goto out;
	}
	ret = tt_plan__build(r.spec, a->pid, a->binary, &r.plan, err, sizeof(err));
	if (ret) {
		tt_warn("%s", err);
		ret = 2;
		goto out;
	}
	for (size_t i = 0; i < r.plan.n; i++) {
		if (r.plan.at[i].cost == TT_INSN_STEPPED)
			tt_warn("warning: probe on '%s' lands on an instruction the kernel "
				"single-steps (slow)",
				r.plan.at[i].probe->symbol);
	}

	aopts.spec = r.spec;
	aopts.seed = tt_now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
	ret = setup_otlp(&r, a);
	if (ret) {
		ret = ret == -EINVAL ? 2 : 1;
		goto out;
	}
	if (a->json) {
		r.jsonl.out = stdout;
		r.jsonl.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
		aopts.on_span = r.exporter ? tee_span : tt_jsonl__span;
		aopts.ctx = r.exporter ? (void *)&r : (void *)&r.jsonl;
	} else if (r.exporter) {
		aopts.on_span = tt_exporter__span;
		aopts.ctx = r.exporter;
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
		tt_warn("cannot create the assembler: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	r.jsonl.service = service_name(&r);

	r.loader = tt_loader__new(&lopts, err, sizeof(err));
	if (!r.loader) {
		tt_warn("%s", err);
		ret = 1;
		goto out;
	}
	if (attach_plan(&r)) {
		ret = 1;
		goto out;
	}
	tt_warn("attached %d probes (%zu locations); tracing, Ctrl-C to stop",
		tt_loader__attached(r.loader), r.plan.n);
	ret = event_loop(&r, a->duration) ? 1 : 0;
out:
	shut_down(&r);
	tt_loader__free(r.loader);
	tt_exporter__free(r.exporter);
	tt_otlp_config__release(&r.otlp);
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
		"                   [--ring-size BYTES] [--no-color]\n"
		"                   [--otlp-endpoint URL] [--otlp-protocol PROTOCOL]\n"
		"                   [--otlp-header K=V]... [--otlp-compression gzip|none]\n"
		"                   [--otlp-timeout MS] [--spool DIR | --no-spool]\n"
		"                   [--spool-size BYTES] [--sampler NAME] [--sampler-arg RATIO]\n"
		"  PROTOCOL: http/protobuf (default), http/json or grpc\n",
		tt_prog_name);
}

int tt_cmd__run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"binary", required_argument, NULL, 'b'},
		{"json", no_argument, NULL, 'j'},
		{"duration", required_argument, NULL, 'd'},
		{"ring-size", required_argument, NULL, 'r'},
		{"no-color", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"otlp-endpoint", required_argument, NULL, 'O'},
		{"otlp-protocol", required_argument, NULL, 'O'},
		{"otlp-header", required_argument, NULL, 'O'},
		{"otlp-compression", required_argument, NULL, 'O'},
		{"otlp-timeout", required_argument, NULL, 'O'},
		{"spool", required_argument, NULL, 'O'},
		{"spool-size", required_argument, NULL, 'O'},
		{"no-spool", no_argument, NULL, 'O'},
		{"sampler", required_argument, NULL, 'O'},
		{"sampler-arg", required_argument, NULL, 'O'},
		{0},
	};
	struct run_args a = {.color = isatty(STDOUT_FILENO)};
	char *end;
	int c, idx;

	while ((c = getopt_long(argc, argv, "p:b:jd:r:Ch", opts, &idx)) != -1) {
		switch (c) {
		case 'O':
			if (a.notlp == MAX_OTLP_ARGS) {
				tt_warn("too many OTLP options");
				return 2;
			}
			a.otlp[a.notlp].key = opts[idx].name;
			a.otlp[a.notlp].value = optarg ? optarg : "";
			a.notlp++;
			break;
		case 'p':
			if (tt_parse_pid(optarg, &a.pid)) {
				tt_warn("invalid pid '%s': expected a positive integer", optarg);
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
				tt_warn("invalid duration '%s': expected seconds", optarg);
				return 2;
			}
			break;
		case 'r':
			if (tt_parse_size(optarg, &a.ring_bytes) || a.ring_bytes < 4096 ||
			    (a.ring_bytes & (a.ring_bytes - 1))) {
				tt_warn("invalid ring size '%s': expected a power of two of at "
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
		tt_warn("--pid and --binary exclude each other");
		return 2;
	}
	a.spec = argv[optind];
	return run(&a);
}
