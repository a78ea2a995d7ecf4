// SPDX-License-Identifier: MIT
/* bpfgen_print.c: a compiled program as readable BPF assembly, and the programs' names. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "bpfgen.h"

void tt_bpfgen__name(enum tt_bpfgen_kind kind, uint32_t hook, char *buf, size_t len)
{
	static const char *const kinds[] = {"entry", "ret", "usdt", "call", "pair"};

	snprintf(buf, len, "tt_h%u_%s", hook, kind <= TT_BPFGEN_PAIR ? kinds[kind] : "x");
}

static const char *map_name(const struct tt_bpfgen_maps *m, int fd)
{
	if (fd == m->threads)
		return "threads";
	if (fd == m->saved)
		return "saved";
	if (fd == m->scratch)
		return "scratch";
	if (fd == m->stats)
		return "stats";
	if (fd == m->rings)
		return "rings";
	if (fd == m->hook_lost)
		return "hook_lost";
	if (fd == m->calls)
		return "calls";
	if (fd == m->frames)
		return "frames";
	return "?";
}

static const char *helper_name(int32_t id)
{
	switch (id) {
	case BPF_FUNC_map_lookup_elem:
		return "bpf_map_lookup_elem";
	case BPF_FUNC_map_update_elem:
		return "bpf_map_update_elem";
	case BPF_FUNC_ktime_get_ns:
		return "bpf_ktime_get_ns";
	case BPF_FUNC_get_current_pid_tgid:
		return "bpf_get_current_pid_tgid";
	case BPF_FUNC_get_smp_processor_id:
		return "bpf_get_smp_processor_id";
	case BPF_FUNC_probe_read_user:
		return "bpf_probe_read_user";
	case BPF_FUNC_probe_read_user_str:
		return "bpf_probe_read_user_str";
	case BPF_FUNC_ringbuf_output:
		return "bpf_ringbuf_output";
	case BPF_FUNC_ringbuf_query:
		return "bpf_ringbuf_query";
	case BPF_FUNC_ringbuf_reserve:
		return "bpf_ringbuf_reserve";
	case BPF_FUNC_ringbuf_submit:
		return "bpf_ringbuf_submit";
	case BPF_FUNC_map_delete_elem:
		return "bpf_map_delete_elem";
	case BPF_FUNC_probe_read_kernel:
		return "bpf_probe_read_kernel";
	case BPF_FUNC_get_attach_cookie:
		return "bpf_get_attach_cookie";
	case BPF_FUNC_get_current_task_btf:
		return "bpf_get_current_task_btf";
	case BPF_FUNC_task_storage_get:
		return "bpf_task_storage_get";
	}
	return "helper";
}

static const char *alu_sym(uint8_t op)
{
	switch (op) {
	case BPF_ADD:
		return "+=";
	case BPF_SUB:
		return "-=";
	case BPF_AND:
		return "&=";
	case BPF_OR:
		return "|=";
	case BPF_XOR:
		return "^=";
	case BPF_LSH:
		return "<<=";
	case BPF_RSH:
		return ">>=";
	case BPF_ARSH:
		return "s>>=";
	case BPF_MOV:
		return "=";
	}
	return "?=";
}

static const char *jmp_sym(uint8_t op)
{
	switch (op) {
	case BPF_JEQ:
		return "==";
	case BPF_JNE:
		return "!=";
	case BPF_JGT:
		return ">";
	case BPF_JGE:
		return ">=";
	case BPF_JLT:
		return "<";
	case BPF_JLE:
		return "<=";
	case BPF_JSGT:
		return "s>";
	case BPF_JSGE:
		return "s>=";
	case BPF_JSLT:
		return "s<";
	case BPF_JSLE:
		return "s<=";
	}
	return "?";
}

static const char *size_name(uint8_t size)
{
	switch (size) {
	case BPF_B:
		return "u8";
	case BPF_H:
		return "u16";
	case BPF_W:
		return "u32";
	}
	return "u64";
}

void tt_bpfgen__print(const struct tt_bpfgen *g, const struct tt_bpfgen_maps *maps, FILE *f)
{
	for (size_t n = 0; n < g->n; n++) {
		const struct bpf_insn *i = &g->insns[n];
		uint8_t cls = BPF_CLASS(i->code), op = BPF_OP(i->code);

		fprintf(f, "  %4zu: ", n);
		if (i->code == (BPF_LD | BPF_DW | BPF_IMM) && n + 1 < g->n) {
			if (i->src_reg == BPF_PSEUDO_MAP_FD)
				fprintf(f, "r%u = map[%s]\n", i->dst_reg, map_name(maps, i->imm));
			else
				fprintf(f, "r%u = 0x%" PRIx64 " ll\n", i->dst_reg,
					(uint64_t)(uint32_t)i->imm |
						(uint64_t)(uint32_t)g->insns[n + 1].imm << 32);
			n++;
		} else if (cls == BPF_ALU64 && BPF_SRC(i->code) == BPF_K) {
			fprintf(f, "r%u %s %d\n", i->dst_reg, alu_sym(op), i->imm);
		} else if (cls == BPF_ALU64) {
			fprintf(f, "r%u %s r%u\n", i->dst_reg, alu_sym(op), i->src_reg);
		} else if (cls == BPF_LDX) {
			fprintf(f, "r%u = *(%s *)(r%u %+d)\n", i->dst_reg,
				size_name(BPF_SIZE(i->code)), i->src_reg, i->off);
		} else if (cls == BPF_STX && BPF_MODE(i->code) == BPF_ATOMIC &&
			   i->imm == BPF_CMPXCHG) {
			fprintf(f, "r0 = cmpxchg((%s *)(r%u %+d), r0, r%u)\n",
				size_name(BPF_SIZE(i->code)), i->dst_reg, i->off, i->src_reg);
		} else if (cls == BPF_STX) {
			fprintf(f, "*(%s *)(r%u %+d) = r%u\n", size_name(BPF_SIZE(i->code)),
				i->dst_reg, i->off, i->src_reg);
		} else if (cls == BPF_ST) {
			fprintf(f, "*(%s *)(r%u %+d) = %d\n", size_name(BPF_SIZE(i->code)),
				i->dst_reg, i->off, i->imm);
		} else if (cls == BPF_JMP && op == BPF_CALL &&
			   i->src_reg == BPF_PSEUDO_KFUNC_CALL) {
			fprintf(f, "call kfunc %d (btf id)\n", i->imm);
		} else if (cls == BPF_JMP && op == BPF_CALL) {
			fprintf(f, "call %s\n", helper_name(i->imm));
		} else if (cls == BPF_JMP && op == BPF_EXIT) {
			fprintf(f, "exit\n");
		} else if (cls == BPF_JMP && op == BPF_JA) {
			fprintf(f, "goto %zu\n", n + 1 + i->off);
		} else if (cls == BPF_JMP && BPF_SRC(i->code) == BPF_K) {
			fprintf(f, "if r%u %s %d goto %zu\n", i->dst_reg, jmp_sym(op), i->imm,
				n + 1 + i->off);
		} else if (cls == BPF_JMP) {
			fprintf(f, "if r%u %s r%u goto %zu\n", i->dst_reg, jmp_sym(op), i->src_reg,
				n + 1 + i->off);
		} else {
			fprintf(f, "(code 0x%02x)\n", i->code);
		}
	}
}
