/* SPDX-License-Identifier: MIT */
/*
 * Where CPython keeps what a probe reads: the offsets of the interpreter's
 * structures, one table per CPython minor version (user/python/offsets.c),
 * shared by the agent and the BPF side. Every offset is in bytes from the
 * start of its structure; TT_PY_ABSENT marks a field the version does not
 * have (e.g. runtime_tstate_current from 3.12 on, where the current thread
 * state is a thread-local: walk interp_threads_head and compare
 * tstate_native_thread_id with the thread's id instead).
 *
 * The chain from the exported `_PyRuntime` to the running function:
 *
 *	3.11:  _PyRuntime + runtime_tstate_current → tstate
 *	3.12+: _PyRuntime + runtime_interpreters_head → interp,
 *	       interp + interp_threads_head → tstate, tstate + tstate_next …
 *	       until tstate + tstate_native_thread_id is the thread's id
 *	3.11, 3.12: tstate + tstate_cframe → cframe, cframe + cframe_current_frame → frame
 *	3.13:  tstate + tstate_current_frame → frame
 *	frame + frame_code → code (3.13: f_executable, a code object or None)
 *	frame + frame_previous → the caller's frame
 *	frame + frame_localsplus + 8 * i → local i (arguments first), named by
 *	code + code_localsplusnames (a tuple of str), code + code_nlocalsplus of them
 *
 * A frame whose frame_owner byte is TT_PY_FRAME_OWNED_BY_CSTACK (3.12+) is
 * a shim the interpreter pushes for a call from C: skip it.
 */
#ifndef TASKTAP_PYTHON_H
#define TASKTAP_PYTHON_H

#define TT_PY_ABSENT (-1)

/* frame_owner values (Include/internal/pycore_frame.h) */
#define TT_PY_FRAME_OWNED_BY_THREAD	  0
#define TT_PY_FRAME_OWNED_BY_GENERATOR	  1
#define TT_PY_FRAME_OWNED_BY_FRAME_OBJECT 2
#define TT_PY_FRAME_OWNED_BY_CSTACK	  3 /* 3.12+ */

/* code_flags bits (Include/cpython/code.h) */
#define TT_PY_CO_VARARGS     0x0004
#define TT_PY_CO_VARKEYWORDS 0x0008
#define TT_PY_CO_GENERATOR   0x0020
#define TT_PY_CO_COROUTINE   0x0100

/* type_flags bits (Include/object.h) */
#define TT_PY_TPFLAGS_INLINE_VALUES	(1UL << 2) /* 3.13+ */
#define TT_PY_TPFLAGS_MANAGED_DICT	(1UL << 4) /* 3.11+: the instance dict is managed */
#define TT_PY_TPFLAGS_HEAPTYPE		(1UL << 9)
#define TT_PY_TPFLAGS_LONG_SUBCLASS	(1UL << 24)
#define TT_PY_TPFLAGS_TUPLE_SUBCLASS	(1UL << 26)
#define TT_PY_TPFLAGS_BYTES_SUBCLASS	(1UL << 27)
#define TT_PY_TPFLAGS_UNICODE_SUBCLASS	(1UL << 28)
#define TT_PY_TPFLAGS_DICT_SUBCLASS	(1UL << 29)
#define TT_PY_TPFLAGS_BASE_EXC_SUBCLASS (1UL << 30)

/*
 * str (PyASCIIObject.state, a bit field in the same place in 3.11–3.13):
 * kind = (state >> 2) & 7 (1, 2 or 4 bytes a character); compact = bit 5;
 * ascii = bit 6. A compact ASCII string's characters start at
 * unicode_ascii_data, a compact non-ASCII one's at unicode_compact_data,
 * and its UTF-8 form (when made) is at unicode_compact_utf8 (a pointer),
 * unicode_compact_utf8_length bytes.
 */
#define TT_PY_STATE_KIND_SHIFT 2
#define TT_PY_STATE_KIND_MASK  7
#define TT_PY_STATE_COMPACT    (1U << 5)
#define TT_PY_STATE_ASCII      (1U << 6)

/* How an int keeps its sign and size. */
enum tt_py_long_layout {
	/* 3.11: ob_size (signed) is the digit count, negative for a negative int */
	TT_PY_LONG_OB_SIZE = 1,
	/*
	 * 3.12+: long_tag: sign = tag & 3 (0 positive, 1 zero, 2 negative),
	 * digit count = tag >> 3
	 */
	TT_PY_LONG_TAG = 2,
};

/*
 * Where a managed dict's instance attributes are (type_flags has
 * TT_PY_TPFLAGS_MANAGED_DICT). The keys shared by the instances of a class
 * are its heap type's ht_cached_keys; attribute i's value is values[i].
 */
enum tt_py_dict_layout {
	/*
	 * 3.11: obj + obj_managed_values (negative) → PyDictValues *, NULL when
	 * the instance has a real dict at obj + obj_managed_dict (negative).
	 */
	TT_PY_DICT_VALUES_PTR = 1,
	/*
	 * 3.12: one tagged word at obj + obj_managed_dict: low bit set → a
	 * PyDictValues * stored less one (values = word + 1), clear → a dict
	 * (or NULL).
	 */
	TT_PY_DICT_TAGGED = 2,
	/*
	 * 3.13: obj + obj_managed_dict → a dict when the instance has one
	 * (its values may still be the inline ones); when NULL and the type
	 * has TT_PY_TPFLAGS_INLINE_VALUES, the values are inline at
	 * obj + obj_inline_values, valid when their dictvalues_valid byte is
	 * non-zero.
	 */
	TT_PY_DICT_INLINE = 3,
};

/*
 * PyDictKeysObject: dk_kind says how an entry looks: 0 general
 * (hash, key, value: 24 bytes), 1 or 2 unicode (key, value: 16 bytes).
 * Entries start at keys + keys_indices + (1 << dk_log2_index_bytes).
 */
#define TT_PY_DICT_KEYS_GENERAL	      0
#define TT_PY_DICT_ENTRY_GENERAL_SIZE 24
#define TT_PY_DICT_ENTRY_UNICODE_SIZE 16

struct tt_py_offsets {
	unsigned int version_hex;      /* the minor version: 0x030b0000 for 3.11 */
	unsigned char long_layout;     /* enum tt_py_long_layout */
	unsigned char dict_layout;     /* enum tt_py_dict_layout */
	unsigned char op_return_value; /* the opcode RETURN_VALUE: the value on the stack */
	unsigned char op_return_const; /* RETURN_CONST (3.12+; 0: none): co_consts[oparg] */
	unsigned char op_pop_top;      /* before a generator's first RESUME (RETURN_GENERATOR's) */
	unsigned char op_yield_value;  /* before the RESUME after a yield or an await */

	/* _PyRuntimeState */
	short runtime_interpreters_head;
	short runtime_tstate_current; /* 3.11 (gilstate.tstate_current) */

	/* PyInterpreterState */
	short interp_threads_head;

	/* PyThreadState */
	short tstate_next;
	short tstate_interp;
	short tstate_thread_id;		/* pthread_self() */
	short tstate_native_thread_id;	/* the kernel's tid */
	short tstate_cframe;		/* 3.11, 3.12 */
	short tstate_current_frame;	/* 3.13 */
	short tstate_curexc_type;	/* 3.11: the exception being raised, its type */
	short tstate_current_exception; /* 3.12+: the exception being raised */

	/* _PyCFrame (3.11, 3.12) */
	short cframe_current_frame;

	/* _PyInterpreterFrame */
	short frame_code; /* f_code; 3.13: f_executable */
	short frame_func; /* f_func (3.11); f_funcobj (3.12+) */
	short frame_globals;
	short frame_locals;
	short frame_previous;
	short frame_prev_instr; /* 3.13: instr_ptr */
	short frame_stacktop;
	short frame_owner; /* a char */
	short frame_localsplus;

	/* PyCodeObject */
	short code_argcount;
	short code_kwonlyargcount;
	short code_flags; /* int */
	short code_firstlineno;
	short code_nlocalsplus; /* int */
	short code_consts;	/* tuple: RETURN_CONST's operand indexes it */
	short gen_frame_state;	/* gi_frame_state less gi_iframe: negative, its frame lies in it */
	short code_nlocals;
	short code_localsplusnames; /* tuple of str */
	short code_localspluskinds; /* bytes */
	short code_filename;
	short code_name;
	short code_qualname;
	short code_code_adaptive; /* the first instruction */

	/* PyFunctionObject */
	short func_code;
	short func_globals;
	short func_name;
	short func_qualname;
	short func_module; /* usually the module's __name__, a str */

	/* PyObject, PyVarObject, PyTypeObject, PyHeapTypeObject */
	short obj_type;
	short var_size;
	short type_name; /* tp_name: a char * */
	short type_basicsize;
	short type_flags; /* unsigned long */
	short type_dictoffset;
	short heaptype_cached_keys;
	short obj_managed_dict;	  /* negative: before the object */
	short obj_managed_values; /* negative; 3.11 only */
	short obj_inline_values;  /* 3.13 */

	/* PyTupleObject */
	short tuple_items;

	/* str: PyASCIIObject, PyCompactUnicodeObject */
	short unicode_length;
	short unicode_state; /* a 32-bit bit field, see TT_PY_STATE_* */
	short unicode_ascii_data;
	short unicode_compact_utf8_length;
	short unicode_compact_utf8;
	short unicode_compact_data;

	/* int: PyLongObject, 30-bit digits in 32-bit words */
	short long_tag; /* 3.11: ob_size; 3.12+: long_value.lv_tag */
	short long_digits;

	/* bytes: PyBytesObject */
	short bytes_size;
	short bytes_data;

	/* PyDictObject, PyDictKeysObject, PyDictValues */
	short dict_used;
	short dict_keys;
	short dict_values;
	short keys_log2_size;	     /* a byte */
	short keys_log2_index_bytes; /* a byte */
	short keys_kind;	     /* a byte */
	short keys_nentries;
	short keys_indices;
	short dictvalues_values;
	short dictvalues_valid; /* 3.13: a byte */

	/* sizes */
	short size_frame;   /* up to localsplus */
	short size_ascii;   /* sizeof(PyASCIIObject) */
	short size_compact; /* sizeof(PyCompactUnicodeObject) */

	/* what `tasktap symbols --python` walks (userspace only) */
	short interp_modules;	/* sys.modules, a dict */
	short module_dict;	/* PyModuleObject.md_dict */
	short type_dict;	/* tp_dict */
	short wrapped_callable; /* classmethod/staticmethod's callable, property's fget */
};

#endif /* TASKTAP_PYTHON_H */
