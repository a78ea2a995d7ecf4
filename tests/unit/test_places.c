// SPDX-License-Identifier: MIT
/*
 * Tests for user/agent/places.c, the attach registry: global hook ids
 * (first free, stable, freed with their slot), one place per target, file
 * and process, discovered places that go with their last process, and a
 * reload that keeps the links of the hooks that stayed. BPF is a fake
 * (struct agent_bpf); the spec is resolved against the fixture prog-pie
 * (directory from $TT_FIXTURES).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixtures.h"
#include "agent/agent.h"
#include "helpers.h"

#define MAX_CALLS 64

/* What the fake BPF side was asked to do. */
static struct fake {
	int set_hooks;
	int attaches;
	uint32_t attach_id[MAX_CALLS];
	uint64_t attach_offset[MAX_CALLS];
	char pin_name[MAX_CALLS][96];
	int detaches;
	int exited; /* of the detaches, through detach_exited */
	struct tt_link *detached[MAX_CALLS];
	int attaches_at_first_detach; /* -1: nothing detached yet */
	int fail_attach;	      /* -errno to answer every attach with; 0: succeed */
	uintptr_t next_link;
} fk;

static int fake_set_hook(struct tt_loader *l, uint32_t id, const struct tt_hook_prog *prog)
{
	fk.set_hooks++;
	return 0;
}

static int fake_attach(struct tt_loader *l, uint32_t id, const char *path, uint64_t offset,
		       bool retprobe, pid_t pid, const char *pin_name, struct tt_link **out,
		       char *err, size_t errlen)
{
	if (fk.fail_attach) {
		snprintf(err, errlen, "cannot attach to '%s': refused", path);
		return fk.fail_attach;
	}
	if (fk.attaches < MAX_CALLS) {
		fk.attach_id[fk.attaches] = id;
		fk.attach_offset[fk.attaches] = offset;
		snprintf(fk.pin_name[fk.attaches], sizeof(fk.pin_name[0]), "%s", pin_name);
	}
	fk.attaches++;
	*out = (struct tt_link *)++fk.next_link; /* never dereferenced */
	return 0;
}

static int fake_attach_usdt(struct tt_loader *l, uint32_t id, const char *path,
			    const char *provider, const char *name, pid_t pid, const char *pin_name,
			    struct tt_link **out, char *err, size_t errlen)
{
	return fake_attach(l, id, path, 0, false, pid, pin_name, out, err, errlen);
}

static void fake_detach_link(struct tt_loader *l, struct tt_link *link)
{
	if (fk.attaches_at_first_detach < 0)
		fk.attaches_at_first_detach = fk.attaches;
	if (fk.detaches < MAX_CALLS)
		fk.detached[fk.detaches] = link;
	fk.detaches++;
}

static void fake_detach_exited(struct tt_loader *l, struct tt_link *link)
{
	fake_detach_link(l, link);
	fk.exited++;
}

static const struct agent_bpf fake_bpf = {
	.set_hook = fake_set_hook,
	.attach = fake_attach,
	.attach_usdt = fake_attach_usdt,
	.detach_link = fake_detach_link,
	.detach_exited = fake_detach_exited,
};

static char prog[PATH_MAX];  /* the fixture's absolute path */
static char spec_two[1024];  /* a task and a step probe on prog */
static char spec_one[1024];  /* the same task probe alone */
static char spec_edit[1024]; /* spec_two, its task probe with one more attribute */

static int setup_all(void **state)
{
	if (fixture__path("prog-pie", prog))
		return -1;
	snprintf(spec_one, sizeof(spec_one),
		 "service: t\nkeyspace: t\ntargets:\n  - binary: %s\n    probes:\n"
		 "      - role: task\n        symbol: run_task\n        key: arg0\n",
		 prog);
	snprintf(spec_two, sizeof(spec_two),
		 "%s      - role: step\n        symbol: process_item\n        key: arg0\n",
		 spec_one);
	snprintf(spec_edit, sizeof(spec_edit),
		 "service: t\nkeyspace: t\ntargets:\n  - binary: %s\n    probes:\n"
		 "      - role: task\n        symbol: run_task\n        key: arg0\n"
		 "        attributes:\n          variant: '\"1\"'\n"
		 "      - role: step\n        symbol: process_item\n        key: arg0\n",
		 prog);
	return 0;
}

struct fixture {
	struct places *pl;
	struct tt_spec *spec;
	struct slot slot;
};

static struct tt_spec *parse(const char *text)
{
	struct tt_spec *spec = NULL;
	char err[512] = "";
	int ret = tt_spec__parse("spec.yaml", text, strlen(text), &spec, err, sizeof(err));

	if (ret)
		fprintf(stderr, "unexpected: %s\n", err);
	assert_int_equal(ret, 0);
	return spec;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	memset(&fk, 0, sizeof(fk));
	fk.attaches_at_first_detach = -1;
	f->pl = places__new(&fake_bpf, NULL);
	f->spec = parse(spec_two);
	f->slot.file = "spec.yaml";
	f->slot.spec = f->spec;
	*state = f;
	return f->pl ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	places__free(f->pl);
	tt_spec__free(f->spec);
	free(f);
	return 0;
}

static size_t count_places(const struct places *pl)
{
	size_t n = 0;

	for (const struct place *p = places__first(pl); p; p = p->next)
		n++;
	return n;
}

/* Resolves the slot's spec (no --pid, no --binary) and attaches it. */
static int attach_spec(struct fixture *f, char *err, size_t errlen)
{
	struct tt_plan plan = {0};
	int ret = tt_plan__build(f->slot.spec, 0, NULL, &plan, err, errlen);

	assert_int_equal(ret, 0);
	ret = places__attach_plan(f->pl, &f->slot, &plan, err, errlen);
	tt_plan__release(&plan);
	return ret;
}

static void test_hook_ids_first_free_and_stable(void **state)
{
	struct fixture *f = *state;
	struct slot other = {.file = "other.yaml", .spec = f->spec};
	int local = 0;

	assert_true(f->spec->nhooks >= 2);
	assert_int_equal(places__hook_id(f->pl, &f->slot, 1), 1);
	assert_int_equal(places__hook_id(f->pl, &f->slot, 2), 2);
	assert_int_equal(places__hook_id(f->pl, &f->slot, 1), 1); /* given once */
	assert_int_equal(fk.set_hooks, 2);
	assert_int_equal(places__hook_id(f->pl, &other, 1), 3);
	assert_ptr_equal(places__owner(f->pl, 3, &local), &other);
	assert_int_equal(local, 1);
	/* no hook 0, none past the spec's */
	assert_int_equal(places__hook_id(f->pl, &f->slot, 0), 0);
	assert_int_equal(places__hook_id(f->pl, &f->slot, f->spec->nhooks + 1), 0);
	assert_null(places__owner(f->pl, 0, &local));
	assert_null(places__owner(f->pl, TT_MAX_PROBES + 1, &local));
	/* the slot's ids are free again, and the next hook takes the first of them */
	places__release_ids(f->pl, &f->slot);
	assert_null(places__owner(f->pl, 1, &local));
	assert_null(places__owner(f->pl, 2, &local));
	assert_int_equal(places__hook_id(f->pl, &other, 2), 1);
}

static void test_plan_is_one_place_per_file(void **state)
{
	struct fixture *f = *state;
	const struct place *p;
	char err[512] = "", prefix[32];
	int attaches;

	assert_int_equal(attach_spec(f, err, sizeof(err)), 0);
	assert_int_equal(count_places(f->pl), 1);
	p = places__first(f->pl);
	assert_int_equal(p->pid, -1);
	assert_true(p->fixed);
	assert_int_equal(p->nhooks, (size_t)fk.attaches);
	assert_true(fk.attaches >= 2);
	for (size_t i = 0; i < p->nhooks; i++) {
		assert_int_equal(p->hooks[i].gid, fk.attach_id[i]);
		assert_true(p->hooks[i].offset == fk.attach_offset[i]);
		/* the pin name starts with the global id: the next agent finds it again */
		snprintf(prefix, sizeof(prefix), "%u_", p->hooks[i].gid);
		assert_memory_equal(fk.pin_name[i], prefix, strlen(prefix));
	}
	/* the same plan again: nothing attached twice */
	attaches = fk.attaches;
	assert_int_equal(attach_spec(f, err, sizeof(err)), 0);
	assert_int_equal(fk.attaches, attaches);
	assert_int_equal(count_places(f->pl), 1);
	/* freeing the registry detaches each link once */
	places__free(f->pl);
	f->pl = NULL;
	assert_int_equal(fk.detaches, attaches);
}

static void test_attach_failure_names_the_spec(void **state)
{
	struct fixture *f = *state;
	char err[512] = "";

	fk.fail_attach = -EPERM;
	assert_int_equal(attach_spec(f, err, sizeof(err)), -EPERM);
	assert_string_equal(err, "spec.yaml: cannot attach (said above)");
}

/*
 * A file seen in a process (/proc/PID/root/...) whose process exited
 * before the plan was attached is skipped, not an error; a file missing
 * elsewhere still is.
 */
static void test_file_of_an_exited_process_is_skipped(void **state)
{
	struct fixture *f = *state;
	struct tt_plan plan = {0};
	char err[512] = "";
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(tt_plan__build(f->slot.spec, 0, NULL, &plan, err, sizeof(err)), 0);
	assert_true(plan.n >= 2);
	for (size_t k = 0; k < plan.n; k++)
		snprintf(plan.at[k].path, sizeof(plan.at[k].path), "/proc/%d/root%s", (int)child,
			 prog);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(places__attach_plan(f->pl, &f->slot, &plan, err, sizeof(err)), 0);
	assert_int_equal(fk.attaches, 0);
	assert_int_equal(count_places(f->pl), 0);
	/* the same file missing outside /proc: the spec cannot be attached */
	for (size_t k = 0; k < plan.n; k++)
		snprintf(plan.at[k].path, sizeof(plan.at[k].path), "%s.gone", prog);
	assert_int_equal(places__attach_plan(f->pl, &f->slot, &plan, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot read '"));
	tt_plan__release(&plan);
}

static void test_discovered_file_goes_with_its_last_process(void **state)
{
	struct fixture *f = *state;
	const struct tt_target *t = &f->spec->targets[0];
	struct forget first = {.pid = 100}, second = {.pid = 200};
	struct forget earlier = {.pid = 200, .ts = 0};
	const struct place *p;
	int attached;

	assert_true(places__attach_file(f->pl, &f->slot, t, prog, "prog", 100));
	attached = fk.attaches;
	assert_true(places__attach_file(f->pl, &f->slot, t, prog, "prog", 200));
	assert_int_equal(fk.attaches, attached); /* one file: attached once */
	assert_int_equal(count_places(f->pl), 1);
	p = places__first(f->pl);
	assert_false(p->fixed);
	assert_int_equal(p->npids, 2);
	/* exits seen after the place was made */
	first.ts = second.ts = tt_now_ns(CLOCK_MONOTONIC);
	places__drop_exited(f->pl, place__forget_pid, &first);
	assert_int_equal(count_places(f->pl), 1);
	/* the exit of an earlier process with that pid leaves it alone */
	places__drop_exited(f->pl, place__forget_pid, &earlier);
	assert_int_equal(count_places(f->pl), 1);
	assert_int_equal(fk.detaches, 0);
	places__drop_exited(f->pl, place__forget_pid, &second);
	assert_int_equal(count_places(f->pl), 0);
	assert_int_equal(fk.detaches, attached);
	assert_int_equal(fk.exited, attached); /* closed off the event loop: the process is gone */
}

static void test_own_process_place(void **state)
{
	struct fixture *f = *state;
	const struct tt_target *t = &f->spec->targets[0];
	struct forget me = {.pid = getpid()};
	struct place *p;

	p = places__attach(f->pl, &f->slot, t, prog, "prog (pid)", getpid(), false);
	assert_non_null(p);
	assert_int_equal(p->pid, getpid());
	/* this process is alive: not gone, and not every target is gone */
	assert_false(place__gone(p, NULL));
	assert_false(places__all_pids_gone(f->pl));
	me.ts = tt_now_ns(CLOCK_MONOTONIC);
	places__drop(f->pl, place__forget_pid, &me);
	assert_null(places__first(f->pl));
	/* no places: not "all gone" either */
	assert_false(places__all_pids_gone(f->pl));
}

/*
 * What respec_slot() does with slot f->slot going to `now`: move the
 * places, give the new spec its ids (the kept ones carried over), attach
 * its plan, switch at `ts`, then move the ids. `old` gets the old ids.
 */
static void reload_to(struct fixture *f, struct tt_spec *now, const int *map, uint16_t *old,
		      uint64_t ts, int *attaches_before_switch)
{
	int nold = f->slot.spec->nhooks;
	struct tt_plan plan = {0};
	char err[512] = "";

	places__move(f->pl, &f->slot, now, map);
	memcpy(old, f->slot.gid, sizeof(f->slot.gid));
	memset(f->slot.gid, 0, sizeof(f->slot.gid));
	for (int h = 1; h <= nold; h++) {
		if (map[h])
			f->slot.gid[map[h]] = old[h];
	}
	f->slot.spec = now;
	assert_int_equal(tt_plan__build(now, 0, NULL, &plan, err, sizeof(err)), 0);
	assert_int_equal(places__attach_plan(f->pl, &f->slot, &plan, err, sizeof(err)), 0);
	tt_plan__release(&plan);
	*attaches_before_switch = fk.attaches;
	assert_int_equal(fk.detaches, 0); /* nothing detached before the switch */
	places__switch(f->pl, &f->slot, old, map, map, nold, ts);
	places__move_ids(f->pl, &f->slot, now, map, nold, old);
}

static void test_reload_keeps_the_links_that_stayed(void **state)
{
	struct fixture *f = *state;
	struct tt_spec *now = parse(spec_one);
	int map[TT_MAX_PROBES + 1] = {0}, nold = f->spec->nhooks, local = 0, before;
	uint16_t old[TT_MAX_PROBES + 1];
	const struct place *p;
	struct tt_link *kept[TT_MAX_PROBES];
	size_t nkept = 0, had;
	char err[512] = "";
	uint16_t task_gid, step_gid;
	bool known;

	assert_int_equal(attach_spec(f, err, sizeof(err)), 0);
	p = places__first(f->pl);
	had = p->nhooks;
	task_gid = f->slot.gid[1];
	step_gid = f->slot.gid[f->spec->nhooks];
	assert_true(tt_spec__match(f->spec, now, map) >= 1);
	for (size_t i = 0; i < p->nhooks; i++) {
		if (map[p->hooks[i].hook->id])
			kept[nkept++] = p->hooks[i].link;
	}
	assert_true(nkept >= 1 && nkept < had);
	reload_to(f, now, map, old, 1000, &before);
	assert_int_equal(before, (int)had); /* spec_one adds nothing */
	p = places__first(f->pl);
	assert_non_null(p);
	assert_int_equal(p->nhooks, nkept);
	assert_int_equal(fk.detaches, (int)(had - nkept));
	for (size_t i = 0; i < p->nhooks; i++) {
		assert_ptr_equal(p->hooks[i].link, kept[i]); /* the same link */
		assert_ptr_equal(p->hooks[i].hook, tt_spec__hook(now, p->hooks[i].hook->id));
	}
	/* the task hook keeps its global id; the step hook's id is retired */
	assert_int_equal(f->slot.gid[map[1]], task_gid);
	assert_ptr_equal(places__owner(f->pl, task_gid, &local), &f->slot);
	assert_int_equal(local, map[1]);
	assert_null(places__owner(f->pl, step_gid, &local));
	/* an event of the step hook that went, read late, is dropped, not unknown */
	assert_null(places__owner_at(f->pl, step_gid, 999, &local, &known));
	assert_true(known);
	for (int h = 2; h <= nold; h++)
		assert_false(map[h]);
	places__drop(f->pl, place__of_slot, &f->slot);
	assert_null(places__first(f->pl));
	tt_spec__free(now);
}

static void test_reload_attaches_an_edited_probe_before_it_detaches_the_old(void **state)
{
	struct fixture *f = *state;
	struct tt_spec *now = parse(spec_edit), *was = f->spec;
	int map[TT_MAX_PROBES + 1] = {0}, succ[TT_MAX_PROBES + 1] = {0};
	int had_attaches, before, local = 0, task_hooks = 0;
	uint16_t old[TT_MAX_PROBES + 1], old_task, new_task;
	const struct place *p;
	char err[512] = "";
	bool known;

	assert_int_equal(attach_spec(f, err, sizeof(err)), 0);
	had_attaches = fk.attaches;
	for (int h = 1; h <= was->nhooks; h++)
		task_hooks += tt_spec__hook(was, h)->probe->role == TT_ROLE_TASK;
	old_task = f->slot.gid[1];
	/* the task probe changed: its hooks do not stay, but have successors; the step's stay */
	assert_int_equal(tt_spec__match(was, now, map), was->nhooks - task_hooks);
	assert_false(map[1]);
	assert_int_equal(tt_spec__successors(was, now, map, succ), task_hooks);
	assert_int_equal(tt_spec__hook(now, succ[1])->probe->role, TT_ROLE_TASK);
	reload_to(f, now, map, old, 5000, &before);
	/* the edited task probe was attached anew before its old links went */
	assert_int_equal(before, had_attaches + task_hooks);
	assert_int_equal(fk.attaches_at_first_detach, before);
	assert_int_equal(fk.detaches, task_hooks);
	assert_int_equal(fk.attaches, before);
	new_task = f->slot.gid[succ[1]];
	assert_true(new_task && new_task != old_task);
	/* the switch at 5000: the old hook counts before it, the new one from it on */
	assert_ptr_equal(places__owner_at(f->pl, new_task, 5000, &local, &known), &f->slot);
	assert_int_equal(local, succ[1]);
	assert_null(places__owner_at(f->pl, new_task, 4999, &local, &known));
	assert_true(known);
	assert_null(places__owner_at(f->pl, old_task, 5000, &local, &known));
	assert_true(known);
	assert_null(places__owner(f->pl, old_task, &local));
	/* one place still, with the step's links and the new task links */
	p = places__first(f->pl);
	assert_non_null(p);
	assert_null(p->next);
	assert_int_equal(p->nhooks, (size_t)before - task_hooks);
	for (size_t i = 0; i < p->nhooks; i++)
		assert_ptr_equal(p->hooks[i].hook, tt_spec__hook(now, p->hooks[i].hook->id));
	places__drop(f->pl, place__of_slot, &f->slot);
	f->slot.spec = was;
	tt_spec__free(now);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hook_ids_first_free_and_stable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_plan_is_one_place_per_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_failure_names_the_spec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_of_an_exited_process_is_skipped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_discovered_file_goes_with_its_last_process,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_process_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_keeps_the_links_that_stayed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_reload_attaches_an_edited_probe_before_it_detaches_the_old, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, setup_all, NULL);
}
