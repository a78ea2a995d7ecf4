/* SPDX-License-Identifier: MIT */
/*
 * The OTLP resource of a traced process (DESIGN §6): what the agent learns
 * about it from /proc the first time one of its spans is queued, kept for
 * as long as spans of that process may still be exported (the process may
 * be long gone by then).
 */
#ifndef TASKTAP_RESOURCE_H
#define TASKTAP_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "otlp_config.h"

#define TT_RES_MAX_ATTRS (24 + TT_OTLP_MAX_PAIRS)

struct tt_res_attr {
	const char *key; /* into the resource's own buffer, or a literal */
	const char *str; /* NULL: an integer */
	int64_t i;
};

/* Immutable once built; shared by the queue and the encoder. */
struct tt_resource {
	uint32_t pid;
	size_t n;
	struct tt_res_attr at[TT_RES_MAX_ATTRS];
	char *strings; /* owns every string the attributes point to */
};

/* What every resource shares: the host, and the configured attributes. */
struct tt_resource_opts {
	const char *spec_service;	  /* the spec's `service:`; NULL: none */
	const struct tt_otlp_config *cfg; /* OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES */
	const char *proc_root;		  /* NULL: "/proc" */
	const char *machine_id_path;	  /* NULL: "/etc/machine-id" */
	const char *hostname;		  /* NULL: gethostname() */
	/*
	 * What the executable is when /proc no longer says (a short-lived
	 * process gone before its first span is queued): the spec's binary path
	 * (exe_path), else the command name it targets (exe_name); NULL: none.
	 */
	const char *exe_path;
	const char *exe_name;
};

/*
 * Builds the resource of process `pid`: service.name (the spec's service,
 * else OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES,
 * else the executable's name), service.instance.id, process.pid,
 * process.executable.name and .path, host.name, host.id, os.type,
 * container.id and k8s.pod.uid when the cgroup path shows them,
 * telemetry.distro.name and .version, then OTEL_RESOURCE_ATTRIBUTES. What
 * cannot be read (the process is gone) is left out. Returns NULL with
 * errno only when out of memory. Free with tt_resource__free().
 */
struct tt_resource *tt_resource__new(pid_t pid, const struct tt_resource_opts *o);

/* Accepts NULL. */
void tt_resource__free(struct tt_resource *r);

/* The attribute `key`, or NULL. */
const struct tt_res_attr *tt_resource__get(const struct tt_resource *r, const char *key);

/*
 * Finds the container id (64 hex digits: docker, containerd, CRI-O,
 * podman) and the Kubernetes pod uid in the text of /proc/PID/cgroup.
 * Either output is left empty when not found. Pure.
 */
void tt_cgroup__parse(const char *text, char *container_id, size_t cid_len, char *pod_uid,
		      size_t pod_len);

#endif /* TASKTAP_RESOURCE_H */
