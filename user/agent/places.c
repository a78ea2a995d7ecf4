// SPDX-License-Identifier: MIT
/* The attach registry: global hook ids, and places (where probes are attached). */
/*
 * A place is a file in every process, or one process; places are attached,
 * detached, and moved to a reloaded spec here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent.h"
#include "helpers.h"
#include "log.h"
#include "proc.h"
#include "resolve.h"

/*
 * Which slot, and which of its own hook ids, a global hook id is, and
 * when: its events count from from_ns on (UINT64_MAX: attached for a
 * reload not switched to yet) and before until_ns (0: no end). A reload
 * attaches its new hooks before it detaches the old ones and switches at
 * one time: an event of the overlap counts under one of the two only.
 * An id whose slot is NULL and until_ns set is retired: its late events
 * are dropped, not counted as unknown.
 */
struct gid_owner {
	struct slot *slot;
	int local;
	uint64_t from_ns;
	uint64_t until_ns;
	/*
	 * retired with session links still attached (its id not given again):
	 * its calls count for hook heir_local of slot heir (NULL: dropped)
	 */
	bool retiring;
	struct slot *heir;
	int heir_local;
};

/* A session link a reload retired, attached until the calls it opened have returned. */
struct retired_link {
	struct tt_link *link;
	uint16_t gid;
	uint64_t since_ns;
};

struct places {
	const struct agent_bpf *bpf;
	struct tt_loader *loader;
	struct place *list; /* owned */
	bool pending;	    /* ids given now wait for places__switch() */
	struct gid_owner owner[TT_MAX_PROBES + 1];
	struct retired_link *retired; /* owned, nretired */
	size_t nretired;
};

struct places *places__new(const struct agent_bpf *bpf, struct tt_loader *l)
{
	struct places *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	pl->bpf = bpf;
	pl->loader = l;
	return pl;
}

/*
 * Frees place p after detaching its hooks (not unlinked from the list).
 * `exited`: its processes are gone, so its probes cannot fire any more and
 * are closed off the event loop (detach_exited); else detached at once.
 */
static void place_release(struct places *pl, struct place *p, bool exited)
{
	for (size_t i = 0; i < p->nhooks; i++) {
		if (exited)
			pl->bpf->detach_exited(pl->loader, p->hooks[i].link);
		else
			pl->bpf->detach_link(pl->loader, p->hooks[i].link);
	}
	free(p->hooks);
	free(p->pids);
	free(p->shown);
	free(p);
}

static void place_free(struct places *pl, struct place *p)
{
	place_release(pl, p, false);
}

void places__clear(struct places *pl)
{
	if (!pl)
		return;
	pl->nretired = 0; /* the loader let go of them too */
	while (pl->list) {
		struct place *p = pl->list;

		pl->list = p->next;
		p->nhooks = 0; /* the loader let go of them */
		place_free(pl, p);
	}
}

void places__free(struct places *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->nretired; i++)
		pl->bpf->detach_link(pl->loader, pl->retired[i].link);
	free(pl->retired);
	while (pl->list) {
		struct place *p = pl->list;

		pl->list = p->next;
		place_free(pl, p);
	}
	free(pl);
}

const struct place *places__first(const struct places *pl)
{
	return pl ? pl->list : NULL;
}

struct slot *places__owner(const struct places *pl, uint32_t gid, int *local)
{
	if (!gid || gid > TT_MAX_PROBES || !pl->owner[gid].slot ||
	    pl->owner[gid].from_ns == UINT64_MAX)
		return NULL;
	*local = pl->owner[gid].local;
	return pl->owner[gid].slot;
}

struct slot *places__owner_at(const struct places *pl, uint32_t gid, uint64_t ts, int *local,
			      bool *known)
{
	const struct gid_owner *o;

	*known = false;
	if (!gid || gid > TT_MAX_PROBES)
		return NULL;
	o = &pl->owner[gid];
	*known = o->slot || o->until_ns;
	if (!o->slot && o->retiring && ts < o->until_ns) {
		*local = o->heir_local;
		return o->heir;
	}
	if (!o->slot || ts < o->from_ns || (o->until_ns && ts >= o->until_ns))
		return NULL;
	*local = o->local;
	return o->slot;
}

/*
 * The global id of hook `local` of slot s, given on first use (the first
 * free id, so that the same specs get the same ids in the next agent)
 * and stored in BPF. Returns 0 when every id is taken or BPF refuses.
 */
uint16_t places__hook_id(struct places *pl, struct slot *s, int local)
{
	const struct tt_hook *h = tt_spec__hook(s->spec, local);
	int ret;

	if (local <= 0 || local > TT_MAX_PROBES || !h)
		return 0;
	if (s->gid[local])
		return s->gid[local];
	for (int g = 1; g <= TT_MAX_PROBES; g++) {
		if (pl->owner[g].slot || pl->owner[g].retiring)
			continue; /* taken, or retired with links still attached */
		ret = pl->bpf->set_hook(pl->loader, g, &h->prog);
		if (ret) {
			tt_warn("cannot store hook %d: %s", g, strerror(-ret));
			return 0;
		}
		pl->owner[g].slot = s;
		pl->owner[g].local = local;
		pl->owner[g].from_ns = pl->pending ? UINT64_MAX : 0;
		pl->owner[g].until_ns = 0;
		s->gid[local] = g;
		return g;
	}
	tt_warn("%s: more hooks than tasktap can attach (TT_MAX_PROBES)", s->file);
	return 0;
}

void places__release_ids(struct places *pl, struct slot *s)
{
	for (int g = 1; g <= TT_MAX_PROBES; g++) {
		if (pl->owner[g].slot == s)
			memset(&pl->owner[g], 0, sizeof(pl->owner[g]));
		if (pl->owner[g].heir == s)
			pl->owner[g].heir = NULL; /* its calls go nowhere: dropped */
	}
}

/*
 * Gives slot s's global ids to spec `now` (after places__switch(), its
 * events before the switch handed over): a hook that stayed keeps the id
 * of the hook it was (its links carry that id as their cookie) under its
 * new hook id; the ids of hooks that went are retired. `old`: the ids of
 * the old spec's hooks (s->gid before the reload).
 */
void places__move_ids(struct places *pl, struct slot *s, const struct tt_spec *now, const int *map,
		      int nold, const uint16_t *old)
{
	for (int h = 1; h <= nold; h++) {
		uint16_t g = old[h];

		if (!g || pl->owner[g].slot != s)
			continue;
		if (!map[h]) {
			pl->owner[g].slot = NULL;
			pl->owner[g].local = 0;
			continue;
		}
		pl->owner[g].local = map[h];
		pl->bpf->set_hook(pl->loader, g, &tt_spec__hook(now, map[h])->prog);
	}
}

static void drop_places(struct places *pl, bool (*drop)(struct place *p, void *ctx), void *ctx,
			bool exited)
{
	struct place **pp = &pl->list;

	while (*pp) {
		struct place *p = *pp;

		if (drop(p, ctx)) {
			*pp = p->next;
			place_release(pl, p, exited);
		} else {
			pp = &p->next;
		}
	}
}

/* Detaches and forgets every place for which `drop(p, ctx)` holds. */
void places__drop(struct places *pl, bool (*drop)(struct place *p, void *ctx), void *ctx)
{
	drop_places(pl, drop, ctx, false);
}

/* The same for places whose processes have exited: their probes are closed off the event loop. */
void places__drop_exited(struct places *pl, bool (*drop)(struct place *p, void *ctx), void *ctx)
{
	drop_places(pl, drop, ctx, true);
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

/* Attaches a Python function's hook `gid`: its module:qualname is the hook's symbol. */
static int attach_python(struct places *pl, uint16_t gid, const struct tt_attachment *at,
			 struct tt_link **out, char *err, size_t errlen)
{
	struct tt_py_hook ph;
	int ret;

	if (!pl->bpf->attach_python) {
		snprintf(err, errlen, "cannot attach python probes here");
		return -ENOTSUP;
	}
	ret = tt_py_hook__init(&ph, &at->py, at->hook->symbol, err, errlen);
	if (ret)
		return ret;
	return pl->bpf->attach_python(pl->loader, gid, at->path, &at->py, &ph, at->pid, out, err,
				      errlen);
}

/*
 * Attaches every attachment of `plan` as part of place p, but for those p
 * has already. 0 or -errno after saying why.
 */
static int attach_into(struct places *pl, struct place *p, const struct tt_plan *plan)
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
		uint16_t gid = places__hook_id(pl, p->slot, h->id);
		struct hooked *hk = &p->hooks[p->nhooks];

		if (!gid)
			return -ERANGE;
		if (has_hook(p, gid, at->offset))
			continue;
		pin_name(p, gid, at, name, sizeof(name));
		if (at->python)
			ret = attach_python(pl, gid, at, &hk->link, err, sizeof(err));
		else if (at->usdt)
			ret = pl->bpf->attach_usdt(pl->loader, gid, at->path, h->provider, h->usdt,
						   at->pid, name, &hk->link, err, sizeof(err));
		else
			ret = pl->bpf->attach(pl->loader, gid, at->path, at->offset, at->retprobe,
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
		hk->going = false;
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
static struct place *find_place(struct places *pl, struct slot *s, const struct tt_target *t,
				dev_t dev, ino_t ino, pid_t pid)
{
	for (struct place *p = pl->list; p; p = p->next) {
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
 * spec added. Returns the place (in pl->list) or NULL after saying why.
 */
struct place *places__attach(struct places *pl, struct slot *s, const struct tt_target *t,
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
	p = find_place(pl, s, t, st.st_dev, st.st_ino, pid);
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
		ret = attach_into(pl, p, &plan);
	tt_plan__release(&plan);
	if (!fresh)
		return p; /* what it had stays attached */
	if (ret) {
		place_free(pl, p);
		return NULL;
	}
	p->next = pl->list;
	pl->list = p;
	return p;
}

/*
 * Target t (a binary: or library:) at the file `path` in every process:
 * attached once per distinct file (dev, inode), remembering `pid` as one
 * of its processes. Returns whether the target applies.
 */
bool places__attach_file(struct places *pl, struct slot *s, const struct tt_target *t,
			 const char *path, const char *shown, pid_t pid)
{
	struct place *p = places__attach(pl, s, t, path, shown, -1, false);

	if (!p)
		return false;
	if (!p->fixed)
		add_pid(p, pid);
	return true;
}

/* Whether path is under /proc/PID/ of a process that is no more. */
static bool process_gone(const char *path)
{
	char dir[32];
	int pid, n = 0;
	struct stat st;

	if (sscanf(path, "/proc/%d/%n", &pid, &n) != 1 || n == 0 || pid <= 0)
		return false;
	snprintf(dir, sizeof(dir), "/proc/%d", pid);
	return stat(dir, &st) != 0 && errno == ENOENT;
}

/*
 * Attaches the attachments of `plan` (of slot s's spec), as places: one
 * per target, file and process, or the one already there. 0 or -errno
 * with a message in err.
 */
int places__attach_plan(struct places *pl, struct slot *s, const struct tt_plan *plan, char *err,
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
			/* a file seen in a process (/proc/PID/root/...) that exited
			 * since: nothing to attach there, the others still are */
			if (errno == ENOENT && process_gone(first->path)) {
				tt_info("skipped '%s': its process exited before the probes "
					"were attached",
					first->shown);
				continue;
			}
			snprintf(err, errlen, "cannot read '%s': %s", first->shown,
				 strerror(errno));
			ret = -errno;
			break;
		}
		p = find_place(pl, s, first->probe->target, st.st_dev, st.st_ino, first->pid);
		if (!p) {
			p = new_place(s, first->probe->target, &st, first->pid, first->shown, true);
			if (!p) {
				ret = -ENOMEM;
				break;
			}
			p->next = pl->list;
			pl->list = p;
		}
		p->stale = false;
		ret = attach_into(pl, p, &part);
		if (ret)
			snprintf(err, errlen, "%s: cannot attach (said above)", s->file);
	}
	return ret;
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
 * stay attached, marked as going, until places__switch(); so does a place
 * whose target went (its target NULL). Every place is stale: the next
 * attach there adds what `now` added. Ids given from now on wait for the
 * switch.
 */
void places__move(struct places *pl, struct slot *s, const struct tt_spec *now, const int *map)
{
	pl->pending = true;
	for (struct place *p = pl->list; p; p = p->next) {
		if (p->slot != s)
			continue;
		p->target = p->target ? same_target(now, p->target) : NULL;
		for (size_t i = 0; i < p->nhooks; i++) {
			struct hooked *hk = &p->hooks[i];
			int to = p->target && !hk->going ? map[hk->hook->id] : 0;

			if (to)
				hk->hook = tt_spec__hook(now, to);
			else
				hk->going = true;
		}
		p->stale = true;
	}
}

/*
 * The switch of slot s's reload at `ts`, once the new hooks are attached:
 * the events of the hooks that went count before ts, those of the new
 * hooks from ts on; then the hooks that went are detached (the kernel
 * waits for their running handlers) and the places whose target went
 * are freed. `old`, `map`, `nold`: as places__move_ids().
 */
/*
 * Keeps hooked h, a hook that went with slot s's reload at `ts`, attached
 * as a retired session link when it is one and its hook has a successor
 * (`succ` by old hook id): true; false: detach it.
 */
static bool retire_link(struct places *pl, struct slot *s, const struct hooked *h, const int *succ,
			int nold, uint64_t ts)
{
	struct gid_owner *o = &pl->owner[h->gid];
	struct retired_link *more;
	int local = o->local;

	if (!pl->bpf->retire || o->slot != s || local < 1 || local > nold || !succ[local])
		return false;
	more = realloc(pl->retired, (pl->nretired + 1) * sizeof(*more));
	if (!more)
		return false;
	pl->retired = more;
	if (pl->bpf->retire(pl->loader, h->link, h->gid))
		return false;
	pl->retired[pl->nretired++] =
		(struct retired_link){.link = h->link, .gid = h->gid, .since_ns = ts};
	o->retiring = true;
	o->heir = s;
	o->heir_local = succ[local];
	return true;
}

void places__switch(struct places *pl, struct slot *s, const uint16_t *old, const int *map,
		    const int *succ, int nold, uint64_t ts)
{
	struct place **pp = &pl->list;

	for (int h = 1; h <= nold; h++) {
		if (old[h] && !map[h] && pl->owner[old[h]].slot == s)
			pl->owner[old[h]].until_ns = ts;
	}
	for (int g = 1; g <= TT_MAX_PROBES; g++) {
		if (pl->owner[g].slot == s && pl->owner[g].from_ns == UINT64_MAX)
			pl->owner[g].from_ns = ts;
	}
	pl->pending = false;
	while (*pp) {
		struct place *p = *pp;
		size_t n = 0;

		if (p->slot != s) {
			pp = &p->next;
			continue;
		}
		for (size_t i = 0; i < p->nhooks; i++) {
			if (!p->hooks[i].going)
				p->hooks[n++] = p->hooks[i];
			else if (!retire_link(pl, s, &p->hooks[i], succ, nold, ts))
				pl->bpf->detach_link(pl->loader, p->hooks[i].link);
		}
		p->nhooks = n;
		if (!p->target) {
			*pp = p->next;
			place_free(pl, p);
		} else {
			pp = &p->next;
		}
	}
}

bool places__retiring(const struct places *pl)
{
	return pl && pl->nretired > 0;
}

/* A retired entry an entry running at the switch may still have opened a call in. */
#define RETIRE_GRACE_NS 100000000ull

void places__end_retired(struct places *pl, const bool *open, uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < pl->nretired; i++) {
		struct retired_link *x = &pl->retired[i];

		if (open[x->gid] || now < x->since_ns + RETIRE_GRACE_NS) {
			pl->retired[n++] = *x;
			continue;
		}
		pl->bpf->detach_link(pl->loader, x->link);
		x->link = NULL;
	}
	pl->nretired = n;
	for (int g = 1; g <= TT_MAX_PROBES; g++) {
		bool still = false;

		if (!pl->owner[g].retiring)
			continue;
		for (size_t i = 0; i < n && !still; i++)
			still = pl->retired[i].gid == g;
		if (still)
			continue;
		/* no link of it left: its id is free again, and takes calls */
		pl->owner[g].retiring = false;
		pl->owner[g].heir = NULL;
		pl->owner[g].heir_local = 0;
		pl->bpf->unretire(pl->loader, (uint32_t)g);
	}
}

/* Whether place p goes with process f->pid (its own, or the last of its file's). */
bool place__forget_pid(struct place *p, void *ctx)
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
bool place__gone(struct place *p, void *ctx)
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

/* Whether place p belongs to slot ctx. */
bool place__of_slot(struct place *p, void *ctx)
{
	return p->slot == ctx;
}

bool places__all_pids_gone(const struct places *pl)
{
	bool any_pid = false;

	for (const struct place *p = pl->list; p; p = p->next) {
		if (p->pid <= 0)
			return false;
		any_pid = true;
		if (tt_proc__alive(p->pid))
			return false;
	}
	return any_pid;
}

bool places__pid_adopted(const struct places *pl, pid_t pid)
{
	for (const struct place *p = pl->list; p; p = p->next) {
		for (size_t i = 0; p->pid == pid && i < p->nhooks; i++) {
			if (p->hooks[i].link && pl->bpf->link_adopted &&
			    pl->bpf->link_adopted(p->hooks[i].link))
				return true;
		}
	}
	return false;
}

void places__unfix_pid(struct places *pl, pid_t pid)
{
	for (struct place *p = pl->list; p; p = p->next) {
		if (p->pid == pid)
			p->fixed = false;
	}
}
