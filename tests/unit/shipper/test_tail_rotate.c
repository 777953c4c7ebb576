/* SPDX-License-Identifier: MIT
 * tail_rotate on real directories under a temp dir: rotation names and
 * their order (the spec's read-order vectors), listing siblings by mtime
 * and by rank, finding a checkpointed file again by inode and, once
 * gzipped, by the fingerprint of its decompressed head, and reading a .gz
 * from an offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "shipper/checkpoint.h"
#include "shipper/tail_rotate.h"

struct ctx {
    char dir[256];
    char live[320];
};

static int setup(void **state)
{
    struct ctx *c = clew_calloc(1, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/clew-rot-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->live, sizeof(c->live), "%s/abc-json.log", c->dir);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
    assert_int_equal(system(cmd), 0);
    clew_free(c);
    return 0;
}

/* Writes text to dir/name; mtime_s > 0 sets the file's mtime. */
static void put(const char *dir, const char *name, const char *text, time_t mtime_s)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    if (mtime_s > 0) {
        struct timespec ts[2] = { { mtime_s, 0 }, { mtime_s, 0 } };
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
}

/* Writes text gzip-compressed to dir/name. */
static void put_gz(const char *dir, const char *name, const char *text, size_t len)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    gzFile gz = gzopen(p, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, text, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static const char *name_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The names of a list, comma-separated. */
static void names(const struct clew_tail_sibs *s, char *out, size_t len)
{
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->n && pos < len; i++) {
        pos += (size_t)snprintf(out + pos, len - pos, "%s%s", i ? "," : "", name_of(s->v[i].path));
    }
}

static void test_rank_and_names(void **state)
{
    (void)state;
    int64_t a, b, c;
    /* Docker: the smaller N is newer. */
    assert_int_equal(clew_tail_rotate_rank("x-json.log.2.gz", "x-json.log", &a), 0);
    assert_int_equal(clew_tail_rotate_rank("x-json.log.1.gz", "x-json.log", &b), 0);
    assert_int_equal(clew_tail_rotate_rank("x-json.log.1", "x-json.log", &c), 0);
    assert_true(a < b);
    assert_int_equal(b, c);
    /* kubelet: the later timestamp is newer, compressed or not. */
    assert_int_equal(clew_tail_rotate_rank("0.log.20240115-093000.gz", "0.log", &a), 0);
    assert_int_equal(clew_tail_rotate_rank("0.log.20240115-103000", "0.log", &b), 0);
    assert_true(a < b);
    assert_int_equal(a, 20240115093000LL);
    /* Not rotation names. */
    assert_int_equal(clew_tail_rotate_rank("0.log.20240115-103000.tmp", "0.log", &a), -1);
    assert_int_equal(clew_tail_rotate_rank("0.log.20240115-1030", "0.log", &a), -1);
    assert_int_equal(clew_tail_rotate_rank("0.log.2024011-5103000", "0.log", &a), -1);
    assert_int_equal(clew_tail_rotate_rank("x-json.log.r1", "x-json.log", &a), -1);
    assert_int_equal(clew_tail_rotate_rank("x-json.log.1234567890", "x-json.log", &a), -1);
    assert_int_equal(clew_tail_rotate_rank("x-json.log.", "x-json.log", &a), -1);
    assert_int_equal(clew_tail_rotate_rank("x-json.log", "x-json.log", &a), -1);
    assert_int_equal(clew_tail_rotate_rank("1.log.1", "0.log", &a), -1);
    /* Plain siblings: followable; compressed and temporary ones are not. */
    assert_true(clew_tail_rotate_is_sibling("x-json.log.1", "x-json.log"));
    assert_true(clew_tail_rotate_is_sibling("x-json.log.r7", "x-json.log"));
    assert_false(clew_tail_rotate_is_sibling("x-json.log.1.gz", "x-json.log"));
    assert_false(clew_tail_rotate_is_sibling("0.log.20240115-103000.tmp", "0.log"));
    assert_false(clew_tail_rotate_is_sibling("x-json.log", "x-json.log"));
    assert_false(clew_tail_rotate_is_sibling("x-json.log.", "x-json.log"));
    assert_false(clew_tail_rotate_is_sibling("y-json.log.1", "x-json.log"));
    assert_true(clew_tail_rotate_is_gz("a.gz"));
    assert_false(clew_tail_rotate_is_gz(".gz"));
    assert_false(clew_tail_rotate_is_gz("a.gzip"));
}

static void test_live_name_and_dir(void **state)
{
    (void)state;
    char out[256];
    clew_tail_rotate_live_name("/d/x/x-json.log.3.gz", out, sizeof(out));
    assert_string_equal(out, "/d/x/x-json.log");
    clew_tail_rotate_live_name("/p/ns_pod_uid/c/0.log.20240115-103000", out, sizeof(out));
    assert_string_equal(out, "/p/ns_pod_uid/c/0.log");
    clew_tail_rotate_live_name("/p/a.log.d/c/2.log", out, sizeof(out));
    assert_string_equal(out, "/p/a.log.d/c/2.log"); /* only the file name counts */
    clew_tail_rotate_live_name("/p/c/0.logx", out, sizeof(out));
    assert_string_equal(out, "/p/c/0.logx");
    clew_tail_rotate_dir("/p/c/0.log", out, sizeof(out));
    assert_string_equal(out, "/p/c");
}

/* The spec's read orders: .093000.gz, .103000; .2.gz, .1.gz. */
static void test_after_spec_order(void **state)
{
    struct ctx *c = *state;
    struct clew_tail_sibs s;
    char got[512], live[400], from[400];
    put(c->dir, "0.log", "live\n", 0);
    put(c->dir, "0.log.20240115-103000", "b\n", 0);
    put_gz(c->dir, "0.log.20240115-093000.gz", "a\n", 2);
    put_gz(c->dir, "0.log.20240115-083000.gz", "z\n", 2);
    put(c->dir, "0.log.20240115-113000.tmp", "tmp\n", 0);
    snprintf(live, sizeof(live), "%s/0.log", c->dir);
    snprintf(from, sizeof(from), "%s/0.log.20240115-083000.gz", c->dir);
    assert_int_equal(clew_tail_rotate_after(live, from, NULL, NULL, &s), 0);
    names(&s, got, sizeof(got));
    assert_string_equal(got, "0.log.20240115-093000.gz,0.log.20240115-103000");
    clew_tail_rotate_sibs_clear(&s);

    put_gz(c->dir, "abc-json.log.3.gz", "3\n", 2);
    put_gz(c->dir, "abc-json.log.2.gz", "2\n", 2);
    put_gz(c->dir, "abc-json.log.1.gz", "1\n", 2);
    put(c->dir, "abc-json.log", "live\n", 0);
    snprintf(from, sizeof(from), "%s/abc-json.log.3.gz", c->dir);
    assert_int_equal(clew_tail_rotate_after(c->live, from, NULL, NULL, &s), 0);
    names(&s, got, sizeof(got));
    assert_string_equal(got, "abc-json.log.2.gz,abc-json.log.1.gz");
    clew_tail_rotate_sibs_clear(&s);
    /* The newest has nothing after it; a live name is no rotated name. */
    snprintf(from, sizeof(from), "%s/abc-json.log.1.gz", c->dir);
    assert_int_equal(clew_tail_rotate_after(c->live, from, NULL, NULL, &s), 0);
    assert_int_equal(s.n, 0);
    assert_null(s.v);
    assert_int_equal(clew_tail_rotate_after(c->live, c->live, NULL, NULL, &s), 0);
    assert_int_equal(s.n, 0);
    clew_tail_rotate_sibs_clear(&s);
}

static int known_calls;
static uint64_t known_dev_v, known_ino_v;

static int known(void *ud, uint64_t dev, uint64_t ino)
{
    (void)ud;
    known_calls++;
    return dev == known_dev_v && ino == known_ino_v;
}

/* A .gz whose original is still there (Docker compresses asynchronously)
 * is left to the original; known files and directories are left out. */
static void test_after_skips(void **state)
{
    struct ctx *c = *state;
    struct clew_tail_sibs s;
    char got[512], p[400], from[400];
    put(c->dir, "abc-json.log.4", "4\n", 0);
    put(c->dir, "abc-json.log.3", "3\n", 0);
    put_gz(c->dir, "abc-json.log.3.gz", "3\n", 2);
    put(c->dir, "abc-json.log.2", "2\n", 0);
    snprintf(p, sizeof(p), "%s/abc-json.log.1", c->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/abc-json.log.2", c->dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    known_dev_v = (uint64_t)st.st_dev;
    known_ino_v = (uint64_t)st.st_ino;
    known_calls = 0;
    snprintf(from, sizeof(from), "%s/abc-json.log.4", c->dir);
    assert_int_equal(clew_tail_rotate_after(c->live, from, known, NULL, &s), 0);
    names(&s, got, sizeof(got));
    assert_string_equal(got, "abc-json.log.3");
    assert_true(known_calls >= 2);
    clew_tail_rotate_sibs_clear(&s);
    assert_int_equal(clew_tail_rotate_after(c->live, from, NULL, NULL, &s), 0);
    names(&s, got, sizeof(got));
    assert_string_equal(got, "abc-json.log.3,abc-json.log.2");
    assert_int_equal(s.v[1].ino, known_ino_v);
    assert_true(s.v[0].key < s.v[1].key);
    clew_tail_rotate_sibs_clear(&s);
}

/* By mtime, not by name: hand-made rotation names have no rank. */
static void test_since_by_mtime(void **state)
{
    struct ctx *c = *state;
    struct clew_tail_sibs s;
    char got[512];
    put(c->dir, "abc-json.log", "live\n", 1700000500);
    put(c->dir, "abc-json.log.r1", "r1\n", 1700000300);
    put(c->dir, "abc-json.log.r2", "r2\n", 1700000200);
    put(c->dir, "abc-json.log.r0", "old\n", 1700000050);
    put(c->dir, "abc-json.log.r3.gz", "gz\n", 1700000400);
    put(c->dir, "abc-json.log.r4.tmp", "tmp\n", 1700000400);
    put(c->dir, "other-json.log.1", "other\n", 1700000400);
    assert_int_equal(clew_tail_rotate_since(c->live, 1700000100LL * 1000000000LL, NULL, NULL, &s),
                     0);
    names(&s, got, sizeof(got));
    assert_string_equal(got, "abc-json.log.r2,abc-json.log.r1");
    assert_int_equal(s.v[0].key, 1700000200LL * 1000000000LL);
    clew_tail_rotate_sibs_clear(&s);
    /* The boundary is inclusive. */
    assert_int_equal(clew_tail_rotate_since(c->live, 1700000300LL * 1000000000LL, NULL, NULL, &s),
                     0);
    names(&s, got, sizeof(got));
    assert_string_equal(got, "abc-json.log.r1");
    clew_tail_rotate_sibs_clear(&s);
    /* A missing directory is an empty list. */
    assert_int_equal(clew_tail_rotate_since("/nonexistent/x/abc-json.log", 0, NULL, NULL, &s), 0);
    assert_int_equal(s.n, 0);
    assert_null(s.v);
}

static void test_since_cap(void **state)
{
    struct ctx *c = *state;
    struct clew_tail_sibs s;
    char name[64];
    for (int i = 0; i < CLEW_TAIL_ROTATE_MAX + 10; i++) {
        snprintf(name, sizeof(name), "abc-json.log.%d", i + 1);
        put(c->dir, name, "x\n", 1700000000 + i);
    }
    assert_int_equal(clew_tail_rotate_since(c->live, 0, NULL, NULL, &s), 0);
    assert_int_equal(s.n, CLEW_TAIL_ROTATE_MAX);
    for (size_t i = 1; i < s.n; i++) {
        assert_true(s.v[i - 1].key <= s.v[i].key);
    }
    clew_tail_rotate_sibs_clear(&s);
}

static void test_find_inode(void **state)
{
    struct ctx *c = *state;
    char old[400], now[400], got[600];
    struct stat st;
    put(c->dir, "abc-json.log", "hello\n", 0);
    snprintf(old, sizeof(old), "%s/abc-json.log", c->dir);
    assert_int_equal(stat(old, &st), 0);
    /* Still under its name. */
    assert_int_equal(clew_tail_rotate_find_inode(old, st.st_dev, st.st_ino, got, sizeof(got)), 1);
    assert_string_equal(got, old);
    /* Rotated by rename; a new live file has another inode. */
    snprintf(now, sizeof(now), "%s/abc-json.log.1", c->dir);
    assert_int_equal(rename(old, now), 0);
    put(c->dir, "abc-json.log", "new\n", 0);
    put(c->dir, "abc-json.log.2", "older\n", 0);
    assert_int_equal(clew_tail_rotate_find_inode(old, st.st_dev, st.st_ino, got, sizeof(got)), 1);
    assert_string_equal(got, now);
    /* The checkpoint saw it as .1 and it moved on to .2. */
    char two[400];
    snprintf(two, sizeof(two), "%s/abc-json.log.2", c->dir);
    assert_int_equal(rename(now, two), 0);
    assert_int_equal(clew_tail_rotate_find_inode(now, st.st_dev, st.st_ino, got, sizeof(got)), 1);
    assert_string_equal(got, two);
    /* Gone. */
    assert_int_equal(unlink(two), 0);
    assert_int_equal(clew_tail_rotate_find_inode(old, st.st_dev, st.st_ino, got, sizeof(got)), 0);
}

static void fill(char *buf, size_t n, char seed)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)('a' + (seed + i * 7) % 26);
    }
    buf[n] = '\0';
}

/* A partly read file was compressed while the shipper was stopped: it is
 * found by its head, among .gz siblings only, not by a look-alike. */
static void test_find_gz(void **state)
{
    struct ctx *c = *state;
    char text[1000], other[1000], old[400];
    fill(text, 900, 1);
    fill(other, 900, 2);
    memcpy(other, text, 100); /* same first 100 bytes */
    put_gz(c->dir, "abc-json.log.2.gz", other, 900);
    put_gz(c->dir, "abc-json.log.1.gz", text, 900);
    put(c->dir, "abc-json.log.3", text, 0);    /* plain: not looked at */
    put(c->dir, "abc-json.log.4.gz", text, 0); /* not gzip data */
    put(c->dir, "abc-json.log", "live\n", 0);
    snprintf(old, sizeof(old), "%s/abc-json.log", c->dir);
    struct clew_ckpt_file ck = { .fp_len = CLEW_CKPT_FP_MAX, .offset = 500, .path = old };
    ck.fp_hash = clew_ckpt_fingerprint(text, CLEW_CKPT_FP_MAX);
    struct clew_tail_sib got = { 0 };
    assert_int_equal(clew_tail_rotate_find_gz(old, &ck, &got), 1);
    assert_string_equal(name_of(got.path), "abc-json.log.1.gz");
    struct stat st;
    assert_int_equal(stat(got.path, &st), 0);
    assert_int_equal(got.ino, (uint64_t)st.st_ino);
    assert_int_equal(got.dev, (uint64_t)st.st_dev);
    clew_free(got.path);
    /* A short fingerprint both share: ambiguous, not resumed from either. */
    ck.fp_len = 100;
    ck.fp_hash = clew_ckpt_fingerprint(text, 100);
    got.path = NULL;
    assert_int_equal(clew_tail_rotate_find_gz(old, &ck, &got), 0);
    assert_null(got.path);
    /* Nothing compressed has this head. */
    ck.fp_len = CLEW_CKPT_FP_MAX;
    ck.fp_hash = clew_ckpt_fingerprint(other + 1, CLEW_CKPT_FP_MAX);
    got.path = NULL;
    assert_int_equal(clew_tail_rotate_find_gz(old, &ck, &got), 0);
    assert_null(got.path);
}

static int open_in(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void test_gz_open_seek(void **state)
{
    struct ctx *c = *state;
    char text[5000], buf[64];
    fill(text, 4000, 3);
    put_gz(c->dir, "a.gz", text, 4000);
    uint8_t head[CLEW_CKPT_FP_MAX];
    uint32_t head_len = 0;
    gzFile gz = NULL;
    assert_int_equal(clew_tail_rotate_gz_open(open_in(c->dir, "a.gz"), head, &head_len, &gz), 0);
    assert_non_null(gz);
    assert_int_equal(head_len, CLEW_CKPT_FP_MAX);
    assert_memory_equal(head, text, CLEW_CKPT_FP_MAX);
    /* Rewound: the first read starts at 0. */
    assert_int_equal(gzread(gz, buf, 10), 10);
    assert_memory_equal(buf, text, 10);
    /* Offsets are decompressed offsets. */
    assert_int_equal(clew_tail_rotate_gz_seek(gz, 3000), 0);
    assert_int_equal(gzread(gz, buf, 64), 64);
    assert_memory_equal(buf, text + 3000, 64);
    /* Past the end: the next read finds nothing. */
    assert_int_equal(clew_tail_rotate_gz_seek(gz, 9000), 0);
    assert_int_equal(gzread(gz, buf, 64), 0);
    gzclose(gz);

    /* A short file: a short head. */
    put_gz(c->dir, "b.gz", "tiny\n", 5);
    assert_int_equal(clew_tail_rotate_gz_open(open_in(c->dir, "b.gz"), head, &head_len, &gz), 0);
    assert_int_equal(head_len, 5);
    gzclose(gz);
}

static void test_gz_open_not_gzip(void **state)
{
    struct ctx *c = *state;
    uint8_t head[CLEW_CKPT_FP_MAX];
    uint32_t head_len = 7;
    gzFile gz = (gzFile)(void *)head;
    put(c->dir, "plain.gz", "{\"log\":\"not compressed\\n\"}\n", 0);
    int fd = open_in(c->dir, "plain.gz");
    assert_int_equal(clew_tail_rotate_gz_open(fd, head, &head_len, &gz), CLEW_EFORMAT);
    assert_null(gz);
    assert_int_equal(head_len, 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* the descriptor was closed */
    assert_int_equal(errno, EBADF);
    put_gz(c->dir, "empty.gz", "", 0);
    fd = open_in(c->dir, "empty.gz");
    assert_int_equal(clew_tail_rotate_gz_open(fd, head, &head_len, &gz), CLEW_EFORMAT);
    assert_null(gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_and_names),
        cmocka_unit_test(test_live_name_and_dir),
        cmocka_unit_test_setup_teardown(test_after_spec_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_skips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_since_by_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_since_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_gz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gz_open_seek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gz_open_not_gzip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
