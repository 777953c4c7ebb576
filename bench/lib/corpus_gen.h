/* SPDX-License-Identifier: MIT
 * corpus_gen: a deterministic generator of the logs of a simulated
 * microservice shop (gateway, auth, orders, payments, ...), for benchmarks
 * and for correctness tests of correlation and trace assembly. The same
 * options (seed included) and the same template files give byte-identical
 * records; it has its own PRNG and never calls rand(). It owns every string
 * it hands out (valid until the next call) and writes the ground truth of
 * each request (its ids and span tree) to a FILE the caller lends. One
 * thread at a time per generator. */
#ifndef CLEW_CORPUS_GEN_H
#define CLEW_CORPUS_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "clew/error.h"
#include "clew/record.h"

#define CLEW_GEN_MIN_SERVICES 8
#define CLEW_GEN_MAX_SERVICES 12

struct clew_gen;

struct clew_gen_opts {
    uint64_t seed;          /* everything derives from it                         */
    uint64_t records;       /* records to generate                                */
    int64_t start_ns;       /* time of the first record (ns since the epoch, UTC) */
    uint32_t rate;          /* records per simulated second (average)            */
    unsigned services;      /* CLEW_GEN_MIN_SERVICES..CLEW_GEN_MAX_SERVICES       */
    double no_id_fraction;  /* share of records carrying no id, 0..0.9            */
    double error_rate;      /* share of spans that fail, 0..0.5                   */
    double noise;           /* share of numbers in loghub lines redrawn, 0..1     */
    int resolved_ids;       /* 1: records carry their true ids (see below)        */
    const char *loghub_dir; /* dir of <System>_2k.log; NULL: built-in lines only  */
    FILE *truth;            /* borrowed; NULL: no truth output                    */
};

/* Per-record truth: what correlation should attach to the current record.
 * Strings are valid until the next clew_gen_next call. */
struct clew_gen_truth {
    struct clew_str trace_id;       /* canonical 32-hex W3C trace id; empty: none */
    struct clew_str span_id;        /* 16 hex; empty when trace_id is             */
    struct clew_str parent_span_id; /* 16 hex; empty for a root span              */
    uint64_t request;               /* request number from 1; 0: not a request's  */
    int carries_id;                 /* the raw record (message/fields) holds some id   */
    int continuation;               /* a stack-trace line after the first: no id,
                                       inherits the previous record's of its stream    */
};

/* Fills o with the defaults: seed 1, 1000 records, start
 * 2026-11-28T20:57:00Z, 2000 records/s, 10 services, 20 % without id,
 * 2 % failing spans, noise 0.5, raw ids, no loghub dir, no truth file. */
void clew_gen_opts_default(struct clew_gen_opts *o);

/* Builds a generator from a copy of *o (loghub_dir is read here; truth is
 * borrowed until clew_gen_free). Returns 0 and sets *out, or CLEW_EBADARG
 * for an option out of range, a negative errno when a loghub file cannot be
 * read, -ENOMEM; then *out is NULL and err says why. */
int clew_gen_new(const struct clew_gen_opts *o, struct clew_gen **out, char err[CLEW_ERR_LEN]);

/* Frees g and everything it owns; NULL is a no-op. Does not close truth. */
void clew_gen_free(struct clew_gen *g);

/* Produces the next record into *out (its strings are owned by g and valid
 * until the next call). Records come in non-decreasing ts order; the records
 * of concurrent requests interleave; the lines of a stack trace follow each
 * other with nothing in between. In resolved mode (opts.resolved_ids)
 * out->trace_id/span_id/parent_span_id hold the truth (continuation lines
 * too, flagged CLEW_REC_INHERITED); in raw mode they are empty and the ids
 * are only in the message or fields. Returns 1 while records remain, 0 at
 * the end (after writing the truth of the requests still open), or a
 * negative error when writing the truth failed (-EIO). */
int clew_gen_next(struct clew_gen *g, struct clew_record *out);

/* The truth of the record the last clew_gen_next returned. */
void clew_gen_record_truth(const struct clew_gen *g, struct clew_gen_truth *out);

/* Truth file format: one JSON object a line per request, written when its
 * last record was produced (or at the end for requests cut short):
 *   {"trace_id":"<32 hex>","ids":["<trace id>"(,"<request id>")],
 *    "records":N,"errors":N,
 *    "spans":[{"span_id":"<16 hex>","parent_span_id":"<16 hex>|",
 *              "service":"orders","records":N,"errors":N,
 *              "start":"<RFC 3339 ns>","end":"<RFC 3339 ns>"},...]}
 * records counts every record that belongs to the request (stack-trace
 * continuation lines included), errors those with level <= 3; start/end
 * are the first and last record times of the span (empty when a span got no
 * record because the corpus ended first). */

#endif
