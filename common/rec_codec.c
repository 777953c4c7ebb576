/* SPDX-License-Identifier: MIT */
#include "common/rec_codec.h"

#include <string.h>

#include "clew/error.h"

/* The ten strings of a record in encoding order. */
static void strings_of(const struct clew_record *r, const struct clew_str *out[10])
{
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        out[i] = &r->labels[i];
    }
    out[5] = &r->message;
    out[6] = &r->trace_id;
    out[7] = &r->span_id;
    out[8] = &r->parent_span_id;
    out[9] = &r->fields;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t clew_rec_encoded_size(const struct clew_record *r)
{
    const struct clew_str *s[10];
    strings_of(r, s);
    size_t n = 8 + 1 + 1 + varint_len(r->flags);
    for (int i = 0; i < 10; i++) {
        n += varint_len(s[i]->len) + s[i]->len;
    }
    return n;
}

size_t clew_rec_raw_size(const struct clew_record *r)
{
    const struct clew_str *s[10];
    strings_of(r, s);
    size_t n = 0;
    for (int i = 0; i < 10; i++) {
        n += s[i]->len;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

int clew_rec_encode(struct clew_buf *b, const struct clew_record *r)
{
    const struct clew_str *s[10];
    strings_of(r, s);
    size_t need = 8 + 1 + 1 + varint_len(r->flags);
    for (int i = 0; i < 10; i++) {
        if (s[i]->len > CLEW_REC_MAX_FIELD) {
            return CLEW_ETOOBIG;
        }
        need += varint_len(s[i]->len) + s[i]->len;
    }
    int rc = clew_buf_reserve(b, need);
    if (rc < 0) {
        return rc;
    }
    /* Room is reserved: write straight into it (this is the WAL's hot path). */
    uint8_t *p = b->data + b->len;
    clew_store_u64(p, (uint64_t)r->ts);
    p[8] = r->level;
    p[9] = r->input;
    p = put_varint(p + 10, r->flags);
    for (int i = 0; i < 10; i++) {
        p = put_varint(p, s[i]->len);
        if (s[i]->len > 0) {
            memcpy(p, s[i]->ptr, s[i]->len);
            p += s[i]->len;
        }
    }
    b->len = (size_t)(p - b->data);
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
    const struct clew_str *s[10];
    strings_of(out, s);
    for (int i = 0; i < 10; i++) {
        const uint8_t *p;
        size_t n;
        if ((rc = clew_rd_bytes(&r, &p, &n)) < 0) {
            return rc;
        }
        if (n > CLEW_REC_MAX_FIELD) {
            return CLEW_ECORRUPT;
        }
        /* strings_of gives const views of out's own fields. */
        struct clew_str *dst = (struct clew_str *)(uintptr_t)s[i];
        dst->ptr = (const char *)p;
        dst->len = n;
    }
    *rd = r;
    return 0;
}
