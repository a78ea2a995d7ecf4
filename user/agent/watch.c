// SPDX-License-Identifier: MIT
/* Exec discovery: the BPF watch tables, the /proc scan, and attaching to what they find. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "discover.h"
#include "helpers.h"
#include "hold.h"
#include "log.h"
#include "proc.h"
#include "resolve.h"

/*
 * Library target t of slot s in process `pi` only (the kernel installs
 * its probes in no other process), the library found as the process
 * would: through this agent's LD_LIBRARY_PATH when it shares our mount
 * namespace, else in its root. Returns whether it was attached.
 */
static bool attach_library_in(struct agent *r, struct slot *s, const struct tt_target *t,
			      const struct tt_proc_info *pi)
{
	char root[64], path[PATH_MAX], shown[PATH_MAX + 64];
	size_t skip = 0;
	int ret;

	if (pi->other_mnt_ns) {
		tt_proc__root(pi->pid, root, sizeof(root));
		ret = tt_find_library_in(root, t->path, path, sizeof(path));
		skip = strlen(root);
	} else {
		ret = tt_find_library(t->path, path, sizeof(path));
	}
	if (ret)
		return false;
	snprintf(shown, sizeof(shown), "%s (pid %d)", path + skip, (int)pi->pid);
	return places__attach(r->places, s, t, path, shown, pi->pid, false) != NULL;
}

/*
 * Library targets of slot s that process `pi` is narrowed to (with
 * --binary PATH: every library target, when it runs PATH), in it alone.
 */
static bool attach_narrowed(struct agent *r, struct slot *s, const struct tt_proc_info *pi)
{
	const char *binary = r->args->binary;
	bool matched = false;

	for (int i = 0; i < s->spec->ntargets; i++) {
		const struct tt_target *t = &s->spec->targets[i];

		if (t->kind != TT_TARGET_LIBRARY || (!binary && !tt_target__narrowed(t)) ||
		    !tt_target__narrowing_holds(t, pi, binary))
			continue;
		matched |= attach_library_in(r, s, t, pi);
	}
	return matched;
}

/* Library targets of slot s in process `pi`, resolved inside its root. */
static void attach_libraries(struct agent *r, struct slot *s, const struct tt_proc_info *pi)
{
	char root[64], path[PATH_MAX], shown[PATH_MAX + 64];

	tt_proc__root(pi->pid, root, sizeof(root));
	for (int i = 0; i < s->spec->ntargets; i++) {
		const struct tt_target *t = &s->spec->targets[i];

		/* a narrowed one goes only where its narrowing holds (attach_narrowed()) */
		if (t->kind != TT_TARGET_LIBRARY || tt_target__narrowed(t) ||
		    tt_find_library_in(root, t->path, path, sizeof(path)))
			continue;
		snprintf(shown, sizeof(shown), "%s (in pid %d)", path + strlen(root), (int)pi->pid);
		places__attach_file(r->places, s, t, path, shown, pi->pid);
	}
}

/* Processes said one by one by note_untraced(); the ones after are only counted. */
#define UNTRACED_SHOWN 100

/*
 * Process `pid` ran before its probes were in, which came `secs` after it
 * started (`why`): its first steps are not traced, and nobody can count
 * them. Said per process (the first UNTRACED_SHOWN), so that what is
 * missing at a process's start can be told apart from spans lost, and
 * counted for the summary and /health.
 */
static void note_untraced(struct agent *r, pid_t pid, const char *comm, double secs,
			  const char *why)
{
	r->untraced++;
	if (r->untraced > UNTRACED_SHOWN)
		return;
	tt_info("process %d (%s) %s: its probes were in %.3f s after it started, its first "
		"steps are not traced%s",
		(int)pid, comm, why, secs,
		r->untraced == UNTRACED_SHOWN ? " (more such processes are counted, not listed)"
					      : "");
}

/*
 * A process that started (or was running when the agent started): the
 * library: targets narrowed to it are attached in it alone; the comm:
 * targets and binary: targets of every spec (or only of `only`) that name
 * it are attached, comm: targets in that process, binary: targets once
 * per distinct file, and then the spec's other libraries as that process
 * sees them.
 */
static bool discover(struct agent *r, const struct tt_proc_info *pi, struct slot *only)
{
	char shown[PATH_MAX + 64];
	bool alone = false; /* something is attached in this process only */

	for (size_t i = 0; i < r->nslots; i++) {
		struct slot *s = r->slots[i];
		bool matched = false;

		if (!s->spec || (only && s != only) || !s->discovers)
			continue;
		if (attach_narrowed(r, s, pi)) {
			r->discovered++;
			alone = true;
		}
		/* with --binary, the fixed plan has the rest */
		for (int k = 0; !r->args->binary && k < s->spec->ntargets; k++) {
			const struct tt_target *t = &s->spec->targets[k];

			if (t->kind == TT_TARGET_COMM &&
			    !strncmp(t->comm, pi->comm, TT_COMM_LEN - 1)) {
				snprintf(shown, sizeof(shown), "%s (pid %d)", pi->exe,
					 (int)pi->pid);
				if (places__attach(r->places, s, t, pi->open, shown, pi->pid,
						   false)) {
					matched = true;
					alone = true;
				}
			} else if (t->kind == TT_TARGET_BINARY &&
				   tt_glob__path_matches(t->path, pi->exe)) {
				/* a glob, or an exact path: the host's file, or a copy in a
				 * container's image; each distinct file attached once */
				snprintf(shown, sizeof(shown), "%s%s", pi->exe,
					 pi->other_mnt_ns ? " (in another mount namespace)" : "");
				matched |= places__attach_file(r->places, s, t, pi->open, shown,
							       pi->pid);
			}
		}
		if (matched) {
			attach_libraries(r, s, pi);
			r->discovered++;
		}
	}
	/* its probes are its own: a child it forks (a pre-forked worker) is attached alike */
	if (alone && r->bpf->follow && r->bpf->follow(r->loader, pi->pid))
		tt_warn("cannot follow the children of process %d", (int)pi->pid);
	return alone;
}

/* A process called exec: attach what applies to it, then let it run on. */
void watch__on_exec(struct agent *r, const struct tt_event *ev)
{
	struct forget f = {.pid = (pid_t)ev->pid, .ts = ev->ts_ns};
	struct tt_proc_info pi;

	r->execs++;
	/* its earlier image is gone: so are probes limited to it */
	places__drop_exited(r->places, place__forget_pid, &f);
	snprintf(pi.comm, sizeof(pi.comm), "?");
	if (!r->stopping && r->discovery && tt_proc__info(NULL, (pid_t)ev->pid, &pi) == 0)
		discover(r, &pi, NULL);
	if ((ev->flags & TT_EXECF_STOPPED) &&
	    r->bpf->continue_held(r->loader, (pid_t)ev->pid) == -ENOENT)
		note_untraced(r, (pid_t)ev->pid, pi.comm,
			      (double)(tt_now_ns(CLOCK_MONOTONIC) - ev->ts_ns) / 1e9,
			      "reached its deadline at exec before its probes were in");
}

/*
 * Attaches in process `pid` what --pid attaches in the process asked for:
 * each spec's plan for it, as places that go when it exits or calls exec.
 * Returns whether anything applied.
 */
static bool attach_descendant(struct agent *r, pid_t pid)
{
	bool applied = false;
	char err[1024];

	for (size_t i = 0; i < r->nslots; i++) {
		struct slot *s = r->slots[i];
		struct tt_plan plan = {0};

		if (!s->spec || tt_plan__build(s->spec, pid, NULL, &plan, err, sizeof(err)))
			continue; /* not a process of this spec (no message: one per fork) */
		if (places__attach_plan(r->places, s, &plan, err, sizeof(err)) == 0)
			applied = true;
		tt_plan__release(&plan);
	}
	places__unfix_pid(r->places, pid);
	return applied;
}

/*
 * A followed process forked (--pid N or one of its descendants, or a
 * process with probes of its own): its child is covered as its parent is.
 */
void watch__on_fork(struct agent *r, const struct tt_event *ev)
{
	pid_t child = (pid_t)ev->pid;
	struct tt_proc_info pi;

	if (!r->stopping && r->args->pid) {
		if (attach_descendant(r, child))
			r->discovered++;
	} else if (!r->stopping && r->discovery && tt_proc__info(NULL, child, &pi) == 0) {
		discover(r, &pi, NULL);
	}
	if (ev->flags & TT_FORKF_STOPPED)
		r->bpf->continue_held(r->loader, child);
}

struct follow_ctx {
	struct agent *r;
	pid_t root;
	int found;
};

static int follow_one(pid_t pid, void *ctx)
{
	struct follow_ctx *fc = ctx;

	if (pid == fc->root || !tt_proc__descends(pid, fc->root))
		return 0;
	if (fc->r->bpf->follow(fc->r->loader, pid) == 0 && attach_descendant(fc->r, pid))
		fc->found++;
	return 0;
}

/*
 * --pid N covers N and its descendants: BPF follows N's forks from now
 * on, and the descendants already running are attached as N was.
 */
void watch__follow(struct agent *r, pid_t pid)
{
	struct follow_ctx fc = {.r = r, .root = pid};
	int ret;

	if (!r->bpf->follow)
		return;
	ret = r->bpf->follow(r->loader, pid);
	if (ret) {
		tt_warn("cannot follow the children of process %d: %s", (int)pid, strerror(-ret));
		return;
	}
	tt_proc__for_each(NULL, follow_one, &fc);
	if (fc.found)
		tt_info("attached in %d running descendant%s of process %d", fc.found,
			fc.found == 1 ? "" : "s", (int)pid);
}

struct scan_ctx {
	struct agent *r;
	struct slot *only;
	bool restart; /* the agent adopted an earlier one's pins, and scans at its start */
};

/* Seconds since process `pid` started, or -1 when it is gone. */
static double age(pid_t pid)
{
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long ticks;

	if (hz <= 0 || tt_hold__start_ticks(pid, &ticks))
		return -1;
	return (double)tt_now_ns(CLOCK_BOOTTIME) / 1e9 - (double)ticks / (double)hz;
}

/*
 * Whether process `pid`, found running at a restart with --pin and
 * attached in alone, ran untraced: no probe of the earlier agent was in
 * it (it started while no agent ran, or the earlier agent's deadline let
 * it go first), and it is not still held at exec.
 */
static bool ran_untraced(struct agent *r, pid_t pid)
{
	return !places__pid_adopted(r->places, pid) &&
	       !(r->bpf->held && r->bpf->held(r->loader, pid));
}

static int scan_one(pid_t pid, void *ctx)
{
	struct scan_ctx *sc = ctx;
	struct tt_proc_info pi;
	double secs;

	if (pid == getpid() || tt_proc__info(NULL, pid, &pi))
		return 0;
	if (discover(sc->r, &pi, sc->only) && sc->restart && ran_untraced(sc->r, pid) &&
	    (secs = age(pid)) >= 0)
		note_untraced(sc->r, pid, pi.comm, secs, "started while no agent ran");
	return 0;
}

/* Processes already running: what the exec events of the past would have found. */
void watch__scan_processes(struct agent *r, struct slot *only)
{
	struct scan_ctx sc = {.r = r, .only = only};

	sc.restart = !only && r->loader && r->bpf->adopted && r->bpf->adopted(r->loader);

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
 * Adds cgroup `path` to those whose processes BPF holds at exec, when it
 * exists (a cgroup made later is seen on exec, not held) and there is room.
 */
static void add_watch_cgroup(uint64_t *ids, int *n, const char *path)
{
	uint64_t id;

	if (*n >= TT_MAX_WATCH_CGROUPS || tt_proc__cgroup_id(path, &id))
		return;
	for (int i = 0; i < *n; i++) {
		if (ids[i] == id)
			return;
	}
	ids[(*n)++] = id;
}

/* Whether exec discovery looks for target t by its comm: (a comm: target, or a narrowing). */
static bool watched_comm(const struct agent *r, const struct tt_target *t)
{
	if (r->args->binary)
		return false; /* then by the file's name alone (watched_exe()) */
	return t->kind == TT_TARGET_COMM || (tt_target__narrowed(t) && t->comm);
}

/*
 * The executable (path or glob) by whose name exec discovery looks for
 * target t, or NULL: a binary: target's, a library's narrowing (when it
 * names no comm:, which is sharper), or with --binary the file's, for
 * every library target.
 */
static const char *watched_exe(const struct agent *r, const struct tt_target *t)
{
	if (r->args->binary)
		return t->kind == TT_TARGET_LIBRARY ? r->args->binary : NULL;
	if (t->kind == TT_TARGET_BINARY && t->path[0] == '/')
		return t->path;
	if (tt_target__narrowed(t) && !t->comm && t->exe)
		return t->exe;
	return NULL;
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
/* Whether `comm` is among the names watch__set() just watched. */
static bool still_watched(const struct agent *r, const char *comm)
{
	for (int i = 0; i < r->nwatched; i++) {
		if (!strncmp(r->watched[i], comm, TT_COMM_LEN))
			return true;
	}
	return false;
}

void watch__set(struct agent *r)
{
	static struct tt_comm_prefix prefixes[TT_MAX_PROBES];
	static char before[TT_MAX_PROBES][TT_COMM_LEN];
	struct tt_watch_dir dirs[TT_MAX_WATCH_DIRS];
	uint64_t cgroups[TT_MAX_WATCH_CGROUPS];
	int nprefix = 0, ndirs = 0, ncgroups = 0, nbefore = r->nwatched;
	bool all = false;

	/*
	 * the names watched now are unwatched after the new ones are in, and
	 * only those that went: an exec of a name that stays, during a reload,
	 * is held and reported as ever (before: a gap in which it was neither,
	 * and its first steps ran before the rescan found it)
	 */
	memcpy(before, r->watched, sizeof(before));
	r->nwatched = 0;
	for (size_t i = 0; r->discovery && !r->stopping && i < r->nslots; i++) {
		const struct tt_spec *spec = r->slots[i]->spec;

		if (!r->slots[i]->discovers)
			continue;
		for (int k = 0; spec && k < spec->ntargets; k++) {
			const struct tt_target *t = &spec->targets[k];
			struct tt_comm_prefix *p = &prefixes[nprefix];
			const char *exe = watched_exe(r, t);

			if (watched_comm(r, t) && r->nwatched < TT_MAX_PROBES &&
			    r->bpf->watch_comm(r->loader, t->comm, true) == 0)
				snprintf(r->watched[r->nwatched++], TT_COMM_LEN, "%s", t->comm);
			/* a cgroup alone: every exec is reported, those in it stopped */
			if (tt_target__narrowed(t) && !t->comm && !t->exe && !r->args->binary) {
				all = true;
				add_watch_cgroup(cgroups, &ncgroups, t->cgroup);
			}
			if (!exe)
				continue;
			p->len = tt_glob__comm_prefix(exe, p->comm);
			if (!p->len) {
				all = true;
				add_watch_dir(dirs, &ndirs, exe);
			} else if (nprefix < TT_MAX_PROBES) {
				nprefix++;
			}
		}
	}
	for (int i = 0; i < nbefore; i++) {
		if (!still_watched(r, before[i]))
			r->bpf->unwatch_comm(r->loader, before[i]);
	}
	for (int i = 0; i < TT_MAX_WATCH_DIRS; i++)
		r->bpf->watch_dir(r->loader, (uint32_t)i, i < ndirs ? dirs[i].path : "",
				  i < ndirs ? dirs[i].len : 0, TT_WATCH_REPORT | TT_WATCH_STOP);
	for (int i = 0; r->bpf->watch_cgroup && i < TT_MAX_WATCH_CGROUPS; i++)
		r->bpf->watch_cgroup(r->loader, (uint32_t)i, i < ncgroups ? cgroups[i] : 0,
				     TT_WATCH_REPORT | TT_WATCH_STOP);
	nprefix = tt_comm_prefix__fit(prefixes, nprefix, TT_MAX_WATCH_PREFIXES);
	if (nprefix < 0) {
		all = true;
		nprefix = 0;
	}
	for (int i = 0; i < TT_MAX_WATCH_PREFIXES; i++) {
		if (i < nprefix)
			r->bpf->watch_prefix(r->loader, (uint32_t)i, prefixes[i].comm,
					     prefixes[i].len, TT_WATCH_REPORT | TT_WATCH_STOP);
		else
			r->bpf->watch_prefix(r->loader, (uint32_t)i, "", 0, 0);
	}
	r->bpf->watch_all_execs(r->loader, all);
}
