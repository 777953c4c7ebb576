/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clew/error.h"
#include "common/alloc.h"

#include "shipper/disk_buffer.h"

/* Payload i: 20000 bytes of pseudo-random text (compresses a little). */
static void payload(uint32_t i, struct clew_buf *b)
{
    b->len = 0;
    uint32_t x = i * 2654435761u + 1;
    for (int k = 0; k < 20000; k++) {
        x = x * 1103515245u + 12345u;
        uint8_t c = (uint8_t)('a' + (x >> 16) % 26);
        assert_int_equal(clew_buf_put_u8(b, c), 0);
    }
}

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/clew-dbuf-XXXXXX");
    assert_non_null(mkdtemp(dir));
    strcat(dir, "/buffer");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    dir[strlen(dir) - 7] = '\0';
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Reads every remaining frame and checks it is payload(seq), in order. */
static uint64_t read_all(struct clew_dbuf *d, uint64_t first, uint64_t last)
{
    struct clew_buf raw, want;
    clew_buf_init(&raw);
    clew_buf_init(&want);
    uint32_t count;
    uint64_t seq, n = 0, expect = first;
    while (clew_dbuf_read(d, &raw, &count, &seq) == 0) {
        assert_true(seq == expect);
        assert_int_equal(count, (uint32_t)seq * 3);
        payload((uint32_t)seq, &want);
        assert_int_equal(raw.len, want.len);
        assert_memory_equal(raw.data, want.data, want.len);
        expect++;
        n++;
    }
    assert_true(expect == last + 1);
    clew_buf_close(&raw);
    clew_buf_close(&want);
    return n;
}

static void test_append_read_ack_reopen(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_dbuf *d;
    assert_int_equal(clew_dbuf_open(dir, 0, 64u << 20, &d, err), 0);
    struct clew_buf p;
    clew_buf_init(&p);
    for (uint32_t i = 1; i <= 100; i++) {
        uint64_t seq;
        payload(i, &p);
        assert_int_equal(clew_dbuf_append(d, p.data, p.len, i * 3, &seq), 0);
        assert_true(seq == i);
    }
    assert_int_equal(clew_dbuf_sync(d), 0);
    assert_int_equal(read_all(d, 1, 100), 100);
    assert_false(clew_dbuf_unread(d));
    clew_dbuf_ack(d, 40);
    clew_dbuf_rewind(d);
    assert_int_equal(read_all(d, 41, 100), 60);
    clew_dbuf_close(d);

    /* Reopened with the acked seq from a checkpoint: frames 41.. remain,
     * and new appends continue the numbering. */
    assert_int_equal(clew_dbuf_open(dir, 40, 64u << 20, &d, err), 0);
    assert_true(clew_dbuf_pending(d));
    uint64_t seq;
    payload(101, &p);
    assert_int_equal(clew_dbuf_append(d, p.data, p.len, 303, &seq), 0);
    assert_true(seq == 101);
    assert_int_equal(read_all(d, 41, 101), 61);
    clew_dbuf_ack(d, 101);
    assert_false(clew_dbuf_pending(d));
    struct clew_dbuf_stats st;
    clew_dbuf_stats(d, &st);
    assert_true(st.bytes == 0 && st.frames == 0);
    clew_dbuf_close(d);
    clew_buf_close(&p);
}

static void test_torn_tail_cut(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_dbuf *d;
    assert_int_equal(clew_dbuf_open(dir, 0, 64u << 20, &d, err), 0);
    struct clew_buf p;
    clew_buf_init(&p);
    for (uint32_t i = 1; i <= 10; i++) {
        uint64_t seq;
        payload(i, &p);
        assert_int_equal(clew_dbuf_append(d, p.data, p.len, i * 3, &seq), 0);
    }
    clew_dbuf_close(d);
    /* Tear the last frame: cut 100 bytes off the only segment. */
    char path[128];
    snprintf(path, sizeof(path), "%s/%016x.buf", dir, 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 100), 0);
    assert_int_equal(clew_dbuf_open(dir, 0, 64u << 20, &d, err), 0);
    struct clew_dbuf_stats s;
    clew_dbuf_stats(d, &s);
    assert_true(s.cut_bytes > 0);
    assert_int_equal(read_all(d, 1, 9), 9);
    uint64_t seq;
    payload(10, &p);
    assert_int_equal(clew_dbuf_append(d, p.data, p.len, 30, &seq), 0);
    assert_true(seq == 10); /* the torn frame's number is reused */
    clew_dbuf_close(d);
    clew_buf_close(&p);
}

static void test_bound_drops_oldest(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN];
    struct clew_dbuf *d;
    assert_int_equal(clew_dbuf_open(dir, 0, 2u << 20, &d, err), 0);
    struct clew_buf p;
    clew_buf_init(&p);
    uint32_t n = 400; /* ~8 MB raw, well over 2 MiB compressed */
    for (uint32_t i = 1; i <= n; i++) {
        uint64_t seq;
        payload(i, &p);
        assert_int_equal(clew_dbuf_append(d, p.data, p.len, i * 3, &seq), 0);
    }
    struct clew_dbuf_stats st;
    clew_dbuf_stats(d, &st);
    assert_true(st.bytes <= (2u << 20));
    assert_true(st.dropped_frames > 0);
    uint64_t first = st.dropped_frames + 1;
    /* Dropped records are exactly the counts of frames 1..dropped. */
    uint64_t want = 0;
    for (uint64_t i = 1; i < first; i++) {
        want += i * 3;
    }
    assert_true(st.dropped_records == want);
    assert_true(clew_dbuf_acked(d) == first - 1);
    clew_dbuf_rewind(d);
    assert_int_equal(read_all(d, first, n), n - first + 1);
    clew_dbuf_close(d);
    clew_buf_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_ack_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_drops_oldest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
