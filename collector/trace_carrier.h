/* SPDX-License-Identifier: MIT
 * trace_carrier: parsers for one value of a trace-context carrier header,
 * per the correlation spec: W3C traceparent and tracestate, B3 single and
 * X-B3-Sampled. Each reads one header value already cut from its record
 * and knows nothing of keys, JSON or text (correlate_scan.c finds the
 * values; trace_id.c makes new ids). The names keep the clew_corr_ prefix
 * of the correlation stage they serve. Pure, no allocation: any thread. */
#ifndef CLEW_TRACE_CARRIER_H
#define CLEW_TRACE_CARRIER_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"
#include "clew/record.h"

/* A parsed W3C traceparent. */
struct clew_corr_traceparent {
    char trace_id[33]; /* 32 lowercase hex + NUL */
    char span_id[17];  /* the parent-id field: the caller's span */
    uint8_t version;
    uint8_t flags; /* bit 0 sampled, bit 1 random trace id */
};

/* Validates a traceparent value exactly per W3C Trace Context (spaces and
 * tabs around it trimmed; version ff, uppercase, zero ids, wrong lengths or
 * dashes refused; version 00 exactly 55 chars; higher versions may go on
 * after a '-'). Returns 0 and fills *out (may be NULL), or CLEW_EFORMAT. */
int clew_corr_traceparent_parse(const char *s, size_t len, struct clew_corr_traceparent *out);

/* Splits a tracestate value into at most max members (trimmed; empty
 * members skipped), first = left-most. Returns the member count, or
 * CLEW_EFORMAT when a member is malformed or there are more than 32 (then
 * the whole tracestate is to be discarded). */
int clew_corr_tracestate_parse(const char *s, size_t len, struct clew_str *members, size_t max);

/* A parsed B3 value. Empty strings when absent. */
struct clew_corr_b3 {
    char trace_id[33]; /* 16-hex trace ids left-padded with 16 '0' */
    char span_id[17];
    char parent_span_id[17];
    int sampled; /* 1 accept, 0 deny, 2 debug, -1 defer */
};

/* A b3 single value as views into the caller's text (no copies, no
 * padding). NULL views when absent. */
struct clew_corr_b3_view {
    const char *trace, *span, *parent; /* span and parent: 16 hex */
    size_t tlen;                       /* trace: 16 or 32 hex     */
    int sampled;                       /* as in struct clew_corr_b3 */
};

/* Parses a b3 single-header value: {TraceId}-{SpanId}[-{Sampled}[-{Parent}]]
 * or just a sampling state ("0", "1", "d"). Returns 0 (ids may be empty
 * for a bare sampling state) or CLEW_EFORMAT. */
int clew_corr_b3_parse(const char *s, size_t len, struct clew_corr_b3 *out);

/* What clew_corr_b3_parse checks, with *v set to views into s[0..len)
 * (valid while s is) instead of copies: for callers that keep the ids as
 * views. Returns 0, or CLEW_EFORMAT (then *v is not to be used). */
int clew_corr_b3_split(const char *s, size_t len, struct clew_corr_b3_view *v);

/* An X-B3-Sampled value: 1 for "1"/"true", 0 for "0"/"false" (any case),
 * -1 otherwise. */
int clew_corr_b3_sampled(const char *s, size_t len);

#endif
