/* SPDX-License-Identifier: MIT
 * engine: runs a grep-style query over a data directory: plans (time range
 * -> hour partitions -> segments -> blocks, pruned by time, labels and the
 * trace index), scans the blocks on all cores with PCRE2 JIT behind a
 * literal prefilter on the message column (query/matcher.h), and hands the
 * matches to the caller merged in time order (oldest first, or newest
 * first), streaming: blocks are taken in time order with a bounded window
 * in flight, so memory stays bounded and -m N stops after the first N.
 * The live WAL of a running collector is included with query/reader.h's
 * rule: the WAL is read before the segments are listed, and WAL records
 * whose (hour, generation) has a segment are skipped.
 * A query holds its compiled pattern and copies of the spec's strings; one
 * query runs once at a time. clew_query_run starts worker threads for the
 * scan and joins them before it returns; emit, on_damage and progress are
 * always called from the calling thread. */
#ifndef CLEW_ENGINE_H
#define CLEW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "query/reader.h"

struct clew_query_stats {
    uint64_t partitions, segments, blocks_read, blocks_pruned;
    uint64_t records_scanned, matched;
    uint64_t wal_records;       /* matches taken from the WAL           */
    uint64_t raw_bytes_scanned; /* message bytes the matcher looked at  */
    uint64_t errors;            /* damaged segments/blocks skipped      */
    int timed_out;
};

/* Progress of a running query: done is the share of the hour partitions
 * scanned so far, 0..1. */
typedef void (*clew_query_progress_cb)(void *ud, const struct clew_query_stats *st, double done);

struct clew_query_spec {
    struct clew_filter filter;       /* time, labels, trace id; cols = columns emitted */
    const char *pattern;             /* PCRE2; "" matches every record               */
    int icase;                       /* -i: ASCII case folding                       */
    int invert;                      /* -v                                           */
    int fixed;                       /* -F: pattern is a literal                     */
    int level_max;                   /* records with level <= this; -1: any          */
    int64_t max_count;               /* -m: stop after this many; -1: no limit       */
    int reverse;                     /* newest first                                 */
    int count_only;                  /* -c: only count (st->matched); emit unused    */
    int64_t time_limit_ns;           /* give up after this long; 0: no limit         */
    uint32_t match_limit;            /* PCRE2 match limit per record; 0: default     */
    unsigned threads;                /* scan threads; 0: one per core                */
    clew_query_progress_cb progress; /* may be NULL                            */
    int64_t progress_ns;             /* interval between progress calls (0: 250 ms)  */
};

/* Fills spec with defaults: all time, no filter, empty pattern, all
 * columns, level any, no limits, oldest first, no progress. */
void clew_query_spec_init(struct clew_query_spec *spec);

struct clew_query;

/* Compiles spec (copied: the pattern, labels and trace id too). A bad
 * pattern gives CLEW_EBADARG with err "bad pattern at offset N: reason";
 * a level outside -1..7 or a label longer than 4 KiB CLEW_EBADARG too;
 * -ENOMEM. *out is NULL on error. */
int clew_query_new(const struct clew_query_spec *spec, struct clew_query **out,
                   char err[CLEW_ERR_LEN]);
/* NULL-safe. */
void clew_query_free(struct clew_query *q);

/* Asks q to stop: a clew_query_run in progress stops taking blocks and
 * emitting (an emit call in progress finishes), waits for the blocks in
 * flight and returns -ECANCELED ("query cancelled"), within about one
 * block's scan time; a later run returns it at once (the request is over:
 * free q). For a
 * caller whose consumer left, e.g. an HTTP client that disconnected while
 * a scan found nothing to send. Any thread, at any time before
 * clew_query_free; async-signal-safe (one atomic store). */
void clew_query_cancel(struct clew_query *q);

/* Called for each match, in time order (reverse: newest first; records of
 * equal ts keep their storage order); r borrows memory valid until return.
 * A non-zero return stops the query and is returned by clew_query_run. */
typedef int (*clew_query_emit_cb)(void *ud, const struct clew_record *r);

/* Runs q over data_dir, calling emit (unused with count_only) for every
 * match, up to max_count. on_damage (may be NULL) gets a line per damaged
 * segment or block skipped; the scan goes on. st (may be NULL) is filled
 * in every case. Returns 0 when the scan completed or stopped at
 * max_count; emit's non-zero value; -ETIMEDOUT when time_limit_ns passed
 * ("query time limit of N s exceeded"); -ECANCELED after clew_query_cancel;
 * CLEW_ETOOBIG when PCRE2 hit its match limit or JIT stack on a record
 * ("pattern too complex: ...");
 * -ENOMEM, or -errno when data_dir cannot be read; err says why for every
 * negative value. Partial results were emitted before an error. */
int clew_query_run(struct clew_query *q, const char *data_dir, clew_query_emit_cb emit,
                   clew_reader_error_cb on_damage, void *ud, struct clew_query_stats *st,
                   char err[CLEW_ERR_LEN]);

#endif
