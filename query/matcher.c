/* SPDX-License-Identifier: MIT */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "query/matcher.h"

#include <errno.h>
#include <immintrin.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

#define JIT_STACK_MIN (32u << 10)
#define JIT_STACK_MAX (8u << 20)

/* A literal searcher: the needle and the two bytes of it the scan looks
 * for first (the rarest ones, at positions i1 and i2). */
struct finder {
    char needle[CLEW_MATCHER_LIT_MAX];
    size_t nlen;
    int icase;
    size_t i1, i2;
};

struct clew_matcher {
    pcre2_code *re; /* NULL when the pattern is empty */
    uint32_t match_limit;
    int all;           /* empty pattern */
    int pure;          /* a literal hit decides the match */
    struct finder lit; /* nlen 0: no prefilter */
};

struct clew_match_ctx {
    const struct clew_matcher *m;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *stack;
};

/* ---- the literal search ---- */

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static unsigned char fold(unsigned char c)
{
    return is_upper(c) ? (unsigned char)(c + 32) : c;
}

/* How common a byte is in log text (higher: more common). */
static int byte_rank(unsigned char c, int icase)
{
    static const char by_freq[] = "etaoinsrhldcumfpgwybvkxjqz";
    if (c == ' ') {
        return 255;
    }
    if (c >= 'a' && c <= 'z') {
        return 240 - 3 * (int)(strchr(by_freq, c) - by_freq) + (icase ? 8 : 0);
    }
    if (c >= '0' && c <= '9') {
        return 200;
    }
    if (is_upper(c)) {
        return icase ? byte_rank(fold(c), 1) : 120;
    }
    if (c != '\0' && strchr("=:/.,-_\"'", c) != NULL) {
        return 180;
    }
    return c >= 0x21 && c < 0x7f ? 100 : 40;
}

static void finder_init(struct finder *f, const char *needle, size_t n, int icase)
{
    f->nlen = n;
    f->icase = icase;
    for (size_t i = 0; i < n; i++) {
        f->needle[i] = icase ? (char)fold((unsigned char)needle[i]) : needle[i];
    }
    size_t r1 = 0;
    for (size_t i = 1; i < n; i++) {
        if (byte_rank((unsigned char)f->needle[i], icase) <
            byte_rank((unsigned char)f->needle[r1], icase)) {
            r1 = i;
        }
    }
    size_t r2 = r1;
    for (size_t i = 0; i < n; i++) {
        if (i != r1 && (r2 == r1 || byte_rank((unsigned char)f->needle[i], icase) <
                                        byte_rank((unsigned char)f->needle[r2], icase))) {
            r2 = i;
        }
    }
    f->i1 = r1;
    f->i2 = r2;
}

static int verify(const struct finder *f, const char *p)
{
    if (!f->icase) {
        return memcmp(p, f->needle, f->nlen) == 0;
    }
    for (size_t i = 0; i < f->nlen; i++) {
        if (fold((unsigned char)p[i]) != (unsigned char)f->needle[i]) {
            return 0;
        }
    }
    return 1;
}

static __m128i eq_byte(__m128i v, unsigned char c, int icase)
{
    __m128i e = _mm_cmpeq_epi8(v, _mm_set1_epi8((char)c));
    if (icase && c >= 'a' && c <= 'z') {
        e = _mm_or_si128(e, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)(c - 32))));
    }
    return e;
}

/* 16 positions at a time: a candidate holds both chosen bytes at their
 * offsets; candidates are then compared in full. */
static long find_simd(const struct finder *f, const char *hay, size_t len, size_t *at)
{
    const unsigned char b1 = (unsigned char)f->needle[f->i1];
    const unsigned char b2 = (unsigned char)f->needle[f->i2];
    size_t last = len - f->nlen - 15, i = 0;
    for (; i <= last; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(hay + i + f->i1));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(hay + i + f->i2));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(eq_byte(a, b1, f->icase), eq_byte(b, b2, f->icase)));
        while (m != 0) {
            size_t k = i + (size_t)__builtin_ctz(m);
            if (verify(f, hay + k)) {
                return (long)k;
            }
            m &= m - 1;
        }
    }
    *at = i;
    return -1;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define HAVE_AVX2_PATH 1

__attribute__((target("avx2"))) static __m256i eq_byte32(__m256i v, unsigned char c, int icase)
{
    __m256i e = _mm256_cmpeq_epi8(v, _mm256_set1_epi8((char)c));
    if (icase && c >= 'a' && c <= 'z') {
        e = _mm256_or_si256(e, _mm256_cmpeq_epi8(v, _mm256_set1_epi8((char)(c - 32))));
    }
    return e;
}

/* find_simd, 32 positions at a time, on CPUs with AVX2 (have_avx2). */
__attribute__((target("avx2"))) static long find_avx2(const struct finder *f, const char *hay,
                                                      size_t len, size_t *at)
{
    const unsigned char b1 = (unsigned char)f->needle[f->i1];
    const unsigned char b2 = (unsigned char)f->needle[f->i2];
    size_t last = len - f->nlen - 31, i = 0;
    for (; i <= last; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(hay + i + f->i1));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(hay + i + f->i2));
        unsigned m = (unsigned)_mm256_movemask_epi8(
            _mm256_and_si256(eq_byte32(a, b1, f->icase), eq_byte32(b, b2, f->icase)));
        while (m != 0) {
            size_t k = i + (size_t)__builtin_ctz(m);
            if (verify(f, hay + k)) {
                return (long)k;
            }
            m &= m - 1;
        }
    }
    *at = i;
    return -1;
}

static int have_avx2(void)
{
    static atomic_int known; /* 0: not asked yet, 1: no, 2: yes */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k == 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx2") ? 2 : 1;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k == 2;
}
#endif

/* The byte-at-a-time search from position i on: the tail the SIMD loops
 * leave. */
static long find_tail(const struct finder *f, const char *hay, size_t len, size_t i)
{
    const unsigned char b1 = (unsigned char)f->needle[f->i1];
    for (; i + f->nlen <= len; i++) {
        unsigned char c = (unsigned char)hay[i + f->i1];
        if ((f->icase ? fold(c) : c) == b1 && verify(f, hay + i)) {
            return (long)i;
        }
    }
    return -1;
}

static long finder_find(const struct finder *f, const char *hay, size_t len)
{
    if (len < f->nlen) {
        return -1;
    }
    size_t i = 0;
    long k = -1;
    int wide = 0;
#ifdef HAVE_AVX2_PATH
    wide = len >= f->nlen + 31 && have_avx2();
    if (wide) {
        k = find_avx2(f, hay, len, &i);
    }
#endif
    if (!wide && len >= f->nlen + 15) {
        k = find_simd(f, hay, len, &i);
    }
    return k >= 0 ? k : find_tail(f, hay, len, i);
}

long clew_matcher_find(const char *hay, size_t len, const char *needle, size_t nlen, int icase)
{
    struct finder f;
    if (nlen == 0 || nlen > CLEW_MATCHER_LIT_MAX) {
        return nlen == 0 ? 0 : -1;
    }
    finder_init(&f, needle, nlen, icase);
    return finder_find(&f, hay, len);
}

/* ---- the required literal ---- */

struct litp {
    const char *p;
    size_t len, i;
    char cur[CLEW_MATCHER_LIT_MAX];
    size_t ncur;
    char *best;
    size_t nbest;
    int impure; /* something other than the one literal run was seen */
    int runs;
};

static void flush(struct litp *lp)
{
    if (lp->ncur > lp->nbest) {
        memcpy(lp->best, lp->cur, lp->ncur);
        lp->nbest = lp->ncur;
    }
    lp->runs += lp->ncur > 0;
    lp->ncur = 0;
}

static void add_char(struct litp *lp, char c)
{
    if (lp->ncur == CLEW_MATCHER_LIT_MAX) {
        flush(lp);
        lp->impure = 1;
    }
    lp->cur[lp->ncur++] = c;
}

/* The end of a character class starting at p[i] == '[', or 0. */
static size_t class_end(const char *p, size_t len, size_t i)
{
    size_t j = i + 1;
    if (j < len && p[j] == '^') {
        j++;
    }
    if (j < len && p[j] == ']') {
        j++;
    }
    while (j < len && p[j] != ']') {
        if (p[j] == '\\') {
            j += 2;
        } else if (p[j] == '[' && j + 1 < len && p[j + 1] == ':') {
            const char *e = strstr(p + j + 2, ":]");
            j = e != NULL ? (size_t)(e - p) + 2 : len;
        } else {
            j++;
        }
    }
    return j < len ? j + 1 : 0;
}

/* The end of a group starting at p[i] == '(', or 0. */
static size_t group_end(const char *p, size_t len, size_t i)
{
    size_t j = i + 1, depth = 1;
    while (j < len) {
        if (p[j] == '\\') {
            j += 2;
            continue;
        }
        if (p[j] == '[') {
            if ((j = class_end(p, len, j)) == 0) {
                return 0;
            }
            continue;
        }
        depth += p[j] == '(';
        depth -= p[j] == ')';
        j++;
        if (depth == 0) {
            return j;
        }
    }
    return 0;
}

static size_t digits(const char *p, size_t len, size_t j)
{
    while (j < len && p[j] >= '0' && p[j] <= '9') {
        j++;
    }
    return j;
}

/* A quantifier at p[i]: returns its end and sets *min0 when it allows zero
 * repetitions; 0 when p[i] starts none; (size_t)-1 when unsure. */
static size_t quantifier(const char *p, size_t len, size_t i, int *min0)
{
    char c = p[i];
    size_t j = i + 1;
    if (c == '*' || c == '?' || c == '+') {
        *min0 = c != '+';
    } else if (c == '{') {
        if (j >= len || !((p[j] >= '0' && p[j] <= '9') || p[j] == ',' || p[j] == ' ')) {
            return 0; /* a literal brace */
        }
        size_t d = digits(p, len, j);
        if (d == j) {
            return (size_t)-1; /* "{,n}" or "{ n}": version-dependent */
        }
        *min0 = strtol(p + j, NULL, 10) == 0;
        j = d;
        if (j < len && p[j] == ',') {
            j = digits(p, len, j + 1);
        }
        if (j >= len || p[j] != '}') {
            return (size_t)-1;
        }
        j++;
    } else {
        return 0;
    }
    if (j < len && (p[j] == '+' || p[j] == '?')) {
        j++; /* possessive or lazy */
    }
    return j;
}

/* One escape at p[i] == '\\': 1 literal byte (in *c), 0 an atom, -1 give up. */
static int escape(const char *p, size_t len, size_t i, char *c)
{
    if (i + 1 >= len) {
        return -1;
    }
    char e = p[i + 1];
    const char *lits = "tnrfea", *vals = "\t\n\r\f\033\a";
    if (!((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))) {
        *c = e;
        return 1;
    }
    const char *k = strchr(lits, e);
    if (k != NULL) {
        *c = vals[k - lits];
        return 1;
    }
    return strchr("dDwWsShHvVRXbBAzZGK", e) != NULL ? 0 : -1;
}

/* One element at lp->i. Returns 0, or -1 to give up on the literal. */
static int lit_step(struct litp *lp)
{
    const char *p = lp->p;
    size_t i = lp->i;
    char c = p[i];
    int min0 = 0, lit = 0;
    size_t next = i + 1;
    if (c == '\\') {
        int k = escape(p, lp->len, i, &c);
        if (k < 0) {
            return -1;
        }
        lit = k;
        next = i + 2;
    } else if (c == '[') {
        next = class_end(p, lp->len, i);
    } else if (c == '(') {
        if (i + 1 < lp->len && (p[i + 1] == '*' || (p[i + 1] == '?' && i + 2 < lp->len &&
                                                    strchr(":=!<>#|P", p[i + 2]) == NULL))) {
            return -1; /* verbs and inline options change the rules */
        }
        next = group_end(p, lp->len, i);
    } else if (c == '|' || c == ')') {
        return -1;
    } else if (c == '*' || c == '+' || c == '?') {
        return -1; /* a quantifier with nothing before it */
    } else {
        lit = c != '.' && c != '^' && c != '$';
    }
    if (next == 0) {
        return -1;
    }
    if (lit) {
        add_char(lp, c);
    } else {
        flush(lp);
        lp->impure = 1;
    }
    size_t q = next < lp->len ? quantifier(p, lp->len, next, &min0) : 0;
    if (q == (size_t)-1) {
        return -1;
    }
    if (q > 0) {
        if (lit && min0) {
            lp->ncur--;
        }
        flush(lp);
        lp->impure = 1;
        next = q;
    }
    lp->i = next;
    return 0;
}

size_t clew_matcher_required_literal(const char *pattern, size_t len, char *lit, int *pure)
{
    struct litp lp;
    memset(&lp, 0, sizeof(lp));
    lp.p = pattern;
    lp.len = len;
    lp.best = lit;
    *pure = 0;
    while (lp.i < len) {
        if (lit_step(&lp) < 0) {
            return 0;
        }
    }
    flush(&lp);
    *pure = !lp.impure && lp.runs == 1 && lp.nbest == len;
    return lp.nbest;
}

/* ---- compile and match ---- */

static int compile(struct clew_matcher *m, const struct clew_matcher_opts *o,
                   char err[CLEW_ERR_LEN])
{
    int code;
    PCRE2_SIZE off;
    uint32_t flags = (o->icase ? PCRE2_CASELESS : 0) | (o->fixed ? PCRE2_LITERAL : 0);
    m->re = pcre2_compile((PCRE2_SPTR)o->pattern, PCRE2_ZERO_TERMINATED, flags, &code, &off, NULL);
    if (m->re == NULL) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(code, msg, sizeof(msg));
        int oom = code == PCRE2_ERROR_NOMEMORY;
        snprintf(err, CLEW_ERR_LEN, "bad pattern at offset %zu: %s", (size_t)off, (char *)msg);
        return oom ? -ENOMEM : CLEW_EBADARG;
    }
    (void)pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE); /* else the interpreter */
    return 0;
}

int clew_matcher_new(const struct clew_matcher_opts *o, struct clew_matcher **out,
                     char err[CLEW_ERR_LEN])
{
    *out = NULL;
    err[0] = '\0';
    struct clew_matcher *m = clew_calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    m->match_limit = o->match_limit ? o->match_limit : CLEW_MATCHER_MATCH_LIMIT;
    size_t plen = strlen(o->pattern);
    if (plen == 0) {
        m->all = 1;
        *out = m;
        return 0;
    }
    int rc = compile(m, o, err);
    if (rc < 0) {
        clew_matcher_free(m);
        return rc;
    }
    char lit[CLEW_MATCHER_LIT_MAX];
    size_t n;
    if (o->fixed) {
        n = plen <= CLEW_MATCHER_LIT_MAX ? plen : CLEW_MATCHER_LIT_MAX;
        memcpy(lit, o->pattern, n);
        m->pure = n == plen;
    } else {
        n = clew_matcher_required_literal(o->pattern, plen, lit, &m->pure);
    }
    if (n > 0) {
        finder_init(&m->lit, lit, n, o->icase);
    }
    *out = m;
    return 0;
}

void clew_matcher_free(struct clew_matcher *m)
{
    if (m == NULL) {
        return;
    }
    pcre2_code_free(m->re);
    clew_free(m);
}

int clew_matcher_matches_all(const struct clew_matcher *m)
{
    return m->all;
}

const char *clew_matcher_literal(const struct clew_matcher *m, size_t *len, int *pure)
{
    *len = m->lit.nlen;
    *pure = m->lit.nlen > 0 && m->pure;
    return m->lit.nlen > 0 ? m->lit.needle : NULL;
}

int clew_match_ctx_new(const struct clew_matcher *m, struct clew_match_ctx **out)
{
    struct clew_match_ctx *c = clew_calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL) {
        return -ENOMEM;
    }
    c->m = m;
    if (m->re != NULL) {
        c->md = pcre2_match_data_create_from_pattern(m->re, NULL);
        c->mctx = pcre2_match_context_create(NULL);
        c->stack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
        if (c->md == NULL || c->mctx == NULL || c->stack == NULL) {
            clew_match_ctx_free(c);
            return -ENOMEM;
        }
        pcre2_set_match_limit(c->mctx, m->match_limit);
        pcre2_jit_stack_assign(c->mctx, NULL, c->stack);
    }
    *out = c;
    return 0;
}

void clew_match_ctx_free(struct clew_match_ctx *c)
{
    if (c == NULL) {
        return;
    }
    pcre2_match_data_free(c->md);
    pcre2_match_context_free(c->mctx);
    pcre2_jit_stack_free(c->stack);
    clew_free(c);
}

/* The error of a failed pcre2_match (rc < 0, not NOMATCH). */
static int match_fail(int rc, size_t len, char err[CLEW_ERR_LEN])
{
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
        rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT) {
        snprintf(err, CLEW_ERR_LEN,
                 "pattern too complex: %s on a %zu-byte message (simplify the pattern)",
                 rc == PCRE2_ERROR_MATCHLIMIT ? "PCRE2 match limit exceeded"
                                              : "PCRE2 backtracking memory exhausted",
                 len);
        return CLEW_ETOOBIG;
    }
    if (rc == PCRE2_ERROR_NOMEMORY) {
        snprintf(err, CLEW_ERR_LEN, "out of memory while matching");
        return -ENOMEM;
    }
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(rc, msg, sizeof(msg));
    snprintf(err, CLEW_ERR_LEN, "match failed: %s", (char *)msg);
    return CLEW_EBADARG;
}

int clew_match_run(struct clew_match_ctx *c, const char *s, size_t len, char err[CLEW_ERR_LEN])
{
    if (c->m->re == NULL) {
        return 1;
    }
    int rc = pcre2_match(c->m->re, (PCRE2_SPTR)(s != NULL ? s : ""), len, 0, 0, c->md, c->mctx);
    if (rc >= 0) {
        return 1;
    }
    return rc == PCRE2_ERROR_NOMATCH ? 0 : match_fail(rc, len, err);
}

int clew_match_span(struct clew_match_ctx *c, const char *s, size_t len, size_t start, size_t *so,
                    size_t *eo, char err[CLEW_ERR_LEN])
{
    if (c->m->re == NULL || start > len) {
        return 0;
    }
    int rc = pcre2_match(c->m->re, (PCRE2_SPTR)(s != NULL ? s : ""), len, start, 0, c->md, c->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }
    if (rc < 0) {
        return match_fail(rc, len, err);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
    *so = ov[0];
    *eo = ov[1] >= ov[0] ? ov[1] : ov[0]; /* \K can put the end before the start */
    return 1;
}

int clew_match_one(struct clew_match_ctx *c, const char *s, size_t len, char err[CLEW_ERR_LEN])
{
    const struct clew_matcher *m = c->m;
    if (m->all) {
        return 1;
    }
    if (m->lit.nlen > 0) {
        if (finder_find(&m->lit, s, len) < 0) {
            return 0;
        }
        if (m->pure) {
            return 1;
        }
    }
    return clew_match_run(c, s, len, err);
}

size_t clew_matcher_candidates(const struct clew_matcher *m, const char *data, const uint32_t *off,
                               size_t n, uint8_t *cand)
{
    if (m->all || m->lit.nlen == 0) {
        memset(cand, m->all ? CLEW_MATCH_YES : CLEW_MATCH_MAYBE, n);
        return n;
    }
    memset(cand, CLEW_MATCH_NO, n);
    const uint8_t hit = m->pure ? CLEW_MATCH_YES : CLEW_MATCH_MAYBE;
    size_t pos = off[0], end = off[n], j = 0, count = 0;
    while (pos < end) {
        long h = finder_find(&m->lit, data + pos, end - pos);
        if (h < 0) {
            break;
        }
        size_t at = pos + (size_t)h;
        while (off[j + 1] <= at) {
            j++;
        }
        if (at + m->lit.nlen <= off[j + 1]) { /* not across two records */
            cand[j] = hit;
            count++;
        }
        pos = off[j + 1];
        j++;
    }
    return count;
}
