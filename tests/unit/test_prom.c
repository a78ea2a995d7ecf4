// SPDX-License-Identifier: MIT
/*
 * The Prometheus text format: names, numbers, escaping, a golden
 * exposition, and `promtool check metrics` on a busy one (promtool comes
 * with Debian's prometheus package; scripts/install-deps.sh installs it,
 * and this test fails, not skips, without it).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_spans.h"
#include "assemble.h"
#include "export/metrics.h"
#include "export/prom.h"
#include "spec.h"

/* The exposition of `m`, as a string the caller frees. */
static char *expose(const struct tt_metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(tt_prom__write(m, out), 0);
	assert_int_equal(fclose(out), 0);
	return buf;
}

/* ---- names and numbers --------------------------------------------------- */

static void test_names(void **state)
{
	static const char *const want[TT_M__COUNT] = {
		[TT_M_TASK_SUBMITTED] = "task_submitted_total",
		[TT_M_TASK_COMPLETED] = "task_completed_total",
		[TT_M_TASK_FAILED] = "task_failed_total",
		[TT_M_TASK_DURATION] = "task_duration_seconds",
		[TT_M_STEP_DURATION] = "task_step_duration_seconds",
		[TT_M_STEP_ATTEMPTS] = "task_step_attempts",
		[TT_M_STEP_RETRIES] = "task_step_retries_total",
		[TT_M_COMPENSATIONS] = "task_compensations_total",
		[TT_M_QUEUE_WAIT] = "task_queue_wait_seconds",
		[TT_M_IN_FLIGHT] = "task_in_flight",
		[TT_M_EVENTS_RECEIVED] = "tasktap_event_received_total",
		[TT_M_EVENTS_LOST] = "tasktap_event_lost_total",
		[TT_M_SPANS_EXPORTED] = "otel_sdk_exporter_span_exported_total",
		[TT_M_SPANS_PROCESSED] = "otel_sdk_processor_span_processed_total",
		[TT_M_EXPORT_FAILURES] = "tasktap_exporter_request_failed_total",
		[TT_M_QUEUE_SIZE] = "otel_sdk_processor_span_queue_size",
		[TT_M_QUEUE_CAPACITY] = "otel_sdk_processor_span_queue_capacity",
		[TT_M_SPOOL_SIZE] = "tasktap_exporter_spool_size_bytes",
		[TT_M_QUEUE_BYTES] = "tasktap_exporter_queue_size_bytes",
		[TT_M_QUEUE_BYTES_CAPACITY] = "tasktap_exporter_queue_capacity_bytes",
		[TT_M_PROBES_ATTACHED] = "tasktap_probe_attached",
		[TT_M_SPANS_OPEN] = "otel_sdk_span_live",
		[TT_M_SPANS_EVICTED] = "tasktap_span_evicted_total",
		[TT_M_TASKS_STUCK] = "tasktap_task_stuck",
		[TT_M_SERIES_OVERFLOW] = "tasktap_metric_series_overflow_total",
		[TT_M_VIEW_TRACES] = "tasktap_view_traces",
		[TT_M_VIEW_MEMORY] = "tasktap_view_memory_bytes",
		[TT_M_UNANNOTATED] = "tasktap_annotate_unmatched_total",
		[TT_M_HOOK_EVENTS_LOST] = "tasktap_hook_event_lost_total",
	};
	char buf[128];

	for (int id = 0; id < TT_M__COUNT; id++) {
		assert_int_equal(tt_prom__name(tt_metric__desc(id), buf, sizeof(buf)), 0);
		assert_string_equal(buf, want[id]);
	}
	assert_int_equal(tt_prom__name(tt_metric__desc(TT_M_TASK_DURATION), buf, 10), -ENOSPC);
	assert_int_equal(tt_prom__label("messaging.destination.name", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "messaging_destination_name");
}

static void test_unit_and_total_not_doubled(void **state)
{
	struct tt_metric_desc d = {
		.name = "x.wait_seconds", .unit = "s", .type = TT_METRIC_HISTOGRAM};
	struct tt_metric_desc c = {.name = "x.sent_total", .unit = "By", .type = TT_METRIC_COUNTER};
	char buf[64];

	assert_int_equal(tt_prom__name(&d, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x_wait_seconds");
	assert_int_equal(tt_prom__name(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x_sent_total_bytes_total");
}

static void test_floats(void **state)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{0, "0"},
		{0.005, "0.005"},
		{0.001, "0.001"},
		{2.5, "2.5"},
		{3600, "3600"},
		{100000, "100000"},
		{1000000, "1e+06"},
		{1234567.5, "1.2345675e+06"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{0.1 + 0.2, "0.30000000000000004"},
		{-1.5, "-1.5"},
	};
	char buf[40];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tt_prom__float(cases[i].v, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	tt_prom__float(INFINITY, buf, sizeof(buf));
	assert_string_equal(buf, "+Inf");
	tt_prom__float(-INFINITY, buf, sizeof(buf));
	assert_string_equal(buf, "-Inf");
	tt_prom__float(NAN, buf, sizeof(buf));
	assert_string_equal(buf, "NaN");
}

/* ---- exposition ---------------------------------------------------------- */

/* the label pair of the step: task_name="Zip",step_name="Up\"load\\\n" */
#define STEP "task_name=\"Zip\",step_name=\"Up\\\"load\\\\\\n\""
static const char golden[] =
	"# HELP task_completed_total Tasks that finished with status ok.\n"
	"# TYPE task_completed_total counter\n"
	"task_completed_total{task_name=\"Zip\"} 1\n"
	"# HELP task_duration_seconds Duration of finished tasks.\n"
	"# TYPE task_duration_seconds histogram\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.001\"} 0\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.005\"} 0\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.01\"} 0\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.025\"} 0\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.05\"} 0\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.1\"} 0\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.25\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"0.5\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"1\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"2.5\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"5\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"10\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"30\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"60\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"120\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"300\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"900\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"3600\"} 1\n"
	"task_duration_seconds_bucket{task_name=\"Zip\",status=\"ok\",le=\"+Inf\"} 1\n"
	"task_duration_seconds_sum{task_name=\"Zip\",status=\"ok\"} 0.25\n"
	"task_duration_seconds_count{task_name=\"Zip\",status=\"ok\"} 1\n"
	"# HELP task_step_duration_seconds Duration of finished step attempts.\n"
	"# TYPE task_step_duration_seconds histogram\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.001\"} 0\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.005\"} 0\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.01\"} 0\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.025\"} 0\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.05\"} 0\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.1\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.25\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"0.5\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"1\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"2.5\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"5\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"10\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"30\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"60\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"120\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"300\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"900\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"3600\"} 1\n"
	"task_step_duration_seconds_bucket{" STEP ",status=\"error\",le=\"+Inf\"} 1\n"
	"task_step_duration_seconds_sum{" STEP ",status=\"error\"} 0.1\n"
	"task_step_duration_seconds_count{" STEP ",status=\"error\"} 1\n"
	"# HELP task_step_attempts Attempt number of each finished step attempt (1: first try).\n"
	"# TYPE task_step_attempts histogram\n"
	"task_step_attempts_bucket{" STEP ",le=\"1\"} 0\n"
	"task_step_attempts_bucket{" STEP ",le=\"2\"} 1\n"
	"task_step_attempts_bucket{" STEP ",le=\"3\"} 1\n"
	"task_step_attempts_bucket{" STEP ",le=\"4\"} 1\n"
	"task_step_attempts_bucket{" STEP ",le=\"5\"} 1\n"
	"task_step_attempts_bucket{" STEP ",le=\"10\"} 1\n"
	"task_step_attempts_bucket{" STEP ",le=\"+Inf\"} 1\n"
	"task_step_attempts_sum{" STEP "} 2\n"
	"task_step_attempts_count{" STEP "} 1\n"
	"# HELP task_step_retries_total Step attempts that were retries (attempt > 1).\n"
	"# TYPE task_step_retries_total counter\n"
	"task_step_retries_total{" STEP "} 1\n"
	"# HELP task_in_flight Tasks running now.\n"
	"# TYPE task_in_flight gauge\n"
	"task_in_flight 3\n"
	"# HELP tasktap_event_received_total Probe events received from the ring buffers.\n"
	"# TYPE tasktap_event_received_total counter\n"
	"tasktap_event_received_total 12\n"
	"# HELP tasktap_event_lost_total Events lost in BPF because a ring buffer was full.\n"
	"# TYPE tasktap_event_lost_total counter\n"
	"tasktap_event_lost_total{kind=\"probe\"} 0\n"
	"tasktap_event_lost_total{kind=\"exit\"} 0\n"
	"# HELP otel_sdk_exporter_span_exported_total Spans whose export finished: accepted (no "
	"error.type), or why not.\n"
	"# TYPE otel_sdk_exporter_span_exported_total counter\n"
	"otel_sdk_exporter_span_exported_total 0\n"
	"otel_sdk_exporter_span_exported_total{error_type=\"spool_full\"} 2\n"
	"# HELP otel_sdk_processor_span_processed_total Spans the batching queue handed to the "
	"exporter, or dropped (error.type queue_full).\n"
	"# TYPE otel_sdk_processor_span_processed_total counter\n"
	"otel_sdk_processor_span_processed_total 0\n"
	"otel_sdk_processor_span_processed_total{error_type=\"queue_full\"} 0\n"
	"# HELP tasktap_exporter_request_failed_total Export requests that failed, of every signal "
	"(each try counts).\n"
	"# TYPE tasktap_exporter_request_failed_total counter\n"
	"tasktap_exporter_request_failed_total 0\n"
	"# HELP otel_sdk_processor_span_queue_size Spans waiting in the export queue.\n"
	"# TYPE otel_sdk_processor_span_queue_size gauge\n"
	"otel_sdk_processor_span_queue_size 0\n"
	"# HELP otel_sdk_processor_span_queue_capacity Spans the export queue holds "
	"(OTEL_BSP_MAX_QUEUE_SIZE).\n"
	"# TYPE otel_sdk_processor_span_queue_capacity gauge\n"
	"otel_sdk_processor_span_queue_capacity 0\n"
	"# HELP tasktap_exporter_spool_size_bytes Bytes held in the on-disk export spool.\n"
	"# TYPE tasktap_exporter_spool_size_bytes gauge\n"
	"tasktap_exporter_spool_size_bytes 0\n"
	"# HELP tasktap_exporter_queue_size_bytes Bytes of packed spans waiting in the export "
	"queue.\n"
	"# TYPE tasktap_exporter_queue_size_bytes gauge\n"
	"tasktap_exporter_queue_size_bytes 0\n"
	"# HELP tasktap_exporter_queue_capacity_bytes The export queue's bound in bytes "
	"(--otlp-queue-bytes).\n"
	"# TYPE tasktap_exporter_queue_capacity_bytes gauge\n"
	"tasktap_exporter_queue_capacity_bytes 0\n"
	"# HELP tasktap_probe_attached Probes attached now.\n"
	"# TYPE tasktap_probe_attached gauge\n"
	"tasktap_probe_attached 0\n"
	"# HELP otel_sdk_span_live Spans open now.\n"
	"# TYPE otel_sdk_span_live gauge\n"
	"otel_sdk_span_live 0\n"
	"# HELP tasktap_span_evicted_total Open spans ended early because max_open_spans was "
	"reached.\n"
	"# TYPE tasktap_span_evicted_total counter\n"
	"tasktap_span_evicted_total 0\n"
	"# HELP tasktap_task_stuck Tasks open longer than stuck_after.\n"
	"# TYPE tasktap_task_stuck gauge\n"
	"tasktap_task_stuck 0\n"
	"# HELP tasktap_metric_series_overflow_total Measurements folded into an 'other' series "
	"because the series limit was reached.\n"
	"# TYPE tasktap_metric_series_overflow_total counter\n"
	"tasktap_metric_series_overflow_total 0\n"
	"# HELP tasktap_view_traces Finished traces the task view keeps (--recent-traces).\n"
	"# TYPE tasktap_view_traces gauge\n"
	"tasktap_view_traces 0\n"
	"# HELP tasktap_view_memory_bytes Memory the task view's recent traces take.\n"
	"# TYPE tasktap_view_memory_bytes gauge\n"
	"tasktap_view_memory_bytes 0\n";

static void test_golden_exposition(void **state)
{
	struct tt_metrics *m = tt_metrics__new(NULL);
	struct tt_agent_stats st = {.events_received = 12,
				    .spans_dropped = {[TT_DROP_SPOOL_FULL] = 2}};
	struct fake_probe task, step;
	char *text;

	assert_non_null(m);
	fake_probe__init(&task, TT_ROLE_TASK, "run_task");
	fake_probe__attr(&task, "task.name", "Zip");
	/* a step whose name needs escaping: ", \ and a newline */
	fake_probe__init(&step, TT_ROLE_STEP, "execute_step");
	fake_probe__attr(&step, "step.name", "Up\"load\\\n");
	fake_feed(m, &task, "Zip", 0.25, false, 0);
	fake_feed(m, &step, "Zip.Up\"load\\\n", 0.1, true, 2);
	tt_metrics__set_in_flight(m, NULL, 3);
	tt_metrics__set_agent(m, &st);
	text = expose(m);
	if (getenv("TT_PRINT_GOLDEN"))
		fputs(text, stdout);
	assert_string_equal(text, golden);
	free(text);
	tt_metrics__free(m);
}

/* ---- promtool ------------------------------------------------------------ */

/* Runs `promtool check metrics` on text; returns its exit status and what it printed. */
static int promtool(const char *text, char *said, size_t saidlen)
{
	int in[2], out[2], status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(in[1]);
		close(out[0]);
		execlp("promtool", "promtool", "check", "metrics", (char *)NULL);
		fprintf(stderr, "cannot run promtool: %s\n", strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* the text is small enough for the pipe; promtool reads it all before it writes */
	for (size_t off = 0, len = strlen(text); off < len; off += (size_t)r) {
		r = write(in[1], text + off, len - off);
		assert_true(r > 0);
	}
	close(in[1]);
	while (n + 1 < saidlen && (r = read(out[0], said + n, saidlen - 1 - n)) > 0)
		n += (size_t)r;
	said[n] = '\0';
	close(out[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_promtool_finds_nothing(void **state)
{
	struct tt_metrics *m = tt_metrics__new(&(struct tt_metrics_opts){.max_series = 40});
	struct tt_agent_stats st = {.events_received = 1000, .events_lost = 3, .spool_bytes = 1};
	struct tt_metric_labels ql = {.task_name = "Zip", .destination = "images"};
	struct fake_probe task, step, comp, pub;
	char said[4096], name[32];
	char *text;
	int rc;

	assert_non_null(m);
	fake_probe__init(&task, TT_ROLE_TASK, "run_task");
	fake_probe__attr(&task, "task.name", "Zip");
	fake_probe__init(&step, TT_ROLE_STEP, "execute_step");
	fake_probe__attr(&step, "step.name", "Up\"lo\\ad\n\xff");
	fake_probe__init(&comp, TT_ROLE_COMPENSATION, "undo_step");
	fake_probe__attr(&comp, "step.name", "Upload");
	fake_probe__init(&pub, TT_ROLE_PUBLISH, "amqp_basic_publish");
	fake_probe__attr(&pub, "messaging.destination.name", "images");
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "Task %d é", i);
		snprintf(task.val[0], sizeof(task.val[0]), "%s", name);
		fake_feed(m, &task, name, 0.001 * i * i, i % 3 == 0, 0);
		snprintf(name, sizeof(name), "Task %d é.Up\"lo\\ad\n\xef\xbf\xbd", i);
		fake_feed(m, &step, name, 0.01 * i, i % 4 == 0, 1 + i % 3);
	}
	fake_feed(m, &comp, "Zip.Upload.Compensate", 0.2, false, 1);
	fake_feed(m, &pub, "publish images", 0.0001, false, 0);
	tt_metrics__queue_wait(m, &ql, 0.7);
	tt_metrics__set_in_flight(m, &ql, 2);
	tt_metrics__set_agent(m, &st);
	assert_true(tt_metrics__overflowed(m) > 0);
	text = expose(m);
	rc = promtool(text, said, sizeof(said));
	if (rc != 0 || said[0])
		fail_msg("promtool check metrics exited %d and said:\n%s", rc, said);
	free(text);
	tt_metrics__free(m);
}

/* promtool is really checking: a text with a problem gets a finding */
static void test_promtool_catches_a_bad_name(void **state)
{
	char said[4096];
	int rc = promtool("# HELP x_count A count.\n# TYPE x_count counter\nx_count 1\n", said,
			  sizeof(said));

	assert_true(rc != 0 || said[0]);
	assert_true(rc != 127);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_unit_and_total_not_doubled),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_golden_exposition),
		cmocka_unit_test(test_promtool_finds_nothing),
		cmocka_unit_test(test_promtool_catches_a_bad_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
