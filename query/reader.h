/* SPDX-License-Identifier: MIT
 * reader: reads the records of a data directory that match a filter: the
 * sealed segments of the hour partitions in the time range (pruned by time,
 * labels and the trace index, decompressing only the columns needed), then
 * the records still in the WAL of a running (or crashed) collector, so a
 * record is visible within a second of its arrival. It never writes to the
 * directory and never blocks the writer.
 *
 * Consistency with a concurrent seal: the WAL is read before the segments
 * are listed, and WAL records whose (hour, generation) already has a
 * segment are skipped, so no record is missed or seen twice.
 *
 * Damage: a segment that does not open or a block that does not read is
 * reported through the error callback (naming file and block), counted,
 * and skipped; the scan goes on. Single-threaded; no shared state. */
#ifndef CLEW_READER_H
#define CLEW_READER_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"

struct clew_filter {
    int64_t since;                            /* inclusive; INT64_MIN for all  */
    int64_t until;                            /* inclusive; INT64_MAX for all  */
    struct clew_str labels[CLEW_LABEL_COUNT]; /* exact match where label_mask  */
    unsigned label_mask;                      /* bit i: filter on labels[i]    */
    struct clew_str trace_id;                 /* exact match when len > 0      */
    int with_links;   /* trace_id also matches records linking to it (their
                         fields "link_id"; see common/rec_copy.h)             */
    unsigned cols;    /* CLEW_COL_* the caller needs in the records it gets */
    int skip_wal;     /* segments only                                       */
};

/* Sets f to match everything with all columns. */
void clew_filter_init(struct clew_filter *f);

/* 1 if r matches f's time, label and trace conditions. */
int clew_filter_match(const struct clew_filter *f, const struct clew_record *r);

struct clew_reader_stats {
    uint64_t partitions;
    uint64_t segments;
    uint64_t segments_pruned;
    uint64_t blocks_read;
    uint64_t blocks_pruned;
    uint64_t wal_records;
    uint64_t records;    /* delivered to the callback */
    uint64_t errors;     /* damaged segments and blocks skipped */
};

/* Gets each matching record; r borrows memory valid until return. A
 * non-zero return stops the scan and is returned by clew_reader_scan. */
typedef int (*clew_reader_record_cb)(void *ud, const struct clew_record *r);
/* Gets a line about a damaged segment or block that was skipped. */
typedef void (*clew_reader_error_cb)(void *ud, const char *msg);

/* Scans data_dir. Segments come first, in (hour, first-ts) order with
 * records in time order within each segment, then WAL records in arrival
 * order. err_cb may be NULL; st may be NULL. Returns 0, the callback's
 * non-zero value, or a negative error for a directory that cannot be read
 * (ENOMEM, EACCES). */
int clew_reader_scan(const char *data_dir, const struct clew_filter *f,
                     clew_reader_record_cb cb, clew_reader_error_cb err_cb, void *ud,
                     struct clew_reader_stats *st);

#endif
