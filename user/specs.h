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
	size_t ngiven;	 /* paths[0, ngiven) were given by name, the rest found in dir */
	const char *dir; /* the directory, not owned; NULL when none */
};

/* The bytes of one spec file, as tt_spec_file__read() found them. */
struct tt_spec_text {
	char *text; /* owned, NUL-terminated */
	size_t len;
	uint64_t digest; /* XXH3-64 of the bytes, never 0: a reload keeps an unchanged file */
};

/* The largest spec file tasktap reads. */
#define TT_SPEC_MAX_SIZE (1024 * 1024)

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

/* The directory f->paths[i] was found in, or NULL when it was given by name. */
const char *tt_spec_files__dir(const struct tt_spec_files *f, size_t i);

/*
 * Reads the spec file at `path` as a file from outside: it never blocks
 * (a FIFO, /proc/kmsg, a device) and reads no more than the size the file
 * had when opened, at most TT_SPEC_MAX_SIZE. It refuses what is not a
 * regular file, and a file that users other than root (or the agent's own
 * user) can write: whoever can edit a spec chooses what the agent reads
 * from every process. When `dir` is not NULL, path is "dir/NAME", found in
 * that directory (--spec-dir), and is resolved without leaving it: a
 * symbolic link out of it (another user's link to /etc/shadow) is refused,
 * links inside it (those of a Kubernetes ConfigMap volume) are followed.
 *
 * Returns 0 and fills out (release it with tt_spec_text__release()), or
 * -errno with one message in err that names the file and quotes none of it.
 */
int tt_spec_file__read(const char *path, const char *dir, struct tt_spec_text *out, char *err,
		       size_t errlen);

/* Frees the text. Accepts a zeroed one. */
void tt_spec_text__release(struct tt_spec_text *t);

#endif /* TASKTAP_SPECS_H */
