// SPDX-License-Identifier: MIT
/* Processes: the agent's capabilities and the executables of targets, from /proc. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
