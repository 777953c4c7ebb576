/* SPDX-License-Identifier: MIT
 * tail_match: which container log files the tailer follows. Owns copies of
 * the Docker and CRI roots, their glob(3) patterns (relative to the root)
 * and the --exclude fnmatch(3) patterns; lists the live files a scan looks
 * at and tells whether a checkpointed path is still wanted. Follows and
 * opens nothing, knows no offsets. The caller embeds the struct
 * (clew_tail_match_init / clew_tail_match_close) and calls it on its own
 * thread (the tailer's); clew_tail_match_list does blocking directory I/O. */
#ifndef CLEW_TAIL_MATCH_H
#define CLEW_TAIL_MATCH_H

#include <stddef.h>

#include "clew/error.h"

struct clew_tailer_opts;

struct clew_tail_match {
    char *docker_root, *cri_root; /* NULL: that kind is not followed      */
    char *docker_glob, *cri_glob; /* relative to their root               */
    char *excl_buf;               /* the exclude list, commas become NULs */
    char **excl;                  /* into excl_buf                        */
    size_t nexcl;
};

/* Called for each matching path (borrowed until return); a nonzero return
 * stops the listing. */
typedef int (*clew_tail_match_visit_cb)(void *ud, const char *path);

/* Copies opts' roots, globs (NULL or "": the defaults <id>/<id>-json.log
 * and <ns>_<pod>_<uid>/<container>/<n>.log, each part a `*`) and exclude
 * list (comma-separated, empty items skipped). Returns 0, -ENOMEM or
 * CLEW_EBADARG (err says why: no root, or a bad glob). On failure m may be
 * half built: clew_tail_match_close it all the same. */
int clew_tail_match_init(struct clew_tail_match *m, const struct clew_tailer_opts *opts,
                         char err[CLEW_ERR_LEN]);

/* Frees what m holds; m zeroed or half built by init is fine. */
void clew_tail_match_close(struct clew_tail_match *m);

/* Whether pattern may serve as a glob under a root: relative, without ".."
 * components. Returns 0, or CLEW_EBADARG with err naming `what`. Pure. */
int clew_tail_match_check_glob(const char *what, const char *pattern, char err[CLEW_ERR_LEN]);

/* Whether an exclude pattern matches the full path (`*` also matches `/`). */
int clew_tail_match_excluded(const struct clew_tail_match *m, const char *path);

/* Whether the globs would follow the live file of path (a rotated name
 * stands for its live name) now and it is not excluded: a checkpoint entry
 * written under other options may not be. cri: path is under the CRI root. */
int clew_tail_match_wanted(const struct clew_tail_match *m, const char *path, int cri);

/* Calls visit for each path the Docker (cri 0) or CRI (cri 1) glob matches
 * under its root and no exclude pattern matches, in glob order. *root_err
 * is an errno value when the root cannot be read (nothing listed), else 0.
 * Returns visit's first nonzero result, or 0 (also when the root is off). */
int clew_tail_match_list(const struct clew_tail_match *m, int cri, clew_tail_match_visit_cb visit,
                         void *ud, int *root_err);

#endif
