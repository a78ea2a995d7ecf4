// SPDX-License-Identifier: MIT
/* Spec files as slots: load, reload in place, retire. */
/*
 * A changed file is reloaded in place: probes that stayed keep their
 * links, ids and open spans.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "bpfgen.h"
#include "helpers.h"
#include "log.h"
#include "specs.h"

/*
 * Whether the spec has targets found as processes start: with --pid none;
 * with --binary its library: targets (in the processes running that
 * file); else comm:, binary: and narrowed library: targets.
 */
static bool has_discovery(const struct tt_spec *spec, const struct run_args *a)
{
	if (a->pid)
		return false;
	for (int i = 0; i < spec->ntargets; i++) {
		const struct tt_target *t = &spec->targets[i];

		if (a->binary) {
			if (t->kind == TT_TARGET_LIBRARY)
				return true;
			continue;
		}
		/* an exact path too: a container may run its own copy of the file */
		if (t->kind == TT_TARGET_COMM ||
		    (t->kind == TT_TARGET_BINARY && t->path[0] == '/') || tt_target__narrowed(t))
			return true;
	}
	return false;
}

/*
 * Frees a spec, or keeps it until the agent stops when spans of it may
 * still wait in the exporter's queue or among the console's unfinished
 * trees, pointing at its probes.
 */
static void retire_spec(struct agent *r, struct tt_spec *spec)
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
void slot__free(struct agent *r, struct slot *s)
{
	if (!s)
		return;
	places__drop(r->places, place__of_slot, s);
	if (s->assembler) {
		/* what it recorded before its probes went is still its own */
		events__drain(r, UINT64_MAX);
		tt_asm__end_all(s->assembler, tt_now_ns(CLOCK_MONOTONIC));
	}
	places__release_ids(r->places, s);
	tt_asm__free(s->assembler);
	retire_spec(r, s->spec);
	free(s->file);
	free(s);
}

/* Attaches the places the spec names itself (its plan), each file or process once. */
static int attach_fixed(struct agent *r, struct slot *s, const struct run_args *a, char *err,
			size_t errlen)
{
	struct tt_plan plan = {0};
	int ret;

	ret = tt_plan__build(s->spec, a->pid, a->binary, &plan, err, errlen);
	if (!ret)
		ret = places__attach_plan(r->places, s, &plan, err, errlen);
	tt_plan__release(&plan);
	return ret;
}

/* Says which exact binary: paths are not on this host (only in containers, or a typo). */
static void note_absent_binaries(const struct slot *s)
{
	for (int i = 0; i < s->spec->ntargets; i++) {
		const struct tt_target *t = &s->spec->targets[i];

		if (tt_target__only_in_containers(t))
			tt_info("%s:%d:%d: '%s' is not on this host: its probes attach to each "
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
static struct slot *load_slot(struct agent *r, const char *file, const char *dir)
{
	const struct run_args *a = r->args;
	struct tt_asm_opts aopts = {0};
	struct slot *s = calloc(1, sizeof(*s));
	struct tt_spec_text t;
	char err[1024];
	int ret;

	if (!s)
		return NULL;
	s->agent = r;
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
		aopts.on_span = events__on_span;
		aopts.ctx = s;
		aopts.no_traceparent = !r->sdk.tracecontext;
		s->assembler = tt_asm__new(&aopts);
		if (!s->assembler) {
			snprintf(err, sizeof(err), "cannot create the assembler: %s",
				 strerror(errno));
			ret = -errno;
		}
	}
	/* every hook of the spec gets its id now: the same ids for the same specs */
	for (int id = 1; !ret && id <= s->spec->nhooks; id++)
		ret = places__hook_id(r->places, s, id) ? 0 : -ERANGE;
	if (!ret) {
		s->discovers = has_discovery(s->spec, a);
		ret = attach_fixed(r, s, a, err, sizeof(err));
	}
	if (!ret)
		note_absent_binaries(s);
	if (ret) {
		snprintf(s->error, sizeof(s->error), "%s", err);
		tt_warn("%s", err);
		places__drop(r->places, place__of_slot, s);
		places__release_ids(r->places, s);
		tt_asm__free(s->assembler);
		tt_spec__free(s->spec);
		s->assembler = NULL;
		s->spec = NULL;
	}
	return s;
}

static int add_slot(struct agent *r, struct slot *s)
{
	struct slot **more = realloc(r->slots, (r->nslots + 1) * sizeof(*more));

	if (!more)
		return -ENOMEM;
	r->slots = more;
	r->slots[r->nslots++] = s;
	return 0;
}

static void update_discovery(struct agent *r)
{
	r->discovery = false;
	for (size_t i = 0; i < r->nslots; i++)
		r->discovery |= r->slots[i]->discovers;
}

/* The spec files now: the positional SPEC, each --spec, then --spec-dir's. */
static int collect_files(const struct agent *r, struct tt_spec_files *files)
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
int slots__load_all(struct agent *r)
{
	struct tt_spec_files files;
	int ok = 0, held, ret;
	char err[512];

	ret = collect_files(r, &files);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < files.n; i++) {
		struct slot *s = load_slot(r, files.paths[i], tt_spec_files__dir(&files, i));

		ret = s ? add_slot(r, s) : -ENOMEM;
		if (ret)
			slot__free(r, s);
		else if (s->spec)
			ok++;
	}
	tt_spec_files__release(&files);
	/* the BPF object loaded as the hooks attached: before execs are watched and /proc scanned
	 */
	if (r->bpf->ready && r->bpf->ready(r->loader, err, sizeof(err))) {
		tt_warn("%s", err);
		return -EIO;
	}
	update_discovery(r);
	watch__set(r);
	watch__scan_processes(r, NULL);
	if (r->args->pid && ok)
		watch__follow(r, r->args->pid); /* --pid N covers N's descendants */
	held = r->bpf->continue_all_held(r->loader);
	if (held > 0)
		tt_info("continued %d processes that an earlier agent left stopped at exec", held);
	return ret ? ret : ok;
}

/* The slot of spec file `file`, or NULL. */
static struct slot *find_slot(struct agent *r, const char *file)
{
	for (size_t i = 0; i < r->nslots; i++) {
		if (!strcmp(r->slots[i]->file, file))
			return r->slots[i];
	}
	return NULL;
}

/*
 * Reloads the changed spec file of slot s (`t`: its bytes now) in
 * place, make-before-break. Its hooks that stayed (tt_spec__match()) are
 * never detached and keep their global ids, so a function running now
 * still reports its return, and their open spans go on in the same
 * assembler. The new hooks are attached (the spec's own places, and the
 * places found in running processes) before the hooks that went are
 * detached; at one time between the two (places__switch()) the events of
 * the old hooks stop counting and those of the new ones start, so a call
 * of the overlap counts once. A call open across the switch at a probe
 * that was edited ends under the new spec's probe at the same place
 * (tt_spec__successors()); other open spans of hooks that went end. A
 * file that no longer parses, or whose own targets no longer resolve, is
 * reported and the slot keeps the spec it had.
 */
/*
 * Keeps two events for the successor of a hook that had them: a call open
 * in it at the switch returns through its uretprobe, which goes with the
 * old hook, and a session link's return runs only for the calls its entry
 * saw. (A session hook's successor may take either path: its old link is
 * retired, not detached, places__switch().) Until the agent restarts.
 */
static void keep_two_events(const struct tt_spec *old, struct tt_spec *now, const int *succ)
{
	for (int h = 1; h <= old->nhooks; h++) {
		if (succ[h] > 0 && succ[h] <= now->nhooks &&
		    tt_bpfgen__session_refusal(&old->hooks[h - 1]->prog))
			now->hooks[succ[h] - 1]->prog.flags &= ~TT_HOOKF_SESSION;
	}
}

static void respec_slot(struct agent *r, struct slot *s, const struct tt_spec_text *t)
{
	static int map[TT_MAX_PROBES + 1], succ[TT_MAX_PROBES + 1];
	static uint16_t old_gid[TT_MAX_PROBES + 1];
	struct tt_plan plan = {0};
	struct tt_spec *now = NULL, *old = s->spec;
	int nold = s->spec->nhooks;
	uint64_t switch_ns;
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
	memset(succ, 0, sizeof(succ));
	tt_spec__successors(old, now, map, succ);
	keep_two_events(old, now, succ);
	/* what the old hooks recorded so far is read with the old spec */
	events__drain(r, UINT64_MAX);
	/* make: the kept hooks under their new ids, the new ones attached beside the old */
	places__move(r->places, s, now, map);
	memcpy(old_gid, s->gid, sizeof(old_gid));
	memset(s->gid, 0, sizeof(s->gid));
	for (int h = 1; h <= nold; h++) {
		if (map[h])
			s->gid[map[h]] = old_gid[h];
	}
	s->spec = now;
	for (int id = 1; id <= now->nhooks; id++)
		places__hook_id(r->places, s, id);
	s->discovers = has_discovery(now, r->args);
	if (places__attach_plan(r->places, s, &plan, err, sizeof(err)))
		snprintf(s->error, sizeof(s->error), "%s", err);
	tt_plan__release(&plan);
	update_discovery(r);
	watch__scan_processes(r, s);
	/* break: the old hooks count until now, the new ones from now; then the old ones go */
	switch_ns = tt_now_ns(CLOCK_MONOTONIC);
	places__switch(r->places, s, old_gid, map, succ, nold, switch_ns);
	events__drain(r, switch_ns - 1); /* the old side, read with the old spec */
	places__move_ids(r->places, s, now, map, nold, old_gid);
	tt_asm__respec(s->assembler, now, succ, nold, switch_ns);
	retire_spec(r, old);
	tt_info("reloaded '%s': %d of %d hooks kept with their open spans", s->file, ret, nold);
}

/*
 * Reads the spec files again (SIGHUP, a change in --spec-dir). A file
 * whose bytes did not change keeps everything; a changed one is reloaded
 * in place (respec_slot()), so that the probes that stayed keep their
 * open spans; a file removed is detached and its open spans ended; a new
 * one is loaded and attached.
 */
void slots__reload(struct agent *r)
{
	struct tt_spec_files files;
	size_t kept = 0, changed = 0, added = 0, removed = 0;

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
	/*
	 * The slots of files gone, or broken before (loaded afresh below), go
	 * first, each out of r->slots once freed: a reload of a slot walks
	 * r->slots (the drain, the scan, the discovery), never a freed slot
	 */
	for (size_t i = 0; i < r->nslots;) {
		struct slot *s = r->slots[i];

		if (s->keep && s->spec) {
			i++;
			continue;
		}
		removed += s->spec && !s->keep;
		slot__free(r, s);
		r->nslots--;
		memmove(&r->slots[i], &r->slots[i + 1], (r->nslots - i) * sizeof(*r->slots));
	}
	for (size_t i = 0; i < r->nslots; i++) {
		struct slot *s = r->slots[i];
		struct tt_spec_text t = {0};
		char err[512];

		if (tt_spec_file__read(s->file, s->dir, &t, err, sizeof(err))) {
			/* unreadable now: said, and the spec it had stays in use */
			snprintf(s->error, sizeof(s->error),
				 "%s (the previous version stays in use)", err);
			tt_warn("%s", s->error);
			s->digest = 0; /* readable again: reloaded, whatever it holds */
			kept++;
		} else if (t.digest == s->digest) {
			kept++;
		} else {
			respec_slot(r, s, &t);
			s->rescan = true; /* again once watched: a process started since */
			changed++;
		}
		tt_spec_text__release(&t);
	}
	for (size_t i = 0; i < files.n; i++) {
		struct slot *s;

		if (find_slot(r, files.paths[i]))
			continue;
		s = load_slot(r, files.paths[i], tt_spec_files__dir(&files, i));
		if (!s || add_slot(r, s)) {
			slot__free(r, s);
			continue;
		}
		s->rescan = true;
		added += s->spec != NULL;
	}
	tt_spec_files__release(&files);
	update_discovery(r);
	watch__set(r);
	/* running processes of the new specs, and what changed ones added where they are */
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i]->rescan)
			watch__scan_processes(r, r->slots[i]);
		r->slots[i]->rescan = false;
	}
	r->bpf->prune_pins(r->loader);
	tt_info("reloaded specs: %zu unchanged, %zu changed, %zu loaded, %zu removed; "
		"%d probes attached",
		kept, changed, added, removed, r->bpf->attached(r->loader));
}

/* Watches --spec-dir for files written, moved in or out, or removed. Returns the fd or -1. */
int slots__watch_dir(const char *dir)
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

/*
 * Whether one of the specs given by name parses: checked before BPF is
 * loaded, so that a run with nothing to trace stops at once (with
 * --spec-dir the agent waits for a good file instead). When none does,
 * says why for each.
 */
bool slots__some_parse(const struct run_args *a)
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
			tt_spec__free(spec); /* changed in between: slots__load_all() will tell */
		else
			tt_warn("%s", err);
	}
	return false;
}
