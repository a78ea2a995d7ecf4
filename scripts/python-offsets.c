/* SPDX-License-Identifier: MIT */
/*
 * Prints the row of user/python/offsets.c for the CPython whose headers it
 * is built against (internal headers included):
 *
 *	cc -DPy_BUILD_CORE -I/usr/include/python3.11 scripts/python-offsets.c \
 *		-o /tmp/pyoff && /tmp/pyoff
 *
 * The table is written from this program's output, never by hand.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <opcode.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_code.h"
#include "internal/pycore_dict.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_moduleobject.h"
#include "internal/pycore_object.h"
#include "internal/pycore_runtime.h"
#include "internal/pycore_pystate.h"

#define V11 (PY_VERSION_HEX < 0x030c0000)
#define V12 (PY_VERSION_HEX >= 0x030c0000 && PY_VERSION_HEX < 0x030d0000)
#define V13 (PY_VERSION_HEX >= 0x030d0000)

#define F(name, value) printf("\t\t.%s = %d,\n", #name, (int)(value))
#define ABSENT(name) printf("\t\t.%s = TT_PY_ABSENT,\n", #name)

int main(void)
{
	printf("\t{\n\t\t/* CPython %s, from its headers by scripts/python-offsets.c */\n",
	       PY_VERSION);
	printf("\t\t.version_hex = 0x%08x,\n", (unsigned)(PY_VERSION_HEX & 0xffff0000));
	printf("\t\t.long_layout = %s,\n", V11 ? "TT_PY_LONG_OB_SIZE" : "TT_PY_LONG_TAG");
	printf("\t\t.dict_layout = %s,\n",
	       V11 ? "TT_PY_DICT_VALUES_PTR" : V12 ? "TT_PY_DICT_TAGGED" : "TT_PY_DICT_INLINE");

	F(op_return_value, RETURN_VALUE);
#if V11
	F(op_return_const, 0);
#else
	F(op_return_const, RETURN_CONST);
#endif

	F(op_pop_top, POP_TOP);
	F(op_yield_value, YIELD_VALUE);

	F(runtime_interpreters_head, offsetof(_PyRuntimeState, interpreters.head));
#if V11
	F(runtime_tstate_current, offsetof(_PyRuntimeState, gilstate.tstate_current));
#else
	ABSENT(runtime_tstate_current);
#endif
	F(interp_threads_head, offsetof(PyInterpreterState, threads.head));

	F(tstate_next, offsetof(PyThreadState, next));
	F(tstate_interp, offsetof(PyThreadState, interp));
	F(tstate_thread_id, offsetof(PyThreadState, thread_id));
	F(tstate_native_thread_id, offsetof(PyThreadState, native_thread_id));
#if V13
	ABSENT(tstate_cframe);
	F(tstate_current_frame, offsetof(PyThreadState, current_frame));
#else
	F(tstate_cframe, offsetof(PyThreadState, cframe));
	ABSENT(tstate_current_frame);
#endif
#if V11
	F(tstate_curexc_type, offsetof(PyThreadState, curexc_type));
	ABSENT(tstate_current_exception);
#else
	ABSENT(tstate_curexc_type);
	F(tstate_current_exception, offsetof(PyThreadState, current_exception));
#endif
#if V13
	ABSENT(cframe_current_frame);
#else
	F(cframe_current_frame, offsetof(_PyCFrame, current_frame));
#endif

#if V13
	F(frame_code, offsetof(_PyInterpreterFrame, f_executable));
	F(frame_prev_instr, offsetof(_PyInterpreterFrame, instr_ptr));
#else
	F(frame_code, offsetof(_PyInterpreterFrame, f_code));
	F(frame_prev_instr, offsetof(_PyInterpreterFrame, prev_instr));
#endif
#if V11
	F(frame_func, offsetof(_PyInterpreterFrame, f_func));
#else
	F(frame_func, offsetof(_PyInterpreterFrame, f_funcobj));
#endif
	F(frame_globals, offsetof(_PyInterpreterFrame, f_globals));
	F(frame_locals, offsetof(_PyInterpreterFrame, f_locals));
	F(frame_previous, offsetof(_PyInterpreterFrame, previous));
	F(frame_stacktop, offsetof(_PyInterpreterFrame, stacktop));
	F(frame_owner, offsetof(_PyInterpreterFrame, owner));
	F(frame_localsplus, offsetof(_PyInterpreterFrame, localsplus));

	F(code_argcount, offsetof(PyCodeObject, co_argcount));
	F(code_kwonlyargcount, offsetof(PyCodeObject, co_kwonlyargcount));
	F(code_flags, offsetof(PyCodeObject, co_flags));
	F(code_firstlineno, offsetof(PyCodeObject, co_firstlineno));
	F(code_nlocalsplus, offsetof(PyCodeObject, co_nlocalsplus));
	F(code_consts, offsetof(PyCodeObject, co_consts));
	F(gen_frame_state,
	  (int)offsetof(PyGenObject, gi_frame_state) - (int)offsetof(PyGenObject, gi_iframe));
	F(code_nlocals, offsetof(PyCodeObject, co_nlocals));
	F(code_localsplusnames, offsetof(PyCodeObject, co_localsplusnames));
	F(code_localspluskinds, offsetof(PyCodeObject, co_localspluskinds));
	F(code_filename, offsetof(PyCodeObject, co_filename));
	F(code_name, offsetof(PyCodeObject, co_name));
	F(code_qualname, offsetof(PyCodeObject, co_qualname));
	F(code_code_adaptive, offsetof(PyCodeObject, co_code_adaptive));

	F(func_code, offsetof(PyFunctionObject, func_code));
	F(func_globals, offsetof(PyFunctionObject, func_globals));
	F(func_name, offsetof(PyFunctionObject, func_name));
	F(func_qualname, offsetof(PyFunctionObject, func_qualname));
	F(func_module, offsetof(PyFunctionObject, func_module));

	F(obj_type, offsetof(PyObject, ob_type));
	F(var_size, offsetof(PyVarObject, ob_size));
	F(type_name, offsetof(PyTypeObject, tp_name));
	F(type_basicsize, offsetof(PyTypeObject, tp_basicsize));
	F(type_flags, offsetof(PyTypeObject, tp_flags));
	F(type_dictoffset, offsetof(PyTypeObject, tp_dictoffset));
	F(heaptype_cached_keys, offsetof(PyHeapTypeObject, ht_cached_keys));
#if V11
	F(obj_managed_dict, -3 * (int)sizeof(PyObject *));
	F(obj_managed_values, -4 * (int)sizeof(PyObject *));
	ABSENT(obj_inline_values);
#elif V12
	F(obj_managed_dict, -3 * (int)sizeof(PyObject *));
	ABSENT(obj_managed_values);
	ABSENT(obj_inline_values);
#else
	F(obj_managed_dict, MANAGED_DICT_OFFSET);
	ABSENT(obj_managed_values);
	F(obj_inline_values, sizeof(PyObject));
#endif

	F(tuple_items, offsetof(PyTupleObject, ob_item));

	F(unicode_length, offsetof(PyASCIIObject, length));
	F(unicode_state, offsetof(PyASCIIObject, hash) + sizeof(Py_hash_t));
	F(unicode_ascii_data, sizeof(PyASCIIObject));
	F(unicode_compact_utf8_length, offsetof(PyCompactUnicodeObject, utf8_length));
	F(unicode_compact_utf8, offsetof(PyCompactUnicodeObject, utf8));
	F(unicode_compact_data, sizeof(PyCompactUnicodeObject));

#if V11
	F(long_tag, offsetof(PyVarObject, ob_size));
#else
	F(long_tag, offsetof(PyLongObject, long_value.lv_tag));
#endif
#if V11
	F(long_digits, offsetof(PyLongObject, ob_digit));
#else
	F(long_digits, offsetof(PyLongObject, long_value.ob_digit));
#endif
	F(bytes_size, offsetof(PyVarObject, ob_size));
	F(bytes_data, offsetof(PyBytesObject, ob_sval));

	F(dict_used, offsetof(PyDictObject, ma_used));
	F(dict_keys, offsetof(PyDictObject, ma_keys));
	F(dict_values, offsetof(PyDictObject, ma_values));
	F(keys_log2_size, offsetof(PyDictKeysObject, dk_log2_size));
	F(keys_log2_index_bytes, offsetof(PyDictKeysObject, dk_log2_index_bytes));
	F(keys_kind, offsetof(PyDictKeysObject, dk_kind));
	F(keys_nentries, offsetof(PyDictKeysObject, dk_nentries));
	F(keys_indices, offsetof(PyDictKeysObject, dk_indices));
	F(dictvalues_values, offsetof(PyDictValues, values));
#if V13
	F(dictvalues_valid, offsetof(PyDictValues, valid));
#else
	ABSENT(dictvalues_valid);
#endif
	F(size_frame, offsetof(_PyInterpreterFrame, localsplus));
	F(size_ascii, sizeof(PyASCIIObject));
	F(size_compact, sizeof(PyCompactUnicodeObject));
#if V11
	F(interp_modules, offsetof(PyInterpreterState, modules));
#else
	F(interp_modules, offsetof(PyInterpreterState, imports.modules));
#endif
	F(module_dict, offsetof(PyModuleObject, md_dict));
	F(type_dict, offsetof(PyTypeObject, tp_dict));
	/* classmethod, staticmethod and property keep it first (Objects/funcobject.c, descrobject.c) */
	F(wrapped_callable, sizeof(PyObject));
	printf("\t},\n");
	return 0;
}
