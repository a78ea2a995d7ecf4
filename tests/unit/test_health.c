// SPDX-License-Identifier: MIT
/*
 * Tests for user/agent/health.c, the /health providers: the members
 * health__write() adds for `tasktap status` (specs in use, with a reload
 * error, or broken; what is attached where; the counters), through the
 * JSON writer, the numbers provide_health() fills, and the tasks in
 * flight the /tasks provider lists. BPF is a fake
 * (struct agent_bpf); the spec resolves against the prog-pie fixture.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fixtures.h"
#include "agent/agent.h"
#include "export/httpd.h"
#include "export/jsonw.h"
#include "export/metrics.h"
#include "helpers.h"

static uintptr_t next_link;
static struct tt_link *adopted_link; /* the one link the fake says was adopted */

static int fake_set_hook(struct tt_loader *l, uint32_t id, const struct tt_hook_prog *prog)
{
	return 0;
}

static int fake_attach(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		       bool retprobe, pid_t pid, const char *pin_name, struct tt_link **out,
		       char *err, size_t errlen)
{
	*out = (struct tt_link *)++next_link; /* never dereferenced */
	return 0;
}

static void fake_detach_link(struct tt_loader *l, struct tt_link *link)
{
}

static bool fake_link_adopted(const struct tt_link *link)
{
	return link == adopted_link;
}

static uint64_t fake_stat(const struct tt_loader *l, enum tt_stat which)
{
	return which == TT_STAT_LOST ? 3 : which == TT_STAT_LOST_EXITS ? 1 : 0;
}

static uint32_t lost_gid; /* the one hook the fake says lost events (all 3 of them) */

static uint64_t fake_hook_lost(const struct tt_loader *l, uint32_t id)
{
	return id && id == lost_gid ? 3 : 0;
}

static int fake_attached(const struct tt_loader *l)
{
	return 2;
}

static bool fake_adopted(const struct tt_loader *l)
{
	return false;
}

static const struct agent_bpf fake_bpf = {
	.set_hook = fake_set_hook,
	.attach = fake_attach,
	.detach_link = fake_detach_link,
	.link_adopted = fake_link_adopted,
	.stat = fake_stat,
	.hook_lost = fake_hook_lost,
	.attached = fake_attached,
	.adopted = fake_adopted,
};

static char prog[PATH_MAX];
static char spec_text[1024];

static int setup_all(void **state)
{
	if (fixture__path("prog-pie", prog))
		return -1;
	snprintf(spec_text, sizeof(spec_text),
		 "service: t\nkeyspace: t\ntargets:\n  - binary: %s\n    probes:\n"
		 "      - role: task\n        symbol: run_task\n        key: arg0\n"
		 "      - role: step\n        symbol: process_item\n        key: arg0\n",
		 prog);
	return 0;
}

struct fixture {
	struct agent r;
	struct slot good, edited, broken;
	struct slot *slots[3];
	int loader; /* its address stands for a loader */
};

static struct tt_spec *parse(void)
{
	struct tt_spec *spec = NULL;
	char err[512] = "";

	assert_int_equal(
		tt_spec__parse("spec.yaml", spec_text, strlen(spec_text), &spec, err, sizeof(err)),
		0);
	return spec;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tt_plan plan = {0};
	char err[512] = "";

	next_link = 0;
	f->r.bpf = &fake_bpf;
	f->r.loader = (struct tt_loader *)&f->loader;
	f->r.places = places__new(&fake_bpf, f->r.loader);
	f->r.metrics = tt_metrics__new(NULL);
	f->r.started_ns = tt_now_ns(CLOCK_MONOTONIC);
	f->r.stuck_after_ns = 600000000000ULL;
	f->good = (struct slot){.agent = &f->r, .file = "good.yaml", .spec = parse()};
	f->edited = (struct slot){.agent = &f->r, .file = "edited.yaml", .spec = parse()};
	snprintf(f->edited.error, sizeof(f->edited.error),
		 "edited.yaml:7:9: unknown role \"stpe\" (the previous version stays in use)");
	f->broken = (struct slot){.agent = &f->r, .file = "broken.yaml"};
	snprintf(f->broken.error, sizeof(f->broken.error), "broken.yaml: cannot read: refused");
	f->slots[0] = &f->good;
	f->slots[1] = &f->edited;
	f->slots[2] = &f->broken;
	f->r.slots = f->slots;
	f->r.nslots = 3;
	assert_int_equal(tt_plan__build(f->good.spec, 0, NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(places__attach_plan(f->r.places, &f->good, &plan, err, sizeof(err)), 0);
	tt_plan__release(&plan);
	*state = f;
	return f->r.places && f->r.metrics ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	places__free(f->r.places);
	tt_metrics__free(f->r.metrics);
	tt_spec__free(f->good.spec);
	tt_spec__free(f->edited.spec);
	free(f);
	return 0;
}

/* health__write() inside an object of its own, as /health has it. */
static char *write_health(struct agent *r)
{
	struct tt_jsonw w;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	tt_jsonw__init(&w, out);
	tt_jsonw__start_object(&w);
	health__write(&w, r);
	tt_jsonw__end_object(&w);
	fclose(out);
	return text;
}

static void test_specs_attachments_and_counters(void **state)
{
	struct fixture *f = *state;
	const struct place *p = places__first(f->r.places);
	char want[4096];
	char *got;

	assert_non_null(p);
	assert_int_equal(p->nhooks, 2);
	adopted_link = p->hooks[1].link;
	lost_gid = p->hooks[0].gid;
	f->r.events_dropped = 2;
	f->r.discovered = 3;
	f->r.execs = 5;
	f->r.reloads = 1;
	f->r.events_per_s = 12.25;
	snprintf(want, sizeof(want),
		 "{\"specs\":["
		 "{\"file\":\"good.yaml\",\"ok\":true,\"hooks\":2},"
		 "{\"file\":\"edited.yaml\",\"ok\":true,\"hooks\":2,\"reload_error\":"
		 "\"edited.yaml:7:9: unknown role \\\"stpe\\\" (the previous version stays in "
		 "use)\"},"
		 "{\"file\":\"broken.yaml\",\"ok\":false,\"error\":\"broken.yaml: cannot read: "
		 "refused\"}],"
		 "\"attachments\":["
		 "{\"spec\":\"good.yaml\",\"hook\":%u,\"role\":\"task\",\"function\":\"run_task\","
		 "\"file\":\"%s\",\"pid\":-1,\"pinned\":false},"
		 "{\"spec\":\"good.yaml\",\"hook\":%u,\"role\":\"step\",\"function\":"
		 "\"process_item\",\"file\":\"%s\",\"pid\":-1,\"pinned\":\"adopted\"}],"
		 "\"events_lost_by_reason\":{\"ring_full\":3,\"ring_full_exit\":1,\"memory\":2},"
		 "\"events_lost_by_hook\":[{\"hook\":%u,\"function\":\"run_task\","
		 "\"reason\":\"ring_full\",\"count\":3}],"
		 "\"events_received\":0,\"events_per_second\":12.2,\"processes_discovered\":3,"
		 "\"execs_seen\":5,\"processes_untraced_at_start\":0,\"reloads\":1,"
		 "\"uptime_seconds\":0,\"pinned\":false}",
		 p->hooks[0].gid, prog, p->hooks[1].gid, prog, p->hooks[0].gid);
	got = write_health(&f->r);
	lost_gid = 0;
	assert_string_equal(got, want);
	free(got);
}

static void test_pinned_states(void **state)
{
	struct fixture *f = *state;
	char *got;

	f->r.pin_dir = "/sys/fs/bpf/tasktap";
	f->r.nslots = 0;
	places__clear(f->r.places);
	got = write_health(&f->r);
	assert_non_null(strstr(got, "\"specs\":[],\"attachments\":[],"));
	assert_non_null(strstr(got, ",\"pinned\":true}"));
	free(got);
}

static void test_provider_numbers(void **state)
{
	struct fixture *f = *state;
	struct tt_httpd_providers p;
	struct tt_health h = {0};

	health__providers(&f->r, &p);
	assert_ptr_equal(p.ctx, &f->r);
	p.health(&h, p.ctx);
	assert_int_equal(h.probes_attached, 2);
	assert_int_equal(h.events_lost, 4); /* probe and exit events */
	assert_string_equal(h.exporter, "console");
	assert_null(h.degraded);
	assert_int_equal(h.stuck_tasks, 0);
	assert_non_null(h.extra);
	assert_ptr_equal(h.extra_ctx, &f->r);
	f->r.json = true;
	p.health(&h, p.ctx);
	assert_string_equal(h.exporter, "json");
}

/* An entry of hook `hook` with its key (the spec's probes capture arg0 only). */
static void entry(struct tt_asm *a, uint32_t hook, uint64_t ts, uint32_t pid, uint64_t key)
{
	struct {
		struct tt_event h;
		uint8_t payload[64];
	} e = {0};
	struct tt_cap_rec rec = {.len = sizeof(key), .type = TT_CAP_INT};

	memcpy(e.payload, &rec, sizeof(rec));
	memcpy(e.payload + sizeof(rec), &key, sizeof(key));
	e.h = (struct tt_event){
		.ts_ns = ts,
		.pid = pid,
		.tid = pid,
		.probe = hook,
		.kind = TT_EV_ENTRY,
		.size = (uint32_t)(sizeof(e.h) + ((sizeof(rec) + sizeof(key) + 3) & ~3UL)),
		.ncaps = 1};
	assert_int_equal(tt_asm__push(a, &e.h, e.h.size), 0);
}

struct seen {
	int n;
	char name[64];
	uint32_t pid;
	double age;
	bool step;
};

static void seen_task(const struct tt_task_info *t, void *ctx)
{
	struct seen *s = ctx;

	s->n++;
	snprintf(s->name, sizeof(s->name), "%.*s", (int)t->name_len, t->name);
	s->pid = t->pid;
	s->age = t->age_seconds;
	s->step = t->step != NULL;
}

static void test_tasks_in_flight(void **state)
{
	struct fixture *f = *state;
	struct tt_asm_opts o = {.spec = f->good.spec, .on_span = events__on_span, .ctx = &f->good};
	uint64_t now = tt_now_ns(CLOCK_MONOTONIC);
	struct tt_httpd_providers p;
	struct seen s = {0};

	f->good.assembler = tt_asm__new(&o);
	assert_non_null(f->good.assembler);
	health__providers(&f->r, &p);
	p.tasks(seen_task, &s, p.ctx);
	assert_int_equal(s.n, 0);
	/* a task that began 2 s ago, with a step open under it */
	entry(f->good.assembler, 1, now - 2000000000ULL, 4242, 7);
	entry(f->good.assembler, 2, now - 1000000000ULL, 4242, 7);
	p.tasks(seen_task, &s, p.ctx);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.name, "run_task");
	assert_int_equal(s.pid, 4242);
	assert_true(s.age >= 2.0 && s.age < 60.0);
	assert_true(s.step);
	tt_asm__free(f->good.assembler);
	f->good.assembler = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_specs_attachments_and_counters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pinned_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provider_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tasks_in_flight, setup, teardown),
	};

	return cmocka_run_group_tests(tests, setup_all, NULL);
}
