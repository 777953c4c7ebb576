/* SPDX-License-Identifier: MIT */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clew/error.h"
#include "collector/seg_writer.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "query/seg_reader.h"

/* ---- a record set whose strings live in one arena of fixed slots ---- */

#define NREC   4000
#define PERBLK 64
#define NTRACE 500
#define SLOT   48

static struct clew_record recs[NREC];
static char text[NREC][4][SLOT];
static char trace_ids[NTRACE][33];
static char dir[64];
static char path[128];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static const char *hosts[] = { "web-1", "web-2", "web-3", "db-1", "" };
static const char *svcs[] = { "gateway", "orders", "payments", "auth", "cart", "search" };

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct clew_str cstr(const char *s)
{
    return (struct clew_str){ s, strlen(s) };
}

/* Records whose services drift over time (so label sets differ per block)
 * and whose trace ids are each shared by ~8 records at random places. */
static void make_records(void)
{
    for (size_t t = 0; t < NTRACE; t++) {
        for (int i = 0; i < 32; i++) {
            trace_ids[t][i] = "0123456789abcdef"[rnd() % 16];
        }
        trace_ids[t][32] = '\0';
    }
    int64_t ts = 1795897778710192000LL;
    for (size_t j = 0; j < NREC; j++) {
        struct clew_record *r = &recs[j];
        memset(r, 0, sizeof(*r));
        ts += (int64_t)(rnd() % 1000000);
        r->ts = ts;
        r->level = (uint8_t)(rnd() % 8);
        r->input = CLEW_INPUT_SYSLOG;
        r->labels[CLEW_LABEL_HOST] = cstr(hosts[rnd() % 5]);
        r->labels[CLEW_LABEL_SERVICE] = cstr(svcs[(j / 700 + rnd() % 2) % 6]);
        snprintf(text[j][0], SLOT, "c-%zu", j / 300);
        r->labels[CLEW_LABEL_CONTAINER_ID] = cstr(text[j][0]);
        r->labels[CLEW_LABEL_STREAM] = cstr(rnd() % 2 ? "stdout" : "stderr");
        snprintf(text[j][1], SLOT, "request %zu handled in %u ms", j, (unsigned)(rnd() % 900));
        r->message = cstr(text[j][1]);
        if (rnd() % 5 != 0) {
            r->trace_id = cstr(trace_ids[rnd() % NTRACE]);
            for (int i = 0; i < 16; i++) {
                text[j][2][i] = "0123456789abcdef"[rnd() % 16];
            }
            r->span_id = (struct clew_str){ text[j][2], 16 };
        }
        snprintf(text[j][3], SLOT, "{\"n\":%zu}", j);
        r->fields = cstr(text[j][3]);
    }
}

static void write_segment(void)
{
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = PERBLK;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_seg_write(path, 7, recs, NREC, &o, NULL, err), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/clew_segr_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/b.seg", dir);
    make_records();
    write_segment();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static int str_eq(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* 1 when block i holds exactly the records written (no cmocka asserts, so
 * threads may call it). */
static int block_matches(struct clew_seg_block *b, size_t i)
{
    for (size_t k = 0; k < clew_seg_block_count(b); k++) {
        const struct clew_record *w = &recs[i * PERBLK + k];
        struct clew_record r;
        clew_seg_block_record(b, k, &r);
        int ok = r.ts == w->ts && r.level == w->level && r.input == w->input &&
                 str_eq(r.message, w->message) && str_eq(r.trace_id, w->trace_id) &&
                 str_eq(r.span_id, w->span_id) && str_eq(r.fields, w->fields);
        for (int l = 0; l < CLEW_LABEL_COUNT; l++) {
            ok = ok && str_eq(r.labels[l], w->labels[l]);
        }
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static void assert_block_matches(struct clew_seg_block *b, size_t i)
{
    assert_true(block_matches(b, i));
}

static void test_block_meta(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    assert_string_equal(clew_seg_path(s), path);
    assert_int_equal(clew_seg_nblocks(s), (NREC + PERBLK - 1) / PERBLK);
    assert_int_equal(clew_seg_get_info(s)->gen, 7);
    assert_int_equal(clew_seg_get_info(s)->records, NREC);
    for (size_t i = 0; i < clew_seg_nblocks(s); i++) {
        const struct clew_seg_block_meta *m = clew_seg_block_meta(s, i);
        size_t a = i * PERBLK, z = a + PERBLK < NREC ? a + PERBLK : NREC;
        assert_int_equal(m->count, z - a);
        assert_true(m->min_ts == recs[a].ts && m->max_ts == recs[z - 1].ts);
    }
    assert_null(clew_seg_block_meta(s, clew_seg_nblocks(s)));
    clew_seg_free(s);
}

static void test_label_pruning(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    const char *extra[] = { "nope", "web-", "web-10", "zzz" };
    for (size_t i = 0; i < clew_seg_nblocks(s); i++) {
        size_t a = i * PERBLK, z = a + PERBLK < NREC ? a + PERBLK : NREC;
        for (size_t v = 0; v < 6 + 4; v++) {
            const char *val = v < 6 ? svcs[v] : extra[v - 6];
            int want = 0;
            for (size_t j = a; j < z; j++) {
                want |= str_eq(recs[j].labels[CLEW_LABEL_SERVICE], cstr(val));
            }
            assert_int_equal(clew_seg_block_has_label(s, i, CLEW_LABEL_SERVICE, val, strlen(val)),
                             want);
        }
        char c[16];
        for (size_t k = 0; k < NREC / 300 + 2; k++) {
            snprintf(c, sizeof(c), "c-%zu", k);
            int want = a / 300 == k || (z - 1) / 300 == k;
            assert_int_equal(clew_seg_block_has_label(s, i, CLEW_LABEL_CONTAINER_ID, c, strlen(c)),
                             want);
        }
        /* Every block has records without a container name (empty string). */
        assert_int_equal(clew_seg_block_has_label(s, i, CLEW_LABEL_CONTAINER_NAME, "", 0), 1);
    }
    clew_seg_free(s);
}

static void test_trace_index(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    size_t nb = clew_seg_nblocks(s), total = 0;
    for (size_t t = 0; t < NTRACE; t++) {
        uint32_t *blocks;
        size_t n;
        assert_int_equal(clew_seg_trace_blocks(s, trace_ids[t], 32, &blocks, &n), 0);
        for (size_t j = 0; j < NREC; j++) {
            if (!str_eq(recs[j].trace_id, cstr(trace_ids[t]))) {
                continue;
            }
            uint32_t want = (uint32_t)(j / PERBLK);
            int found = 0;
            for (size_t k = 0; k < n; k++) {
                found |= blocks[k] == want;
            }
            assert_true(found);
        }
        for (size_t k = 1; k < n; k++) {
            assert_true(blocks[k - 1] < blocks[k] && blocks[k] < nb);
        }
        total += n;
        clew_free(blocks);
    }
    assert_true(total < NTRACE * 10); /* ~8 records per id: no flood of false blocks */
    size_t hits = 0;
    for (int t = 0; t < 2000; t++) {
        char id[33];
        snprintf(id, sizeof(id), "%016llx%016llx", (unsigned long long)rnd(),
                 (unsigned long long)rnd());
        uint32_t *blocks;
        size_t n;
        assert_int_equal(clew_seg_trace_blocks(s, id, 32, &blocks, &n), 0);
        hits += n > 0;
        assert_true(n > 0 || blocks == NULL);
        clew_free(blocks);
    }
    assert_true(hits < 20);
    clew_seg_free(s);
}

/* A trace read shows exactly the block's records of that trace, whole. */
static void test_trace_read(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    size_t seen = 0, empty = 0;
    for (size_t t = 0; t < 40; t++) {
        struct clew_str id = cstr(trace_ids[t]);
        for (size_t i = 0; i < clew_seg_nblocks(s); i++) {
            struct clew_seg_block *b;
            unsigned cols = t % 2 ? CLEW_COL_ALL : CLEW_COL_TS | CLEW_COL_MESSAGE;
            assert_int_equal(clew_seg_block_read_trace(s, i, cols, id.ptr, id.len, &b, err), 0);
            size_t k = 0;
            for (size_t j = i * PERBLK; j < (i + 1) * PERBLK && j < NREC; j++) {
                if (!str_eq(recs[j].trace_id, id)) {
                    continue;
                }
                assert_true(k < clew_seg_block_count(b));
                struct clew_record r;
                clew_seg_block_record(b, k++, &r);
                assert_true(r.ts == recs[j].ts && str_eq(r.message, recs[j].message));
                assert_true(str_eq(r.trace_id, id) && str_eq(r.span_id, recs[j].span_id));
                if (cols == CLEW_COL_ALL) {
                    assert_true(str_eq(r.fields, recs[j].fields) && r.level == recs[j].level);
                    assert_true(str_eq(r.labels[CLEW_LABEL_HOST], recs[j].labels[CLEW_LABEL_HOST]));
                } else {
                    assert_int_equal(r.fields.len + r.level, 0);
                }
            }
            assert_int_equal(clew_seg_block_count(b), k);
            const uint32_t *off;
            const char *m = clew_seg_block_messages(b, &off);
            assert_true(k == 0 || (m != NULL && off[k] >= off[0]));
            seen += k;
            empty += k == 0;
            clew_seg_block_free(b);
        }
    }
    assert_true(seen > 100 && empty > 100);
    /* The empty id matches the records without one. */
    struct clew_seg_block *b;
    assert_int_equal(clew_seg_block_read_trace(s, 0, CLEW_COL_ALL, "", 0, &b, err), 0);
    size_t none = 0;
    for (size_t j = 0; j < PERBLK; j++) {
        none += recs[j].trace_id.len == 0;
    }
    assert_int_equal(clew_seg_block_count(b), none);
    clew_seg_block_free(b);
    assert_int_equal(clew_seg_block_read_trace(s, 9999, CLEW_COL_ALL, "x", 1, &b, err),
                     CLEW_EBADARG);
    clew_seg_free(s);
}

static void flip_byte(uint64_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

static void test_corrupt_block(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    uint64_t off, clen, rlen;
    assert_int_equal(clew_seg_block_column(s, 3, 4, &off, &clen, &rlen), 0);
    clew_seg_free(s);
    flip_byte(off + clen / 2);
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    for (size_t i = 0; i < clew_seg_nblocks(s); i++) {
        struct clew_seg_block *b;
        int rc = clew_seg_block_read(s, i, CLEW_COL_ALL, &b, err);
        if (i == 3) {
            assert_int_equal(rc, CLEW_ECORRUPT);
            assert_null(b);
            char want[256];
            snprintf(want, sizeof(want), "%s: block 3: message column checksum mismatch", path);
            assert_string_equal(err, want);
            /* The other columns of the block are still readable. */
            rc = clew_seg_block_read(s, i, CLEW_COL_ALL & ~CLEW_COL_MESSAGE, &b, err);
            assert_int_equal(rc, 0);
            clew_seg_block_free(b);
            /* A trace read of the block decodes the message column only when
             * the block holds the trace. */
            struct clew_str none = cstr("ffffffffffffffffffffffffffffffff");
            rc = clew_seg_block_read_trace(s, i, CLEW_COL_ALL, none.ptr, none.len, &b, err);
            assert_int_equal(rc, 0);
            assert_int_equal(clew_seg_block_count(b), 0);
            clew_seg_block_free(b);
            struct clew_str id = recs[3 * PERBLK].trace_id.len ? recs[3 * PERBLK].trace_id
                                                               : recs[3 * PERBLK + 1].trace_id;
            rc = clew_seg_block_read_trace(s, i, CLEW_COL_ALL, id.ptr, id.len, &b, err);
            assert_int_equal(rc, CLEW_ECORRUPT);
            assert_null(b);
            rc = clew_seg_block_read(s, i, CLEW_COL_ALL & ~CLEW_COL_MESSAGE, &b, err);
        }
        assert_int_equal(rc, 0);
        if (i != 3) {
            assert_block_matches(b, i);
        }
        clew_seg_block_free(b);
    }
    clew_seg_free(s);
}

/* Damage inside the ids column fails the block (the message text refers to
 * the ids), and only that block. */
static void test_corrupt_ids(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    uint64_t off, clen, rlen;
    assert_int_equal(clew_seg_block_column(s, 2, 3, &off, &clen, &rlen), 0);
    clew_seg_free(s);
    flip_byte(off + clen - 1);
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    for (size_t i = 0; i < clew_seg_nblocks(s); i++) {
        struct clew_seg_block *b;
        int rc = clew_seg_block_read(s, i, CLEW_COL_MESSAGE, &b, err);
        if (i == 2) {
            assert_int_equal(rc, CLEW_ECORRUPT);
            assert_non_null(strstr(err, "block 2: ids column checksum mismatch"));
            rc = clew_seg_block_read_trace(s, i, CLEW_COL_TS, "x", 1, &b, err);
            assert_int_equal(rc, CLEW_ECORRUPT);
            rc = clew_seg_block_read(s, i, CLEW_COL_TS | CLEW_COL_META, &b, err);
        }
        assert_int_equal(rc, 0);
        clew_seg_block_free(b);
    }
    clew_seg_free(s);
}

static void expect_open_fails(int want1, int want2)
{
    char err[CLEW_ERR_LEN] = "";
    struct clew_seg *s = (struct clew_seg *)1;
    int rc = clew_seg_open(path, &s, err);
    assert_true(rc == want1 || rc == want2);
    assert_null(s);
    assert_true(strncmp(err, path, strlen(path)) == 0);
}

static void test_damaged_files(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    uint64_t size = (uint64_t)st.st_size;
    /* Bad tail magic, then bad tail checksum, then a footer byte. */
    flip_byte(size - 1);
    expect_open_fails(CLEW_ECORRUPT, CLEW_ECORRUPT);
    flip_byte(size - 1);
    flip_byte(size - 20);
    expect_open_fails(CLEW_ECORRUPT, CLEW_ECORRUPT);
    flip_byte(size - 20);
    flip_byte(size - CLEW_SEG_TAIL_SIZE - 3);
    expect_open_fails(CLEW_ECORRUPT, CLEW_ECORRUPT);
    flip_byte(size - CLEW_SEG_TAIL_SIZE - 3);
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    clew_seg_free(s);
    /* Truncations. */
    const uint64_t cuts[] = { size - 1, size / 2, 100, 40, 8, 3, 0 };
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        assert_int_equal(truncate(path, (off_t)cuts[k]), 0);
        expect_open_fails(CLEW_ECORRUPT, CLEW_EFORMAT);
    }
    /* Not a segment at all. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++) {
        fputs("just a text file with some lines\n", f);
    }
    fclose(f);
    expect_open_fails(CLEW_EFORMAT, CLEW_EFORMAT);
    unlink(path);
    expect_open_fails(-ENOENT, -ENOENT);
}

static void test_version_mismatch(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t t[CLEW_SEG_TAIL_SIZE];
    off_t at = st.st_size - (off_t)CLEW_SEG_TAIL_SIZE;
    assert_int_equal(pread(fd, t, sizeof(t), at), (ssize_t)sizeof(t));
    clew_store_u32(t + 40, CLEW_SEG_VERSION + 1);
    clew_store_u32(t + 44, clew_seg_checksum(t, 44));
    assert_int_equal(pwrite(fd, t, sizeof(t), at), (ssize_t)sizeof(t));
    close(fd);
    expect_open_fails(CLEW_EVERSION, CLEW_EVERSION);
}

static void test_partial_columns(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    struct clew_seg_block *b;
    assert_int_equal(clew_seg_block_read(s, 5, CLEW_COL_MESSAGE | CLEW_COL_TS, &b, err), 0);
    const uint32_t *off;
    const char *data = clew_seg_block_messages(b, &off);
    assert_non_null(data);
    for (size_t k = 0; k < clew_seg_block_count(b); k++) {
        const struct clew_record *w = &recs[5 * PERBLK + k];
        assert_int_equal(off[k + 1] - off[k], w->message.len);
        assert_memory_equal(data + off[k], w->message.ptr, w->message.len);
        struct clew_record r;
        clew_seg_block_record(b, k, &r);
        assert_true(r.ts == w->ts && str_eq(r.message, w->message));
        /* Labels and ids come along (they order the message column and fill
         * its id placeholders); the rest is empty. */
        assert_true(str_eq(r.labels[CLEW_LABEL_SERVICE], w->labels[CLEW_LABEL_SERVICE]));
        assert_true(str_eq(r.trace_id, w->trace_id) && str_eq(r.span_id, w->span_id));
        assert_int_equal(r.fields.len + r.level + r.flags, 0);
    }
    clew_seg_block_free(b);
    assert_int_equal(clew_seg_block_read(s, 5, CLEW_COL_LABELS, &b, err), 0);
    assert_null(clew_seg_block_messages(b, &off));
    assert_null(off);
    clew_seg_block_free(b);
    assert_int_equal(clew_seg_block_read(s, 9999, CLEW_COL_ALL, &b, err), CLEW_EBADARG);
    clew_seg_free(s);
}

/* read_more adds the missing columns without moving what was read. */
static void test_read_more(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    for (size_t i = 0; i < clew_seg_nblocks(s); i += 7) {
        struct clew_seg_block *b;
        assert_int_equal(clew_seg_block_read(s, i, CLEW_COL_TS | CLEW_COL_MESSAGE, &b, err), 0);
        const uint32_t *off, *off2;
        const char *data = clew_seg_block_messages(b, &off);
        struct clew_record r;
        clew_seg_block_record(b, 0, &r);
        assert_int_equal(r.fields.len + r.level, 0);
        assert_int_equal(clew_seg_block_read_more(b, CLEW_COL_ALL, err), 0);
        assert_true(clew_seg_block_messages(b, &off2) == data && off2 == off);
        assert_block_matches(b, i);
        assert_int_equal(clew_seg_block_read_more(b, CLEW_COL_META, err), 0); /* held: no-op */
        assert_block_matches(b, i);
        clew_seg_block_free(b);
    }
    /* After a trace read: the fields of the records kept. */
    struct clew_str id = recs[3].trace_id.len > 0 ? recs[3].trace_id : recs[1].trace_id;
    struct clew_seg_block *b;
    assert_int_equal(clew_seg_block_read_trace(s, 0, CLEW_COL_TS, id.ptr, id.len, &b, err), 0);
    assert_true(clew_seg_block_count(b) > 0);
    assert_int_equal(clew_seg_block_read_more(b, CLEW_COL_FIELDS | CLEW_COL_META, err), 0);
    size_t k = 0;
    for (size_t j = 0; j < PERBLK; j++) {
        if (str_eq(recs[j].trace_id, id)) {
            struct clew_record r;
            clew_seg_block_record(b, k++, &r);
            assert_true(r.ts == recs[j].ts && str_eq(r.fields, recs[j].fields));
            assert_true(r.message.len == 0 && r.level == recs[j].level); /* not asked for */
        }
    }
    assert_int_equal(k, clew_seg_block_count(b));
    clew_seg_block_free(b);
    clew_seg_free(s);
}

/* Records whose fields link their trace to another id are found by it
 * (the writer's quick scan for "link_id" must not miss one wherever the
 * key sits), and fields that merely look alike are not. */
static void test_link_index(void **state)
{
    (void)state;
    enum { N = 600, PER = 50 };
    static struct clew_record lr[N];
    static char f[N][96];
    for (size_t j = 0; j < N; j++) {
        lr[j] = recs[j];
        if (j % 3 == 0) { /* the key at every offset 0..39 */
            snprintf(f[j], sizeof(f[j]), "{%.*s\"link_id\":\"L%zu\"}", (int)(j / 3 % 40),
                     "\"a\":1,\"bb\":22,\"ccc\":333,\"dddd\":4444,\"eeeee\":5", j);
        } else {
            snprintf(f[j], sizeof(f[j]), "{\"task_id\":\"L%zu\",\"link\":\"L%zu\"}", j, j);
        }
        lr[j].fields = cstr(f[j]);
    }
    char lpath[160], err[CLEW_ERR_LEN];
    snprintf(lpath, sizeof(lpath), "%s/link.seg", dir);
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    o.block_records = PER;
    assert_int_equal(clew_seg_write(lpath, 1, lr, N, &o, NULL, err), 0);
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(lpath, &s, err), 0);
    size_t misses = 0;
    for (size_t j = 0; j < N; j++) {
        char id[16];
        snprintf(id, sizeof(id), "L%zu", j);
        uint32_t *blocks;
        size_t n;
        assert_int_equal(clew_seg_link_blocks(s, id, strlen(id), &blocks, &n), 0);
        int found = 0;
        for (size_t k = 0; k < n; k++) {
            found |= blocks[k] == j / PER;
        }
        if (j % 3 == 0) {
            assert_true(found);
        } else {
            misses += n == 0;
        }
        clew_free(blocks);
    }
    assert_true(misses > N / 2); /* only hash false hits: not the look-alikes */
    clew_seg_free(s);
    unlink(lpath);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    int rc = -1;
    long k;
    for (k = 0; k < 10000 && rc != 0; k++) {
        struct clew_seg *s = NULL;
        struct clew_seg_block *b = NULL;
        uint32_t *blocks = NULL;
        size_t n = 0;
        clew_alloc_fail_after(k);
        rc = clew_seg_open(path, &s, err);
        if (rc == 0) {
            rc = clew_seg_block_read(s, 2, CLEW_COL_ALL, &b, err);
        }
        if (rc == 0) {
            rc = clew_seg_trace_blocks(s, trace_ids[0], 32, &blocks, &n);
        }
        clew_alloc_fail_after(-1);
        if (rc != 0) {
            assert_int_equal(rc, -ENOMEM);
        } else {
            assert_true(n > 0);
            assert_block_matches(b, 2);
        }
        clew_free(blocks);
        clew_seg_block_free(b);
        clew_seg_free(s);
    }
    assert_int_equal(rc, 0);
    assert_true(k > 5);
}

static void *reader_thread(void *arg)
{
    struct clew_seg *s = arg;
    char err[CLEW_ERR_LEN];
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < clew_seg_nblocks(s); i++) {
            struct clew_seg_block *b;
            if (clew_seg_block_read(s, i, CLEW_COL_ALL, &b, err) != 0) {
                return (void *)1;
            }
            int ok = block_matches(b, i);
            clew_seg_block_free(b);
            if (!ok) {
                return (void *)1;
            }
        }
    }
    return NULL;
}

static void test_concurrent_reads(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_seg *s;
    assert_int_equal(clew_seg_open(path, &s, err), 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, reader_thread, s), 0);
    }
    for (int i = 0; i < 3; i++) {
        void *ret;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_null(ret);
    }
    clew_seg_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_block_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_pruning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
