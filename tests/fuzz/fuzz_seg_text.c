/* SPDX-License-Identifier: MIT
 * Fuzzes the template codec of the string columns (common/seg_text.c).
 * Byte 0 picks the mode. Decode: the rest is four streams (three u16
 * lengths, then the bytes), decoded string by string (some skipped) with a
 * small length limit; the decoder must never crash, read out of bounds or
 * leak, whatever the streams hold. Round trip: the rest is strings split at
 * 0x00, the first three being the record's ids; they are encoded as one
 * column, and decoding must give them back byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/seg_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const uint8_t *p, size_t n)
{
    if (n < 6) {
        return;
    }
    const uint8_t *st[4];
    size_t len[4], used = 6;
    for (int k = 0; k < 3; k++) {
        len[k] = (size_t)(p[2 * k] | p[2 * k + 1] << 8);
    }
    for (int k = 0; k < 3; k++) {
        len[k] = len[k] < n - used ? len[k] : n - used;
        st[k] = p + used;
        used += len[k];
    }
    st[3] = p + used;
    len[3] = n - used;
    static const struct clew_str ids[3] = { { "4bf92f3577b34da6", 16 }, { "", 0 }, { "x", 1 } };
    struct clew_seg_text_dec d;
    struct clew_buf out;
    clew_buf_init(&out);
    if (clew_seg_text_dec_init(&d, st, len) == 0) {
        for (unsigned i = 0; i < 4096; i++) {
            int rc = i % 5 == 4 ? clew_seg_text_dec_skip(&d)
                                : clew_seg_text_dec_next(&d, ids, &out, 1u << 16);
            if (rc != 0) {
                break;
            }
        }
        (void)clew_seg_text_dec_end(&d);
    }
    clew_seg_text_dec_close(&d);
    clew_buf_close(&out);
}

/* The next piece of p[*at..n) up to a 0x00, as a malloc'd copy of exactly
 * its size (so reading past it is caught). */
static uint8_t *piece(const uint8_t *p, size_t n, size_t *at, size_t *len)
{
    const uint8_t *z = memchr(p + *at, 0, n - *at);
    *len = z != NULL ? (size_t)(z - (p + *at)) : n - *at;
    uint8_t *c = malloc(*len + 1);
    memcpy(c, p + *at, *len);
    *at += *len + (z != NULL);
    return c;
}

static void round_trip(const uint8_t *p, size_t n)
{
    size_t at = 0, idlen[3], len[64];
    uint8_t *idp[3], *str[64];
    for (int k = 0; k < 3; k++) {
        idp[k] = piece(p, n, &at, &idlen[k]);
    }
    const struct clew_str ids[3] = { { (const char *)idp[0], idlen[0] },
                                     { (const char *)idp[1], idlen[1] },
                                     { (const char *)idp[2], idlen[2] } };
    size_t ns = 0;
    while (at < n && ns < 64) {
        str[ns] = piece(p, n, &at, &len[ns]);
        ns++;
    }
    struct clew_seg_text_enc e;
    clew_seg_text_enc_init(&e);
    for (size_t i = 0; i < ns; i++) {
        if (clew_seg_text_enc_add(&e, (const char *)str[i], len[i], ids) != 0) {
            abort();
        }
    }
    static const uint8_t empty[1];
    const uint8_t *st[4];
    size_t sl[4];
    for (int k = 0; k < 4; k++) {
        st[k] = e.s[k].len > 0 ? e.s[k].data : empty;
        sl[k] = e.s[k].len;
    }
    struct clew_seg_text_dec d;
    struct clew_buf out;
    clew_buf_init(&out);
    if (clew_seg_text_dec_init(&d, st, sl) != 0) {
        abort();
    }
    for (size_t i = 0; i < ns; i++) {
        clew_buf_reset(&out);
        if (clew_seg_text_dec_next(&d, ids, &out, 1u << 26) != 0 || out.len != len[i] ||
            (len[i] > 0 && memcmp(out.data, str[i], len[i]) != 0)) {
            abort();
        }
        free(str[i]);
    }
    if (clew_seg_text_dec_end(&d) != 0) {
        abort();
    }
    clew_seg_text_dec_close(&d);
    clew_seg_text_enc_close(&e);
    clew_buf_close(&out);
    for (int k = 0; k < 3; k++) {
        free(idp[k]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if (data[0] & 1) {
        round_trip(data + 1, size - 1);
    } else {
        decode(data + 1, size - 1);
    }
    return 0;
}
