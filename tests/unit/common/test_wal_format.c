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

/* A frame of clew_walf_encode_records with lz4_accel 0 is the records'
 * encodings behind one LZ4 literal-run header, and LZ4 itself reads it.
 * Message lengths 0..700 put rlen on both sides of the 15 + 255k steps
 * where the run length takes one more byte. */
static void test_stored_frames(void **state)
{
    (void)state;
    struct clew_buf out, scratch, raw, back;
    clew_buf_init(&out);
    clew_buf_init(&scratch);
    clew_buf_init(&raw);
    clew_buf_init(&back);
    char msg[700];
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (char)('a' + i % 26);
    }
    for (size_t len = 0; len <= sizeof(msg); len++) {
        struct clew_record r[2];
        memset(r, 0, sizeof(r));
        r[0].ts = (int64_t)len;
        r[0].message = (struct clew_str){ msg, len };
        r[1].labels[CLEW_LABEL_HOST] = CLEW_STR_LIT("web-01");
        uint32_t n = len % 2 ? 2 : 1;
        clew_buf_reset(&raw);
        for (uint32_t k = 0; k < n; k++) {
            assert_int_equal(clew_rec_encode(&raw, &r[k]), 0);
        }
        clew_buf_reset(&out);
        assert_int_equal(clew_walf_encode_records(&out, &scratch, r, n, 9 + len, 0), 0);
        size_t head = 1 + (raw.len >= 15 ? (raw.len - 15) / 255 + 1 : 0);
        assert_int_equal(out.len, CLEW_WALF_FRAME_HEADER_LEN + head + raw.len);
        assert_int_equal(clew_load_u32(out.data + 4), head + raw.len);
        assert_int_equal(clew_load_u32(out.data + 8), raw.len);
        assert_true(clew_load_u64(out.data + 24) == frame_sum(out.data));
        assert_memory_equal(out.data + CLEW_WALF_FRAME_HEADER_LEN + head, raw.data, raw.len);
        char *plain = malloc(raw.len);
        int got = LZ4_decompress_safe((const char *)out.data + CLEW_WALF_FRAME_HEADER_LEN, plain,
                                      (int)(head + raw.len), (int)raw.len);
        assert_int_equal(got, raw.len);
        assert_memory_equal(plain, raw.data, raw.len);
        free(plain);
        struct clew_walf_frame f;
        assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), 0);
        assert_true(f.count == n && f.seq == 9 + len && f.frame_len == out.len);
        assert_memory_equal(back.data, raw.data, raw.len);
    }
    /* No records: the block is the lone token 00. */
    clew_buf_reset(&out);
    assert_int_equal(clew_walf_encode_records(&out, &scratch, NULL, 0, 3, 0), 0);
    assert_int_equal(out.len, CLEW_WALF_FRAME_HEADER_LEN + 1);
    assert_int_equal(out.data[CLEW_WALF_FRAME_HEADER_LEN], 0);
    struct clew_walf_frame f;
    assert_int_equal(clew_walf_decode(out.data, out.len, &back, &f), 0);
    assert_true(f.count == 0 && f.seq == 3 && back.len == 0);
    clew_buf_close(&out);
    clew_buf_close(&scratch);
    clew_buf_close(&raw);
    clew_buf_close(&back);
}

/* With lz4_accel > 0, encode_records gives the bytes of clew_walf_encode
 * (at the same acceleration) over the records' encodings. */
static void test_encode_records_lz4(void **state)
{
    (void)state;
    struct clew_buf a, b, scratch, raw;
    clew_buf_init(&a);
    clew_buf_init(&b);
    clew_buf_init(&scratch);
    clew_buf_init(&raw);
    struct clew_record r[30];
    char msg[30][64];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 30; i++) {
        int m = snprintf(msg[i], sizeof(msg[i]), "GET /v1/items/%d 200 %d ms", i * 7919, i % 97);
        r[i].ts = 1795897778710192000LL + i;
        r[i].labels[CLEW_LABEL_SERVICE] = CLEW_STR_LIT("api");
        r[i].message = (struct clew_str){ msg[i], (size_t)m };
        assert_int_equal(clew_rec_encode(&raw, &r[i]), 0);
    }
    assert_int_equal(clew_buf_append(&a, "x", 1), 0); /* what out held is kept */
    assert_int_equal(clew_walf_encode_records(&a, &scratch, r, 30, 5, CLEW_WALF_LZ4_ACCEL), 0);
    assert_int_equal(clew_buf_append(&b, "x", 1), 0);
    assert_int_equal(clew_walf_encode(&b, raw.data, raw.len, 30, 5), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_true(a.len - 1 < CLEW_WALF_FRAME_HEADER_LEN + raw.len); /* it compressed */
    clew_buf_close(&a);
    clew_buf_close(&b);
    clew_buf_close(&scratch);
    clew_buf_close(&raw);
}

/* Limits and allocation failures of encode_records leave out as it was. */
static void test_encode_records_errors(void **state)
{
    (void)state;
    struct clew_buf out, scratch;
    clew_buf_init(&out);
    clew_buf_init(&scratch);
    assert_int_equal(clew_buf_append(&out, "keep", 4), 0);
    struct clew_record r[3];
    memset(r, 0, sizeof(r));
    r[1].fields = (struct clew_str){ "", (size_t)CLEW_REC_MAX_FIELD + 1 }; /* never read */
    for (int accel = 0; accel <= 1; accel++) {
        assert_int_equal(clew_walf_encode_records(&out, &scratch, r, 3, 1, accel), CLEW_ETOOBIG);
        assert_int_equal(out.len, 4);
    }
    /* Two strings at the field limit: more than a frame may hold. */
    r[1].fields = (struct clew_str){ "", (size_t)CLEW_REC_MAX_FIELD };
    r[2].fields = (struct clew_str){ "", (size_t)CLEW_REC_MAX_FIELD };
    assert_int_equal(clew_walf_encode_records(&out, &scratch, r, 3, 1, 0), CLEW_ETOOBIG);
    assert_int_equal(out.len, 4);
    static char big[8192]; /* more than out's room: the encoder must allocate */
    memset(big, 'm', sizeof(big));
    r[1].message = (struct clew_str){ big, sizeof(big) };
    r[1].fields = (struct clew_str){ 0 };
    r[2].fields = (struct clew_str){ 0 };
    assert_true(out.cap < sizeof(big));
    for (int accel = 0; accel <= 1; accel++) {
        clew_buf_close(&scratch);
        clew_alloc_fail_after(0);
        int rc = clew_walf_encode_records(&out, &scratch, r, 3, 1, accel);
        clew_alloc_fail_after(-1);
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(out.len, 4);
        assert_memory_equal(out.data, "keep", 4);
    }
    assert_int_equal(clew_walf_encode_records(&out, &scratch, r, 3, 2, 0), 0);
    struct clew_buf back;
    clew_buf_init(&back);
    struct clew_walf_frame f;
    assert_int_equal(clew_walf_decode(out.data + 4, out.len - 4, &back, &f), 0);
    assert_true(f.count == 3 && f.seq == 2);
    clew_buf_close(&back);
    clew_buf_close(&out);
    clew_buf_close(&scratch);
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
        cmocka_unit_test(test_stored_frames),
        cmocka_unit_test(test_encode_records_lz4),
        cmocka_unit_test(test_encode_records_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
