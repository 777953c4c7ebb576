/* SPDX-License-Identifier: MIT */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clew/error.h"
#include "collector/seg_writer.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "query/seg_reader.h"

/* ---- test records: every string is a malloc'd copy owned by the set ---- */

struct recset {
    struct clew_record *r;
    size_t n;
    char **owned;
    size_t nowned;
};

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct clew_str own(struct recset *s, const char *p, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, p, n);
    s->owned = realloc(s->owned, (s->nowned + 1) * sizeof(*s->owned));
    assert_non_null(s->owned);
    s->owned[s->nowned++] = d;
    return (struct clew_str){ d, n };
}

static struct clew_str own_z(struct recset *s, const char *z)
{
    return own(s, z, strlen(z));
}

static struct clew_str rand_hex(struct recset *s, size_t n)
{
    char b[64];
    for (size_t i = 0; i < n; i++) {
        b[i] = "0123456789abcdef"[rnd() % 16];
    }
    return own(s, b, n);
}

static void recset_free(struct recset *s)
{
    for (size_t i = 0; i < s->nowned; i++) {
        free(s->owned[i]);
    }
    free(s->owned);
    free(s->r);
    memset(s, 0, sizeof(*s));
}

static struct clew_str rand_id(struct recset *s)
{
    static const char *odd[] = { "",
                                 "ABCDEF0123456789",
                                 "abc",
                                 "0a1B",
                                 "g0",
                                 "00",
                                 "x",
                                 "request-42",
                                 "0123456789abcdef0123456789abcdeF" };
    switch (rnd() % 6) {
    case 0:
        return rand_hex(s, 32);
    case 1:
        return rand_hex(s, 16);
    case 2:
        return own(s, "a\0b\xff", 4);
    case 3:
        return own_z(s, odd[rnd() % 9]);
    default:
        return (struct clew_str){ NULL, 0 };
    }
}

static struct clew_str rand_message(struct recset *s)
{
    char b[300];
    size_t n = rnd() % sizeof(b);
    switch (rnd() % 4) {
    case 0:
        for (size_t i = 0; i < n; i++) {
            b[i] = (char)(rnd() & 0xff); /* NULs and invalid UTF-8 */
        }
        return own(s, b, n);
    case 1:
        return (struct clew_str){ "", 0 };
    default:
        snprintf(b, sizeof(b), "GET /api/v1/items/%u took %u ms", (unsigned)(rnd() % 1000),
                 (unsigned)(rnd() % 5000));
        return own_z(s, b);
    }
}

static void make_random(struct recset *s, size_t n)
{
    static const struct clew_str hosts[] = { CLEW_STR_LIT("web-1"), CLEW_STR_LIT("web-2"),
                                             CLEW_STR_LIT(""), CLEW_STR_LIT("db\0x"),
                                             CLEW_STR_LIT("\xff\xfe") };
    static const char *svcs[] = { "checkout", "cart", "payments", "" };
    s->r = calloc(n, sizeof(*s->r));
    assert_non_null(s->r);
    s->n = n;
    int64_t ts = 1795897778710192000LL;
    for (size_t j = 0; j < n; j++) {
        struct clew_record *r = &s->r[j];
        ts += (int64_t)(rnd() % 3 == 0 ? 0 : rnd() % 5000000);
        r->ts = ts;
        r->level = (uint8_t)(rnd() % 8);
        r->input = (uint8_t)(rnd() % CLEW_INPUT_MAX_);
        r->flags = (uint16_t)rnd();
        struct clew_str h = hosts[rnd() % 5];
        r->labels[CLEW_LABEL_HOST] = own(s, h.ptr, h.len);
        r->labels[CLEW_LABEL_SERVICE] = own_z(s, svcs[rnd() % 4]);
        char c[32];
        snprintf(c, sizeof(c), "c%u", (unsigned)(rnd() % 40));
        r->labels[CLEW_LABEL_CONTAINER_ID] = own_z(s, c);
        r->labels[CLEW_LABEL_CONTAINER_NAME] = own_z(s, rnd() % 2 ? "shop_web_1" : "");
        r->labels[CLEW_LABEL_STREAM] = own_z(s, rnd() % 2 ? "stdout" : "stderr");
        r->message = rand_message(s);
        r->trace_id = rand_id(s);
        r->span_id = rand_id(s);
        r->parent_span_id = rand_id(s);
        r->fields =
            rnd() % 3 ? (struct clew_str){ NULL, 0 } : own_z(s, "{\"user\":\"u7\",\"n\":3}");
        if (rnd() % 3 == 0) { /* the ids in the text too, as correlation finds them */
            char m[400];
            int k = snprintf(m, sizeof(m), "traceparent: 00-%.*s-%.*s-01 n=%u \xff",
                             (int)r->trace_id.len, r->trace_id.ptr ? r->trace_id.ptr : "",
                             (int)r->span_id.len, r->span_id.ptr ? r->span_id.ptr : "",
                             (unsigned)(rnd() % 100000));
            r->message = own(s, m, (size_t)k);
            k = snprintf(m, sizeof(m), "{\"parent_span_id\":\"%.*s\",\"trace_id\":\"%.*s\"}",
                         (int)r->parent_span_id.len,
                         r->parent_span_id.ptr ? r->parent_span_id.ptr : "", (int)r->trace_id.len,
                         r->trace_id.ptr ? r->trace_id.ptr : "");
            r->fields = own(s, m, (size_t)k);
        }
    }
}

static void assert_str_eq(struct clew_str a, struct clew_str b)
{
    assert_int_equal(a.len, b.len);
    if (a.len) {
        assert_memory_equal(a.ptr, b.ptr, a.len);
    }
}

static void assert_rec_eq(const struct clew_record *a, const struct clew_record *b)
{
    assert_true(a->ts == b->ts);
    assert_int_equal(a->level, b->level);
    assert_int_equal(a->input, b->input);
    assert_int_equal(a->flags, b->flags);
    for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
        assert_str_eq(a->labels[l], b->labels[l]);
    }
    assert_str_eq(a->message, b->message);
    assert_str_eq(a->trace_id, b->trace_id);
    assert_str_eq(a->span_id, b->span_id);
    assert_str_eq(a->parent_span_id, b->parent_span_id);
    assert_str_eq(a->fields, b->fields);
}

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/clew_segw_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.seg", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(path);
    unlink(tmp);
    rmdir(dir);
    return 0;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Reads the whole segment back and compares every record. */
static void check_round_trip(const struct recset *s)
{
    char err[CLEW_ERR_LEN];
    struct clew_seg *seg;
    assert_int_equal(clew_seg_open(path, &seg, err), 0);
    size_t j = 0;
    for (size_t i = 0; i < clew_seg_nblocks(seg); i++) {
        struct clew_seg_block *b;
        assert_int_equal(clew_seg_block_read(seg, i, CLEW_COL_ALL, &b, err), 0);
        assert_int_equal(clew_seg_block_count(b), clew_seg_block_meta(seg, i)->count);
        for (size_t k = 0; k < clew_seg_block_count(b); k++, j++) {
            struct clew_record r;
            clew_seg_block_record(b, k, &r);
            assert_rec_eq(&r, &s->r[j]);
        }
        clew_seg_block_free(b);
    }
    assert_int_equal(j, s->n);
    clew_seg_free(seg);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    struct recset s = { 0 };
    make_random(&s, 3000);
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = 97;
    struct clew_seg_info info;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_seg_write(path, 42, s.r, s.n, &o, &info, err), 0);
    uint64_t raw = 0;
    for (size_t j = 0; j < s.n; j++) {
        raw += clew_rec_raw_size(&s.r[j]);
    }
    assert_int_equal(info.records, 3000);
    assert_int_equal(info.blocks, (3000 + 96) / 97);
    assert_int_equal(info.gen, 42);
    assert_int_equal(info.version, CLEW_SEG_VERSION);
    assert_int_equal(info.raw_bytes, raw);
    assert_true(info.min_ts == s.r[0].ts && info.max_ts == s.r[s.n - 1].ts);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, info.file_bytes);
    check_round_trip(&s);

    /* The reader reports the same facts. */
    struct clew_seg *seg;
    assert_int_equal(clew_seg_open(path, &seg, err), 0);
    const struct clew_seg_info *ri = clew_seg_get_info(seg);
    assert_memory_equal(ri, &info, sizeof(info));
    clew_seg_free(seg);
    recset_free(&s);
}

static void test_round_trip_edges(void **state)
{
    (void)state;
    static const char *ids[] = {
        "0123456789abcdef0123456789abcdef", "ABCDEF0123456789", "abc", "0a1b2c3", "aB", "00", "ag",
        "0123456789abcdeF", "", "ffffffffffffffff", "0123456789abcdef0",
        /* around the 64-byte limit of back-references */
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00",
        "request id longer than sixty-four bytes, stored verbatim each time"
    };
    size_t nid = sizeof(ids) / sizeof(ids[0]);
    struct recset s = { 0 };
    s.n = nid + 3;
    s.r = calloc(s.n, sizeof(*s.r));
    assert_non_null(s.r);
    for (size_t j = 0; j < nid; j++) {
        s.r[j].ts = -5 + (int64_t)j;
        s.r[j].trace_id = own_z(&s, ids[j]);
        s.r[j].span_id = own_z(&s, ids[(j + 1) % nid]);
        s.r[j].parent_span_id = own_z(&s, ids[(j + 2) % nid]);
        s.r[j].level = 7;
        s.r[j].input = (uint8_t)(j % CLEW_INPUT_MAX_);
        s.r[j].flags = 0xffff;
    }
    /* 1 MiB message with NULs and invalid UTF-8, a NUL-only label, fields. */
    char *big = malloc(1 << 20);
    assert_non_null(big);
    for (size_t i = 0; i < (1u << 20); i++) {
        big[i] = (char)(i * 131 + (i >> 9));
    }
    struct clew_record *r = &s.r[nid];
    r->ts = INT64_MAX - 1;
    r->message = own(&s, big, 1 << 20);
    r->labels[CLEW_LABEL_HOST] = own(&s, "\0\0", 2);
    r->fields = own_z(&s, "{\"a\":\"\\u0000\"}");
    free(big);
    s.r[nid + 1].ts = INT64_MAX;
    s.r[nid + 1].message = own(&s, "\xc3\x28 bad \0 utf8", 13);
    s.r[nid + 2].ts = INT64_MAX;
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = 4;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_seg_write(path, 0, s.r, s.n, &o, NULL, err), 0);
    check_round_trip(&s);
    recset_free(&s);
}

/* Id triples reused at random and in a cycle longer than the ids column's
 * move-to-front list (so references, evictions and re-sends all occur). */
static void test_ids_reuse(void **state)
{
    (void)state;
    enum { NTRIP = 600, N = 4000 };
    struct recset s = { 0 };
    struct clew_str trip[NTRIP][3];
    for (size_t t = 0; t < NTRIP; t++) {
        trip[t][0] = t % 5 == 0 ? own_z(&s, "not-hex-trace-id") : rand_hex(&s, 32);
        trip[t][1] = rand_hex(&s, 16);
    }
    for (size_t t = 0; t < NTRIP; t++) {
        trip[t][2] = t % 3 == 0 ? (struct clew_str){ NULL, 0 } : trip[(t * 7) % NTRIP][1];
    }
    s.n = N;
    s.r = calloc(N, sizeof(*s.r));
    assert_non_null(s.r);
    for (size_t j = 0; j < N; j++) {
        size_t t = j < N / 2 ? (j * 7) % NTRIP : rnd() % 40;
        if (j % 11 == 0) {
            continue; /* no ids */
        }
        s.r[j].ts = (int64_t)j;
        s.r[j].trace_id = trip[t][0];
        s.r[j].span_id = trip[t][1];
        s.r[j].parent_span_id = trip[t][2];
        char m[128];
        int k = snprintf(m, sizeof(m), "span %.*s of %.*s", (int)trip[t][1].len, trip[t][1].ptr,
                         (int)trip[t][0].len, trip[t][0].ptr);
        s.r[j].message = own(&s, m, (size_t)k);
    }
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = 3000;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_seg_write(path, 5, s.r, s.n, &o, NULL, err), 0);
    check_round_trip(&s);
    recset_free(&s);
}

/* A block closes at block_bytes raw bytes as well as at block_records. */
static void test_block_bytes_limit(void **state)
{
    (void)state;
    struct recset s = { 0 };
    make_random(&s, 500);
    struct clew_seg_opts o = { .zstd_level = 1, .block_records = 50, .block_bytes = 3000 };
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_seg_write(path, 1, s.r, s.n, &o, NULL, err), 0);
    struct clew_seg *seg;
    assert_int_equal(clew_seg_open(path, &seg, err), 0);
    size_t j = 0, i = 0;
    while (j < s.n) {
        size_t count = 0;
        uint64_t raw = 0;
        while (j < s.n && count < 50 && raw < 3000) {
            raw += clew_rec_raw_size(&s.r[j++]);
            count++;
        }
        assert_true(i < clew_seg_nblocks(seg));
        assert_int_equal(clew_seg_block_meta(seg, i++)->count, count);
    }
    assert_int_equal(i, clew_seg_nblocks(seg));
    clew_seg_free(seg);
    check_round_trip(&s);
    recset_free(&s);
}

/* Header and tail bytes, and byte-identical output for the same input. */
static void test_layout_and_determinism(void **state)
{
    (void)state;
    struct recset s = { 0 };
    make_random(&s, 200);
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_seg_write(path, 0x0102030405060708ull, s.r, s.n, NULL, NULL, err), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t a[1 << 20], b[1 << 20];
    size_t na = fread(a, 1, sizeof(a), f);
    fclose(f);
    assert_memory_equal(a, "CLEW_SEG", 8);
    assert_int_equal(clew_load_u32(a + 8), CLEW_SEG_VERSION);
    assert_true(clew_load_u64(a + 16) == 0x0102030405060708ull);
    assert_memory_equal(a + na - 8, "CLEW_END", 8);
    assert_int_equal(clew_load_u32(a + na - 16), CLEW_SEG_VERSION);
    uint64_t foot = clew_load_u64(a + na - CLEW_SEG_TAIL_SIZE);
    assert_true(foot > CLEW_SEG_HEADER_SIZE && foot < na);
    assert_true(foot + clew_load_u64(a + na - 48) + clew_load_u64(a + na - 32) ==
                na - CLEW_SEG_TAIL_SIZE);
    assert_int_equal(clew_seg_write(path, 0x0102030405060708ull, s.r, s.n, NULL, NULL, err), 0);
    f = fopen(path, "rb");
    assert_non_null(f);
    size_t nb = fread(b, 1, sizeof(b), f);
    fclose(f);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    recset_free(&s);
}

static void test_no_file_left_on_error(void **state)
{
    (void)state;
    struct recset s = { 0 };
    make_random(&s, 10);
    char err[CLEW_ERR_LEN] = "";
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/missing/x.seg", dir);
    assert_int_equal(clew_seg_write(bad, 1, s.r, s.n, NULL, NULL, err), -ENOENT);
    assert_non_null(strstr(err, bad));
    char badtmp[170];
    snprintf(badtmp, sizeof(badtmp), "%s.tmp", bad);
    assert_false(exists(bad) || exists(badtmp));

    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = 0;
    assert_int_equal(clew_seg_write(path, 1, s.r, s.n, &o, NULL, err), CLEW_EBADARG);
    clew_seg_opts_default(&o);
    o.zstd_level = 1000;
    assert_int_equal(clew_seg_write(path, 1, s.r, s.n, &o, NULL, err), CLEW_EBADARG);
    assert_int_equal(clew_seg_write(path, 1, s.r, 0, NULL, NULL, err), CLEW_EBADARG);
    assert_false(exists(path));

    /* The path names a directory: rename fails, the tmp file is removed. */
    char d2[160], d2tmp[170];
    snprintf(d2, sizeof(d2), "%s/sub", dir);
    snprintf(d2tmp, sizeof(d2tmp), "%s.tmp", d2);
    assert_int_equal(mkdir(d2, 0755), 0);
    char child[180];
    snprintf(child, sizeof(child), "%s/f", d2);
    FILE *f = fopen(child, "w");
    assert_non_null(f);
    fclose(f);
    assert_true(clew_seg_write(d2, 1, s.r, s.n, NULL, NULL, err) < 0);
    assert_non_null(strstr(err, "rename"));
    assert_false(exists(d2tmp));
    unlink(child);
    rmdir(d2);
    recset_free(&s);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    struct recset s = { 0 };
    make_random(&s, 60);
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = 16;
    char err[CLEW_ERR_LEN], tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int rc = -1;
    long k;
    for (k = 0; k < 100000 && rc != 0; k++) {
        clew_alloc_fail_after(k);
        rc = clew_seg_write(path, 3, s.r, s.n, &o, NULL, err);
        clew_alloc_fail_after(-1);
        if (rc != 0) {
            assert_int_equal(rc, -ENOMEM);
            assert_false(exists(path) || exists(tmp));
        }
    }
    assert_int_equal(rc, 0);
    assert_true(k > 10);
    check_round_trip(&s);
    recset_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_bytes_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_and_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_file_left_on_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
