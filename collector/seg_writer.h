/* SPDX-License-Identifier: MIT
 * seg_writer: writes one immutable segment file from records in memory.
 * Owns nothing between calls; pure apart from the file it writes. Called on
 * the store's sealing thread (any thread; no shared state).
 *
 * Atomicity: the file is written as "<path>.tmp", fsynced, renamed to
 * path, and the directory fsynced, so path either does not exist or holds
 * a complete segment. */
#ifndef CLEW_SEG_WRITER_H
#define CLEW_SEG_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "common/seg_format.h"

struct clew_seg_opts {
    int zstd_level;         /* compression level of the column blocks    */
    uint32_t block_records; /* most records per block                    */
    size_t block_bytes;     /* most raw bytes per block (a block closes
                               at whichever limit it reaches first)      */
};

/* Fills opts with the defaults. */
void clew_seg_opts_default(struct clew_seg_opts *opts);

/* Writes recs[0..n) (n > 0, sorted by ts ascending; the caller guarantees
 * they belong to one UTC hour) as the segment at path. gen is recorded in
 * the header. opts may be NULL (defaults); options out of range give
 * CLEW_EBADARG, a string longer than CLEW_REC_MAX_FIELD gives CLEW_ETOOBIG.
 * info (may be NULL) receives what was written. The records are borrowed
 * until return. Returns 0 or a negative error with err set; on error no
 * file is left at path or path.tmp. */
int clew_seg_write(const char *path, uint64_t gen, const struct clew_record *recs, size_t n,
                   const struct clew_seg_opts *opts, struct clew_seg_info *info,
                   char err[CLEW_ERR_LEN]);

#endif
