/* SPDX-License-Identifier: MIT
 * buf: a growable byte buffer with little-endian and varint writers, and a
 * bounds-checked reader over borrowed bytes. The writer owns its memory
 * (clew_buf_init / clew_buf_close); a failed append leaves the contents as
 * they were and returns -ENOMEM. The reader never allocates; every get
 * returns CLEW_ETRUNC instead of reading past the end. Any thread, one at a
 * time per object. */
#ifndef CLEW_BUF_H
#define CLEW_BUF_H

#include <stddef.h>
#include <stdint.h>

struct clew_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void clew_buf_init(struct clew_buf *b);
void clew_buf_close(struct clew_buf *b);
static inline void clew_buf_reset(struct clew_buf *b)
{
    b->len = 0;
}
/* Makes room for n more bytes; data is non-NULL afterwards. */
int clew_buf_reserve(struct clew_buf *b, size_t n);
int clew_buf_append(struct clew_buf *b, const void *p, size_t n);
int clew_buf_put_u8(struct clew_buf *b, uint8_t v);
int clew_buf_put_u16(struct clew_buf *b, uint16_t v);
int clew_buf_put_u32(struct clew_buf *b, uint32_t v);
int clew_buf_put_u64(struct clew_buf *b, uint64_t v);
int clew_buf_put_varint(struct clew_buf *b, uint64_t v); /* LEB128 */
int clew_buf_put_svarint(struct clew_buf *b, int64_t v); /* zigzag + LEB128 */
/* A varint length followed by the bytes. */
int clew_buf_put_bytes(struct clew_buf *b, const void *p, size_t n);
/* Takes the buffer's memory; the buffer is left empty. Caller clew_free()s. */
uint8_t *clew_buf_steal(struct clew_buf *b, size_t *len);

/* Fixed-width little-endian stores and loads on raw memory. */
void clew_store_u16(uint8_t *p, uint16_t v);
void clew_store_u32(uint8_t *p, uint32_t v);
void clew_store_u64(uint8_t *p, uint64_t v);
uint16_t clew_load_u16(const uint8_t *p);
uint32_t clew_load_u32(const uint8_t *p);
uint64_t clew_load_u64(const uint8_t *p);

/* A cursor over borrowed bytes. */
struct clew_rd {
    const uint8_t *p;
    const uint8_t *end;
};

static inline void clew_rd_init(struct clew_rd *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
}
static inline size_t clew_rd_left(const struct clew_rd *r)
{
    return (size_t)(r->end - r->p);
}
int clew_rd_u8(struct clew_rd *r, uint8_t *out);
int clew_rd_u16(struct clew_rd *r, uint16_t *out);
int clew_rd_u32(struct clew_rd *r, uint32_t *out);
int clew_rd_u64(struct clew_rd *r, uint64_t *out);
int clew_rd_varint(struct clew_rd *r, uint64_t *out);
int clew_rd_svarint(struct clew_rd *r, int64_t *out);
/* Borrows n bytes: *out points into the reader's memory. */
int clew_rd_take(struct clew_rd *r, size_t n, const uint8_t **out);
/* A varint length then the bytes (as clew_buf_put_bytes wrote them). */
int clew_rd_bytes(struct clew_rd *r, const uint8_t **out, size_t *len);

#endif
