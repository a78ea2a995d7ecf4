/* SPDX-License-Identifier: MIT */
/*
 * Python function probes (DESIGN §10): what the BPF programs of a Python
 * hook (bpf/python.h) need to find the running function and match it by
 * name, stored in the BPF array `py_hooks` at the hook id.
 *
 * A Python hook's entry program runs where every Python function starts:
 * the handlers of the RESUME instructions in the interpreter loop, found
 * through its computed-goto table (user/python/interp.c). It finds the
 * running frame: on 3.11 and 3.12 at the distance from the stack pointer
 * that the site learned for the interpreter loop's own `cframe` (BPF's
 * py_sites, emptied for each new group), else through the thread's state
 * (a per-thread cache, else a walk of the interpreter's threads from
 * _PyRuntime). It matches the frame's code object by module and
 * qualified name (cached per code object). A generator's or coroutine's
 * frame starts at each resume too: its first start is the one not yet in
 * BPF's py_gens (by process and frame), and its end the return site's
 * run where its generator is not suspended (gen_frame_state; only where
 * that site sees yields: 3.11's function__return). Its return program runs where
 * every frame ends: the interpreter's python:function__return USDT site
 * when it has one (it reads the ending frame from the thread state), else
 * the start of _PyThreadState_PopFrame(tstate, frame), which pops every
 * frame a thread owns (a return or an exception, from C or from Python);
 * it ends the call when the ending frame is the one its entry pushed.
 *
 * Sharing: the hooks on one interpreter file in one process (or in every
 * process) form a group of up to TT_PY_GROUP_MAX, stored in the BPF array
 * `py_groups` at the group id: its uprobes are attached once, and each
 * program run finds the frame once and serves every member.
 *
 * Addresses: the interpreter may be position-independent or a shared
 * libpython, loaded anywhere. Each attachment's cookie is the group id with
 * the site's index above bit 32; BPF takes the load bias of the file from
 * the probed instruction's address (a uprobe sees it as the ip) less the
 * site's link-time address, and finds _PyRuntime at its link-time address
 * plus that bias: one setting serves every process running the file.
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

/* Where a hook's sites are (the cookie's bits 32 and up). */
enum tt_py_site {
	TT_PY_SITE_ENTRY0 = 0, /* RESUME, and its variants: up to TT_PY_ENTRY_SITES */
	TT_PY_SITE_RETURN = 3, /* the frame's end */
	TT_PY_SITES = 4,
};
#define TT_PY_ENTRY_SITES 3

/* How the return site gives the ending frame. */
#define TT_PY_RET_USDT	   0 /* the thread state's current frame (function__return) */
#define TT_PY_RET_POPFRAME 1 /* the arguments: (tstate, frame) */

/* An offset a version does not have (include/tasktap/python.h's TT_PY_ABSENT). */
#define TT_PY_NONE 0xffff

/* Hooks that share one group's uprobes (a bit per slot in BPF's masks). */
#define TT_PY_GROUP_MAX 16

struct tt_py_group {
	__u32 gen;  /* bumped at each change of members: code objects are matched again */
	__u32 lead; /* a member whose py_hooks entry gives the interpreter's offsets */
	__u32 hook[TT_PY_GROUP_MAX]; /* member hook ids; 0: a free slot */
};

struct tt_py_hook {
	__u64 runtime;		 /* _PyRuntime's link-time address */
	__u64 site[TT_PY_SITES]; /* each site's link-time address */
	__u32 version;		 /* PY_VERSION_HEX of the minor version: 0x030c0000 */
	__u8 ret_kind;		 /* TT_PY_RET_* */
	__u8 long_layout;	 /* enum tt_py_long_layout */
	__u8 dict_layout;	 /* enum tt_py_dict_layout */
	__u8 exc_is_type;	 /* tstate_exc holds the exception's type (3.11) */
	__u8 op_return_value;	 /* opcodes that end a frame with its value: on the stack */
	__u8 op_return_const;	 /* co_consts[oparg] (3.12+; 0: none) */
	/* offsets, in bytes (TT_PY_NONE: absent); negative ones as two's complement */
	__u16 runtime_interpreters_head;
	__u16 interp_threads_head;
	__u16 tstate_next;
	__u16 tstate_native_thread_id;
	__u16 tstate_cframe; /* 3.11, 3.12 */
	__u16 cframe_current_frame;
	__u16 tstate_current_frame; /* 3.13 */
	__u16 tstate_exc;	    /* curexc_type (3.11), current_exception (3.12+) */
	__u16 frame_code;
	__u16 frame_func;
	__u16 frame_owner;
	__u16 frame_localsplus;
	__u16 func_module;
	__u16 code_filename;
	__u16 code_qualname;
	__u16 code_localsplusnames;
	__u16 unicode_state;
	__u16 unicode_length;
	__u16 unicode_ascii_data;
	__u16 unicode_compact_utf8;
	__u16 obj_type;
	__u16 type_name;
	__u16 type_flags;
	__u16 type_basicsize;
	__u16 heaptype_cached_keys;
	__u16 obj_managed_dict;	  /* negative */
	__u16 obj_managed_values; /* negative; 3.11 */
	__u16 var_size;
	__u16 tuple_items;
	__u16 long_tag;
	__u16 long_digits;
	__u16 bytes_size;
	__u16 bytes_data;
	__u16 dict_keys;
	__u16 dict_values;
	__u16 keys_log2_index_bytes;
	__u16 keys_kind;
	__u16 keys_nentries;
	__u16 keys_indices;
	__u16 dictvalues_values;
	__u16 dictvalues_valid; /* 3.13 */
	__u16 frame_instr;	/* prev_instr; 3.13: instr_ptr (the instruction running) */
	__u16 code_nlocalsplus; /* the value stack starts after the locals */
	__u16 code_consts;
	/*
	 * a generator's gi_frame_state (a signed byte, negative while it is
	 * created or suspended) less its frame's address; TT_PY_NONE where
	 * generators are not followed (their runs only counted)
	 */
	__u16 gen_frame_state;
	__u8 op_pop_top;     /* before a generator's first RESUME */
	__u8 op_yield_value; /* before the RESUME of its resumes */
	struct tt_py_pattern module;
	struct tt_py_pattern qualname;
};

#endif /* TASKTAP_PYHOOK_H */
