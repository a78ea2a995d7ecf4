// SPDX-License-Identifier: MIT
/* `tasktap run`'s command line as data: a table of options into struct run_args. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli.h"
#include "export/traces.h"

/* The settings when the command line says nothing else (color: on a terminal). */
static const struct run_args run_defaults = {
	.stuck_after = DEFAULT_STUCK_AFTER,
	.ring_bytes = 0,   /* the loader's default */
	.http_addr = NULL, /* TT_HTTPD_DEFAULT_ADDR */
	.duration = 0,	   /* until stopped */
};

static void usage_run(FILE *out)
{
	fprintf(out,
		"usage: %s run [SPEC] [--spec FILE]... [--spec-dir DIR] [--pin DIR]\n"
		"                   [--pid PID | --binary PATH] [--json] [--duration SECONDS]\n"
		"                   [--ring-size BYTES] [--no-color]\n"
		"                   [--otlp-endpoint URL] [--otlp-protocol PROTOCOL]\n"
		"                   [--otlp-header K=V]... [--otlp-compression gzip|none]\n"
		"                   [--otlp-timeout MS] [--spool DIR | --no-spool]\n"
		"                   [--logs] [--log-steps]\n"
		"                   [--http ADDR | --no-http] [--http-allow-remote]\n"
		"                   [--stuck-after SECONDS] [--recent-traces N]\n"
		"                   [--spool-size BYTES] [--sampler NAME] [--sampler-arg RATIO]\n"
		"  PROTOCOL: http/protobuf (default), http/json or grpc\n"
		"\n"
		"examples:\n"
		"  %s run worker.yaml                        trace, print waterfalls\n"
		"  %s run worker.yaml --pid 4242 --json      one process, spans as JSON lines\n"
		"  %s run --spec-dir /etc/tasktap --pin /sys/fs/bpf/tasktap \\\n"
		"        --otlp-endpoint http://collector:4318  node agent, kept across restarts\n",
		tt_prog_name, tt_prog_name, tt_prog_name, tt_prog_name);
}

struct run_option;
/* Sets what option o says from its argument `arg` (NULL: none). 0, or -EINVAL after saying why. */
typedef int (*run_option_fn)(struct run_args *a, const struct run_option *o, const char *arg);

/* One option of `tasktap run`: its names, and how it sets the settings. */
struct run_option {
	const char *name;
	char short_name; /* 0: none */
	int has_arg;
	run_option_fn set;
	size_t field; /* offsetof() in struct run_args, for set_true/set_false/set_str */
};

#define FIELD(f) offsetof(struct run_args, f)

static int set_true(struct run_args *a, const struct run_option *o, const char *arg)
{
	*(bool *)((char *)a + o->field) = true;
	return 0;
}

static int set_false(struct run_args *a, const struct run_option *o, const char *arg)
{
	*(bool *)((char *)a + o->field) = false;
	return 0;
}

static int set_str(struct run_args *a, const struct run_option *o, const char *arg)
{
	*(const char **)((char *)a + o->field) = arg;
	return 0;
}

/* An OTLP setting: kept in order, applied over the environment (sinks.c). */
static int set_otlp(struct run_args *a, const struct run_option *o, const char *arg)
{
	if (a->notlp == MAX_OTLP_ARGS) {
		tt_warn("too many OTLP options");
		return -EINVAL;
	}
	a->otlp[a->notlp].key = o->name;
	a->otlp[a->notlp].value = arg ? arg : "";
	a->notlp++;
	return 0;
}

/* A --spec: after the positional SPEC, which cmd_run_check() puts first. */
static int add_spec(struct run_args *a, const struct run_option *o, const char *arg)
{
	if (a->nspecs == MAX_SPEC_ARGS - 1) {
		tt_warn("too many --spec options (use --spec-dir)");
		return -EINVAL;
	}
	a->specs[a->nspecs++] = arg;
	return 0;
}

static int set_pid(struct run_args *a, const struct run_option *o, const char *arg)
{
	if (tt_parse_pid(arg, &a->pid)) {
		tt_warn("invalid pid '%s': expected a positive integer", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_duration(struct run_args *a, const struct run_option *o, const char *arg)
{
	char *end;

	a->duration = strtod(arg, &end);
	if (*end || a->duration <= 0) {
		tt_warn("invalid duration '%s': expected seconds", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_ring_size(struct run_args *a, const struct run_option *o, const char *arg)
{
	if (tt_parse_size(arg, &a->ring_bytes) || a->ring_bytes < 4096 ||
	    a->ring_bytes > TT_MAX_RING_BYTES || (a->ring_bytes & (a->ring_bytes - 1))) {
		tt_warn("invalid ring size '%s': expected a power of two from 4K to 1G bytes", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_stuck_after(struct run_args *a, const struct run_option *o, const char *arg)
{
	char *end;

	a->stuck_after = strtod(arg, &end);
	if (*end || end == arg || !(a->stuck_after > 0) || a->stuck_after > 1e9) {
		tt_warn("invalid --stuck-after '%s': expected seconds", arg);
		return -EINVAL;
	}
	return 0;
}

static int set_recent_traces(struct run_args *a, const struct run_option *o, const char *arg)
{
	char *end;

	a->recent_traces = (uint32_t)strtoul(arg, &end, 10);
	if (*end || arg[0] < '1' || arg[0] > '9' || strlen(arg) > 6 ||
	    a->recent_traces > TT_TRACES_MAX_CAPACITY) {
		tt_warn("invalid --recent-traces '%s': expected 1 to %d traces", arg,
			TT_TRACES_MAX_CAPACITY);
		return -EINVAL;
	}
	return 0;
}

/* Every option of `tasktap run` (--help is handled by tt_cmd__run()). */
static const struct run_option run_options[] = {
	{"pid", 'p', required_argument, set_pid, 0},
	{"binary", 'b', required_argument, set_str, FIELD(binary)},
	{"json", 'j', no_argument, set_true, FIELD(json)},
	{"duration", 'd', required_argument, set_duration, 0},
	{"ring-size", 'r', required_argument, set_ring_size, 0},
	{"no-color", 'C', no_argument, set_false, FIELD(color)},
	{"otlp-endpoint", 0, required_argument, set_otlp, 0},
	{"otlp-protocol", 0, required_argument, set_otlp, 0},
	{"otlp-header", 0, required_argument, set_otlp, 0},
	{"otlp-compression", 0, required_argument, set_otlp, 0},
	{"otlp-timeout", 0, required_argument, set_otlp, 0},
	{"spool", 0, required_argument, set_otlp, 0},
	{"spool-size", 0, required_argument, set_otlp, 0},
	{"no-spool", 0, no_argument, set_otlp, 0},
	{"sampler", 0, required_argument, set_otlp, 0},
	{"sampler-arg", 0, required_argument, set_otlp, 0},
	{"logs", 0, no_argument, set_true, FIELD(logs)},
	{"log-steps", 0, no_argument, set_true, FIELD(log_steps)},
	{"http", 0, required_argument, set_str, FIELD(http_addr)},
	{"no-http", 0, no_argument, set_true, FIELD(no_http)},
	{"http-allow-remote", 0, no_argument, set_true, FIELD(http_allow_remote)},
	{"stuck-after", 0, required_argument, set_stuck_after, 0},
	{"recent-traces", 0, required_argument, set_recent_traces, 0},
	{"spec", 0, required_argument, add_spec, 0},
	{"spec-dir", 0, required_argument, set_str, FIELD(spec_dir)},
	{"pin", 0, required_argument, set_str, FIELD(pin_dir)},
};

#define NOPTIONS    (sizeof(run_options) / sizeof(run_options[0]))
#define OPT_HELP    'h'
#define OPT_TABLE_0 256 /* getopt's value of run_options[i] is OPT_TABLE_0 + i */

/* getopt_long()'s view of the table, and the short options ("p:b:jd:r:Ch"). */
static void getopt_table(struct option *opts, char *shorts, size_t shortlen)
{
	size_t n = 0;

	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct run_option *o = &run_options[i];

		opts[i] = (struct option){o->name, o->has_arg, NULL, OPT_TABLE_0 + (int)i};
		if (o->short_name && n + 3 < shortlen) {
			shorts[n++] = o->short_name;
			if (o->has_arg == required_argument)
				shorts[n++] = ':';
		}
	}
	opts[NOPTIONS] = (struct option){"help", no_argument, NULL, OPT_HELP};
	opts[NOPTIONS + 1] = (struct option){0};
	shorts[n++] = OPT_HELP;
	shorts[n] = '\0';
}

/* The row of getopt's value c, or NULL (an unknown option). */
static const struct run_option *option_of(int c)
{
	if (c >= OPT_TABLE_0 && c < OPT_TABLE_0 + (int)NOPTIONS)
		return &run_options[c - OPT_TABLE_0];
	for (size_t i = 0; i < NOPTIONS; i++) {
		if (c && run_options[i].short_name == c)
			return &run_options[i];
	}
	return NULL;
}

/*
 * The checks across options, in one place, once every option is read:
 * one positional SPEC at most, some spec to run, --pid or --binary. The
 * positional SPEC goes first. Returns 0, or 2 after saying why.
 */
static int cmd_run_check(struct run_args *a, int argc, char **argv, int first)
{
	if (first + 1 < argc || (first == argc && !a->nspecs && !a->spec_dir)) {
		usage_run(stderr);
		return 2;
	}
	if (a->pid && a->binary) {
		tt_warn("--pid and --binary exclude each other");
		return 2;
	}
	if (first < argc) {
		memmove(&a->specs[1], &a->specs[0], a->nspecs * sizeof(a->specs[0]));
		a->specs[0] = argv[first];
		a->nspecs++;
	}
	return 0;
}

int tt_cmd__run(int argc, char **argv)
{
	struct option opts[NOPTIONS + 2];
	struct run_args a = run_defaults;
	char shorts[2 * NOPTIONS + 2];
	int c, ret;

	a.color = isatty(STDOUT_FILENO);
	getopt_table(opts, shorts, sizeof(shorts));
	while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		const struct run_option *o = option_of(c);

		if (c == OPT_HELP) {
			usage_run(stdout);
			return 0;
		}
		if (!o) {
			usage_run(stderr);
			return 2;
		}
		if (o->set(&a, o, optarg))
			return 2;
	}
	ret = cmd_run_check(&a, argc, argv, optind);
	if (ret)
		return ret;
	return agent__run(&a);
}
