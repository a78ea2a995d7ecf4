// SPDX-License-Identifier: MIT
/* The OTLP resource of a traced process, learnt from /proc and kept per pid. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "proc.h"
#include "resource.h"

#define STRINGS_MAX 8192

/* Building a resource: attributes whose strings are packed into one buffer. */
struct builder {
	struct tt_resource *r;
	size_t used;
};

static const char *keep(struct builder *b, const char *s, size_t n)
{
	char *dst;

	if (b->used + n + 1 > STRINGS_MAX)
		return NULL;
	dst = b->r->strings + b->used;
	memcpy(dst, s, n);
	dst[n] = '\0';
	b->used += n + 1;
	return dst;
}

static bool has(const struct tt_resource *r, const char *key)
{
	return tt_resource__get(r, key) != NULL;
}

static void add_str(struct builder *b, const char *key, const char *val)
{
	struct tt_res_attr *a;

	if (!val || !*val || b->r->n == TT_RES_MAX_ATTRS || has(b->r, key))
		return;
	a = &b->r->at[b->r->n];
	a->key = keep(b, key, strlen(key));
	a->str = keep(b, val, strlen(val));
	if (a->key && a->str)
		b->r->n++;
}

static void add_int(struct builder *b, const char *key, int64_t v)
{
	struct tt_res_attr *a;

	if (b->r->n == TT_RES_MAX_ATTRS || has(b->r, key))
		return;
	a = &b->r->at[b->r->n];
	a->key = keep(b, key, strlen(key));
	a->str = NULL;
	a->i = v;
	if (a->key)
		b->r->n++;
}

const struct tt_res_attr *tt_resource__get(const struct tt_resource *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->at[i].key, key))
			return &r->at[i];
	}
	return NULL;
}

/* Reads up to len-1 bytes of a file, NUL-terminated. Returns the length, or -errno. */
static ssize_t read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)total + 1 < len) {
		n = read(fd, buf + total, len - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

static bool is_hex(char ch)
{
	return isxdigit((unsigned char)ch) && !isupper((unsigned char)ch);
}

/* The last run of exactly 64 lower-case hex digits in [s, s+n). */
static const char *find_hex64(const char *s, size_t n)
{
	const char *found = NULL;
	size_t run = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && is_hex(s[i])) {
			run++;
			continue;
		}
		if (run == 64)
			found = s + i - 64;
		run = 0;
	}
	return found;
}

/* A pod uid after "pod" in a path segment: 36 chars of hex and '-' or '_'. */
static bool find_pod(const char *line, char *out, size_t len)
{
	const char *p = line;

	while ((p = strstr(p, "pod"))) {
		const char *u = p + 3;
		size_t n = 0;

		while (n < 36 && (is_hex(u[n]) || u[n] == '-' || u[n] == '_'))
			n++;
		if (n == 36 && (u[8] == '-' || u[8] == '_') && len > 36) {
			for (size_t i = 0; i < 36; i++)
				out[i] = u[i] == '_' ? '-' : u[i];
			out[36] = '\0';
			return true;
		}
		p = u;
	}
	return false;
}

void tt_cgroup__parse(const char *text, char *container_id, size_t cid_len, char *pod_uid,
		      size_t pod_len)
{
	const char *line = text;

	if (cid_len)
		container_id[0] = '\0';
	if (pod_len)
		pod_uid[0] = '\0';
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		const char *hex = find_hex64(line, n);
		char one[512];

		if (hex && cid_len > 64 && !container_id[0]) {
			memcpy(container_id, hex, 64);
			container_id[64] = '\0';
		}
		snprintf(one, sizeof(one), "%.*s", (int)n, line);
		if (pod_len && !pod_uid[0] && strstr(one, "kubepods"))
			find_pod(one, pod_uid, pod_len);
		line = end ? end + 1 : NULL;
	}
}

/* service.instance.id: a UUID (version 8, RFC 9562) from the host, pid and start time. */
static void instance_id(const char *host_id, uint32_t pid, uint64_t start, char *out, size_t len)
{
	char seed[256];
	XXH128_hash_t h;
	uint8_t b[16];

	snprintf(seed, sizeof(seed), "%s/%u/%llu", host_id ? host_id : "", pid,
		 (unsigned long long)start);
	h = XXH3_128bits(seed, strlen(seed));
	for (int i = 0; i < 8; i++) {
		b[i] = (uint8_t)(h.high64 >> (56 - 8 * i));
		b[8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
	}
	b[6] = (b[6] & 0x0f) | 0x80;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static void trim_newline(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* The process's executable path into exe ("" when unknown); its name, or NULL. */
static const char *exe_of(pid_t pid, const struct tt_resource_opts *o, char *exe, size_t len)
{
	const char *exe_name = NULL;
	ssize_t n;

	n = tt_proc__exe_path(o->proc_root, pid, exe, len);
	if (n <= 0 && o->exe_path) /* the process is gone: what the spec says it ran */
		n = snprintf(exe, len, "%s", o->exe_path);
	if (n > 0)
		exe_name = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	else
		exe[0] = '\0';
	if (!exe_name && o->exe_name)
		exe_name = o->exe_name;
	return exe_name;
}

/* The machine id and the host name ("" each when unknown). */
static void host_of(const struct tt_resource_opts *o, char *host, size_t host_len, char *host_id,
		    size_t id_len)
{
	host_id[0] = '\0';
	if (read_text(o->machine_id_path ? o->machine_id_path : "/etc/machine-id", host_id,
		      id_len) > 0)
		trim_newline(host_id);
	if (o->hostname)
		snprintf(host, host_len, "%s", o->hostname);
	else if (gethostname(host, host_len))
		host[0] = '\0';
	host[host_len - 1] = '\0';
}

/* service.name: spec > OTEL_SERVICE_NAME > OTEL_RESOURCE_ATTRIBUTES > executable */
static const char *service_of(const struct tt_resource_opts *o, const char *exe_name)
{
	const struct tt_otlp_config *cfg = o->cfg;
	const char *svc = o->spec_service;

	if (!svc && cfg)
		svc = cfg->service_name;
	for (size_t i = 0; !svc && cfg && i < cfg->res_attrs.n; i++) {
		if (!strcmp(cfg->res_attrs.at[i].name, "service.name"))
			svc = cfg->res_attrs.at[i].value;
	}
	if (!svc)
		svc = exe_name;
	if (!svc)
		svc = "unknown_service:tasktap";
	return svc;
}

/* The telemetry is made by tasktap (in C), not by an SDK inside the process. */
static void add_sdk(struct builder *b)
{
	add_str(b, "telemetry.sdk.name", "tasktap");
	add_str(b, "telemetry.sdk.language", "c");
	add_str(b, "telemetry.sdk.version", TASKTAP_VERSION);
	add_str(b, "telemetry.distro.name", "tasktap");
	add_str(b, "telemetry.distro.version", TASKTAP_VERSION);
}

struct tt_resource *tt_resource__new(pid_t pid, const struct tt_resource_opts *o)
{
	const struct tt_otlp_config *cfg = o->cfg;
	char exe[4096], host[256], host_id[128], cgroup[8192], stat[1024];
	char cid[80], pod[48], inst[48];
	const char *exe_name;
	struct builder b = {0};

	b.r = calloc(1, sizeof(*b.r));
	if (!b.r)
		return NULL;
	b.r->strings = malloc(STRINGS_MAX);
	if (!b.r->strings) {
		free(b.r);
		return NULL;
	}
	b.r->pid = (uint32_t)pid;

	exe_name = exe_of(pid, o, exe, sizeof(exe));
	host_of(o, host, sizeof(host), host_id, sizeof(host_id));
	if (tt_proc__read(o->proc_root, pid, "stat", stat, sizeof(stat)) <= 0)
		stat[0] = '\0';
	if (tt_proc__read(o->proc_root, pid, "cgroup", cgroup, sizeof(cgroup)) <= 0)
		cgroup[0] = '\0';
	tt_cgroup__parse(cgroup, cid, sizeof(cid), pod, sizeof(pod));
	instance_id(host_id, (uint32_t)pid, tt_stat__start_time(stat), inst, sizeof(inst));

	add_str(&b, "service.name", service_of(o, exe_name));
	add_str(&b, "service.instance.id", inst);
	add_int(&b, "process.pid", pid);
	/* in a container's PID namespace: its pid there too (the NSpid of /proc/PID/status) */
	if (tt_proc__read(o->proc_root, pid, "status", cgroup, sizeof(cgroup)) > 0) {
		pid_t vpid = tt_status__nspid(cgroup);

		if (vpid > 0 && vpid != pid)
			add_int(&b, "process.vpid", vpid);
	}
	add_str(&b, "process.executable.name", exe_name);
	add_str(&b, "process.executable.path", exe[0] ? exe : NULL);
	add_str(&b, "host.name", host);
	add_str(&b, "host.id", host_id);
	add_str(&b, "os.type", "linux");
	add_str(&b, "container.id", cid);
	add_str(&b, "k8s.pod.uid", pod);
	add_sdk(&b);
	/* what the agent learned wins over OTEL_RESOURCE_ATTRIBUTES for the same key */
	for (size_t i = 0; cfg && i < cfg->res_attrs.n; i++)
		add_str(&b, cfg->res_attrs.at[i].name, cfg->res_attrs.at[i].value);
	return b.r;
}

void tt_resource__free(struct tt_resource *r)
{
	if (!r)
		return;
	free(r->strings);
	free(r);
}
