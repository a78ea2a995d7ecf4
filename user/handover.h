/* SPDX-License-Identifier: MIT */
/*
 * What an agent that stops hands to the next one through its --pin
 * directory, beside the pinned rings: fixed-size records (the open spans)
 * in a BPF array map pinned as DIR/handover, since bpffs holds no plain
 * files. It lives as long as the pins do, and the next agent takes it
 * once. The records are opaque here.
 */
#ifndef TASKTAP_HANDOVER_H
#define TASKTAP_HANDOVER_H

#include <stddef.h>

/*
 * Stores `n` records of `size` bytes each at `recs` as DIR/handover,
 * replacing what an earlier agent left there. Returns 0, or -errno with a
 * message in err.
 */
int tt_handover__put(const char *dir, const void *recs, size_t size, size_t n, char *err,
		     size_t errlen);

/*
 * Takes what the earlier agent left: calls fn for each record, in the
 * order it was stored, then removes it. Records of another size (another
 * version of tasktap) are not read: that is -EPROTO with a message.
 * Returns how many records there were (0 when there is nothing to take),
 * or -errno with a message in err.
 */
int tt_handover__take(const char *dir, size_t size, void (*fn)(const void *rec, void *ctx),
		      void *ctx, char *err, size_t errlen);

#endif /* TASKTAP_HANDOVER_H */
