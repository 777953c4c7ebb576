/* SPDX-License-Identifier: MIT
 * correlate: the stage between decoding and storage that gives every record
 * its trace id. It propagates the id a record carries (its own ids, named
 * `fields`, JSON inside the message, W3C traceparent, B3, text patterns and
 * user PCRE2 patterns), lets continuation lines (stack-trace frames) inherit
 * the ids of the previous record of their stream, and injects a fresh
 * time-ordered id into the rest (see specs/correlation.md and DESIGN.md).
 * A correlator owns its compiled patterns and per-stream state; the ids it
 * writes into a record live in the caller's arena. Loop thread only: it is
 * not thread-safe. The scanning (correlate_scan.h) and the carrier parsers
 * (traceparent, tracestate, b3: trace_carrier.h) are pure and any-thread. */
#ifndef CLEW_CORRELATE_H
#define CLEW_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "collector/correlate_scan.h" /* CLEW_CORR_MAX_ID, _SPAN, _SCAN_MAX */
#include "collector/trace_carrier.h"  /* traceparent, tracestate, b3 */
#include "common/arena.h"

#define CLEW_CORR_MAX_PATTERNS      32 /* user patterns */
#define CLEW_CORR_DEFAULT_WINDOW_NS (2 * INT64_C(1000000000))
#define CLEW_CORR_DEFAULT_STREAMS   10000

/* Where the trace id of a record came from. The carrier wins over the
 * place: a traceparent or b3 value gives TRACEPARENT or B3 wherever it was
 * (fields, message JSON, text); otherwise the place names the source. */
enum clew_corr_source {
    CLEW_CORR_NONE = 0,         /* no id (inject off, nothing to inherit)          */
    CLEW_CORR_RECORD = 1,       /* the input already set trace_id                  */
    CLEW_CORR_FIELD = 2,        /* a named key in `fields` (trace_id, request_id..) */
    CLEW_CORR_MESSAGE_JSON = 3, /* a named key in a message that is a JSON object  */
    CLEW_CORR_TRACEPARENT = 4,  /* a W3C traceparent value                         */
    CLEW_CORR_B3 = 5,           /* a B3 single value or X-B3-* keys                */
    CLEW_CORR_TEXT = 6,         /* a default text pattern in the message           */
    CLEW_CORR_USER = 7,         /* a user pattern                                  */
    CLEW_CORR_INHERITED = 8,    /* taken from the previous record of the stream    */
    CLEW_CORR_INJECTED = 9,     /* generated                                        */
    CLEW_CORR_SOURCE_COUNT_ = 10
};

/* Returns a static lower-case name of a source ("traceparent", ...). */
const char *clew_corr_source_name(unsigned source);

struct clew_correlate_opts {
    /* User text patterns (PCRE2, borrowed until clew_correlator_new
     * returns), each with a named group `id` and optional groups `span` and
     * `parent`. A pattern with a `span` group gives a trace id (hex is
     * normalised like trace_id=); one without gives an opaque request id.
     * They run after the default patterns, first match wins. */
    const char *const *patterns;
    size_t npatterns;
    /* Continuation lines inherit only within this distance (record ts) of
     * the previous record of their stream; <= 0 turns inheritance off. */
    int64_t window_ns;
    size_t max_streams; /* streams remembered for inheritance (LRU); 0 = off */
    int inject;         /* 1: give records without an id a fresh one           */
    uint64_t seed;      /* 0: ids from getrandom(); else deterministic (tests) */
};

/* Fills o with the defaults: no user patterns, window 2 s, 10000 streams,
 * inject on, seed 0. */
void clew_correlate_opts_default(struct clew_correlate_opts *o);

/* What clew_correlate found besides the ids it wrote into the record. */
struct clew_correlation {
    int source;              /* enum clew_corr_source of trace_id             */
    struct clew_str link_id; /* a second, different id the record carries
                                (a request id next to a trace id); empty when
                                none; in the caller's arena                   */
};

struct clew_correlator;

/* Creates a correlator from opts (NULL = defaults; copied). Returns 0 and
 * sets *out; CLEW_EBADARG with err naming the pattern and the offset when a
 * pattern does not compile, lacks the `id` group or there are too many;
 * -ENOMEM. On error *out is NULL. err may be NULL. */
int clew_correlator_new(const struct clew_correlate_opts *opts, struct clew_correlator **out,
                        char err[CLEW_ERR_LEN]);

/* Frees c and everything it owns; NULL is a no-op. */
void clew_correlator_free(struct clew_correlator *c);

/* Sets r->trace_id, span_id and parent_span_id and the flags
 * CLEW_REC_INHERITED / CLEW_REC_INJECTED (cleared first), and fills *out
 * (may be NULL). Order: the record's own trace_id; named `fields` keys at
 * any depth, then a traceparent, b3 and X-B3-* there; the same in the
 * message when it is a JSON object, else the default text patterns
 * (traceparent:, b3:, trace_id=, [app,trace,span], request_id=, ...); user
 * patterns. A trace-like id (named trace, traceparent, B3, a pattern with a
 * span) beats a request id, which then becomes out->link_id. Hex ids are
 * lower-cased, 16-hex trace ids padded to 32, Datadog decimal ids turned
 * into hex, all-zero ids ignored; request ids are kept as opaque strings
 * (<= 255 printable bytes, no spaces).
 * Without an id: a continuation line (leading space or tab, but not a
 * level right-aligned by a %5p layout such as " INFO [app,,] ..."; "at ",
 * "Caused by:", "Suppressed:", "... N more", "Traceback (most recent call
 * last):", "During handling ...", "The above exception ...") within the
 * window of the previous record of its stream (host, service, container_id,
 * stream) inherits that record's ids; so does an exception header
 * ("java.lang.IllegalStateException: boom", "ValueError: x": a dotted
 * identifier containing Exception/Error/Throwable at the start of the
 * line, then ':' or the end) when that previous record carried an id that
 * was not injected and either had level <= 4 or was itself inherited;
 * otherwise, with inject on, a fresh id (32 hex) is injected.
 * The record's new strings live in arena until it is reset; r's other
 * strings are only read. Returns 0, or -ENOMEM (arena exhausted: r keeps
 * its original ids and flags, the stream state is unchanged). */
int clew_correlate(struct clew_correlator *c, struct clew_record *r, struct clew_arena *arena,
                   struct clew_correlation *out);

#endif
