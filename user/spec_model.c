// SPDX-License-Identifier: MIT
/* spec_model.c: a built spec: freeing, lookups, hook clones, an old spec's hooks matched to a new
 * one. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

static void capture_release(struct tt_capture *cap)
{
	free(cap->text);
}

static void target_release(struct tt_target *target)
{
	struct tt_probe *probe;
	int i;
	int j;

	for (i = 0; i < target->nprobes; i++) {
		probe = &target->probes[i];
		free(probe->symbol);
		free(probe->name);
		free(probe->build_id);
		free(probe->message);
		free(probe->error_unless);
		capture_release(&probe->key);
		capture_release(&probe->end_key);
		capture_release(&probe->attempt);
		capture_release(&probe->message_id);
		capture_release(&probe->traceparent);
		for (j = 0; j < probe->nattrs; j++) {
			free(probe->attrs[j].name);
			free(probe->attrs[j].literal);
			capture_release(&probe->attrs[j].cap);
		}
		free(probe->error.text);
		free(probe->error.str);
		capture_release(&probe->error.lhs);
	}
	free(target->probes);
	free(target->path);
	free(target->comm);
	free(target->exe);
	free(target->cgroup);
	free(target->argv);
}

void tt_spec__free(struct tt_spec *spec)
{
	int i;

	if (!spec)
		return;
	for (i = 0; i < spec->ntargets; i++)
		target_release(&spec->targets[i]);
	free(spec->targets);
	for (i = 0; i < spec->nhooks; i++) {
		free(spec->hooks[i]->symbol);
		free(spec->hooks[i]->provider);
		free(spec->hooks[i]->usdt);
		free(spec->hooks[i]->function);
		free(spec->hooks[i]);
	}
	free(spec->hooks);
	free(spec->path);
	free(spec->service);
	free(spec->keyspace);
	free(spec->salt);
	free(spec);
}

const struct tt_probe *tt_spec__probe(const struct tt_spec *spec, int id)
{
	const struct tt_target *target;
	int i;

	if (!spec || id < 1 || id > spec->nprobes)
		return NULL;
	for (i = 0; i < spec->ntargets; i++) {
		target = &spec->targets[i];
		if (target->nprobes && id >= target->probes[0].id &&
		    id < target->probes[0].id + target->nprobes)
			return &target->probes[id - target->probes[0].id];
	}
	return NULL;
}

const struct tt_hook *tt_spec__hook(const struct tt_spec *spec, int id)
{
	if (!spec || id < 1 || id > spec->nhooks)
		return NULL;
	return spec->hooks[id - 1];
}

struct tt_hook *tt_spec__clone_hook(struct tt_spec *spec, const struct tt_hook *tmpl,
				    const char *function)
{
	struct tt_hook **hooks;
	struct tt_hook *h;

	if (spec->nhooks >= TT_MAX_PROBES) {
		errno = ERANGE;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	*h = *tmpl;
	h->symbol = tmpl->symbol ? strdup(tmpl->symbol) : NULL;
	h->provider = tmpl->provider ? strdup(tmpl->provider) : NULL;
	h->usdt = tmpl->usdt ? strdup(tmpl->usdt) : NULL;
	h->function = function ? strdup(function) : NULL;
	hooks = realloc(spec->hooks, (size_t)(spec->nhooks + 1) * sizeof(*hooks));
	if (!hooks || (tmpl->symbol && !h->symbol) || (tmpl->provider && !h->provider) ||
	    (tmpl->usdt && !h->usdt) || (function && !h->function)) {
		if (hooks)
			spec->hooks = hooks;
		free(h->symbol);
		free(h->provider);
		free(h->usdt);
		free(h->function);
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	spec->hooks = hooks;
	spec->hooks[spec->nhooks++] = h;
	h->id = spec->nhooks;
	return h;
}

static int str_cmp_null(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b);
}

/* Whether hooks a and b are the same attach point of one probe, function aside. */
static bool same_site(const struct tt_hook *a, const struct tt_hook *b)
{
	return a->kind == b->kind && a->at_return == b->at_return &&
	       !str_cmp_null(a->symbol, b->symbol) && !str_cmp_null(a->provider, b->provider) &&
	       !str_cmp_null(a->usdt, b->usdt);
}

struct tt_hook *tt_spec__hook_at(struct tt_spec *spec, struct tt_hook *tmpl, const char *function)
{
	struct tt_hook *blank = NULL;

	for (int i = 0; i < spec->nhooks; i++) {
		struct tt_hook *h = spec->hooks[i];

		if (h->probe != tmpl->probe || !same_site(h, tmpl))
			continue;
		if (h->function && !strcmp(h->function, function))
			return h;
		if (!h->function && !blank)
			blank = h;
	}
	if (!blank)
		return tt_spec__clone_hook(spec, tmpl, function);
	blank->function = strdup(function);
	return blank->function ? blank : NULL;
}

bool tt_target__same(const struct tt_target *a, const struct tt_target *b)
{
	return a->kind == b->kind && a->pid == b->pid && !str_cmp_null(a->path, b->path) &&
	       !str_cmp_null(a->comm, b->comm) && !str_cmp_null(a->exe, b->exe) &&
	       !str_cmp_null(a->cgroup, b->cgroup) && !str_cmp_null(a->argv, b->argv);
}

bool tt_target__narrowed(const struct tt_target *t)
{
	return t->kind == TT_TARGET_LIBRARY && (t->comm || t->exe || t->cgroup);
}

/*
 * The probe of `now` that probe p of the old spec became, or NULL: in the
 * same target, with the same digest; `taken` marks probes of `now`
 * already matched, so that two equal probes pair up in order.
 */
static struct tt_probe *match_probe(const struct tt_probe *p, struct tt_spec *now, bool *taken)
{
	for (int t = 0; t < now->ntargets; t++) {
		struct tt_target *tg = &now->targets[t];

		if (!tt_target__same(tg, p->target))
			continue;
		for (int k = 0; k < tg->nprobes; k++) {
			struct tt_probe *q = &tg->probes[k];

			if (!taken[q->id] && q->digest == p->digest && q->role == p->role) {
				taken[q->id] = true;
				return q;
			}
		}
	}
	return NULL;
}

/* The hook of probe q (in `now`) that old hook h becomes, or NULL with errno (0: none). */
static struct tt_hook *match_hook(const struct tt_hook *h, const struct tt_probe *q,
				  struct tt_spec *now)
{
	struct tt_hook *tmpl = NULL;

	for (int i = 0; i < now->nhooks && !tmpl; i++) {
		if (now->hooks[i]->probe == q && same_site(now->hooks[i], h))
			tmpl = now->hooks[i];
	}
	errno = 0;
	if (!tmpl || !h->function)
		return tmpl;
	return tt_spec__hook_at(now, tmpl, h->function);
}

int tt_spec__match(const struct tt_spec *old, struct tt_spec *now, int *map)
{
	struct tt_probe *became[TT_MAX_PROBES + 1] = {0};
	bool taken[TT_MAX_PROBES + 1] = {0};
	int stayed = 0;

	for (int id = 1; id <= old->nprobes; id++)
		became[id] = match_probe(tt_spec__probe(old, id), now, taken);
	for (int id = 1; id <= old->nhooks; id++) {
		const struct tt_hook *h = old->hooks[id - 1];
		struct tt_probe *q = became[h->probe->id];
		struct tt_hook *to = q ? match_hook(h, q, now) : NULL;

		if (q && !to && errno)
			return -errno;
		map[id] = to ? to->id : 0;
		stayed += to != NULL;
	}
	return stayed;
}

/* Whether two captures are the same expression (or both absent). */
static bool same_capture(const struct tt_capture *a, const struct tt_capture *b)
{
	return !str_cmp_null(a->text, b->text);
}

int tt_spec__successors(const struct tt_spec *old, const struct tt_spec *now, const int *map,
			int *succ)
{
	bool taken[TT_MAX_PROBES + 1] = {0};
	int n = 0;

	for (int id = 1; id <= old->nhooks; id++) {
		succ[id] = map[id];
		if (map[id] > 0 && map[id] <= TT_MAX_PROBES)
			taken[map[id]] = true;
	}
	for (int id = 1; id <= old->nhooks; id++) {
		const struct tt_hook *h = old->hooks[id - 1];

		for (int k = 0; !succ[id] && k < now->nhooks; k++) {
			const struct tt_hook *q = now->hooks[k];

			if (taken[q->id] || !same_site(h, q) ||
			    str_cmp_null(h->function, q->function) ||
			    q->probe->role != h->probe->role ||
			    q->probe->pairing != h->probe->pairing ||
			    !tt_target__same(q->probe->target, h->probe->target) ||
			    !same_capture(&q->probe->key, &h->probe->key) ||
			    !same_capture(&q->probe->end_key, &h->probe->end_key) ||
			    (q->probe->start_hook == q->id) != (h->probe->start_hook == h->id))
				continue;
			taken[q->id] = true;
			succ[id] = q->id;
			n++;
		}
	}
	return n;
}
