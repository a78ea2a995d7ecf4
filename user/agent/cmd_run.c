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

struct run_option;
/* Sets what option o says from its argument `arg` (NULL: none). 0, or -EINVAL after saying why. */
typedef int (*run_option_fn)(struct run_args *a, const struct run_option *o, const char *arg);

/* One option of `tasktap run`: its names, how it sets the settings, and what --help says. */
struct run_option {
	const char *name;
	char short_name; /* 0: none */
	int has_arg;
	run_option_fn set;
	size_t field;	  /* offsetof() in struct run_args, for set_true/set_false/set_str */
	const char *arg;  /* the argument's name in --help ("PID"); NULL: none */
	const char *help; /* one line for --help and the manual page */
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
	{"pid", 'p', required_argument, set_pid, 0, "PID", "only process PID and its descendants"},
	{"binary", 'b', required_argument, set_str, FIELD(binary), "PATH",
	 "only the file PATH; library targets in its processes"},
	{"json", 'j', no_argument, set_true, FIELD(json), NULL,
	 "one OTLP/JSON span per line instead of waterfalls"},
	{"duration", 'd', required_argument, set_duration, 0, "SECONDS", "stop after that long"},
	{"ring-size", 'r', required_argument, set_ring_size, 0, "BYTES",
	 "each per-CPU ring (default 8M, a power of two)"},
	{"no-color", 'C', no_argument, set_false, FIELD(color), NULL,
	 "no colors in the waterfalls"},
	{"otlp-endpoint", 0, required_argument, set_otlp, 0, "URL",
	 "export to the collector at this base URL"},
	{"otlp-protocol", 0, required_argument, set_otlp, 0, "PROTOCOL",
	 "http/protobuf (default), http/json or grpc"},
	{"otlp-header", 0, required_argument, set_otlp, 0, "K=V",
	 "a header of every request; repeatable"},
	{"otlp-compression", 0, required_argument, set_otlp, 0, "gzip|none", "compress requests"},
	{"otlp-timeout", 0, required_argument, set_otlp, 0, "MS",
	 "to connect and send one request"},
	{"otlp-inflight", 0, required_argument, set_otlp, 0, "N",
	 "span requests at once (default 3, at most 8)"},
	{"otlp-queue-bytes", 0, required_argument, set_otlp, 0, "BYTES",
	 "the span queue's bound (default 32M)"},
	{"otlp-batch-bytes", 0, required_argument, set_otlp, 0, "BYTES",
	 "a span batch's bound (default 512K)"},
	{"spool", 0, required_argument, set_otlp, 0, "DIR",
	 "keep what the collector cannot take yet in DIR"},
	{"spool-size", 0, required_argument, set_otlp, 0, "BYTES",
	 "the spool's bound (K, M and G suffixes)"},
	{"no-spool", 0, no_argument, set_otlp, 0, NULL, "drop what the collector cannot take yet"},
	{"sampler", 0, required_argument, set_otlp, 0, "NAME",
	 "a sampler, as OTEL_TRACES_SAMPLER names them"},
	{"sampler-arg", 0, required_argument, set_otlp, 0, "RATIO", "the sampler's ratio"},
	{"logs", 0, no_argument, set_true, FIELD(logs), NULL,
	 "export step transitions as OTLP logs"},
	{"log-steps", 0, no_argument, set_true, FIELD(log_steps), NULL,
	 "write step transitions as lines on stderr"},
	{"http", 0, required_argument, set_str, FIELD(http_addr), "ADDR",
	 "the HTTP endpoints' address (default 127.0.0.1:9464)"},
	{"no-http", 0, no_argument, set_true, FIELD(no_http), NULL, "no HTTP endpoints"},
	{"http-allow-remote", 0, no_argument, set_true, FIELD(http_allow_remote), NULL,
	 "allow an --http address other than loopback"},
	{"stuck-after", 0, required_argument, set_stuck_after, 0, "SECONDS",
	 "a task open longer is stuck in /health (default 600)"},
	{"recent-traces", 0, required_argument, set_recent_traces, 0, "N",
	 "finished traces the task view keeps (default 1000)"},
	{"spec", 0, required_argument, add_spec, 0, "FILE", "one more spec file; repeatable"},
	{"spec-dir", 0, required_argument, set_str, FIELD(spec_dir), "DIR",
	 "every *.yaml, *.yml of DIR, watched for changes"},
	{"pin", 0, required_argument, set_str, FIELD(pin_dir), "DIR",
	 "keep probes pinned in DIR (bpffs) across restarts"},
	{"print-config", 0, no_argument, set_true, FIELD(print_config), NULL,
	 "print the export settings and their sources"},
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

static const struct tt_usage_item run_examples[] = {
	{"tasktap run worker.yaml", "trace what the spec names, waterfalls on stdout"},
	{"tasktap run worker.yaml --pid 4242 --json", "one process, spans as JSON lines"},
	{"tasktap run --spec-dir /etc/tasktap/specs --pin /sys/fs/bpf/tasktap",
	 "the node agent: every spec of a directory, kept across restarts"},
	{"tasktap run worker.yaml --otlp-endpoint http://collector:4318",
	 "export spans to an OpenTelemetry collector"},
	{NULL},
};

const struct tt_usage *tt_cmd__run_usage(void)
{
	static char what[NOPTIONS][64];
	static struct tt_usage_item items[NOPTIONS + 2];
	static const struct tt_usage usage = {
		.name = "run",
		.args = "[SPEC] [--spec FILE]... [--spec-dir DIR] [OPTIONS]",
		.summary =
			"Trace the targets of the specs and print spans as waterfalls or JSON "
			"lines, "
			"or export them over OTLP; stops on SIGINT or SIGTERM, reloads the specs "
			"on SIGHUP",
		.options = items,
		.examples = run_examples,
	};

	/* the rows of run_options, as --help shows them */
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct run_option *o = &run_options[i];

		if (o->short_name)
			snprintf(what[i], sizeof(what[i]), "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(what[i], sizeof(what[i]), "--%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		items[i] = (struct tt_usage_item){what[i], o->help};
	}
	items[NOPTIONS] = (struct tt_usage_item){"-h, --help", "print this text"};
	items[NOPTIONS + 1] = (struct tt_usage_item){NULL};
	return &usage;
}

/*
 * The checks across options, in one place, once every option is read:
 * one positional SPEC at most, some spec to run, --pid or --binary. The
 * positional SPEC goes first. Returns 0, or 2 after saying why.
 */
static int cmd_run_check(struct run_args *a, int argc, char **argv, int first)
{
	if (first + 1 < argc || (first == argc && !a->nspecs && !a->spec_dir)) {
		tt_usage__short(tt_cmd__run_usage(), stderr);
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
			tt_usage__print(tt_cmd__run_usage(), stdout);
			return 0;
		}
		if (!o) {
			tt_usage__short(tt_cmd__run_usage(), stderr);
			return 2;
		}
		if (o->set(&a, o, optarg))
			return 2;
	}
	if (a.print_config)
		return agent__print_config(&a); /* no spec needed: nothing runs */
	ret = cmd_run_check(&a, argc, argv, optind);
	if (ret)
		return ret;
	return agent__run(&a);
}
