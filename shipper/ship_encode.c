/* SPDX-License-Identifier: MIT */
#include "shipper/ship_encode.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "clew/error.h"

void clew_ship_fixed_init(struct clew_ship_fixed *f)
{
    clew_buf_init(&f->kv);
    f->npairs = 0;
}

void clew_ship_fixed_close(struct clew_ship_fixed *f)
{
    clew_buf_close(&f->kv);
    f->npairs = 0;
}

/* msgpack str header for n bytes into p; returns its length (1, 2, 3 or 5). */
static size_t str_head(uint8_t *p, size_t n)
{
    if (n < 32) {
        p[0] = (uint8_t)(0xa0 | n);
        return 1;
    }
    if (n < 256) {
        p[0] = 0xd9;
        p[1] = (uint8_t)n;
        return 2;
    }
    if (n < 65536) {
        p[0] = 0xda;
        p[1] = (uint8_t)(n >> 8);
        p[2] = (uint8_t)n;
        return 3;
    }
    p[0] = 0xdb;
    p[1] = (uint8_t)(n >> 24);
    p[2] = (uint8_t)(n >> 16);
    p[3] = (uint8_t)(n >> 8);
    p[4] = (uint8_t)n;
    return 5;
}

/* Appends a str; the caller reserved room (n + 5). */
static void put_str(struct clew_buf *b, const char *s, size_t n)
{
    b->len += str_head(b->data + b->len, n);
    if (n > 0) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
}

int clew_ship_fixed_add(struct clew_ship_fixed *f, const char *key, const char *val, size_t vlen)
{
    size_t kl = strlen(key);
    if (vlen == 0) {
        return 0;
    }
    if (clew_buf_reserve(&f->kv, kl + vlen + 10) < 0) {
        return -ENOMEM;
    }
    put_str(&f->kv, key, kl);
    put_str(&f->kv, val, vlen);
    f->npairs++;
    return 0;
}

/* Length of the str at p (header + body), for walking fixed pairs. */
static size_t str_at(const uint8_t *p, const uint8_t **body, size_t *n)
{
    size_t h;
    if ((p[0] & 0xe0) == 0xa0) {
        *n = p[0] & 0x1f;
        h = 1;
    } else if (p[0] == 0xd9) {
        *n = p[1];
        h = 2;
    } else if (p[0] == 0xda) {
        *n = (size_t)p[1] << 8 | p[2];
        h = 3;
    } else {
        *n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        h = 5;
    }
    *body = p + h;
    return h + *n;
}

int clew_ship_fixed_has(const struct clew_ship_fixed *f, const char *key, size_t klen)
{
    const uint8_t *p = f->kv.data, *end = f->kv.data + f->kv.len;
    while (p < end) {
        const uint8_t *body;
        size_t n;
        p += str_at(p, &body, &n);
        if (n == klen && memcmp(body, key, n) == 0) {
            return 1;
        }
        p += str_at(p, &body, &n);
    }
    return 0;
}

static int builtin_key(const struct clew_str *k)
{
    static const char *const names[] = { "log", "stream", "truncated", "partial" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (k->len == strlen(names[i]) && memcmp(k->ptr, names[i], k->len) == 0) {
            return 1;
        }
    }
    return 0;
}

static void put_map_head(struct clew_buf *b, uint32_t n)
{
    if (n < 16) {
        b->data[b->len++] = (uint8_t)(0x80 | n);
    } else {
        b->data[b->len++] = 0xde;
        b->data[b->len++] = (uint8_t)(n >> 8);
        b->data[b->len++] = (uint8_t)n;
    }
}

/* [EventTime: fixext8 type 0, BE seconds and nanoseconds */
static void put_time(struct clew_buf *b, int64_t ts)
{
    int64_t sec = ts / 1000000000LL, ns = ts % 1000000000LL;
    if (ns < 0) {
        sec--;
        ns += 1000000000LL;
    }
    uint8_t *p = b->data + b->len;
    uint32_t s = (uint32_t)sec, n = (uint32_t)ns;
    p[0] = 0x92; /* the entry array */
    p[1] = 0xd7;
    p[2] = 0x00;
    p[3] = (uint8_t)(s >> 24);
    p[4] = (uint8_t)(s >> 16);
    p[5] = (uint8_t)(s >> 8);
    p[6] = (uint8_t)s;
    p[7] = (uint8_t)(n >> 24);
    p[8] = (uint8_t)(n >> 16);
    p[9] = (uint8_t)(n >> 8);
    p[10] = (uint8_t)n;
    b->len += 11;
}

int clew_ship_entry_encode(struct clew_buf *out, const struct clew_ship_entry *e,
                           const struct clew_ship_fixed *fx)
{
    size_t need = 11 + 3 + 10 + e->msg.len + 16 + fx->kv.len + 40;
    uint32_t npairs = 1 + (e->stream >= 0) + fx->npairs + (e->flags & CLEW_REC_TRUNCATED ? 1 : 0) +
                      (e->partial ? 1 : 0);
    unsigned char use[64] = { 0 };
    for (size_t i = 0; i < e->nattrs && i < sizeof(use); i++) {
        const struct clew_str *k = &e->attr_keys[i];
        if (!builtin_key(k) && !clew_ship_fixed_has(fx, k->ptr, k->len)) {
            use[i] = 1;
            npairs++;
            need += k->len + e->attr_vals[i].len + 10;
        }
    }
    if (clew_buf_reserve(out, need) < 0) {
        return -ENOMEM;
    }
    put_time(out, e->ts);
    put_map_head(out, npairs);
    put_str(out, "log", 3);
    put_str(out, e->msg.ptr, e->msg.len);
    if (e->stream >= 0) {
        put_str(out, "stream", 6);
        put_str(out, e->stream ? "stderr" : "stdout", 6);
    }
    if (e->flags & CLEW_REC_TRUNCATED) {
        put_str(out, "truncated", 9);
        put_str(out, "true", 4);
    }
    if (e->partial) {
        put_str(out, "partial", 7);
        put_str(out, "true", 4);
    }
    if (fx->kv.len > 0) {
        memcpy(out->data + out->len, fx->kv.data, fx->kv.len);
        out->len += fx->kv.len;
    }
    for (size_t i = 0; i < e->nattrs && i < sizeof(use); i++) {
        if (use[i]) {
            put_str(out, e->attr_keys[i].ptr, e->attr_keys[i].len);
            put_str(out, e->attr_vals[i].ptr, e->attr_vals[i].len);
        }
    }
    return 0;
}

size_t clew_ship_request_head(uint8_t *head, const char *tag, size_t payload_len)
{
    size_t tl = strlen(tag);
    tl = tl > 250 ? 250 : tl;
    size_t n = 0;
    head[n++] = 0x93;
    n += str_head(head + n, tl);
    memcpy(head + n, tag, tl);
    n += tl;
    head[n++] = 0xc6; /* bin32 */
    head[n++] = (uint8_t)(payload_len >> 24);
    head[n++] = (uint8_t)(payload_len >> 16);
    head[n++] = (uint8_t)(payload_len >> 8);
    head[n++] = (uint8_t)payload_len;
    return n;
}

int clew_ship_request_tail(struct clew_buf *out, const char *chunk, uint32_t count, int gzip)
{
    size_t cl = strlen(chunk);
    if (clew_buf_reserve(out, cl + 64) < 0) {
        return -ENOMEM;
    }
    put_map_head(out, gzip ? 3 : 2);
    put_str(out, "chunk", 5);
    put_str(out, chunk, cl);
    put_str(out, "size", 4);
    uint8_t *p = out->data + out->len;
    p[0] = 0xce;
    p[1] = (uint8_t)(count >> 24);
    p[2] = (uint8_t)(count >> 16);
    p[3] = (uint8_t)(count >> 8);
    p[4] = (uint8_t)count;
    out->len += 5;
    if (gzip) {
        put_str(out, "compressed", 10);
        put_str(out, "gzip", 4);
    }
    return 0;
}

int clew_ship_gzip(struct clew_buf *out, const void *in, size_t len, int level)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return -ENOMEM;
    }
    size_t bound = deflateBound(&z, (uLong)len);
    int rc = clew_buf_reserve(out, bound);
    if (rc == 0) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)bound;
        rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : CLEW_ECORRUPT;
        if (rc == 0) {
            out->len += bound - z.avail_out;
        }
    }
    deflateEnd(&z);
    return rc;
}
