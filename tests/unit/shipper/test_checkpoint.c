/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clew/error.h"
#include "common/alloc.h"

#include "shipper/checkpoint.h"

static void fill(struct clew_ckpt *c)
{
    memset(c, 0, sizeof(*c));
    c->buffer_acked = 42;
    c->resent = 7;
    struct clew_ckpt_file a = { 2049,
                                123456,
                                1000,
                                256,
                                0xdeadbeefcafef00dULL,
                                2000,
                                (char *)"/var/lib/docker/containers/x/x-json.log" };
    struct clew_ckpt_file b = { 1, 2, 0, 0, 0, 0, (char *)"/odd path/with%percent\nand newline" };
    assert_int_equal(clew_ckpt_add(c, &a), 0);
    assert_int_equal(clew_ckpt_add(c, &b), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct clew_ckpt c, d;
    fill(&c);
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_ckpt_encode(&c, &b), 0);
    assert_int_equal(clew_ckpt_decode((const char *)b.data, b.len, &d), 0);
    assert_true(d.buffer_acked == 42 && d.resent == 7);
    assert_int_equal(d.n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(d.files[i].dev == c.files[i].dev && d.files[i].ino == c.files[i].ino);
        assert_true(d.files[i].offset == c.files[i].offset && d.files[i].read == c.files[i].read);
        assert_true(d.files[i].fp_len == c.files[i].fp_len);
        assert_true(d.files[i].fp_hash == c.files[i].fp_hash);
        assert_string_equal(d.files[i].path, c.files[i].path);
    }
    assert_non_null(clew_ckpt_find(&d, 1, 2));
    assert_null(clew_ckpt_find(&d, 1, 3));
    /* Encoding is canonical. */
    struct clew_buf b2;
    clew_buf_init(&b2);
    assert_int_equal(clew_ckpt_encode(&d, &b2), 0);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    clew_ckpt_clear(&d);

    /* Any flipped byte or cut is rejected, never half-read. */
    for (size_t i = 0; i < b.len; i += 7) {
        b.data[i] ^= 0x01;
        assert_true(clew_ckpt_decode((const char *)b.data, b.len, &d) < 0);
        assert_int_equal(d.n, 0);
        b.data[i] ^= 0x01;
    }
    for (size_t n = 0; n < b.len; n += 5) {
        assert_true(clew_ckpt_decode((const char *)b.data, n, &d) < 0);
    }
    clew_buf_close(&b);
    clew_buf_close(&b2);
    clew_ckpt_clear(&c);
}

static void test_save_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/clew-ckpt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[CLEW_ERR_LEN];
    struct clew_ckpt c, d;
    assert_int_equal(clew_ckpt_load(dir, &d, err), 0); /* none yet: empty */
    assert_int_equal(d.n, 0);
    fill(&c);
    assert_int_equal(clew_ckpt_save(dir, &c, err), 0);
    c.files[0].offset = 5000;
    assert_int_equal(clew_ckpt_save(dir, &c, err), 0);
    assert_int_equal(clew_ckpt_load(dir, &d, err), 0);
    assert_int_equal(d.n, 2);
    assert_true(d.files[0].offset == 5000);
    clew_ckpt_clear(&d);
    /* A corrupt file is an error naming it. */
    char p[128];
    snprintf(p, sizeof(p), "%s/checkpoint", dir);
    FILE *f = fopen(p, "r+");
    fseek(f, 30, SEEK_SET);
    fputc('9', f);
    fclose(f);
    assert_int_equal(clew_ckpt_load(dir, &d, err), CLEW_ECORRUPT);
    assert_non_null(strstr(err, "checkpoint"));
    /* An unwritable directory. */
    assert_true(clew_ckpt_save("/nonexistent-dir", &c, err) < 0);
    assert_non_null(strstr(err, "/nonexistent-dir/checkpoint"));
    clew_ckpt_clear(&c);
    unlink(p);
    snprintf(p, sizeof(p), "%s/checkpoint.tmp", dir);
    unlink(p);
    rmdir(dir);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    struct clew_ckpt c, d;
    fill(&c);
    struct clew_buf b;
    clew_buf_init(&b);
    assert_int_equal(clew_ckpt_encode(&c, &b), 0);
    for (long n = 0; n < 8; n++) {
        clew_alloc_fail_after(n);
        int rc = clew_ckpt_decode((const char *)b.data, b.len, &d);
        clew_alloc_fail_after(-1);
        if (rc == 0) {
            clew_ckpt_clear(&d);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(d.n, 0);
    }
    clew_buf_close(&b);
    clew_ckpt_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
