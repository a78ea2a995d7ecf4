// SPDX-License-Identifier: MIT
/* The loader: BPF programs, per-CPU rings, capture programs, attach and detach. */
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
#include "elf.h"
#include "hold.h"
#include "loader.h"
#include "loader_internal.h"
#include "reaper.h"
#include "usdt.h"
#include "tasktap/usdt.h"
#include "tasktap.skel.h"

static int ring_sample(void *ctx, void *data, size_t size)
{
	struct tt_loader *l = ctx;

	return l->on_event(data, size, l->ctx);
}

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("TASKTAP_DEBUG_LIBBPF"))
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_DEBUG && getenv("TASKTAP_DEBUG_LIBBPF"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* Writes "PIN_DIR/name" into buf. */
void pin_path(const struct tt_loader *l, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", l->pin_dir, name);
}

/*
 * The ring of `cpu`: the one pinned by an earlier agent (whatever its
 * size), else a new one, pinned when there is a pin directory. Returns
 * its fd or -errno.
 */
static int pinned_ring(struct tt_loader *l, int cpu, size_t bytes)
{
	char name[32], path[PATH_MAX];
	int fd, ret;

	if (!l->pin_dir) {
		fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "tt_ring", 0, 0, bytes, NULL);
		return fd < 0 ? -errno : fd;
	}
	snprintf(name, sizeof(name), "ring-%d", cpu);
	pin_path(l, name, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "tt_ring", 0, 0, bytes, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Creates one ring per possible CPU and plugs it into the `rings` array. */
static int make_rings(struct tt_loader *l, size_t bytes, char *err, size_t errlen)
{
	int outer = bpf_map__fd(l->skel->maps.rings);
	__u32 *cpus, count = l->ncpus;
	int ret = 0;

	l->ring_fds = calloc(l->ncpus, sizeof(*l->ring_fds));
	cpus = calloc(l->ncpus, sizeof(*cpus));
	if (!l->ring_fds || !cpus) {
		free(cpus);
		return -ENOMEM;
	}
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		l->ring_fds[cpu] = -1;
		cpus[cpu] = cpu;
	}
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		int fd = pinned_ring(l, cpu, bytes);

		if (fd < 0) {
			ret = fd;
			snprintf(err, errlen, "cannot create a %zu-byte ring buffer: %s", bytes,
				 strerror(-ret));
			goto out;
		}
		l->ring_fds[cpu] = fd;
		if (!l->rb)
			l->rb = ring_buffer__new(fd, ring_sample, l, NULL);
		else if (ring_buffer__add(l->rb, fd, ring_sample, l))
			l->rb = NULL;
		if (!l->rb) {
			ret = -errno;
			snprintf(err, errlen, "cannot map ring buffer of cpu %d: %s", cpu,
				 strerror(-ret));
			goto out;
		}
	}
	/*
	 * In one batch: the kernel waits for an RCU grace period (milliseconds)
	 * after each update of a map of maps, once per batch
	 */
	if (bpf_map_update_batch(outer, cpus, l->ring_fds, &count, NULL) == 0)
		goto out;
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		if (bpf_map_update_elem(outer, &cpu, &l->ring_fds[cpu], BPF_ANY)) {
			ret = -errno;
			snprintf(err, errlen, "cannot install ring buffer of cpu %d: %s", cpu,
				 strerror(-ret));
			goto out;
		}
	}
out:
	free(cpus);
	return ret;
}

/* The maps a later agent must share with this one: what links pinned now will use. */
struct bpf_map *shared_maps(struct tasktap_bpf *skel, int i)
{
	struct bpf_map *maps[] = {
		skel->maps.probes,     skel->maps.threads,     skel->maps.saved,
		skel->maps.stats,      skel->maps.watch_comms, skel->maps.watch_prefixes,
		skel->maps.watch_dirs, skel->maps.rings,       skel->maps.scratch,
		skel->maps.usdt_sites, skel->maps.holds};

	return i < (int)(sizeof(maps) / sizeof(maps[0])) ? maps[i] : NULL;
}

/* Creates the pin directory, on bpffs (mounted at /sys/fs/bpf when it is not). */
static int make_pin_dir(const char *dir, char *err, size_t errlen)
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
static int pin_maps(struct tt_loader *l)
{
	char path[PATH_MAX], name[64];
	struct bpf_map *m;

	for (int i = 0; (m = shared_maps(l->skel, i)); i++) {
		snprintf(name, sizeof(name), "map-%s", bpf_map__name(m));
		pin_path(l, name, path, sizeof(path));
		if (access(path, F_OK) == 0)
			l->adopted = true;
		if (bpf_map__set_pin_path(m, path))
			return -errno;
	}
	return 0;
}

/* The exit tracepoint: the pinned link of an earlier agent, else a new one (pinned). */
static int attach_exit(struct tt_loader *l)
{
	char path[PATH_MAX];

	if (l->pin_dir) {
		pin_path(l, "link-exit", path, sizeof(path));
		l->exit_link = bpf_link__open(path);
		if (l->exit_link)
			return 0;
	}
	l->exit_link = bpf_program__attach(l->skel->progs.tt_exit);
	if (!l->exit_link)
		return -errno;
	if (l->pin_dir && bpf_link__pin(l->exit_link, path))
		return -errno;
	return 0;
}

/*
 * The per-CPU array of lost events per hook id, which the compiled programs
 * count into: the one pinned by an earlier agent, else a new one (pinned
 * when there is a pin directory). Its fd or -errno.
 */
static int hook_lost_map(struct tt_loader *l)
{
	char path[PATH_MAX];
	int fd, ret;

	if (l->pin_dir) {
		pin_path(l, "map-hook_lost", path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd >= 0)
			return fd;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "hook_lost", sizeof(__u32), sizeof(__u64),
			    TT_MAX_PROBES + 1, NULL);
	if (fd < 0)
		return -errno;
	if (l->pin_dir && bpf_obj_pin(fd, path)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * How long BPF may hold a process at exec: TT_HOLD_NS, or TASKTAP_HOLD_MS
 * (1 to 60000) for tests that need an agent to be too late.
 */
static __u64 hold_ns(void)
{
	const char *env = getenv("TASKTAP_HOLD_MS");
	unsigned long ms;
	char *end;

	if (!env || !*env)
		return TT_HOLD_NS;
	errno = 0;
	ms = strtoul(env, &end, 10);
	if (errno || *end || ms < 1 || ms > 60000) {
		tt_warn("ignoring TASKTAP_HOLD_MS '%s': not a number of milliseconds from 1 to "
			"60000",
			env);
		return TT_HOLD_NS;
	}
	return (__u64)ms * 1000000;
}

/*
 * Tells BPF who this agent is, so that holds wait for it while it is at
 * work. Its pid is the one BPF knows only in the initial pid namespace:
 * elsewhere (a container without the host's pids) BPF finds no such agent,
 * and holds are the shorter TT_HOLD_NS.
 */
static void agent_identity(struct tt_loader *l)
{
	unsigned long long ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0 || tt_hold__start_ticks(getpid(), &ticks))
		return;
	l->skel->bss->tick_ns = 1000000000ULL / (unsigned long long)hz;
	l->skel->bss->agent_start_ticks = ticks;
	l->skel->bss->agent_tgid = (__u32)getpid();
}

/*
 * Lets BPF hold processes at exec once the hold map outlives this agent
 * (pinned), so that their deadlines do: else none is held, and a fast
 * worker may run its first task before its probes are in.
 */
static void start_holding(struct tt_loader *l)
{
	char path[PATH_MAX], err[PATH_MAX + 128];

	if (!l->pin_dir) {
		if (tt_hold__pin(bpf_map__fd(l->skel->maps.holds), path, sizeof(path), err,
				 sizeof(err))) {
			tt_warn("%s: processes are not held at exec, their first tasks may run "
				"before their probes are in",
				err);
			return;
		}
		l->hold_pin = strdup(path);
	}
	agent_identity(l);
	l->skel->bss->hold_ns = hold_ns();
}

/* Opens the BPF object, pins its shared maps (--pin) and loads it. 0 or -errno. */
static int load_object(struct tt_loader *l, size_t bytes, char *err, size_t errlen)
{
	int ret;

	l->skel = tasktap_bpf__open();
	if (!l->skel) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-ret));
		return ret;
	}
	l->skel->rodata->wakeup_watermark = bytes / 4;
	if (!l->interpret) {
		/* loaded on first need only (load_interpreter()) */
		bpf_program__set_autoload(l->skel->progs.tt_entry, false);
		bpf_program__set_autoload(l->skel->progs.tt_return, false);
		bpf_program__set_autoload(l->skel->progs.tt_usdt_site, false);
	}
	if (l->pin_dir && (ret = pin_maps(l))) {
		snprintf(err, errlen, "cannot pin maps in '%s': %s", l->pin_dir, strerror(-ret));
		return ret;
	}
	/* the rings are made below, at their own size: ring maps in a map-of-maps need not
	 * match the template's size */
	ret = tasktap_bpf__load(l->skel);
	if (ret)
		snprintf(err, errlen,
			 "cannot load the BPF programs: %s (set TASKTAP_DEBUG_LIBBPF=1 for the "
			 "verifier log%s)",
			 strerror(-ret),
			 l->pin_dir ? "; maps pinned by another version of tasktap are removed "
				      "with rm -r PIN_DIR"
				    : "");
	return ret;
}

/* Attaches the programs every agent runs: process exits and execs. 0 or -errno. */
static int attach_tracepoints(struct tt_loader *l, char *err, size_t errlen)
{
	int ret = attach_exit(l);

	if (ret) {
		snprintf(err, errlen, "cannot attach to tracepoint sched_process_exit: %s",
			 strerror(-ret));
		return ret;
	}
	l->exec_link = bpf_program__attach(l->skel->progs.tt_exec);
	if (!l->exec_link) {
		ret = -errno;
		snprintf(err, errlen, "cannot attach to tracepoint sched_process_exec: %s",
			 strerror(-ret));
		return ret;
	}
	return 0;
}

struct tt_loader *tt_loader__new(const struct tt_loader_opts *opts, char *err, size_t errlen)
{
	size_t bytes = opts->ring_bytes ? opts->ring_bytes : TT_DEFAULT_RING_BYTES;
	struct tt_loader *l;
	int ret;

	libbpf_set_print(silent_print);
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->on_event = opts->on_event;
	l->ctx = opts->ctx;
	l->hook_lost_fd = -1;
	l->reaper = tt_reaper__new(); /* NULL: such probes are closed at once instead */
	l->site_progs_fd = -1;
	l->interpret = opts->interpret;
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0 || l->ncpus > TT_MAX_CPUS) {
		snprintf(err, errlen, "unsupported number of possible CPUs: %d", l->ncpus);
		ret = -ENOTSUP;
		goto fail;
	}
	if (opts->pin_dir) {
		ret = make_pin_dir(opts->pin_dir, err, errlen);
		if (ret)
			goto fail;
		l->pin_dir = strdup(opts->pin_dir);
		if (!l->pin_dir) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	ret = load_object(l, bytes, err, errlen);
	if (ret)
		goto fail;
	ret = make_rings(l, bytes, err, errlen);
	if (ret)
		goto fail;
	l->hook_lost_fd = hook_lost_map(l);
	if (l->hook_lost_fd < 0) {
		ret = l->hook_lost_fd;
		snprintf(err, errlen, "cannot create the map of lost events per hook: %s",
			 strerror(-ret));
		goto fail;
	}
	start_holding(l);
	ret = attach_tracepoints(l, err, errlen);
	if (ret)
		goto fail;
	return l;
fail:
	tt_loader__free(l);
	errno = -ret;
	return NULL;
}

/* Closes this agent's handle of a link; a pinned one stays in the kernel when `keep`. */
static void drop_link(struct bpf_link *link, bool keep)
{
	if (!link)
		return;
	if (keep && bpf_link__pin_path(link))
		bpf_link__disconnect(link); /* no detach: the pin keeps it attached */
	bpf_link__destroy(link);
}

void free_progs(struct tt_loader *l, uint32_t id, bool all)
{
	struct gen_prog **pp = &l->progs;

	while (*pp) {
		struct gen_prog *p = *pp;

		if (!all && p->id != id) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (p->fd >= 0)
			close(p->fd); /* links attached keep the program */
		free(p);
	}
}

void tt_loader__free(struct tt_loader *l)
{
	if (!l)
		return;
	tt_loader__detach(l, true);
	tt_reaper__free(l->reaper); /* the probes of exited processes it still holds */
	drop_link(l->exit_link, true);
	bpf_link__destroy(l->exec_link);
	bpf_link__destroy(l->fork_link);
	/* no more holds: continue what is held, or the pin would outlive its use */
	if (l->skel && l->skel->maps.holds && bpf_map__fd(l->skel->maps.holds) >= 0)
		tt_hold__release_all(bpf_map__fd(l->skel->maps.holds));
	if (l->hold_pin)
		unlink(l->hold_pin);
	free(l->hold_pin);
	ring_buffer__free(l->rb);
	for (int cpu = 0; l->ring_fds && cpu < l->ncpus; cpu++) {
		if (l->ring_fds[cpu] >= 0)
			close(l->ring_fds[cpu]);
	}
	free(l->ring_fds);
	if (l->hook_lost_fd >= 0)
		close(l->hook_lost_fd);
	if (l->site_progs_fd >= 0)
		close(l->site_progs_fd);
	free_progs(l, 0, true);
	for (int i = 0; i <= TT_MAX_PROBES; i++)
		free(l->hooks[i]);
	tasktap_bpf__destroy(l->interp);
	tasktap_bpf__destroy(l->skel);
	free(l->pin_dir);
	free(l);
}

/* A new attachment of `nsites` places, in the list and counted as one hook. NULL: no memory. */
struct tt_link *new_link(struct tt_loader *l, size_t nsites, bool usdt)
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
bool cookie_in_use(const struct tt_loader *l, const struct tt_link *except, __u64 cookie)
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
		if (!t->cookies[i] || cookie_in_use(l, t, t->cookies[i]))
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
void ulink_close(struct ulink *u, bool keep)
{
	if (u->pin && !keep)
		unlink(u->pin);
	if (u->fd >= 0)
		close(u->fd);
	free(u->pin);
	u->fd = -1;
	u->pin = NULL;
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
bool runs_prog(int fd, int prog_fd)
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
	if (!runs_prog(fd, prog_fd)) {
		close(fd); /* another program (the spec or tasktap changed): attach again */
		return -1;
	}
	return fd;
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
 * Attaches program `prog_fd` to a new uprobe event: a BPF perf-event link
 * (which holds the event: its fd is closed), pinned at `pin` when given;
 * on kernels without such links the event itself with the program set
 * (not pinnable). 0 or -errno.
 */
int attach_one(const struct site_opts *o, bool retprobe, const char *pin, struct ulink *out)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .perf_event.bpf_cookie = o->cookie);
	int pfd = uprobe_event(o, retprobe);
	int fd, ret;

	if (pfd < 0)
		return pfd;
	fd = bpf_link_create(retprobe ? o->ret_prog : o->entry_prog, pfd, BPF_PERF_EVENT, &lopts);
	if (fd >= 0) {
		close(pfd); /* the link holds the event */
	} else if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, retprobe ? o->ret_prog : o->entry_prog) ==
			   0 &&
		   ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0) == 0) {
		fd = pfd;
		pin = NULL;
	} else {
		ret = -errno;
		close(pfd);
		return ret;
	}
	out->fd = fd;
	/* a link the kernel cannot pin just is not kept */
	if (pin && bpf_obj_pin(fd, pin) == 0)
		out->pin = strdup(pin);
	return 0;
}

/* The pin paths of an attachment named `name`: "-e" for the entry, "-r" for the return. */
static void link_pins(const struct tt_loader *l, const char *name, char *entry, char *ret,
		      size_t len)
{
	snprintf(entry, len, "%s/links/%s-e", l->pin_dir, name);
	snprintf(ret, len, "%s/links/%s-r", l->pin_dir, name);
}

/*
 * Adopts the links pinned as `name` when they run the programs this agent
 * would attach; both or none. Returns whether it did.
 */
static bool adopt(struct tt_loader *l, const struct site_opts *o, struct probe_pair *pp)
{
	char pe[PATH_MAX], pr[PATH_MAX];

	link_pins(l, o->pin_name, pe, pr, sizeof(pe));
	pp->entry.fd = open_pinned(pe, o->entry_prog);
	if (o->retprobe)
		pp->ret.fd = open_pinned(pr, o->ret_prog);
	if (pp->entry.fd >= 0 && (!o->retprobe || pp->ret.fd >= 0)) {
		pp->entry.pin = strdup(pe);
		pp->ret.pin = o->retprobe ? strdup(pr) : NULL;
		return true;
	}
	/* half a pair, none, or other programs: start again */
	ulink_close(&pp->entry, true);
	ulink_close(&pp->ret, true);
	unlink(pe);
	unlink(pr);
	return false;
}

/*
 * One probed place: with a pin directory and a pin name, the links an
 * earlier agent pinned under that name are adopted (*adopted), else new
 * ones are attached and pinned there. Returns 0 or -errno; on failure pp
 * may hold part of a pair, for the caller's detach.
 */
int attach_site(struct tt_loader *l, const struct site_opts *o, struct probe_pair *pp,
		bool *adopted)
{
	char pe[PATH_MAX], pr[PATH_MAX];
	bool pin = l->pin_dir && o->pin_name;
	int ret;

	*adopted = false;
	if (pin) {
		link_pins(l, o->pin_name, pe, pr, sizeof(pe));
		if (adopt(l, o, pp)) {
			*adopted = true;
			return 0;
		}
	}
	ret = attach_one(o, false, pin ? pe : NULL, &pp->entry);
	if (!ret && o->retprobe)
		ret = attach_one(o, true, pin ? pr : NULL, &pp->ret);
	return ret;
}

int tt_loader__attach(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		      bool retprobe, pid_t pid, const char *pin_name, struct tt_link **out,
		      char *err, size_t errlen)
{
	struct site_opts o = {
		.entry_prog = prog_for(l, id, TT_BPFGEN_ENTRY, NULL),
		.ret_prog = retprobe ? prog_for(l, id, TT_BPFGEN_RETURN, NULL) : -1,
		.path = path,
		.offset = offset,
		.cookie = id,
		.retprobe = retprobe,
		.pid = pid,
		.pin_name = pin_name,
	};
	struct tt_link *t;
	int ret;

	ret = o.entry_prog < 0 ? o.entry_prog : retprobe && o.ret_prog < 0 ? o.ret_prog : 0;
	if (ret) {
		snprintf(err, errlen,
			 "cannot attach uprobe to '%s' at offset 0x%llx: no program: %s", path,
			 (unsigned long long)offset, strerror(-ret));
		return ret;
	}
	t = new_link(l, 1, false);
	if (!t)
		return -ENOMEM;
	ret = attach_site(l, &o, &t->sites[0], &t->adopted);
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

bool tt_link__adopted(const struct tt_link *link)
{
	return link->adopted;
}

/* Closes the links of t (unpinning them unless `keep_pins`) and frees it. */
static void free_link(struct tt_loader *l, struct tt_link *t, bool keep_pins)
{
	for (size_t i = 0; t->shared && i < t->nsites; i++) {
		if (t->shared[i])
			leave_site(l, t->shared[i], (uint32_t)(t->cookies[i] & TT_USDT_HOOK_MASK),
				   keep_pins);
		t->shared[i] = NULL;
	}
	for (size_t i = 0; i < t->nsites; i++) {
		ulink_close(&t->sites[i].entry, keep_pins);
		ulink_close(&t->sites[i].ret, keep_pins);
	}
	forget_link(l, t, keep_pins);
}

void tt_loader__detach_link(struct tt_loader *l, struct tt_link *t)
{
	if (t)
		free_link(l, t, false);
}

/* Hands the uprobe handle of u to the reaper: closed later, off the event loop. */
static void ulink_close_later(struct tt_loader *l, struct ulink *u)
{
	tt_reaper__close(l->reaper, u->fd);
	u->fd = -1; /* ulink_close() still unpins and frees the rest */
}

void tt_loader__detach_exited(struct tt_loader *l, struct tt_link *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsites; i++) {
		ulink_close_later(l, &t->sites[i].entry);
		ulink_close_later(l, &t->sites[i].ret);
	}
	free_link(l, t, false); /* unpins them, leaves its shared USDT sites, frees t */
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
		if (!cookie_in_use(l, NULL, next))
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

		if (s->pending && load_site(l, s, why, sizeof(why)))
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

int tt_loader__continue(struct tt_loader *l, pid_t pid)
{
	return tt_hold__release(bpf_map__fd(l->skel->maps.holds), pid);
}

int tt_loader__continue_held(struct tt_loader *l)
{
	return tt_hold__release_all(bpf_map__fd(l->skel->maps.holds)) + tt_hold__sweep();
}

int tt_loader__follow(struct tt_loader *l, pid_t pid)
{
	__u32 key = (__u32)pid;
	__u8 one = 1;

	/* it runs on every fork of the host: attached only when needed */
	if (!l->fork_link) {
		l->fork_link = bpf_program__attach(l->skel->progs.tt_fork);
		if (!l->fork_link)
			return -errno;
	}
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.follow), &key, &one, BPF_ANY))
		return -errno;
	return 0;
}

int tt_loader__watch_comm(struct tt_loader *l, const char *comm, bool stop)
{
	char key[TT_COMM_LEN] = {0};
	__u32 val = TT_WATCH_REPORT | (stop ? TT_WATCH_STOP : 0);

	memcpy(key, comm, strnlen(comm, sizeof(key) - 1)); /* NUL-padded, as the kernel's */
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_comms), key, &val, BPF_ANY))
		return -errno;
	return 0;
}

void tt_loader__unwatch_comm(struct tt_loader *l, const char *comm)
{
	char key[TT_COMM_LEN] = {0};

	memcpy(key, comm, strnlen(comm, sizeof(key) - 1));
	bpf_map_delete_elem(bpf_map__fd(l->skel->maps.watch_comms), key);
}

int tt_loader__watch_dir(struct tt_loader *l, uint32_t slot, const char *path, uint32_t len,
			 uint32_t flags)
{
	struct tt_watch_dir d = {.len = len, .flags = flags};

	if (slot >= TT_MAX_WATCH_DIRS || len > TT_WATCH_DIR_LEN)
		return -ERANGE;
	memcpy(d.path, path, strnlen(path, len));
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_dirs), &slot, &d, BPF_ANY))
		return -errno;
	return 0;
}

int tt_loader__watch_prefix(struct tt_loader *l, uint32_t slot, const char *comm, uint32_t len,
			    uint32_t flags)
{
	struct tt_watch_prefix p = {.len = len > TT_COMM_LEN ? TT_COMM_LEN : len, .flags = flags};

	if (slot >= TT_MAX_WATCH_PREFIXES)
		return -ERANGE;
	memcpy(p.comm, comm, strnlen(comm, p.len));
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_prefixes), &slot, &p, BPF_ANY))
		return -errno;
	return 0;
}

int tt_loader__watch_cgroup(struct tt_loader *l, uint32_t slot, uint64_t id, uint32_t flags)
{
	struct tt_watch_cgroup c = {.id = id, .flags = flags};

	if (slot >= TT_MAX_WATCH_CGROUPS)
		return -ERANGE;
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.watch_cgroups), &slot, &c, BPF_ANY))
		return -errno;
	return 0;
}

void tt_loader__watch_all_execs(struct tt_loader *l, bool on)
{
	l->skel->bss->watch_all_execs = on;
}

int tt_loader__epoll_fd(const struct tt_loader *l)
{
	return ring_buffer__epoll_fd(l->rb);
}

int tt_loader__drain(struct tt_loader *l)
{
	return ring_buffer__consume(l->rb);
}

uint64_t tt_loader__stat(const struct tt_loader *l, enum tt_stat which)
{
	uint64_t vals[TT_MAX_CPUS] = {0};
	uint64_t sum = 0;
	__u32 key = which;

	if (bpf_map_lookup_elem(bpf_map__fd(l->skel->maps.stats), &key, vals))
		return 0;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		sum += vals[cpu];
	return sum;
}

uint64_t tt_loader__hook_lost(const struct tt_loader *l, uint32_t id)
{
	uint64_t vals[TT_MAX_CPUS] = {0};
	uint64_t sum = 0;

	if (l->hook_lost_fd < 0 || bpf_map_lookup_elem(l->hook_lost_fd, &id, vals))
		return 0;
	for (int cpu = 0; cpu < l->ncpus; cpu++)
		sum += vals[cpu];
	return sum;
}

int tt_loader__shared_sites(const struct tt_loader *l, int *members)
{
	int n = 0;

	*members = 0;
	for (const struct shared_site *s = l->shared; s; s = s->next) {
		n++;
		*members += (int)s->n;
	}
	return n;
}

void tt_loader__programs(const struct tt_loader *l, int *compiled, int *interpreted)
{
	*compiled = *interpreted = 0;
	for (const struct gen_prog *p = l->progs; p; p = p->next) {
		if (p->fd >= 0)
			(*compiled)++;
		else
			(*interpreted)++;
	}
}

int tt_loader__attached(const struct tt_loader *l)
{
	return l->nattached;
}

void tt_loader__detach(struct tt_loader *l, bool keep_pins)
{
	while (l->links)
		free_link(l, l->links, keep_pins);
}
