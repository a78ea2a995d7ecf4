// SPDX-License-Identifier: MIT
/*
 * Tests for user/agent/slots.c, the reload rules of spec files: an
 * unchanged file keeps everything; a changed one is reloaded in place
 * (the hooks that stayed are never detached and keep their global ids);
 * one that no longer parses keeps the spec it had, with the reason; a
 * broken one is loaded afresh once fixed; a removed one is detached and
 * its ids freed; a new one is loaded. BPF is a fake (struct agent_bpf);
 * the specs resolve against the prog-pie fixture ($TT_FIXTURES).
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
#include <unistd.h>
#include <cmocka.h>

#include "fixtures.h"
#include "agent/agent.h"
#include "tmpdir.h"

static struct fake {
	int attaches;
	int detaches;
	uintptr_t next_link;
	int ready_calls;
	int attaches_at_ready; /* hooks attached when the object was waited for */
	int exec_watches;      /* watch_all_execs() calls */
	int watches_at_ready;
	int ready_err;		      /* what ready() returns */
	int attaches_at_first_detach; /* -1: nothing detached yet */
	int comm_watches;	      /* watch_comm() calls */
	int comm_unwatches;	      /* unwatch_comm() calls */
	char unwatched[4][16];	      /* the names unwatched, the first four */
} fk;

static int fake_set_hook(struct tt_loader *l, uint32_t id, const struct tt_hook_prog *prog)
{
	return 0;
}

static int fake_attach(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		       bool retprobe, pid_t pid, const char *pin_name, struct tt_link **out,
		       char *err, size_t errlen)
{
	fk.attaches++;
	*out = (struct tt_link *)++fk.next_link; /* never dereferenced */
	return 0;
}

static void fake_detach_link(struct tt_loader *l, struct tt_link *link)
{
	if (fk.attaches_at_first_detach < 0)
		fk.attaches_at_first_detach = fk.attaches;
	fk.detaches++;
}

static int fake_drain(struct tt_loader *l)
{
	return 0;
}

static int fake_attached(const struct tt_loader *l)
{
	return fk.attaches - fk.detaches;
}

static int fake_prune_pins(struct tt_loader *l)
{
	return 0;
}

static int fake_watch_comm(struct tt_loader *l, const char *comm, bool stop)
{
	fk.comm_watches++;
	return 0;
}

static void fake_unwatch_comm(struct tt_loader *l, const char *comm)
{
	if (fk.comm_unwatches < 4)
		snprintf(fk.unwatched[fk.comm_unwatches], sizeof(fk.unwatched[0]), "%s", comm);
	fk.comm_unwatches++;
}

static int fake_watch_slot(struct tt_loader *l, uint32_t slot, const char *what, uint32_t len,
			   uint32_t flags)
{
	return 0;
}

static void fake_watch_all_execs(struct tt_loader *l, bool on)
{
	fk.exec_watches++;
}

static int fake_ready(struct tt_loader *l, char *err, size_t errlen)
{
	fk.ready_calls++;
	fk.attaches_at_ready = fk.attaches;
	fk.watches_at_ready = fk.exec_watches;
	if (fk.ready_err)
		snprintf(err, errlen, "cannot load the BPF programs: %s", strerror(-fk.ready_err));
	return fk.ready_err;
}

static int fake_continue_all_held(struct tt_loader *l)
{
	return 0; /* nothing is held: there is no BPF */
}

static const struct agent_bpf fake_bpf = {
	.set_hook = fake_set_hook,
	.attach = fake_attach,
	.detach_link = fake_detach_link,
	.drain = fake_drain,
	.attached = fake_attached,
	.prune_pins = fake_prune_pins,
	.watch_comm = fake_watch_comm,
	.unwatch_comm = fake_unwatch_comm,
	.watch_prefix = fake_watch_slot,
	.watch_dir = fake_watch_slot,
	.watch_all_execs = fake_watch_all_execs,
	.continue_all_held = fake_continue_all_held,
	.ready = fake_ready,
};

static char prog[PATH_MAX];

static int setup_all(void **state)
{
	if (fixture__path("prog-pie", prog))
		return -1;
	return 0;
}

struct fixture {
	char dir[64];
	struct run_args args;
	struct agent r;
	int loader; /* its address stands for a loader */
};

/* Writes spec file NAME in the fixture's directory: the task probe, and the step probe too. */
static void write_spec(struct fixture *f, const char *name, bool step)
{
	char path[PATH_MAX];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out,
		"service: %s\nkeyspace: t\ntargets:\n  - binary: %s\n    probes:\n"
		"      - role: task\n        symbol: run_task\n        key: arg0\n",
		name, prog);
	if (step)
		fprintf(out,
			"      - role: step\n        symbol: process_item\n        key: arg0\n");
	fclose(out);
}

static void write_text(struct fixture *f, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
}

static void remove_spec(struct fixture *f, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(unlink(path), 0);
}

/* The slot of spec file NAME (in the fixture's directory), or NULL. */
static struct slot *slot_of(struct fixture *f, const char *name)
{
	const char *base;

	for (size_t i = 0; i < f->r.nslots; i++) {
		base = strrchr(f->r.slots[i]->file, '/');
		if (!strcmp(base ? base + 1 : f->r.slots[i]->file, name))
			return f->r.slots[i];
	}
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	memset(&fk, 0, sizeof(fk));
	fk.attaches_at_first_detach = -1;
	if (!f || tmpdir__make(f->dir, sizeof(f->dir), "slots"))
		return -1;
	f->args.spec_dir = f->dir;
	f->r.args = &f->args;
	f->r.args_spec_dir = f->dir;
	f->r.bpf = &fake_bpf;
	f->r.loader = (struct tt_loader *)&f->loader;
	f->r.places = places__new(&fake_bpf, f->r.loader);
	tt_reorder__init(&f->r.reorder);
	write_spec(f, "a.yaml", true);
	write_text(f, "b.yaml", "targets: [\n");
	*state = f;
	/* a.yaml is in use; b.yaml is kept with its error */
	assert_int_equal(slots__load_all(&f->r), 1);
	assert_int_equal(f->r.nslots, 2);
	return f->r.places ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < f->r.nslots; i++)
		slot__free(&f->r, f->r.slots[i]);
	free(f->r.slots);
	for (size_t i = 0; i < f->r.nretired; i++)
		tt_spec__free(f->r.retired[i]);
	free(f->r.retired);
	places__free(f->r.places);
	tt_reorder__release_all(&f->r.reorder);
	tmpdir__remove(f->dir);
	free(f);
	return 0;
}

static void test_load_keeps_a_broken_file_with_its_error(void **state)
{
	struct fixture *f = *state;
	struct slot *a = slot_of(f, "a.yaml"), *b = slot_of(f, "b.yaml");

	assert_non_null(a);
	assert_non_null(a->spec);
	assert_string_equal(a->error, "");
	assert_int_equal(a->spec->nhooks, 2);
	assert_int_equal(fk.attaches, 2);
	assert_non_null(b);
	assert_null(b->spec);
	assert_non_null(strstr(b->error, "b.yaml"));
}

static void test_unchanged_file_keeps_everything(void **state)
{
	struct fixture *f = *state;
	struct slot *a = slot_of(f, "a.yaml");
	const struct tt_spec *spec = a->spec;

	slots__reload(&f->r);
	assert_int_equal(f->r.reloads, 1);
	assert_ptr_equal(slot_of(f, "a.yaml"), a);
	assert_ptr_equal(a->spec, spec);
	assert_int_equal(fk.attaches, 2);
	assert_int_equal(fk.detaches, 0);
}

static void test_changed_file_is_reloaded_in_place(void **state)
{
	struct fixture *f = *state;
	struct slot *a = slot_of(f, "a.yaml");
	uint16_t task_gid = a->gid[1], step_gid = a->gid[2];
	int local = 0;

	write_spec(f, "a.yaml", false); /* the step probe goes */
	slots__reload(&f->r);
	assert_ptr_equal(slot_of(f, "a.yaml"), a); /* the same slot: its assembler stays */
	assert_int_equal(a->spec->nhooks, 1);
	assert_string_equal(a->error, "");
	/* the task hook was never detached and keeps its id; the step hook's went */
	assert_int_equal(fk.detaches, 1);
	assert_int_equal(fk.attaches, 2);
	assert_int_equal(a->gid[1], task_gid);
	assert_ptr_equal(places__owner(f->r.places, task_gid, &local), a);
	assert_null(places__owner(f->r.places, step_gid, &local));
	/* and back: the step hook is attached again, the task hook still not touched */
	write_spec(f, "a.yaml", true);
	slots__reload(&f->r);
	assert_int_equal(a->spec->nhooks, 2);
	assert_int_equal(fk.attaches, 3);
	assert_int_equal(fk.detaches, 1);
	assert_int_equal(a->gid[1], task_gid);
}

static void test_edited_probe_is_attached_before_its_old_links_go(void **state)
{
	struct fixture *f = *state;
	struct slot *a = slot_of(f, "a.yaml");
	uint16_t task_gid = a->gid[1], step_gid = a->gid[2];
	char text[2048];
	int local = 0;

	/* the task probe gets an attribute: its hook is new, the step's stays */
	snprintf(text, sizeof(text),
		 "service: a.yaml\nkeyspace: t\ntargets:\n  - binary: %s\n    probes:\n"
		 "      - role: task\n        symbol: run_task\n        key: arg0\n"
		 "        attributes:\n          variant: '\"1\"'\n"
		 "      - role: step\n        symbol: process_item\n        key: arg0\n",
		 prog);
	write_text(f, "a.yaml", text);
	slots__reload(&f->r);
	assert_ptr_equal(slot_of(f, "a.yaml"), a);
	assert_string_equal(a->error, "");
	/* make before break: the new task hook attached, then the old one detached */
	assert_int_equal(fk.attaches, 3);
	assert_int_equal(fk.detaches, 1);
	assert_int_equal(fk.attaches_at_first_detach, 3);
	assert_int_equal(a->gid[2], step_gid); /* the step hook kept its id */
	assert_true(a->gid[1] && a->gid[1] != task_gid);
	assert_ptr_equal(places__owner(f->r.places, a->gid[1], &local), a);
	assert_int_equal(local, 1);
	assert_null(places__owner(f->r.places, task_gid, &local));
	/* and the same text again: nothing attached or detached */
	slots__reload(&f->r);
	assert_int_equal(fk.attaches, 3);
	assert_int_equal(fk.detaches, 1);
}

static void test_edit_that_does_not_parse_keeps_the_spec(void **state)
{
	struct fixture *f = *state;
	struct slot *a = slot_of(f, "a.yaml");
	const struct tt_spec *spec = a->spec;

	write_text(f, "a.yaml", "targets: [\n");
	slots__reload(&f->r);
	assert_ptr_equal(slot_of(f, "a.yaml"), a);
	assert_ptr_equal(a->spec, spec);
	assert_non_null(strstr(a->error, "(the previous version stays in use)"));
	assert_int_equal(fk.detaches, 0);
	/* fixed again: reloaded, and the error is gone */
	write_spec(f, "a.yaml", false);
	slots__reload(&f->r);
	assert_string_equal(a->error, "");
	assert_int_equal(a->spec->nhooks, 1);
}

static void test_broken_file_fixed_is_loaded_afresh(void **state)
{
	struct fixture *f = *state;
	struct slot *b;

	write_spec(f, "b.yaml", true);
	slots__reload(&f->r);
	b = slot_of(f, "b.yaml");
	assert_non_null(b);
	assert_non_null(b->spec);
	assert_string_equal(b->error, "");
	assert_int_equal(fk.attaches, 4);
	/* its own global ids, none shared with a.yaml's */
	assert_int_not_equal(b->gid[1], slot_of(f, "a.yaml")->gid[1]);
}

static void test_removed_file_is_detached_and_its_ids_freed(void **state)
{
	struct fixture *f = *state;
	struct slot *a = slot_of(f, "a.yaml");
	uint16_t task_gid = a->gid[1];
	int local = 0;

	remove_spec(f, "a.yaml");
	write_spec(f, "c.yaml", false);
	slots__reload(&f->r);
	assert_null(slot_of(f, "a.yaml"));
	assert_int_equal(fk.detaches, 2);
	assert_non_null(slot_of(f, "c.yaml"));
	assert_non_null(slot_of(f, "c.yaml")->spec);
	/* c.yaml takes the first free id: the one a.yaml's task hook had */
	assert_int_equal(slot_of(f, "c.yaml")->gid[1], task_gid);
	assert_ptr_equal(places__owner(f->r.places, task_gid, &local), slot_of(f, "c.yaml"));
	assert_int_equal(f->r.nslots, 2); /* b.yaml (still broken) and c.yaml */
}

/* A comm: target's spec, for the names given (a comm: target each). */
static void write_comms(struct fixture *f, const char *name, const char *a, const char *b)
{
	static const char target[] = "  - comm: %s\n    probes:\n      - role: task\n"
				     "        symbol: run_task\n        key: arg0\n";
	char path[PATH_MAX];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out, "service: c\nkeyspace: t\ntargets:\n");
	fprintf(out, target, a);
	if (b)
		fprintf(out, target, b);
	fclose(out);
}

/*
 * A reload unwatches only the process names that went, after the new ones
 * are in: an exec of a name that stays is held and reported throughout
 * (before: every name was unwatched and watched again, and a worker
 * started in between ran its first steps before the rescan found it).
 */
static void test_a_reload_keeps_watching_the_names_that_stay(void **state)
{
	struct fixture *f = *state;

	write_comms(f, "c.yaml", "tt-stays", "tt-goes");
	slots__reload(&f->r);
	assert_true(f->r.discovery);
	assert_int_equal(f->r.nwatched, 2);
	fk.comm_watches = fk.comm_unwatches = 0;
	write_comms(f, "c.yaml", "tt-stays", NULL);
	slots__reload(&f->r);
	assert_int_equal(f->r.nwatched, 1);
	assert_true(fk.comm_watches >= 1);
	assert_int_equal(fk.comm_unwatches, 1);
	assert_string_equal(fk.unwatched[0], "tt-goes");
}

static void test_hooks_attach_before_the_object_is_waited_for_and_execs_after(void **state)
{
	/* setup() loaded a.yaml: its hooks attached while the object loaded */
	assert_int_equal(fk.ready_calls, 1);
	assert_int_equal(fk.attaches_at_ready, 2);
	/* the exec watch waits for the exec program, so that no exec escapes the /proc scan */
	assert_int_equal(fk.watches_at_ready, 0);
	assert_true(fk.exec_watches > 0);
}

static void test_an_object_that_failed_to_load_stops_the_start(void **state)
{
	struct fixture *f = *state;
	struct agent r = {.args = &f->args, .args_spec_dir = f->dir, .bpf = &fake_bpf};

	memset(&fk, 0, sizeof(fk));
	fk.ready_err = -EINVAL;
	r.loader = (struct tt_loader *)&f->loader;
	r.places = places__new(&fake_bpf, r.loader);
	assert_non_null(r.places);
	tt_reorder__init(&r.reorder);
	assert_int_equal(slots__load_all(&r), -EIO);
	assert_int_equal(fk.ready_calls, 1);
	assert_int_equal(fk.exec_watches, 0); /* nothing watched, nothing scanned */
	for (size_t i = 0; i < r.nslots; i++)
		slot__free(&r, r.slots[i]);
	free(r.slots);
	places__free(r.places);
	tt_reorder__release_all(&r.reorder);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_edited_probe_is_attached_before_its_old_links_go, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_keeps_a_broken_file_with_its_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unchanged_file_keeps_everything, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_changed_file_is_reloaded_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_edit_that_does_not_parse_keeps_the_spec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_broken_file_fixed_is_loaded_afresh, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_removed_file_is_detached_and_its_ids_freed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hooks_attach_before_the_object_is_waited_for_and_execs_after, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_an_object_that_failed_to_load_stops_the_start,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_reload_keeps_watching_the_names_that_stay,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, setup_all, NULL);
}
