// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "resolve.h"

/* Where the probes of one target go. */
struct place {
	char path[PATH_MAX];
	char shown[PATH_MAX];
	pid_t pid;
};

static int place_of(const struct tt_spec *spec, const struct tt_target *t, pid_t pid,
		    const char *binary, struct place *pl, char *err, size_t errlen)
{
	enum tt_target_kind kind = t->kind;
	const char *path = t->path;
	int ret;

	if (kind == TT_TARGET_BINARY || kind == TT_TARGET_PID) {
		if (pid) {
			kind = TT_TARGET_PID;
		} else if (binary) {
			kind = TT_TARGET_BINARY;
			path = binary;
		} else {
			pid = t->pid;
		}
	}
	switch (kind) {
	case TT_TARGET_PID:
		ret = tt_proc__exe(pid, pl->path, sizeof(pl->path), pl->shown, sizeof(pl->shown));
		if (ret == -ESRCH) {
			snprintf(err, errlen, "no process with pid %d (%s:%d:%d)", pid, spec->path,
				 t->pos.line, t->pos.col);
			return ret;
		}
		if (ret) {
			snprintf(err, errlen, "cannot read the executable of pid %d: %s", pid,
				 strerror(-ret));
			return ret;
		}
		pl->pid = pid;
		return 0;
	case TT_TARGET_BINARY:
	case TT_TARGET_LIBRARY:
		if (kind == TT_TARGET_LIBRARY && path[0] != '/') {
			snprintf(err, errlen,
				 "%s:%d:%d: library '%s' needs an absolute path (library names are "
				 "not resolved yet)",
				 spec->path, t->pos.line, t->pos.col, path);
			return -ENOTSUP;
		}
		snprintf(pl->path, sizeof(pl->path), "%s", path);
		snprintf(pl->shown, sizeof(pl->shown), "%s", path);
		pl->pid = -1;
		return 0;
	case TT_TARGET_COMM:
		snprintf(err, errlen,
			 "%s:%d:%d: comm targets need exec-time discovery, which is not supported "
			 "yet; use binary: or --pid",
			 spec->path, t->pos.line, t->pos.col);
		return -ENOTSUP;
	}
	return -EINVAL;
}

static int open_elf(const struct tt_spec *spec, const struct tt_target *t, const struct place *pl,
		    struct tt_elf **elf, char *err, size_t errlen)
{
	*elf = tt_elf__open(pl->path);
	if (*elf)
		return 0;
	if (errno == ENOEXEC)
		snprintf(err, errlen, "'%s' is not an ELF file (%s:%d:%d)", pl->shown, spec->path,
			 t->pos.line, t->pos.col);
	else
		snprintf(err, errlen, "cannot open binary '%s' (%s:%d:%d): %s", pl->shown,
			 spec->path, t->pos.line, t->pos.col, strerror(errno));
	return errno ? -errno : -EINVAL;
}

static int add_probe(struct tt_plan *plan, const struct tt_spec *spec, const struct tt_probe *p,
		     struct tt_elf *elf, const struct place *pl, char *err, size_t errlen)
{
	struct tt_attachment *at = &plan->at[plan->n];
	int ret;

	ret = tt_elf__func_offset(elf, p->symbol, &at->offset, &at->cost);
	if (ret == -ENOENT) {
		char close[512] = "";

		tt_elf__closest(elf, p->symbol, 5, close, sizeof(close));
		snprintf(err, errlen, "%s:%d:%d: symbol '%s' not found in '%s'%s%s", spec->path,
			 p->symbol_pos.line, p->symbol_pos.col, p->symbol, pl->shown,
			 close[0] ? "; closest: " : "", close);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "cannot read symbols of '%s': %s", pl->shown, strerror(-ret));
		return ret;
	}
	at->probe = p;
	at->pid = pl->pid;
	snprintf(at->path, sizeof(at->path), "%s", pl->path);
	snprintf(at->shown, sizeof(at->shown), "%s", pl->shown);
	plan->n++;
	return 0;
}

int tt_plan__build(const struct tt_spec *spec, pid_t pid, const char *binary, struct tt_plan *plan,
		   char *err, size_t errlen)
{
	int ret = 0;

	plan->n = 0;
	plan->at = calloc(spec->nprobes ? spec->nprobes : 1, sizeof(*plan->at));
	if (!plan->at)
		return -ENOMEM;
	for (int i = 0; i < spec->ntargets && !ret; i++) {
		const struct tt_target *t = &spec->targets[i];
		struct place *pl = calloc(1, sizeof(*pl));
		struct tt_elf *elf = NULL;

		if (!pl)
			return -ENOMEM;
		ret = place_of(spec, t, pid, binary, pl, err, errlen);
		if (!ret)
			ret = open_elf(spec, t, pl, &elf, err, errlen);
		for (int k = 0; !ret && k < t->nprobes; k++)
			ret = add_probe(plan, spec, &t->probes[k], elf, pl, err, errlen);
		tt_elf__free(elf);
		free(pl);
	}
	if (ret)
		tt_plan__release(plan);
	return ret;
}

void tt_plan__release(struct tt_plan *plan)
{
	free(plan->at);
	plan->at = NULL;
	plan->n = 0;
}
