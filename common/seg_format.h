/* SPDX-License-Identifier: MIT
 * seg_format: constants and shared types of the segment file format
 * (docs/FORMAT.md has the byte layout). Written by collector/seg_writer.c,
 * read by query/seg_reader.c. */
#ifndef CLEW_SEG_FORMAT_H
#define CLEW_SEG_FORMAT_H

#include <stdint.h>

#define CLEW_SEG_VERSION 1

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

/* What a segment says about itself (header and footer). */
struct clew_seg_info {
    uint32_t version;
    uint64_t gen;          /* WAL generation the records came from */
    int64_t min_ts;
    int64_t max_ts;
    uint64_t records;
    uint64_t blocks;
    uint64_t raw_bytes;    /* sum of clew_rec_raw_size over records */
    uint64_t file_bytes;   /* size of the file                      */
};

/* Hash of a trace id for the trace index (xxh64, seed 0). */
uint64_t clew_seg_trace_hash(const char *id, size_t len);

#endif
