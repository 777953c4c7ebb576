/* SPDX-License-Identifier: MIT
 * tail_match: glob checks, defaults and option errors, exclude lists
 * (commas, empty items, `*` across `/`), whether a checkpointed or rotated
 * path is still wanted, listing a real temp tree, an unreadable root, and
 * every allocation of init failing in turn. */
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
#include <unistd.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "shipper/tail_match.h"
#include "shipper/tailer.h"

static void test_check_glob(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN] = "";
    const char *bad[] = { "/var/log/pods/*/*/*.log", "../*/*.log", "a/../b/*.log", "*/..", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(clew_tail_match_check_glob("--cri-glob", bad[i], err), CLEW_EBADARG);
        assert_non_null(strstr(err, "--cri-glob"));
    }
    assert_int_equal(clew_tail_match_check_glob("x", "a..b/..c/*.log", err), 0);
    assert_int_equal(clew_tail_match_check_glob("x", "prod_*/*/*.log", err), 0);
}

static void test_init(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN] = "";
    struct clew_tail_match m;
    struct clew_tailer_opts o = { .docker_root = "/d", .cri_root = "" };
    assert_int_equal(clew_tail_match_init(&m, &o, err), 0);
    assert_string_equal(m.docker_root, "/d");
    assert_null(m.cri_root);
    assert_string_equal(m.docker_glob, "*/*-json.log");
    assert_string_equal(m.cri_glob, "*/*/*.log");
    assert_int_equal(m.nexcl, 0);
    clew_tail_match_close(&m);

    struct clew_tailer_opts none = { .docker_root = "", .cri_root = NULL };
    assert_int_equal(clew_tail_match_init(&m, &none, err), CLEW_EBADARG);
    assert_non_null(strstr(err, "neither"));
    clew_tail_match_close(&m);

    struct clew_tailer_opts bad = { .cri_root = "/p", .cri_glob = "../x/*.log" };
    assert_int_equal(clew_tail_match_init(&m, &bad, err), CLEW_EBADARG);
    assert_non_null(strstr(err, "CRI glob"));
    clew_tail_match_close(&m);
    clew_tail_match_close(&m); /* closed twice: still fine */
}

static void test_exclude(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN] = "";
    struct clew_tail_match m;
    struct clew_tailer_opts o = { .cri_root = "/p", .exclude = ",*/kube-system_*/*,,*.skip," };
    assert_int_equal(clew_tail_match_init(&m, &o, err), 0);
    assert_int_equal(m.nexcl, 2);
    assert_true(clew_tail_match_excluded(&m, "/p/kube-system_dns_u1/c/0.log"));
    assert_true(clew_tail_match_excluded(&m, "/p/a/b.skip"));
    assert_false(clew_tail_match_excluded(&m, "/p/prod_web_u2/c/0.log"));
    clew_tail_match_close(&m);
}

static void test_wanted(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN] = "";
    struct clew_tail_match m;
    struct clew_tailer_opts o = { .docker_root = "/d",
                                  .cri_root = "/p",
                                  .cri_glob = "prod_*/*/*.log",
                                  .exclude = "*/prod_db_*" };
    assert_int_equal(clew_tail_match_init(&m, &o, err), 0);
    assert_true(clew_tail_match_wanted(&m, "/d/abc/abc-json.log", 0));
    assert_true(clew_tail_match_wanted(&m, "/d/abc/abc-json.log.2.gz", 0));
    assert_false(clew_tail_match_wanted(&m, "/d/abc/x/abc-json.log", 0)); /* `*` stops at '/' */
    assert_false(clew_tail_match_wanted(&m, "/d/.abc/abc-json.log", 0));  /* FNM_PERIOD */
    assert_true(clew_tail_match_wanted(&m, "/p/prod_web_u/c/0.log.20240115-103000", 1));
    assert_false(clew_tail_match_wanted(&m, "/p/dev_web_u/c/0.log", 1));
    assert_false(clew_tail_match_wanted(&m, "/p/prod_db_u/c/0.log", 1));
    clew_tail_match_close(&m);

    struct clew_tailer_opts only = { .docker_root = "/d" };
    assert_int_equal(clew_tail_match_init(&m, &only, err), 0);
    assert_false(clew_tail_match_wanted(&m, "/p/prod_web_u/c/0.log", 1)); /* CRI off */
    clew_tail_match_close(&m);
}

struct seen {
    char paths[8][512];
    size_t n;
    size_t stop_at;
};

static int visit(void *ud, const char *path)
{
    struct seen *s = ud;
    assert_true(s->n < 8);
    snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", path);
    s->n++;
    return s->n == s->stop_at ? -7 : 0;
}

static void touch(const char *dir, const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void test_list(void **state)
{
    (void)state;
    char dir[256] = "/tmp/clew-match-XXXXXX", err[CLEW_ERR_LEN] = "", cmd[300];
    assert_non_null(mkdtemp(dir));
    touch(dir, "a/a-json.log");
    touch(dir, "a/a-json.log.1");
    touch(dir, "b/b-json.log");
    touch(dir, "c/c-json.log");
    struct clew_tail_match m;
    struct clew_tailer_opts o = { .docker_root = dir, .exclude = "*/b/*" };
    assert_int_equal(clew_tail_match_init(&m, &o, err), 0);
    struct seen s = { .n = 0 };
    int e = -1;
    assert_int_equal(clew_tail_match_list(&m, 0, visit, &s, &e), 0);
    assert_int_equal(e, 0);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(s.paths[0], "/a/a-json.log"));
    assert_non_null(strstr(s.paths[1], "/c/c-json.log"));

    struct seen stop = { .stop_at = 1 };
    assert_int_equal(clew_tail_match_list(&m, 0, visit, &stop, &e), -7);
    assert_int_equal(stop.n, 1);
    struct seen off = { .n = 0 };
    assert_int_equal(clew_tail_match_list(&m, 1, visit, &off, &e), 0); /* CRI root off */
    assert_int_equal(off.n, 0);
    assert_int_equal(e, 0);
    clew_tail_match_close(&m);

    char gone[300];
    snprintf(gone, sizeof(gone), "%s/none", dir);
    struct clew_tailer_opts g = { .cri_root = gone };
    assert_int_equal(clew_tail_match_init(&m, &g, err), 0);
    assert_int_equal(clew_tail_match_list(&m, 1, visit, &off, &e), 0);
    assert_int_equal(e, ENOENT);
    assert_int_equal(off.n, 0);
    clew_tail_match_close(&m);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_init_oom(void **state)
{
    (void)state;
    char err[CLEW_ERR_LEN] = "";
    struct clew_tailer_opts o = { .docker_root = "/d", .cri_root = "/p", .exclude = "a,b" };
    int rc = -ENOMEM;
    for (long n = 0; rc == -ENOMEM; n++) {
        struct clew_tail_match m;
        clew_alloc_fail_after(n);
        rc = clew_tail_match_init(&m, &o, err);
        clew_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
        clew_tail_match_close(&m);
        assert_true(n < 20);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_glob), cmocka_unit_test(test_init),
        cmocka_unit_test(test_exclude),    cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_list),       cmocka_unit_test(test_init_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
