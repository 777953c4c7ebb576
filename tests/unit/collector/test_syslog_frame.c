/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/syslog_frame.h"
#include "common/alloc.h"

#define MAX_OUT 64

/* What the callback saw: copies of the messages and their flags. */
struct sink {
    size_t n;
    char *msg[MAX_OUT];
    size_t len[MAX_OUT];
    unsigned flags[MAX_OUT];
};

static void on_msg(void *ud, const char *msg, size_t len, unsigned flags)
{
    struct sink *s = ud;
    assert_true(s->n < MAX_OUT);
    s->msg[s->n] = malloc(len + 1);
    assert_non_null(s->msg[s->n]);
    memcpy(s->msg[s->n], msg, len);
    s->msg[s->n][len] = '\0';
    s->len[s->n] = len;
    s->flags[s->n] = flags;
    s->n++;
}

static void sink_free(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->msg[i]);
    }
    s->n = 0;
}

static void expect_msg(const struct sink *s, size_t i, const char *want, unsigned flags)
{
    assert_true(i < s->n);
    assert_int_equal(s->len[i], strlen(want));
    assert_memory_equal(s->msg[i], want, s->len[i]);
    assert_int_equal(s->flags[i], flags);
}

/* Feeds data[0..len) as pieces of `step` bytes (0 = all at once), then
 * finishes the stream. */
static void run(struct clew_syslog_framer *f, struct sink *s, const char *data, size_t len,
                size_t step)
{
    size_t off = 0;
    while (off < len) {
        size_t k = step == 0 || len - off < step ? len - off : step;
        assert_int_equal(clew_syslog_framer_feed(f, data + off, k, on_msg, s), 0);
        off += k;
    }
    clew_syslog_framer_finish(f, on_msg, s);
}

/* Runs the stream whole, byte by byte and split at every position; every
 * way must give the same messages and flags. Returns the whole-feed sink. */
static void run_all_splits(size_t max, const char *data, size_t len, struct sink *out)
{
    struct clew_syslog_framer f;
    clew_syslog_framer_init(&f, max);
    run(&f, out, data, len, 0);
    clew_syslog_framer_close(&f);
    for (size_t split = 0; split <= len; split++) {
        struct sink s = { 0 };
        clew_syslog_framer_init(&f, max);
        assert_int_equal(clew_syslog_framer_feed(&f, data, split, on_msg, &s), 0);
        assert_int_equal(clew_syslog_framer_feed(&f, data + split, len - split, on_msg, &s), 0);
        clew_syslog_framer_finish(&f, on_msg, &s);
        clew_syslog_framer_close(&f);
        assert_int_equal(s.n, out->n);
        for (size_t i = 0; i < s.n; i++) {
            assert_int_equal(s.len[i], out->len[i]);
            assert_memory_equal(s.msg[i], out->msg[i], s.len[i]);
            assert_int_equal(s.flags[i], out->flags[i]);
        }
        sink_free(&s);
    }
    struct sink s = { 0 };
    clew_syslog_framer_init(&f, max);
    run(&f, &s, data, len, 1);
    clew_syslog_framer_close(&f);
    assert_int_equal(s.n, out->n);
    for (size_t i = 0; i < s.n; i++) {
        assert_memory_equal(s.msg[i], out->msg[i], s.len[i]);
    }
    sink_free(&s);
}

static void test_octet_then_lf(void **state)
{
    (void)state;
    /* specs/syslog.md §8: octet then LF framing on one connection. */
    const char *m1 = "<30>1 2024-01-15T10:30:00Z docker-host-1 3f2a1b4c5d6e 1234 3f2a1b4c5d6e - "
                     "hello world\n";
    char stream[512];
    int n = snprintf(stream, sizeof(stream), "%zu %s<13>Jan 15 11:30:00 h a: b\n", strlen(m1), m1);
    assert_int_equal(strlen(m1), 86);
    struct sink s = { 0 };
    run_all_splits(0, stream, (size_t)n, &s);
    assert_int_equal(s.n, 2);
    expect_msg(&s, 0, m1, CLEW_SYSLOG_FRAME_OCTET); /* the counted LF stays */
    expect_msg(&s, 1, "<13>Jan 15 11:30:00 h a: b", 0);
    sink_free(&s);
}

static void test_octet_back_to_back(void **state)
{
    (void)state;
    const char stream[] = "4 <1>a5 <2>bc12 <3>defghi\n\r\n";
    struct sink s = { 0 };
    run_all_splits(0, stream, sizeof(stream) - 1, &s);
    assert_int_equal(s.n, 3);
    expect_msg(&s, 0, "<1>a", CLEW_SYSLOG_FRAME_OCTET);
    expect_msg(&s, 1, "<2>bc", CLEW_SYSLOG_FRAME_OCTET);
    expect_msg(&s, 2, "<3>defghi\n\r\n", CLEW_SYSLOG_FRAME_OCTET);
    sink_free(&s);
}

static void test_partial_octet_dropped_at_eof(void **state)
{
    (void)state;
    /* specs/syslog.md §8: 20 bytes announced, 17 received, then FIN. */
    const char stream[] = "20 <13>1 - - - - - -";
    struct clew_syslog_framer f;
    struct sink s = { 0 };
    clew_syslog_framer_init(&f, 0);
    run(&f, &s, stream, sizeof(stream) - 1, 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(f.stats.partial, 1);
    assert_int_equal(f.stats.messages, 0);
    /* The framer is ready for a new stream after finish. */
    run(&f, &s, "3 <1>", 5, 0);
    assert_int_equal(s.n, 1);
    expect_msg(&s, 0, "<1>", CLEW_SYSLOG_FRAME_OCTET);
    clew_syslog_framer_close(&f);
    sink_free(&s);
}

static void test_delimiters(void **state)
{
    (void)state;
    /* LF, CRLF, NUL (Python), stray CR/LF/NUL between messages. */
    const char stream[] = "\r\n<13>lf\n<13>crlf\r\n\n\n<15>pyapp[1]: nul\0\0<14>cr\rin\n<13>end";
    struct sink s = { 0 };
    run_all_splits(0, stream, sizeof(stream) - 1, &s);
    assert_int_equal(s.n, 5);
    expect_msg(&s, 0, "<13>lf", 0);
    expect_msg(&s, 1, "<13>crlf", 0);
    expect_msg(&s, 2, "<15>pyapp[1]: nul", 0);
    expect_msg(&s, 3, "<14>cr\rin", 0); /* a CR inside is content */
    expect_msg(&s, 4, "<13>end", CLEW_SYSLOG_FRAME_EOF);
    sink_free(&s);
}

static void test_garbage_between_messages(void **state)
{
    (void)state;
    /* Lines that do not start with `<` or a valid `LEN SP <` header are
     * delivered as they are (the parser keeps them as plain text) and do
     * not disturb the frames around them. */
    const char stream[] = "<13>a: x\n@@@ garbage\n123 not a frame\n12abc\n5 <1>ab"
                          "99999999999999999999 <1>x\n<13>b: y\n";
    struct sink s = { 0 };
    run_all_splits(0, stream, sizeof(stream) - 1, &s);
    assert_int_equal(s.n, 7);
    expect_msg(&s, 0, "<13>a: x", 0);
    expect_msg(&s, 1, "@@@ garbage", 0);
    expect_msg(&s, 2, "123 not a frame", 0);
    expect_msg(&s, 3, "12abc", 0);
    expect_msg(&s, 4, "<1>ab", CLEW_SYSLOG_FRAME_OCTET);
    /* 20 digits cannot be a length: the whole line is one message. */
    expect_msg(&s, 5, "99999999999999999999 <1>x", 0);
    expect_msg(&s, 6, "<13>b: y", 0);
    sink_free(&s);

    struct clew_syslog_framer f;
    clew_syslog_framer_init(&f, 0);
    run(&f, &s, stream, sizeof(stream) - 1, 0);
    assert_int_equal(f.stats.messages, 7);
    assert_int_equal(f.stats.truncated + f.stats.oversize + f.stats.partial, 0);
    clew_syslog_framer_close(&f);
    sink_free(&s);
}

static void test_oversize_line_truncated(void **state)
{
    (void)state;
    char stream[400];
    char big[201];
    memset(big, 'x', 200);
    big[200] = '\0';
    big[0] = '<';
    /* max 64: a 200-byte line is cut to 64, the rest dropped up to the LF;
     * a line of exactly 64 bytes passes whole; one of 65 is cut. */
    char exact[65], over[66];
    memset(exact, 'e', 64);
    exact[64] = '\0';
    memset(over, 'o', 65);
    over[65] = '\0';
    int n = snprintf(stream, sizeof(stream), "%s\n<13>next\n%s\n%s\r\n", big, exact, over);
    struct sink s = { 0 };
    run_all_splits(64, stream, (size_t)n, &s);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.len[0], 64);
    assert_memory_equal(s.msg[0], big, 64);
    assert_int_equal(s.flags[0], CLEW_SYSLOG_FRAME_TRUNCATED);
    expect_msg(&s, 1, "<13>next", 0);
    expect_msg(&s, 2, exact, 0);
    assert_int_equal(s.len[3], 64);
    assert_int_equal(s.flags[3], CLEW_SYSLOG_FRAME_TRUNCATED);
    sink_free(&s);

    struct clew_syslog_framer f;
    clew_syslog_framer_init(&f, 64);
    run(&f, &s, stream, (size_t)n, 7);
    assert_int_equal(f.stats.truncated, 2);
    assert_int_equal(f.stats.messages, 4);
    assert_true(f.tail_cap <= 64); /* the buffer never grows past max */
    clew_syslog_framer_close(&f);
    sink_free(&s);
}

static void test_oversize_octet_skipped(void **state)
{
    (void)state;
    /* max 64: a frame announcing 100 bytes is counted and exactly 100 bytes
     * are skipped (including LFs and fake headers inside them). */
    char stream[300];
    char body[101];
    memset(body, 'b', 100);
    memcpy(body, "<13>", 4);
    memcpy(body + 50, "\n4 <1>z\n", 8);
    body[100] = '\0';
    int n = snprintf(stream, sizeof(stream), "100 %s4 <2>y<13>after\n", body);
    struct sink s = { 0 };
    run_all_splits(64, stream, (size_t)n, &s);
    assert_int_equal(s.n, 2);
    expect_msg(&s, 0, "<2>y", CLEW_SYSLOG_FRAME_OCTET);
    expect_msg(&s, 1, "<13>after", 0);
    sink_free(&s);

    struct clew_syslog_framer f;
    clew_syslog_framer_init(&f, 64);
    run(&f, &s, stream, (size_t)n, 3);
    assert_int_equal(f.stats.oversize, 1);
    assert_int_equal(f.stats.messages, 2);
    clew_syslog_framer_close(&f);
    sink_free(&s);
}

static void test_finish_states(void **state)
{
    (void)state;
    struct clew_syslog_framer f;
    struct sink s = { 0 };
    clew_syslog_framer_init(&f, 0);
    run(&f, &s, "123", 3, 0); /* digits only: a short line */
    run(&f, &s, "12 ", 3, 0); /* a header and nothing: partial frame */
    run(&f, &s, "<13>no newline\r", 15, 0);
    run(&f, &s, "\n\r\n", 3, 0); /* nothing at all */
    assert_int_equal(s.n, 2);
    expect_msg(&s, 0, "123", CLEW_SYSLOG_FRAME_EOF);
    expect_msg(&s, 1, "<13>no newline", CLEW_SYSLOG_FRAME_EOF);
    assert_int_equal(f.stats.partial, 1);
    clew_syslog_framer_close(&f);
    clew_syslog_framer_close(NULL);
    sink_free(&s);
}

static void test_max_clamped(void **state)
{
    (void)state;
    struct clew_syslog_framer f;
    clew_syslog_framer_init(&f, 1);
    assert_int_equal(f.max_msg, CLEW_SYSLOG_FRAME_MIN_MAX);
    clew_syslog_framer_init(&f, 0);
    assert_int_equal(f.max_msg, CLEW_SYSLOG_FRAME_DEFAULT_MAX);
}

static void test_zero_copy_when_whole(void **state)
{
    (void)state;
    /* Messages complete within one feed are not copied. */
    struct clew_syslog_framer f;
    struct sink s = { 0 };
    clew_syslog_framer_init(&f, 0);
    const char stream[] = "<13>a\n6 <13>b\n";
    assert_int_equal(clew_syslog_framer_feed(&f, stream, sizeof(stream) - 1, on_msg, &s), 0);
    assert_int_equal(s.n, 2);
    assert_null(f.tail);
    clew_syslog_framer_close(&f);
    sink_free(&s);
}

static void test_alloc_failure_resyncs(void **state)
{
    (void)state;
    struct clew_syslog_framer f;
    struct sink s = { 0 };
    clew_syslog_framer_init(&f, 0);
    /* A line split across feeds needs the tail buffer: make it fail. */
    clew_alloc_fail_after(0);
    int rc = clew_syslog_framer_feed(&f, "<13>lost", 8, on_msg, &s);
    clew_alloc_fail_after(-1);
    assert_int_equal(rc, -ENOMEM);
    assert_int_equal(clew_syslog_framer_feed(&f, " rest\n<13>kept\n", 15, on_msg, &s), 0);
    assert_int_equal(s.n, 1);
    expect_msg(&s, 0, "<13>kept", 0);
    sink_free(&s);

    /* Same for an octet frame: its remaining bytes are skipped. */
    clew_alloc_fail_after(0);
    rc = clew_syslog_framer_feed(&f, "9 <13>a", 7, on_msg, &s);
    clew_alloc_fail_after(-1);
    assert_int_equal(rc, -ENOMEM);
    assert_int_equal(clew_syslog_framer_feed(&f, "bcde4 <1>z", 10, on_msg, &s), 0);
    assert_int_equal(s.n, 1);
    expect_msg(&s, 0, "<1>z", CLEW_SYSLOG_FRAME_OCTET);
    clew_syslog_framer_close(&f);
    sink_free(&s);
}

static void test_large_message_spanning_feeds(void **state)
{
    (void)state;
    /* A 300 KB octet frame and a 300 KB line, fed in 4 KB reads. */
    size_t big = 300000;
    char *stream = malloc(2 * big + 64);
    assert_non_null(stream);
    int h = snprintf(stream, 32, "%zu ", big);
    memset(stream + h, 'a', big);
    memcpy(stream + h, "<13>", 4);
    size_t off = (size_t)h + big;
    memset(stream + off, 'l', big);
    memcpy(stream + off, "<14>", 4);
    off += big;
    stream[off++] = '\n';
    struct clew_syslog_framer f;
    struct sink s = { 0 };
    clew_syslog_framer_init(&f, 0);
    run(&f, &s, stream, off, 4096);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.len[0], big);
    assert_memory_equal(s.msg[0], stream + h, big);
    assert_int_equal(s.len[1], big);
    assert_memory_equal(s.msg[1], stream + h + big, big);
    clew_syslog_framer_close(&f);
    sink_free(&s);
    free(stream);
}

static void test_datagram_offset(void **state)
{
    (void)state;
    /* logger --octet-count over UDP; with a trailing LF; without a prefix. */
    const char a[] = "12 <13>x: hello";
    assert_int_equal(clew_syslog_datagram_offset(a, sizeof(a) - 1), 3);
    const char b[] = "12 <13>x: hello\n";
    assert_int_equal(clew_syslog_datagram_offset(b, sizeof(b) - 1), 3);
    const char c[] = "13 <13>x: hello\n";
    assert_int_equal(clew_syslog_datagram_offset(c, sizeof(c) - 1), 3);
    const char *keep[] = { "<13>x: hello",
                           "10 <13>x: hello",
                           "11 13>x: hello",
                           "11<13>x: hello",
                           "99999999999999999999 <1>",
                           "1 ",
                           "",
                           "0 <" };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        assert_int_equal(clew_syslog_datagram_offset(keep[i], strlen(keep[i])), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_octet_then_lf),
        cmocka_unit_test(test_octet_back_to_back),
        cmocka_unit_test(test_partial_octet_dropped_at_eof),
        cmocka_unit_test(test_delimiters),
        cmocka_unit_test(test_garbage_between_messages),
        cmocka_unit_test(test_oversize_line_truncated),
        cmocka_unit_test(test_oversize_octet_skipped),
        cmocka_unit_test(test_finish_states),
        cmocka_unit_test(test_max_clamped),
        cmocka_unit_test(test_zero_copy_when_whole),
        cmocka_unit_test(test_alloc_failure_resyncs),
        cmocka_unit_test(test_large_message_spanning_feeds),
        cmocka_unit_test(test_datagram_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
