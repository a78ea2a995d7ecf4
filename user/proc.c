// SPDX-License-Identifier: MIT
/* Processes, as /proc shows them: the one module that reads /proc (see proc.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover.h"
#include "proc.h"

#define CAP_SYS_PTRACE_BIT 19
#define CAP_PERFMON_BIT	   38
#define CAP_BPF_BIT	   39

static int read_cap_eff(uint64_t *caps)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "CapEff: %" SCNx64, caps) == 1) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int tt_proc__check_caps(char *missing, size_t len)
{
	static const struct {
		int bit;
		const char *name;
	} need[] = {
		{CAP_BPF_BIT, "CAP_BPF"},
		{CAP_PERFMON_BIT, "CAP_PERFMON"},
		{CAP_SYS_PTRACE_BIT, "CAP_SYS_PTRACE"},
	};
	uint64_t caps = 0;
	size_t off = 0;
	int ret = read_cap_eff(&caps);

	missing[0] = '\0';
	if (ret)
		return ret;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (caps & (1ULL << need[i].bit))
			continue;
		off += snprintf(missing + off, len > off ? len - off : 0, "%s%s", off ? ", " : "",
				need[i].name);
		ret = -EPERM;
	}
	return ret;
}

int tt_proc__exe(pid_t pid, char *buf, size_t len, char *shown, size_t shown_len)
{
	ssize_t n;

	if (pid <= 0)
		return -ESRCH;
	snprintf(buf, len, "/proc/%d/exe", (int)pid);
	n = readlink(buf, shown, shown_len - 1);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	shown[n] = '\0';
	return 0;
}

bool tt_proc__alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	bool alive = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	/* the state follows the last ')' (the command name may hold one) */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

static const char *root_of(const char *proc_root)
{
	return proc_root ? proc_root : "/proc";
}

ssize_t tt_proc__read(const char *proc_root, pid_t pid, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%d/%s", root_of(proc_root), (int)pid, name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (ssize_t)n;
}

ssize_t tt_proc__exe_path(const char *proc_root, pid_t pid, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/exe", root_of(proc_root), (int)pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* a deleted or replaced file reads "/path (deleted)" */
	if (n > 10 && !strcmp(buf + n - 10, " (deleted)"))
		buf[n -= 10] = '\0';
	return n;
}

pid_t tt_status__nspid(const char *status)
{
	const char *line = strstr(status, "\nNSpid:");
	const char *p;
	long last = 0;

	if (!line)
		return 0;
	p = line + strlen("\nNSpid:");
	while (*p && *p != '\n') {
		char *end;
		long v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		v = strtol(p, &end, 10);
		last = v;
		p = end;
	}
	return (pid_t)last;
}

/* Whether process `pid` is in a mount namespace other than ours (a container's). */
static bool other_mnt_ns(const char *root, pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "%s/%d/ns/mnt", root, (int)pid);
	if (stat(path, &a) || stat("/proc/self/ns/mnt", &b))
		return false;
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

int tt_proc__info(const char *proc_root, pid_t pid, struct tt_proc_info *info)
{
	const char *root = root_of(proc_root);
	char status[4096];
	struct stat st;
	ssize_t n;

	memset(info, 0, sizeof(*info));
	info->pid = pid;
	n = tt_proc__read(root, pid, "comm", status, sizeof(status));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	status[strcspn(status, "\n")] = '\0';
	snprintf(info->comm, sizeof(info->comm), "%s", status);
	snprintf(info->open, sizeof(info->open), "%s/%d/exe", root, (int)pid);
	n = tt_proc__exe_path(root, pid, info->exe, sizeof(info->exe));
	if (n < 0)
		return (int)n;
	if (stat(info->open, &st))
		return errno == ENOENT ? -ESRCH : -errno;
	info->dev = st.st_dev;
	info->ino = st.st_ino;
	n = tt_proc__read(root, pid, "status", status, sizeof(status));
	info->vpid = n > 0 ? tt_status__nspid(status) : 0;
	if (!info->vpid)
		info->vpid = pid;
	info->other_mnt_ns = other_mnt_ns(root, pid);
	return 0;
}

int tt_proc__for_each(const char *proc_root, int (*fn)(pid_t pid, void *ctx), void *ctx)
{
	DIR *d = opendir(root_of(proc_root));
	struct dirent *de;
	int ret = 0;

	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		ret = fn((pid_t)pid, ctx);
	}
	closedir(d);
	return ret;
}

void tt_proc__root(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/root", (int)pid);
}

int tt_proc__for_each_mapping(pid_t pid, bool exec_only, int (*fn)(const char *path, void *ctx),
			      void *ctx)
{
	char maps[64], root[64], line[PATH_MAX + 128], path[PATH_MAX + 64];
	FILE *f;
	int ret = 0;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	tt_proc__root(pid, root, sizeof(root));
	f = fopen(maps, "r");
	if (!f)
		return 0; /* gone, or not ours to read */
	while (!ret && fgets(line, sizeof(line), f)) {
		char perms[8] = "";
		char *file = strchr(line, '/');

		if (!file || sscanf(line, "%*s %7s", perms) != 1)
			continue;
		if (exec_only && !strchr(perms, 'x'))
			continue;
		file[strcspn(file, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s%s", root, file);
		ret = fn(path, ctx);
	}
	fclose(f);
	return ret;
}

int tt_proc__for_each_range(pid_t pid, int (*fn)(const struct tt_proc_range *r, void *ctx),
			    void *ctx)
{
	char maps[64], root[64], line[PATH_MAX + 128], path[PATH_MAX + 64];
	FILE *f;
	int ret = 0;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	tt_proc__root(pid, root, sizeof(root));
	f = fopen(maps, "r");
	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		struct tt_proc_range r = {.path = path};
		char perms[8] = "";
		char *file = strchr(line, '/');

		if (!file || sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64, &r.start, &r.end,
				    perms, &r.offset) != 4)
			continue;
		r.exec = strchr(perms, 'x') != NULL;
		file[strcspn(file, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s%s", root, file);
		ret = fn(&r, ctx);
	}
	fclose(f);
	return ret;
}

int tt_proc__open_mem(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

uint64_t tt_stat__start_time(const char *stat)
{
	const char *p = strrchr(stat, ')');

	/* the fields after "comm)" (field 2, which may hold spaces and parentheses) start at 3 */
	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

int tt_proc__cgroup(pid_t pid, char *buf, size_t len)
{
	char text[4096];
	ssize_t n = tt_proc__read(NULL, pid, "cgroup", text, sizeof(text));

	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	return tt_cgroup__from_proc(text, buf, len);
}

/* The parent of `pid`, from /proc/PID/stat; 0 when it cannot be read. */
static pid_t parent_of(pid_t pid)
{
	char buf[1024];
	const char *p;
	int ppid = 0;

	if (tt_proc__read(NULL, pid, "stat", buf, sizeof(buf)) < 0)
		return 0;
	/* the fields follow the last ')' (the command name may hold one): ppid is field 4 */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

bool tt_proc__descends(pid_t pid, pid_t ancestor)
{
	/* bounded: a chain of parents ends at 1 (or 0), and pids seen change little */
	for (int depth = 0; depth < 256 && pid > 1; depth++) {
		pid = parent_of(pid);
		if (pid == ancestor)
			return true;
	}
	return false;
}

int tt_proc__cgroup_id(const char *path, uint64_t *id)
{
	char mounts[16384], dir[PATH_MAX];
	const char *line = mounts;
	struct stat st;
	ssize_t n;

	n = tt_proc__read(NULL, getpid(), "mounts", mounts, sizeof(mounts));
	if (n < 0)
		return (int)n;
	/* "cgroup2 /sys/fs/cgroup cgroup2 rw,..." (or /sys/fs/cgroup/unified on a hybrid host) */
	while (line && *line) {
		char where[PATH_MAX / 4], type[32];

		if (sscanf(line, "%*s %1023s %31s", where, type) == 2 && !strcmp(type, "cgroup2")) {
			snprintf(dir, sizeof(dir), "%s%s", where, path);
			if (stat(dir, &st))
				return -errno;
			*id = (uint64_t)st.st_ino;
			return 0;
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return -ENOENT;
}

int tt_proc__cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd, ret;

	if (len == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, len - 1);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	while (n > 0 && buf[n - 1] == '\0')
		n--; /* the last argument's NUL */
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	buf[n] = '\0';
	return (int)n;
}
