// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "hold.h"
#include "tasktap/event.h"

#define BPF_FS_MAGIC 0xcafe4a11

int tt_hold__start_ticks(pid_t pid, unsigned long long *ticks)
{
	char path[64], buf[1024];
	const char *p;
	FILE *f;
	int ret = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -ESRCH;
	/* the fields follow the last ')' (the command name may hold one): state is field 3 */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
		   "%*d %llu",
		   ticks) == 1)
		ret = 0;
	fclose(f);
	return ret;
}

/* Whether `pid` is the process BPF held, which started at `start_boottime` (ns). */
static bool same_process(pid_t pid, unsigned long long start_boottime)
{
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long ticks;

	if (hz <= 0 || tt_hold__start_ticks(pid, &ticks))
		return false;
	return ticks == start_boottime / (1000000000ULL / (unsigned long long)hz);
}

/* Makes TT_HOLD_DIR, on bpffs (mounted at /sys/fs/bpf when it is not). */
static int make_dir(char *err, size_t errlen)
{
	struct statfs fs;
	int ret;

	if (statfs("/sys/fs/bpf", &fs) || fs.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			ret = -errno;
			snprintf(err, errlen, "cannot mount bpffs at /sys/fs/bpf: %s",
				 strerror(-ret));
			return ret;
		}
	}
	if (mkdir(TT_HOLD_DIR, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", TT_HOLD_DIR, strerror(-ret));
		return ret;
	}
	return 0;
}

int tt_hold__pin(int map_fd, char *path, size_t len, char *err, size_t errlen)
{
	unsigned long long ticks = 0;
	int ret = make_dir(err, errlen);

	if (ret)
		return ret;
	tt_hold__start_ticks(getpid(), &ticks);
	snprintf(path, len, "%s/agent-%d-%llu", TT_HOLD_DIR, (int)getpid(), ticks);
	unlink(path); /* a pid and start time of a past boot */
	if (bpf_obj_pin(map_fd, path)) {
		ret = -errno;
		snprintf(err, errlen, "cannot pin '%s': %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

int tt_hold__release(int map_fd, pid_t pid)
{
	__u32 key = (__u32)pid;

	if (bpf_map_delete_elem(map_fd, &key))
		return -errno;
	if (kill(pid, SIGCONT))
		return -errno;
	return 0;
}

bool tt_hold__held(int map_fd, pid_t pid)
{
	__u32 key = (__u32)pid;
	struct tt_hold h;

	return bpf_map_lookup_elem(map_fd, &key, &h) == 0;
}

int tt_hold__release_all(int map_fd)
{
	static __u32 keys[TT_MAX_HOLDS];
	struct tt_hold h;
	int n = 0, done = 0;
	__u32 key;
	int ret;

	/* the keys first: deleting while walking may restart the walk */
	ret = bpf_map_get_next_key(map_fd, NULL, &key);
	while (ret == 0 && n < TT_MAX_HOLDS) {
		keys[n++] = key;
		ret = bpf_map_get_next_key(map_fd, &keys[n - 1], &key);
	}
	for (int i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(map_fd, &keys[i], &h) ||
		    bpf_map_delete_elem(map_fd, &keys[i]))
			continue; /* its deadline came first */
		if (same_process((pid_t)keys[i], h.start_boottime) &&
		    kill((pid_t)keys[i], SIGCONT) == 0)
			done++;
	}
	return done;
}

/* Whether the agent that pinned `name` ("agent-PID-START") is gone. */
static bool agent_gone(const char *name)
{
	unsigned long long start, ticks;
	int pid;

	if (sscanf(name, "agent-%d-%llu", &pid, &start) != 2)
		return false; /* not ours */
	return tt_hold__start_ticks(pid, &ticks) || ticks != start;
}

int tt_hold__sweep(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0, fd;
	DIR *d = opendir(TT_HOLD_DIR);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!agent_gone(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", TT_HOLD_DIR, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		n += tt_hold__release_all(fd);
		close(fd);
		unlink(path);
	}
	closedir(d);
	return n;
}
