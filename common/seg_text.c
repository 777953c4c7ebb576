/* SPDX-License-Identifier: MIT
 * seg_text: template codec of string columns. A string is scanned once:
 * copies of its record's ids (at least CLEW_SEG_TEXT_MIN_ID bytes) become
 * id placeholders; a run of [0-9a-f] of at least MIN_HEX bytes holding a
 * letter and a digit becomes a hex placeholder (its nibbles packed into the
 * hex stream); every other run of decimal digits becomes int placeholders
 * (pieces of at most 18 digits as varints in the ints stream); 0xFF and
 * 0x0A are escaped. What remains is the template, looked up in a hash table
 * of the column's templates: a string costs a template number and its
 * variables, and zstd then sees short, regular streams instead of text. */
#include "common/seg_text.h"

#include <errno.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "clew/error.h"
#include "common/alloc.h"

#define ESC       0xFFu
#define LF        0x0Au
#define MIN_HEX   4u  /* shortest hex token                      */
#define MAX_PIECE 18u /* most digits in one int (< 10^18 < 2^60) */

/* Escape codes (the byte after ESC in a template). */
enum { E_FF = 0, E_LF = 1, E_INT = 2, E_HEX = 3, E_ID = 4, E_LAST = 6 };

/* Byte classes: 0 other, 1 hex letter a-f, 2 digit, 3 ESC or LF. */
enum { C_OTHER = 0, C_HEXL = 1, C_DIGIT = 2, C_SPECIAL = 3 };

static uint8_t cls(uint8_t c)
{
    static const uint8_t tab[256] = {
        [LF] = C_SPECIAL, [ESC] = C_SPECIAL, ['0'] = C_DIGIT, ['1'] = C_DIGIT, ['2'] = C_DIGIT,
        ['3'] = C_DIGIT,  ['4'] = C_DIGIT,   ['5'] = C_DIGIT, ['6'] = C_DIGIT, ['7'] = C_DIGIT,
        ['8'] = C_DIGIT,  ['9'] = C_DIGIT,   ['a'] = C_HEXL,  ['b'] = C_HEXL,  ['c'] = C_HEXL,
        ['d'] = C_HEXL,   ['e'] = C_HEXL,    ['f'] = C_HEXL,
    };
    return tab[c];
}

static inline size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint at *p (< end); 0 or -1 when truncated or too long. */
static inline int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    const uint8_t *q = *p;
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && q < end; shift += 7) {
        uint8_t c = *q++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* ---- encoder ---- */

void clew_seg_text_enc_init(struct clew_seg_text_enc *e)
{
    memset(e, 0, sizeof(*e));
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        clew_buf_init(&e->s[k]);
    }
    clew_buf_init(&e->cur);
}

void clew_seg_text_enc_reset(struct clew_seg_text_enc *e)
{
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        e->s[k].len = 0;
    }
    if (e->slots != NULL && e->ntmpl > 0) {
        memset(e->slots, 0, ((size_t)e->mask + 1) * sizeof(*e->slots));
    }
    e->ntmpl = 0;
    memset(e->idp, 0, sizeof(e->idp));
    memset(e->idlen, 0, sizeof(e->idlen));
    memset(e->idhex, 0, sizeof(e->idhex));
}

void clew_seg_text_enc_close(struct clew_seg_text_enc *e)
{
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        clew_buf_close(&e->s[k]);
    }
    clew_buf_close(&e->cur);
    clew_free(e->slots);
    clew_free(e->toff);
    memset(e, 0, sizeof(*e));
}

static inline void put_esc(uint8_t **t, unsigned code)
{
    (*t)[0] = ESC;
    (*t)[1] = (uint8_t)code;
    *t += 2;
}

/* Appends the ints of the digit run p[0..n) (pieces of at most MAX_PIECE
 * digits) and their placeholders at *t. The caller reserved room: a piece
 * of k digits takes at most k + 1 bytes (its varint, its zeros byte). */
static int put_ints(struct clew_seg_text_enc *e, const uint8_t *p, size_t n, uint8_t **t)
{
    struct clew_buf *b = &e->s[CLEW_SEG_TEXT_INTS];
    while (n > 0) {
        size_t k = n < MAX_PIECE ? n : MAX_PIECE, lz = 0;
        while (lz + 1 < k && p[lz] == '0') {
            lz++;
        }
        uint64_t v = 0;
        for (size_t i = lz; i < k; i++) {
            v = v * 10 + (uint64_t)(p[i] - '0');
        }
        b->len += put_varint(b->data + b->len, v << 1 | (lz > 0));
        if (lz > 0) {
            b->data[b->len++] = (uint8_t)lz;
        }
        put_esc(t, E_INT);
        p += k;
        n -= k;
    }
    return 0;
}

static int put_hex(struct clew_seg_text_enc *e, const uint8_t *p, size_t n)
{
    struct clew_buf *b = &e->s[CLEW_SEG_TEXT_HEX];
    uint8_t *q = b->data + b->len;
    q += put_varint(q, n);
    for (size_t i = 0; i + 1 < n; i += 2) {
        *q++ = (uint8_t)(cls(p[i]) == C_DIGIT ? p[i] - '0' : p[i] - 'a' + 10) << 4 |
               (uint8_t)(cls(p[i + 1]) == C_DIGIT ? p[i + 1] - '0' : p[i + 1] - 'a' + 10);
    }
    if (n & 1) {
        *q++ = (uint8_t)(cls(p[n - 1]) == C_DIGIT ? p[n - 1] - '0' : p[n - 1] - 'a' + 10) << 4;
    }
    b->len = (size_t)(q - b->data);
    return 0;
}

/* The first i in [from, n) where p[i] is a digit, ESC or LF; n if none. */
static inline size_t next_stop(const uint8_t *p, size_t from, size_t n)
{
    size_t i = from;
#if defined(__SSE2__)
    const __m128i lo = _mm_set1_epi8('0' - 1), hi = _mm_set1_epi8('9' + 1);
    const __m128i lf = _mm_set1_epi8(LF), esc = _mm_set1_epi8((char)ESC);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi));
        m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, lf), _mm_cmpeq_epi8(x, esc)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits != 0) {
            return i + (size_t)__builtin_ctz(bits);
        }
    }
#endif
    while (i < n && cls(p[i]) < C_DIGIT) {
        i++;
    }
    return i;
}

/* The end of the run of [0-9a-f] from b (at most n); *letter is set when
 * the run holds a letter a-f. */
static inline size_t hex_end(const uint8_t *p, size_t b, size_t n, unsigned *letter)
{
#if defined(__SSE2__)
    const __m128i d0 = _mm_set1_epi8('0' - 1), d1 = _mm_set1_epi8('9' + 1);
    const __m128i a0 = _mm_set1_epi8('a' - 1), a1 = _mm_set1_epi8('f' + 1);
    for (; b + 16 <= n; b += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + b));
        __m128i dig = _mm_and_si128(_mm_cmpgt_epi8(x, d0), _mm_cmplt_epi8(x, d1));
        __m128i let = _mm_and_si128(_mm_cmpgt_epi8(x, a0), _mm_cmplt_epi8(x, a1));
        unsigned hm = (unsigned)_mm_movemask_epi8(_mm_or_si128(dig, let));
        unsigned lm = (unsigned)_mm_movemask_epi8(let);
        if (hm != 0xFFFFu) {
            unsigned stop = (unsigned)__builtin_ctz(~hm);
            *letter |= (lm & ((1u << stop) - 1u)) != 0;
            return b + stop;
        }
        *letter |= lm != 0;
    }
#endif
    while (b < n && (uint8_t)(cls(p[b]) - 1) <= 1) {
        *letter |= cls(p[b]) == C_HEXL;
        b++;
    }
    return b;
}

/* Which of the hex ids hid[0..3) (empty when not hex) p[0..n) is, or -1. */
static int which_id(const uint8_t *p, size_t n, const struct clew_str hid[3])
{
    for (int k = 0; k < 3; k++) {
        if (hid[k].len == n && memcmp(hid[k].ptr, p, n) == 0) {
            return k;
        }
    }
    return -1;
}

/* Tokenizes p[0..n) into the template at *t (room for 2n bytes) and the
 * variable streams. A hex run equal to one of the hex ids hid becomes that
 * id's placeholder. */
static int tokenize(struct clew_seg_text_enc *e, const uint8_t *p, size_t n, uint8_t **t,
                    const struct clew_str hid[3])
{
    size_t i = 0, lit = 0;
    while ((i = next_stop(p, i, n)) < n) {
        uint8_t c = cls(p[i]);
        memcpy(*t, p + lit, i - lit);
        *t += i - lit;
        if (c == C_SPECIAL) {
            put_esc(t, p[i] == ESC ? E_FF : E_LF);
            lit = ++i;
            continue;
        }
        size_t a = i;
        unsigned letter = 0;
        while (a > lit && cls(p[a - 1]) == C_HEXL) {
            a--;
        }
        size_t b = hex_end(p, i + 1, n, &letter);
        int k = b - a >= CLEW_SEG_TEXT_MIN_ID ? which_id(p + a, b - a, hid) : -1;
        if (k >= 0 || ((letter || a < i) && b - a >= MIN_HEX)) {
            *t -= i - a; /* the letters before the digit belong to the token */
            put_esc(t, k >= 0 ? E_ID + (unsigned)k : E_HEX);
            if (k < 0 && put_hex(e, p + a, b - a) < 0) {
                return -ENOMEM;
            }
            i = lit = b;
            continue;
        }
        size_t d = i + 1;
        while (d < n && cls(p[d]) == C_DIGIT) {
            d++;
        }
        if (put_ints(e, p + i, d - i, t) < 0) {
            return -ENOMEM;
        }
        i = lit = d;
    }
    memcpy(*t, p + lit, n - lit);
    *t += n - lit;
    return 0;
}

/* Whether id is lowercase hex that the tokenizer finds by itself. */
static int is_hex_id(struct clew_str id)
{
    unsigned letter = 0;
    return hex_end((const uint8_t *)id.ptr, 0, id.len, &letter) == id.len;
}

/* Offset of the first copy of id in p[from..n), or n. */
static size_t find_id(const uint8_t *p, size_t n, size_t from, struct clew_str id)
{
    if (id.len < CLEW_SEG_TEXT_MIN_ID) {
        return n;
    }
    const uint8_t first = (uint8_t)id.ptr[0];
    while (from + id.len <= n) {
        const uint8_t *q = memchr(p + from, first, n - id.len + 1 - from);
        if (q == NULL) {
            return n;
        }
        from = (size_t)(q - p);
        if (memcmp(q + 1, id.ptr + 1, id.len - 1) == 0) {
            return from;
        }
        from++;
    }
    return n;
}

static int tmpl_grow(struct clew_seg_text_enc *e)
{
    uint32_t cap = e->tcap ? e->tcap * 2 : 256;
    uint32_t *toff = clew_realloc(e->toff, ((size_t)cap + 1) * sizeof(*toff));
    if (toff == NULL) {
        return -ENOMEM;
    }
    e->toff = toff;
    uint32_t *slots = clew_calloc((size_t)cap * 2, sizeof(*slots));
    if (slots == NULL) {
        return -ENOMEM;
    }
    const uint8_t *base = e->s[CLEW_SEG_TEXT_TMPL].data;
    for (uint32_t i = 0; i < e->ntmpl; i++) {
        uint32_t h = (uint32_t)XXH3_64bits(base + toff[i], toff[i + 1] - toff[i] - 1);
        h &= cap * 2 - 1;
        while (slots[h] != 0) {
            h = (h + 1) & (cap * 2 - 1);
        }
        slots[h] = i + 1;
    }
    clew_free(e->slots);
    e->slots = slots;
    e->mask = cap * 2 - 1;
    e->tcap = cap;
    return 0;
}

/* The number of the template in e->cur, added when new. */
static int tmpl_id(struct clew_seg_text_enc *e, uint32_t *id)
{
    if (e->ntmpl == e->tcap && tmpl_grow(e) < 0) {
        return -ENOMEM;
    }
    struct clew_buf *ts = &e->s[CLEW_SEG_TEXT_TMPL];
    const uint8_t *t = e->cur.data;
    size_t n = e->cur.len;
    uint32_t h = (uint32_t)XXH3_64bits(t, n) & e->mask;
    while (e->slots[h] != 0) {
        uint32_t i = e->slots[h] - 1;
        if (e->toff[i + 1] - e->toff[i] - 1 == n && memcmp(ts->data + e->toff[i], t, n) == 0) {
            *id = i;
            return 0;
        }
        h = (h + 1) & e->mask;
    }
    if (e->ntmpl == 0) {
        e->toff[0] = 0;
    }
    if (ts->len + n + 1 > UINT32_MAX || clew_buf_reserve(ts, n + 1) < 0) {
        return -ENOMEM;
    }
    memcpy(ts->data + ts->len, t, n);
    ts->data[ts->len + n] = LF;
    ts->len += n + 1;
    e->toff[e->ntmpl + 1] = (uint32_t)ts->len;
    e->slots[h] = ++e->ntmpl;
    *id = e->ntmpl - 1;
    return 0;
}

/* Sorts the ids into those the tokenizer finds as hex runs (hid) and those
 * searched for (sid); the other slot of each pair is empty. */
static void split_ids(struct clew_seg_text_enc *e, const struct clew_str ids[3],
                      struct clew_str hid[3], struct clew_str sid[3])
{
    for (int k = 0; k < 3; k++) {
        if (ids[k].ptr != e->idp[k] || ids[k].len != e->idlen[k]) { /* same ids: same answer */
            e->idp[k] = ids[k].ptr;
            e->idlen[k] = ids[k].len;
            e->idhex[k] = ids[k].len >= CLEW_SEG_TEXT_MIN_ID && is_hex_id(ids[k]);
        }
        hid[k] = e->idhex[k] ? ids[k] : (struct clew_str){ NULL, 0 };
        sid[k] = e->idhex[k] ? (struct clew_str){ NULL, 0 } : ids[k];
    }
}

int clew_seg_text_enc_add(struct clew_seg_text_enc *e, const char *s, size_t len,
                          const struct clew_str ids[3])
{
    const uint8_t *p = len > 0 ? (const uint8_t *)s : (const uint8_t *)"";
    if (clew_buf_reserve(&e->cur, 2 * len + 2) < 0) {
        return -ENOMEM;
    }
    /* Worst cases: every byte a one-digit int (2 bytes), hex tokens <= n. */
    if (clew_buf_reserve(&e->s[CLEW_SEG_TEXT_INTS], 2 * len + 16) < 0 ||
        clew_buf_reserve(&e->s[CLEW_SEG_TEXT_HEX], len + 16) < 0) {
        return -ENOMEM;
    }
    uint8_t *t = e->cur.data;
    size_t next[3], pos = 0;
    struct clew_str hid[3], sid[3]; /* hex ids (found by tokenize), others */
    split_ids(e, ids, hid, sid);
    for (int k = 0; k < 3; k++) {
        next[k] = find_id(p, len, 0, sid[k]);
    }
    for (;;) {
        int k = next[1] < next[0] ? 1 : 0;
        k = next[2] < next[k] ? 2 : k;
        if (next[k] == len) {
            break;
        }
        if (tokenize(e, p + pos, next[k] - pos, &t, hid) < 0) {
            return -ENOMEM;
        }
        put_esc(&t, E_ID + (unsigned)k);
        pos = next[k] + ids[k].len;
        for (int j = 0; j < 3; j++) {
            next[j] = next[j] < pos ? find_id(p, len, pos, sid[j]) : next[j];
        }
    }
    if (tokenize(e, p + pos, len - pos, &t, hid) < 0) {
        return -ENOMEM;
    }
    e->cur.len = (size_t)(t - e->cur.data);
    uint32_t id;
    struct clew_buf *tids = &e->s[CLEW_SEG_TEXT_TIDS];
    if (tmpl_id(e, &id) < 0 || clew_buf_reserve(tids, 5) < 0) {
        return -ENOMEM;
    }
    tids->len += put_varint(tids->data + tids->len, id);
    return 0;
}

/* ---- decoder ---- */

void clew_seg_text_dec_close(struct clew_seg_text_dec *d)
{
    clew_free(d->toff);
    clew_free(d->nvar);
    clew_free(d->ops);
    d->toff = NULL;
    d->nvar = NULL;
    d->ops = NULL;
}

#define OP_END 0xFFu /* the last op of a template: its trailing literal */

static int push_op(struct clew_seg_text_dec *d, size_t *cap, uint64_t op)
{
    if (d->nops == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        uint64_t *a = clew_realloc(d->ops, ncap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        d->ops = a;
        *cap = ncap;
    }
    d->ops[d->nops++] = op;
    return 0;
}

/* Checks template t[0..n), counts its int and hex placeholders, and turns
 * it into ops: (literal length << 8) | escape code, each literal followed
 * in the template by its two escape bytes, the last op OP_END. */
static int tmpl_ops(struct clew_seg_text_dec *d, size_t *cap, const uint8_t *t, size_t n,
                    uint32_t nv[2])
{
    nv[0] = nv[1] = 0;
    size_t cur = 0;
    for (const uint8_t *q = memchr(t, ESC, n); q != NULL;) {
        size_t at = (size_t)(q - t);
        if (at + 1 >= n || q[1] > E_LAST) {
            return CLEW_ECORRUPT;
        }
        nv[0] += q[1] == E_INT;
        nv[1] += q[1] == E_HEX;
        if (push_op(d, cap, (uint64_t)(at - cur) << 8 | q[1]) < 0) {
            return -ENOMEM;
        }
        cur = at + 2;
        q = cur < n ? memchr(t + cur, ESC, n - cur) : NULL;
    }
    return push_op(d, cap, (uint64_t)(n - cur) << 8 | OP_END);
}

int clew_seg_text_dec_init(struct clew_seg_text_dec *d, const uint8_t *const s[4],
                           const size_t len[4])
{
    memset(d, 0, sizeof(*d));
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        d->p[k] = s[k];
        d->end[k] = s[k] + len[k];
    }
    const uint8_t *t = s[CLEW_SEG_TEXT_TMPL];
    size_t n = len[CLEW_SEG_TEXT_TMPL], count = 0, cap = 0;
    for (const uint8_t *q = t; q < t + n && (q = memchr(q, LF, (size_t)(t + n - q))) != NULL; q++) {
        count++;
    }
    if (n > UINT32_MAX || (n > 0 && t[n - 1] != LF)) {
        return CLEW_ECORRUPT;
    }
    d->tmpl = t;
    d->toff = clew_malloc((count + 1) * 2 * sizeof(*d->toff));
    d->nvar = clew_malloc((count + 1) * 2 * sizeof(*d->nvar));
    if (d->toff == NULL || d->nvar == NULL) {
        return -ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *q = memchr(t + off, LF, n - off);
        size_t e = (size_t)(q - t);
        uint32_t nv[2];
        d->toff[2 * i] = (uint32_t)off;
        d->toff[2 * i + 1] = (uint32_t)d->nops;
        int rc = tmpl_ops(d, &cap, t + off, e - off, nv);
        if (rc < 0) {
            return rc;
        }
        d->nvar[2 * i] = nv[0];
        d->nvar[2 * i + 1] = nv[1];
        off = e + 1;
    }
    d->ntmpl = (uint32_t)count;
    return 0;
}

static int next_tmpl(struct clew_seg_text_dec *d, uint32_t *id)
{
    uint64_t v;
    if (get_varint(&d->p[CLEW_SEG_TEXT_TIDS], d->end[CLEW_SEG_TEXT_TIDS], &v) < 0 ||
        v >= d->ntmpl) {
        return CLEW_ECORRUPT;
    }
    *id = (uint32_t)v;
    return 0;
}

/* Reads one int: its value and leading zeros. */
static int get_int(struct clew_seg_text_dec *d, uint64_t *v, unsigned *lz)
{
    const uint8_t **p = &d->p[CLEW_SEG_TEXT_INTS], *end = d->end[CLEW_SEG_TEXT_INTS];
    if (get_varint(p, end, v) < 0 || (*v >> 1) >= 1000000000000000000ull) {
        return CLEW_ECORRUPT;
    }
    *lz = 0;
    if (*v & 1) {
        if (*p >= end || **p == 0 || **p >= MAX_PIECE) {
            return CLEW_ECORRUPT;
        }
        *lz = *(*p)++;
    }
    *v >>= 1;
    return 0;
}

/* Reads one hex token: its digit count and packed bytes. */
static int get_hex(struct clew_seg_text_dec *d, uint64_t *n, const uint8_t **pay)
{
    const uint8_t **p = &d->p[CLEW_SEG_TEXT_HEX], *end = d->end[CLEW_SEG_TEXT_HEX];
    if (get_varint(p, end, n) < 0 || *n < MIN_HEX || (*n + 1) / 2 > (uint64_t)(end - *p)) {
        return CLEW_ECORRUPT;
    }
    *pay = *p;
    *p += (*n + 1) / 2;
    return 0;
}

int clew_seg_text_dec_skip(struct clew_seg_text_dec *d)
{
    uint32_t id;
    if (next_tmpl(d, &id) < 0) {
        return CLEW_ECORRUPT;
    }
    for (uint32_t k = 0; k < d->nvar[2 * id]; k++) {
        uint64_t v;
        unsigned lz;
        if (get_int(d, &v, &lz) < 0) {
            return CLEW_ECORRUPT;
        }
    }
    for (uint32_t k = 0; k < d->nvar[2 * id + 1]; k++) {
        uint64_t n;
        const uint8_t *pay;
        if (get_hex(d, &n, &pay) < 0) {
            return CLEW_ECORRUPT;
        }
    }
    return 0;
}

/* Appends the decimal text of v with lz leading zeros at q; returns its end. */
static uint8_t *fmt_int(uint8_t *q, uint64_t v, unsigned lz)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    char tmp[20], *p = tmp + sizeof(tmp);
    while (v >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    memset(q, '0', lz);
    q += lz;
    size_t k = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(q, p, k);
    return q + k;
}

static uint8_t *fmt_hex(uint8_t *q, const uint8_t *pay, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i + 1 < n; i += 2) {
        *q++ = (uint8_t)hex[pay[i / 2] >> 4];
        *q++ = (uint8_t)hex[pay[i / 2] & 15];
    }
    if (n & 1) {
        *q++ = (uint8_t)hex[pay[n / 2] >> 4];
    }
    return q;
}

/* Appends a hex token or an id (code) to out. */
static int expand_var(struct clew_seg_text_dec *d, uint8_t code, const struct clew_str ids[3],
                      struct clew_buf *out)
{
    uint64_t n;
    const uint8_t *pay = NULL;
    if (code == E_HEX && get_hex(d, &n, &pay) < 0) {
        return CLEW_ECORRUPT;
    }
    size_t need = code == E_HEX ? (size_t)n : ids[code - E_ID].len;
    if (clew_buf_reserve(out, need) < 0) {
        return -ENOMEM;
    }
    uint8_t *q = out->data + out->len;
    if (code == E_HEX) {
        q = fmt_hex(q, pay, need);
    } else if (need > 0) {
        memcpy(q, ids[code - E_ID].ptr, need);
        q += need;
    }
    out->len = (size_t)(q - out->data);
    return 0;
}

int clew_seg_text_dec_next(struct clew_seg_text_dec *d, const struct clew_str ids[3],
                           struct clew_buf *out, size_t max)
{
    uint32_t id;
    if (next_tmpl(d, &id) < 0) {
        return CLEW_ECORRUPT;
    }
    const uint8_t *t = d->tmpl + d->toff[2 * id];
    const uint64_t *op = d->ops + d->toff[2 * id + 1];
    /* Room for the literals (at most the template's length) and the ints
     * (at most 17 zeros + 18 digits each); hex tokens and ids reserve their
     * own. The template's length: up to the next one, or the stream's end. */
    size_t tlen = (id + 1 < d->ntmpl ? d->toff[2 * id + 2]
                                     : (uint32_t)(d->end[CLEW_SEG_TEXT_TMPL] - d->tmpl)) -
                  d->toff[2 * id];
    size_t start = out->len, room = tlen + 40 * (size_t)d->nvar[2 * id];
    if (clew_buf_reserve(out, room) < 0) {
        return -ENOMEM;
    }
    uint8_t *q = out->data + out->len;
    for (;; op++) {
        size_t lit = (size_t)(*op >> 8);
        uint8_t code = (uint8_t)*op;
        memcpy(q, t, lit);
        q += lit;
        t += lit + 2;
        if (code == OP_END) {
            break;
        }
        if (code <= E_LF) {
            *q++ = code == E_FF ? ESC : LF;
        } else if (code == E_INT) {
            uint64_t v;
            unsigned lz;
            if (get_int(d, &v, &lz) < 0) {
                return CLEW_ECORRUPT;
            }
            q = fmt_int(q, v, lz);
        } else {
            out->len = (size_t)(q - out->data);
            int rc = expand_var(d, code, ids, out);
            if (rc < 0 || (rc = clew_buf_reserve(out, room)) < 0) {
                return rc;
            }
            q = out->data + out->len;
        }
        if ((size_t)(q - out->data) - start > max) {
            return CLEW_ECORRUPT;
        }
    }
    out->len = (size_t)(q - out->data);
    return out->len - start > max ? CLEW_ECORRUPT : 0;
}

int clew_seg_text_dec_end(const struct clew_seg_text_dec *d)
{
    for (int k = 0; k < CLEW_SEG_TEXT_NSTREAMS; k++) {
        if (k != CLEW_SEG_TEXT_TMPL && d->p[k] != d->end[k]) {
            return CLEW_ECORRUPT;
        }
    }
    return 0;
}
