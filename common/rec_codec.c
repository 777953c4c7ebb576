/* SPDX-License-Identifier: MIT */
#include "common/rec_codec.h"

#include <stddef.h>
#include <string.h>

#include "clew/error.h"
#include "common/rec_copy.h"

#define NSTR 10

/* The ten strings of a record are ten consecutive struct clew_str members
 * in encoding order (labels, message, trace_id, span_id, parent_span_id,
 * fields), so the hot paths walk them as one array. */
_Static_assert(offsetof(struct clew_record, message) ==
                   offsetof(struct clew_record, labels) +
                       CLEW_LABEL_COUNT * sizeof(struct clew_str),
               "message follows the labels");
_Static_assert(offsetof(struct clew_record, fields) ==
                   offsetof(struct clew_record, labels) + (NSTR - 1) * sizeof(struct clew_str),
               "the ten strings are contiguous");

static const struct clew_str *strs(const struct clew_record *r)
{
    return (const struct clew_str *)((const char *)r + offsetof(struct clew_record, labels));
}

static struct clew_str *strs_mut(struct clew_record *r)
{
    return (struct clew_str *)((char *)r + offsetof(struct clew_record, labels));
}

/* 1 + floor(log2(v | 1)) / 7: the bytes of v as a LEB128 varint. */
static inline size_t varint_len(uint64_t v)
{
    return 1 + (size_t)(63 - __builtin_clzll(v | 1)) / 7;
}

size_t clew_rec_encoded_size(const struct clew_record *r)
{
    const struct clew_str *s = strs(r);
    size_t n = 8 + 1 + 1 + varint_len(r->flags);
    for (int i = 0; i < NSTR; i++) {
        n += varint_len(s[i].len) + s[i].len;
    }
    return n;
}

size_t clew_rec_checked_size(const struct clew_record *r)
{
    const struct clew_str *s = strs(r);
    size_t n = 8 + 1 + 1 + varint_len(r->flags);
    int big = 0;
    for (int i = 0; i < NSTR; i++) {
        size_t k = s[i].len;
        big |= k > CLEW_REC_MAX_FIELD;
        /* Within the limit (< 2^28) a length takes at most 4 varint bytes. */
        n += k + 1 + (k > 0x7F) + (k > 0x3FFF) + (k > 0x1FFFFF);
    }
    return big ? 0 : n;
}

size_t clew_rec_raw_size(const struct clew_record *r)
{
    const struct clew_str *s = strs(r);
    size_t n = 0;
    for (int i = 0; i < NSTR; i++) {
        n += s[i].len;
    }
    return n;
}

static inline void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

uint8_t *clew_rec_encode_to(uint8_t *p, const struct clew_record *r)
{
    const struct clew_str *s = strs(r);
    store_le64(p, (uint64_t)r->ts);
    p[8] = r->level;
    p[9] = r->input;
    p = put_varint(p + 10, r->flags);
    for (int i = 0; i < NSTR; i++) {
        size_t n = s[i].len;
        if (n < 0x80) {
            *p++ = (uint8_t)n; /* the common case: a short string */
        } else {
            p = put_varint(p, n);
        }
        clew_rec_memcpy(p, s[i].ptr, n);
        p += n;
    }
    return p;
}

int clew_rec_encode(struct clew_buf *b, const struct clew_record *r)
{
    size_t need = clew_rec_checked_size(r);
    if (need == 0) {
        return CLEW_ETOOBIG;
    }
    int rc = clew_buf_reserve(b, need);
    if (rc < 0) {
        return rc;
    }
    /* Room is reserved: write straight into it. */
    b->len = (size_t)(clew_rec_encode_to(b->data + b->len, r) - b->data);
    return 0;
}

int clew_rec_decode(struct clew_rd *rd, struct clew_record *out)
{
    struct clew_rd r = *rd;
    uint64_t ts, flags;
    uint8_t level, input;
    int rc;
    if ((rc = clew_rd_u64(&r, &ts)) < 0 || (rc = clew_rd_u8(&r, &level)) < 0 ||
        (rc = clew_rd_u8(&r, &input)) < 0 || (rc = clew_rd_varint(&r, &flags)) < 0) {
        return rc;
    }
    if (level > 7 || input >= CLEW_INPUT_MAX_ || flags > UINT16_MAX) {
        return CLEW_ECORRUPT;
    }
    out->ts = (int64_t)ts;
    out->level = level;
    out->input = input;
    out->flags = (uint16_t)flags;
    struct clew_str *s = strs_mut(out);
    for (int i = 0; i < NSTR; i++) {
        const uint8_t *p;
        size_t n;
        if ((rc = clew_rd_bytes(&r, &p, &n)) < 0) {
            return rc;
        }
        if (n > CLEW_REC_MAX_FIELD) {
            return CLEW_ECORRUPT;
        }
        s[i].ptr = (const char *)p;
        s[i].len = n;
    }
    *rd = r;
    return 0;
}
