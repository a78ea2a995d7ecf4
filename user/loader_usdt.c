// SPDX-License-Identifier: MIT
/*
 * loader_usdt.c: USDT probes attached: their sites in a file, shared by
 * every hook on them; and the shared sites themselves, which a function's
 * entry and its return are too (loader_attach.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfgen.h"
#include "log.h"
#include "elf.h"
#include "loader.h"
#include "loader_internal.h"
#include "usdt.h"

/* The sites of one USDT probe in a file, and where each one's arguments are. */
struct usdt_probe {
	const char *provider, *name;
	const struct tt_usdt_note **notes; /* owned array; the notes are the tt_elf's */
	struct tt_usdt_site *args;	   /* one per note; owned */
	size_t n;
	int err; /* the first error met while collecting */
	char *msg;
	size_t msglen;
};

static int collect_site(const struct tt_usdt_note *note, void *ctx)
{
	struct usdt_probe *u = ctx;
	const struct tt_usdt_note **notes;
	struct tt_usdt_site *args;

	if (strcmp(note->provider, u->provider) || strcmp(note->name, u->name))
		return 0;
	notes = realloc(u->notes, (u->n + 1) * sizeof(*notes));
	if (notes)
		u->notes = notes;
	args = realloc(u->args, (u->n + 1) * sizeof(*args));
	if (args)
		u->args = args;
	if (!notes || !args) {
		u->err = -ENOMEM;
		snprintf(u->msg, u->msglen, "out of memory");
		return 1;
	}
	if (!note->pc_offset) {
		u->err = -ENOEXEC;
		snprintf(u->msg, u->msglen,
			 "its site at 0x%llx lies in no executable segment of the file",
			 (unsigned long long)note->pc);
		return 1;
	}
	if (note->semaphore && !note->sem_offset) {
		u->err = -ENOEXEC;
		snprintf(u->msg, u->msglen,
			 "its semaphore at 0x%llx lies in no data segment of the file",
			 (unsigned long long)note->semaphore);
		return 1;
	}
	u->err = tt_usdt__decode(note->args, &u->args[u->n], u->msg, u->msglen);
	if (u->err)
		return 1;
	u->notes[u->n++] = note;
	return 0;
}

/*
 * Stores where the arguments of a site are, under its cookie, before any
 * uprobe can fire with that cookie. 0 or -errno with a message.
 */
static int store_site(struct tt_loader *l, __u64 cookie, const struct tt_usdt_site *site, char *err,
		      size_t errlen)
{
	int ret;

	if (!bpf_map_update_elem(bpf_map__fd(l->skel->maps.usdt_sites), &cookie, site, BPF_ANY))
		return 0;
	ret = -errno;
	if (ret == -E2BIG) /* full of sites an earlier agent left, not pruned yet */
		snprintf(err, errlen,
			 "too many USDT probe sites: the %d tasktap can attach are in use "
			 "(TT_MAX_USDT_SITES in include/tasktap/limits.h)",
			 TT_MAX_USDT_SITES);
	else
		snprintf(err, errlen, "cannot store its argument locations: %s", strerror(-ret));
	return ret;
}

/*
 * Refuses a probe whose sites would take `usdt_sites` past its bound,
 * before anything is attached. 0 or -E2BIG with a message.
 */
static int check_room(const struct tt_loader *l, uint32_t id, const struct stat *st,
		      const struct usdt_probe *u, char *err, size_t errlen)
{
	size_t fresh = 0;

	for (size_t i = 0; i < u->n; i++) {
		__u64 cookie = tt_usdt__cookie(id, st->st_dev, st->st_ino, u->notes[i]->pc_offset);

		if (!loader__cookie_in_use(l, NULL, cookie))
			fresh++;
	}
	if (l->nsites + fresh <= TT_MAX_USDT_SITES)
		return 0;
	if (l->nsites == 0)
		snprintf(err, errlen,
			 "too many USDT probe sites: its %zu exceed TT_MAX_USDT_SITES (%d, "
			 "include/tasktap/limits.h)",
			 u->n, TT_MAX_USDT_SITES);
	else
		snprintf(err, errlen,
			 "too many USDT probe sites: its %zu and the %zu attached already exceed "
			 "TT_MAX_USDT_SITES (%d, include/tasktap/limits.h)",
			 u->n, l->nsites, TT_MAX_USDT_SITES);
	return -E2BIG;
}

/* Whether fd is a program bpfgen compiled (not the interpreter). */
bool loader__is_compiled(const struct tt_loader *l, int fd)
{
	for (const struct gen_prog *p = l->progs; p; p = p->next) {
		if (p->fd == fd)
			return true;
	}
	return false;
}

/* Builds and loads the program of every member of `site`, and puts it in the site's slot. */
int loader__load_site(struct tt_loader *l, struct shared_site *site, char *why, size_t whylen)
{
	static const char *const kinds[] = {
		[TT_BPFGEN_ENTRY] = "entry", [TT_BPFGEN_RETURN] = "ret", [TT_BPFGEN_USDT] = "usdt"};
	static struct tt_bpfgen g;
	struct tt_bpfgen_in *in = calloc(site->n, sizeof(*in));
	/* as the dispatcher's: a tail call needs programs of one kind */
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = loader__uprobe_attach_type());
	char name[16];
	int fd, ret;

	if (!in)
		return -ENOMEM;
	for (size_t k = 0; k < site->n; k++)
		in[k] = (struct tt_bpfgen_in){
			.kind = site->kind,
			.hook = site->ids[k],
			.prog = l->hooks[site->ids[k]],
			.site = site->kind == TT_BPFGEN_USDT ? &site->args[k] : NULL,
			.maps = loader__gen_maps(l),
			.wakeup_watermark = l->wakeup_watermark,
		};
	ret = tt_bpfgen__emit_site(in, site->n, &g, why, whylen);
	free(in);
	if (ret)
		return ret;
	snprintf(name, sizeof(name), "tt_s%u_%s", site->slot, kinds[site->kind]);
	fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, name, "GPL", g.insns, g.n, &opts);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, whylen, "the verifier refused the site's program: %s",
			 strerror(-ret));
		return ret;
	}
	/* the entry changes at once: a hit runs the old program or the new one */
	if (bpf_map_update_elem(l->site_progs_fd, &site->slot, &fd, BPF_ANY)) {
		ret = -errno;
		close(fd);
		snprintf(why, whylen, "cannot install the site's program: %s", strerror(-ret));
		return ret;
	}
	if (site->prog_fd >= 0)
		close(site->prog_fd);
	site->prog_fd = fd;
	return 0;
}

/*
 * Forgets the site; unless `keep` (its pinned uprobe and its slot stay for
 * the next agent), detaches it. Its program stays in the slot, run by
 * nothing, until a site takes the slot again (or the prog array goes):
 * taking it out costs ~16 ms a slot (the kernel patches the dispatchers'
 * direct jumps), which made a stop with 50 hooks on functions take 1.7 s
 * and would stall the event loop at each exit of a process with sites.
 */
static void free_site(struct tt_loader *l, struct shared_site *site, bool keep)
{
	struct shared_site **pp = &l->shared;

	keep = keep && site->link.pin;
	loader__ulink_close(&site->link, keep);
	l->slot_used[site->slot] = false;
	if (site->disp_fd >= 0)
		close(site->disp_fd);
	if (site->prog_fd >= 0)
		close(site->prog_fd);
	while (*pp && *pp != site)
		pp = &(*pp)->next;
	if (*pp)
		*pp = site->next;
	free(site->ids);
	free(site->args);
	free(site);
}

/* The prog array of the shared sites: pinned with the maps when there is a pin directory. */
static int site_progs(struct tt_loader *l)
{
	char path[PATH_MAX];

	if (l->site_progs_fd >= 0)
		return 0;
	if (l->pin_dir) {
		loader__pin_path(l, "map-site_progs", path, sizeof(path));
		l->site_progs_fd = bpf_obj_get(path);
		if (l->site_progs_fd >= 0)
			return 0;
	}
	l->site_progs_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "site_progs", sizeof(__u32),
					  sizeof(__u32), TT_MAX_USDT_SITES, NULL);
	if (l->site_progs_fd < 0)
		return -errno;
	if (l->pin_dir && bpf_obj_pin(l->site_progs_fd, path)) {
		int ret = -errno;

		close(l->site_progs_fd);
		l->site_progs_fd = -1;
		return ret;
	}
	return 0;
}

/*
 * "site_DEV_INO_OFFSET_PID-s": how a shared site's pinned uprobe is named,
 * before its slot; "..._PID_e-s" a function's entry, "..._PID_r-s" its return.
 */
static void site_pin_prefix(const struct stat *st, uint64_t offset, pid_t pid,
			    enum tt_bpfgen_kind kind, char *buf, size_t len)
{
	const char *tag = kind == TT_BPFGEN_ENTRY ? "_e" : kind == TT_BPFGEN_RETURN ? "_r" : "";

	snprintf(buf, len, "site_%lx_%lx_%llx_%d%s-s", (unsigned long)st->st_dev,
		 (unsigned long)st->st_ino, (unsigned long long)offset, (int)pid, tag);
}

/*
 * Looks in the pin directory's links for a shared site's uprobe: the one
 * named `prefix` + slot when prefix is given (its slot in *slot, its path
 * in path), else any that uses slot *slot. Returns whether there is one.
 */
static bool find_site_pin(const struct tt_loader *l, const char *prefix, uint32_t *slot, char *path,
			  size_t len)
{
	char dir[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (!l->pin_dir)
		return false;
	snprintf(dir, sizeof(dir), "%s/links", l->pin_dir);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		const char *s = strstr(de->d_name, "-s");
		unsigned long v;
		char *end;

		if (strncmp(de->d_name, "site_", 5) || !s)
			continue;
		v = strtoul(s + 2, &end, 10);
		if (*end || v >= TT_MAX_USDT_SITES)
			continue;
		if (prefix ? !strncmp(de->d_name, prefix, strlen(prefix)) : v == *slot) {
			found = true;
			*slot = (uint32_t)v;
			if (path)
				snprintf(path, len, "%s/%s", dir, de->d_name);
		}
	}
	closedir(d);
	return found;
}

/* Loads the dispatcher of `slot` into site->disp_fd. 0 or -errno with why. */
static int load_dispatcher(struct tt_loader *l, struct shared_site *site, char *why, size_t whylen)
{
	static struct tt_bpfgen g;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = loader__uprobe_attach_type());
	char name[16];

	if (site->disp_fd >= 0)
		close(site->disp_fd);
	tt_bpfgen__dispatcher(l->site_progs_fd, site->slot, &g);
	snprintf(name, sizeof(name), "tt_s%u_disp", site->slot);
	site->disp_fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, name, "GPL", g.insns, g.n, &opts);
	if (site->disp_fd >= 0)
		return 0;
	snprintf(why, whylen, "cannot load the site's dispatcher: %s", strerror(errno));
	return -errno;
}

/*
 * Adopts the uprobe an earlier agent pinned for this site when it runs the
 * dispatcher of the slot its name says (site->slot set, the earlier
 * program left in the slot: site->pending). Returns whether it did.
 */
static bool adopt_site(struct tt_loader *l, struct shared_site *site, const struct stat *st,
		       char *why, size_t whylen)
{
	char prefix[128], path[PATH_MAX];
	uint32_t slot = 0;
	int fd;

	site_pin_prefix(st, site->offset, site->pid, site->kind, prefix, sizeof(prefix));
	if (!find_site_pin(l, prefix, &slot, path, sizeof(path)))
		return false;
	site->slot = slot;
	fd = l->slot_used[slot] ? -1 : bpf_obj_get(path);
	if (fd >= 0 && !load_dispatcher(l, site, why, whylen) &&
	    loader__runs_prog(fd, site->disp_fd)) {
		site->link = (struct ulink){.fd = fd, .pin = strdup(path)};
		site->adopted = site->pending = true;
		return true;
	}
	if (fd >= 0)
		close(fd);
	unlink(path); /* another program: attach again */
	return false;
}

/* A new shared site: adopted from a pin, or a free slot and its dispatcher. NULL with errno and
 * why. */
static struct shared_site *new_site(struct tt_loader *l, enum tt_bpfgen_kind kind,
				    const struct stat *st, uint64_t offset, pid_t pid, char *why,
				    size_t whylen)
{
	struct shared_site *site;
	uint32_t slot;
	int ret;

	ret = site_progs(l);
	if (ret) {
		snprintf(why, whylen, "cannot create the map of sites' programs: %s",
			 strerror(-ret));
		errno = -ret;
		return NULL;
	}
	site = calloc(1, sizeof(*site));
	if (!site)
		return NULL;
	*site = (struct shared_site){.kind = kind,
				     .dev = st->st_dev,
				     .ino = st->st_ino,
				     .offset = offset,
				     .pid = pid,
				     .link = {.fd = -1},
				     .disp_fd = -1,
				     .prog_fd = -1};
	if (!adopt_site(l, site, st, why, whylen)) {
		/* a slot neither this agent nor a pinned site not adopted yet uses */
		for (slot = 0; slot < TT_MAX_USDT_SITES; slot++) {
			uint32_t s = slot;

			if (!l->slot_used[slot] && !find_site_pin(l, NULL, &s, NULL, 0))
				break;
		}
		if (slot == TT_MAX_USDT_SITES) {
			snprintf(why, whylen, "more than TT_MAX_USDT_SITES shared sites");
			free(site);
			errno = E2BIG;
			return NULL;
		}
		site->slot = slot;
		ret = load_dispatcher(l, site, why, whylen);
		if (ret) {
			free(site);
			errno = -ret;
			return NULL;
		}
	}
	l->slot_used[site->slot] = true;
	site->next = l->shared;
	l->shared = site;
	return site;
}

int loader__join_site(struct tt_loader *l, enum tt_bpfgen_kind kind, uint32_t id,
		      const struct site_opts *o, const struct stat *st,
		      const struct tt_usdt_site *args, struct shared_site **out, char *why,
		      size_t whylen)
{
	static const struct tt_usdt_site no_args;
	struct shared_site *site;
	uint32_t *ids;
	struct tt_usdt_site *more;
	int ret;

	for (site = l->shared; site; site = site->next) {
		if (site->kind == kind && site->dev == st->st_dev && site->ino == st->st_ino &&
		    site->offset == o->offset && site->pid == o->pid)
			break;
	}
	if (!site && !(site = new_site(l, kind, st, o->offset, o->pid, why, whylen)))
		return -errno;
	ids = realloc(site->ids, (site->n + 1) * sizeof(*ids));
	if (ids)
		site->ids = ids;
	more = realloc(site->args, (site->n + 1) * sizeof(*more));
	if (more)
		site->args = more;
	if (!ids || !more) {
		ret = -ENOMEM;
		goto fail;
	}
	site->ids[site->n] = id;
	site->args[site->n] = args ? *args : no_args;
	site->n++;
	ret = site->pending ? 0 : loader__load_site(l, site, why, whylen);
	if (ret) {
		site->n--;
		goto fail;
	}
	if (site->link.fd < 0) {
		struct site_opts so = *o;
		char prefix[128], pin[PATH_MAX];

		so.entry_prog = so.ret_prog = site->disp_fd;
		so.session = false;
		site_pin_prefix(st, o->offset, o->pid, kind, prefix, sizeof(prefix));
		if (l->pin_dir)
			snprintf(pin, sizeof(pin), "%s/links/%s%u", l->pin_dir, prefix, site->slot);
		ret = loader__attach_one(l, &so, kind == TT_BPFGEN_RETURN, l->pin_dir ? pin : NULL,
					 &site->link);
		if (ret) {
			snprintf(why, whylen, "%s", strerror(-ret));
			goto fail;
		}
	}
	*out = site;
	return 0;
fail:
	if (site->n == 0)
		free_site(l, site, false);
	return ret;
}

/*
 * Hook `id` leaves `site`: the program is rebuilt without it, or the site
 * goes with its last. With `keep` (the agent stops, its pins stay), the
 * program stays as it is.
 */
void loader__leave_site(struct tt_loader *l, struct shared_site *site, uint32_t id, bool keep)
{
	char why[256];

	for (size_t k = 0; k < site->n; k++) {
		if (site->ids[k] != id)
			continue;
		memmove(&site->ids[k], &site->ids[k + 1], (site->n - k - 1) * sizeof(*site->ids));
		memmove(&site->args[k], &site->args[k + 1],
			(site->n - k - 1) * sizeof(*site->args));
		site->n--;
		break;
	}
	if (site->n == 0) {
		free_site(l, site, keep);
		return;
	}
	if (keep || site->pending || site->link.fd < 0) /* detached: its program runs no more */
		return;
	if (loader__load_site(l, site, why, sizeof(why)))
		tt_warn("a shared site keeps a hook that left: %s", why);
}

/*
 * Attaches every site of the probe `u` of the file `path` (dev, ino) to
 * attachment t, pinned as pin_name + "_" + the site's offset in hex.
 */
static int attach_usdt_sites(struct tt_loader *l, uint32_t id, const char *path,
			     const struct stat *st, pid_t pid, const char *pin_name,
			     const struct usdt_probe *u, struct tt_link *t, char *err,
			     size_t errlen)
{
	char name[PATH_MAX];
	bool all = true;

	for (size_t i = 0; i < u->n; i++) {
		const struct tt_usdt_note *note = u->notes[i];
		struct site_opts o = {
			.entry_prog = loader__prog_for(l, id, TT_BPFGEN_USDT, &u->args[i]),
			.path = path,
			.offset = note->pc_offset,
			.ref_ctr = note->sem_offset,
			.cookie = tt_usdt__cookie(id, st->st_dev, st->st_ino, note->pc_offset),
			.pid = pid,
			.pin_name = pin_name ? name : NULL,
		};
		bool adopted;
		int ret;

		if (o.entry_prog < 0) {
			snprintf(err, errlen, "no program for its site at offset 0x%llx: %s",
				 (unsigned long long)note->pc_offset, strerror(-o.entry_prog));
			return o.entry_prog;
		}
		if (pin_name)
			snprintf(name, sizeof(name), "%s_%llx", pin_name,
				 (unsigned long long)note->pc_offset);
		ret = store_site(l, o.cookie, &u->args[i], err, errlen);
		if (ret)
			return ret;
		if (!loader__cookie_in_use(l, NULL, o.cookie))
			l->nsites++;
		t->cookies[i] = o.cookie;
		if (loader__is_compiled(l, o.entry_prog)) {
			/* hooks on the same site share one uprobe and one program */
			char why[256];

			ret = loader__join_site(l, TT_BPFGEN_USDT, id, &o, st, &u->args[i],
						&t->shared[i], why, sizeof(why));
			if (ret) {
				snprintf(err, errlen,
					 "cannot attach a uprobe to its site at offset 0x%llx: %s",
					 (unsigned long long)note->pc_offset, why);
				return ret;
			}
			all = all && t->shared[i]->adopted;
			continue;
		}
		ret = loader__attach_site(l, &o, &t->sites[i], &adopted);
		if (ret) {
			snprintf(err, errlen,
				 "cannot attach a uprobe to its site at offset 0x%llx%s: %s",
				 (unsigned long long)note->pc_offset,
				 note->sem_offset ? " (with its semaphore)" : "", strerror(-ret));
			return ret;
		}
		all = all && adopted;
	}
	t->adopted = all;
	return 0;
}

int tt_loader__attach_usdt(struct tt_loader *l, uint32_t id, const char *path, const char *provider,
			   const char *name, pid_t pid, const char *pin_name, struct tt_link **out,
			   char *err, size_t errlen)
{
	char why[512] = "";
	struct usdt_probe u = {
		.provider = provider, .name = name, .msg = why, .msglen = sizeof(why)};
	struct tt_elf *elf = NULL;
	struct tt_link *t = NULL;
	struct stat st;
	int ret;

	if (id == 0 || id > TT_USDT_HOOK_MASK) {
		snprintf(why, sizeof(why), "hook id %u does not fit in a USDT cookie", id);
		ret = -ERANGE;
		goto cleanup;
	}
	elf = tt_elf__open(path);
	if (!elf || stat(path, &st)) {
		ret = -errno;
		snprintf(why, sizeof(why), "%s", strerror(-ret));
		goto cleanup;
	}
	tt_elf__for_each_usdt(elf, collect_site, &u);
	ret = u.err;
	if (!ret && u.n == 0) {
		snprintf(why, sizeof(why), "the file has no such probe");
		ret = -ENOENT;
	}
	if (!ret)
		ret = check_room(l, id, &st, &u, why, sizeof(why));
	if (ret)
		goto cleanup;
	t = loader__new_link(l, u.n, true);
	if (!t) {
		ret = -ENOMEM;
		snprintf(why, sizeof(why), "%s", strerror(-ret));
		goto cleanup;
	}
	ret = attach_usdt_sites(l, id, path, &st, pid, pin_name, &u, t, why, sizeof(why));
	if (ret) {
		tt_loader__detach_link(l, t);
		t = NULL;
	}
cleanup:
	if (ret)
		snprintf(err, errlen, "cannot attach to USDT probe %s:%s in '%s': %s", provider,
			 name, path, why);
	else if (out)
		*out = t;
	free(u.notes);
	free(u.args);
	tt_elf__free(elf);
	return ret;
}
