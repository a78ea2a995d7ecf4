// SPDX-License-Identifier: MIT
/*
 * loader_pins.c: the pin directory (--pin) on bpffs, where an agent leaves
 * its shared maps and its uprobes' links for the next one: the maps pinned
 * or reused, a pinned link adopted when it runs the program this agent
 * would attach, and the pins no attachment uses any more removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfgen.h"
#include "log.h"
#include "loader.h"
#include "loader_internal.h"
#include "reaper.h"
#include "tasktap/usdt.h"
#include "tasktap.skel.h"

/* Writes "PIN_DIR/name" into buf. */
void loader__pin_path(const struct tt_loader *l, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", l->pin_dir, name);
}

/* The maps a later agent must share with this one: what links pinned now will use. */
struct bpf_map *loader__shared_maps(struct tasktap_bpf *skel, int i)
{
	struct bpf_map *maps[] = {
		skel->maps.probes,     skel->maps.threads,     skel->maps.saved,
		skel->maps.stats,      skel->maps.watch_comms, skel->maps.watch_prefixes,
		skel->maps.watch_dirs, skel->maps.rings,       skel->maps.scratch,
		skel->maps.usdt_sites, skel->maps.holds};

	return i < (int)(sizeof(maps) / sizeof(maps[0])) ? maps[i] : NULL;
}

/* Creates the pin directory, on bpffs (mounted at /sys/fs/bpf when it is not). */
int loader__make_pin_dir(const char *dir, char *err, size_t errlen)
{
	char links[PATH_MAX];
	struct statfs fs;
	int ret;

	if (mkdir(dir, 0700) && errno != EEXIST && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot create pin directory '%s': %s", dir, strerror(-ret));
		return ret;
	}
	if ((statfs(dir, &fs) || fs.f_type != BPF_FS_MAGIC) && !strncmp(dir, "/sys/fs/bpf/", 12) &&
	    (statfs("/sys/fs/bpf", &fs) || fs.f_type != BPF_FS_MAGIC)) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			ret = -errno;
			snprintf(err, errlen, "cannot mount bpffs at /sys/fs/bpf: %s",
				 strerror(-ret));
			return ret;
		}
		if (mkdir(dir, 0700) && errno != EEXIST) {
			ret = -errno;
			snprintf(err, errlen, "cannot create pin directory '%s': %s", dir,
				 strerror(-ret));
			return ret;
		}
	}
	if (statfs(dir, &fs) || fs.f_type != BPF_FS_MAGIC) {
		snprintf(err, errlen, "pin directory '%s' is not on a BPF filesystem (bpffs)", dir);
		return -EINVAL;
	}
	snprintf(links, sizeof(links), "%s/links", dir);
	if (mkdir(links, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", links, strerror(-ret));
		return ret;
	}
	return 0;
}

/* Asks libbpf to reuse the maps pinned in the pin directory, or to pin new ones there. */
int loader__pin_maps(struct tt_loader *l)
{
	char path[PATH_MAX], name[64];
	struct bpf_map *m;

	for (int i = 0; (m = loader__shared_maps(l->skel, i)); i++) {
		snprintf(name, sizeof(name), "map-%s", bpf_map__name(m));
		loader__pin_path(l, name, path, sizeof(path));
		if (access(path, F_OK) == 0)
			l->adopted = true;
		if (bpf_map__set_pin_path(m, path))
			return -errno;
	}
	return 0;
}

/* The tag (hash of the instructions, map references aside) of program `fd`. 0 or -errno. */
static int prog_tag(int fd, __u8 tag[BPF_TAG_SIZE])
{
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	memcpy(tag, info.tag, BPF_TAG_SIZE);
	return 0;
}

/* Whether the link `fd` runs a program with the instructions of program `prog_fd`. */
bool loader__runs_prog(int fd, int prog_fd)
{
	struct bpf_link_info info = {0};
	__u8 want[BPF_TAG_SIZE], have[BPF_TAG_SIZE];
	__u32 len = sizeof(info);
	int pfd, ret;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	pfd = bpf_prog_get_fd_by_id(info.prog_id);
	if (pfd < 0)
		return false;
	ret = prog_tag(pfd, have);
	close(pfd);
	return !ret && !prog_tag(prog_fd, want) && !memcmp(want, have, sizeof(want));
}

/* The link pinned at `path` by an earlier agent if it runs program `prog_fd`, or -1. */
static int open_pinned(const char *path, int prog_fd)
{
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -1;
	if (!loader__runs_prog(fd, prog_fd)) {
		close(fd); /* another program (the spec or tasktap changed): attach again */
		return -1;
	}
	return fd;
}

/* The pin paths of an attachment named `name`: "-e" for the entry, "-r" for the return. */
void loader__link_pins(const struct tt_loader *l, const char *name, char *entry, char *ret,
		       size_t len)
{
	snprintf(entry, len, "%s/links/%s-e", l->pin_dir, name);
	snprintf(ret, len, "%s/links/%s-r", l->pin_dir, name);
}

/*
 * Adopts the links pinned as `name` when they run the programs this agent
 * would attach; both or none. Returns whether it did.
 */
bool loader__adopt(struct tt_loader *l, const struct site_opts *o, struct probe_pair *pp)
{
	char pe[PATH_MAX], pr[PATH_MAX];

	loader__link_pins(l, o->pin_name, pe, pr, sizeof(pe));
	pp->entry.fd = open_pinned(pe, o->entry_prog);
	if (o->retprobe)
		pp->ret.fd = open_pinned(pr, o->ret_prog);
	if (pp->entry.fd >= 0 && (!o->retprobe || pp->ret.fd >= 0)) {
		pp->entry.pin = strdup(pe);
		pp->ret.pin = o->retprobe ? strdup(pr) : NULL;
		return true;
	}
	/* half a pair, none, or other programs: start again */
	loader__ulink_close(&pp->entry, true);
	loader__ulink_close(&pp->ret, true);
	unlink(pe);
	unlink(pr);
	return false;
}

bool tt_link__adopted(const struct tt_link *link)
{
	return link->adopted;
}

bool tt_loader__adopted(const struct tt_loader *l)
{
	return l->adopted;
}

/* Whether some attachment of this loader is pinned at `path`. */
static bool pin_in_use(const struct tt_loader *l, const char *path)
{
	for (const struct shared_site *s = l->shared; s; s = s->next) {
		if (s->link.pin && !strcmp(s->link.pin, path))
			return true;
	}
	for (const struct tt_link *t = l->links; t; t = t->next) {
		for (size_t i = 0; i < t->nsites; i++) {
			const struct probe_pair *pp = &t->sites[i];

			if ((pp->entry.pin && !strcmp(pp->entry.pin, path)) ||
			    (pp->ret.pin && !strcmp(pp->ret.pin, path)))
				return true;
		}
	}
	return false;
}

/*
 * Removes from `usdt_sites` the sites no attachment of this loader uses:
 * those of USDT probes an earlier agent attached and this one does not.
 */
static void prune_sites(struct tt_loader *l)
{
	int fd = bpf_map__fd(l->skel->maps.usdt_sites);
	__u64 *stale = calloc(TT_MAX_USDT_SITES, sizeof(*stale));
	__u64 key, next;
	size_t n = 0;
	void *prev = NULL;

	if (!stale)
		return;
	while (n < TT_MAX_USDT_SITES && bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (!loader__cookie_in_use(l, NULL, next))
			stale[n++] = next;
		key = next;
		prev = &key;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &stale[i]);
	free(stale);
}

int tt_loader__prune_pins(struct tt_loader *l)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (!l->pin_dir)
		return 0;
	/* every hook has joined its site: its program replaces the earlier agent's */
	for (struct shared_site *s = l->shared; s; s = s->next) {
		char why[256];

		if (s->pending && loader__load_site(l, s, why, sizeof(why)))
			tt_warn("a USDT site runs the earlier agent's program still: %s", why);
		s->pending = false;
	}
	prune_sites(l);
	snprintf(dir, sizeof(dir), "%s/links", l->pin_dir);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (pin_in_use(l, path) || unlink(path))
			continue;
		n++;
		{
			/* a shared site nobody wants: its program leaves its slot */
			const char *sl = strstr(de->d_name, "-s");
			unsigned long slot = sl ? strtoul(sl + 2, NULL, 10) : TT_MAX_USDT_SITES;
			__u32 key = (__u32)slot;

			if (!strncmp(de->d_name, "site_", 5) && slot < TT_MAX_USDT_SITES &&
			    !l->slot_used[slot] && l->site_progs_fd >= 0)
				bpf_map_delete_elem(l->site_progs_fd, &key);
		}
	}
	closedir(d);
	return n;
}
