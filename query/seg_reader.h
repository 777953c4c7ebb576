/* SPDX-License-Identifier: MIT
 * seg_reader: reads a segment file: its footer (block directory, label
 * dictionaries, trace index) at open, and blocks on demand, decompressing
 * only the column groups asked for. An open segment is immutable and may be
 * shared by threads: block reads are independent (pread) and allocate their
 * own memory.
 *
 * Damage: a segment whose tail or footer is bad fails to open (CLEW_ECORRUPT,
 * err names the file); a block whose column fails its checksum or does not
 * decompress fails to read with err naming the file and the block, and the
 * other blocks stay readable. */
#ifndef CLEW_SEG_READER_H
#define CLEW_SEG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "common/seg_format.h"

struct clew_seg;
struct clew_seg_block;

struct clew_seg_block_meta {
    uint32_t count;
    int64_t min_ts;
    int64_t max_ts;
};

/* Opens the segment at path and reads its footer. *out is NULL on error. */
int clew_seg_open(const char *path, struct clew_seg **out, char err[CLEW_ERR_LEN]);
/* NULL-safe. Blocks read from the segment must be freed first. */
void clew_seg_free(struct clew_seg *s);

const struct clew_seg_info *clew_seg_get_info(const struct clew_seg *s);
const char *clew_seg_path(const struct clew_seg *s);
size_t clew_seg_nblocks(const struct clew_seg *s);
const struct clew_seg_block_meta *clew_seg_block_meta(const struct clew_seg *s, size_t i);

/* Where column c (0..CLEW_SEG_NCOLS-1, in CLEW_COL_* bit order) of block i
 * is stored: file offset, stored (compressed) size and raw size. For tools
 * (stats, damage reports) and tests. Returns 0 or CLEW_EBADARG. */
int clew_seg_block_column(const struct clew_seg *s, size_t i, unsigned c, uint64_t *off,
                          uint64_t *clen, uint64_t *rlen);

/* Label pruning: 1 if block i may hold a record whose label equals
 * value[0..len), 0 if it surely holds none. */
int clew_seg_block_has_label(const struct clew_seg *s, size_t i, enum clew_label label,
                             const char *value, size_t len);

/* Trace index: the blocks that may hold records with this trace id (hash
 * matches; callers compare the id itself). *blocks is clew_malloc'd, sorted
 * ascending, caller frees. Returns 0 or -ENOMEM. */
int clew_seg_trace_blocks(const struct clew_seg *s, const char *id, size_t len, uint32_t **blocks,
                          size_t *n);

/* Like clew_seg_trace_blocks, for the records that link their trace to id
 * (fields "link_id" == id, indexed under clew_seg_link_hash). */
int clew_seg_link_blocks(const struct clew_seg *s, const char *id, size_t len, uint32_t **blocks,
                         size_t *n);

/* Reads block i, decompressing the column groups in cols (CLEW_COL_*);
 * asking for MESSAGE or FIELDS also reads LABELS and IDS (the stored order
 * of those columns depends on the labels, their text refers to the ids).
 * *out is the caller's (clew_seg_block_free). Returns 0, or CLEW_ECORRUPT /
 * -errno / CLEW_EBADARG (no such block) with err naming file and block;
 * *out is then NULL. Any thread, concurrently. */
int clew_seg_block_read(const struct clew_seg *s, size_t i, unsigned cols,
                        struct clew_seg_block **out, char err[CLEW_ERR_LEN]);
void clew_seg_block_free(struct clew_seg_block *b);

/* Reads block i for a trace lookup: decodes the ids column, keeps only the
 * records whose trace_id equals id[0..len) (in block order), and decodes
 * the other column groups in cols for those records alone, so a block
 * without a match costs only its ids column. The block's count is then the
 * number of records kept (0 is not an error). Returns and errors as
 * clew_seg_block_read. */
int clew_seg_block_read_trace(const struct clew_seg *s, size_t i, unsigned cols, const char *id,
                              size_t len, struct clew_seg_block **out, char err[CLEW_ERR_LEN]);

/* Decodes the column groups in cols that b (from clew_seg_block_read or
 * clew_seg_block_read_trace) does not hold yet, and their closure, into b:
 * a scan that read only what its match needs (say ts and message) reads
 * the rest of a block with a match without decoding those columns again.
 * The records and strings already read stay where they are (pointers
 * into b stay valid). Returns 0 or an error as clew_seg_block_read (err
 * names file and block); after an error b may only be freed. One thread
 * per block. */
int clew_seg_block_read_more(struct clew_seg_block *b, unsigned cols, char err[CLEW_ERR_LEN]);

size_t clew_seg_block_count(const struct clew_seg_block *b);
/* Record j of the block; strings borrow the block (valid until it is
 * freed). Column groups that were not read are zero / empty. */
void clew_seg_block_record(const struct clew_seg_block *b, size_t j, struct clew_record *out);

/* The message column as one contiguous buffer, for fast scans: message j is
 * at data[off[j] .. off[j+1]). NULL when CLEW_COL_MESSAGE was not read. */
const char *clew_seg_block_messages(const struct clew_seg_block *b, const uint32_t **off);

#endif
