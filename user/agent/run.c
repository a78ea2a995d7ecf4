// SPDX-License-Identifier: MIT
/* `tasktap run`, the straight line: checks, loader, HTTP, specs, sinks, event loop, shut down. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "helpers.h"
#include "hold.h"
#include "log.h"
#include "export/exporter.h"
#include "export/resource.h"
#include "export/httpd.h"
#include "export/metrics.h"
#include "export/traces.h"
#include "export/view.h"
#include "proc.h"

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

static int add_fd(int epfd, int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

/*
 * Whether every place is a single process named by the spec, and all of
 * them are gone (and nothing is discovered as it starts).
 */
static bool all_targets_gone(const struct agent *r)
{
	if (r->discovery || r->args_spec_dir)
		return false;
	return places__all_pids_gone(r->places);
}

static bool pid_alive(uint32_t pid)
{
	return tt_proc__alive((pid_t)pid);
}

/* Ends the spans of processes gone unseen: their exit events were lost in a full ring. */
static void end_gone(struct agent *r, uint64_t now)
{
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__end_gone(r->slots[i]->assembler, now, pid_alive);
	}
}

/* Once a second: losses, expiries, metrics, processes gone, and the rate. */
static bool housekeeping(struct agent *r, uint64_t now)
{
	uint64_t lost_exits = r->lost_exits_reported;

	events__report_lost(r);
	events__report_py_gen(r, false);
	if (r->lost_exits_reported != lost_exits)
		end_gone(r, now);
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler) /* begin/end spans that saw no end */
			tt_asm__expire(r->slots[i]->assembler, now);
	}
	places__drop_exited(r->places, place__gone, NULL); /* processes whose exit event was lost */
	events__end_retired(r, now); /* a reload's session links whose calls have returned */
	health__count_tasks(r);
	health__sample_rate(r, now);
	health__update_metrics(r);
	if (all_targets_gone(r)) {
		tt_info("every traced process has exited");
		return true;
	}
	return false;
}

/* The file descriptors the event loop waits on; -1: not open. */
struct loop {
	int epfd;
	int tfd; /* the drain timer */
	int sfd; /* SIGINT, SIGTERM, SIGHUP */
	int hfd; /* requests the HTTP server's thread hands to the loop */
	int ifd; /* --spec-dir changes */
};

static void loop_close(struct loop *l)
{
	int *fds[] = {&l->ifd, &l->sfd, &l->tfd, &l->epfd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/*
 * Blocks the signals the event loop reads from its signal fd (SIGINT,
 * SIGTERM: stop; SIGHUP: reload), before any thread starts (each inherits
 * the mask): a stop asked for during the start waits for the loop, which
 * detaches the probes several at once; killed by the signal instead, the
 * process's probes would be closed one after the other by the kernel at
 * exit (100 probes: 6-26 s). Returns the set.
 */
static sigset_t block_stop_signals(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	return mask;
}

/* Opens the timer, the signal fd and the epoll set. 0, or -errno after saying why. */
static int loop_open(struct loop *l, struct agent *r)
{
	struct itimerspec tick = {.it_interval = {0, DRAIN_INTERVAL_NS},
				  .it_value = {0, DRAIN_INTERVAL_NS}};
	int ring_fd = tt_loader__epoll_fd(r->loader);
	sigset_t mask = block_stop_signals();

	l->hfd = r->httpd ? tt_httpd__requests_fd(r->httpd) : -1;
	l->ifd = r->spec_dir_fd;
	r->spec_dir_fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	l->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->epfd < 0 || l->tfd < 0 || l->sfd < 0 || timerfd_settime(l->tfd, 0, &tick, NULL) ||
	    add_fd(l->epfd, l->tfd) || add_fd(l->epfd, l->sfd) || add_fd(l->epfd, ring_fd) ||
	    (l->hfd >= 0 && add_fd(l->epfd, l->hfd)) || (l->ifd >= 0 && add_fd(l->epfd, l->ifd))) {
		int ret = -errno;

		tt_warn("cannot set up the event loop: %s", strerror(errno));
		return ret;
	}
	return 0;
}

/*
 * Reads what woke the loop: the timer, a signal (SIGHUP: reload; the
 * others: stop), HTTP requests to answer, a --spec-dir change (reload once
 * it settles).
 * Returns whether to stop; sets *serve_http.
 */
static bool loop_ready(struct loop *l, struct agent *r, const struct epoll_event *evs, int n,
		       uint64_t now, bool *serve_http)
{
	bool stop = false;

	for (int i = 0; i < n; i++) {
		uint64_t ticks;
		struct signalfd_siginfo si;
		char buf[4096];
		int fd = evs[i].data.fd;

		if (fd == l->tfd && read(l->tfd, &ticks, sizeof(ticks)) < 0)
			continue;
		if (fd == l->sfd && read(l->sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				r->reload_now = true;
			else
				stop = true;
		}
		if (fd == l->hfd)
			*serve_http = true;
		if (fd == l->ifd) {
			while (read(l->ifd, buf, sizeof(buf)) > 0)
				;
			r->reload_at_ns = now + RELOAD_SETTLE_NS;
		}
	}
	return stop;
}

/*
 * Runs the event loop until SIGINT or SIGTERM, the deadline, or every
 * target process is gone. SIGHUP, and a change in --spec-dir, reload the
 * specs.
 */
static int event_loop(struct agent *r, double duration)
{
	uint64_t start = tt_now_ns(CLOCK_MONOTONIC), next_housekeeping = start + HOUSEKEEPING_NS;
	struct loop l = {.epfd = -1, .tfd = -1, .sfd = -1, .hfd = -1, .ifd = -1};
	int ret = loop_open(&l, r);

	events__prioritize(); /* the exporter's threads, started already, keep their nice */

	while (!ret) {
		struct epoll_event evs[8];
		int n = epoll_wait(l.epfd, evs, 8, -1);
		bool stop, serve_http = false;
		uint64_t now;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			tt_warn("epoll_wait failed: %s", strerror(errno));
			break;
		}
		now = tt_now_ns(CLOCK_MONOTONIC);
		stop = loop_ready(&l, r, evs, n, now, &serve_http);
		events__drain(r, now - REORDER_SLACK_NS);
		handover__note_lost(r); /* for the next agent, should this one be killed */
		if (r->reload_now || (r->reload_at_ns && now >= r->reload_at_ns)) {
			r->reload_now = false;
			r->reload_at_ns = 0;
			slots__reload(r);
		}
		/*
		 * after the drain: what HTTP answers includes what just arrived. The
		 * server's thread answers /health/live itself, and tells the clients
		 * when the loop stalls (blocked in the kernel attaching, for seconds)
		 */
		if (r->httpd) {
			tt_httpd__progress(r->httpd, now);
			if (serve_http)
				tt_httpd__answer(r->httpd);
		}
		if (duration > 0 && now - start >= (uint64_t)(duration * 1e9))
			stop = true;
		if (now >= next_housekeeping) {
			next_housekeeping = now + HOUSEKEEPING_NS;
			stop |= housekeeping(r, now);
		}
		if (stop)
			break;
	}
	loop_close(&l);
	return ret;
}

/*
 * Detaches (with --pin: leaves the pinned probes in the kernel for the
 * next agent), drains what is left, and ends what is still open.
 */
static void shut_down(struct agent *r)
{
	struct tt_asm_stats st;
	bool handed;
	uint64_t now;

	if (!r->loader)
		return;
	r->stopping = true;
	watch__set(r); /* no more stopped execs: nobody would continue them */
	tt_loader__detach(r->loader, r->pin_dir != NULL);
	/*
	 * the loader freed the places' links: they go before the drain, whose
	 * exit events would detach an exited process's places, links and all
	 */
	places__clear(r->places);
	/*
	 * what the rings and the reorder buffer still hold first: a target's
	 * last calls (and its exit) end its spans, not its absence
	 */
	events__drain(r, UINT64_MAX);
	/*
	 * calls in flight in session programs: open spans, ended or handed over
	 * as the others are (handed over, they stay in BPF for their returns)
	 */
	events__take_calls(r, 0, r->pin_dir != NULL);
	events__report_lost(r);
	now = tt_now_ns(CLOCK_MONOTONIC);
	/* processes that died and whose exit events were lost: their spans end as lost */
	end_gone(r, now);
	handed = r->pin_dir && handover__give(r);
	for (size_t i = 0; !handed && i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__end_all(r->slots[i]->assembler, now);
	}
	events__asm_stats(r, &st);
	if (r->console)
		tt_console__flush(r->console);
	tt_info("%" PRIu64 " spans, %" PRIu64 " events, %" PRIu64 " lost, %" PRIu64
		" ended early (process exit)",
		st.spans_finished, st.events, r->bpf->stat(r->loader, TT_STAT_LOST),
		st.cut_by_exit);
	if (r->lost_exits_reported)
		tt_warn("%" PRIu64 " exit events lost: the ring buffer was full",
			r->lost_exits_reported);
	events__report_py_gen(r, true);
	if (st.cut_by_loss)
		tt_warn("%" PRIu64 " spans ended without their end (tasktap.cut: lost): events "
			"were lost, or their process's exit",
			st.cut_by_loss);
	if (st.orphan_returns)
		tt_warn("%" PRIu64 " spans lost: their end came without their start (the start "
			"was lost in a full ring, seen by an agent that was killed, or before the "
			"probes were in)",
			st.orphan_returns);
	if (r->untraced)
		tt_warn("%" PRIu64 " processes ran before their probes were in: their first steps "
			"are not traced (each said as it was found)",
			r->untraced);
	if (r->rings_stuck)
		tt_warn("%" PRIu64 " ring records stayed reserved over %llu ms: the events after "
			"them may have come out of order",
			r->rings_stuck, RING_BUSY_BOUND_NS / 1000000);
	if (r->events_dropped)
		tt_warn("%" PRIu64 " events dropped: the agent was out of memory",
			r->events_dropped);
	if (r->unknown_hooks)
		tt_warn("%" PRIu64 " events dropped: their hooks are in no spec now (a probe "
			"pinned by an earlier agent, or removed by a reload)",
			r->unknown_hooks);
	events__report_unannotated(r);
	handover__report_ledger(r);
	/* the last metrics export reads these */
	health__count_tasks(r);
	health__update_metrics(r);
	if (r->exporter)
		sinks__stop(r);
}

const struct agent_bpf agent_bpf_loader = {
	.set_hook = tt_loader__set_hook,
	.attach = tt_loader__attach,
	.attach_python = tt_loader__attach_python,
	.attach_usdt = tt_loader__attach_usdt,
	.detach_link = tt_loader__detach_link,
	.detach_exited = tt_loader__detach_exited,
	.link_adopted = tt_link__adopted,
	.drain = tt_loader__drain,
	.ring_pos = tt_loader__ring_pos,
	.stat = tt_loader__stat,
	.hook_lost = tt_loader__hook_lost,
	.take_calls = tt_loader__take_calls,
	.retire = tt_loader__retire,
	.unretire = tt_loader__unretire,
	.attached = tt_loader__attached,
	.adopted = tt_loader__adopted,
	.prune_pins = tt_loader__prune_pins,
	.watch_comm = tt_loader__watch_comm,
	.unwatch_comm = tt_loader__unwatch_comm,
	.watch_prefix = tt_loader__watch_prefix,
	.watch_dir = tt_loader__watch_dir,
	.watch_cgroup = tt_loader__watch_cgroup,
	.watch_all_execs = tt_loader__watch_all_execs,
	.continue_held = tt_loader__continue,
	.continue_all_held = tt_loader__continue_held,
	.held = tt_loader__held,
	.ready = tt_loader__ready,
	.follow = tt_loader__follow,
};

/* The machine can run the agent: capabilities, and kernel BTF. 0 or -errno after saying why. */
static int check_host(void)
{
	char err[1024];
	int ret = tt_proc__check_caps(err, sizeof(err));

	if (ret == -EPERM) {
		tt_warn("missing capabilities: %s (run as root, or grant them to tasktap)", err);
		return ret;
	}
	return check_btf();
}

/* The metrics and the BPF loader (adopting what --pin left). 0 or -errno after saying why. */
static int open_loader(struct agent *r, const struct run_args *a)
{
	struct tt_loader_opts lopts = {.ring_bytes = a->ring_bytes,
				       .pin_dir = a->pin_dir,
				       .on_event = events__on_ring,
				       .ctx = r};
	char err[1024];

	/* forked before anything is loaded: it outlives a killed agent, and should carry nothing */
	lopts.watchdog = tt_hold__watchdog(a->pin_dir);
	if (lopts.watchdog < 0) {
		tt_warn("cannot start the hold watchdog: %s; BPF alone keeps the exec holds' "
			"deadlines",
			strerror(-lopts.watchdog));
		lopts.watchdog = 0;
	}
	r->metrics = tt_metrics__new(NULL);
	if (!r->metrics) {
		tt_warn("cannot create the metrics: %s", strerror(errno));
		return -ENOMEM;
	}
	r->loader = tt_loader__new(&lopts, err, sizeof(err));
	if (!r->loader) {
		tt_warn("%s", err);
		return -EINVAL;
	}
	r->places = places__new(r->bpf, r->loader);
	if (!r->places) {
		tt_warn("cannot create the attach registry: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (tt_loader__adopted(r->loader))
		tt_info("adopted the probes and rings pinned in %s: draining what they recorded",
			a->pin_dir);
	return 0;
}

/*
 * Loads the spec files. Returns 0, or the exit status: 2 when none could
 * be used (and no --spec-dir to wait on), 1 without memory or when the BPF
 * object failed to load.
 */
static int load_specs(struct agent *r, const struct run_args *a)
{
	int ok;

	/*
	 * --spec-dir is watched before its files are read, not when the event
	 * loop starts: a file written while the agent starts is reloaded then
	 */
	r->spec_dir_fd = slots__watch_dir(a->spec_dir);
	ok = slots__load_all(r);

	if (ok < 0 || (ok == 0 && !a->spec_dir))
		return ok == -ENOMEM || ok == -EIO ? 1 : 2;
	if (r->nslots > (size_t)ok)
		tt_warn("%zu of %zu spec files have problems (said above); tracing the others",
			r->nslots - (size_t)ok, r->nslots);
	return 0;
}

/* Frees what the agent holds, after shut_down(). */
static void agent_release(struct agent *r)
{
	tt_httpd__free(r->httpd);
	tt_view__free(r->view);
	tt_traces__free(r->traces);
	for (size_t i = 0; i < r->nslots; i++) {
		tt_asm__free(r->slots[i]->assembler);
		tt_spec__free(r->slots[i]->spec);
		free(r->slots[i]->file);
		free(r->slots[i]);
	}
	free(r->slots);
	places__free(r->places);
	tt_loader__free(r->loader);
	tt_exporter__free(r->exporter);
	tt_ledger__free(r->ledger, true); /* after the exporter: it counts into it */
	for (size_t i = 0; i < r->nretired; i++)
		tt_spec__free(r->retired[i]);
	free(r->retired);
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		tt_otlp_config__release(&r->otlp[s]);
	tt_metrics__free(r->metrics);
	tt_console__free(r->console);
	tt_resource__free(r->resource);
	tt_reorder__release_all(&r->reorder);
	free(r->ring_holds);
	if (r->spec_dir_fd >= 0)
		close(r->spec_dir_fd); /* the start failed before the loop took it */
}

/* A step's -errno as the exit status: 2 for what the user asked (-EINVAL), else 1. */
static int exit_status(int err)
{
	if (!err)
		return 0;
	return err == -EINVAL ? 2 : 1;
}

int agent__run(const struct run_args *a)
{
	struct agent r = {.json = a->json,
			  .log_steps = a->log_steps,
			  .args = a,
			  .bpf = &agent_bpf_loader,
			  .pin_dir = a->pin_dir,
			  .args_spec_dir = a->spec_dir,
			  .spec_dir_fd = -1,
			  .stuck_after_ns = (uint64_t)(a->stuck_after * 1e9)};
	int ret;

	tt_reorder__init(&r.reorder);
	r.started_ns = tt_now_ns(CLOCK_MONOTONIC);
	/* 0. a stop or a reload asked for during the start waits for the event loop */
	block_stop_signals();
	/* 1. root (or the capabilities) and kernel BTF */
	ret = check_host() ? 1 : 0;
	if (ret)
		goto cleanup;
	/* 2. a spec to trace, before BPF is loaded: a run with nothing to trace stops at once */
	ret = slots__some_parse(a) ? 0 : 2;
	if (ret)
		goto cleanup;
	/* the OTEL_* variables besides the exporters': what is refused stops the agent here */
	ret = exit_status(sinks__read_sdk(&r));
	if (ret)
		goto cleanup;
	/* 3. the metrics and BPF: load, or adopt what --pin left */
	ret = open_loader(&r, a) ? 1 : 0;
	if (ret)
		goto cleanup;
	/* 4. HTTP before anything is attached, so that a taken port stops the agent early */
	ret = exit_status(health__serve(&r, a));
	if (ret)
		goto cleanup;
	/* 5. the spec files: parse, attach what they name, watch execs, scan /proc */
	ret = load_specs(&r, a);
	if (ret)
		goto cleanup;
	/* 6. the sinks: OTLP (counting into the --pin ledger), then the console or JSON lines */
	handover__open_ledger(&r);
	ret = exit_status(sinks__start_otlp(&r, a));
	if (ret)
		goto cleanup;
	ret = sinks__start_output(&r, a) ? 1 : 0;
	if (ret)
		goto cleanup;
	/* 7. continue what the agent before this one left open, and drop its stale pins */
	if (a->pin_dir)
		handover__take(&r);
	tt_loader__prune_pins(r.loader);
	tt_info("attached %d probes (%zu spec%s%s); tracing, Ctrl-C to stop",
		tt_loader__attached(r.loader), r.nslots, r.nslots == 1 ? "" : "s",
		r.discovery ? ", and processes as they start" : "");
	/* 8. events until stopped */
	health__update_metrics(&r);
	ret = event_loop(&r, a->duration) ? 1 : 0;
cleanup:
	/* 9. detach (or leave pinned), drain, end or hand over what is open, free */
	shut_down(&r);
	agent_release(&r);
	return ret;
}
