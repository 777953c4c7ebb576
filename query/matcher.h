/* SPDX-License-Identifier: MIT
 * matcher: the pattern of a grep query, compiled once: PCRE2 with JIT in
 * byte mode (no UTF: messages may hold any bytes, as GNU grep in the C
 * locale), plus a literal prefilter: the longest literal the pattern
 * requires (the whole pattern for -F), searched with a SIMD pair-of-bytes
 * scan over a block's contiguous message column so PCRE2 runs only on the
 * records that hold it (and not at all when the pattern is that literal).
 * A struct clew_matcher is immutable after clew_matcher_new and shared by
 * threads; each thread matches through its own struct clew_match_ctx. */
#ifndef CLEW_MATCHER_H
#define CLEW_MATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "clew/error.h"

#define CLEW_MATCHER_MATCH_LIMIT 1000000u /* default PCRE2 match limit per record */
#define CLEW_MATCHER_LIT_MAX     255      /* longest prefilter literal kept       */

struct clew_matcher_opts {
    const char *pattern;  /* PCRE2 syntax, or a literal with fixed; "" matches all */
    int icase;            /* -i: ASCII case folding, as grep in the C locale       */
    int fixed;            /* -F                                                    */
    uint32_t match_limit; /* 0: CLEW_MATCHER_MATCH_LIMIT                           */
};

/* Candidate states of clew_matcher_candidates. */
enum { CLEW_MATCH_NO = 0, CLEW_MATCH_MAYBE = 1, CLEW_MATCH_YES = 2 };

struct clew_matcher;
struct clew_match_ctx;

/* Compiles o (the pattern is copied). A bad pattern gives CLEW_EBADARG with
 * err "bad pattern at offset N: reason"; -ENOMEM otherwise. *out is NULL
 * on error. */
int clew_matcher_new(const struct clew_matcher_opts *o, struct clew_matcher **out,
                     char err[CLEW_ERR_LEN]);
/* NULL-safe; every context made from m must be freed first. */
void clew_matcher_free(struct clew_matcher *m);

/* 1 when the pattern is empty (every record matches). */
int clew_matcher_matches_all(const struct clew_matcher *m);

/* The prefilter literal (NULL, *len 0 when there is none); lowercase when
 * the matcher folds case. *pure is 1 when a hit alone decides the match. */
const char *clew_matcher_literal(const struct clew_matcher *m, size_t *len, int *pure);

/* Per-thread match state (PCRE2 match data, JIT stack, limits). */
int clew_match_ctx_new(const struct clew_matcher *m, struct clew_match_ctx **out);
void clew_match_ctx_free(struct clew_match_ctx *c);

/* Runs the pattern on s[0..len). Returns 1 match, 0 no match, CLEW_ETOOBIG
 * when the match limit or the JIT stack ran out (err says which), or
 * another negative PCRE2 failure as CLEW_EBADARG with err set. */
int clew_match_run(struct clew_match_ctx *c, const char *s, size_t len, char err[CLEW_ERR_LEN]);

/* The first match in s[0..len) at or after start: 1 with [*so, *eo) set,
 * 0 when there is none, or an error of clew_match_run. For highlighting;
 * an empty pattern gives no match. */
int clew_match_span(struct clew_match_ctx *c, const char *s, size_t len, size_t start, size_t *so,
                    size_t *eo, char err[CLEW_ERR_LEN]);

/* Prefilters n records held back to back: record j is
 * data[off[j] .. off[j+1]). Sets cand[j] to CLEW_MATCH_NO (surely no
 * match), CLEW_MATCH_MAYBE (run clew_match_run) or CLEW_MATCH_YES (surely
 * a match). Returns the number of records not set to NO. Pure; any thread. */
size_t clew_matcher_candidates(const struct clew_matcher *m, const char *data, const uint32_t *off,
                               size_t n, uint8_t *cand);

/* Whether one record matches (prefilter, then PCRE2): 1, 0 or an error
 * of clew_match_run. */
int clew_match_one(struct clew_match_ctx *c, const char *s, size_t len, char err[CLEW_ERR_LEN]);

/* The required literal of a PCRE2 pattern, found by a small parser that
 * understands concatenation, escapes, classes, groups and quantifiers: the
 * longest run of literal bytes every match must contain, copied to
 * lit (at most CLEW_MATCHER_LIT_MAX bytes). Returns its length (0: none,
 * e.g. top-level alternation or inline options); *pure is set to 1 when the
 * pattern is exactly that literal. Exposed for tests. */
size_t clew_matcher_required_literal(const char *pattern, size_t len, char *lit, int *pure);

/* Finds needle[0..nlen) (nlen >= 1) in hay[0..len); icase folds ASCII
 * letters (needle must then be lowercase). Returns the offset of the first
 * occurrence, or -1. Exposed for tests and benchmarks. */
long clew_matcher_find(const char *hay, size_t len, const char *needle, size_t nlen, int icase);

#endif
