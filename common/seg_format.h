/* SPDX-License-Identifier: MIT
 * seg_format: constants and shared helpers of the segment file format
 * (docs/FORMAT.md has the byte layout). Written by collector/seg_writer.c,
 * read by query/seg_reader.c. Owns no state; the zstd contexts it creates
 * belong to the caller, who frees them with ZSTD_freeCCtx/ZSTD_freeDCtx.
 * Pure; any thread. */
#ifndef CLEW_SEG_FORMAT_H
#define CLEW_SEG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#define CLEW_SEG_VERSION 2

/* Column groups a reader can ask for (a bit set). */
enum {
    CLEW_COL_TS = 1u << 0,      /* ts                                  */
    CLEW_COL_LABELS = 1u << 1,  /* host, service, container_*, stream  */
    CLEW_COL_META = 1u << 2,    /* level, input, flags                 */
    CLEW_COL_IDS = 1u << 3,     /* trace_id, span_id, parent_span_id   */
    CLEW_COL_MESSAGE = 1u << 4, /* message                             */
    CLEW_COL_FIELDS = 1u << 5,  /* fields                              */
    CLEW_COL_ALL = 0x3f
};

/* Fixed layout constants (docs/FORMAT.md). */
#define CLEW_SEG_NCOLS       6          /* columns per block, in CLEW_COL_* bit order */
#define CLEW_SEG_MAGIC       "CLEW_SEG" /* first 8 bytes of the file (no NUL)        */
#define CLEW_SEG_TAIL_MAGIC  "CLEW_END" /* last 8 bytes of the file (no NUL)         */
#define CLEW_SEG_MAGIC_LEN   8u
#define CLEW_SEG_HEADER_SIZE 32u
#define CLEW_SEG_TAIL_SIZE   56u

/* Format limits; a writer never exceeds them and a reader rejects files that
 * do (CLEW_ECORRUPT), so no size read from a file can make it allocate more. */
#define CLEW_SEG_MAX_BLOCK_RECORDS (1u << 20) /* records per block              */
#define CLEW_SEG_MAX_COLUMN        (1u << 30) /* raw bytes of one column         */
#define CLEW_SEG_MAX_FOOTER        (1u << 28) /* raw bytes of the footer         */
#define CLEW_SEG_MAX_BLOCKS        (1u << 24) /* blocks per segment              */
#define CLEW_SEG_MAX_BUCKET_BITS   24u        /* trace index: log2 of buckets    */
#define CLEW_SEG_MAX_REF_ID        64u        /* longest id stored by reference  */
#define CLEW_SEG_IDS_MTF           256u       /* ids column: move-to-front size  */

/* Kinds of an id in the ids column (the low 2 bits of its header varint). */
enum {
    CLEW_SEG_ID_VERBATIM = 0, /* n bytes as they are (n = 0: empty)            */
    CLEW_SEG_ID_HEX = 1,      /* n binary bytes of a 2n-digit lowercase hex id */
    CLEW_SEG_ID_REF = 2,      /* the block's n-th most recent distinct id      */
};

/* What a segment says about itself (header and footer). */
struct clew_seg_info {
    uint32_t version;
    uint64_t gen; /* WAL generation the records came from */
    int64_t min_ts;
    int64_t max_ts;
    uint64_t records;
    uint64_t blocks;
    uint64_t raw_bytes;  /* sum of clew_rec_raw_size over records */
    uint64_t file_bytes; /* size of the file                      */
};

/* Hash of a trace id for the trace index (xxh64, seed 0). */
uint64_t clew_seg_trace_hash(const char *id, size_t len);

/* Hash under which a record is also indexed when it links its trace to
 * another id (fields "link_id"): xxh64 with its own seed, so a lookup can
 * ask for the records that link to an id apart from those that carry it. */
uint64_t clew_seg_link_hash(const char *id, size_t len);

/* Checksum of stored bytes (columns, header, tail): the low 32 bits of
 * XXH3_64bits. */
uint32_t clew_seg_checksum(const void *p, size_t len);

/* Number of zstd frames (streams) column c is stored as: 1, except ids (2:
 * headers, payloads) and message and fields (4: common/seg_text.h); 0 when
 * c is out of range. */
unsigned clew_seg_col_frames(unsigned c);

/* Name of column c (0..CLEW_SEG_NCOLS-1) for error messages ("time",
 * "labels", "meta", "ids", "message", "fields"); "?" when out of range. */
const char *clew_seg_col_name(unsigned c);

/* zstd contexts whose memory comes from clew_malloc (so allocation-failure
 * tests reach zstd too). NULL on OOM. Free with ZSTD_freeCCtx/ZSTD_freeDCtx. */
ZSTD_CCtx *clew_seg_cctx_new(void);
ZSTD_DCtx *clew_seg_dctx_new(void);

#endif
