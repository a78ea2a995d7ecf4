/* SPDX-License-Identifier: MIT */
/*
 * The table of CPython structure offsets, one row per minor version. Each
 * row is the output of scripts/python-offsets.c built against that
 * version's headers (internal ones included); do not edit a row by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "python/offsets.h"

static const struct tt_py_offsets rows[] = {
	{
		/* CPython 3.11.2, from its headers by scripts/python-offsets.c */
		.version_hex = 0x030b0000,
		.long_layout = TT_PY_LONG_OB_SIZE,
		.dict_layout = TT_PY_DICT_VALUES_PTR,
		.op_return_value = 83,
		.op_return_const = 0,
		.op_pop_top = 1,
		.op_yield_value = 86,
		.runtime_interpreters_head = 40,
		.runtime_tstate_current = 576,
		.interp_threads_head = 16,
		.tstate_next = 8,
		.tstate_interp = 16,
		.tstate_thread_id = 152,
		.tstate_native_thread_id = 160,
		.tstate_cframe = 56,
		.tstate_current_frame = TT_PY_ABSENT,
		.tstate_curexc_type = 96,
		.tstate_current_exception = TT_PY_ABSENT,
		.cframe_current_frame = 8,
		.frame_code = 32,
		.frame_prev_instr = 56,
		.frame_func = 0,
		.frame_globals = 8,
		.frame_locals = 24,
		.frame_previous = 48,
		.frame_stacktop = 64,
		.frame_owner = 69,
		.frame_localsplus = 72,
		.code_argcount = 56,
		.code_kwonlyargcount = 64,
		.code_flags = 48,
		.code_firstlineno = 72,
		.code_nlocalsplus = 76,
		.code_consts = 24,
		.gen_frame_state = -5,
		.code_nlocals = 80,
		.code_localsplusnames = 96,
		.code_localspluskinds = 104,
		.code_filename = 112,
		.code_name = 120,
		.code_qualname = 128,
		.code_code_adaptive = 184,
		.func_code = 48,
		.func_globals = 16,
		.func_name = 32,
		.func_qualname = 40,
		.func_module = 104,
		.obj_type = 8,
		.var_size = 16,
		.type_name = 24,
		.type_basicsize = 32,
		.type_flags = 168,
		.type_dictoffset = 288,
		.heaptype_cached_keys = 872,
		.obj_managed_dict = -24,
		.obj_managed_values = -32,
		.obj_inline_values = TT_PY_ABSENT,
		.tuple_items = 24,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 48,
		.unicode_compact_utf8_length = 48,
		.unicode_compact_utf8 = 56,
		.unicode_compact_data = 72,
		.long_tag = 16,
		.long_digits = 24,
		.bytes_size = 16,
		.bytes_data = 32,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.keys_log2_size = 8,
		.keys_log2_index_bytes = 9,
		.keys_kind = 10,
		.keys_nentries = 24,
		.keys_indices = 32,
		.dictvalues_values = 0,
		.dictvalues_valid = TT_PY_ABSENT,
		.size_frame = 72,
		.size_ascii = 48,
		.size_compact = 72,
		.interp_modules = 888,
		.module_dict = 16,
		.type_dict = 264,
		.wrapped_callable = 16,
	},
	{
		/* CPython 3.12.1, from its headers by scripts/python-offsets.c */
		.version_hex = 0x030c0000,
		.long_layout = TT_PY_LONG_TAG,
		.dict_layout = TT_PY_DICT_TAGGED,
		.op_return_value = 83,
		.op_return_const = 121,
		.op_pop_top = 1,
		.op_yield_value = 150,
		.runtime_interpreters_head = 40,
		.runtime_tstate_current = TT_PY_ABSENT,
		.interp_threads_head = 72,
		.tstate_next = 8,
		.tstate_interp = 16,
		.tstate_thread_id = 136,
		.tstate_native_thread_id = 144,
		.tstate_cframe = 56,
		.tstate_current_frame = TT_PY_ABSENT,
		.tstate_curexc_type = TT_PY_ABSENT,
		.tstate_current_exception = 96,
		.cframe_current_frame = 0,
		.frame_code = 0,
		.frame_prev_instr = 56,
		.frame_func = 16,
		.frame_globals = 24,
		.frame_locals = 40,
		.frame_previous = 8,
		.frame_stacktop = 64,
		.frame_owner = 70,
		.frame_localsplus = 72,
		.code_argcount = 52,
		.code_kwonlyargcount = 60,
		.code_flags = 48,
		.code_firstlineno = 68,
		.code_nlocalsplus = 72,
		.code_consts = 24,
		.gen_frame_state = -5,
		.code_nlocals = 80,
		.code_localsplusnames = 96,
		.code_localspluskinds = 104,
		.code_filename = 112,
		.code_name = 120,
		.code_qualname = 128,
		.code_code_adaptive = 192,
		.func_code = 48,
		.func_globals = 16,
		.func_name = 32,
		.func_qualname = 40,
		.func_module = 104,
		.obj_type = 8,
		.var_size = 16,
		.type_name = 24,
		.type_basicsize = 32,
		.type_flags = 168,
		.type_dictoffset = 288,
		.heaptype_cached_keys = 880,
		.obj_managed_dict = -24,
		.obj_managed_values = TT_PY_ABSENT,
		.obj_inline_values = TT_PY_ABSENT,
		.tuple_items = 24,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 40,
		.unicode_compact_utf8_length = 40,
		.unicode_compact_utf8 = 48,
		.unicode_compact_data = 56,
		.long_tag = 16,
		.long_digits = 24,
		.bytes_size = 16,
		.bytes_data = 32,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.keys_log2_size = 8,
		.keys_log2_index_bytes = 9,
		.keys_kind = 10,
		.keys_nentries = 24,
		.keys_indices = 32,
		.dictvalues_values = 0,
		.dictvalues_valid = TT_PY_ABSENT,
		.size_frame = 72,
		.size_ascii = 40,
		.size_compact = 56,
		.interp_modules = 944,
		.module_dict = 16,
		.type_dict = 264,
		.wrapped_callable = 16,
	},
	{
		/* CPython 3.13.0, from its headers by scripts/python-offsets.c */
		.version_hex = 0x030d0000,
		.long_layout = TT_PY_LONG_TAG,
		.dict_layout = TT_PY_DICT_INLINE,
		.op_return_value = 36,
		.op_return_const = 103,
		.op_pop_top = 32,
		.op_yield_value = 118,
		.runtime_interpreters_head = 632,
		.runtime_tstate_current = TT_PY_ABSENT,
		.interp_threads_head = 7344,
		.tstate_next = 8,
		.tstate_interp = 16,
		.tstate_thread_id = 152,
		.tstate_native_thread_id = 160,
		.tstate_cframe = TT_PY_ABSENT,
		.tstate_current_frame = 72,
		.tstate_curexc_type = TT_PY_ABSENT,
		.tstate_current_exception = 112,
		.cframe_current_frame = TT_PY_ABSENT,
		.frame_code = 0,
		.frame_prev_instr = 56,
		.frame_func = 16,
		.frame_globals = 24,
		.frame_locals = 40,
		.frame_previous = 8,
		.frame_stacktop = 64,
		.frame_owner = 70,
		.frame_localsplus = 72,
		.code_argcount = 52,
		.code_kwonlyargcount = 60,
		.code_flags = 48,
		.code_firstlineno = 68,
		.code_nlocalsplus = 72,
		.code_consts = 24,
		.gen_frame_state = -5,
		.code_nlocals = 80,
		.code_localsplusnames = 96,
		.code_localspluskinds = 104,
		.code_filename = 112,
		.code_name = 120,
		.code_qualname = 128,
		.code_code_adaptive = 200,
		.func_code = 48,
		.func_globals = 16,
		.func_name = 32,
		.func_qualname = 40,
		.func_module = 104,
		.obj_type = 8,
		.var_size = 16,
		.type_name = 24,
		.type_basicsize = 32,
		.type_flags = 168,
		.type_dictoffset = 288,
		.heaptype_cached_keys = 880,
		.obj_managed_dict = -24,
		.obj_managed_values = TT_PY_ABSENT,
		.obj_inline_values = 16,
		.tuple_items = 24,
		.unicode_length = 16,
		.unicode_state = 32,
		.unicode_ascii_data = 40,
		.unicode_compact_utf8_length = 40,
		.unicode_compact_utf8 = 48,
		.unicode_compact_data = 56,
		.long_tag = 16,
		.long_digits = 24,
		.bytes_size = 16,
		.bytes_data = 32,
		.dict_used = 16,
		.dict_keys = 32,
		.dict_values = 40,
		.keys_log2_size = 8,
		.keys_log2_index_bytes = 9,
		.keys_kind = 10,
		.keys_nentries = 24,
		.keys_indices = 32,
		.dictvalues_values = 8,
		.dictvalues_valid = 3,
		.size_frame = 72,
		.size_ascii = 40,
		.size_compact = 56,
		.interp_modules = 7656,
		.module_dict = 16,
		.type_dict = 264,
		.wrapped_callable = 16,
	},
};

/*
 * The start of _PyRuntime in 3.13 (Include/internal/pycore_runtime.h,
 * struct _Py_DebugOffsets), as far as the table's fields go. Later versions
 * may add fields at the end of a group: the version field says which.
 */
struct debug_offsets_313 {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
	struct {
		uint64_t size, finalizing, interpreters_head;
	} runtime_state;
	struct {
		uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins,
			ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
			gil_runtime_state_locked, gil_runtime_state_holder;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id,
			datastack_chunk, status;
	} thread_state;
	struct {
		uint64_t size, previous, executable, instr_ptr, localsplus, owner;
	} interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable, firstlineno, argcount,
			localsplusnames, localspluskinds, co_code_adaptive;
	} code_object;
	struct {
		uint64_t size, ob_type;
	} pyobject;
	struct {
		uint64_t size, tp_name, tp_repr, tp_flags;
	} type_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} tuple_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} list_object;
	struct {
		uint64_t size, ma_keys, ma_values;
	} dict_object;
	struct {
		uint64_t size, ob_fval;
	} float_object;
	struct {
		uint64_t size, lv_tag, ob_digit;
	} long_object;
	struct {
		uint64_t size, ob_size, ob_sval;
	} bytes_object;
	struct {
		uint64_t size, state, length, asciiobject_size;
	} unicode_object;
};

const struct tt_py_offsets *tt_py__offsets_for(unsigned int version_hex)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].version_hex == (version_hex & 0xffff0000))
			return &rows[i];
	}
	return NULL;
}

const char *tt_py__known_versions(void)
{
	static char text[64];

	if (text[0])
		return text;
	size_t used = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int n = snprintf(text + used, sizeof(text) - used, "%s%u.%u", i ? ", " : "",
				 rows[i].version_hex >> 24, (rows[i].version_hex >> 16) & 0xff);
		if (n < 0 || (size_t)n >= sizeof(text) - used)
			break;
		used += (size_t)n;
	}
	return text;
}

struct debug_field {
	const char *name;
	size_t debug; /* offset in struct debug_offsets_313 */
	size_t table; /* offset in struct tt_py_offsets */
};

#define DF(group, field, ours)                                                                     \
	{                                                                                          \
#group "." #field, offsetof(struct debug_offsets_313, group.field),                \
			offsetof(struct tt_py_offsets, ours)                                       \
	}

static const struct debug_field debug_fields[] = {
	DF(runtime_state, interpreters_head, runtime_interpreters_head),
	DF(interpreter_state, threads_head, interp_threads_head),
	DF(interpreter_state, imports_modules, interp_modules),
	DF(thread_state, next, tstate_next),
	DF(thread_state, interp, tstate_interp),
	DF(thread_state, current_frame, tstate_current_frame),
	DF(thread_state, thread_id, tstate_thread_id),
	DF(thread_state, native_thread_id, tstate_native_thread_id),
	DF(interpreter_frame, previous, frame_previous),
	DF(interpreter_frame, executable, frame_code),
	DF(interpreter_frame, instr_ptr, frame_prev_instr),
	DF(interpreter_frame, localsplus, frame_localsplus),
	DF(interpreter_frame, owner, frame_owner),
	DF(code_object, filename, code_filename),
	DF(code_object, name, code_name),
	DF(code_object, qualname, code_qualname),
	DF(code_object, firstlineno, code_firstlineno),
	DF(code_object, argcount, code_argcount),
	DF(code_object, localsplusnames, code_localsplusnames),
	DF(code_object, localspluskinds, code_localspluskinds),
	DF(code_object, co_code_adaptive, code_code_adaptive),
	DF(pyobject, ob_type, obj_type),
	DF(type_object, tp_name, type_name),
	DF(type_object, tp_flags, type_flags),
	DF(tuple_object, ob_item, tuple_items),
	DF(dict_object, ma_keys, dict_keys),
	DF(dict_object, ma_values, dict_values),
	DF(long_object, lv_tag, long_tag),
	DF(long_object, ob_digit, long_digits),
	DF(bytes_object, ob_size, bytes_size),
	DF(bytes_object, ob_sval, bytes_data),
	DF(unicode_object, state, unicode_state),
	DF(unicode_object, length, unicode_length),
	DF(unicode_object, asciiobject_size, size_ascii),
};

int tt_py__check_debug_offsets(const struct tt_py_offsets *o, const void *block, size_t len,
			       char *err, size_t errlen)
{
	struct debug_offsets_313 d;

	if (len < sizeof(d) || memcmp(block, "xdebugpy", 8) != 0) {
		snprintf(err, errlen, "no _Py_DebugOffsets at the start of _PyRuntime");
		return -EINVAL;
	}
	memcpy(&d, block, sizeof(d));
	if (d.free_threaded) {
		snprintf(err, errlen,
			 "a free-threaded build: tasktap knows the default build only");
		return -EPROTO;
	}
	for (size_t i = 0; i < sizeof(debug_fields) / sizeof(debug_fields[0]); i++) {
		const struct debug_field *f = &debug_fields[i];
		uint64_t theirs;
		short ours;

		memcpy(&theirs, (const char *)&d + f->debug, sizeof(theirs));
		memcpy(&ours, (const char *)o + f->table, sizeof(ours));
		if (ours == TT_PY_ABSENT || theirs != (uint64_t)(int64_t)ours) {
			snprintf(err, errlen,
				 "_Py_DebugOffsets %s is %llu, the table says %d: a build "
				 "tasktap does not know",
				 f->name, (unsigned long long)theirs, ours);
			return -EPROTO;
		}
	}
	return 0;
}

/* USDT probes of CPython that harm or fool the worker, by version (tt_py__usdt_refused()). */
static const struct {
	const char *name;
	unsigned int minor; /* 0x030b0000: every 3.11 */
	const char *why;
} refused_usdt[] = {
	{"line", 0x030b0000,
	 "enabling it crashes CPython 3.11 (seen with Debian 12's 3.11.2); probe a "
	 "function instead (runtime: python)"},
	{"function__entry", 0x030b0000,
	 "it never fires on CPython 3.11 (gh-98894); probe the function instead "
	 "(runtime: python)"},
};

const char *tt_py__usdt_refused(unsigned int version_hex, const char *name)
{
	for (size_t i = 0; i < sizeof(refused_usdt) / sizeof(refused_usdt[0]); i++) {
		if (refused_usdt[i].minor == (version_hex & 0xffff0000) &&
		    strcmp(refused_usdt[i].name, name) == 0)
			return refused_usdt[i].why;
	}
	return NULL;
}
