// SPDX-License-Identifier: MIT
/* loader_python.c: Python function probes attached: where functions start and frames end. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "loader_internal.h"
#include "python/interp.h"

int tt_loader__attach_python(struct tt_loader *l, uint32_t id, const char *path,
			     const struct tt_py_interp *pi, const struct tt_py_hook *ph, pid_t pid,
			     struct tt_link **out, char *err, size_t errlen)
{
	struct site_opts o = {
		.ret_prog = -1,
		.path = path,
		.cookie = id,
		.pid = pid,
	};
	struct tt_link *t;
	int ret;

	if (id == 0 || id > TT_MAX_PROBES)
		return -ERANGE;
	ret = loader__load_python(l);
	if (ret) {
		snprintf(err, errlen,
			 "cannot load the python programs: %s (set TASKTAP_DEBUG_LIBBPF=1 for the "
			 "verifier log)",
			 strerror(-ret));
		return ret;
	}
	o.entry_prog = bpf_program__fd(l->py->progs.tt_py_entry);
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.py_hooks), &id, ph, BPF_ANY)) {
		ret = -errno;
		snprintf(err, errlen, "cannot store python hook %u: %s", id, strerror(-ret));
		return ret;
	}
	t = loader__new_link(l, TT_PY_SITES, false);
	if (!t)
		return -ENOMEM;
	/*
	 * in the file holding the interpreter loop (a libpython, maybe), each
	 * site's index in the cookie: BPF takes the file's load bias from it
	 */
	o.path = pi->path[0] ? pi->path : path;
	/* where functions start: RESUME, and its quickened and instrumented forms */
	for (int i = 0; i < TT_PY_ENTRY_SITES; i++) {
		if (!pi->entry[i])
			continue;
		o.offset = pi->entry[i];
		o.cookie = (uint64_t)(TT_PY_SITE_ENTRY0 + i) << 32 | id;
		ret = loader__attach_one(l, &o, false, NULL, &t->sites[i].entry);
		if (ret)
			goto fail;
	}
	/* where frames end (a USDT site: with the semaphore that makes the interpreter get there)
	 */
	o.entry_prog = bpf_program__fd(l->py->progs.tt_py_return);
	o.offset = pi->ret_site;
	o.ref_ctr = pi->ret_sem;
	o.cookie = (uint64_t)TT_PY_SITE_RETURN << 32 | id;
	ret = loader__attach_one(l, &o, false, NULL, &t->sites[TT_PY_SITE_RETURN].entry);
	if (ret)
		goto fail;
	if (out)
		*out = t;
	return 0;
fail:
	snprintf(err, errlen, "cannot attach python probe to '%s' at offset 0x%llx: %s", o.path,
		 (unsigned long long)o.offset, strerror(-ret));
	tt_loader__detach_link(l, t);
	return ret;
}
