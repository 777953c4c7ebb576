/* SPDX-License-Identifier: MIT
 * seg_text: template codec of string columns. A string is scanned once:
 * copies of its record's ids (at least CLEW_SEG_TEXT_MIN_ID bytes) become
 * id placeholders; a run of [0-9a-f] of at least MIN_HEX bytes holding a
 * letter and a digit becomes a hex placeholder (its nibbles packed into the
 * hex stream); every other run of decimal digits becomes int placeholders
 * (pieces of at most 18 digits as varints in the ints stream); 0xFF and
 * 0x0A are escaped. What remains is the template, looked up in a hash table
 * of the column's templates: a string costs a template number and its
 * variables, and zstd then sees short, regular streams instead of text.
 *
 * Speed (both directions run once per string of every block): the encoder
 * classifies the string 16 bytes at a time into bit masks (digits, hex
 * letters, escapes) and finds every token boundary with a few word
 * operations; short digit runs are parsed as one word. The decoder copies
 * the templates once per column with slack, so literals are copied as two
 * fixed 16-byte moves, and formats ints 8 digits at a time: data-dependent
 * loop ends (literal and number lengths) are what mispredicted most. */
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
#include "common/rec_codec.h"

#define ESC       0xFFu
#define LF        0x0Au
#define MIN_HEX   4u  /* shortest hex token                      */
#define MAX_PIECE 18u /* most digits in one int (< 10^18 < 2^60) */
#define LIT_SLACK 32u /* the encoder's template: room for a wide copy */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_DIGITS 1 /* 8 digits at a time as one little-endian word */
#else
#define SWAR_DIGITS 0
#endif

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
    for (size_t i = 0; i < CLEW_SEG_TEXT_REPEAT_SLOTS; i++) {
        e->rep[i].used = 0;
    }
    e->rep_tries = e->rep_hits = 0;
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
    for (size_t i = 0; i < CLEW_SEG_TEXT_REPEAT_SLOTS; i++) {
        clew_buf_close(&e->rep[i].key);
    }
    clew_free(e->slots);
    clew_free(e->toff);
    clew_free(e->bits);
    memset(e, 0, sizeof(*e));
}

static inline void put_esc(uint8_t **t, unsigned code)
{
    (*t)[0] = ESC;
    (*t)[1] = (uint8_t)code;
    *t += 2;
}

/* Nibble of a lowercase hex digit ('0'-'9': low 4 bits; 'a'-'f': +9). */
static inline uint8_t nibble(uint8_t c)
{
    return (uint8_t)((c & 0xf) + 9 * (c >> 6));
}

static void put_hex(struct clew_seg_text_enc *e, const uint8_t *p, size_t n)
{
    struct clew_buf *b = &e->s[CLEW_SEG_TEXT_HEX];
    uint8_t *q = b->data + b->len;
    q += put_varint(q, n);
    for (size_t i = 0; i + 1 < n; i += 2) {
        *q++ = (uint8_t)(nibble(p[i]) << 4 | nibble(p[i + 1]));
    }
    if (n & 1) {
        *q++ = (uint8_t)(nibble(p[n - 1]) << 4);
    }
    b->len = (size_t)(q - b->data);
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

/* ---- byte classes as bit masks ----
 * The tokenizer works on three bit masks of the string (bit i: byte i is a
 * digit; a hex letter a-f; ESC or LF), built 16 bytes at a time, so that
 * finding the next stop, the start and end of a hex run or the end of a
 * digit run is a few word operations instead of a loop over bytes. */

enum { M_DIG = 0, M_LET = 1, M_SPC = 2, M_NKIND = 3 };

/* The three 16-bit masks of p[0..16). */
static inline void classify16(const uint8_t *p, unsigned m[M_NKIND])
{
#if defined(__SSE2__)
    const __m128i d0 = _mm_set1_epi8('0' - 1), d1 = _mm_set1_epi8('9' + 1);
    const __m128i a0 = _mm_set1_epi8('a' - 1), a1 = _mm_set1_epi8('f' + 1);
    const __m128i lf = _mm_set1_epi8(LF), esc = _mm_set1_epi8((char)ESC);
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    m[M_DIG] =
        (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(x, d0), _mm_cmplt_epi8(x, d1)));
    m[M_LET] =
        (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(x, a0), _mm_cmplt_epi8(x, a1)));
    m[M_SPC] =
        (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, lf), _mm_cmpeq_epi8(x, esc)));
#else
    m[M_DIG] = m[M_LET] = m[M_SPC] = 0;
    for (unsigned i = 0; i < 16; i++) {
        uint8_t c = cls(p[i]);
        m[M_DIG] |= (unsigned)(c == C_DIGIT) << i;
        m[M_LET] |= (unsigned)(c == C_HEXL) << i;
        m[M_SPC] |= (unsigned)(c == C_SPECIAL) << i;
    }
#endif
}

/* ORs the k-bit masks m (bits 0..k) in at bit position at. */
static inline void or_bits(uint64_t *const mk[M_NKIND], size_t at, const unsigned m[M_NKIND],
                           unsigned k)
{
    size_t w = at >> 6;
    unsigned sh = (unsigned)(at & 63);
    for (int c = 0; c < M_NKIND; c++) {
        uint64_t v = (uint64_t)m[c] & ((1ull << k) - 1);
        mk[c][w] |= v << sh;
        if (sh + k > 64) {
            mk[c][w + 1] |= v >> (64 - sh);
        }
    }
}

/* Builds the masks of p[0..n) into e->bits (nw words per kind). */
static int classify(struct clew_seg_text_enc *e, const uint8_t *p, size_t n, size_t nw)
{
    if (M_NKIND * nw > e->bcap) {
        uint64_t *b = clew_realloc(e->bits, M_NKIND * nw * sizeof(*b));
        if (b == NULL) {
            return -ENOMEM;
        }
        e->bits = b;
        e->bcap = M_NKIND * nw;
    }
    memset(e->bits, 0, M_NKIND * nw * sizeof(*e->bits));
    uint64_t *const mk[M_NKIND] = { e->bits, e->bits + nw, e->bits + 2 * nw };
    unsigned m[M_NKIND];
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        classify16(p + i, m);
        or_bits(mk, i, m, 16);
    }
    if (i < n && n >= 16) { /* the tail: the last 16 bytes, the new ones only */
        classify16(p + n - 16, m);
        for (int c = 0; c < M_NKIND; c++) {
            m[c] >>= 16 - (n - i);
        }
        or_bits(mk, i, m, (unsigned)(n - i));
    } else if (i < n) {
        uint8_t tmp[16] = { 0 };
        memcpy(tmp, p, n);
        classify16(tmp, m);
        or_bits(mk, 0, m, (unsigned)n);
    }
    return 0;
}

/* The first i in [from, to) whose bit is set in a | b (b may be NULL); to
 * if none. */
static inline size_t next_set(const uint64_t *a, const uint64_t *b, size_t from, size_t to)
{
    if (from >= to) {
        return to;
    }
    size_t w = from >> 6;
    uint64_t x = (a[w] | (b ? b[w] : 0)) & (~0ull << (from & 63));
    while (x == 0) {
        if (++w << 6 >= to) {
            return to;
        }
        x = a[w] | (b ? b[w] : 0);
    }
    size_t i = (w << 6) + (size_t)__builtin_ctzll(x);
    return i < to ? i : to;
}

/* The first i in [from, to) whose bit is clear in both a and b (b may be
 * NULL); to if none. */
static inline size_t next_clear(const uint64_t *a, const uint64_t *b, size_t from, size_t to)
{
    if (from >= to) {
        return to;
    }
    size_t w = from >> 6;
    uint64_t x = ~(a[w] | (b ? b[w] : 0)) & (~0ull << (from & 63));
    while (x == 0) {
        if (++w << 6 >= to) {
            return to;
        }
        x = ~(a[w] | (b ? b[w] : 0));
    }
    size_t i = (w << 6) + (size_t)__builtin_ctzll(x);
    return i < to ? i : to;
}

/* The start of the run of set bits of m that ends at end (exclusive),
 * going down no further than lo. */
static inline size_t run_start(const uint64_t *m, size_t lo, size_t end)
{
    if (end <= lo) {
        return end;
    }
    size_t w = (end - 1) >> 6;
    uint64_t x = ~m[w] & (~0ull >> (63 - ((end - 1) & 63)));
    while (x == 0) {
        if ((w << 6) <= lo) {
            return lo;
        }
        x = ~m[--w];
    }
    size_t i = (w << 6) + 63 - (size_t)__builtin_clzll(x) + 1;
    return i > lo ? i : lo;
}

/* Whether a bit of m is set in [a, b). */
static inline int any_set(const uint64_t *m, size_t a, size_t b)
{
    return next_set(m, NULL, a, b) < b;
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

/* A string being tokenized: its bytes, their masks, the record's hex ids
 * and where the template goes. */
struct tok {
    struct clew_seg_text_enc *e;
    const uint8_t *p;
    size_t len;
    const uint64_t *m[M_NKIND];
    const struct clew_str *hid;
    uint8_t *t;
};

/* Appends literal p[a..b) to the template (which has LIT_SLACK bytes of
 * slack): most literals are short, one 32-byte copy. */
static inline void put_lit(struct tok *k, size_t a, size_t b)
{
    if (b - a <= LIT_SLACK && a + LIT_SLACK <= k->len) {
        memcpy(k->t, k->p + a, LIT_SLACK);
    } else {
        memcpy(k->t, k->p + a, b - a);
    }
    k->t += b - a;
}

/* Value and leading zeros (at most k - 1) of the k <= 8 digits at p, which
 * has 8 readable bytes: the digits as one little-endian word, without a
 * loop (their count and the zeros vary too much for branches). */
static inline uint64_t digits8(const uint8_t *p, size_t k, size_t *lz)
{
    uint64_t x;
    memcpy(&x, p, 8);
    x &= 0x0F0F0F0F0F0F0F0Full;
    x &= k == 8 ? ~0ull : (1ull << (8 * k)) - 1;
    size_t z = x == 0 ? k : (size_t)__builtin_ctzll(x) / 8;
    *lz = z < k ? z : k - 1;
    x <<= 8 * (8 - k); /* leading zero digits in the low bytes */
    x = (x * 2561) >> 8;
    x = ((x & 0x00FF00FF00FF00FFull) * 6553601) >> 16;
    return ((x & 0x0000FFFF0000FFFFull) * 42949672960001ull) >> 32;
}

/* Appends the ints of the digit run p[i..d) (pieces of at most MAX_PIECE
 * digits) to the ints stream and their placeholders to the template. The
 * caller reserved room: a piece of k digits takes at most k + 1 bytes (its
 * varint, its zeros byte). */
static void put_ints(struct tok *t, size_t i, size_t d)
{
    struct clew_buf *b = &t->e->s[CLEW_SEG_TEXT_INTS];
    while (i < d) {
        const uint8_t *p = t->p + i;
        size_t k = d - i < MAX_PIECE ? d - i : MAX_PIECE, lz = 0;
        uint64_t v = 0;
        if (SWAR_DIGITS && k <= 8 && i + 8 <= t->len) {
            v = digits8(p, k, &lz);
        } else {
            while (lz + 1 < k && p[lz] == '0') {
                lz++;
            }
            for (size_t q = lz; q < k; q++) {
                v = v * 10 + (uint64_t)(p[q] - '0');
            }
        }
        b->len += put_varint(b->data + b->len, v << 1 | (lz > 0));
        if (lz > 0) {
            b->data[b->len++] = (uint8_t)lz;
        }
        put_esc(&t->t, E_INT);
        i += k;
    }
}

/* The token that starts at the digit p[i] (literal text from lit): a hex
 * token or id (the hex letters before the digit belong to it), else a run
 * of ints. Returns where the token ends. */
static size_t put_token(struct tok *k, size_t lit, size_t i, size_t to)
{
    const uint64_t *dig = k->m[M_DIG], *let = k->m[M_LET];
    size_t a = run_start(let, lit, i);
    size_t b = next_clear(dig, let, i + 1, to);
    int id = b - a >= CLEW_SEG_TEXT_MIN_ID ? which_id(k->p + a, b - a, k->hid) : -1;
    if (id >= 0 || (b - a >= MIN_HEX && any_set(let, a, b))) {
        put_lit(k, lit, a);
        put_esc(&k->t, id >= 0 ? E_ID + (unsigned)id : E_HEX);
        if (id < 0) {
            put_hex(k->e, k->p + a, b - a);
        }
        return b;
    }
    size_t d = next_clear(dig, NULL, i + 1, to);
    put_lit(k, lit, i);
    put_ints(k, i, d);
    return d;
}

/* Tokenizes p[from..to) into the template and the streams. */
static void tokenize(struct tok *k, size_t from, size_t to)
{
    size_t i = from, lit = from;
    while ((i = next_set(k->m[M_DIG], k->m[M_SPC], i, to)) < to) {
        if (k->p[i] == ESC || k->p[i] == LF) {
            put_lit(k, lit, i);
            put_esc(&k->t, k->p[i] == ESC ? E_FF : E_LF);
            lit = ++i;
            continue;
        }
        i = lit = put_token(k, lit, i, to);
    }
    put_lit(k, lit, to);
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

/* Makes room for n more bytes in b; the common case inline. */
static inline int room(struct clew_buf *b, size_t n)
{
    return n <= b->cap - b->len && b->data != NULL ? 0 : clew_buf_reserve(b, n);
}

/* ---- repeats ---- */

/* Tries after which a column with under 1/8 hits stops looking. */
#define REPEAT_PROBATION 1024u

static int repeat_wanted(const struct clew_seg_text_enc *e, size_t len)
{
    return !e->repeat_off && len <= CLEW_SEG_TEXT_REPEAT_MAX &&
           (e->rep_tries < REPEAT_PROBATION || e->rep_hits >= e->rep_tries / 8);
}

static uint64_t repeat_hash(const char *s, size_t len, const struct clew_str ids[3])
{
    uint64_t h = XXH3_64bits(s, len);
    for (int q = 0; q < 3; q++) {
        h = ids[q].len > 0 ? XXH3_64bits_withSeed(ids[q].ptr, ids[q].len, h + (uint64_t)q)
                           : h * 31 + (uint64_t)q;
    }
    return h;
}

static int repeat_key_eq(const struct clew_buf *k, const char *s, size_t len,
                         const struct clew_str ids[3])
{
    size_t want = len + ids[0].len + ids[1].len + ids[2].len + 3 * sizeof(size_t);
    if (k->len != want || (len > 0 && memcmp(k->data, s, len) != 0)) {
        return 0;
    }
    const uint8_t *q = k->data + len;
    for (int i = 0; i < 3; i++) {
        size_t n;
        memcpy(&n, q, sizeof(n));
        if (n != ids[i].len || (n > 0 && memcmp(q + sizeof(n), ids[i].ptr, n) != 0)) {
            return 0;
        }
        q += sizeof(n) + n;
    }
    return 1;
}

/* Appends bytes [off, off + n) of stream b again at its end. */
static int repeat_copy(struct clew_buf *b, size_t off, size_t n)
{
    if (room(b, n) < 0) {
        return -ENOMEM;
    }
    memcpy(b->data + b->len, b->data + off, n);
    b->len += n;
    return 0;
}

/* 1: the string was a repeat and is written; 0: not found; or -ENOMEM. */
static int repeat_emit(struct clew_seg_text_enc *e, const struct clew_seg_text_repeat *r)
{
    struct clew_buf *tids = &e->s[CLEW_SEG_TEXT_TIDS];
    if (repeat_copy(&e->s[CLEW_SEG_TEXT_INTS], r->ints_off, r->ints_len) < 0 ||
        repeat_copy(&e->s[CLEW_SEG_TEXT_HEX], r->hex_off, r->hex_len) < 0 || room(tids, 5) < 0) {
        return -ENOMEM;
    }
    tids->len += put_varint(tids->data + tids->len, r->tid);
    e->rep_hits++;
    return 1;
}

/* Remembers what the string just added wrote (a failure only loses the
 * entry). */
static void repeat_keep(struct clew_seg_text_enc *e, struct clew_seg_text_repeat *r, uint64_t h,
                        const char *s, size_t len, const struct clew_str ids[3],
                        const size_t before[2])
{
    r->used = 0;
    r->key.len = 0;
    if (len > 0 && clew_buf_append(&r->key, s, len) < 0) {
        return;
    }
    for (int i = 0; i < 3; i++) {
        size_t n = ids[i].len;
        if (clew_buf_append(&r->key, &n, sizeof(n)) < 0 ||
            (n > 0 && clew_buf_append(&r->key, ids[i].ptr, n) < 0)) {
            return;
        }
    }
    r->hash = h;
    r->tid = e->rep_last_tid;
    r->ints_off = before[0];
    r->ints_len = e->s[CLEW_SEG_TEXT_INTS].len - before[0];
    r->hex_off = before[1];
    r->hex_len = e->s[CLEW_SEG_TEXT_HEX].len - before[1];
    r->used = 1;
}

static int tokenize_add(struct clew_seg_text_enc *e, const char *s, size_t len,
                        const struct clew_str ids[3]);

int clew_seg_text_enc_add(struct clew_seg_text_enc *e, const char *s, size_t len,
                          const struct clew_str ids[3])
{
    if (!repeat_wanted(e, len)) {
        return tokenize_add(e, s, len, ids);
    }
    e->rep_tries++;
    uint64_t h = repeat_hash(len > 0 ? s : "", len, ids);
    struct clew_seg_text_repeat *r = &e->rep[h & (CLEW_SEG_TEXT_REPEAT_SLOTS - 1)];
    if (r->used && r->hash == h && repeat_key_eq(&r->key, len > 0 ? s : "", len, ids)) {
        return repeat_emit(e, r) < 0 ? -ENOMEM : 0;
    }
    size_t before[2] = { e->s[CLEW_SEG_TEXT_INTS].len, e->s[CLEW_SEG_TEXT_HEX].len };
    int rc = tokenize_add(e, s, len, ids);
    if (rc == 0) {
        repeat_keep(e, r, h, len > 0 ? s : "", len, ids, before);
    }
    return rc;
}

static int tokenize_add(struct clew_seg_text_enc *e, const char *s, size_t len,
                        const struct clew_str ids[3])
{
    const uint8_t *p = len > 0 ? (const uint8_t *)s : (const uint8_t *)"";
    /* Worst cases: every byte a one-digit int (2 bytes in the template and
     * in the ints), hex tokens <= len; slack for put_lit's wide copy. */
    size_t nw = len / 64 + 1;
    if (room(&e->cur, 2 * len + 2 + LIT_SLACK) < 0 ||
        room(&e->s[CLEW_SEG_TEXT_INTS], 2 * len + 16) < 0 ||
        room(&e->s[CLEW_SEG_TEXT_HEX], len + 16) < 0 || classify(e, p, len, nw) < 0) {
        return -ENOMEM;
    }
    struct clew_str hid[3], sid[3]; /* hex ids (found by tokenize), others */
    split_ids(e, ids, hid, sid);
    struct tok k = { e, p, len, { e->bits, e->bits + nw, e->bits + 2 * nw }, hid, e->cur.data };
    size_t next[3], pos = 0;
    for (int q = 0; q < 3; q++) {
        next[q] = find_id(p, len, 0, sid[q]);
    }
    for (;;) {
        int q = next[1] < next[0] ? 1 : 0;
        q = next[2] < next[q] ? 2 : q;
        if (next[q] == len) {
            break;
        }
        tokenize(&k, pos, next[q]);
        put_esc(&k.t, E_ID + (unsigned)q);
        pos = next[q] + ids[q].len;
        for (int j = 0; j < 3; j++) {
            next[j] = next[j] < pos ? find_id(p, len, pos, sid[j]) : next[j];
        }
    }
    tokenize(&k, pos, len);
    e->cur.len = (size_t)(k.t - e->cur.data);
    uint32_t id;
    struct clew_buf *tids = &e->s[CLEW_SEG_TEXT_TIDS];
    if (tmpl_id(e, &id) < 0 || room(tids, 5) < 0) {
        return -ENOMEM;
    }
    tids->len += put_varint(tids->data + tids->len, id);
    e->rep_last_tid = id;
    return 0;
}

/* ---- decoder ---- */

/* The decoder copies literals 16 bytes at a time: its copy of the templates
 * and every output reservation extend SLACK bytes past what is used. */
#define SLACK        32u
#define INT_MAX_TEXT 35u   /* an int's text: at most 17 zeros and 18 digits */
#define OP_END       0xFFu /* the last op of a template: its trailing literal */

void clew_seg_text_dec_close(struct clew_seg_text_dec *d)
{
    clew_free(d->tmpl);
    clew_free(d->tpl);
    clew_free(d->ops);
    d->tmpl = NULL;
    d->tpl = NULL;
    d->ops = NULL;
}

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

/* Checks template t[0..n), counts its literal bytes and its int and hex
 * placeholders into tp, and turns it into ops: (literal length << 8) |
 * escape code, each literal followed in the template by its two escape
 * bytes, the last op OP_END. */
static int tmpl_ops(struct clew_seg_text_dec *d, size_t *cap, const uint8_t *t, size_t n,
                    struct clew_seg_text_tmpl *tp)
{
    size_t cur = 0, lit = 0;
    tp->op = (uint32_t)d->nops;
    tp->nint = tp->nhex = 0;
    for (const uint8_t *q = memchr(t, ESC, n); q != NULL;) {
        size_t at = (size_t)(q - t);
        if (at + 1 >= n || q[1] > E_LAST) {
            return CLEW_ECORRUPT;
        }
        tp->nint += q[1] == E_INT;
        tp->nhex += q[1] == E_HEX;
        lit += at - cur + (q[1] <= E_LF); /* an escaped byte is literal text */
        if (push_op(d, cap, (uint64_t)(at - cur) << 8 | q[1]) < 0) {
            return -ENOMEM;
        }
        cur = at + 2;
        q = cur < n ? memchr(t + cur, ESC, n - cur) : NULL;
    }
    tp->lit = (uint32_t)(lit + n - cur);
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
    size_t n = len[CLEW_SEG_TEXT_TMPL], count = 0, cap = 0;
    if (n > UINT32_MAX || (n > 0 && s[CLEW_SEG_TEXT_TMPL][n - 1] != LF)) {
        return CLEW_ECORRUPT;
    }
    d->tmpl = clew_malloc(n + SLACK);
    if (d->tmpl == NULL) {
        return -ENOMEM;
    }
    const uint8_t *t = d->tmpl;
    if (n > 0) {
        memcpy(d->tmpl, s[CLEW_SEG_TEXT_TMPL], n);
    }
    memset(d->tmpl + n, 0, SLACK);
    for (const uint8_t *q = t; q < t + n && (q = memchr(q, LF, (size_t)(t + n - q))) != NULL; q++) {
        count++;
    }
    d->tpl = clew_malloc((count + 1) * sizeof(*d->tpl));
    if (d->tpl == NULL) {
        return -ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        size_t e = (size_t)((const uint8_t *)memchr(t + off, LF, n - off) - t);
        d->tpl[i].off = (uint32_t)off;
        int rc = tmpl_ops(d, &cap, t + off, e - off, &d->tpl[i]);
        if (rc < 0) {
            return rc;
        }
        off = e + 1;
    }
    d->ntmpl = (uint32_t)count;
    return 0;
}

/* Reads a varint; the one-byte case inline. */
static inline int get_varint_fast(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    if (*p < end && **p < 0x80) {
        *out = *(*p)++;
        return 0;
    }
    return get_varint(p, end, out);
}

static inline int next_tmpl(struct clew_seg_text_dec *d, uint32_t *id)
{
    uint64_t v;
    if (get_varint_fast(&d->p[CLEW_SEG_TEXT_TIDS], d->end[CLEW_SEG_TEXT_TIDS], &v) < 0 ||
        v >= d->ntmpl) {
        return CLEW_ECORRUPT;
    }
    *id = (uint32_t)v;
    return 0;
}

/* Reads one int: its value and leading zeros. */
static inline int get_int(struct clew_seg_text_dec *d, uint64_t *v, unsigned *lz)
{
    const uint8_t **p = &d->p[CLEW_SEG_TEXT_INTS], *end = d->end[CLEW_SEG_TEXT_INTS];
    if (get_varint_fast(p, end, v) < 0 || (*v >> 1) >= 1000000000000000000ull) {
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
static inline int get_hex(struct clew_seg_text_dec *d, uint64_t *n, const uint8_t **pay)
{
    const uint8_t **p = &d->p[CLEW_SEG_TEXT_HEX], *end = d->end[CLEW_SEG_TEXT_HEX];
    if (get_varint_fast(p, end, n) < 0 || *n < MIN_HEX || (*n + 1) / 2 > (uint64_t)(end - *p)) {
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
    for (uint32_t k = 0; k < d->tpl[id].nint; k++) {
        uint64_t v;
        unsigned lz;
        if (get_int(d, &v, &lz) < 0) {
            return CLEW_ECORRUPT;
        }
    }
    for (uint32_t k = 0; k < d->tpl[id].nhex; k++) {
        uint64_t n;
        const uint8_t *pay;
        if (get_hex(d, &n, &pay) < 0) {
            return CLEW_ECORRUPT;
        }
    }
    return 0;
}

/* Copies n bytes 16 at a time: may read and write up to SLACK - 1 bytes
 * more. Most literals take the two fixed copies, whose branch the varying
 * lengths cannot mispredict. */
static inline void copy_wide(uint8_t *q, const uint8_t *t, size_t n)
{
    memcpy(q, t, 16);
    memcpy(q + 16, t + 16, 16);
    for (size_t i = 32; i < n; i += 16) {
        memcpy(q + i, t + i, 16);
    }
}

/* Digits of v (< 10^19). */
static inline unsigned ndigits(uint64_t v)
{
    static const uint64_t pow10[19] = { 1ull,
                                        10ull,
                                        100ull,
                                        1000ull,
                                        10000ull,
                                        100000ull,
                                        1000000ull,
                                        10000000ull,
                                        100000000ull,
                                        1000000000ull,
                                        10000000000ull,
                                        100000000000ull,
                                        1000000000000ull,
                                        10000000000000ull,
                                        100000000000000ull,
                                        1000000000000000ull,
                                        10000000000000000ull,
                                        100000000000000000ull,
                                        1000000000000000000ull };
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
    unsigned k = (bits * 1233) >> 12; /* log10(2) ~ 1233 / 4096 */
    return k + ((v | 1) >= pow10[k]); /* 0 has one digit */
}

/* The 8 decimal digits of v < 10^8 (with leading zeros) as a little-endian
 * word, the first digit in the low byte: each step halves the lanes' width
 * (two 4-digit halves, four pairs, eight digits) with a multiply-shift
 * division that is exact in its range. */
static inline uint64_t digits8_text(uint64_t v)
{
    uint64_t x = v / 10000 | (v % 10000) << 32;
    uint64_t y = ((x * 10486) >> 20) & 0x0000007F0000007Full; /* / 100, lanes < 10^4 */
    x = (x - y * 100) << 16 | y;
    y = ((x * 103) >> 10) & 0x000F000F000F000Full; /* / 10, lanes < 100 */
    x = (x - y * 10) << 8 | y;
    return x | 0x3030303030303030ull;
}

/* Writes the decimal text of v with lz leading zeros at q (up to
 * INT_MAX_TEXT bytes of room); returns its end. */
static inline uint8_t *fmt_int(uint8_t *q, uint64_t v, unsigned lz)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    if (lz > 0) {
        memcpy(q, "0000000000000000", 16);
        q[16] = '0';
        q += lz;
    }
    unsigned nd = ndigits(v);
    uint8_t *end = q + nd, *p = end;
    if (SWAR_DIGITS && v < 100000000) { /* 8 digits at once: no loop whose end varies */
        uint64_t x = digits8_text(v) >> (8 * (8 - nd));
        memcpy(q, &x, 8);
        return end;
    }
    while (v >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        memcpy(p - 2, pairs + 2 * v, 2);
    } else {
        p[-1] = (uint8_t)('0' + v);
    }
    return end;
}

static uint8_t *fmt_hex(uint8_t *q, const uint8_t *pay, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i + 1 < n; i += 2) {
        q[0] = (uint8_t)hex[pay[i / 2] >> 4];
        q[1] = (uint8_t)hex[pay[i / 2] & 15];
        q += 2;
    }
    if (n & 1) {
        *q++ = (uint8_t)hex[pay[n / 2] >> 4];
    }
    return q;
}

/* Appends a hex token or an id (code) at *q, first making sure out holds
 * room more bytes after it (out->data may move: *q follows). */
static int expand_var(struct clew_seg_text_dec *d, unsigned code, const struct clew_str ids[3],
                      struct clew_buf *out, uint8_t **q, size_t room)
{
    uint64_t n;
    const uint8_t *pay = NULL;
    if (code == E_HEX && get_hex(d, &n, &pay) < 0) {
        return CLEW_ECORRUPT;
    }
    size_t need = code == E_HEX ? (size_t)n : ids[code - E_ID].len;
    size_t at = (size_t)(*q - out->data);
    if (need > CLEW_REC_MAX_FIELD) {
        return CLEW_ECORRUPT;
    }
    if (need + room > out->cap - at) {
        out->len = at;
        if (clew_buf_reserve(out, need + room) < 0) {
            return -ENOMEM;
        }
        *q = out->data + at;
    }
    if (code == E_HEX) {
        *q = fmt_hex(*q, pay, need);
    } else if (need >= 16 && need <= 32) { /* most ids: two overlapping copies */
        memcpy(*q, ids[code - E_ID].ptr, 16);
        memcpy(*q + need - 16, ids[code - E_ID].ptr + need - 16, 16);
        *q += need;
    } else if (need > 0) {
        memcpy(*q, ids[code - E_ID].ptr, need);
        *q += need;
    }
    return 0;
}

int clew_seg_text_dec_next(struct clew_seg_text_dec *d, const struct clew_str ids[3],
                           struct clew_buf *out, size_t max)
{
    uint32_t id;
    if (next_tmpl(d, &id) < 0) {
        return CLEW_ECORRUPT;
    }
    const struct clew_seg_text_tmpl *tp = &d->tpl[id];
    if (tp->lit > max) {
        return CLEW_ECORRUPT;
    }
    /* Room for the literals and the ints, and the wide copies' overrun;
     * hex tokens and ids make their own. A string is checked against max
     * after every int, so the ints never take more than max + one int. */
    size_t ints = INT_MAX_TEXT * (size_t)tp->nint;
    ints = ints < max + INT_MAX_TEXT ? ints : max + INT_MAX_TEXT;
    size_t room = tp->lit + ints + SLACK, start = out->len;
    if (room > out->cap - out->len && clew_buf_reserve(out, room) < 0) {
        return -ENOMEM;
    }
    uint8_t *q = out->data + out->len;
    const uint8_t *t = d->tmpl + tp->off;
    for (const uint64_t *op = d->ops + tp->op;; op++) {
        size_t lit = (size_t)(*op >> 8);
        unsigned code = (uint8_t)*op;
        copy_wide(q, t, lit);
        q += lit;
        t += lit + 2;
        if (code == E_INT) {
            uint64_t v;
            unsigned lz;
            if (get_int(d, &v, &lz) < 0) {
                return CLEW_ECORRUPT;
            }
            q = fmt_int(q, v, lz);
            if ((size_t)(q - out->data) - start > max) {
                return CLEW_ECORRUPT;
            }
        } else if (code == OP_END) {
            break;
        } else if (code <= E_LF) {
            *q++ = code == E_FF ? ESC : LF;
        } else {
            int rc = expand_var(d, code, ids, out, &q, room);
            if (rc < 0) {
                return rc;
            }
            if ((size_t)(q - out->data) - start > max) {
                return CLEW_ECORRUPT;
            }
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
