// SPDX-License-Identifier: MIT
/* spec_python.c: the probes of a `runtime: python` target (DESIGN §10). */
#include <string.h>

#include "python/interp.h"
#include "spec_internal.h"

/*
 * Checks that a probe names a Python function (`function: module:qualname`)
 * exactly when its target is `runtime: python`. 0 or -EINVAL after saying
 * why.
 */
int spec__check_python(struct walker *w, struct probe_build *pb, yaml_node_t *node)
{
	const struct tt_target *t = pb->probe->target;
	bool function = pb->start.key && !strcmp(pb->start.key, "function");
	char why[256];

	if (!t->python) {
		if (function)
			return spec__fail_node(
				w, pb->start.node,
				"'function' names a Python function: give the target "
				"'runtime: python'");
		return 0;
	}
	if (pb->begin_node || pb->end_node)
		return spec__fail_node(w, pb->begin_node ? pb->begin_node : pb->end_node,
				       "a python probe is one function's call: give it 'function: "
				       "module:qualname', not 'begin' or 'end'");
	if (!function)
		return spec__fail_node(
			w, pb->start.node ? pb->start.node : node,
			"a probe of a 'runtime: python' target names its function as "
			"'function: module:qualname'");
	if (pb->start.at_return)
		return spec__fail_node(w, pb->start.at_node, "'at' is for 'symbol:' probes");
	if (tt_py_function__check(pb->start.name, why, sizeof(why)))
		return spec__fail_node(w, pb->start.node, "%s", why);
	return 0;
}
