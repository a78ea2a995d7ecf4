/* SPDX-License-Identifier: MIT */
/*
 * Python function probes (DESIGN §10): what the BPF programs of a Python
 * hook (bpf/python.h) need to find the running function and match it by
 * name, stored in the BPF array `py_hooks` at the hook id.
 *
 * A Python hook's entry program runs where every Python function starts:
 * the handlers of the RESUME instructions in the interpreter loop, found
 * through its computed-goto table (user/python/interp.c). It reads the
 * running frame from _PyRuntime's current thread state, skips generator
 * frames, and matches the frame's code object by module and qualified
 * name (cached per code object). Its return program runs at the
 * interpreter's python:function__return USDT site, where every frame ends
 * (a return, an exception, a yield), and ends the call when the ending
 * frame is the one its entry pushed.
 */
#ifndef TASKTAP_PYHOOK_H
#define TASKTAP_PYHOOK_H

#include "limits.h"

/* Bytes of a module or qualified name tasktap compares, with the NUL. */
#define TT_PY_NAME_MAX 64

/* Probed Python calls open on one thread, per hook, that BPF remembers. */
#define TT_PY_MAX_DEPTH 16

/* str state bits: compact and ASCII (data right after the object head). */
#define TT_PY_ASCII_COMPACT 0x60

/* How a name is matched. */
#define TT_PY_MATCH_EXACT  0 /* the whole name */
#define TT_PY_MATCH_PREFIX 1 /* the name starts with the pattern ("rq.*") */

struct tt_py_pattern {
	__u32 len;  /* bytes of text that count (before a final '*') */
	__u32 kind; /* TT_PY_MATCH_* */
	char text[TT_PY_NAME_MAX];
};

struct tt_py_hook {
	__u64 tstate_addr; /* the address of the current thread state's pointer */
	/* offsets, in bytes */
	__u16 tstate_cframe;
	__u16 cframe_current_frame;
	__u16 tstate_curexc_type;
	__u16 frame_code;
	__u16 frame_func;
	__u16 frame_owner;
	__u16 frame_localsplus;
	__u16 func_module;
	__u16 code_filename;
	__u16 code_qualname;
	__u16 unicode_state;
	__u16 unicode_length;
	__u16 unicode_ascii_data;
	__u16 type_name;
	__u16 pad[2];
	struct tt_py_pattern module;
	struct tt_py_pattern qualname;
};

#endif /* TASKTAP_PYHOOK_H */
