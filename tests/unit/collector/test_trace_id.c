/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector/trace_id.h"

static int is_lhex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* 1M ids from one generator over a real clock: each is 32 lowercase hex
 * and sorts strictly after the previous one (so all are unique). */
static void test_million_strictly_increasing(void **state)
{
    (void)state;
    struct clew_trace_id_gen g;
    assert_int_equal(clew_trace_id_gen_init(&g), 0);
    char prev[CLEW_TRACE_ID_LEN], cur[CLEW_TRACE_ID_LEN];
    clew_trace_id_next(&g, clew_trace_id_now_ms(), prev);
    assert_true(is_lhex(prev, CLEW_TRACE_ID_LEN));
    for (int i = 1; i < 1000000; i++) {
        clew_trace_id_next(&g, clew_trace_id_now_ms(), cur);
        if (memcmp(prev, cur, CLEW_TRACE_ID_LEN) >= 0) {
            fail_msg("id %d not after its predecessor: %.32s then %.32s", i, prev, cur);
        }
        memcpy(prev, cur, sizeof(cur));
    }
    assert_true(is_lhex(cur, CLEW_TRACE_ID_LEN));
}

/* The first 12 hex digits are the ms clock; the clock going backwards does
 * not make ids go backwards; within one ms ids count up by one. */
static void test_layout_and_clock(void **state)
{
    (void)state;
    struct clew_trace_id_gen g;
    clew_trace_id_gen_seed(&g, 42);
    char a[33] = { 0 }, b[33] = { 0 }, c[33] = { 0 }, d[33] = { 0 };
    clew_trace_id_next(&g, 0x0123456789abLL, a);
    assert_memory_equal(a, "0123456789ab", 12);
    assert_true(a[12] <= '7'); /* the counter's top bit starts clear */
    clew_trace_id_next(&g, 0x0123456789abLL, b);
    assert_memory_equal(a, b, 16); /* same ms: only the low part moves... */
    assert_true(memcmp(a, b, 32) < 0);
    clew_trace_id_next(&g, 1000, c); /* clock went back */
    assert_memory_equal(c, "0123456789ab", 12);
    assert_true(memcmp(b, c, 32) < 0);
    clew_trace_id_next(&g, 0x0123456789acLL, d);
    assert_memory_equal(d, "0123456789ac", 12);
    assert_true(memcmp(c, d, 32) < 0);
    /* Same seed, same inputs: same ids (deterministic mode). */
    struct clew_trace_id_gen h;
    char a2[33] = { 0 };
    clew_trace_id_gen_seed(&h, 42);
    clew_trace_id_next(&h, 0x0123456789abLL, a2);
    assert_string_equal(a, a2);
}

static void test_never_zero(void **state)
{
    (void)state;
    struct clew_trace_id_gen g;
    clew_trace_id_gen_seed(&g, 7);
    /* Force the state an all-zero id would come from. */
    g.rng[0] = g.rng[1] = g.rng[2] = g.rng[3] = 0;
    char a[33] = { 0 };
    clew_trace_id_next(&g, 0, a);
    assert_string_not_equal(a, "00000000000000000000000000000000");
}

/* An id made later by a new process (fresh getrandom state) sorts after
 * every id of an earlier one once the ms clock has advanced. */
static void test_new_process_sorts_after(void **state)
{
    (void)state;
    struct clew_trace_id_gen g;
    assert_int_equal(clew_trace_id_gen_init(&g), 0);
    char last[33] = { 0 };
    for (int i = 0; i < 100000; i++) {
        clew_trace_id_next(&g, clew_trace_id_now_ms(), last);
    }
    int64_t t0 = clew_trace_id_now_ms();
    while (clew_trace_id_now_ms() <= t0 + 1) {
        nanosleep(&(struct timespec){ 0, 500000 }, NULL);
    }
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct clew_trace_id_gen h;
        char id[32];
        close(fd[0]);
        int ok = clew_trace_id_gen_init(&h) == 0;
        clew_trace_id_next(&h, clew_trace_id_now_ms(), id);
        ssize_t w = ok ? write(fd[1], id, sizeof(id)) : -1;
        _exit(w == (ssize_t)sizeof(id) ? 0 : 1);
    }
    close(fd[1]);
    char child[33] = { 0 };
    assert_int_equal(read(fd[0], child, 32), 32);
    close(fd[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(is_lhex(child, 32));
    if (strcmp(last, child) >= 0) {
        fail_msg("child id %s does not sort after %s", child, last);
    }
    /* Two generators with different random state in the same ms differ. */
    struct clew_trace_id_gen x, y;
    char ix[33] = { 0 }, iy[33] = { 0 };
    assert_int_equal(clew_trace_id_gen_init(&x), 0);
    assert_int_equal(clew_trace_id_gen_init(&y), 0);
    clew_trace_id_next(&x, 5000, ix);
    clew_trace_id_next(&y, 5000, iy);
    assert_memory_equal(ix, iy, 12);
    assert_string_not_equal(ix, iy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_strictly_increasing),
        cmocka_unit_test(test_layout_and_clock),
        cmocka_unit_test(test_never_zero),
        cmocka_unit_test(test_new_process_sorts_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
