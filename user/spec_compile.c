// SPDX-License-Identifier: MIT
/* spec_compile.c: a probe's hooks made, its filter, error and captures compiled into them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "python/value.h"
#include "spec_internal.h"

/* Hook programs a capture at `site` goes to; NULL when the probe has no such site. */
static struct tt_probe_prog *site_prog(struct probe_build *pb, enum tt_site site)
{
	struct tt_hook *h = site == TT_SITE_END ? pb->end_hook : pb->start_hook;

	switch (site) {
	case TT_SITE_START:
	case TT_SITE_END:
		if (!h)
			return NULL;
		return h->at_return ? &h->prog.ret : &h->prog.entry;
	case TT_SITE_RETURN:
		return pb->probe->pairing == TT_PAIR_CALL ? &pb->start_hook->prog.ret : NULL;
	}
	return NULL;
}

static int compile_capture(struct walker *w, struct probe_build *pb, struct tt_capture *cap,
			   const yaml_node_t *node)
{
	struct tt_probe_prog *prog = site_prog(pb, cap->site);
	char msg[SPEC_EXPR_ERR];
	enum tt_cap_type type = TT_CAP_INT;
	int col = 0;
	int err;

	if (!prog)
		return spec__fail_node(w, node,
				       "'@return' needs a 'symbol:' probe (a function returns; "
				       "a USDT probe does not)");
	bool at_return = prog == &pb->start_hook->prog.ret ||
			 (pb->end_hook && prog == &pb->end_hook->prog.ret);

	if (tt_py_value__is(cap->text))
		return spec__compile_py(w, pb, cap, node, prog);
	err = tt_expr__compile(cap->text, at_return, prog, &type, msg, sizeof(msg), &col);
	if (err)
		return spec__fail_at(w, spec__expr_pos(w, node, col), "%s%s", msg,
				     spec__flow_hint(w, node, col));
	cap->type = type;
	cap->index = (int)prog->ncaps - 1;
	if (cap->site == TT_SITE_RETURN)
		pb->start_hook->prog.flags |= TT_HOOKF_TRACK | TT_HOOKF_SAVE;
	return 0;
}

/* A name in a predicate: one of the probe's attributes, by its expression (tt_expr_names). */
static const char *attr_expr(void *ctx, const char *name, size_t len)
{
	const struct tt_probe *probe = ctx;

	for (int i = 0; i < probe->nattrs; i++) {
		const struct tt_attr *a = &probe->attrs[i];

		if (!a->literal && a->cap.text && strlen(a->name) == len &&
		    strncmp(a->name, name, len) == 0)
			return a->cap.text;
	}
	return NULL;
}

/* The attribute called name[0, len), or NULL. */
static const struct tt_attr *attr_named(const struct tt_probe *probe, const char *name, size_t len)
{
	for (int i = 0; i < probe->nattrs; i++) {
		if (!probe->attrs[i].literal && strlen(probe->attrs[i].name) == len &&
		    strncmp(probe->attrs[i].name, name, len) == 0)
			return &probe->attrs[i];
	}
	return NULL;
}

/* Compiles the filter at `node` into the program of hook h (its return's, for `at: return`). */
static int compile_filter_into(struct walker *w, struct probe_build *pb, yaml_node_t *node,
			       struct tt_hook *h)
{
	const struct tt_expr_names names = {.lookup = attr_expr, .ctx = pb->probe};
	struct tt_probe_prog *prog = h->at_return ? &h->prog.ret : &h->prog.entry;
	__u32 from = prog->nops;
	char msg[SPEC_EXPR_ERR];
	int col = 0;
	int err;

	err = tt_expr__compile_pred(spec__scalar_value(node), TT_PRED_FILTER, h->at_return, &names,
				    prog, msg, sizeof(msg), &col);
	if (err)
		return spec__fail_at(w, spec__expr_pos(w, node, col), "%s", msg);
	return spec__check_py_filter(w, pb, node, prog, from);
}

/* Compiles `when:` into the start hook (and the end of a USDT pair, which sees the same arguments).
 */
static int compile_when(struct walker *w, struct probe_build *pb)
{
	struct tt_hook *start = pb->start_hook;
	int err;

	err = compile_filter_into(w, pb, pb->when_node, start);
	if (err)
		return err;
	/* a function's returns are dropped with the calls the filter dropped */
	if (pb->probe->pairing == TT_PAIR_CALL)
		start->prog.flags |= TT_HOOKF_TRACK;
	/*
	 * `usdt:` with `end: provider:name`: the end sees the same arguments, filter it
	 * alike; in 'begin'/'end' mappings each half has its own `when:`
	 */
	if (pb->probe->pairing == TT_PAIR_THREAD && start->usdt && pb->end_hook->usdt &&
	    !pb->end_is_mapping)
		return compile_filter_into(w, pb, pb->when_node, pb->end_hook);
	return 0;
}

/* Where `error:` is decided: where the span ends. */
static enum tt_site error_site(const struct probe_build *pb)
{
	switch (pb->probe->pairing) {
	case TT_PAIR_CALL:
		return TT_SITE_RETURN;
	case TT_PAIR_POINT:
		return TT_SITE_START;
	default:
		return TT_SITE_END;
	}
}

/*
 * Whether `error:` is one comparison the agent evaluates itself when the
 * span ends (`ret OP INT`, `EXPR OP INT`, `str(EXPR) OP "literal"`), split
 * into parts; else it is decided in BPF.
 */
static bool simple_error(const char *text, struct tt_pred_parts *parts)
{
	size_t len = 0;

	if (tt_expr__split_pred(text, parts, NULL, 0, NULL))
		return false;
	for (size_t i = 0; i < parts->lhs_len; i++) {
		if (text[i] == '!' || text[i] == '&' || text[i] == '|' || text[i] == '"' ||
		    text[i] == '\'')
			return false;
	}
	/* a function of predicates (starts_with...) is not a capture */
	return !(tt_expr__is_name(text, &len) && text[len] == '(');
}

/* `error:` decided in BPF where the span ends: its verdict is an integer capture there. */
static int compile_verdict(struct walker *w, struct probe_build *pb, struct tt_pred *pred)
{
	const struct tt_expr_names names = {.lookup = attr_expr, .ctx = pb->probe};
	struct tt_capture *cap = &pred->lhs;
	yaml_node_t *node = pb->error_node;
	struct tt_probe_prog *prog;
	char msg[SPEC_EXPR_ERR];
	bool at_return;
	int col = 0;
	int err;

	cap->site = error_site(pb);
	prog = site_prog(pb, cap->site);
	if (!prog)
		return spec__fail_node(w, node,
				       "'error:' has no place to be decided in this probe");
	at_return = prog == &pb->start_hook->prog.ret ||
		    (pb->end_hook && prog == &pb->end_hook->prog.ret);
	err = tt_expr__compile_pred(pred->text, TT_PRED_VERDICT, at_return, &names, prog, msg,
				    sizeof(msg), &col);
	if (err)
		return spec__fail_at(w, spec__expr_pos(w, node, col), "%s%s", msg,
				     spec__flow_hint(w, node, col));
	cap->text = strdup(pred->text);
	if (!cap->text)
		return spec__out_of_memory(w);
	cap->pos = pred->pos;
	cap->type = TT_CAP_INT;
	cap->index = (int)prog->ncaps - 1;
	if (cap->site == TT_SITE_RETURN)
		pb->start_hook->prog.flags |= TT_HOOKF_TRACK | TT_HOOKF_SAVE;
	pred->verdict = true;
	return 0;
}

/*
 * Compiles `error:`: `ret OP INT` is checked on the return value; `NAME OP
 * ...` on the attribute of that name; `EXPR OP ...` on its left side,
 * captured where the span ends; anything else is decided in BPF there.
 */
static int compile_error(struct walker *w, struct probe_build *pb)
{
	struct tt_pred *pred = &pb->probe->error;
	yaml_node_t *node = pb->error_node;
	const char *text = spec__scalar_value(node);
	const struct tt_attr *named = NULL;
	struct tt_pred_parts parts;
	size_t len = 0;
	int err;

	if (pb->probe->target->python && strcmp(text, "raised") == 0)
		return spec__compile_raised(w, pb);
	pred->set = true;
	pred->pos = spec__mark_pos(node->start_mark);
	err = spec__dup_string(w, text, &pred->text);
	if (err)
		return err;
	if (!simple_error(text, &parts))
		return compile_verdict(w, pb, pred);
	pred->op = parts.op;
	pred->rhs = parts.rhs;
	pred->prefix = parts.prefix;
	if (parts.rhs_is_str)
		err = spec__dup_string(w, parts.str, &pred->str);
	if (err)
		return err;
	if (parts.lhs_len == 3 && strncmp(text, "ret", 3) == 0) {
		bool end_returns = pb->end_hook && pb->end_hook->at_return;

		if (pb->probe->pairing != TT_PAIR_CALL && !end_returns)
			return spec__fail_node(
				w, node,
				"error: 'ret' needs a 'symbol:' probe or an end 'at: return' "
				"(only a function returns a value)");
		pred->on_ret = true;
		return 0;
	}
	if (tt_expr__is_name(text, &len) && len == parts.lhs_len) {
		named = attr_named(pb->probe, text, len);
		if (!named)
			return spec__fail_at(
				w, spec__expr_pos(w, node, 0),
				"unknown name '%.*s' (expected argN, ret, an integer, "
				"str(...) or the name of one of this probe's attributes)",
				(int)len, text);
	}
	if (named && (named->cap.type == TT_CAP_STR) != parts.rhs_is_str)
		return spec__fail_node(w, node, "error: '%.*s' is %s, and is compared with %s",
				       (int)len, text,
				       named->cap.type == TT_CAP_STR ? "a string" : "a number",
				       parts.rhs_is_str ? "a string" : "a number");
	pred->lhs.text = strndup(text, parts.lhs_len);
	if (!pred->lhs.text)
		return spec__out_of_memory(w);
	pred->lhs.pos = pred->pos;
	if (named) {
		/* the attribute's own capture: evaluated on its value, wherever it was read */
		pred->lhs.site = named->cap.site;
		pred->lhs.index = named->cap.index;
		pred->lhs.type = named->cap.type;
		return 0;
	}
	pred->lhs.site = error_site(pb);
	return compile_capture(w, pb, &pred->lhs, node);
}

/* Checks `redact:` names an attribute of the probe, or task.id. */
static int apply_redact(struct walker *w, struct probe_build *pb)
{
	yaml_node_t *seq = pb->redact_node;
	struct tt_probe *probe = pb->probe;

	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = spec__node_at(w, *it);
		const char *name;
		bool found = false;

		if (item->type != YAML_SCALAR_NODE)
			return spec__fail_node(w, item,
					       "expected an attribute name in 'redact', found %s",
					       spec__node_kind(item));
		name = spec__scalar_value(item);
		if (strcmp(name, "task.id") == 0 && probe->key.text) {
			probe->redact_key = true;
			continue;
		}
		for (int i = 0; i < probe->nattrs && !found; i++) {
			if (strcmp(probe->attrs[i].name, name) == 0) {
				probe->attrs[i].redact = true;
				found = true;
			}
		}
		if (!found)
			return spec__fail_node(
				w, item,
				"'redact' names '%s', which is not an attribute of this probe",
				tt_shorten(name, w->shown));
	}
	return 0;
}

/* Adds a hook of `kind` at place `pl` to the spec. */
static struct tt_hook *add_hook(struct walker *w, struct probe_build *pb, struct place_build *pl,
				enum tt_hook_kind kind)
{
	struct tt_spec *spec = w->spec;
	struct tt_hook **hooks;
	struct tt_hook *h;

	if (spec->nhooks >= TT_MAX_PROBES) {
		spec__fail_node(w, pl->node,
				"too many probes: at most %d hooks in one spec (TT_MAX_PROBES)",
				TT_MAX_PROBES);
		return NULL;
	}
	hooks = realloc(spec->hooks, (size_t)(spec->nhooks + 1) * sizeof(*hooks));
	h = calloc(1, sizeof(*h));
	if (hooks)
		spec->hooks = hooks;
	if (!hooks || !h) {
		free(h);
		spec__out_of_memory(w);
		return NULL;
	}
	spec->hooks[spec->nhooks++] = h;
	h->id = spec->nhooks;
	h->probe = pb->probe;
	h->kind = kind;
	h->pos = spec__mark_pos(pl->node->start_mark);
	h->at_return = pl->at_return;
	if (pl->at_return)
		h->prog.flags |= TT_HOOKF_TRACK | TT_HOOKF_SAVE | TT_HOOKF_AT_RETURN;
	if (pl->usdt) {
		h->provider = pl->provider;
		h->usdt = pl->name;
	} else {
		h->symbol = pl->name;
	}
	pl->provider = NULL;
	pl->name = NULL;
	return h;
}

int spec__make_hooks(struct walker *w, struct probe_build *pb)
{
	struct tt_probe *probe = pb->probe;
	struct place_build *st = &pb->start;
	char *symbol;

	if (st->usdt) {
		size_t n = strlen(st->provider) + strlen(st->name) + 2;

		symbol = malloc(n);
		if (symbol)
			snprintf(symbol, n, "%s:%s", st->provider, st->name);
	} else {
		symbol = strdup(st->name);
	}
	if (!symbol)
		return spec__out_of_memory(w);
	probe->symbol = symbol;
	probe->symbol_pos = spec__mark_pos(st->node->start_mark);
	pb->start_hook = add_hook(w, pb, st, TT_HOOK_START);
	if (!pb->start_hook)
		return -EINVAL;
	probe->start_hook = pb->start_hook->id;
	if (pb->end.node) {
		pb->end_hook = add_hook(w, pb, &pb->end, TT_HOOK_END);
		if (!pb->end_hook)
			return -EINVAL;
		probe->end_hook = pb->end_hook->id;
	}
	return 0;
}

/* Compiles the filter, then the captures, into the hooks. */
int spec__probe_compile(struct walker *w, struct probe_build *pb)
{
	int err;

	if (pb->when_node) {
		err = compile_when(w, pb);
		if (err)
			return err;
	}
	if (pb->end_when_node) {
		err = compile_filter_into(w, pb, pb->end_when_node, pb->end_hook);
		if (err)
			return err;
	}
	/* the key first, wherever it was written, then the rest in the order written */
	for (int i = 0; i < pb->npending; i++) {
		if (pb->pending[i].cap != &pb->probe->key)
			continue;
		err = compile_capture(w, pb, pb->pending[i].cap, pb->pending[i].node);
		if (err)
			return err;
	}
	for (int i = 0; i < pb->npending; i++) {
		if (pb->pending[i].cap == &pb->probe->key)
			continue;
		err = compile_capture(w, pb, pb->pending[i].cap, pb->pending[i].node);
		if (err)
			return err;
	}
	if (pb->error_node) {
		err = compile_error(w, pb);
		if (err)
			return err;
	}
	if (pb->probe->attempt.text && pb->probe->attempt.type != TT_CAP_INT)
		return spec__fail_at(
			w, pb->probe->attempt.pos,
			"'attempt' must be an integer expression, not str() or bytes()");
	if (pb->redact_node)
		return apply_redact(w, pb);
	return 0;
}
