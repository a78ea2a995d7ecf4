// SPDX-License-Identifier: MIT
/*
 * loader_session.c: uprobe session programs (kernel 6.13), which pair a
 * call's entry and return in BPF (bpfgen's TT_BPFGEN_SESSION): whether this
 * kernel has them, probed once as libbpf probes uprobe_multi links (not by
 * its version), and the ids of their kfuncs in its BTF. Debian's libbpf
 * 1.1.2 and uapi headers predate them: the attach type's value is this
 * kernel's (enum bpf_attach_type in /sys/kernel/btf/vmlinux).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpfgen.h"
#include "loader.h"
#include "loader_internal.h"
#include "log.h"

/* The kfuncs' ids, looked up once; 0: not looked up yet, < 0: missing. */
static struct tt_bpfgen_kfuncs kfuncs;

/* Ids of the session kfuncs in the kernel's BTF; -ENOENT for one it lacks. */
static void find_kfuncs(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();

	kfuncs.session_cookie = kfuncs.session_is_return = -ENOENT;
	if (!vmlinux)
		return;
	kfuncs.session_cookie =
		btf__find_by_name_kind(vmlinux, "bpf_session_cookie", BTF_KIND_FUNC);
	kfuncs.session_is_return =
		btf__find_by_name_kind(vmlinux, "bpf_session_is_return", BTF_KIND_FUNC);
	btf__free(vmlinux);
}

const struct tt_bpfgen_kfuncs *loader__session_kfuncs(void)
{
	if (!kfuncs.session_cookie)
		find_kfuncs();
	return &kfuncs;
}

/* Whether TASKTAP_SESSION turns the path off ("0"); another value than 0 or 1 is said, once. */
static bool turned_off(void)
{
	static bool said;
	const char *v = getenv("TASKTAP_SESSION");

	if (!v || !v[0] || !strcmp(v, "1"))
		return false;
	if (!strcmp(v, "0"))
		return true;
	if (!said)
		tt_warn("invalid TASKTAP_SESSION '%s': expected 0 (entry and return events) or 1 "
			"(one event per call, the default); one event per call stays on",
			v);
	said = true;
	return false;
}

const char *tt_loader__session_refusal(void)
{
	static int has = -1;

	if (turned_off())
		return "turned off (TASKTAP_SESSION=0)";
	if (has < 0)
		has = loader__has_uprobe_links(TT_BPF_TRACE_UPROBE_SESSION) &&
		      loader__session_kfuncs()->session_cookie > 0 &&
		      loader__session_kfuncs()->session_is_return > 0;
	return has ? NULL
		   : "this kernel has no uprobe session links (or they are not allowed here)";
}

/* Appends key k to *keys (n of cap). false: out of memory. */
static bool add_key(struct tt_call_key **keys, size_t *n, size_t *cap, const struct tt_call_key *k)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		struct tt_call_key *more = realloc(*keys, c * sizeof(**keys));

		if (!more)
			return false;
		*keys = more;
		*cap = c;
	}
	(*keys)[(*n)++] = *k;
	return true;
}

/* Keys read from `calls` at a time: one syscall for all the calls in flight, as a rule. */
#define CALLS_BATCH 256

/*
 * The keys of `calls` of process `pid` (every process when 0), in *keys
 * (freed by the caller); their count. Read a batch at a time (this runs at
 * every process exit on the machine), else one key at a time.
 */
static size_t calls_of(int fd, uint32_t pid, struct tt_call_key **keys)
{
	static struct tt_call_key batch[CALLS_BATCH];
	static struct tt_call_stash values[CALLS_BATCH];
	struct tt_call_key key, next;
	__u64 in = 0, out = 0;
	size_t n = 0, cap = 0;
	bool first = true, done = false;
	int ret;

	*keys = NULL;
	while (!done) {
		__u32 count = CALLS_BATCH;

		ret = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, batch, values, &count,
					   NULL);
		if (ret && errno != ENOENT)
			goto one_by_one;
		done = ret != 0;
		first = false;
		in = out;
		for (__u32 i = 0; i < count; i++) {
			if ((!pid || (uint32_t)(batch[i].pid_tgid >> 32) == pid) &&
			    !add_key(keys, &n, &cap, &batch[i]))
				return n;
		}
	}
	return n;
one_by_one:
	n = 0;
	first = true;
	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		first = false;
		key = next;
		if ((!pid || (uint32_t)(key.pid_tgid >> 32) == pid) &&
		    !add_key(keys, &n, &cap, &key))
			break;
	}
	return n;
}

/* The entry events of the calls taken, each ENTRY_LEN bytes, n of cap. */
#define ENTRY_LEN sizeof(((struct tt_call_stash *)0)->entry)

struct taken {
	uint8_t *buf;
	size_t n, cap;
};

/* Room for one more entry in *t, or NULL (out of memory). */
static uint8_t *taken_slot(struct taken *t)
{
	if (t->n == t->cap) {
		size_t c = t->cap ? 2 * t->cap : 16;
		uint8_t *more = realloc(t->buf, c * ENTRY_LEN);

		if (!more)
			return NULL;
		t->buf = more;
		t->cap = c;
	}
	return t->buf + ENTRY_LEN * t->n++;
}

/* Entries in the order of their calls' starts. */
static int by_entry_start(const void *x, const void *y)
{
	const struct tt_event *a = x, *b = y;

	return a->ts_ns < b->ts_ns ? -1 : a->ts_ns > b->ts_ns;
}

/* The calls of process `pid` (every process when 0) in `calls`: those of dead threads. */
static void take_from_map(int fd, uint32_t pid, bool keep, struct taken *t)
{
	struct tt_call_key *keys;
	struct tt_call_stash v;
	size_t n = calls_of(fd, pid, &keys);
	uint8_t *slot;

	for (size_t i = 0; i < n; i++) {
		/* taken out first: a return running now finds it gone and writes nothing */
		if (keep ? bpf_map_lookup_elem(fd, &keys[i], &v)
			 : bpf_map_lookup_and_delete_elem(fd, &keys[i], &v))
			continue;
		slot = taken_slot(t);
		if (!slot)
			break;
		memcpy(slot, v.entry, ENTRY_LEN);
	}
	free(keys);
}

/*
 * The calls open in the frames of live threads, read by the iterator
 * tt_calls_iter (task local storage has no keys to walk from here): taken
 * from their returns unless `keep`.
 */
static void take_from_frames(struct tt_loader *l, bool keep, struct taken *t)
{
	uint8_t one[ENTRY_LEN], *slot;
	struct bpf_link *link;
	size_t got = 0;
	ssize_t r;
	int fd;

	l->skel->bss->calls_keep = keep;
	link = bpf_program__attach_iter(l->skel->progs.tt_calls_iter, NULL);
	fd = link ? bpf_iter_create(bpf_link__fd(link)) : -1;
	if (fd < 0) {
		tt_warn("cannot read the session calls in flight: %s", strerror(errno));
		bpf_link__destroy(link);
		return;
	}
	/* a read may end inside an entry: whole ones only are kept */
	while ((r = read(fd, one + got, ENTRY_LEN - got)) > 0) {
		got += (size_t)r;
		if (got < ENTRY_LEN)
			continue;
		got = 0;
		slot = taken_slot(t);
		if (!slot)
			break;
		memcpy(slot, one, ENTRY_LEN);
	}
	close(fd);
	bpf_link__destroy(link);
}

int tt_loader__take_calls(struct tt_loader *l, uint32_t pid, bool keep, tt_event_fn fn, void *ctx)
{
	struct taken t = {0};
	int taken = 0;

	if (!l->sessions)
		return 0;
	take_from_map(bpf_map__fd(l->skel->maps.calls), pid, keep, &t);
	if (!pid)
		take_from_frames(l, keep, &t);
	qsort(t.buf, t.n, ENTRY_LEN, by_entry_start);
	for (size_t i = 0; i < t.n; i++) {
		struct tt_event *ev = (void *)(t.buf + ENTRY_LEN * i);

		if (ev->size < sizeof(*ev) || ev->size > ENTRY_LEN || ev->kind != TT_EV_ENTRY)
			continue;
		ev->flags |= TT_ENTRYF_HELD;
		fn(ev, ev->size, ctx);
		taken++;
	}
	free(t.buf);
	return taken;
}

/* Sets hook gid's word in `retired`. */
static int set_retired(struct tt_loader *l, uint32_t gid, uint32_t on)
{
	if (gid == 0 || gid > TT_MAX_PROBES)
		return -EINVAL;
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.retired), &gid, &on, BPF_ANY))
		return -errno;
	return 0;
}

int tt_loader__retire(struct tt_loader *l, struct tt_link *link, uint32_t gid)
{
	int ret;

	if (!link || !link->session)
		return -EOPNOTSUPP;
	ret = set_retired(l, gid, 1);
	if (ret)
		return ret;
	for (size_t i = 0; i < link->nsites; i++) {
		struct ulink *u = &link->sites[i].entry;

		if (u->pin)
			unlink(u->pin);
		free(u->pin);
		u->pin = NULL;
	}
	link->adopted = false;
	return 0;
}

void tt_loader__unretire(struct tt_loader *l, uint32_t gid)
{
	int ret = set_retired(l, gid, 0);

	if (ret)
		tt_warn("hook %u: cannot take calls again: %s", gid, strerror(-ret));
}
