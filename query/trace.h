/* SPDX-License-Identifier: MIT
 * trace: assembles a request's call chain from its log records: the records
 * in time order and the span tree (per span its service, first and last
 * time, record and error counts), and renders it as a text waterfall or as
 * the `clew trace --json` object. A struct clew_trace owns copies of every
 * record added to it (an arena), so the records handed in are only borrowed
 * until the call returns; clew_trace_free releases everything. Assembly and
 * rendering are pure (no I/O, no globals); the lookup that feeds a trace
 * from a data directory (clew_trace_lookup) lives in cmd_trace.c. One thread
 * at a time per trace. */
#ifndef CLEW_TRACE_H
#define CLEW_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "common/arena.h"
#include "common/buf.h"
#include "query/reader.h"

#define CLEW_TRACE_MAX_IDS     32      /* ids one lookup follows (links)     */
#define CLEW_TRACE_MAX_RECORDS 1000000 /* records one lookup collects        */
#define CLEW_TRACE_ID_MAX      255     /* longest id followed (bytes)        */
#define CLEW_TRACE_RECORD_IDS  4       /* ids clew_trace_record_ids returns  */

/* One node of the span tree. A pseudo-span (span_id empty) groups the
 * records of one service that carry no span id. */
struct clew_trace_span {
    struct clew_str span_id;        /* empty for a service pseudo-span          */
    struct clew_str parent_span_id; /* as the records say (first non-empty)     */
    struct clew_str service;        /* the most frequent; ties: the earliest    */
    int64_t start, end;             /* first and last record ts                 */
    uint64_t records, errors;       /* errors: records with level <= 3          */
    int32_t parent;                 /* index in spans[], -1 for a root          */
    uint32_t depth;                 /* 0 for a root                             */
};

/* An assembled trace. After clew_trace_finish: records[] in time order
 * (ties keep the order they were added in), rec_span[i] the index of
 * record i's span, spans[] in tree pre-order (roots by start time, each
 * span followed by its subtree, children by start time). */
struct clew_trace {
    struct clew_str trace_id; /* the id asked for */
    struct clew_record *records;
    uint32_t *rec_span;
    size_t nrecords;
    struct clew_trace_span *spans;
    size_t nspans;
    int64_t start, end; /* of all records; 0 when there are none */
    /* private */
    size_t cap;
    int finished;
    struct clew_arena arena;
};

/* Creates an empty trace for id (copied). Returns 0 and sets *out, or
 * -ENOMEM (then *out is NULL). */
int clew_trace_new(const char *id, size_t len, struct clew_trace **out);

/* Frees t and everything it owns; NULL is a no-op. */
void clew_trace_free(struct clew_trace *t);

/* Adds a copy of r (borrowed until return). Does not deduplicate: the
 * caller adds each stored record once. Returns 0, -ENOMEM, or CLEW_ECLOSED
 * after clew_trace_finish. */
int clew_trace_add(struct clew_trace *t, const struct clew_record *r);

/* Sorts the records and builds the span tree (see struct clew_trace): a
 * span whose parent_span_id names another span of the trace hangs under
 * it; one whose parent is empty or absent is a root; a parent cycle is cut
 * at its earliest span, which becomes a root. O(n log n). Returns 0 or
 * -ENOMEM (the trace is then only fit for clew_trace_free). */
int clew_trace_finish(struct clew_trace *t);

/* clew_trace_new + clew_trace_add of recs[0..n) + clew_trace_finish. */
int clew_trace_assemble(const char *id, size_t len, const struct clew_record *recs, size_t n,
                        struct clew_trace **out);

/* Appends the `clew trace --json` object of a finished trace, without a
 * newline: {"trace_id", "records": [records as `clew grep --json`],
 * "spans": [{"span_id", "parent_span_id", "service", "start", "end",
 * "records", "errors", "duration_ms", "depth"}]} with start/end RFC 3339
 * UTC with 9 fraction digits, spans in pre-order. Returns 0 or -ENOMEM. */
int clew_trace_render_json(const struct clew_trace *t, struct clew_buf *out);

struct clew_trace_text_opts {
    unsigned width; /* line width the waterfall fits in (min 60)        */
    int spans_only; /* 1: the waterfall without the records              */
};

/* Appends the text rendering of a finished trace: a header line, one
 * waterfall line per span (indented by depth: service, span id or "-",
 * start offset from the trace start, duration, records, errors, a bar over
 * its time range), then, unless spans_only, the records in time order with
 * their span's indentation. Returns 0 or -ENOMEM. */
int clew_trace_render_text(const struct clew_trace *t, const struct clew_trace_text_opts *o,
                           struct clew_buf *out);

/* The ids of a record a lookup follows. */
struct clew_trace_ids {
    size_t n;
    struct clew_str ids[CLEW_TRACE_RECORD_IDS]; /* point into r or into store */
    char store[CLEW_TRACE_RECORD_IDS][CLEW_TRACE_ID_MAX + 1];
};

/* Fills out with r->trace_id (when not empty) followed by the distinct ids
 * r links to: for now the string (or strings of an array) under the key
 * "link_id" in r->fields. Ids that are empty or longer than
 * CLEW_TRACE_ID_MAX are left out. This is the one place that knows where
 * links live. Returns out->n. out is valid as long as r and out are. */
size_t clew_trace_record_ids(const struct clew_record *r, struct clew_trace_ids *out);

/* ---- lookup (cmd_trace.c) ---- */

struct clew_trace_lookup_opts {
    const char *data_dir;
    size_t max_ids;              /* 0: CLEW_TRACE_MAX_IDS                          */
    size_t max_records;          /* 0: CLEW_TRACE_MAX_RECORDS                      */
    int64_t link_window_ns;      /* slack around the chain for the reverse-link scan;
                                    < 0 turns that scan off                        */
    clew_reader_error_cb err_cb; /* damaged segments/blocks; may be NULL       */
    void *ud;
};

struct clew_trace_lookup_stats {
    size_t ids;            /* ids looked up                                   */
    size_t link_scans;     /* reverse-link scans                              */
    int link_scan_skipped; /* the chain spans > 15 min: reverse scan skipped */
    int truncated;         /* a bound (ids or records) was hit                 */
    uint64_t blocks_read, blocks_pruned, records_scanned;
};

/* Looks up id in o->data_dir through the trace index, then follows links
 * breadth-first: every record found contributes its ids
 * (clew_trace_record_ids), and, when o->link_window_ns >= 0, records near
 * the chain in time (its time range widened by that slack) that link to
 * an id of the chain contribute theirs; that reverse scan is skipped when
 * the chain itself spans more than 15 minutes. Each stored record is added once
 * (from the lookup of its own trace id). Bounded by max_ids and
 * max_records. Returns 0 and a finished trace in *out (possibly without
 * records), or a negative error with err set (*out NULL). st may be NULL. */
int clew_trace_lookup(const struct clew_trace_lookup_opts *o, const char *id, size_t len,
                      struct clew_trace **out, struct clew_trace_lookup_stats *st,
                      char err[CLEW_ERR_LEN]);

/* The `clew trace` command (cmd_trace.c); argv[0] is "trace". Returns an
 * exit code: 0 records found, 1 none, 2 error. */
int clew_cmd_trace(int argc, char **argv);

#endif
