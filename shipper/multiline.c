/* SPDX-License-Identifier: MIT
 * The assembler keeps, per stream, at most one joined fragment run and one
 * multiline group. Each held piece remembers the file offset where its
 * first physical line starts; the safe offset of a record is the minimum of
 * those starts (after the record left) and the end of the line just pushed.
 * That minimum never decreases: held pieces only leave, and new ones start
 * at or after the current position. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "shipper/multiline.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"

#define DEF_MAX_LINE   (1u << 20)
#define DEF_MAX_GROUP  (1u << 20)
#define DEF_MAX_LINES  500
#define DEF_FLUSH_NS   1000000000LL
#define FRAG_FLUSH_MIN 5000000000LL

/* Group flags of the default rules. */
#define GF_TRACEBACK 1u /* inside a Python traceback, before its exception line */
#define GF_PANIC     2u /* a Go panic: blank lines continue                      */
#define GF_GOROUTINE 4u /* inside a goroutine dump                               */

struct clew_ml_rules {
    pcre2_code *start;
    pcre2_match_data *md;
};

struct piece {
    struct clew_buf b;
    int active;
    int truncated;
    uint64_t start;
    int64_t ts;
    int64_t last_ns;
    uint32_t lines;
    unsigned flags;
};

struct clew_asm {
    struct clew_asm_opts o;
    clew_asm_emit_cb emit;
    void *ud;
    struct piece frag[2];
    struct piece group[2];
};

int clew_ml_rules_new(const char *start_pattern, struct clew_ml_rules **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_ml_rules *r = clew_calloc(1, sizeof(*r));
    if (r == NULL) {
        return -ENOMEM;
    }
    if (start_pattern != NULL) {
        int ec;
        PCRE2_SIZE off;
        r->start =
            pcre2_compile((PCRE2_SPTR)start_pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
        if (r->start == NULL) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            snprintf(err, CLEW_ERR_LEN, "multiline start pattern at %zu: %s", (size_t)off,
                     (const char *)msg);
            clew_ml_rules_free(r);
            return CLEW_EBADARG;
        }
        pcre2_jit_compile(r->start, PCRE2_JIT_COMPLETE);
        r->md = pcre2_match_data_create_from_pattern(r->start, NULL);
        if (r->md == NULL) {
            clew_ml_rules_free(r);
            return -ENOMEM;
        }
    }
    *out = r;
    return 0;
}

void clew_ml_rules_free(struct clew_ml_rules *r)
{
    if (r == NULL) {
        return;
    }
    pcre2_match_data_free(r->md);
    pcre2_code_free(r->start);
    clew_free(r);
}

static int starts(const char *l, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && memcmp(l, lit, k) == 0;
}

/* "java.lang.IllegalStateException: boom", "ValueError: bad": a dotted
 * name ending in Exception or Error, then ':' or the end of the line. */
static int exception_line(const char *l, size_t n)
{
    size_t i = 0;
    while (i < n && (l[i] == '.' || l[i] == '_' || l[i] == '$' || (l[i] >= '0' && l[i] <= '9') ||
                     (l[i] >= 'a' && l[i] <= 'z') || (l[i] >= 'A' && l[i] <= 'Z'))) {
        i++;
    }
    if (i < 5 || (i < n && l[i] != ':')) {
        return 0;
    }
    return (i >= 9 && memcmp(l + i - 9, "Exception", 9) == 0) || memcmp(l + i - 5, "Error", 5) == 0;
}

static int default_cont(unsigned *gf, const char *l, size_t n)
{
    if (n > 0 && (l[0] == ' ' || l[0] == '\t')) {
        return 1;
    }
    if (starts(l, n, "Traceback (most recent call last):")) {
        *gf |= GF_TRACEBACK;
        return 1;
    }
    if (*gf & GF_TRACEBACK) { /* the unindented exception line ends it */
        *gf &= ~GF_TRACEBACK;
        return 1;
    }
    if (starts(l, n, "Caused by:") || starts(l, n, "... ") || exception_line(l, n)) {
        return 1;
    }
    if (starts(l, n, "goroutine ") && memchr(l, '[', n) != NULL && (*gf & GF_PANIC)) {
        *gf |= GF_GOROUTINE;
        return 1;
    }
    if ((*gf & GF_PANIC) && n == 0) {
        return 1;
    }
    if ((*gf & GF_GOROUTINE) && n > 0 &&
        (l[n - 1] == ')' || starts(l, n, "created by ") || starts(l, n, "exit status "))) {
        return 1;
    }
    *gf = starts(l, n, "panic: ") || starts(l, n, "fatal error: ") ? GF_PANIC : 0;
    return 0;
}

int clew_ml_is_continuation(const struct clew_ml_rules *r, unsigned *group_flags, const char *line,
                            size_t len)
{
    if (r->start == NULL) {
        return default_cont(group_flags, line, len);
    }
    int rc = pcre2_match(r->start, (PCRE2_SPTR)line, len, 0, 0, r->md, NULL);
    return rc < 0;
}

int clew_asm_new(const struct clew_asm_opts *opts, clew_asm_emit_cb emit, void *ud,
                 struct clew_asm **out)
{
    struct clew_asm *a = clew_calloc(1, sizeof(*a));
    if ((*out = a) == NULL) {
        return -ENOMEM;
    }
    a->o = *opts;
    a->o.max_line = a->o.max_line ? a->o.max_line : DEF_MAX_LINE;
    a->o.max_group = a->o.max_group ? a->o.max_group : DEF_MAX_GROUP;
    a->o.max_lines = a->o.max_lines ? a->o.max_lines : DEF_MAX_LINES;
    a->o.flush_ns = a->o.flush_ns ? a->o.flush_ns : DEF_FLUSH_NS;
    a->emit = emit;
    a->ud = ud;
    for (int i = 0; i < 2; i++) {
        clew_buf_init(&a->frag[i].b);
        clew_buf_init(&a->group[i].b);
    }
    return 0;
}

void clew_asm_free(struct clew_asm *a)
{
    if (a == NULL) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        clew_buf_close(&a->frag[i].b);
        clew_buf_close(&a->group[i].b);
    }
    clew_free(a);
}

uint64_t clew_asm_safe_offset(const struct clew_asm *a, uint64_t consumed)
{
    uint64_t m = consumed;
    for (int i = 0; i < 2; i++) {
        if (a->frag[i].active && a->frag[i].start < m) {
            m = a->frag[i].start;
        }
        if (a->group[i].active && a->group[i].start < m) {
            m = a->group[i].start;
        }
    }
    return m;
}

int clew_asm_holding(const struct clew_asm *a)
{
    return a->frag[0].active || a->frag[1].active || a->group[0].active || a->group[1].active;
}

/* Appends up to cap bytes in all; marks the piece truncated when cut. */
static int piece_add(struct piece *p, const char *s, size_t n, size_t cap)
{
    if (p->b.len + n > cap) {
        p->truncated = 1;
        n = cap > p->b.len ? cap - p->b.len : 0;
    }
    return n ? clew_buf_append(&p->b, s, n) : 0;
}

static void piece_start(struct piece *p, int64_t ts, uint64_t start, int64_t now)
{
    p->active = 1;
    p->truncated = 0;
    p->b.len = 0;
    p->start = start;
    p->ts = ts;
    p->last_ns = now;
    p->lines = 0;
    p->flags = 0;
}

/* Emits a held piece (its state is cleared first so the safe offset no
 * longer counts it). */
static void emit_piece(struct clew_asm *a, int stream, struct piece *p, uint64_t consumed,
                       int partial)
{
    p->active = 0;
    struct clew_asm_rec r = { .stream = stream,
                              .ts = p->ts,
                              .msg = { (const char *)p->b.data, p->b.len },
                              .flags = p->truncated ? CLEW_REC_TRUNCATED : 0,
                              .lines = p->lines ? p->lines : 1,
                              .partial = partial,
                              .safe_off = clew_asm_safe_offset(a, consumed) };
    a->emit(a->ud, &r);
}

/* A logical line (fragments joined) arrives: group it or emit it. */
static int logical_line(struct clew_asm *a, int stream, int64_t ts, const char *s, size_t n,
                        int truncated, int partial, uint64_t start, uint64_t end, int64_t now)
{
    if (a->o.ml == NULL) {
        struct clew_asm_rec r = { .stream = stream,
                                  .ts = ts,
                                  .msg = { s, n },
                                  .flags = truncated ? CLEW_REC_TRUNCATED : 0,
                                  .lines = 1,
                                  .partial = partial,
                                  .safe_off = clew_asm_safe_offset(a, end) };
        a->emit(a->ud, &r);
        return 0;
    }
    struct piece *g = &a->group[stream];
    unsigned f = g->active ? g->flags : 0;
    int cont = clew_ml_is_continuation(a->o.ml, &f, s, n);
    if (g->active && cont && g->lines < a->o.max_lines && g->b.len < a->o.max_group) {
        g->flags = f;
        g->lines++;
        g->last_ns = now;
        g->truncated |= truncated;
        int rc = piece_add(g, "\n", 1, a->o.max_group);
        return rc < 0 ? rc : piece_add(g, s, n, a->o.max_group);
    }
    if (g->active) {
        /* The new group holds this line from `start` on, so the flushed
         * one's safe offset stops there. */
        g->active = 0;
        struct piece tmp = *g;
        g->active = 1;
        g->start = start;
        tmp.active = 1;
        emit_piece(a, stream, &tmp, end, 0);
        g->b = tmp.b; /* same buffer; emit_piece only read it */
    }
    piece_start(g, ts, start, now);
    g->flags = f;
    g->lines = 1;
    g->truncated = truncated;
    return piece_add(g, s, n, a->o.max_group);
}

int clew_asm_push(struct clew_asm *a, int stream, int64_t ts, const char *content, size_t len,
                  int complete, uint64_t start, uint64_t end, int64_t now_ns)
{
    struct piece *fr = &a->frag[stream & 1];
    if (!fr->active && complete) {
        return logical_line(a, stream & 1, ts, content, len, 0, 0, start, end, now_ns);
    }
    if (!fr->active) {
        piece_start(fr, ts, start, now_ns);
    }
    fr->last_ns = now_ns;
    int rc = piece_add(fr, content, len, a->o.max_line);
    if (rc < 0 || !complete) {
        return rc;
    }
    fr->active = 0;
    rc = logical_line(a, stream & 1, fr->ts, (const char *)fr->b.data, fr->b.len, fr->truncated, 0,
                      fr->start, end, now_ns);
    fr->b.len = 0;
    return rc;
}

static int flush_frag(struct clew_asm *a, int s, uint64_t consumed, int64_t now)
{
    struct piece *fr = &a->frag[s];
    fr->active = 0;
    int rc = logical_line(a, s, fr->ts, (const char *)fr->b.data, fr->b.len, fr->truncated, 1,
                          fr->start, consumed, now);
    fr->b.len = 0;
    return rc;
}

int clew_asm_tick(struct clew_asm *a, int64_t now_ns, uint64_t consumed)
{
    int64_t frag_idle = a->o.flush_ns > FRAG_FLUSH_MIN ? a->o.flush_ns : FRAG_FLUSH_MIN;
    for (int s = 0; s < 2; s++) {
        if (a->frag[s].active && now_ns - a->frag[s].last_ns >= frag_idle) {
            int rc = flush_frag(a, s, consumed, now_ns);
            if (rc < 0) {
                return rc;
            }
        }
        if (a->group[s].active && now_ns - a->group[s].last_ns >= a->o.flush_ns) {
            emit_piece(a, s, &a->group[s], consumed, 0);
        }
    }
    return 0;
}

int clew_asm_flush(struct clew_asm *a, uint64_t consumed)
{
    for (int s = 0; s < 2; s++) {
        if (a->frag[s].active) {
            int rc = flush_frag(a, s, consumed, a->frag[s].last_ns);
            if (rc < 0) {
                return rc;
            }
        }
        if (a->group[s].active) {
            emit_piece(a, s, &a->group[s], consumed, 0);
        }
    }
    return 0;
}

void clew_asm_reset(struct clew_asm *a)
{
    for (int s = 0; s < 2; s++) {
        a->frag[s].active = 0;
        a->frag[s].b.len = 0;
        a->group[s].active = 0;
        a->group[s].b.len = 0;
    }
}
