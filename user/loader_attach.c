// SPDX-License-Identifier: MIT
/*
 * loader_attach.c: uprobes attached and detached. An attachment (struct
 * tt_link) holds the uprobes of its places: a uprobe perf event with a BPF
 * link to the hook's program, pinned with --pin (or adopted from the agent
 * before, loader_pins.c). Detached at once, or through the reaper for an
 * exited process. USDT sites are loader_usdt.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
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

/* A new attachment of `nsites` places, in the list and counted as one hook. NULL: no memory. */
struct tt_link *loader__new_link(struct tt_loader *l, size_t nsites, bool usdt)
{
	struct tt_link *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->sites = calloc(nsites, sizeof(*t->sites));
	t->cookies = usdt ? calloc(nsites, sizeof(*t->cookies)) : NULL;
	t->shared = usdt ? calloc(nsites, sizeof(*t->shared)) : NULL;
	if (!t->sites || (usdt && (!t->cookies || !t->shared))) {
		free(t->sites);
		free(t->cookies);
		free(t->shared);
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < nsites; i++)
		t->sites[i].entry.fd = t->sites[i].ret.fd = -1;
	t->nsites = nsites;
	t->next = l->links;
	if (l->links)
		l->links->prev = t;
	l->links = t;
	l->nattached++;
	return t;
}

/* Whether an attachment other than `except` uses the USDT site `cookie`. */
bool loader__cookie_in_use(const struct tt_loader *l, const struct tt_link *except, __u64 cookie)
{
	for (const struct tt_link *t = l->links; t; t = t->next) {
		for (size_t i = 0; t != except && t->cookies && i < t->nsites; i++) {
			if (t->cookies[i] == cookie)
				return true;
		}
	}
	return false;
}

/*
 * Unlinks t from the list and frees it; its links are already gone.
 * Unless `keep_sites`, the USDT sites no other attachment uses leave
 * `usdt_sites`.
 */
static void forget_link(struct tt_loader *l, struct tt_link *t, bool keep_sites)
{
	int fd = bpf_map__fd(l->skel->maps.usdt_sites);

	for (size_t i = 0; t->cookies && i < t->nsites; i++) {
		if (!t->cookies[i] || loader__cookie_in_use(l, t, t->cookies[i]))
			continue;
		l->nsites--;
		if (!keep_sites)
			bpf_map_delete_elem(fd, &t->cookies[i]);
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		l->links = t->next;
	if (t->next)
		t->next->prev = t->prev;
	l->nattached--;
	free(t->sites);
	free(t->cookies);
	free(t->shared);
	free(t);
}

/* Closes a uprobe's handle; unpins it first unless `keep` (a pinned link then stays attached). */
void loader__ulink_close(struct ulink *u, bool keep)
{
	if (u->pin && !keep)
		unlink(u->pin);
	if (u->fd >= 0)
		close(u->fd);
	free(u->pin);
	u->fd = -1;
	u->pin = NULL;
}

/* A number read from a sysfs file: the uprobe PMU's type, or its retprobe bit ("config:0"). */
static int sysfs_int(const char *path, const char *skip)
{
	char buf[64] = "";
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || strncmp(buf, skip, strlen(skip)))
		return -EINVAL;
	return (int)strtol(buf + strlen(skip), NULL, 10);
}

#define PERF_UPROBE_REF_CTR_OFFSET_SHIFT 32

/* A uprobe perf event (as libbpf makes one). Its fd, or -errno. */
static int uprobe_event(const struct site_opts *o, bool retprobe)
{
	static int type = -1, bit = -1;
	struct perf_event_attr attr = {0};
	int fd;

	if (type < 0)
		type = sysfs_int("/sys/bus/event_source/devices/uprobe/type", "");
	if (bit < 0)
		bit = sysfs_int("/sys/bus/event_source/devices/uprobe/format/retprobe", "config:");
	if (type < 0 || (retprobe && bit < 0))
		return type < 0 ? type : bit;
	attr.size = sizeof(attr);
	attr.type = type;
	attr.config = (retprobe ? 1ULL << bit : 0) | o->ref_ctr << PERF_UPROBE_REF_CTR_OFFSET_SHIFT;
	attr.config1 = (uint64_t)(uintptr_t)o->path; /* uprobe_path */
	attr.config2 = o->offset;		     /* probe_offset */
	fd = syscall(__NR_perf_event_open, &attr, o->pid < 0 ? -1 : o->pid, o->pid == -1 ? 0 : -1,
		     -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * uprobe_multi links (kernel 6.6), which Debian's libbpf 1.1 and uapi
 * headers predate: the layout of bpf(2)'s link_create for them, as the
 * kernel's uapi has them (checked against this kernel's BTF; the values in
 * loader_internal.h). Session links (6.13) are the same with their own
 * attach type.
 */
struct uprobe_multi_attr {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 uprobe_flags;
	__u32 pid;
	__u32 pad;
};

_Static_assert(offsetof(struct uprobe_multi_attr, path) == 16, "link_create's union");
_Static_assert(offsetof(struct uprobe_multi_attr, pid) == 56, "uprobe_multi's pid");

/*
 * A uprobe_multi link (or, by `attach_type`, a session link) of `prog` at
 * one place (its return when `ret`), for process `pid` only when > 0. Its
 * fd, or -errno.
 */
int loader__uprobe_multi_link(int prog, __u32 attach_type, const char *path, __u64 offset,
			      __u64 ref_ctr, __u64 cookie, bool ret, pid_t pid)
{
	struct uprobe_multi_attr a = {
		.prog_fd = (__u32)prog,
		.attach_type = attach_type,
		.path = (__u64)(uintptr_t)path,
		.offsets = (__u64)(uintptr_t)&offset,
		.ref_ctr_offsets = ref_ctr ? (__u64)(uintptr_t)&ref_ctr : 0,
		.cookies = (__u64)(uintptr_t)&cookie,
		.cnt = 1,
		.uprobe_flags = ret ? TT_BPF_F_UPROBE_MULTI_RETURN : 0,
		.pid = pid > 0 ? (__u32)pid : 0,
	};
	int fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));

	return fd < 0 ? -errno : fd;
}

/*
 * Whether this kernel makes uprobe links of `attach_type` (uprobe_multi,
 * uprobe session): a program loaded for them, linked to "/" (no regular
 * file), fails with EBADF where it does, and earlier elsewhere (at its
 * load, as libbpf probes it, or EINVAL for the attach type).
 */
bool loader__has_uprobe_links(__u32 attach_type)
{
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = (enum bpf_attach_type)attach_type);
	int prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &opts);
	int fd;

	if (prog < 0)
		return false;
	fd = loader__uprobe_multi_link(prog, attach_type, "/", 0, 0, 0, false, 0);
	close(prog);
	if (fd >= 0)
		close(fd);
	return fd == -EBADF;
}

/*
 * The attach type compiled programs are loaded for: uprobe_multi links
 * where the kernel has them (their release waits for the grace periods of
 * their own and without the global event mutex that perf uprobes' does, so
 * that closes overlap: 100 perf uprobes took ~12 s to close), else 0 (perf
 * event links). Probed once.
 */
enum bpf_attach_type loader__uprobe_attach_type(void)
{
	static int type = -1;

	if (type < 0)
		type = loader__has_uprobe_links(TT_BPF_TRACE_UPROBE_MULTI)
			       ? TT_BPF_TRACE_UPROBE_MULTI
			       : 0;
	return (enum bpf_attach_type)type;
}

/*
 * Attaches program `prog_fd` to a new uprobe event: a BPF perf-event link
 * (which holds the event: its fd is closed), pinned at `pin` when given;
 * on kernels without such links the event itself with the program set
 * (not pinnable). 0 or -errno.
 */
int loader__attach_one(struct tt_loader *l, const struct site_opts *o, bool retprobe,
		       const char *pin, struct ulink *out)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .perf_event.bpf_cookie = o->cookie);
	int prog = retprobe ? o->ret_prog : o->entry_prog;
	int pfd, fd, ret;

	if (loader__uprobe_attach_type()) {
		ret = loader__rings_ready(l); /* the link's probe fires at once */
		if (ret)
			return ret;
		fd = loader__uprobe_multi_link(
			prog, o->session ? TT_BPF_TRACE_UPROBE_SESSION : TT_BPF_TRACE_UPROBE_MULTI,
			o->path, o->offset, o->ref_ctr, o->cookie, retprobe, o->pid);
		if (fd < 0 && o->session)
			return fd; /* no perf-event form */
		if (fd >= 0)
			goto attached;
		if (fd != -EINVAL)
			return fd;
		/* a program loaded for perf events (the python ones, the interpreter) */
	}
	pfd = uprobe_event(o, retprobe);
	if (pfd < 0)
		return pfd;
	/* the event first: the kernel's first uprobe waits as the rings install */
	ret = loader__rings_ready(l);
	if (ret) {
		close(pfd);
		return ret;
	}
	fd = bpf_link_create(prog, pfd, BPF_PERF_EVENT, &lopts);
	if (fd >= 0) {
		close(pfd); /* the link holds the event */
	} else if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog) == 0 &&
		   ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0) == 0) {
		fd = pfd;
		pin = NULL;
	} else {
		ret = -errno;
		close(pfd);
		return ret;
	}
attached:
	out->fd = fd;
	/* a link the kernel cannot pin just is not kept */
	if (pin && bpf_obj_pin(fd, pin) == 0)
		out->pin = strdup(pin);
	return 0;
}

/*
 * One probed place: with a pin directory and a pin name, the links an
 * earlier agent pinned under that name are adopted (*adopted), else new
 * ones are attached and pinned there. Returns 0 or -errno; on failure pp
 * may hold part of a pair, for the caller's detach.
 */
int loader__attach_site(struct tt_loader *l, const struct site_opts *o, struct probe_pair *pp,
			bool *adopted)
{
	char pe[PATH_MAX], pr[PATH_MAX];
	bool pin = l->pin_dir && o->pin_name;
	int ret;

	*adopted = false;
	if (pin) {
		loader__link_pins(l, o->pin_name, pe, pr, sizeof(pe));
		if (loader__adopt(l, o, pp)) {
			*adopted = true;
			return 0;
		}
	}
	ret = loader__attach_one(l, o, false, pin ? pe : NULL, &pp->entry);
	if (!ret && o->retprobe)
		ret = loader__attach_one(l, o, true, pin ? pr : NULL, &pp->ret);
	return ret;
}

/*
 * Hook `id`, compiled, joins the shared sites of the function at o->offset:
 * its entry's, and its return's with o->retprobe. Every hook on the
 * function then shares one uprobe (and one uretprobe) whose one program
 * runs each member's filter and writes only what they keep. 0, or -errno
 * with why; on failure t may hold one of the two, for the caller's detach.
 */
static int join_fn_sites(struct tt_loader *l, uint32_t id, const struct site_opts *o,
			 struct tt_link *t, char *why, size_t whylen)
{
	struct stat st;
	int ret;

	if (stat(o->path, &st)) {
		ret = -errno;
		snprintf(why, whylen, "%s", strerror(-ret));
		return ret;
	}
	t->fn_id = id;
	ret = loader__join_site(l, TT_BPFGEN_ENTRY, id, o, &st, NULL, &t->fn_site[0], why, whylen);
	if (!ret && o->retprobe)
		ret = loader__join_site(l, TT_BPFGEN_RETURN, id, o, &st, NULL, &t->fn_site[1], why,
					whylen);
	t->adopted = !ret && t->fn_site[0]->adopted && (!o->retprobe || t->fn_site[1]->adopted);
	return ret;
}

/* Leaves the shared sites of a function that t joined; `keep`: as loader__leave_site(). */
static void leave_fn_sites(struct tt_loader *l, struct tt_link *t, bool keep)
{
	for (int k = 0; k < 2; k++) {
		if (t->fn_site[k])
			loader__leave_site(l, t->fn_site[k], t->fn_id, keep);
		t->fn_site[k] = NULL;
	}
}

/* Whether hooks on one function share its uprobes: unless TASKTAP_FN_SITES=0 (to compare). */
static bool fn_sites_wanted(void)
{
	const char *v = getenv("TASKTAP_FN_SITES");

	return !v || strcmp(v, "0");
}

/*
 * The uprobes of hook `id` at one function: its shared sites when its
 * programs are compiled ones (not a session program, not the
 * interpreter), else, or when they cannot be joined (no free slot), a
 * uprobe and a uretprobe of its own. 0 or -errno.
 */
static int attach_fn(struct tt_loader *l, uint32_t id, const struct site_opts *o, struct tt_link *t)
{
	char why[256];

	if (fn_sites_wanted() && !o->session && loader__is_compiled(l, o->entry_prog) &&
	    (!o->retprobe || loader__is_compiled(l, o->ret_prog))) {
		if (!join_fn_sites(l, id, o, t, why, sizeof(why)))
			return 0;
		tt_warn("hook %u: a uprobe of its own: cannot share its function's: %s", id, why);
		leave_fn_sites(l, t, false);
	}
	return loader__attach_site(l, o, &t->sites[0], &t->adopted);
}

int tt_loader__attach(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		      bool retprobe, pid_t pid, const char *pin_name, struct tt_link **out,
		      char *err, size_t errlen)
{
	int call = retprobe ? loader__session_for(l, id) : -EOPNOTSUPP;
	/* else its two events from one session program, where asked for (TASKTAP_PAIR=1) */
	int session = call < 0 && retprobe ? loader__pair_for(l, id) : call;
	struct site_opts o = {
		.entry_prog =
			session >= 0 ? session : loader__prog_for(l, id, TT_BPFGEN_ENTRY, NULL),
		.ret_prog = retprobe && session < 0
				    ? loader__prog_for(l, id, TT_BPFGEN_RETURN, NULL)
				    : -1,
		.session = session >= 0,
		.path = path,
		.offset = offset,
		.cookie = id,
		.retprobe = retprobe && session < 0, /* a session link runs at both */
		.pid = pid,
		.pin_name = pin_name,
	};
	struct tt_link *t;
	int ret;

	retprobe = o.retprobe;
	l->sessions |= call >= 0; /* `calls` may hold calls */

	ret = o.entry_prog < 0 ? o.entry_prog : retprobe && o.ret_prog < 0 ? o.ret_prog : 0;
	if (ret) {
		snprintf(err, errlen,
			 "cannot attach uprobe to '%s' at offset 0x%llx: no program: %s", path,
			 (unsigned long long)offset, strerror(-ret));
		return ret;
	}
	t = loader__new_link(l, 1, false);
	if (!t)
		return -ENOMEM;
	t->session = o.session;
	ret = attach_fn(l, id, &o, t);
	if (ret) {
		snprintf(err, errlen, "cannot attach uprobe to '%s' at offset 0x%llx: %s", path,
			 (unsigned long long)offset, strerror(-ret));
		tt_loader__detach_link(l, t);
		return ret;
	}
	if (out)
		*out = t;
	return 0;
}

/* Closes the links of t (unpinning them unless `keep_pins`) and frees it. */
void loader__free_link(struct tt_loader *l, struct tt_link *t, bool keep_pins)
{
	if (t->py)
		loader__leave_py_group(l, t);
	leave_fn_sites(l, t, keep_pins);
	for (size_t i = 0; t->shared && i < t->nsites; i++) {
		if (t->shared[i])
			loader__leave_site(l, t->shared[i],
					   (uint32_t)(t->cookies[i] & TT_USDT_HOOK_MASK),
					   keep_pins);
		t->shared[i] = NULL;
	}
	for (size_t i = 0; i < t->nsites; i++) {
		loader__ulink_close(&t->sites[i].entry, keep_pins);
		loader__ulink_close(&t->sites[i].ret, keep_pins);
	}
	forget_link(l, t, keep_pins);
}

void tt_loader__detach_link(struct tt_loader *l, struct tt_link *t)
{
	if (t)
		loader__free_link(l, t, false);
}

/* Hands the uprobe handle of u to the reaper: closed later, off the event loop. */
static void ulink_close_later(struct tt_loader *l, struct ulink *u)
{
	tt_reaper__close(l->reaper, u->fd);
	u->fd = -1; /* loader__ulink_close() still unpins and frees the rest */
}

/* The uprobes of the shared sites t is the last member of, handed to the reaper. */
static void sites_close_later(struct tt_loader *l, struct tt_link *t)
{
	for (int k = 0; k < 2; k++) {
		if (t->fn_site[k] && t->fn_site[k]->n == 1)
			ulink_close_later(l, &t->fn_site[k]->link);
	}
	for (size_t i = 0; t->shared && i < t->nsites; i++) {
		if (t->shared[i] && t->shared[i]->n == 1)
			ulink_close_later(l, &t->shared[i]->link);
	}
}

void tt_loader__detach_exited(struct tt_loader *l, struct tt_link *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsites; i++) {
		ulink_close_later(l, &t->sites[i].entry);
		ulink_close_later(l, &t->sites[i].ret);
	}
	sites_close_later(l, t);
	loader__free_link(l, t, false); /* unpins them, leaves its shared USDT sites, frees t */
}

/* Unpins u unless `keep_pins` (else the unlink would detach it), hands it to the reaper. */
static void ulink_close_before_flush(struct tt_loader *l, struct ulink *u, bool keep_pins)
{
	if (u->pin && !keep_pins)
		unlink(u->pin);
	tt_reaper__close(l->reaper, u->fd);
	u->fd = -1;
}

void tt_loader__detach(struct tt_loader *l, bool keep_pins)
{
	/*
	 * Each uprobe's last close waits for grace periods (~0.1-0.5 s): the
	 * reaper closes them several at once, and this waits for them all
	 */
	for (struct tt_link *t = l->links; t; t = t->next) {
		for (size_t i = 0; i < t->nsites; i++) {
			struct ulink *u[] = {&t->sites[i].entry, &t->sites[i].ret};

			for (int k = 0; k < 2; k++)
				ulink_close_before_flush(l, u[k], keep_pins);
		}
	}
	/* the shared sites' too (USDT sites, functions' entries and returns) */
	for (struct shared_site *s = l->shared; s; s = s->next)
		ulink_close_before_flush(l, &s->link, keep_pins);
	tt_reaper__flush(l->reaper);
	while (l->links)
		loader__free_link(l, l->links, keep_pins);
}
