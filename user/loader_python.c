// SPDX-License-Identifier: MIT
/* loader_python.c: Python function probes attached: where functions start and frames end. */
/*
 * The hooks on one interpreter file in one process (or in every process)
 * share a group (include/tasktap/pyhook.h): its uprobes are attached
 * once, with the first member, and detached with the last, so that a
 * Python call costs one program run per site whatever the number of
 * hooks (issue 13: one program per probed site).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "loader_internal.h"
#include "python/interp.h"

struct py_group {
	struct py_group *next;
	uint32_t id;	     /* its py_groups key, and its uprobes' cookie */
	char path[PATH_MAX]; /* the file holding the interpreter loop */
	pid_t pid;
	uint64_t entry[TT_PY_ENTRY_SITES], ret_site;
	struct tt_py_group bpf; /* what BPF sees of it */
	int nmembers;
	unsigned int cursor;		      /* where the next free slot is looked for */
	struct probe_pair sites[TT_PY_SITES]; /* the uprobes (entry only) */
};

static int group_store(struct tt_loader *l, struct py_group *g)
{
	return bpf_map_update_elem(bpf_map__fd(l->skel->maps.py_groups), &g->id, &g->bpf, BPF_ANY)
		       ? -errno
		       : 0;
}

/*
 * Forgets what BPF learned at the sites of group id `id` (bpf/python.bpf.h,
 * py_sites): a new group at that id may be another file's.
 */
static int group_forget_sites(struct tt_loader *l, uint32_t id)
{
	uint8_t none[32] = {0}; /* struct py_site: a BPF-side type */
	int fd = bpf_map__fd(l->skel->maps.py_sites);

	if (bpf_map__value_size(l->skel->maps.py_sites) > sizeof(none))
		return -EINVAL;
	for (uint32_t i = 0; i < TT_PY_SITES; i++) {
		uint32_t k = id * TT_PY_SITES + i;

		if (bpf_map_update_elem(fd, &k, none, BPF_ANY))
			return -errno;
	}
	return 0;
}

static void group_free(struct tt_loader *l, struct py_group *g)
{
	struct tt_py_group none = {0};

	for (int i = 0; i < TT_PY_SITES; i++)
		loader__ulink_close(&g->sites[i].entry, false);
	bpf_map_update_elem(bpf_map__fd(l->skel->maps.py_groups), &g->id, &none, BPF_ANY);
	for (struct py_group **pp = &l->py_groups; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	free(g);
}

/* A group id no group has: 1..TT_MAX_PROBES, or 0. */
static uint32_t group_free_id(const struct tt_loader *l)
{
	for (uint32_t id = 1; id <= TT_MAX_PROBES; id++) {
		const struct py_group *g = l->py_groups;

		while (g && g->id != id)
			g = g->next;
		if (!g)
			return id;
	}
	return 0;
}

/* A group at `path` in process `pid` with a free slot, or NULL. */
static struct py_group *group_find(struct tt_loader *l, const char *path,
				   const struct tt_py_interp *pi, pid_t pid)
{
	for (struct py_group *g = l->py_groups; g; g = g->next) {
		if (g->pid == pid && g->nmembers < TT_PY_GROUP_MAX && !strcmp(g->path, path) &&
		    !memcmp(g->entry, pi->entry, sizeof(g->entry)) && g->ret_site == pi->ret_site)
			return g;
	}
	return NULL;
}

/* Attaches a new group's uprobes: where functions start, and where frames end. */
static int group_attach(struct tt_loader *l, struct py_group *g, const struct tt_py_interp *pi,
			char *err, size_t errlen)
{
	struct site_opts o = {
		.entry_prog = bpf_program__fd(l->py->progs.tt_py_entry),
		.ret_prog = -1,
		.path = g->path,
		.pid = g->pid,
	};
	int ret;

	/* each site's index in the cookie: BPF takes the file's load bias from it */
	for (int i = 0; i < TT_PY_ENTRY_SITES;
	     i++) { /* RESUME, its quickened and instrumented forms */
		if (!pi->entry[i])
			continue;
		o.offset = pi->entry[i];
		o.cookie = (uint64_t)(TT_PY_SITE_ENTRY0 + i) << 32 | g->id;
		ret = loader__attach_one(l, &o, false, NULL, &g->sites[i].entry);
		if (ret)
			goto fail;
	}
	/* a USDT site: with the semaphore that makes the interpreter get there */
	o.entry_prog = bpf_program__fd(l->py->progs.tt_py_return);
	o.offset = pi->ret_site;
	o.ref_ctr = pi->ret_sem;
	o.cookie = (uint64_t)TT_PY_SITE_RETURN << 32 | g->id;
	ret = loader__attach_one(l, &o, false, NULL, &g->sites[TT_PY_SITE_RETURN].entry);
	if (!ret)
		return 0;
fail:
	snprintf(err, errlen, "cannot attach python probe to '%s' at offset 0x%llx: %s", o.path,
		 (unsigned long long)o.offset, strerror(-ret));
	return ret;
}

/* A new group in *out, empty, its uprobes attached and in the list; or -errno, with a message. */
static int group_new(struct tt_loader *l, const char *path, const struct tt_py_interp *pi,
		     pid_t pid, struct py_group **out, char *err, size_t errlen)
{
	struct py_group *g = calloc(1, sizeof(*g));
	int ret;

	if (!g) {
		snprintf(err, errlen, "cannot attach python probe: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	g->id = group_free_id(l);
	snprintf(g->path, sizeof(g->path), "%s", path);
	g->pid = pid;
	memcpy(g->entry, pi->entry, sizeof(g->entry));
	g->ret_site = pi->ret_site;
	for (int i = 0; i < TT_PY_SITES; i++)
		g->sites[i].entry.fd = g->sites[i].ret.fd = -1;
	g->next = l->py_groups;
	l->py_groups = g;
	if (!g->id) {
		snprintf(err, errlen, "cannot attach python probe: more than %d groups",
			 TT_MAX_PROBES);
		group_free(l, g);
		return -ENOSPC;
	}
	ret = group_forget_sites(l, g->id);
	if (!ret)
		ret = group_store(l, g); /* before a uprobe can fire */
	if (!ret)
		ret = group_attach(l, g, pi, err, errlen);
	else
		snprintf(err, errlen, "cannot store python group %u: %s", g->id, strerror(-ret));
	if (ret) {
		group_free(l, g);
		return ret;
	}
	*out = g;
	return 0;
}

/*
 * Adds hook `id` to g: in the slot after the last one taken (a slot just
 * left is taken again last: a call open when its hook left ends silently).
 */
static int group_join(struct tt_loader *l, struct py_group *g, uint32_t id)
{
	for (unsigned int k = 0; k < TT_PY_GROUP_MAX; k++) {
		unsigned int i = (g->cursor + k) % TT_PY_GROUP_MAX;

		if (g->bpf.hook[i])
			continue;
		g->bpf.hook[i] = id;
		if (!g->nmembers)
			g->bpf.lead = id;
		g->bpf.gen++;
		g->nmembers++;
		g->cursor = i + 1;
		return group_store(l, g);
	}
	return -ENOSPC; /* group_find() found a free slot */
}

void loader__leave_py_group(struct tt_loader *l, struct tt_link *t)
{
	struct py_group *g = t->py;

	t->py = NULL;
	for (int i = 0; i < TT_PY_GROUP_MAX; i++) {
		if (g->bpf.hook[i] == t->py_hook) {
			g->bpf.hook[i] = 0;
			g->nmembers--;
		}
	}
	if (g->nmembers <= 0) {
		group_free(l, g);
		return;
	}
	for (int i = 0; i < TT_PY_GROUP_MAX && g->bpf.lead == t->py_hook; i++) {
		if (g->bpf.hook[i])
			g->bpf.lead = g->bpf.hook[i];
	}
	g->bpf.gen++;
	group_store(l, g);
}

int tt_loader__attach_python(struct tt_loader *l, uint32_t id, const char *path,
			     const struct tt_py_interp *pi, const struct tt_py_hook *ph, pid_t pid,
			     struct tt_link **out, char *err, size_t errlen)
{
	/* in the file holding the interpreter loop (a libpython, maybe) */
	const char *file = pi->path[0] ? pi->path : path;
	struct py_group *g;
	struct tt_link *t;
	int ret;

	if (id == 0 || id > TT_MAX_PROBES)
		return -ERANGE;
	ret = loader__load_python(l);
	if (ret) {
		snprintf(err, errlen,
			 "cannot load the python programs: %s (set TASKTAP_DEBUG_LIBBPF=1 for the "
			 "verifier log)",
			 strerror(-ret));
		return ret;
	}
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.py_hooks), &id, ph, BPF_ANY)) {
		ret = -errno;
		snprintf(err, errlen, "cannot store python hook %u: %s", id, strerror(-ret));
		return ret;
	}
	t = loader__new_link(l, 1, false); /* no uprobe of its own: its group's */
	if (!t)
		return -ENOMEM;
	g = group_find(l, file, pi, pid);
	ret = g ? 0 : group_new(l, file, pi, pid, &g, err, errlen);
	if (ret) {
		tt_loader__detach_link(l, t);
		return ret;
	}
	ret = group_join(l, g, id);
	t->py = g;
	t->py_hook = id;
	if (ret) {
		snprintf(err, errlen, "cannot store python group %u: %s", g->id, strerror(-ret));
		tt_loader__detach_link(l, t);
		return ret;
	}
	if (out)
		*out = t;
	return 0;
}
