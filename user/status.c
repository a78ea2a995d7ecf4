// SPDX-License-Identifier: MIT
/*
 * `tasktap status`: what a running agent is doing, read from its local
 * HTTP endpoint (/health, which the agent fills for this command): the
 * specs, what is attached where, events per second, lost events, open
 * spans and the exporter's state.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "export/metrics.h"

#define STATUS_DEFAULT_ADDR "127.0.0.1:9464"
#define STATUS_MAX_REPLY    (4u << 20)

/* Splits "HOST:PORT", "[V6]:PORT" or "PORT" into host and port. 0 or -EINVAL. */
static int split_addr(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(addr, ':');

	if (!colon) {
		snprintf(host, hlen, "127.0.0.1");
		snprintf(port, plen, "%s", addr);
		return 0;
	}
	if (addr[0] == '[' && colon > addr && colon[-1] == ']')
		snprintf(host, hlen, "%.*s", (int)(colon - addr - 2), addr + 1);
	else
		snprintf(host, hlen, "%.*s", (int)(colon - addr), addr);
	snprintf(port, plen, "%s", colon + 1);
	return port[0] ? 0 : -EINVAL;
}

/* GETs `path` from addr; the body in *body (caller frees). 0 or -errno with a message. */
static int http_get(const char *addr, const char *path, char **body, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char host[256], port[16], req[512];
	size_t len = 0, cap = 65536;
	char *buf = NULL, *start;
	int fd = -1, ret;
	ssize_t n;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "invalid address '%s': expected HOST:PORT", addr);
		return -EINVAL;
	}
	ret = getaddrinfo(host, port, &hints, &ai);
	if (ret) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		ret = -errno;
		snprintf(err, errlen,
			 "cannot reach the agent at %s: %s (is `tasktap run` running, with "
			 "--http at that address?)",
			 addr, strerror(-ret));
		goto out;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
		 host);
	if (write(fd, req, strlen(req)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot ask the agent at %s: %s", addr, strerror(-ret));
		goto out;
	}
	buf = malloc(cap);
	while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap && cap < STATUS_MAX_REPLY) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
	}
	ret = buf ? 0 : -ENOMEM;
	if (ret)
		goto out;
	buf[len] = '\0';
	start = strstr(buf, "\r\n\r\n");
	if (!start) {
		snprintf(err, errlen, "the agent at %s sent no HTTP answer", addr);
		ret = -EPROTO;
		goto out;
	}
	memmove(buf, start + 4, strlen(start + 4) + 1);
	*body = buf;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return ret;
}

/*
 * The value of "key" in the JSON text from `from` on, copied into out
 * unquoted (strings without their escapes undone: the agent writes plain
 * paths and names). Returns a pointer past the value, or NULL.
 */
static const char *json_get(const char *from, const char *end, const char *key, char *out,
			    size_t len)
{
	char pat[64];
	const char *p, *v;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(from, pat);
	if (!p || (end && p >= end))
		return NULL;
	v = p + strlen(pat);
	if (*v == '"') {
		const char *q = v + 1;

		while (*q && !(*q == '"' && q[-1] != '\\'))
			q++;
		n = (size_t)(q - v - 1);
		snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), v + 1);
		return *q ? q + 1 : q;
	}
	n = strcspn(v, ",}]");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), v);
	return v + n;
}

static void print_field(const char *json, const char *key, const char *label)
{
	char v[256];

	if (json_get(json, NULL, key, v, sizeof(v)))
		printf("%-22s %s\n", label, v);
}

/* The spans dropped by reason, those with a count: "  spool_full 17". */
static void print_drops(const char *json)
{
	const char *p = strstr(json, "\"spans_dropped_by\":{");
	const char *end = p ? strchr(p, '}') : NULL;
	char v[32];

	for (int r = 0; p && end && r < TT_DROP__COUNT; r++) {
		const char *name = tt_drop_reason__name(r);

		if (json_get(p, end, name, v, sizeof(v)) && strcmp(v, "0"))
			printf("  %-20s %s\n", name, v);
	}
}

/* The specs: one line each, with the problem of a broken one. */
static void print_specs(const char *json)
{
	const char *p = strstr(json, "\"specs\":[");
	const char *end = p ? strstr(p, "]") : NULL;
	char file[1024], ok[16], hooks[32], error[1024];

	if (!p)
		return;
	printf("specs:\n");
	p += strlen("\"specs\":[");
	while (p && end && p < end && (p = json_get(p, end, "file", file, sizeof(file)))) {
		const char *obj_end = strchr(p, '}');

		p = json_get(p, end, "ok", ok, sizeof(ok));
		if (p && !strcmp(ok, "true") && json_get(p, end, "hooks", hooks, sizeof(hooks)) &&
		    obj_end && json_get(p, obj_end, "reload_error", error, sizeof(error)))
			printf("  %-50s ok, %s hooks; its last edit is not in use: %s\n", file,
			       hooks, error);
		else if (p && !strcmp(ok, "true") &&
			 json_get(p, end, "hooks", hooks, sizeof(hooks)))
			printf("  %-50s ok, %s hooks\n", file, hooks);
		else if (p && json_get(p, end, "error", error, sizeof(error)))
			printf("  %-50s ERROR %s\n", file, error);
	}
}

/* What is attached where: one line per hook. */
static void print_attachments(const char *json)
{
	const char *p = strstr(json, "\"attachments\":[");
	const char *end = p ? strstr(p, "}],") : NULL;
	char spec[1024], hook[16], role[32], fn[256], file[1024], pid[16], pinned[16];
	int n = 0;

	if (!p)
		return;
	end = end ? end + 2 : p + strlen(p);
	printf("attached:\n");
	while ((p = json_get(p, end, "spec", spec, sizeof(spec)))) {
		const char *slash = strrchr(spec, '/');

		p = json_get(p, end, "hook", hook, sizeof(hook));
		p = p ? json_get(p, end, "role", role, sizeof(role)) : NULL;
		p = p ? json_get(p, end, "function", fn, sizeof(fn)) : NULL;
		p = p ? json_get(p, end, "file", file, sizeof(file)) : NULL;
		p = p ? json_get(p, end, "pid", pid, sizeof(pid)) : NULL;
		p = p ? json_get(p, end, "pinned", pinned, sizeof(pinned)) : NULL;
		if (!p)
			break;
		printf("  hook %-4s %-12s %-28s in %s (%s)%s  [%s]\n", hook, role, fn, file,
		       strcmp(pid, "-1") ? pid : "every process",
		       strcmp(pinned, "false") ? " pinned" : "", slash ? slash + 1 : spec);
		n++;
	}
	if (!n)
		printf("  nothing\n");
}

static const struct tt_usage_item status_options[] = {
	{"--http ADDR", "the agent's HTTP address (its run --http), default " STATUS_DEFAULT_ADDR},
	{"--json", "print the agent's /health as it is"},
	{"-h, --help", "print this text"},
	{NULL},
};

static const struct tt_usage_item status_examples[] = {
	{"tasktap status", "the agent on this host: state, probes, events, exporter, specs, hooks"},
	{"tasktap status --http 127.0.0.1:9500 --json", "another agent's /health, as JSON"},
	{NULL},
};

const struct tt_usage tt_status_usage = {
	.name = "status",
	.args = "[--http ADDR] [--json]",
	.summary = "Show what a running agent traces and how it is doing, from its HTTP endpoint; "
		   "exits 1 when no agent answers",
	.options = status_options,
	.examples = status_examples,
};

int tt_cmd__status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"http", required_argument, NULL, 'H'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *addr = STATUS_DEFAULT_ADDR;
	char err[512], *body = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'H')
			addr = optarg;
		else if (c == 'j')
			json = true;
		else if (c == 'h') {
			tt_usage__print(&tt_status_usage, stdout);
			return 0;
		} else {
			tt_usage__short(&tt_status_usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		tt_usage__short(&tt_status_usage, stderr);
		return 2;
	}
	if (http_get(addr, "/health", &body, err, sizeof(err))) {
		tt_warn("%s", err);
		return 1;
	}
	if (json) {
		fputs(body, stdout);
		free(body);
		return 0;
	}
	printf("agent at %s\n", addr);
	print_field(body, "status", "status:");
	print_field(body, "reasons", "reasons:");
	print_field(body, "uptime_seconds", "uptime (s):");
	print_field(body, "probes_attached", "probes attached:");
	print_field(body, "events_received", "events received:");
	print_field(body, "events_per_second", "events/s:");
	print_field(body, "events_lost", "events lost:");
	print_field(body, "open_spans", "open spans:");
	print_field(body, "stuck_tasks", "stuck tasks:");
	print_field(body, "processes_discovered", "processes discovered:");
	print_field(body, "reloads", "reloads:");
	print_field(body, "pinned", "pinned:");
	print_field(body, "exporter", "exporter:");
	print_field(body, "queue_size", "export queue:");
	print_field(body, "queue_bytes", "export queue bytes:");
	print_field(body, "spans_exported", "spans exported:");
	print_field(body, "spans_in_spool", "spans in the spool:");
	print_field(body, "spool_bytes", "spool bytes:");
	print_field(body, "spans_dropped", "spans dropped:");
	print_drops(body);
	print_specs(body);
	print_attachments(body);
	free(body);
	return 0;
}
