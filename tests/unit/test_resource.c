// SPDX-License-Identifier: MIT
/*
 * The OTLP resource of a process: what it says of a process read from a
 * /proc root built here, service.name's precedence, and the container and
 * pod ids read from cgroup paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "export/otlp_config.h"
#include "export/resource.h"
#include "tmpdir.h"

static char dir[64];
static struct tt_otlp_config cfg;

static int setup(void **state)
{
	tt_otlp_config__init(&cfg);
	return tmpdir__make(dir, sizeof(dir), "resource");
}

static int teardown(void **state)
{
	tt_otlp_config__release(&cfg);
	return tmpdir__remove(dir);
}

static void test_cgroup_paths(void **state)
{
	char cid[80], pod[48];
	const char *docker =
		"0::/system.slice/docker-"
		"3f4c5a0e9d1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5.scope\n";
	const char *k8s = "12:memory:/kubepods/burstable/pod0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/"
			  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
	const char *systemd =
		"0::/kubepods.slice/kubepods-besteffort.slice/"
		"kubepods-besteffort-pod0b1c2d3e_4f50_6172_8394_a5b6c7d8e9f0.slice/"
		"cri-containerd-"
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.scope\n";

	tt_cgroup__parse(docker, cid, sizeof(cid), pod, sizeof(pod));
	assert_string_equal(cid,
			    "3f4c5a0e9d1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5");
	assert_string_equal(pod, "");
	tt_cgroup__parse(k8s, cid, sizeof(cid), pod, sizeof(pod));
	assert_string_equal(cid,
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(pod, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0");
	tt_cgroup__parse(systemd, cid, sizeof(cid), pod, sizeof(pod));
	assert_string_equal(cid,
			    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	assert_string_equal(pod, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0");
	tt_cgroup__parse("0::/user.slice/user-0.slice/session-3.scope\n", cid, sizeof(cid), pod,
			 sizeof(pod));
	assert_string_equal(cid, "");
	assert_string_equal(pod, "");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *str_of(const struct tt_resource *r, const char *key)
{
	const struct tt_res_attr *a = tt_resource__get(r, key);

	return a && a->str ? a->str : "(none)";
}

static void test_resource_from_proc(void **state)
{
	char p[256];
	struct tt_resource_opts o = {.cfg = &cfg, .proc_root = dir, .hostname = "node-7"};
	struct tt_resource *r, *r2;
	char err[256];

	snprintf(p, sizeof(p), "%s/4242", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/4242/exe", dir);
	assert_int_equal(symlink("/usr/local/bin/image-worker (deleted)", p), 0);
	snprintf(p, sizeof(p), "%s/4242/cgroup", dir);
	write_file(p, "0::/kubepods/besteffort/pod11111111-2222-3333-4444-555555555555/"
		      "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n");
	snprintf(p, sizeof(p), "%s/4242/stat", dir);
	write_file(p, "4242 (image worker) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 "
		      "987654 1000 10\n");
	snprintf(p, sizeof(p), "%s/machine-id", dir);
	write_file(p, "0123456789abcdef0123456789abcdef\n");
	o.machine_id_path = p;
	assert_int_equal(tt_pairs__parse(&cfg.res_attrs, "deployment.environment=prod,os.type=x",
					 err, sizeof(err)),
			 0);

	r = tt_resource__new(4242, &o);
	assert_non_null(r);
	assert_string_equal(str_of(r, "service.name"), "image-worker");
	assert_int_equal(tt_resource__get(r, "process.pid")->i, 4242);
	assert_string_equal(str_of(r, "process.executable.name"), "image-worker");
	assert_string_equal(str_of(r, "process.executable.path"), "/usr/local/bin/image-worker");
	assert_string_equal(str_of(r, "host.name"), "node-7");
	assert_string_equal(str_of(r, "host.id"), "0123456789abcdef0123456789abcdef");
	assert_string_equal(str_of(r, "os.type"), "linux");
	assert_string_equal(str_of(r, "container.id"),
			    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	assert_string_equal(str_of(r, "k8s.pod.uid"), "11111111-2222-3333-4444-555555555555");
	assert_string_equal(str_of(r, "telemetry.distro.name"), "tasktap");
	assert_string_equal(str_of(r, "telemetry.distro.version"), TASKTAP_VERSION);
	assert_string_equal(str_of(r, "deployment.environment"), "prod");
	assert_int_equal(strlen(str_of(r, "service.instance.id")), 36);
	assert_int_equal(str_of(r, "service.instance.id")[14], '8'); /* UUID version 8 */

	/* the same process gives the same instance id; the precedence of service.name */
	cfg.service_name = strdup("from-env");
	r2 = tt_resource__new(4242, &o);
	assert_string_equal(str_of(r2, "service.instance.id"), str_of(r, "service.instance.id"));
	assert_string_equal(str_of(r2, "service.name"), "from-env");
	tt_resource__free(r2);
	o.spec_service = "from-spec";
	r2 = tt_resource__new(4242, &o);
	assert_string_equal(str_of(r2, "service.name"), "from-spec");
	tt_resource__free(r2);
	tt_resource__free(r);

	/* a process that is gone: what is known of the host stays */
	r = tt_resource__new(999999, &o);
	assert_non_null(r);
	assert_int_equal(tt_resource__get(r, "process.pid")->i, 999999);
	assert_null(tt_resource__get(r, "process.executable.path"));
	assert_string_equal(str_of(r, "host.name"), "node-7");
	tt_resource__free(r);

	/* gone, but the spec says what it ran: the executable all the same */
	o.exe_path = "/opt/jobs/short-job";
	r = tt_resource__new(999999, &o);
	assert_string_equal(str_of(r, "process.executable.path"), "/opt/jobs/short-job");
	assert_string_equal(str_of(r, "process.executable.name"), "short-job");
	tt_resource__free(r);
	o.exe_path = NULL;
	o.exe_name = "cron-task";
	r = tt_resource__new(999999, &o);
	assert_string_equal(str_of(r, "process.executable.name"), "cron-task");
	assert_null(tt_resource__get(r, "process.executable.path"));
	tt_resource__free(r);
	/* /proc wins over the spec while the process lives */
	o.exe_path = "/opt/jobs/short-job";
	r = tt_resource__new(4242, &o);
	assert_string_equal(str_of(r, "process.executable.path"), "/usr/local/bin/image-worker");
	tt_resource__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_paths),
		cmocka_unit_test_setup_teardown(test_resource_from_proc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
