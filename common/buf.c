/* SPDX-License-Identifier: MIT */
#include "common/buf.h"

#include <errno.h>
#include <string.h>

#include "clew/error.h"
#include "common/alloc.h"

void clew_buf_init(struct clew_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void clew_buf_close(struct clew_buf *b)
{
    clew_free(b->data);
    clew_buf_init(b);
}

int clew_buf_reserve(struct clew_buf *b, size_t n)
{
    /* An empty buffer gets memory even for n == 0, so data is never NULL
     * after a successful reserve (callers do pointer arithmetic on it). */
    if (n <= b->cap - b->len && b->data != NULL) {
        return 0;
    }
    if (n > SIZE_MAX / 2 - b->len) {
        return -ENOMEM;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
        cap *= 2;
    }
    uint8_t *d = clew_realloc(b->data, cap);
    if (d == NULL) {
        return -ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int clew_buf_append(struct clew_buf *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    int rc = clew_buf_reserve(b, n);
    if (rc < 0) {
        return rc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int clew_buf_put_u8(struct clew_buf *b, uint8_t v)
{
    return clew_buf_append(b, &v, 1);
}

int clew_buf_put_u16(struct clew_buf *b, uint16_t v)
{
    uint8_t t[2];
    clew_store_u16(t, v);
    return clew_buf_append(b, t, sizeof(t));
}

int clew_buf_put_u32(struct clew_buf *b, uint32_t v)
{
    uint8_t t[4];
    clew_store_u32(t, v);
    return clew_buf_append(b, t, sizeof(t));
}

int clew_buf_put_u64(struct clew_buf *b, uint64_t v)
{
    uint8_t t[8];
    clew_store_u64(t, v);
    return clew_buf_append(b, t, sizeof(t));
}

int clew_buf_put_varint(struct clew_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    return clew_buf_append(b, t, n);
}

int clew_buf_put_svarint(struct clew_buf *b, int64_t v)
{
    return clew_buf_put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

int clew_buf_put_bytes(struct clew_buf *b, const void *p, size_t n)
{
    int rc = clew_buf_reserve(b, n + 10);
    if (rc < 0) {
        return rc;
    }
    rc = clew_buf_put_varint(b, n);
    return rc < 0 ? rc : clew_buf_append(b, p, n);
}

uint8_t *clew_buf_steal(struct clew_buf *b, size_t *len)
{
    uint8_t *d = b->data;
    *len = b->len;
    clew_buf_init(b);
    return d;
}

void clew_store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void clew_store_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

void clew_store_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

uint16_t clew_load_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t clew_load_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

uint64_t clew_load_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

int clew_rd_u8(struct clew_rd *r, uint8_t *out)
{
    if (clew_rd_left(r) < 1) {
        return CLEW_ETRUNC;
    }
    *out = *r->p++;
    return 0;
}

int clew_rd_u16(struct clew_rd *r, uint16_t *out)
{
    if (clew_rd_left(r) < 2) {
        return CLEW_ETRUNC;
    }
    *out = clew_load_u16(r->p);
    r->p += 2;
    return 0;
}

int clew_rd_u32(struct clew_rd *r, uint32_t *out)
{
    if (clew_rd_left(r) < 4) {
        return CLEW_ETRUNC;
    }
    *out = clew_load_u32(r->p);
    r->p += 4;
    return 0;
}

int clew_rd_u64(struct clew_rd *r, uint64_t *out)
{
    if (clew_rd_left(r) < 8) {
        return CLEW_ETRUNC;
    }
    *out = clew_load_u64(r->p);
    r->p += 8;
    return 0;
}

int clew_rd_varint(struct clew_rd *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            return CLEW_ETRUNC;
        }
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return CLEW_ECORRUPT;
}

int clew_rd_svarint(struct clew_rd *r, int64_t *out)
{
    uint64_t u;
    int rc = clew_rd_varint(r, &u);
    if (rc == 0) {
        *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    }
    return rc;
}

int clew_rd_take(struct clew_rd *r, size_t n, const uint8_t **out)
{
    if (clew_rd_left(r) < n) {
        return CLEW_ETRUNC;
    }
    *out = r->p;
    r->p += n;
    return 0;
}

int clew_rd_bytes(struct clew_rd *r, const uint8_t **out, size_t *len)
{
    uint64_t n;
    int rc = clew_rd_varint(r, &n);
    if (rc < 0) {
        return rc;
    }
    if (n > clew_rd_left(r)) {
        return CLEW_ETRUNC;
    }
    *len = (size_t)n;
    return clew_rd_take(r, (size_t)n, out);
}
