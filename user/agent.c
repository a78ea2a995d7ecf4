// SPDX-License-Identifier: MIT
/*
 * `tasktap run`: the agent. One straight line: load the spec, resolve
 * symbols, load BPF, start the exporter and the HTTP endpoints, attach,
 * then one event loop (rings, timer, signals, HTTP) until stopped, then
 * detach, drain and end what is still open.
 *
 * Every finished span goes through one fan-out (on_span): the metrics
 * first, then the step lines, the console or JSON lines, and the OTLP
 * exporter, each when it is on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "assemble.h"
#include "cli.h"
#include "discover.h"
#include "export/export.h"
#include "export/exporter.h"
#include "export/httpd.h"
#include "export/traces.h"
#include "export/view.h"
#include "export/jsonw.h"
#include "export/metrics.h"
#include "export/otlp_config.h"
#include "export/prom.h"
#include "handover.h"
#include "loader.h"
#include "proc.h"
#include "reorder.h"
#include "resolve.h"
#include "spec.h"
#include "specs.h"

#define DRAIN_INTERVAL_NS   1000000ULL	  /* 1 ms */
#define REORDER_SLACK_NS    10000000ULL	  /* 10 ms */
#define HOUSEKEEPING_NS	    1000000000ULL /* 1 s */
#define RELOAD_SETTLE_NS    200000000ULL  /* a change in --spec-dir: reload 200 ms later */
#define DEFAULT_STUCK_AFTER 600.0	  /* seconds */
#define MAX_SPEC_ARGS	    64

struct run;

/*
 * One spec file and what it became: its spec, its assembler, and the
 * global hook ids of its hooks. Hook ids are the BPF attach cookies and
 * index the BPF `probes` array, which every spec shares, so each spec's
 * own ids (1..nhooks) map to global ids no other spec uses; events are
 * handed to the spec's assembler with its own ids back. A broken file
 * keeps a slot with its error and no spec.
 */
struct slot {
	struct run *run;
	char *file;	 /* owned */
	const char *dir; /* the --spec-dir it was found in (not owned), or NULL */
	uint64_t digest; /* of the file's bytes: a reload keeps an unchanged file */
	struct tt_spec *spec;
	struct tt_asm *assembler;
	uint16_t gid[TT_MAX_PROBES + 1]; /* own hook id -> global id; 0: none yet */
	char error[512];		 /* why the file is not in use */
	bool keep;			 /* during a reload: the file is still there */
	bool rescan;			 /* during a reload: look for its processes */
	bool discovers;			 /* has comm: targets or binary: globs */
};

/* One hook attached at one place, for `tasktap status`. */
struct hooked {
	struct tt_link *link;
	uint16_t gid;
	const struct tt_hook *hook;
	uint64_t offset;
};

/*
 * One place a target's probes are attached: a file (by identity) in every
 * process, or one process. A place found by discovery remembers the
 * processes it was found in and goes when the last one exits; a place
 * named by the spec itself (`fixed`) stays until its spec goes.
 */
struct place {
	struct slot *slot;
	const struct tt_target *target;
	dev_t dev;
	ino_t ino;
	pid_t pid; /* the one process the probes fire in, or -1 */
	bool fixed;
	bool stale;	   /* its spec was reloaded: attach the hooks it gained */
	uint64_t since_ns; /* exit events older than this are of an earlier process */
	char *shown;	   /* owned */
	pid_t *pids;	   /* owned; processes running the file (discovered places) */
	size_t npids;
	struct hooked *hooks; /* owned */
	size_t nhooks;
	struct place *next;
};

struct gid_owner {
	struct slot *slot;
	int local;
};

struct run {
	struct slot **slots; /* owned */
	size_t nslots;
	/*
	 * Specs of slots a reload removed. Their last spans may still wait in
	 * the exporter's queue, pointing at their probes, so they are freed
	 * only once the exporter has stopped. Owned.
	 */
	struct tt_spec **retired;
	size_t nretired;
	struct gid_owner owner[TT_MAX_PROBES + 1];
	struct place *places; /* owned list */
	const struct run_args *args;
	struct tt_loader *loader;
	struct tt_console *console; /* the waterfall, unless --json or spans go to OTLP */
	struct tt_jsonl jsonl;
	struct tt_steplines steplines;
	struct tt_otlp_config otlp[TT_SIGNAL__COUNT];
	struct tt_exporter *exporter;
	struct tt_metrics *metrics;
	struct tt_httpd *httpd;
	struct tt_traces *traces; /* the task view's recent traces; NULL with --no-http */
	struct tt_view *view;
	struct tt_reorder reorder;
	uint64_t lost_reported;
	uint64_t lost_exits_reported;
	uint64_t stuck_after_ns;
	uint64_t stuck;		/* tasks open longer than stuck_after, at the last count */
	uint64_t unknown_hooks; /* events of a hook id no spec has */
	uint64_t execs;		/* exec events handled */
	uint64_t discovered;	/* processes attached to as they started or by the scan */
	uint64_t rate_events;	/* events at the last rate sample */
	uint64_t rate_at_ns;
	double events_per_s;
	uint64_t started_ns;
	uint64_t reloads;
	uint64_t reload_at_ns; /* a reload is due then; 0: none */
	bool reload_now;
	bool json;
	bool log_steps;
	bool discovery; /* comm: targets and binary: globs are followed */
	bool stopping;
	const char *pin_dir;			  /* --pin */
	const char *args_spec_dir;		  /* --spec-dir: the agent waits for specs */
	char watched[TT_MAX_PROBES][TT_COMM_LEN]; /* comm: names watched in BPF */
	int nwatched;
};

/* ---- hook ids ------------------------------------------------------------ */

/*
 * The global id of hook `local` of slot s, given on first use (the first
 * free id, so that the same specs get the same ids in the next agent)
 * and stored in BPF. Returns 0 when every id is taken or BPF refuses.
 */
static uint16_t gid_of(struct run *r, struct slot *s, int local)
{
	const struct tt_hook *h = tt_spec__hook(s->spec, local);
	int ret;

	if (local <= 0 || local > TT_MAX_PROBES || !h)
		return 0;
	if (s->gid[local])
		return s->gid[local];
	for (int g = 1; g <= TT_MAX_PROBES; g++) {
		if (r->owner[g].slot)
			continue;
		ret = tt_loader__set_hook(r->loader, g, &h->prog);
		if (ret) {
			tt_warn("cannot store hook %d: %s", g, strerror(-ret));
			return 0;
		}
		r->owner[g].slot = s;
		r->owner[g].local = local;
		s->gid[local] = g;
		return g;
	}
	tt_warn("%s: more hooks than tasktap can attach (TT_MAX_PROBES)", s->file);
	return 0;
}

static void release_gids(struct run *r, struct slot *s)
{
	for (int g = 1; g <= TT_MAX_PROBES; g++) {
		if (r->owner[g].slot == s)
			memset(&r->owner[g], 0, sizeof(r->owner[g]));
	}
}

/* ---- places -------------------------------------------------------------- */

static void free_place(struct run *r, struct place *p)
{
	for (size_t i = 0; i < p->nhooks; i++)
		tt_loader__detach_link(r->loader, p->hooks[i].link);
	free(p->hooks);
	free(p->pids);
	free(p->shown);
	free(p);
}

/* Detaches and forgets every place for which `drop(p, ctx)` holds. */
static void drop_places(struct run *r, bool (*drop)(struct place *p, void *ctx), void *ctx)
{
	struct place **pp = &r->places;

	while (*pp) {
		struct place *p = *pp;

		if (drop(p, ctx)) {
			*pp = p->next;
			free_place(r, p);
		} else {
			pp = &p->next;
		}
	}
}

static int add_pid(struct place *p, pid_t pid)
{
	pid_t *more;

	for (size_t i = 0; i < p->npids; i++) {
		if (p->pids[i] == pid)
			return 0;
	}
	more = realloc(p->pids, (p->npids + 1) * sizeof(*more));
	if (!more)
		return -ENOMEM;
	p->pids = more;
	p->pids[p->npids++] = pid;
	return 0;
}

/* The name a pinned attachment has, the same in the next agent for the same place. */
static void pin_name(const struct place *p, uint16_t gid, const struct tt_attachment *at, char *buf,
		     size_t len)
{
	snprintf(buf, len, "%u_%lx_%lx_%" PRIx64 "_%d", gid, (unsigned long)p->dev,
		 (unsigned long)p->ino, at->offset, (int)at->pid);
}

/* Whether place p has hook `gid` attached at `offset`. */
static bool has_hook(const struct place *p, uint16_t gid, uint64_t offset)
{
	for (size_t i = 0; i < p->nhooks; i++) {
		if (p->hooks[i].gid == gid && p->hooks[i].offset == offset)
			return true;
	}
	return false;
}

/*
 * Attaches every attachment of `plan` as part of place p, but for those p
 * has already. 0 or -errno after saying why.
 */
static int attach_into(struct run *r, struct place *p, const struct tt_plan *plan)
{
	char err[512], name[96];
	struct hooked *more;
	int ret;

	more = realloc(p->hooks, (p->nhooks + plan->n + 1) * sizeof(*more));
	if (!more)
		return -ENOMEM;
	p->hooks = more;
	for (size_t i = 0; i < plan->n; i++) {
		const struct tt_attachment *at = &plan->at[i];
		const struct tt_hook *h = at->hook;
		uint16_t gid = gid_of(r, p->slot, h->id);
		struct hooked *hk = &p->hooks[p->nhooks];

		if (!gid)
			return -ERANGE;
		if (has_hook(p, gid, at->offset))
			continue;
		pin_name(p, gid, at, name, sizeof(name));
		if (at->usdt)
			ret = tt_loader__attach_usdt(r->loader, gid, at->path, h->provider, h->usdt,
						     at->pid, name, &hk->link, err, sizeof(err));
		else
			ret = tt_loader__attach(r->loader, gid, at->path, at->offset, at->retprobe,
						at->pid, name, &hk->link, err, sizeof(err));
		if (ret) {
			if (at->pid > 0 && !tt_proc__alive(at->pid))
				tt_warn("process %d exited before tasktap could attach", at->pid);
			else
				tt_warn("%s", err);
			return ret;
		}
		hk->gid = gid;
		hk->hook = h;
		hk->offset = at->offset;
		p->nhooks++;
	}
	return 0;
}

static struct place *new_place(struct slot *s, const struct tt_target *t, const struct stat *st,
			       pid_t pid, const char *shown, bool fixed)
{
	struct place *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->slot = s;
	p->target = t;
	p->dev = st ? st->st_dev : 0;
	p->ino = st ? st->st_ino : 0;
	p->pid = pid;
	p->fixed = fixed;
	p->since_ns = tt_now_ns(CLOCK_MONOTONIC);
	p->shown = strdup(shown);
	if (!p->shown) {
		free(p);
		return NULL;
	}
	return p;
}

/* The place of target t of slot s at file (dev, ino) in process `pid` (-1: every process). */
static struct place *find_place(struct run *r, struct slot *s, const struct tt_target *t, dev_t dev,
				ino_t ino, pid_t pid)
{
	for (struct place *p = r->places; p; p = p->next) {
		if (p->slot == s && p->target == t && p->pid == pid && p->dev == dev &&
		    p->ino == ino)
			return p;
	}
	return NULL;
}

/*
 * Resolves target t of slot s at the file `path` (a person knows it as
 * `shown`), in process `pid` or in every process (-1), and attaches it as
 * one place: a new one, or the one already there, with what its reloaded
 * spec added. Returns the place (in r->places) or NULL after saying why.
 */
static struct place *attach_place(struct run *r, struct slot *s, const struct tt_target *t,
				  const char *path, const char *shown, pid_t pid, bool fixed)
{
	struct tt_plan plan = {0};
	struct place *p;
	struct stat st;
	char err[1024];
	bool fresh;
	int ret;

	if (stat(path, &st)) {
		tt_warn("%s: cannot read '%s': %s", s->file, shown, strerror(errno));
		return NULL;
	}
	p = find_place(r, s, t, st.st_dev, st.st_ino, pid);
	if (p && !p->stale)
		return p;
	fresh = !p;
	if (fresh)
		p = new_place(s, t, &st, pid, shown, fixed);
	if (!p)
		return NULL;
	p->stale = false;
	ret = tt_plan__add_target(&plan, s->spec, t, path, shown, pid, err, sizeof(err));
	if (ret)
		tt_warn("%s", err);
	else
		ret = attach_into(r, p, &plan);
	tt_plan__release(&plan);
	if (!fresh)
		return p; /* what it had stays attached */
	if (ret) {
		free_place(r, p);
		return NULL;
	}
	p->next = r->places;
	r->places = p;
	return p;
}

/*
 * Target t (a binary: or library:) at the file `path` in every process:
 * attached once per distinct file (dev, inode), remembering `pid` as one
 * of its processes. Returns whether the target applies.
 */
static bool attach_file(struct run *r, struct slot *s, const struct tt_target *t, const char *path,
			const char *shown, pid_t pid)
{
	struct place *p = attach_place(r, s, t, path, shown, -1, false);

	if (!p)
		return false;
	if (!p->fixed)
		add_pid(p, pid);
	return true;
}

/* Library targets of slot s in process `pi`, resolved inside its root. */
static void attach_libraries(struct run *r, struct slot *s, const struct tt_proc_info *pi)
{
	char root[64], path[PATH_MAX], shown[PATH_MAX + 64];

	snprintf(root, sizeof(root), "/proc/%d/root", (int)pi->pid);
	for (int i = 0; i < s->spec->ntargets; i++) {
		const struct tt_target *t = &s->spec->targets[i];

		if (t->kind != TT_TARGET_LIBRARY ||
		    tt_find_library_in(root, t->path, path, sizeof(path)))
			continue;
		snprintf(shown, sizeof(shown), "%s (in pid %d)", path + strlen(root), (int)pi->pid);
		attach_file(r, s, t, path, shown, pi->pid);
	}
}

/*
 * A process that started (or was running when the agent started): the
 * comm: targets and binary: targets of every spec (or only of `only`)
 * that name it are attached, comm: targets in that process, binary:
 * targets once per distinct file, and then the spec's libraries as that
 * process sees them.
 */
static void discover(struct run *r, const struct tt_proc_info *pi, struct slot *only)
{
	char shown[PATH_MAX + 64];

	for (size_t i = 0; i < r->nslots; i++) {
		struct slot *s = r->slots[i];
		bool matched = false;

		if (!s->spec || (only && s != only))
			continue;
		for (int k = 0; k < s->spec->ntargets; k++) {
			const struct tt_target *t = &s->spec->targets[k];

			if (t->kind == TT_TARGET_COMM &&
			    !strncmp(t->comm, pi->comm, TT_COMM_LEN - 1)) {
				snprintf(shown, sizeof(shown), "%s (pid %d)", pi->exe,
					 (int)pi->pid);
				matched |= attach_place(r, s, t, pi->open, shown, pi->pid, false) !=
					   NULL;
			} else if (t->kind == TT_TARGET_BINARY &&
				   tt_glob__path_matches(t->path, pi->exe)) {
				/* a glob, or an exact path: the host's file, or a copy in a
				 * container's image; each distinct file attached once */
				snprintf(shown, sizeof(shown), "%s%s", pi->exe,
					 pi->other_mnt_ns ? " (in another mount namespace)" : "");
				matched |= attach_file(r, s, t, pi->open, shown, pi->pid);
			}
		}
		if (matched) {
			attach_libraries(r, s, pi);
			r->discovered++;
		}
	}
}

struct forget {
	pid_t pid;
	uint64_t ts;
};

/* Whether place p goes with process f->pid (its own, or the last of its file's). */
static bool forget_pid(struct place *p, void *ctx)
{
	const struct forget *f = ctx;

	if (p->since_ns > f->ts)
		return false; /* the exit of an earlier process with that pid */
	if (p->pid == f->pid && !p->fixed)
		return true;
	for (size_t i = 0; i < p->npids; i++) {
		if (p->pids[i] == f->pid) {
			p->pids[i] = p->pids[--p->npids];
			return p->npids == 0;
		}
	}
	return false;
}

/* Whether place p is a discovered one whose processes are all gone. */
static bool gone(struct place *p, void *ctx)
{
	size_t i = 0;

	if (p->fixed)
		return false;
	if (p->pid > 0)
		return !tt_proc__alive(p->pid);
	while (i < p->npids) {
		if (tt_proc__alive(p->pids[i]))
			i++;
		else
			p->pids[i] = p->pids[--p->npids];
	}
	return p->npids == 0;
}

/* A process called exec: attach what applies to it, then let it run on. */
static void on_exec(struct run *r, const struct tt_event *ev)
{
	struct forget f = {.pid = (pid_t)ev->pid, .ts = ev->ts_ns};
	struct tt_proc_info pi;

	r->execs++;
	/* its earlier image is gone: so are probes limited to it */
	drop_places(r, forget_pid, &f);
	if (!r->stopping && r->discovery && tt_proc__info(NULL, (pid_t)ev->pid, &pi) == 0)
		discover(r, &pi, NULL);
	if (ev->flags & TT_EXECF_STOPPED)
		kill((pid_t)ev->pid, SIGCONT);
}

struct scan_ctx {
	struct run *r;
	struct slot *only;
};

static int scan_one(pid_t pid, void *ctx)
{
	struct scan_ctx *sc = ctx;
	struct tt_proc_info pi;

	if (pid != getpid() && tt_proc__info(NULL, pid, &pi) == 0)
		discover(sc->r, &pi, sc->only);
	return 0;
}

/* Processes already running: what the exec events of the past would have found. */
static void scan_processes(struct run *r, struct slot *only)
{
	struct scan_ctx sc = {.r = r, .only = only};

	if (r->discovery)
		tt_proc__for_each(NULL, scan_one, &sc);
}

/*
 * Adds the literal directory of glob `path` ("/opt/workers/" for
 * /opt/workers/ *) to the directories BPF holds execs from, when there is
 * one, it fits, and there is room: the file name of such a glob starts
 * with a glob character, so the process name cannot tell its processes.
 */
static void add_watch_dir(struct tt_watch_dir *dirs, int *n, const char *path)
{
	size_t len = strcspn(path, "*?[\\");

	while (len > 0 && path[len - 1] != '/')
		len--; /* the whole directory, not part of a name */
	if (len < 2 || len > TT_WATCH_DIR_LEN || *n >= TT_MAX_WATCH_DIRS)
		return;
	for (int i = 0; i < *n; i++) {
		if (dirs[i].len == len && !memcmp(dirs[i].path, path, len))
			return;
	}
	memset(&dirs[*n], 0, sizeof(dirs[*n]));
	memcpy(dirs[*n].path, path, len);
	dirs[*n].len = (uint32_t)len;
	(*n)++;
}

/*
 * Tells BPF which execs to report and stop: comm: names exactly, binary:
 * targets by the start of their file name (the kernel names a process
 * after its file), as many as BPF's prefix table holds, widened to shared
 * starts when there are more (tt_comm_prefix__fit()). A glob whose file
 * name starts with a glob character, or names that share no start, make
 * BPF report every exec; of those, the ones whose file name as exec'ed
 * starts with such a glob's directory are stopped too (add_watch_dir()),
 * the others are not (a fast worker may then run its first task before
 * its probes are in).
 */
static void set_watches(struct run *r)
{
	static struct tt_comm_prefix prefixes[TT_MAX_PROBES];
	struct tt_watch_dir dirs[TT_MAX_WATCH_DIRS];
	int nprefix = 0, ndirs = 0;
	bool all = false;

	for (int i = 0; i < r->nwatched; i++)
		tt_loader__unwatch_comm(r->loader, r->watched[i]);
	r->nwatched = 0;
	for (size_t i = 0; r->discovery && !r->stopping && i < r->nslots; i++) {
		const struct tt_spec *spec = r->slots[i]->spec;

		for (int k = 0; spec && k < spec->ntargets; k++) {
			const struct tt_target *t = &spec->targets[k];
			struct tt_comm_prefix *p = &prefixes[nprefix];

			if (t->kind == TT_TARGET_COMM && r->nwatched < TT_MAX_PROBES &&
			    tt_loader__watch_comm(r->loader, t->comm, true) == 0)
				snprintf(r->watched[r->nwatched++], TT_COMM_LEN, "%s", t->comm);
			if (t->kind != TT_TARGET_BINARY || t->path[0] != '/')
				continue;
			p->len = tt_glob__comm_prefix(t->path, p->comm);
			if (!p->len) {
				all = true;
				add_watch_dir(dirs, &ndirs, t->path);
			} else if (nprefix < TT_MAX_PROBES) {
				nprefix++;
			}
		}
	}
	for (int i = 0; i < TT_MAX_WATCH_DIRS; i++)
		tt_loader__watch_dir(r->loader, (uint32_t)i, i < ndirs ? dirs[i].path : "",
				     i < ndirs ? dirs[i].len : 0, TT_WATCH_REPORT | TT_WATCH_STOP);
	nprefix = tt_comm_prefix__fit(prefixes, nprefix, TT_MAX_WATCH_PREFIXES);
	if (nprefix < 0) {
		all = true;
		nprefix = 0;
	}
	for (int i = 0; i < TT_MAX_WATCH_PREFIXES; i++) {
		if (i < nprefix)
			tt_loader__watch_prefix(r->loader, (uint32_t)i, prefixes[i].comm,
						prefixes[i].len, TT_WATCH_REPORT | TT_WATCH_STOP);
		else
			tt_loader__watch_prefix(r->loader, (uint32_t)i, "", 0, 0);
	}
	tt_loader__watch_all_execs(r->loader, all);
}

/* ---- events -------------------------------------------------------------- */

static int on_ring_event(const struct tt_event *ev, size_t size, void *ctx)
{
	struct run *r = ctx;

	/* an exec is acted on at once: the process may be stopped until it is */
	if (size >= sizeof(*ev) && ev->kind == TT_EV_EXEC) {
		on_exec(r, ev);
		return 0;
	}
	/* out of memory: the event is dropped and counted by the assembler's totals */
	if (tt_reorder__add(&r->reorder, ev, size))
		return 0;
	return 0;
}

/*
 * Hands an event to the assembler of the spec whose hook it names, with
 * the spec's own hook id; an exit goes to every assembler.
 */
static void on_ordered_event(const struct tt_event *ev, size_t size, void *ctx)
{
	struct run *r = ctx;
	union {
		struct tt_event h;
		uint8_t bytes[TT_MAX_EVENT];
	} copy;
	const struct gid_owner *o;

	if (size < sizeof(*ev) || ev->probe == 0) {
		for (size_t i = 0; i < r->nslots; i++) {
			if (r->slots[i]->assembler)
				tt_asm__push(r->slots[i]->assembler, ev, size);
		}
		if (size >= sizeof(*ev) && ev->kind == TT_EV_EXIT &&
		    (ev->flags & TT_EXITF_GROUP_DEAD)) {
			struct forget f = {.pid = (pid_t)ev->pid, .ts = ev->ts_ns};

			drop_places(r, forget_pid, &f);
		}
		return;
	}
	o = ev->probe <= TT_MAX_PROBES ? &r->owner[ev->probe] : NULL;
	if (!o || !o->slot || !o->slot->assembler || size > sizeof(copy)) {
		r->unknown_hooks++;
		return;
	}
	memcpy(copy.bytes, ev, size);
	copy.h.probe = (uint32_t)o->local;
	tt_asm__push(o->slot->assembler, &copy.h, size);
}

static void drain(struct run *r, uint64_t horizon)
{
	tt_loader__drain(r->loader);
	tt_reorder__flush(&r->reorder, horizon, on_ordered_event, r);
	if (r->json)
		fflush(stdout); /* once per pass, not once per span */
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

/* The span sink: metrics, then step lines, console or JSON lines, and OTLP. */
static void on_span(const struct tt_span *span, void *ctx)
{
	struct slot *s = ctx;
	struct run *r = s->run;

	tt_metrics__span(span, r->metrics);
	if (r->traces)
		tt_traces__span(span, r->traces);
	if (r->log_steps)
		tt_steplines__span(span, &r->steplines);
	if (r->console)
		tt_console__span(span, r->console);
	if (r->json) {
		/* the service of the spec the span comes from */
		if (s->spec->service)
			r->jsonl.service = s->spec->service;
		tt_jsonl__span(span, &r->jsonl);
	}
	if (r->exporter)
		tt_exporter__span(span, r->exporter);
}

/* Sums the assemblers' counters. */
static void asm_stats(const struct run *r, struct tt_asm_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < r->nslots; i++) {
		struct tt_asm_stats st;

		if (!r->slots[i]->assembler)
			continue;
		tt_asm__stats(r->slots[i]->assembler, &st);
		sum->events += st.events;
		sum->open_spans += st.open_spans;
		sum->evictions += st.evictions;
		sum->spans_finished += st.spans_finished;
		sum->cut_by_exit += st.cut_by_exit;
	}
	/* exits go to every assembler: count them once */
	if (r->nslots && r->slots[0]->assembler) {
		struct tt_asm_stats st;

		tt_asm__stats(r->slots[0]->assembler, &st);
		sum->exits = st.exits;
	}
}

/* Counts one open task into task.in_flight, and as stuck when it is old enough. */
static void count_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct run *r = ctx;
	struct tt_metric_labels l = {.task_name = task->name};
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);

	tt_metrics__add_in_flight(r->metrics, &l, 1);
	if (now > task->start_ns && now - task->start_ns > r->stuck_after_ns)
		r->stuck++;
}

/* Refreshes task.in_flight and the stuck count from the open tasks. */
static void count_tasks(struct run *r)
{
	r->stuck = 0;
	tt_metrics__reset_in_flight(r->metrics);
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__for_each_task(r->slots[i]->assembler, 0, count_task, r);
	}
}

static uint64_t dropped_spans(const struct tt_exporter_stats *x)
{
	return x->dropped_queue_full + x->dropped_rejected + x->dropped_spool_full +
	       x->dropped_failed + x->dropped_encode;
}

/* Hands the loader's, the assembler's and the exporter's counters to the metrics. */
static void update_agent_metrics(struct run *r)
{
	struct tt_agent_stats st = {0};
	struct tt_exporter_stats x = {0};
	struct tt_asm_stats as = {0};

	asm_stats(r, &as);
	if (r->exporter)
		tt_exporter__stats(r->exporter, &x);
	if (r->loader) {
		st.events_lost = tt_loader__stat(r->loader, TT_STAT_LOST);
		st.exit_events_lost = tt_loader__stat(r->loader, TT_STAT_LOST_EXITS);
		st.probes_attached = (uint64_t)tt_loader__attached(r->loader);
	}
	st.events_received = as.events;
	st.open_spans = as.open_spans;
	st.spans_evicted = as.evictions;
	st.spans_exported = x.spans_exported;
	st.spans_dropped[TT_DROP_QUEUE_FULL] = x.dropped_queue_full;
	st.spans_dropped[TT_DROP_SPOOL_FULL] = x.dropped_spool_full;
	st.spans_dropped[TT_DROP_REJECTED] = x.dropped_rejected;
	st.spans_dropped[TT_DROP_FAILED] = x.dropped_failed + x.dropped_encode;
	st.export_failures = x.export_failures + x.metrics.export_failures + x.logs.export_failures;
	st.queue_size = x.queue_len;
	st.spool_bytes = x.spool_bytes + x.metrics.spool_bytes + x.logs.spool_bytes;
	st.tasks_stuck = r->stuck;
	if (r->traces) {
		st.view_traces = tt_traces__count(r->traces);
		st.view_bytes = tt_traces__bytes(r->traces);
	}
	tt_metrics__set_agent(r->metrics, &st);
}

/* /metrics: the metrics as they are now. */
static int provide_metrics(FILE *out, void *ctx)
{
	struct run *r = ctx;

	count_tasks(r);
	update_agent_metrics(r);
	return tt_prom__write(r->metrics, out);
}

/* What the exporter's state is, for people; and whether it is a problem. */
static const char *exporter_state(const struct run *r, const struct tt_exporter_stats *x,
				  bool *down)
{
	*down = false;
	if (!r->exporter)
		return r->json ? "json" : "console";
	*down = !x->collector_up || !x->metrics.collector_up || !x->logs.collector_up;
	if (*down)
		return x->spool_enabled ? "retrying, spooling" : "retrying";
	if (x->spool_files || x->metrics.spool_files || x->logs.spool_files)
		return "replaying the spool";
	return "ok";
}

static void json_kv_str(FILE *out, const char *key, const char *val, bool comma)
{
	fprintf(out, "\"%s\":", key);
	tt_json__str(out, val, strlen(val));
	if (comma)
		fputc(',', out);
}

/* The specs of /health: file, whether in use, the error when not. */
static void health_specs(FILE *out, const struct run *r)
{
	fputs("\"specs\":[", out);
	for (size_t i = 0; i < r->nslots; i++) {
		const struct slot *s = r->slots[i];

		fputs(i ? ",{" : "{", out);
		json_kv_str(out, "file", s->file, true);
		if (s->spec && s->error[0]) {
			/* an edit that could not be used: the previous version runs */
			fprintf(out, "\"ok\":true,\"hooks\":%d,", s->spec->nhooks);
			json_kv_str(out, "reload_error", s->error, false);
			fputc('}', out);
		} else if (s->spec) {
			fprintf(out, "\"ok\":true,\"hooks\":%d}", s->spec->nhooks);
		} else {
			fputs("\"ok\":false,", out);
			json_kv_str(out, "error", s->error, false);
			fputc('}', out);
		}
	}
	fputs("],", out);
}

/* The attachments of /health: what is attached where, for `tasktap status`. */
static void health_attachments(FILE *out, const struct run *r)
{
	bool first = true;

	fputs("\"attachments\":[", out);
	for (const struct place *p = r->places; p; p = p->next) {
		for (size_t i = 0; i < p->nhooks; i++) {
			const struct tt_hook *h = p->hooks[i].hook;
			char where[256];

			if (h->usdt)
				snprintf(where, sizeof(where), "usdt %s:%s", h->provider, h->usdt);
			else
				snprintf(where, sizeof(where), "%s",
					 h->function ? h->function : h->symbol);
			fputs(first ? "{" : ",{", out);
			first = false;
			json_kv_str(out, "spec", p->slot->file, true);
			fprintf(out, "\"hook\":%u,", p->hooks[i].gid);
			json_kv_str(out, "role", tt_role__name(h->probe->role), true);
			json_kv_str(out, "function", where, true);
			json_kv_str(out, "file", p->shown, true);
			fprintf(out, "\"pid\":%d,\"pinned\":%s}", (int)p->pid,
				tt_link__adopted(p->hooks[i].link) ? "\"adopted\"" : "false");
		}
	}
	fputs("],", out);
}

/* What /health adds for `tasktap status`: specs, attachments, rates, discovery. */
static void health_extra(FILE *out, void *ctx)
{
	const struct run *r = ctx;
	struct tt_asm_stats as;

	asm_stats(r, &as);
	if (r->exporter) {
		struct tt_exporter_stats x = {0};

		tt_exporter__stats(r->exporter, &x);
		tt_exporter__write_rejections(out, &x);
	}
	health_specs(out, r);
	health_attachments(out, r);
	fprintf(out,
		"\"events_received\":%" PRIu64 ",\"events_per_second\":%.1f,"
		"\"processes_discovered\":%" PRIu64 ",\"execs_seen\":%" PRIu64
		",\"reloads\":%" PRIu64 ",\"uptime_seconds\":%.0f,\"pinned\":%s,",
		as.events, r->events_per_s, r->discovered, r->execs, r->reloads,
		(double)(tt_now_ns(CLOCK_MONOTONIC) - r->started_ns) / 1e9,
		r->loader && tt_loader__adopted(r->loader) ? "\"adopted\""
		: r->pin_dir				   ? "true"
							   : "false");
}

/* /health: the numbers, and what makes it degraded besides drops and losses. */
static void provide_health(struct tt_health *h, void *ctx)
{
	static char refusing[128]; /* the event loop's: read before the next call */
	struct run *r = ctx;
	struct tt_exporter_stats x = {0};
	struct tt_asm_stats as = {0};
	bool down;

	count_tasks(r);
	if (r->exporter)
		tt_exporter__stats(r->exporter, &x);
	asm_stats(r, &as);
	h->extra = health_extra;
	h->extra_ctx = r;
	if (r->loader) {
		h->probes_attached = (uint64_t)tt_loader__attached(r->loader);
		h->events_lost = tt_loader__stat(r->loader, TT_STAT_LOST) +
				 tt_loader__stat(r->loader, TT_STAT_LOST_EXITS);
	}
	h->exporter = exporter_state(r, &x, &down);
	h->queue_size = x.queue_len;
	h->spool_bytes = x.spool_bytes + x.metrics.spool_bytes + x.logs.spool_bytes;
	h->spans_dropped = dropped_spans(&x);
	h->open_spans = as.open_spans;
	h->stuck_tasks = r->stuck;
	if (down)
		h->degraded = "the collector is unreachable";
	else if (r->exporter && tt_exporter__refusing(&x, refusing, sizeof(refusing)))
		h->degraded = refusing;
}

/* /tasks: one entry per open task; the step is the innermost open one. */
struct task_emit {
	tt_task_emit_fn emit;
	void *emit_ctx;
	uint64_t now;
	uint64_t stuck_after_ns;
};

/* The value of attribute `key` of `span`, or NULL. Points into `span` or `num`. */
static const char *span_attr(const struct tt_span *span, const char *key, char *num, size_t numlen,
			     size_t *len)
{
	struct tt_kv kv[TT_SPAN_MAX_KV];
	int n = tt_span__attrs(span, kv);

	for (int i = 0; i < n; i++) {
		if (strcmp(kv[i].key, key))
			continue;
		if (kv[i].type == TT_KV_STR) {
			*len = strnlen(kv[i].str, kv[i].len);
			return kv[i].str;
		}
		snprintf(num, numlen, "%" PRId64, kv[i].i);
		*len = strlen(num);
		return num;
	}
	return NULL;
}

/* The service and process of a task for the task view, from its spec. */
static void view_task_more(const struct tt_span *task, struct tt_task_more *more)
{
	const struct tt_target *tg = task->probe ? task->probe->target : NULL;
	const char *slash;

	if (!tg)
		return;
	if (tg->spec && tg->spec->service)
		more->service = tg->spec->service;
	if (tg->comm) {
		more->process = tg->comm;
	} else if (tg->path) {
		slash = strrchr(tg->path, '/');
		more->process = slash ? slash + 1 : tg->path;
	}
}

static void emit_task(const struct tt_span *task, const struct tt_span *step, void *ctx)
{
	struct task_emit *te = ctx;
	struct tt_task_info info = {.name = task->name,
				    .name_len = strnlen(task->name, sizeof(task->name)),
				    .pid = task->pid};
	struct tt_task_more more = {.service = "", .process = "", .attempt = 1};
	char id_num[24], step_num[24], attempt_num[24];
	const char *attempt;
	size_t attempt_len;

	view_task_more(task, &more);
	attempt = span_attr(task, tt_task_attrs.attempt, attempt_num, sizeof(attempt_num),
			    &attempt_len);
	if (attempt && attempt_len < sizeof(attempt_num) && attempt == attempt_num)
		more.attempt = (uint32_t)strtoul(attempt_num, NULL, 10);
	more.stuck = te->now > task->start_ns && te->now - task->start_ns > te->stuck_after_ns;
	info.more = &more;
	info.age_seconds = te->now > task->start_ns ? (double)(te->now - task->start_ns) / 1e9 : 0;
	info.id = span_attr(task, tt_task_attrs.id, id_num, sizeof(id_num), &info.id_len);
	if (step) {
		info.step = span_attr(step, tt_task_attrs.step, step_num, sizeof(step_num),
				      &info.step_len);
		if (!info.step) {
			info.step = step->name;
			info.step_len = strnlen(step->name, sizeof(step->name));
		}
	}
	te->emit(&info, te->emit_ctx);
}

static void provide_tasks(tt_task_emit_fn emit, void *emit_ctx, void *ctx)
{
	struct run *r = ctx;
	struct task_emit te = {
		.emit = emit, .emit_ctx = emit_ctx, .stuck_after_ns = r->stuck_after_ns};

	te.now = tt_now_ns(CLOCK_MONOTONIC);
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__for_each_task(r->slots[i]->assembler, 0, emit_task, &te);
	}
}

/*
 * Whether every place is a single process named by the spec, and all of
 * them are gone (and nothing is discovered as it starts).
 */
static bool all_targets_gone(struct run *r)
{
	bool any_pid = false;

	if (r->discovery || r->args_spec_dir)
		return false;
	for (const struct place *p = r->places; p; p = p->next) {
		if (p->pid <= 0)
			return false;
		any_pid = true;
		if (tt_proc__alive(p->pid))
			return false;
	}
	return any_pid;
}

static int add_fd(int epfd, int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

static void reload(struct run *r);

/* Samples the rate of events once a second, for /health and `tasktap status`. */
static void sample_rate(struct run *r, uint64_t now)
{
	struct tt_asm_stats as;

	asm_stats(r, &as);
	if (r->rate_at_ns && now > r->rate_at_ns && as.events >= r->rate_events)
		r->events_per_s =
			(double)(as.events - r->rate_events) * 1e9 / (double)(now - r->rate_at_ns);
	r->rate_events = as.events;
	r->rate_at_ns = now;
}

/* Watches --spec-dir for files written, moved in or out, or removed. Returns the fd or -1. */
static int watch_spec_dir(const char *dir)
{
	int fd;

	if (!dir)
		return -1;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
				      IN_ATTRIB) < 0) {
		tt_warn("cannot watch spec directory '%s': %s (reload with SIGHUP)", dir,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Once a second: losses, expiries, metrics, processes gone, and the rate. */
static bool housekeeping(struct run *r, uint64_t now)
{
	report_lost(r);
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->assembler) /* begin/end spans that saw no end */
			tt_asm__expire(r->slots[i]->assembler, now);
	}
	drop_places(r, gone, NULL); /* processes whose exit event was lost */
	count_tasks(r);
	sample_rate(r, now);
	update_agent_metrics(r);
	/* idle connections time out only when MHD runs */
	if (r->httpd)
		tt_httpd__run(r->httpd);
	if (all_targets_gone(r)) {
		tt_warn("every traced process has exited");
		return true;
	}
	return false;
}

/*
 * Runs the event loop until SIGINT or SIGTERM, the deadline, or every
 * target process is gone. SIGHUP, and a change in --spec-dir, reload the
 * specs.
 */
static int event_loop(struct run *r, double duration)
{
	struct itimerspec tick = {.it_interval = {0, DRAIN_INTERVAL_NS},
				  .it_value = {0, DRAIN_INTERVAL_NS}};
	uint64_t start = tt_now_ns(CLOCK_MONOTONIC), next_housekeeping = start + HOUSEKEEPING_NS;
	int epfd = -1, tfd = -1, sfd = -1, ring_fd = tt_loader__epoll_fd(r->loader);
	int hfd = r->httpd ? tt_httpd__fd(r->httpd) : -1;
	int ifd = watch_spec_dir(r->args_spec_dir);
	sigset_t mask;
	int ret = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (epfd < 0 || tfd < 0 || sfd < 0 || timerfd_settime(tfd, 0, &tick, NULL) ||
	    add_fd(epfd, tfd) || add_fd(epfd, sfd) || add_fd(epfd, ring_fd) ||
	    (hfd >= 0 && add_fd(epfd, hfd)) || (ifd >= 0 && add_fd(epfd, ifd))) {
		ret = -errno;
		tt_warn("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}

	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, -1);
		uint64_t now;
		bool stop = false, serve_http = false;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			tt_warn("epoll_wait failed: %s", strerror(errno));
			break;
		}
		now = tt_now_ns(CLOCK_MONOTONIC);
		for (int i = 0; i < n; i++) {
			uint64_t ticks;
			struct signalfd_siginfo si;
			char buf[4096];

			if (evs[i].data.fd == tfd && read(tfd, &ticks, sizeof(ticks)) < 0)
				continue;
			if (evs[i].data.fd == sfd && read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					r->reload_now = true;
				else
					stop = true;
			}
			if (evs[i].data.fd == hfd)
				serve_http = true;
			if (evs[i].data.fd == ifd) {
				while (read(ifd, buf, sizeof(buf)) > 0)
					;
				r->reload_at_ns = now + RELOAD_SETTLE_NS;
			}
		}
		drain(r, now - REORDER_SLACK_NS);
		if (r->reload_now || (r->reload_at_ns && now >= r->reload_at_ns)) {
			r->reload_now = false;
			r->reload_at_ns = 0;
			reload(r);
		}
		/* after the drain: what HTTP answers includes what just arrived */
		if (serve_http)
			tt_httpd__run(r->httpd);
		if (duration > 0 && now - start >= (uint64_t)(duration * 1e9))
			stop = true;
		if (now >= next_housekeeping) {
			next_housekeeping = now + HOUSEKEEPING_NS;
			stop |= housekeeping(r, now);
		}
		if (stop)
			break;
	}
out:
	if (ifd >= 0)
		close(ifd);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (epfd >= 0)
		close(epfd);
	return ret;
}

/* One line of totals for metrics or logs. */
static void report_signal(const char *what, const char *items, const struct tt_signal_stats *s)
{
	tt_warn("%s: %" PRIu64 " %s exported in %" PRIu64 " requests, %" PRIu64
		" in the spool, %" PRIu64 " dropped (queue full %" PRIu64 ", rejected %" PRIu64
		", spool full %" PRIu64 ", failed %" PRIu64 ")",
		what, s->exported, items, s->batches_sent, s->spool_items,
		s->dropped_queue_full + s->dropped_rejected + s->dropped_spool_full +
			s->dropped_failed + s->dropped_encode,
		s->dropped_queue_full, s->dropped_rejected, s->dropped_spool_full,
		s->dropped_failed + s->dropped_encode);
}

/* Flushes the OTLP exporter (to the collector, else to the spool) and reports its totals. */
static void stop_exporter(struct run *r)
{
	struct tt_exporter_stats x;

	tt_exporter__stop(r->exporter, TT_EXPORT_SHUTDOWN_MS);
	tt_exporter__stats(r->exporter, &x);
	if (x.metrics.enabled)
		report_signal("otlp metrics", "data points", &x.metrics);
	if (x.logs.enabled)
		report_signal("otlp logs", "log records", &x.logs);
	if (!tt_otlp_config__enabled(&r->otlp[TT_SIGNAL_TRACES]))
		return;
	tt_warn("otlp: %" PRIu64 " spans exported, %" PRIu64 " in the spool (%" PRIu64
		" batches), %" PRIu64 " dropped (queue full %" PRIu64 ", rejected %" PRIu64
		", spool full %" PRIu64 ", failed %" PRIu64 "), %" PRIu64 " sampled out",
		x.spans_exported, x.spool_spans, x.spool_files,
		x.dropped_queue_full + x.dropped_rejected + x.dropped_spool_full +
			x.dropped_failed + x.dropped_encode,
		x.dropped_queue_full, x.dropped_rejected, x.dropped_spool_full, x.dropped_failed,
		x.spans_sampled_out);
}

/* Whether a place is the spec's own single process, gone before its exit event was seen. */
static bool pid_place_gone(const struct place *p)
{
	return p->pid > 0 && !tt_proc__alive(p->pid);
}

/* ---- open spans across a restart (--pin) ---------------------------------- */

#define HANDOVER_VERSION 1

/*
 * An open span as one agent hands it to the next. The hook is named by
 * its global id, which the same specs give the same hook in the next
 * agent, and checked by its probe's digest.
 */
struct handover_rec {
	uint32_t version; /* HANDOVER_VERSION */
	uint16_t gid;
	uint16_t pad;
	uint64_t digest; /* of the span's probe */
	struct tt_span span;
};

struct handover {
	struct run *r;
	struct slot *slot;
	struct handover_rec *recs; /* owned */
	size_t n, cap;
	bool short_of_memory; /* some span could not be kept: hand none over */
	size_t continued, refused;
};

static void hand_over_span(const struct tt_span *span, void *ctx)
{
	struct handover *h = ctx;
	struct handover_rec *rec;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 256;
		struct handover_rec *more = realloc(h->recs, cap * sizeof(*more));

		if (!more) {
			h->short_of_memory = true;
			return;
		}
		h->recs = more;
		h->cap = cap;
	}
	rec = &h->recs[h->n++];
	memset(rec, 0, sizeof(*rec));
	rec->version = HANDOVER_VERSION;
	rec->gid = h->slot->gid[span->hook->id];
	rec->digest = span->probe->digest;
	rec->span = *span;
	rec->span.probe = NULL;
	rec->span.hook = NULL;
}

/*
 * With --pin, the spans still open when the agent stops are handed to the
 * next agent instead of being ended: their ends are recorded in the
 * pinned rings meanwhile. Returns whether they were (else they are ended).
 */
static bool hand_over(struct run *r)
{
	struct handover h = {.r = r};
	char err[512];
	int ret;

	for (size_t i = 0; i < r->nslots; i++) {
		h.slot = r->slots[i];
		if (h.slot->assembler)
			tt_asm__for_each_open(h.slot->assembler, hand_over_span, &h);
	}
	if (h.short_of_memory) {
		snprintf(err, sizeof(err), "cannot hand the open spans over: %s", strerror(ENOMEM));
		ret = -ENOMEM;
	} else {
		ret = tt_handover__put(r->pin_dir, h.recs, sizeof(*h.recs), h.n, err, sizeof(err));
	}
	free(h.recs);
	if (ret) {
		tt_warn("%s: ending the open spans instead", err);
		return false;
	}
	if (h.n)
		tt_warn("handed %zu open spans over to the next agent (in %s)", h.n, r->pin_dir);
	return true;
}

static void take_span(const void *p, void *ctx)
{
	const struct handover_rec *rec = p;
	struct handover *h = ctx;
	const struct gid_owner *o;
	const struct tt_hook *hook = NULL;

	o = rec->gid && rec->gid <= TT_MAX_PROBES ? &h->r->owner[rec->gid] : NULL;
	if (rec->version == HANDOVER_VERSION && o && o->slot && o->slot->spec)
		hook = tt_spec__hook(o->slot->spec, o->local);
	if (hook && hook->probe->digest == rec->digest &&
	    tt_asm__restore(o->slot->assembler, &rec->span, hook) == 0)
		h->continued++;
	else
		h->refused++;
}

/* Continues the spans the agent before this one left open (see hand_over()). */
static void take_over(struct run *r)
{
	struct handover h = {.r = r};
	char err[512];
	int n = tt_handover__take(r->pin_dir, sizeof(struct handover_rec), take_span, &h, err,
				  sizeof(err));

	if (n < 0)
		tt_warn("%s", err);
	if (h.continued)
		tt_warn("continuing %zu spans the earlier agent left open", h.continued);
	if (h.refused)
		tt_warn("cannot continue %zu spans the earlier agent left open: their probes are "
			"not in the specs now",
			h.refused);
}

/*
 * Detaches (with --pin: leaves the pinned probes in the kernel for the
 * next agent), drains what is left, and ends what is still open.
 */
static void shut_down(struct run *r)
{
	struct tt_asm_stats st;
	bool handed;
	uint64_t now;

	if (!r->loader)
		return;
	r->stopping = true;
	set_watches(r); /* no more stopped execs: nobody would continue them */
	for (const struct place *p = r->places; p; p = p->next) {
		/* a target that died before its exit event was seen: end its spans */
		if (pid_place_gone(p) && p->slot->assembler)
			tt_asm__end_process(p->slot->assembler, p->pid, tt_now_ns(CLOCK_MONOTONIC),
					    0);
	}
	tt_loader__detach(r->loader, r->pin_dir != NULL);
	while (r->places) {
		struct place *p = r->places;

		r->places = p->next;
		p->nhooks = 0; /* the loader let go of them */
		free_place(r, p);
	}
	drain(r, UINT64_MAX);
	report_lost(r);
	now = tt_now_ns(CLOCK_MONOTONIC);
	handed = r->pin_dir && hand_over(r);
	for (size_t i = 0; !handed && i < r->nslots; i++) {
		if (r->slots[i]->assembler)
			tt_asm__end_all(r->slots[i]->assembler, now);
	}
	asm_stats(r, &st);
	if (r->console)
		tt_console__flush(r->console);
	tt_warn("%" PRIu64 " spans, %" PRIu64 " events, %" PRIu64 " lost, %" PRIu64
		" ended early (process exit)",
		st.spans_finished, st.events, r->lost_reported, st.cut_by_exit);
	/* the last metrics export reads these */
	count_tasks(r);
	update_agent_metrics(r);
	if (r->exporter)
		stop_exporter(r);
}

/* The service.name for spans without a spec service: the first spec's, else the environment's. */
static const char *service_name(const struct run *r)
{
	const char *env = getenv("OTEL_SERVICE_NAME");

	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->spec && r->slots[i]->spec->service)
			return r->slots[i]->spec->service;
	}
	if (env && *env)
		return env;
	for (const struct place *p = r->places; p; p = p->next) {
		const char *slash = strrchr(p->shown, '/');

		if (!strchr(p->shown, ' '))
			return slash ? slash + 1 : p->shown;
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

#define MAX_OTLP_ARGS 64

struct run_args {
	const char *specs[MAX_SPEC_ARGS]; /* the positional SPEC and each --spec */
	size_t nspecs;
	const char *spec_dir; /* --spec-dir */
	const char *pin_dir;  /* --pin */
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
	bool log_steps;
	bool logs; /* --logs: OTLP logs (with an endpoint) */
	double duration;
	size_t ring_bytes;
	const char *http_addr; /* NULL: TT_HTTPD_DEFAULT_ADDR */
	bool no_http;
	bool http_allow_remote;
	double stuck_after;	/* seconds */
	uint32_t recent_traces; /* the task view's ring; 0: TT_TRACES_DEFAULT_CAPACITY */
};

/* Warnings about the environment, once each although three configs read it. */
static void warn_once(const char *msg, void *ctx)
{
	static char seen[16][256];
	static int n;

	for (int i = 0; i < n; i++) {
		if (!strcmp(seen[i], msg))
			return;
	}
	if (n < 16)
		snprintf(seen[n++], sizeof(seen[0]), "%s", msg);
	tt_warn("%s", msg);
}

/* One signal's settings: the environment, then the command line. 0 or -errno. */
static int read_otlp(struct tt_otlp_config *c, enum tt_otlp_signal sig, const struct run_args *a)
{
	struct tt_env env = {.warn = warn_once};
	char err[512];
	int ret;

	tt_otlp_config__init_signal(c, sig);
	ret = tt_otlp_config__from_env(c, &env);
	if (ret) {
		tt_warn("cannot read the OTLP settings: %s", strerror(-ret));
		return ret;
	}
	for (int i = 0; i < a->notlp; i++) {
		ret = tt_otlp_config__set(c, a->otlp[i].key, a->otlp[i].value, err, sizeof(err));
		if (ret) {
			tt_warn("--%s: %s", a->otlp[i].key, err);
			return -EINVAL;
		}
	}
	if (a->logs)
		c->logs_on = true;
	return 0;
}

/* Says where each exported signal goes. */
static void report_otlp(const struct run *r)
{
	static const char *const what[TT_SIGNAL__COUNT] = {"spans", "metrics", "logs"};
	char url[512];

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		const struct tt_otlp_config *c = &r->otlp[s];

		if (!tt_otlp_config__enabled(c) || tt_otlp_config__url(c, url, sizeof(url)))
			continue;
		if (s == TT_SIGNAL_METRICS)
			tt_warn("exporting metrics to %s every %u ms (%s%s)", url, c->interval_ms,
				tt_otlp_protocol__name(c->protocol), c->gzip ? ", gzip" : "");
		else
			tt_warn("exporting %s to %s (%s%s)", what[s], url,
				tt_otlp_protocol__name(c->protocol), c->gzip ? ", gzip" : "");
	}
}

/*
 * OTLP settings: the OTEL_* environment, then the command line over it.
 * With an endpoint configured, starts the exporter. Returns 0, or -errno
 * after saying why.
 */
static int setup_otlp(struct run *r, const struct run_args *a)
{
	struct tt_exporter_opts o = {0};
	bool any = false;
	char err[512];
	int ret;

	for (int s = 0; s < TT_SIGNAL__COUNT; s++) {
		ret = read_otlp(&r->otlp[s], s, a);
		if (ret)
			return ret;
		any = any || tt_otlp_config__enabled(&r->otlp[s]);
	}
	if (a->logs && !tt_otlp_config__enabled(&r->otlp[TT_SIGNAL_LOGS])) {
		tt_warn("--logs: no OTLP endpoint to send logs to (set OTEL_EXPORTER_OTLP_ENDPOINT "
			"or --otlp-endpoint; --log-steps prints them)");
		return -EINVAL;
	}
	if (!any)
		return 0;
	o.cfg = &r->otlp[TT_SIGNAL_TRACES];
	o.metrics_cfg = &r->otlp[TT_SIGNAL_METRICS];
	o.logs_cfg = &r->otlp[TT_SIGNAL_LOGS];
	o.metrics = r->metrics;
	/* one service for every spec: the exporter takes one (see the README) */
	for (size_t i = 0; i < r->nslots && !o.spec_service; i++)
		o.spec_service = r->slots[i]->spec ? r->slots[i]->spec->service : NULL;
	o.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	o.seed = tt_now_ns(CLOCK_REALTIME) ^ (uint64_t)getpid();
	r->exporter = tt_exporter__new(&o, err, sizeof(err));
	if (!r->exporter) {
		tt_warn("cannot start the OTLP exporter: %s", err);
		return -errno;
	}
	report_otlp(r);
	return 0;
}

/* Writes "HOST:PORT" (or "[V6]:PORT") of the address the server listens on. */
static void http_address(const struct run_args *a, uint16_t port, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[INET6_ADDRSTRLEN] = "127.0.0.1", err[256];

	if (!tt_httpd__parse_addr(a->http_addr, true, &ss, &sslen, err, sizeof(err))) {
		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof(host));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
				  sizeof(host));
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* The task view: the ring of recent traces and the routes that read it. */
static int setup_view(struct run *r, const struct run_args *a)
{
	struct tt_traces_opts to = {.capacity = a->recent_traces};
	struct tt_view_opts vo = {.metrics = r->metrics,
				  .tasks = provide_tasks,
				  .tasks_ctx = r,
				  .stuck_after_seconds = a->stuck_after};

	to.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	r->traces = tt_traces__new(&to);
	vo.traces = r->traces;
	r->view = r->traces ? tt_view__new(&vo) : NULL;
	if (!r->view) {
		tt_warn("cannot start the task view: %s", strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

/*
 * Listens for /metrics, /health and /tasks (unless --no-http), before
 * anything is attached, so that a taken port stops the agent early.
 * Returns 0, -EINVAL (a bad address: exit 2), or -errno.
 */
static int setup_http(struct run *r, const struct run_args *a)
{
	struct tt_httpd_opts o = {
		.addr = a->http_addr,
		.allow_remote = a->http_allow_remote,
		.providers = {.metrics = provide_metrics,
			      .health = provide_health,
			      .tasks = provide_tasks,
			      .ctx = r,
			      .route = tt_view__route},
	};
	char err[512], where[80];

	if (a->no_http)
		return 0;
	if (setup_view(r, a))
		return -ENOMEM;
	o.providers.route_ctx = r->view;
	r->httpd = tt_httpd__new(&o, err, sizeof(err));
	if (!r->httpd) {
		tt_warn("%s", err);
		return errno == EINVAL || errno == EPERM ? -EINVAL : -errno;
	}
	http_address(a, tt_httpd__port(r->httpd), where, sizeof(where));
	tt_warn("http: serving the task view, /api, /metrics, /health and /tasks on http://%s",
		where);
	tt_warn("http: open http://%s/ in a browser to see the tasks", where);
	return 0;
}

/* ---- specs ---------------------------------------------------------------- */

/* Whether the spec has targets found as processes start. */
static bool has_discovery(const struct tt_spec *spec)
{
	for (int i = 0; i < spec->ntargets; i++) {
		const struct tt_target *t = &spec->targets[i];

		/* an exact path too: a container may run its own copy of the file */
		if (t->kind == TT_TARGET_COMM || (t->kind == TT_TARGET_BINARY && t->path[0] == '/'))
			return true;
	}
	return false;
}

/* Whether place p belongs to slot ctx. */
static bool of_slot(struct place *p, void *ctx)
{
	return p->slot == ctx;
}

/*
 * Frees a spec, or keeps it until the agent stops when spans of it may
 * still wait in the exporter's queue or among the console's unfinished
 * trees, pointing at its probes.
 */
static void retire_spec(struct run *r, struct tt_spec *spec)
{
	struct tt_spec **more;

	if (!spec)
		return;
	if (!r->exporter && !r->console) {
		tt_spec__free(spec);
		return;
	}
	more = realloc(r->retired, (r->nretired + 1) * sizeof(*more));
	if (!more)
		return; /* out of memory: leak it rather than free it under the exporter */
	r->retired = more;
	r->retired[r->nretired++] = spec;
}

/* Ends a slot: its probes detached, its open spans ended, its ids free. Accepts NULL. */
static void free_slot(struct run *r, struct slot *s)
{
	if (!s)
		return;
	drop_places(r, of_slot, s);
	if (s->assembler) {
		/* what it recorded before its probes went is still its own */
		drain(r, UINT64_MAX);
		tt_asm__end_all(s->assembler, tt_now_ns(CLOCK_MONOTONIC));
	}
	release_gids(r, s);
	tt_asm__free(s->assembler);
	retire_spec(r, s->spec);
	free(s->file);
	free(s);
}

/*
 * Attaches the attachments of `plan` (of slot s's spec), as places: one
 * per target, file and process, or the one already there. 0 or -errno
 * with a message in err.
 */
static int attach_plan(struct run *r, struct slot *s, const struct tt_plan *plan, char *err,
		       size_t errlen)
{
	size_t i = 0;
	int ret = 0;

	for (size_t k = 0; k < plan->n; k++) {
		if (plan->at[k].cost == TT_INSN_STEPPED)
			tt_warn("warning: probe on '%s' lands on an instruction the kernel "
				"single-steps (slow)",
				plan->at[k].hook->function ? plan->at[k].hook->function
							   : plan->at[k].probe->symbol);
	}
	/* one place per run of attachments of one target at one file and process */
	while (!ret && i < plan->n) {
		const struct tt_attachment *first = &plan->at[i];
		struct tt_plan part = {.at = plan->at + i, .n = 0};
		struct place *p;
		struct stat st;

		while (i + part.n < plan->n &&
		       plan->at[i + part.n].probe->target == first->probe->target &&
		       plan->at[i + part.n].pid == first->pid &&
		       !strcmp(plan->at[i + part.n].path, first->path))
			part.n++;
		i += part.n;
		if (stat(first->path, &st)) {
			snprintf(err, errlen, "cannot read '%s': %s", first->shown,
				 strerror(errno));
			ret = -errno;
			break;
		}
		p = find_place(r, s, first->probe->target, st.st_dev, st.st_ino, first->pid);
		if (!p) {
			p = new_place(s, first->probe->target, &st, first->pid, first->shown, true);
			if (!p) {
				ret = -ENOMEM;
				break;
			}
			p->next = r->places;
			r->places = p;
		}
		p->stale = false;
		ret = attach_into(r, p, &part);
		if (ret)
			snprintf(err, errlen, "%s: cannot attach (said above)", s->file);
	}
	return ret;
}

/* Attaches the places the spec names itself (its plan), each file or process once. */
static int attach_fixed(struct run *r, struct slot *s, const struct run_args *a, char *err,
			size_t errlen)
{
	struct tt_plan plan = {0};
	int ret;

	ret = tt_plan__build(s->spec, a->pid, a->binary, &plan, err, errlen);
	if (!ret)
		ret = attach_plan(r, s, &plan, err, errlen);
	tt_plan__release(&plan);
	return ret;
}

/* Says which exact binary: paths are not on this host (only in containers, or a typo). */
static void note_absent_binaries(const struct slot *s)
{
	for (int i = 0; i < s->spec->ntargets; i++) {
		const struct tt_target *t = &s->spec->targets[i];

		if (tt_target__only_in_containers(t))
			tt_warn("%s:%d:%d: '%s' is not on this host: its probes attach to each "
				"process that runs it (in a container) as it starts",
				s->file, t->pos.line, t->pos.col, t->path);
	}
}

/*
 * Loads the spec file `file` into a new slot: parse, assembler, then
 * attach what it names. A problem is reported on stderr and kept in the
 * slot (no spec, no probes) so that the other specs keep working and
 * `tasktap status` shows it. Returns the slot, or NULL without memory.
 */
static struct slot *load_slot(struct run *r, const char *file, const char *dir)
{
	const struct run_args *a = r->args;
	struct tt_asm_opts aopts = {0};
	struct slot *s = calloc(1, sizeof(*s));
	struct tt_spec_text t;
	char err[1024];
	int ret;

	if (!s)
		return NULL;
	s->run = r;
	s->file = strdup(file);
	if (!s->file) {
		free(s);
		return NULL;
	}
	s->dir = dir;
	ret = tt_spec_file__read(file, dir, &t, err, sizeof(err));
	s->digest = t.digest;
	if (!ret)
		ret = tt_spec__parse(file, t.text, t.len, &s->spec, err, sizeof(err));
	tt_spec_text__release(&t);
	if (!ret) {
		aopts.spec = s->spec;
		aopts.seed = tt_now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32) ^ s->digest;
		aopts.on_span = on_span;
		aopts.ctx = s;
		s->assembler = tt_asm__new(&aopts);
		if (!s->assembler) {
			snprintf(err, sizeof(err), "cannot create the assembler: %s",
				 strerror(errno));
			ret = -errno;
		}
	}
	/* every hook of the spec gets its id now: the same ids for the same specs */
	for (int id = 1; !ret && id <= s->spec->nhooks; id++)
		ret = gid_of(r, s, id) ? 0 : -ERANGE;
	if (!ret) {
		s->discovers = !a->pid && !a->binary && has_discovery(s->spec);
		ret = attach_fixed(r, s, a, err, sizeof(err));
	}
	if (!ret)
		note_absent_binaries(s);
	if (ret) {
		snprintf(s->error, sizeof(s->error), "%s", err);
		tt_warn("%s", err);
		drop_places(r, of_slot, s);
		release_gids(r, s);
		tt_asm__free(s->assembler);
		tt_spec__free(s->spec);
		s->assembler = NULL;
		s->spec = NULL;
	}
	return s;
}

static int add_slot(struct run *r, struct slot *s)
{
	struct slot **more = realloc(r->slots, (r->nslots + 1) * sizeof(*more));

	if (!more)
		return -ENOMEM;
	r->slots = more;
	r->slots[r->nslots++] = s;
	return 0;
}

static void update_discovery(struct run *r)
{
	r->discovery = false;
	for (size_t i = 0; i < r->nslots; i++)
		r->discovery |= r->slots[i]->discovers;
}

/* The spec files now: the positional SPEC, each --spec, then --spec-dir's. */
static int collect_files(const struct run *r, struct tt_spec_files *files)
{
	char err[512];
	int ret = tt_spec_files__collect(r->args->specs, r->args->nspecs, r->args->spec_dir, files,
					 err, sizeof(err));

	if (ret)
		tt_warn("%s", err);
	return ret;
}

/*
 * Loads every spec file: the agent's start. Returns how many loaded
 * without a problem, or -errno.
 */
static int load_all(struct run *r)
{
	struct tt_spec_files files;
	int ok = 0, ret;

	ret = collect_files(r, &files);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < files.n; i++) {
		struct slot *s = load_slot(r, files.paths[i], tt_spec_files__dir(&files, i));

		ret = s ? add_slot(r, s) : -ENOMEM;
		if (ret)
			free_slot(r, s);
		else if (s->spec)
			ok++;
	}
	tt_spec_files__release(&files);
	update_discovery(r);
	set_watches(r);
	scan_processes(r, NULL);
	return ret ? ret : ok;
}

/* The slot of spec file `file`, or NULL. */
static struct slot *find_slot(struct run *r, const char *file)
{
	for (size_t i = 0; i < r->nslots; i++) {
		if (!strcmp(r->slots[i]->file, file))
			return r->slots[i];
	}
	return NULL;
}

/* The target of `spec` that is the same as t (tt_target__same()), or NULL. */
static const struct tt_target *same_target(const struct tt_spec *spec, const struct tt_target *t)
{
	for (int i = 0; i < spec->ntargets; i++) {
		if (tt_target__same(&spec->targets[i], t))
			return &spec->targets[i];
	}
	return NULL;
}

/*
 * Moves the places of slot s to spec `now` by `map` (tt_spec__match()):
 * a hook that stayed keeps its link, now under its new hook; the others
 * are detached; a place whose target went goes. Every place left is stale:
 * the next attach there adds what `now` added.
 */
static void move_places(struct run *r, struct slot *s, const struct tt_spec *now, const int *map)
{
	struct place **pp = &r->places;

	while (*pp) {
		struct place *p = *pp;
		size_t n = 0;

		if (p->slot != s) {
			pp = &p->next;
			continue;
		}
		p->target = same_target(now, p->target);
		for (size_t i = 0; i < p->nhooks; i++) {
			int to = p->target ? map[p->hooks[i].hook->id] : 0;

			if (!to) {
				tt_loader__detach_link(r->loader, p->hooks[i].link);
				continue;
			}
			p->hooks[n] = p->hooks[i];
			p->hooks[n++].hook = tt_spec__hook(now, to);
		}
		p->nhooks = n;
		p->stale = true;
		if (!p->target) {
			*pp = p->next;
			free_place(r, p);
		} else {
			pp = &p->next;
		}
	}
}

/*
 * Gives slot s's global ids to spec `now`: a hook that stayed keeps the id
 * of the hook it was (its links carry that id as their cookie), the ids
 * of hooks that went are free again.
 */
static void move_gids(struct run *r, struct slot *s, const struct tt_spec *now, const int *map,
		      int nold)
{
	uint16_t gid[TT_MAX_PROBES + 1] = {0};

	for (int h = 1; h <= nold; h++) {
		uint16_t g = s->gid[h];

		if (!g)
			continue;
		if (!map[h]) {
			memset(&r->owner[g], 0, sizeof(r->owner[g]));
			continue;
		}
		gid[map[h]] = g;
		r->owner[g].local = map[h];
		tt_loader__set_hook(r->loader, g, &tt_spec__hook(now, map[h])->prog);
	}
	memcpy(s->gid, gid, sizeof(gid));
}

/*
 * Reloads the changed spec file of slot s (`t`: its bytes now) in
 * place. Its hooks that stayed (tt_spec__match()) are never detached and
 * keep their global ids, so a function running now still reports its
 * return, and their open spans go on in the same assembler. Hooks that went are detached and their
 * open spans end; new ones are attached. A file that no longer parses, or whose own targets no
 * longer resolve, is reported and the slot keeps the spec it had.
 */
static void respec_slot(struct run *r, struct slot *s, const struct tt_spec_text *t)
{
	static int map[TT_MAX_PROBES + 1];
	struct tt_plan plan = {0};
	struct tt_spec *now = NULL;
	int nold = s->spec->nhooks;
	char err[1024];
	int ret;

	s->digest = t->digest;
	ret = tt_spec__parse(s->file, t->text, t->len, &now, err, sizeof(err));
	if (!ret)
		ret = tt_plan__build(now, r->args->pid, r->args->binary, &plan, err, sizeof(err));
	if (!ret) {
		memset(map, 0, sizeof(map));
		ret = tt_spec__match(s->spec, now, map);
		if (ret < 0)
			snprintf(err, sizeof(err), "%s: %s", s->file, strerror(-ret));
	}
	if (ret < 0) {
		snprintf(s->error, sizeof(s->error), "%s (the previous version stays in use)", err);
		tt_warn("%s", s->error);
		tt_plan__release(&plan);
		tt_spec__free(now);
		return;
	}
	s->error[0] = '\0';
	/* what the old hooks recorded is read with the old spec */
	drain(r, UINT64_MAX);
	move_places(r, s, now, map);
	drain(r, UINT64_MAX); /* and what they recorded until they were detached */
	move_gids(r, s, now, map, nold);
	tt_asm__respec(s->assembler, now, map, nold, tt_now_ns(CLOCK_MONOTONIC));
	retire_spec(r, s->spec);
	s->spec = now;
	for (int id = 1; id <= now->nhooks; id++)
		gid_of(r, s, id);
	s->discovers = !r->args->pid && !r->args->binary && has_discovery(now);
	if (attach_plan(r, s, &plan, err, sizeof(err)))
		snprintf(s->error, sizeof(s->error), "%s", err);
	tt_plan__release(&plan);
	tt_warn("reloaded '%s': %d of %d hooks kept with their open spans", s->file, ret, nold);
}

/*
 * Reads the spec files again (SIGHUP, a change in --spec-dir). A file
 * whose bytes did not change keeps everything; a changed one is reloaded
 * in place (respec_slot()), so that the probes that stayed keep their
 * open spans; a file removed is detached and its open spans ended; a new
 * one is loaded and attached.
 */
static void reload(struct run *r)
{
	struct tt_spec_files files;
	size_t kept = 0, changed = 0, added = 0, removed = 0, n = 0;

	if (collect_files(r, &files))
		return;
	r->reloads++;
	for (size_t i = 0; i < r->nslots; i++)
		r->slots[i]->keep = false;
	for (size_t i = 0; i < files.n; i++) {
		struct slot *s = find_slot(r, files.paths[i]);

		if (s)
			s->keep = true;
	}
	for (size_t i = 0; i < r->nslots; i++) {
		struct slot *s = r->slots[i];
		struct tt_spec_text t = {0};
		char err[512];

		if (s->keep && s->spec &&
		    tt_spec_file__read(s->file, s->dir, &t, err, sizeof(err))) {
			/* unreadable now: said, and the spec it had stays in use */
			snprintf(s->error, sizeof(s->error),
				 "%s (the previous version stays in use)", err);
			tt_warn("%s", s->error);
			s->digest = 0; /* readable again: reloaded, whatever it holds */
			kept++;
		} else if (s->keep && s->spec && t.digest == s->digest) {
			kept++;
		} else if (s->keep && s->spec) {
			respec_slot(r, s, &t);
			s->rescan = true;
			changed++;
		} else {
			/* gone, or broken before: a broken file is loaded afresh below */
			removed += s->spec && !s->keep;
			free_slot(r, s);
			continue;
		}
		tt_spec_text__release(&t);
		r->slots[n++] = s;
	}
	r->nslots = n;
	for (size_t i = 0; i < files.n; i++) {
		struct slot *s;

		if (find_slot(r, files.paths[i]))
			continue;
		s = load_slot(r, files.paths[i], tt_spec_files__dir(&files, i));
		if (!s || add_slot(r, s)) {
			free_slot(r, s);
			continue;
		}
		s->rescan = true;
		added += s->spec != NULL;
	}
	tt_spec_files__release(&files);
	update_discovery(r);
	set_watches(r);
	/* running processes of the new specs, and what changed ones added where they are */
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->rescan)
			scan_processes(r, r->slots[i]);
		r->slots[i]->rescan = false;
	}
	tt_loader__prune_pins(r->loader);
	tt_warn("reloaded specs: %zu unchanged, %zu changed, %zu loaded, %zu removed; "
		"%d probes attached",
		kept, changed, added, removed, tt_loader__attached(r->loader));
}

/*
 * Whether one of the specs given by name parses: checked before BPF is
 * loaded, so that a run with nothing to trace stops at once (with
 * --spec-dir the agent waits for a good file instead). When none does,
 * says why for each.
 */
static bool some_spec_parses(const struct run_args *a)
{
	struct tt_spec *spec = NULL;
	char err[1024];

	if (a->spec_dir)
		return true;
	for (size_t i = 0; i < a->nspecs; i++) {
		if (!tt_spec__load(a->specs[i], &spec, err, sizeof(err))) {
			tt_spec__free(spec);
			return true;
		}
	}
	for (size_t i = 0; i < a->nspecs; i++) {
		if (!tt_spec__load(a->specs[i], &spec, err, sizeof(err)))
			tt_spec__free(spec); /* changed in between: load_all() will tell */
		else
			tt_warn("%s", err);
	}
	return false;
}

static int run(const struct run_args *a)
{
	struct run r = {.json = a->json,
			.log_steps = a->log_steps,
			.args = a,
			.pin_dir = a->pin_dir,
			.args_spec_dir = a->spec_dir};
	struct tt_loader_opts lopts = {.ring_bytes = a->ring_bytes,
				       .pin_dir = a->pin_dir,
				       .on_event = on_ring_event,
				       .ctx = &r};
	char err[1024];
	int ret, ok;

	tt_reorder__init(&r.reorder);
	r.started_ns = tt_now_ns(CLOCK_MONOTONIC);
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
	if (!some_spec_parses(a)) {
		ret = 2;
		goto out;
	}
	r.stuck_after_ns = (uint64_t)(a->stuck_after * 1e9);
	r.metrics = tt_metrics__new(NULL);
	if (!r.metrics) {
		tt_warn("cannot create the metrics: %s", strerror(errno));
		ret = 1;
		goto out;
	}
	r.loader = tt_loader__new(&lopts, err, sizeof(err));
	if (!r.loader) {
		tt_warn("%s", err);
		ret = 1;
		goto out;
	}
	if (tt_loader__adopted(r.loader))
		tt_warn("adopted the probes and rings pinned in %s: draining what they recorded",
			a->pin_dir);
	/* before anything is attached, so that a taken port stops the agent early */
	ret = setup_http(&r, a);
	if (ret) {
		ret = ret == -EINVAL ? 2 : 1;
		goto out;
	}
	ok = load_all(&r);
	if (ok < 0 || (ok == 0 && !a->spec_dir)) {
		ret = ok == -ENOMEM ? 1 : 2;
		goto out;
	}
	if (r.nslots > (size_t)ok)
		tt_warn("%zu of %zu spec files have problems (said above); tracing the others",
			r.nslots - (size_t)ok, r.nslots);
	ret = setup_otlp(&r, a);
	if (ret) {
		ret = ret == -EINVAL ? 2 : 1;
		goto out;
	}
	r.jsonl.out = stdout;
	r.jsonl.mono_to_unix_ns = tt_now_ns(CLOCK_REALTIME) - tt_now_ns(CLOCK_MONOTONIC);
	r.steplines.out = stderr;
	r.steplines.mono_to_unix_ns = r.jsonl.mono_to_unix_ns;
	/* the waterfall, unless spans go out as JSON lines or to OTLP */
	if (!a->json && !tt_otlp_config__enabled(&r.otlp[TT_SIGNAL_TRACES])) {
		r.console = tt_console__new(stdout, a->color);
		if (!r.console) {
			ret = 1;
			goto out;
		}
	}
	r.jsonl.service = service_name(&r);
	if (a->pin_dir)
		take_over(&r);
	tt_loader__prune_pins(r.loader);
	tt_warn("attached %d probes (%zu spec%s%s); tracing, Ctrl-C to stop",
		tt_loader__attached(r.loader), r.nslots, r.nslots == 1 ? "" : "s",
		r.discovery ? ", and processes as they start" : "");
	update_agent_metrics(&r);
	ret = event_loop(&r, a->duration) ? 1 : 0;
out:
	shut_down(&r);
	tt_httpd__free(r.httpd);
	tt_view__free(r.view);
	tt_traces__free(r.traces);
	for (size_t i = 0; i < r.nslots; i++) {
		tt_asm__free(r.slots[i]->assembler);
		tt_spec__free(r.slots[i]->spec);
		free(r.slots[i]->file);
		free(r.slots[i]);
	}
	free(r.slots);
	tt_loader__free(r.loader);
	tt_exporter__free(r.exporter);
	for (size_t i = 0; i < r.nretired; i++)
		tt_spec__free(r.retired[i]);
	free(r.retired);
	for (int s = 0; s < TT_SIGNAL__COUNT; s++)
		tt_otlp_config__release(&r.otlp[s]);
	tt_metrics__free(r.metrics);
	tt_console__free(r.console);
	tt_reorder__release_all(&r.reorder);
	return ret;
}

static void usage_run(FILE *out)
{
	fprintf(out,
		"usage: %s run [SPEC] [--spec FILE]... [--spec-dir DIR] [--pin DIR]\n"
		"                   [--pid PID | --binary PATH] [--json] [--duration SECONDS]\n"
		"                   [--ring-size BYTES] [--no-color]\n"
		"                   [--otlp-endpoint URL] [--otlp-protocol PROTOCOL]\n"
		"                   [--otlp-header K=V]... [--otlp-compression gzip|none]\n"
		"                   [--otlp-timeout MS] [--spool DIR | --no-spool]\n"
		"                   [--logs] [--log-steps]\n"
		"                   [--http ADDR | --no-http] [--http-allow-remote]\n"
		"                   [--stuck-after SECONDS] [--recent-traces N]\n"
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
		{"logs", no_argument, NULL, 'L'},
		{"log-steps", no_argument, NULL, 'S'},
		{"http", required_argument, NULL, 'H'},
		{"no-http", no_argument, NULL, 'N'},
		{"http-allow-remote", no_argument, NULL, 'R'},
		{"stuck-after", required_argument, NULL, 'T'},
		{"recent-traces", required_argument, NULL, 'V'},
		{"spec", required_argument, NULL, 's'},
		{"spec-dir", required_argument, NULL, 'D'},
		{"pin", required_argument, NULL, 'P'},
		{0},
	};
	struct run_args a = {.color = isatty(STDOUT_FILENO), .stuck_after = DEFAULT_STUCK_AFTER};
	const char *more[MAX_SPEC_ARGS];
	size_t nmore = 0;
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
			    a.ring_bytes > TT_MAX_RING_BYTES ||
			    (a.ring_bytes & (a.ring_bytes - 1))) {
				tt_warn("invalid ring size '%s': expected a power of two from 4K "
					"to 1G bytes",
					optarg);
				return 2;
			}
			break;
		case 'C':
			a.color = false;
			break;
		case 'L':
			a.logs = true;
			break;
		case 'S':
			a.log_steps = true;
			break;
		case 'H':
			a.http_addr = optarg;
			break;
		case 'N':
			a.no_http = true;
			break;
		case 'R':
			a.http_allow_remote = true;
			break;
		case 'T':
			a.stuck_after = strtod(optarg, &end);
			if (*end || end == optarg || !(a.stuck_after > 0) || a.stuck_after > 1e9) {
				tt_warn("invalid --stuck-after '%s': expected seconds", optarg);
				return 2;
			}
			break;
		case 'V':
			a.recent_traces = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || optarg[0] < '1' || optarg[0] > '9' || strlen(optarg) > 6 ||
			    a.recent_traces > TT_TRACES_MAX_CAPACITY) {
				tt_warn("invalid --recent-traces '%s': expected 1 to %d traces",
					optarg, TT_TRACES_MAX_CAPACITY);
				return 2;
			}
			break;
		case 's':
			if (nmore == MAX_SPEC_ARGS - 1) {
				tt_warn("too many --spec options (use --spec-dir)");
				return 2;
			}
			more[nmore++] = optarg;
			break;
		case 'D':
			a.spec_dir = optarg;
			break;
		case 'P':
			a.pin_dir = optarg;
			break;
		case 'h':
			usage_run(stdout);
			return 0;
		default:
			usage_run(stderr);
			return 2;
		}
	}
	if (optind + 1 < argc || (optind == argc && !nmore && !a.spec_dir)) {
		usage_run(stderr);
		return 2;
	}
	if (a.pid && a.binary) {
		tt_warn("--pid and --binary exclude each other");
		return 2;
	}
	if (optind < argc)
		a.specs[a.nspecs++] = argv[optind];
	for (size_t i = 0; i < nmore; i++)
		a.specs[a.nspecs++] = more[i];
	return run(&a);
}
