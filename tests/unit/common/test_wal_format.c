/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/wal_format.h"

/* Encodes n log-like records into raw. */
static void make_raw(struct clew_buf *raw, int n, int salt)
{
    char msg[200];
    for (int i = 0; i < n; i++) {
        struct clew_record r;
        memset(&r, 0, sizeof(r));
        r.ts = 1795897778710192000LL + i;
        r.level = (uint8_t)(i % 8);
        r.input = CLEW_INPUT_SYSLOG;
        r.labels[CLEW_LABEL_HOST] = CLEW_STR_LIT("web-01");
        r.labels[CLEW_LABEL_SERVICE] = CLEW_STR_LIT("api");
        int m = snprintf(msg, sizeof(msg), "GET /v1/items/%d?salt=%d 200 %d ms", i * 7919, salt,
                         i % 97);
        r.message = (struct clew_str){ msg, (size_t)m };
        assert_int_equal(clew_rec_encode(raw, &r), 0);
    }
}

/* One frame of n records in out (after what out holds); raw keeps the
 * payload. */
static void make_frame(struct clew_buf *out, struct clew_buf *raw, int n, uint64_t seq)
{
    clew_buf_reset(raw);
    make_raw(raw, n, (int)seq);
    assert_int_equal(clew_walf_encode(out, raw->data, raw->len, (uint32_t)n, seq), 0);
}

static uint64_t frame_sum(const uint8_t *h)
{
    uint32_t clen = clew_load_u32(h + 4);
    return XXH3_64bits_withSeed(h + CLEW_WALF_FRAME_HEADER_LEN, clen, XXH3_64bits(h, 24));
}

static void test_file_header(void **state)
{
    (void)state;
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_walf_file_header(&b, 0x0123456789abcdefULL), 0);
    assert_int_equal(b.len, CLEW_WALF_FILE_HEADER_LEN);
    assert_memory_equal(b.data, "CLEW-WAL", 8);
    assert_int_equal(clew_load_u32(b.data + 8), CLEW_WALF_VERSION);
    assert_true(clew_load_u64(b.data + 16) == 0x0123456789abcdefULL);
    assert_int_equal(clew_load_u32(b.data + 28), XXH32(b.data, 28, 0));
    uint64_t gen = 0;
    assert_int_equal(clew_walf_parse_file_header(b.data, b.len, &gen), 0);
    assert_true(gen == 0x0123456789abcdefULL);

    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(clew_walf_parse_file_header(b.data, n, &gen), CLEW_ETRUNC);
    }
    uint8_t h[CLEW_WALF_FILE_HEADER_LEN];
    for (size_t i = 0; i < sizeof(h); i++) {
        memcpy(h, b.data, sizeof(h));
        h[i] ^= 0x10;
        int want = i < 8 ? CLEW_EFORMAT : (i >= 8 && i < 12) ? CLEW_EVERSION : CLEW_ECORRUPT;
        assert_int_equal(clew_walf_parse_file_header(h, sizeof(h), &gen), want);
    }
    memcpy(h, "NOTAWAL!", 8);
    assert_int_equal(clew_walf_parse_file_header(h, 3, &gen), CLEW_EFORMAT);
    clew_buf_close(&b);
}

static void test_frame_round_trip(void **state)
{
    (void)state;
    struct clew_buf raw, out, back;
    clew_buf_init(&raw);
    clew_buf_init(&out);
    clew_buf_init(&back);
    make_frame(&out, &raw, 500, 42);
    size_t first = out.len;
    struct clew_buf raw2;
    clew_buf_init(&raw2);
    make_frame(&out, &raw2, 0, 43); /* an empty frame follows */

    uint8_t *h = out.data;
    assert_int_equal(clew_load_u32(h + 4), first - CLEW_WALF_FRAME_HEADER_LEN);
    assert_int_equal(clew_load_u32(h + 8), raw.len);
    assert_int_equal(clew_load_u32(h + 12), 500);
    assert_true(clew_load_u64(h + 16) == 42);
    assert_true(clew_load_u64(h + 24) == frame_sum(h));
    assert_true(first < raw.len / 2); /* log lines compress */

    struct clew_walf_frame f;
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), 0);
    assert_int_equal(f.frame_len, first);
    assert_int_equal(f.count, 500);
    assert_true(f.seq == 42);
    assert_int_equal(back.len, raw.len);
    assert_memory_equal(back.data, raw.data, raw.len);
    size_t flen = 0;
    assert_int_equal(clew_walf_frame_len(out.data, out.len, &flen), 0);
    assert_int_equal(flen, first);

    assert_int_equal(clew_walf_decode(out.data + first, out.len - first, &back, &f), 0);
    assert_int_equal(f.frame_len, out.len - first);
    assert_int_equal(f.count, 0);
    assert_true(f.seq == 43);
    assert_int_equal(back.len, 0);
    clew_buf_close(&raw);
    clew_buf_close(&raw2);
    clew_buf_close(&out);
    clew_buf_close(&back);
}

static void test_frame_prefixes_truncated(void **state)
{
    (void)state;
    struct clew_buf raw, out, back;
    clew_buf_init(&raw);
    clew_buf_init(&out);
    clew_buf_init(&back);
    make_frame(&out, &raw, 20, 7);
    for (size_t n = 0; n < out.len; n++) {
        uint8_t *p = malloc(n ? n : 1); /* exact size: ASan catches overreads */
        assert_non_null(p);
        memcpy(p, out.data, n);
        struct clew_walf_frame f;
        assert_int_equal(clew_walf_decode(p, n, &back, &f), CLEW_ETRUNC);
        assert_int_equal(back.len, 0);
        free(p);
    }
    clew_buf_close(&raw);
    clew_buf_close(&out);
    clew_buf_close(&back);
}

static void test_frame_corruption(void **state)
{
    (void)state;
    struct clew_buf raw, out, back;
    clew_buf_init(&raw);
    clew_buf_init(&out);
    clew_buf_init(&back);
    make_frame(&out, &raw, 20, 7);
    struct clew_walf_frame f;
    /* Flipping any bit of the frame never decodes. Header flips may make
     * the frame look longer (ETRUNC); the magic, checksum and payload give
     * ECORRUPT. */
    for (size_t i = 0; i < out.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            out.data[i] ^= (uint8_t)(1u << bit);
            int rc = clew_walf_decode(out.data, out.len, &back, &f);
            if (i < 4 || i >= 16) {
                assert_int_equal(rc, CLEW_ECORRUPT);
            } else {
                assert_true(rc == CLEW_ECORRUPT || rc == CLEW_ETRUNC);
            }
            out.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), 0);
    /* A bad magic is known from the first byte. */
    out.data[0] ^= 1;
    size_t flen;
    assert_int_equal(clew_walf_frame_len(out.data, 1, &flen), CLEW_ECORRUPT);
    assert_int_equal(clew_walf_decode(out.data, 1, &back, &f), CLEW_ECORRUPT);
    clew_buf_close(&raw);
    clew_buf_close(&out);
    clew_buf_close(&back);
}

/* Rewrites a header field and fixes the checksum, so only the structural
 * checks can catch it. */
static void set_field(uint8_t *h, int off, uint32_t v)
{
    clew_store_u32(h + off, v);
    clew_store_u64(h + 24, frame_sum(h));
}

static void test_frame_bad_structure(void **state)
{
    (void)state;
    struct clew_buf raw, out, back;
    clew_buf_init(&raw);
    clew_buf_init(&out);
    clew_buf_init(&back);
    make_frame(&out, &raw, 20, 7);
    struct clew_walf_frame f;
    uint32_t rlen = clew_load_u32(out.data + 8);
    uint32_t clen = clew_load_u32(out.data + 4);

    set_field(out.data, 12, 21); /* one record more than the payload holds */
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 12, 19); /* one fewer: trailing bytes */
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 12, rlen / CLEW_WALF_MIN_RECORD + 1); /* impossible count */
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 12, 20);
    set_field(out.data, 8, rlen + 1); /* LZ4 gives fewer bytes than rlen */
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 8, rlen - 1); /* LZ4 output does not fit */
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 8, CLEW_WALF_MAX_RAW + 1);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 8, rlen);
    set_field(out.data, 4, 0);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 4, (uint32_t)LZ4_COMPRESSBOUND(rlen) + 1);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    set_field(out.data, 4, clen);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), 0);

    /* Garbage payload with a valid checksum: LZ4 rejects it. */
    memset(out.data + CLEW_WALF_FRAME_HEADER_LEN, 0xF0, clen);
    set_field(out.data, 4, clen);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    assert_int_equal(back.len, 0);

    /* A payload of valid LZ4 that is not records. */
    clew_buf_reset(&out);
    static const char junk[64] = "this is not a record, nor anything like it at all......";
    assert_int_equal(clew_walf_encode(&out, junk, sizeof(junk), 1, 1), 0);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), CLEW_ECORRUPT);
    clew_buf_close(&raw);
    clew_buf_close(&out);
    clew_buf_close(&back);
}

static void test_encode_limits_and_oom(void **state)
{
    (void)state;
    struct clew_buf out, raw, back;
    clew_buf_init(&out);
    clew_buf_init(&raw);
    clew_buf_init(&back);
    assert_int_equal(clew_walf_encode(&out, "", (size_t)CLEW_WALF_MAX_RAW + 1, 1, 1), CLEW_ETOOBIG);
    assert_int_equal(out.len, 0);
    make_raw(&raw, 5, 0);
    clew_alloc_fail_after(0);
    assert_int_equal(clew_walf_encode(&out, raw.data, raw.len, 5, 1), -ENOMEM);
    assert_int_equal(clew_walf_file_header(&out, 1), -ENOMEM);
    clew_alloc_fail_after(-1);
    assert_int_equal(out.len, 0);
    assert_int_equal(clew_walf_encode(&out, raw.data, raw.len, 5, 1), 0);
    struct clew_walf_frame f;
    clew_alloc_fail_after(0);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), -ENOMEM);
    clew_alloc_fail_after(-1);
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), 0);
    assert_memory_equal(back.data, raw.data, raw.len);
    clew_buf_close(&out);
    clew_buf_close(&raw);
    clew_buf_close(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_header),
        cmocka_unit_test(test_frame_round_trip),
        cmocka_unit_test(test_frame_prefixes_truncated),
        cmocka_unit_test(test_frame_corruption),
        cmocka_unit_test(test_frame_bad_structure),
        cmocka_unit_test(test_encode_limits_and_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
