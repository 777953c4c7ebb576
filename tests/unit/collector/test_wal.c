/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clew/error.h"
#include "collector/wal.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/wal_format.h"

#define MAXREC 64

/* How write_gen's WAL encodes its frames: the stored variants of the tests
 * below set 0 (uncompressed, literal-only LZ4 blocks). */
static int g_lz4_accel = CLEW_WALF_LZ4_ACCEL;

/* A batch of log-like records with their own string storage. */
struct batch {
    size_t n;
    struct clew_record recs[MAXREC];
    char msg[MAXREC][160];
};

static void make_batch(struct batch *b, int k, size_t n)
{
    static const char *const hosts[] = { "web-01", "web-02", "db-1" };
    assert_true(n <= MAXREC);
    memset(b, 0, sizeof(*b));
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        struct clew_record *r = &b->recs[i];
        r->ts = 1795897778000000000LL + k * 1000 + (int64_t)i;
        r->level = (uint8_t)((k + i) % 8);
        r->input = CLEW_INPUT_GELF;
        r->flags = (uint16_t)(i & 3);
        r->labels[CLEW_LABEL_HOST] = (struct clew_str){ hosts[i % 3], strlen(hosts[i % 3]) };
        r->labels[CLEW_LABEL_SERVICE] = CLEW_STR_LIT("orders");
        int m = snprintf(b->msg[i], sizeof(b->msg[i]),
                         "batch %d rec %zu: POST /api/orders/%zu 201 in %zu ms user=u%zu", k, i,
                         i * 7919 + (size_t)k, (i * 13) % 500, i % 17);
        r->message = (struct clew_str){ b->msg[i], (size_t)m };
        r->trace_id =
            i % 2 ? CLEW_STR_LIT("4bf92f3577b34da6a3ce929d0e0e4736") : (struct clew_str){ 0 };
    }
}

/* Expected bytes: the encodings of the records in order. */
static void expect_batch(struct clew_buf *want, const struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        assert_int_equal(clew_rec_encode(want, &b->recs[i]), 0);
    }
}

/* What a replay delivered, re-encoded. */
struct got {
    struct clew_buf enc;
    uint64_t n;
    uint64_t gen;
    uint64_t stop_after; /* 0: never stop */
};

static int collect(void *ud, uint64_t gen, const struct clew_record *rec)
{
    struct got *g = ud;
    g->gen = gen;
    int rc = clew_rec_encode(&g->enc, rec);
    if (rc < 0) {
        return rc;
    }
    g->n++;
    return g->stop_after != 0 && g->n == g->stop_after ? 77 : 0;
}

struct env {
    char dir[256];  /* the temporary root */
    char wdir[300]; /* <root>/wal, created by clew_wal_open */
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    const char *tmp = getenv("TMPDIR");
    snprintf(e->dir, sizeof(e->dir), "%s/clew-test-wal-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(e->dir) == NULL) {
        return -1;
    }
    snprintf(e->wdir, sizeof(e->wdir), "%s/wal", e->dir);
    *state = e;
    return 0;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            char p[600];
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            if (unlink(p) < 0) {
                rm_dir(p);
            }
        }
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct env *e = *state;
    rm_dir(e->dir);
    free(e);
    return 0;
}

static void wal_file(const struct env *e, uint64_t gen, char *path)
{
    assert_int_equal(clew_wal_path(e->wdir, gen, path, 512), 0);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_all(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

/* Replays path and checks the records equal want byte for byte. */
static void replay_expect(const char *path, int truncate, const struct clew_buf *want,
                          struct clew_wal_replay_stats *st, char *err)
{
    struct got g = { 0 };
    clew_buf_init(&g.enc);
    assert_int_equal(clew_wal_replay(path, truncate, collect, &g, st, err), 0);
    assert_int_equal(g.enc.len, want->len);
    if (want->len > 0) {
        assert_memory_equal(g.enc.data, want->data, want->len);
    }
    assert_true(g.n == st->records);
    clew_buf_close(&g.enc);
}

/* Writes batches of sizes[0..nb) as generation gen; want gets their
 * encodings; ends[i] the file offset after frame i. */
static void write_gen(const struct env *e, uint64_t gen, uint64_t next_seq, const size_t *sizes,
                      size_t nb, struct clew_buf *want, uint64_t *ends)
{
    struct clew_wal *w;
    char err[CLEW_ERR_LEN] = "";
    assert_int_equal(clew_wal_open(e->wdir, gen, next_seq, &w, err), 0);
    clew_wal_set_lz4(w, g_lz4_accel);
    char path[512];
    wal_file(e, gen, path);
    struct batch *b = malloc(sizeof(*b));
    for (size_t i = 0; i < nb; i++) {
        make_batch(b, (int)(gen * 100 + i), sizes[i]);
        uint64_t seq = 0;
        assert_int_equal(clew_wal_append(w, b->recs, b->n, &seq), 0);
        assert_true(seq == next_seq + i);
        expect_batch(want, b);
        if (ends != NULL) {
            ends[i] = (uint64_t)file_size(path);
        }
    }
    assert_int_equal(clew_wal_sync(w), 0);
    clew_wal_free(w);
    free(b);
}

static void test_append_replay(void **state)
{
    struct env *e = *state;
    const size_t sizes[] = { 1, 17, 64, 3, 40, 64, 2 };
    size_t nb = sizeof(sizes) / sizeof(sizes[0]);
    struct clew_buf want;
    clew_buf_init(&want);
    uint64_t ends[8];
    write_gen(e, 7, 100, sizes, nb, &want, ends);

    char path[512], err[CLEW_ERR_LEN];
    wal_file(e, 7, path);
    assert_non_null(strstr(path, "/wal/0000000000000007.wal"));
    struct clew_wal_replay_stats st;
    struct got g = { 0 };
    clew_buf_init(&g.enc);
    assert_int_equal(clew_wal_replay(path, 1, collect, &g, &st, err), 0);
    assert_true(g.gen == 7);
    assert_int_equal(g.enc.len, want.len);
    assert_memory_equal(g.enc.data, want.data, want.len);
    assert_true(st.frames == nb);
    assert_true(st.records == 1 + 17 + 64 + 3 + 40 + 64 + 2);
    assert_true(st.last_seq == 100 + nb - 1);
    assert_true(st.good_bytes == ends[nb - 1]);
    assert_true(st.good_bytes == (uint64_t)file_size(path));
    assert_true(st.cut_bytes == 0);
    assert_int_equal(st.tail_rc, 0);
    assert_string_equal(err, "");
    /* Log lines compress; stored frames hold the records and a little more. */
    size_t frames_bytes = (size_t)st.good_bytes - CLEW_WALF_FILE_HEADER_LEN;
    size_t overhead = nb * CLEW_WALF_FRAME_HEADER_LEN;
    if (g_lz4_accel > 0) {
        assert_true(frames_bytes < overhead + want.len * 3 / 4);
    } else {
        assert_true(frames_bytes > overhead + want.len);
        assert_true(frames_bytes <= overhead + want.len + nb * 2 + want.len / 255);
    }
    clew_buf_close(&g.enc);
    clew_buf_close(&want);
}

/* The same with frames stored uncompressed: replay, torn tails and bit
 * flips behave alike. */
static void test_append_replay_stored(void **state)
{
    g_lz4_accel = 0;
    test_append_replay(state);
    g_lz4_accel = CLEW_WALF_LZ4_ACCEL;
}

static void test_torn_tail(void **state);
static void test_bit_flips(void **state);

static void test_torn_tail_stored(void **state)
{
    g_lz4_accel = 0;
    test_torn_tail(state);
    g_lz4_accel = CLEW_WALF_LZ4_ACCEL;
}

static void test_bit_flips_stored(void **state)
{
    g_lz4_accel = 0;
    test_bit_flips(state);
    g_lz4_accel = CLEW_WALF_LZ4_ACCEL;
}

/* Frames bigger than the replay's read chunk, and frames straddling it. */
static void test_big_frames(void **state)
{
    struct env *e = *state;
    size_t big = 1536 * 1024;
    char *msg = malloc(big);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        msg[i] = (char)x; /* incompressible */
    }
    struct clew_wal *w;
    char err[CLEW_ERR_LEN], path[512];
    assert_int_equal(clew_wal_open(e->wdir, 1, 1, &w, err), 0);
    clew_wal_set_lz4(w, g_lz4_accel);
    struct batch *b = malloc(sizeof(*b));
    struct clew_buf want;
    clew_buf_init(&want);
    for (int i = 0; i < 6; i++) {
        make_batch(b, i, 40);
        b->recs[i].message = (struct clew_str){ msg + i, big - (size_t)i * 1000 };
        uint64_t seq;
        assert_int_equal(clew_wal_append(w, b->recs, b->n, &seq), 0);
        expect_batch(&want, b);
    }
    clew_wal_free(w);
    wal_file(e, 1, path);
    struct clew_wal_replay_stats st;
    replay_expect(path, 0, &want, &st, err);
    assert_true(st.frames == 6 && st.records == 240 && st.cut_bytes == 0);
    assert_true(st.good_bytes > 6 * big);

    /* Torn in the middle of the last big frame. */
    off_t size = file_size(path);
    assert_int_equal(truncate(path, size - (off_t)big / 2), 0);
    struct got g = { 0 };
    clew_buf_init(&g.enc);
    assert_int_equal(clew_wal_replay(path, 1, collect, &g, &st, err), 0);
    assert_true(st.frames == 5 && st.records == 200);
    assert_int_equal(st.tail_rc, CLEW_ETRUNC);
    assert_true((uint64_t)file_size(path) == st.good_bytes);
    assert_true(g.enc.len < want.len);
    assert_memory_equal(g.enc.data, want.data, g.enc.len);
    clew_buf_close(&g.enc);
    clew_buf_close(&want);
    free(b);
    free(msg);
}

static void test_big_frames_stored(void **state)
{
    g_lz4_accel = 0;
    test_big_frames(state);
    g_lz4_accel = CLEW_WALF_LZ4_ACCEL;
}

static void test_seq_and_sync(void **state)
{
    struct env *e = *state;
    struct clew_wal *w;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_wal_open(e->wdir, 1, 10, &w, err), 0);
    assert_true(clew_wal_last_seq(w) == 9);
    assert_true(clew_wal_durable_seq(w) == 9);
    assert_true(clew_wal_gen(w) == 1);
    struct batch b;
    make_batch(&b, 1, 5);
    uint64_t seq;
    assert_int_equal(clew_wal_append(w, b.recs, b.n, &seq), 0);
    assert_true(seq == 10);
    assert_int_equal(clew_wal_append(w, b.recs, b.n, &seq), 0);
    assert_true(seq == 11);
    assert_true(clew_wal_last_seq(w) == 11);
    assert_true(clew_wal_durable_seq(w) == 9);
    assert_int_equal(clew_wal_sync(w), 0);
    assert_true(clew_wal_durable_seq(w) == 11);
    /* An empty append writes nothing and reports the last seq. */
    char path[512];
    wal_file(e, 1, path);
    off_t before = file_size(path);
    assert_int_equal(clew_wal_append(w, b.recs, 0, &seq), 0);
    assert_true(seq == 11);
    assert_int_equal(file_size(path), before);
    clew_wal_free(w);
    clew_wal_free(NULL);
    assert_int_equal(clew_wal_open(e->wdir, 2, 0, &w, err), 0); /* 0 is taken as 1 */
    assert_true(clew_wal_last_seq(w) == 0);
    assert_int_equal(clew_wal_append(w, b.recs, 1, &seq), 0);
    assert_true(seq == 1);
    clew_wal_free(w);
}

struct syncer {
    struct clew_wal *w;
    atomic_int stop;
    int bad;
};

static void *sync_main(void *arg)
{
    struct syncer *s = arg;
    while (!s->stop) {
        uint64_t before = clew_wal_last_seq(s->w);
        if (clew_wal_sync(s->w) < 0) {
            s->bad = 1;
        }
        uint64_t d = clew_wal_durable_seq(s->w);
        /* Durable covers what was appended before, never more than exists. */
        if (d < before || d > clew_wal_last_seq(s->w)) {
            s->bad = 1;
        }
    }
    return NULL;
}

static void test_concurrent_sync(void **state)
{
    struct env *e = *state;
    struct clew_wal *w;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_wal_open(e->wdir, 1, 1, &w, err), 0);
    struct syncer s = { .w = w };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sync_main, &s), 0);
    struct batch *b = malloc(sizeof(*b));
    struct clew_buf want;
    clew_buf_init(&want);
    for (int i = 0; i < 200; i++) {
        make_batch(b, i, (size_t)(i % 9 + 1));
        uint64_t seq;
        assert_int_equal(clew_wal_append(w, b->recs, b->n, &seq), 0);
        assert_true(seq == (uint64_t)i + 1);
        expect_batch(&want, b);
        if (i == 120) {
            assert_int_equal(clew_wal_rotate(w, 2, err), 0); /* sync keeps running */
            assert_true(clew_wal_durable_seq(w) >= 121);
        }
    }
    s.stop = 1;
    pthread_join(t, NULL);
    assert_int_equal(s.bad, 0);
    assert_int_equal(clew_wal_sync(w), 0);
    assert_true(clew_wal_durable_seq(w) == 200);
    clew_wal_free(w);

    /* Both generations together hold every record, in order. */
    char path[512];
    struct got g = { 0 };
    clew_buf_init(&g.enc);
    struct clew_wal_replay_stats st;
    wal_file(e, 1, path);
    assert_int_equal(clew_wal_replay(path, 0, collect, &g, &st, err), 0);
    assert_true(st.last_seq == 121);
    wal_file(e, 2, path);
    assert_int_equal(clew_wal_replay(path, 0, collect, &g, &st, err), 0);
    assert_true(st.last_seq == 200);
    assert_int_equal(g.enc.len, want.len);
    assert_memory_equal(g.enc.data, want.data, want.len);
    clew_buf_close(&g.enc);
    clew_buf_close(&want);
    free(b);
}

static void test_torn_tail(void **state)
{
    struct env *e = *state;
    const size_t sizes[] = { 5, 9, 4 };
    struct clew_buf want, head;
    clew_buf_init(&want);
    uint64_t ends[3];
    write_gen(e, 1, 1, sizes, 3, &want, ends);
    char path[512], path2[512], err[CLEW_ERR_LEN];
    wal_file(e, 1, path);
    wal_file(e, 2, path2);
    size_t len;
    uint8_t *orig = read_all(path, &len);
    assert_true(len == ends[2]);
    /* The records of the first two frames. */
    struct batch b;
    clew_buf_init(&head);
    make_batch(&b, 100, 5);
    expect_batch(&head, &b);
    make_batch(&b, 101, 9);
    expect_batch(&head, &b);
    make_batch(&b, 102, 4); /* the last frame's batch, appended again below */

    for (size_t off = ends[1]; off < len; off++) {
        write_all(path, orig, off);
        struct clew_wal_replay_stats st;
        replay_expect(path, 1, &head, &st, err);
        assert_true(st.frames == 2);
        assert_true(st.last_seq == 2);
        assert_true(st.good_bytes == ends[1]);
        assert_true(st.cut_bytes == off - ends[1]);
        assert_int_equal(st.tail_rc, off == ends[1] ? 0 : CLEW_ETRUNC);
        assert_true((uint64_t)file_size(path) == ends[1]);
        if (off > ends[1]) {
            char msg[CLEW_ERR_LEN];
            snprintf(msg, sizeof(msg), "%s: cut %zu bytes at offset %zu: truncated frame", path,
                     (size_t)(off - ends[1]), (size_t)ends[1]);
            assert_string_equal(err, msg);
        }
        /* Restart: a new generation after the replayed seq; nothing lost. */
        struct clew_wal *w;
        assert_int_equal(clew_wal_open(e->wdir, 2, st.last_seq + 1, &w, err), 0);
        uint64_t seq;
        assert_int_equal(clew_wal_append(w, b.recs, b.n, &seq), 0);
        assert_true(seq == 3);
        clew_wal_free(w);
        struct got g = { 0 };
        clew_buf_init(&g.enc);
        assert_int_equal(clew_wal_replay(path, 1, collect, &g, &st, err), 0);
        assert_true(st.cut_bytes == 0);
        assert_int_equal(clew_wal_replay(path2, 1, collect, &g, &st, err), 0);
        assert_int_equal(g.enc.len, want.len);
        assert_memory_equal(g.enc.data, want.data, want.len);
        clew_buf_close(&g.enc);
        assert_int_equal(clew_wal_remove(e->wdir, 2), 0);
    }
    free(orig);
    clew_buf_close(&want);
    clew_buf_close(&head);
}

static void test_bit_flips(void **state)
{
    struct env *e = *state;
    const size_t sizes[] = { 6, 3, 5 };
    struct clew_buf want, head;
    clew_buf_init(&want);
    clew_buf_init(&head);
    uint64_t ends[3];
    write_gen(e, 1, 1, sizes, 3, &want, ends);
    char path[512], err[CLEW_ERR_LEN];
    wal_file(e, 1, path);
    size_t len;
    uint8_t *orig = read_all(path, &len);
    struct batch b;
    make_batch(&b, 100, 6);
    expect_batch(&head, &b);
    make_batch(&b, 101, 3);
    expect_batch(&head, &b);
    uint8_t *bad = malloc(len);
    for (size_t i = ends[1]; i < len; i++) {
        memcpy(bad, orig, len);
        bad[i] ^= 0xFF;
        write_all(path, bad, len);
        struct clew_wal_replay_stats st;
        replay_expect(path, 1, &head, &st, err);
        assert_true(st.frames == 2);
        assert_true(st.good_bytes == ends[1]);
        assert_true(st.cut_bytes == len - ends[1]);
        /* A flipped length can make the frame look longer than the file. */
        assert_true(st.tail_rc == CLEW_ECORRUPT || (st.tail_rc == CLEW_ETRUNC && i < ends[1] + 16));
        assert_true((uint64_t)file_size(path) == ends[1]);
        assert_non_null(strstr(err, ": cut "));
    }
    free(bad);
    free(orig);
    clew_buf_close(&want);
    clew_buf_close(&head);
}

static void test_replay_readonly(void **state)
{
    struct env *e = *state;
    const size_t sizes[] = { 8, 8 };
    struct clew_buf want, head;
    clew_buf_init(&want);
    clew_buf_init(&head);
    uint64_t ends[2];
    write_gen(e, 3, 1, sizes, 2, &want, ends);
    char path[512], err[CLEW_ERR_LEN];
    wal_file(e, 3, path);
    size_t len;
    uint8_t *orig = read_all(path, &len);
    struct batch b;
    make_batch(&b, 300, 8);
    expect_batch(&head, &b);
    /* Torn, then corrupt: neither is touched without truncate. */
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? len - 3 : len;
        uint8_t *p = malloc(len);
        memcpy(p, orig, len);
        p[len - 5] ^= (uint8_t)(pass * 0x40);
        write_all(path, p, n);
        struct clew_wal_replay_stats st;
        replay_expect(path, 0, &head, &st, err);
        assert_true(st.cut_bytes == n - ends[0]);
        assert_int_equal(st.tail_rc, pass == 0 ? CLEW_ETRUNC : CLEW_ECORRUPT);
        assert_non_null(strstr(err, ": ignored "));
        size_t n2;
        uint8_t *after = read_all(path, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(after, p, n);
        free(after);
        free(p);
    }
    /* The intact file, read-only, returns everything. */
    write_all(path, orig, len);
    struct clew_wal_replay_stats st;
    replay_expect(path, 0, &want, &st, err);
    free(orig);
    clew_buf_close(&want);
    clew_buf_close(&head);
}

static void test_file_headers(void **state)
{
    struct env *e = *state;
    const size_t sizes[] = { 4 };
    struct clew_buf want, none;
    clew_buf_init(&want);
    clew_buf_init(&none);
    write_gen(e, 1, 1, sizes, 1, &want, NULL);
    char path[512], err[CLEW_ERR_LEN];
    wal_file(e, 1, path);
    size_t len;
    uint8_t *orig = read_all(path, &len);
    struct clew_wal_replay_stats st;

    write_all(path, orig, 0); /* created, nothing written */
    replay_expect(path, 1, &none, &st, err);
    assert_true(st.cut_bytes == 0 && st.good_bytes == 0);
    write_all(path, orig, 11); /* torn header */
    replay_expect(path, 0, &none, &st, err);
    assert_true(st.cut_bytes == 11 && st.good_bytes == 0);
    assert_true(file_size(path) == 11);
    replay_expect(path, 1, &none, &st, err);
    assert_true(file_size(path) == 0);
    write_all(path, (const uint8_t *)"hello", 5); /* short: whatever the bytes */
    replay_expect(path, 1, &none, &st, err);
    assert_true(st.cut_bytes == 5 && file_size(path) == 0);
    assert_non_null(strstr(err, ": cut 5 bytes at offset 0: incomplete file header"));
    uint8_t *zero = calloc(1, len); /* size extended, data never written */
    write_all(path, zero, len);
    replay_expect(path, 1, &none, &st, err);
    assert_true(st.cut_bytes == len && file_size(path) == 0);
    free(zero);

    uint8_t *p = malloc(len);
    memcpy(p, orig, len);
    memcpy(p, "NOTAWAL!", 8);
    write_all(path, p, len);
    struct got g = { 0 };
    assert_int_equal(clew_wal_replay(path, 1, collect, &g, &st, err), CLEW_EFORMAT);
    assert_non_null(strstr(err, path));
    assert_true((size_t)file_size(path) == len); /* left for a human */
    memcpy(p, orig, len);
    p[20] ^= 1; /* generation bit: header checksum fails */
    write_all(path, p, len);
    assert_int_equal(clew_wal_replay(path, 1, collect, &g, &st, err), CLEW_ECORRUPT);
    assert_int_equal(g.n, 0);
    assert_int_equal(clew_wal_replay("/nonexistent/x.wal", 0, collect, &g, &st, err), -ENOENT);
    free(p);
    free(orig);
    clew_buf_close(&want);
    clew_buf_close(&none);
}

static void test_seq_gap_and_stop(void **state)
{
    struct env *e = *state;
    char path[512], err[CLEW_ERR_LEN];
    assert_int_equal(mkdir(e->wdir, 0755), 0);
    wal_file(e, 9, path);
    struct batch b;
    make_batch(&b, 9, 4);
    struct clew_buf file, raw, want;
    clew_buf_init(&file);
    clew_buf_init(&raw);
    clew_buf_init(&want);
    expect_batch(&raw, &b);
    assert_int_equal(clew_walf_file_header(&file, 9), 0);
    assert_int_equal(clew_walf_encode(&file, raw.data, raw.len, 4, 5), 0);
    size_t good = file.len;
    assert_int_equal(clew_walf_encode(&file, raw.data, raw.len, 4, 7), 0); /* gap */
    write_all(path, file.data, file.len);
    struct clew_wal_replay_stats st;
    replay_expect(path, 0, &raw, &st, err);
    assert_true(st.good_bytes == good && st.last_seq == 5);
    assert_int_equal(st.tail_rc, CLEW_ECORRUPT);

    /* A callback's non-zero value stops the replay; nothing is cut. */
    struct got g = { .stop_after = 3 };
    clew_buf_init(&g.enc);
    assert_int_equal(clew_wal_replay(path, 1, collect, &g, &st, err), 77);
    assert_int_equal(g.n, 3);
    assert_true((size_t)file_size(path) == file.len);
    clew_buf_close(&g.enc);
    clew_buf_close(&file);
    clew_buf_close(&raw);
    clew_buf_close(&want);
}

static void test_rotate_list_remove(void **state)
{
    struct env *e = *state;
    uint64_t *gens;
    size_t n;
    assert_int_equal(clew_wal_list(e->wdir, &gens, &n), 0); /* no dir yet */
    assert_int_equal(n, 0);
    assert_null(gens);
    struct clew_wal *w;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_wal_open(e->wdir, 0x10, 1, &w, err), 0);
    struct batch b;
    make_batch(&b, 1, 3);
    uint64_t seq;
    assert_int_equal(clew_wal_append(w, b.recs, b.n, &seq), 0);
    assert_int_equal(clew_wal_rotate(w, 0x2, err), 0);
    assert_true(clew_wal_gen(w) == 2);
    assert_true(clew_wal_durable_seq(w) == 1); /* rotate synced the old file */
    assert_int_equal(clew_wal_append(w, b.recs, b.n, &seq), 0);
    assert_true(seq == 2);
    /* Rotating onto an existing generation fails and keeps the current. */
    assert_int_equal(clew_wal_rotate(w, 0x10, err), -EEXIST);
    assert_non_null(strstr(err, "0000000000000010.wal: WAL generation already exists"));
    assert_true(clew_wal_gen(w) == 2);
    assert_int_equal(clew_wal_rotate(w, 0xfedcba9876543210ULL, err), 0);
    clew_wal_free(w);
    assert_int_equal(clew_wal_open(e->wdir, 2, 1, &w, err), -EEXIST);
    assert_null(w);

    /* Other names in the directory are not generations. */
    const char *junk[] = { "junk.txt", "0000000000000001.wal.bad", "000000000000000A.wal",
                           "000000000000001.wal", "00000000000000001.wal" };
    for (size_t i = 0; i < 5; i++) {
        char p[600];
        snprintf(p, sizeof(p), "%s/%s", e->wdir, junk[i]);
        write_all(p, (const uint8_t *)"x", 1);
    }
    assert_int_equal(clew_wal_list(e->wdir, &gens, &n), 0);
    assert_int_equal(n, 3);
    assert_true(gens[0] == 2 && gens[1] == 0x10 && gens[2] == 0xfedcba9876543210ULL);
    clew_free(gens);
    assert_int_equal(clew_wal_remove(e->wdir, 0x10), 0);
    assert_int_equal(clew_wal_remove(e->wdir, 0x10), 0); /* already gone */
    assert_int_equal(clew_wal_list(e->wdir, &gens, &n), 0);
    assert_int_equal(n, 2);
    assert_true(gens[0] == 2 && gens[1] == 0xfedcba9876543210ULL);
    clew_free(gens);
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(clew_wal_path(big, 1, err, sizeof(err)), -ENAMETOOLONG);
}

static void test_append_oom(void **state)
{
    struct env *e = *state;
    struct batch *b = malloc(sizeof(*b));
    struct clew_buf want;
    clew_buf_init(&want);
    struct clew_wal *w = NULL;
    char err[CLEW_ERR_LEN];
    int fails = 0;
    for (long k = 0;; k++) {
        clew_alloc_fail_after(k);
        int rc = clew_wal_open(e->wdir, 1, 1, &w, err);
        clew_alloc_fail_after(-1);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(w);
        fails++;
    }
    assert_true(fails >= 2); /* the struct and the dir name */
    uint64_t expect_seq = 1;
    for (int i = 0; i < 4; i++) {
        make_batch(b, i, (size_t)(i * 20 + 1));
        /* Fail each allocation in turn until the append goes through. */
        for (long k = 0;; k++) {
            clew_alloc_fail_after(k);
            uint64_t seq = 0;
            int rc = clew_wal_append(w, b->recs, b->n, &seq);
            clew_alloc_fail_after(-1);
            if (rc == 0) {
                assert_true(seq == expect_seq++);
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_true(clew_wal_last_seq(w) == expect_seq - 1);
        }
        expect_batch(&want, b);
    }
    clew_wal_free(w);

    char path[512];
    wal_file(e, 1, path);
    struct clew_wal_replay_stats st;
    for (long k = 0;; k++) {
        struct got g = { 0 };
        clew_buf_init(&g.enc);
        clew_alloc_fail_after(k);
        int rc = clew_wal_replay(path, 1, collect, &g, &st, err);
        clew_alloc_fail_after(-1);
        clew_buf_close(&g.enc);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_non_null(strstr(err, path));
    }
    replay_expect(path, 1, &want, &st, err); /* nothing was cut */
    assert_true(st.frames == 4 && st.cut_bytes == 0);

    uint64_t *gens;
    size_t n;
    clew_alloc_fail_after(0);
    assert_int_equal(clew_wal_list(e->wdir, &gens, &n), -ENOMEM);
    clew_alloc_fail_after(-1);
    free(b);
    clew_buf_close(&want);
}

/* A write that fails half-way (RLIMIT_FSIZE) is undone, and the WAL goes on. */
static void test_write_error(void **state)
{
    struct env *e = *state;
    struct clew_wal *w;
    char err[CLEW_ERR_LEN], path[512];
    assert_int_equal(clew_wal_open(e->wdir, 1, 1, &w, err), 0);
    wal_file(e, 1, path);
    struct batch *b = malloc(sizeof(*b));
    struct clew_buf want;
    clew_buf_init(&want);
    make_batch(b, 1, 10);
    uint64_t seq;
    assert_int_equal(clew_wal_append(w, b->recs, b->n, &seq), 0);
    expect_batch(&want, b);
    off_t good = file_size(path);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)good + 40; /* room for part of the next frame */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    make_batch(b, 2, 60);
    int rc = clew_wal_append(w, b->recs, b->n, &seq);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -EFBIG);
    assert_int_equal(file_size(path), good);
    assert_true(clew_wal_last_seq(w) == 1);

    assert_int_equal(clew_wal_append(w, b->recs, b->n, &seq), 0);
    assert_true(seq == 2);
    expect_batch(&want, b);
    clew_wal_free(w);
    struct clew_wal_replay_stats st;
    replay_expect(path, 1, &want, &st, err);
    assert_true(st.frames == 2 && st.cut_bytes == 0);
    free(b);
    clew_buf_close(&want);
}

static void test_too_big(void **state)
{
    struct env *e = *state;
    struct clew_wal *w;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_wal_open(e->wdir, 1, 1, &w, err), 0);
    struct batch b;
    make_batch(&b, 1, 2);
    b.recs[1].message = (struct clew_str){ b.msg[1], (size_t)CLEW_REC_MAX_FIELD + 1 };
    uint64_t seq;
    assert_int_equal(clew_wal_append(w, b.recs, b.n, &seq), CLEW_ETOOBIG);
    assert_true(clew_wal_last_seq(w) == 0);
    assert_int_equal(clew_wal_append(w, b.recs, 1, &seq), 0);
    assert_true(seq == 1);
    clew_wal_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_replay_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flips_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_frames_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_and_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_gap_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
