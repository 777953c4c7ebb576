/* SPDX-License-Identifier: MIT
 * engine: runs a grep-style query over a data directory: plans (time range
 * -> hour partitions -> segments -> blocks, pruned by time, labels and the
 * trace index), scans the blocks on all cores with PCRE2 JIT behind a
 * literal prefilter on the message column, and hands the matches to the
 * caller merged in time order (oldest first, or newest first). The live
 * WAL of a running collector is included, as query/reader.c does. A query
 * holds its compiled pattern; one query may run once at a time.
 * Thread-safety: clew_query_run uses worker threads internally; the emit
 * callback is always called from the calling thread. */
#ifndef CLEW_ENGINE_H
#define CLEW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "query/reader.h"

struct clew_query_spec {
    struct clew_filter filter; /* time, labels, trace id; cols = columns wanted */
    const char *pattern;       /* PCRE2; "" matches every record               */
    int icase;                 /* -i */
    int invert;                /* -v */
    int fixed;                 /* -F: pattern is a literal                     */
    int level_max;             /* records with level <= this; -1: any          */
    int64_t max_count;         /* -m: stop after this many; -1: no limit       */
    int reverse;               /* newest first                                 */
    int64_t time_limit_ns;     /* give up after this long; 0: no limit         */
    uint32_t match_limit;      /* PCRE2 match limit per record; 0: default     */
    unsigned threads;          /* scan threads; 0: one per core                */
};

/* Fills spec with defaults: all time, no filter, empty pattern, all
 * columns, level any, no limits, oldest first. */
void clew_query_spec_init(struct clew_query_spec *spec);

struct clew_query;

/* Compiles spec (copied; the pattern too). A bad pattern gives CLEW_EBADARG
 * with err "bad pattern at offset N: reason". */
int clew_query_new(const struct clew_query_spec *spec, struct clew_query **out,
                   char err[CLEW_ERR_LEN]);
void clew_query_free(struct clew_query *q);

struct clew_query_stats {
    uint64_t segments, blocks_read, blocks_pruned;
    uint64_t records_scanned, matched;
    uint64_t raw_bytes_scanned; /* message bytes the matcher looked at */
    uint64_t errors;            /* damaged segments/blocks skipped      */
    int timed_out;
};

/* Called for each match, in time order (reverse: newest first); r borrows
 * memory valid until return. A non-zero return stops the query and is
 * returned by clew_query_run. */
typedef int (*clew_query_emit_cb)(void *ud, const struct clew_record *r);

/* Runs q over data_dir. on_damage (may be NULL) gets a line per damaged
 * segment or block skipped. Returns 0; emit's non-zero value; CLEW_ETIMEDOUT
 * ... see the implementation for the full list, with err set. */
int clew_query_run(struct clew_query *q, const char *data_dir, clew_query_emit_cb emit,
                   clew_reader_error_cb on_damage, void *ud, struct clew_query_stats *st,
                   char err[CLEW_ERR_LEN]);

#endif
