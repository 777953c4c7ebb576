/* SPDX-License-Identifier: MIT
 * correlate_scan: the pure half of the correlation stage (correlate.c holds
 * the state and the choices). It finds id candidates in one record's text:
 * traceparent and b3 values (parsed by trace_carrier.h), named keys at any
 * depth of a JSON object, `key=value` / `key: value` and bracketed ids in
 * plain text, and it tells continuation lines and exception headers apart. Candidates
 * are views into the scanned text or the caller's scratch area, valid while
 * both are. No globals, no allocation, no logging: any thread. */
#ifndef CLEW_CORRELATE_SCAN_H
#define CLEW_CORRELATE_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"
#include "collector/trace_carrier.h" /* the carrier parsers the scan calls */

#define CLEW_CORR_MAX_ID       255   /* longest trace/request id kept (bytes)     */
#define CLEW_CORR_MAX_SPAN     64    /* longest span / parent span id kept        */
#define CLEW_CORR_SCAN_MAX     65536 /* message/fields bytes scanned for ids      */
#define CLEW_CORR_SCRATCH_SIZE 4096  /* decoded escaped JSON strings of a record */

/* ------------------------------------------------------------ candidates */

/* How a candidate value is validated and normalised. */
enum clew_corr_kind {
    CLEW_CORR_K_TRACE = 0, /* hex -> lower, 16 hex -> padded to 32; else opaque  */
    CLEW_CORR_K_SPAN,      /* hex -> lower; else opaque (<= CLEW_CORR_MAX_SPAN)  */
    CLEW_CORR_K_DD_TRACE,  /* decimal uint64 -> 16 '0' + 16 hex; else K_TRACE    */
    CLEW_CORR_K_DD_SPAN,   /* decimal uint64 -> 16 hex; else K_SPAN              */
    CLEW_CORR_K_REQ,       /* opaque                                             */
};

/* One candidate value, checked but not yet normalised. */
struct clew_corr_id {
    const char *p;
    uint16_t len; /* 0: empty */
    uint8_t kind; /* enum clew_corr_kind */
    uint8_t rank; /* lower wins */
    uint8_t hex;  /* hex / lower-hex class of the value (private flags) */
};

/* A trace id with its span and parent span. */
struct clew_corr_cand {
    struct clew_corr_id trace, span, parent;
};

/* Carrier groups of one document, in priority order. */
enum {
    CLEW_CORR_GR_NAMED = 0, /* named keys (trace_id, span.id, dd.trace_id, ...) */
    CLEW_CORR_GR_TP,        /* a traceparent value                              */
    CLEW_CORR_GR_B3S,       /* a b3 single value                                */
    CLEW_CORR_GR_B3M,       /* X-B3-TraceId, X-B3-SpanId, X-B3-ParentSpanId      */
    CLEW_CORR_GR_BRK,       /* [app,trace,span] and [trace-span] in text         */
    CLEW_CORR_GR_COUNT
};

/* What one document (the fields, or the message) carries. Zero it before
 * a scan. */
struct clew_corr_doc {
    struct clew_corr_cand g[CLEW_CORR_GR_COUNT];
    struct clew_corr_id req; /* the best request id */
    unsigned tp_seen;        /* traceparent values met */
};

/* Where escaped JSON strings of one record are decoded. Set used to 0
 * before each record. */
struct clew_corr_scratch {
    char buf[CLEW_CORR_SCRATCH_SIZE];
    size_t used;
};

/* Offers p[0..n) (spaces and tabs around it trimmed) as a candidate of the
 * given kind and rank. It replaces *v when v is empty or rank is lower, and
 * the value is usable: not a placeholder ("-", "null", "n/a", ...), not
 * all-zero (except request ids), printable ASCII, at most
 * CLEW_CORR_MAX_SPAN (spans) or CLEW_CORR_MAX_ID bytes; a Datadog kind
 * whose value is not a decimal uint64 becomes the plain kind. *v borrows
 * p. */
void clew_corr_scan_set_id(struct clew_corr_id *v, const char *p, size_t n, uint8_t kind,
                           uint8_t rank);

/* Writes the normalised form of non-empty *v into out, which has room for
 * CLEW_CORR_MAX_ID bytes (hex lower-cased, 16-hex trace ids padded to
 * 32, Datadog decimal ids in hex; other values as they are). Returns its
 * length. */
size_t clew_corr_scan_norm_id(const struct clew_corr_id *v, char *out);

/* Walks the JSON object text s[0..n) (at most CLEW_CORR_SCAN_MAX bytes)
 * into *d, decoding escaped values into *sc. Returns 1 when the whole text
 * was one object (only whitespace after it), 0 otherwise; what was found
 * before an error is kept either way. */
int clew_corr_scan_json(struct clew_corr_scratch *sc, struct clew_corr_doc *d, const char *s,
                        size_t n);

/* Scans plain text m[0..n) (at most CLEW_CORR_SCAN_MAX bytes) into *d:
 * every `key=value` and `key: value` whose key names an id, Sleuth
 * [app,trace,span], Spring Boot "[trace-span] " and, at the start, Rails
 * "[uuid] ". */
void clew_corr_scan_text(struct clew_corr_doc *d, const char *m, size_t n);

/* Ends the scan of *d: two traceparents make both invalid (dropped). */
void clew_corr_scan_finish(struct clew_corr_doc *d);

/* 1 when some carrier group of *d holds a trace id, else 0. */
int clew_corr_scan_has_trace(const struct clew_corr_doc *d);

/* The first occurrence of lit[0..m) in h[0..n), or NULL (also for m 0). */
const char *clew_corr_scan_find(const char *h, size_t n, const char *lit, size_t m);

/* 1 when m[0..n) continues the previous line: it starts with a space or a
 * tab (but not a %5p-padded level such as " INFO "), "at ", "Caused by:",
 * "Suppressed:", "... N more", "Traceback (most recent call last):",
 * "During handling of the above exception" or "The above exception was
 * the direct cause"; else 0. */
int clew_corr_scan_continuation(const char *m, size_t n);

/* 1 when m[0..n) opens an exception: "Exception in thread ", "panic: ",
 * or a dotted identifier containing Exception, Error or Throwable in its
 * last segment at the start of the line, then ':' or the end; else 0. */
int clew_corr_scan_exception_header(const char *m, size_t n);

#endif
