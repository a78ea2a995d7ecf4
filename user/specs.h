/* SPDX-License-Identifier: MIT */
/*
 * The agent's spec files: given one by one (`--spec`, the positional
 * SPEC) and found in a directory (`--spec-dir`, one file per worker type),
 * with a digest of each so that a reload keeps the files that did not
 * change.
 */
#ifndef TASKTAP_SPECS_H
#define TASKTAP_SPECS_H

#include <stddef.h>
#include <stdint.h>

struct tt_spec_files {
	char **paths; /* owned, each owned */
	size_t n;
};

/*
 * Lists `files` in their order, then the *.yaml and *.yml files of `dir`
 * (when not NULL) in name order, skipping names that start with a dot
 * (the ..data links of a Kubernetes ConfigMap volume). Returns 0, or
 * -errno with one message in err (a directory that cannot be read).
 * Release the list with tt_spec_files__release().
 */
int tt_spec_files__collect(const char *const *files, size_t nfiles, const char *dir,
			   struct tt_spec_files *out, char *err, size_t errlen);

/* Frees the list. Accepts a zeroed one. */
void tt_spec_files__release(struct tt_spec_files *f);

/* XXH3-64 of the bytes of the file at `path`; 0 when it cannot be read. */
uint64_t tt_spec_file__digest(const char *path);

#endif /* TASKTAP_SPECS_H */
