/* SPDX-License-Identifier: MIT
 * The pipeline on a real libuv loop and a real store: batches reach the
 * store, durability comes back as tickets in order, and the watermarks
 * pause and resume the inputs. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "collector/pipeline.h"
#include "collector/store.h"
#include "common/timeutil.h"
#include "query/reader.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/clew-test-pipe-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

struct ctx {
    struct clew_pipeline *pipe;
    uint64_t durable;      /* last ticket reported */
    int durable_calls;
    int order_ok;
    int pauses, resumes;
    uv_timer_t timer;
    int rounds;
    uint64_t last_ticket;
};

static void on_durable(void *ud, uint64_t ticket)
{
    struct ctx *c = ud;
    c->order_ok &= ticket > c->durable;
    c->durable = ticket;
    c->durable_calls++;
}

static void on_pressure(void *ud, int paused)
{
    struct ctx *c = ud;
    if (paused) {
        c->pauses++;
    } else {
        c->resumes++;
    }
}

static struct clew_pipeline *store_pipe; /* for the store's durable callback */

static void store_durable(void *ud, uint64_t seq)
{
    (void)ud;
    struct clew_pipeline *p = __atomic_load_n(&store_pipe, __ATOMIC_ACQUIRE);
    if (p != NULL) {
        clew_pipeline_store_durable(p, seq);
    }
}

/* Pushes 100 records per loop turn for `rounds` turns, then waits until
 * the last ticket is durable and stops. */
static void on_timer(uv_timer_t *t)
{
    struct ctx *c = t->data;
    if (c->rounds > 0) {
        char msg[64];
        for (int i = 0; i < 100; i++) {
            struct clew_record r;
            memset(&r, 0, sizeof(r));
            snprintf(msg, sizeof(msg), "pipe-%d-%d", c->rounds, i);
            r.ts = clew_time_now_ns();
            r.level = 6;
            r.message = (struct clew_str){ msg, strlen(msg) };
            r.labels[CLEW_LABEL_SERVICE] = (struct clew_str){ "svc", 3 };
            assert_int_equal(clew_pipeline_push(c->pipe, &r, &c->last_ticket), 0);
        }
        c->rounds--;
        return;
    }
    if (c->durable >= c->last_ticket) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, NULL);
    }
}

static int count(void *ud, const struct clew_record *r)
{
    (void)r;
    (*(int *)ud)++;
    return 0;
}

static void run(struct clew_pipeline_config *pc, struct ctx *c, int rounds)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct clew_store_config sc;
    char err[CLEW_ERR_LEN];
    clew_store_config_default(&sc);
    sc.data_dir = tmpdir;
    sc.fsync = CLEW_FSYNC_INTERVAL;
    sc.fsync_interval_ns = 5 * 1000000LL;
    struct clew_store *store;
    assert_int_equal(clew_store_open(&sc, store_durable, NULL, &store, err), 0);
    assert_int_equal(clew_pipeline_new(&loop, store, pc, &c->pipe), 0);
    __atomic_store_n(&store_pipe, c->pipe, __ATOMIC_RELEASE);
    clew_pipeline_set_callbacks(c->pipe, on_durable, on_pressure, c);
    c->order_ok = 1;
    c->rounds = rounds;
    uv_timer_init(&loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_timer, 1, 1);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    __atomic_store_n(&store_pipe, NULL, __ATOMIC_RELEASE);
    clew_pipeline_close(c->pipe);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(clew_store_close(store), 0);
}

static void test_batches_become_durable_in_order(void **state)
{
    (void)state;
    struct clew_pipeline_config pc;
    clew_pipeline_config_default(&pc);
    struct ctx c;
    memset(&c, 0, sizeof(c));
    run(&pc, &c, 20);
    assert_true(c.order_ok);
    assert_true(c.durable >= c.last_ticket);
    assert_true(c.durable_calls >= 1);
    assert_int_equal(c.pauses, 0);
    int n = 0;
    struct clew_filter f;
    clew_filter_init(&f);
    assert_int_equal(clew_reader_scan(tmpdir, &f, count, NULL, &n, NULL), 0);
    assert_int_equal(n, 2000);
}

static void test_watermarks_pause_and_resume(void **state)
{
    (void)state;
    struct clew_pipeline_config pc;
    clew_pipeline_config_default(&pc);
    pc.batch_records = 10; /* many small batches */
    pc.high_water = 1;     /* any queued batch pauses ... */
    pc.low_water = 1;      /* ... and an empty queue resumes */
    struct ctx c;
    memset(&c, 0, sizeof(c));
    run(&pc, &c, 10);
    assert_true(c.pauses >= 1);
    assert_true(c.resumes >= 1);
    assert_true(c.pauses - c.resumes <= 1);
    int n = 0;
    struct clew_filter f;
    clew_filter_init(&f);
    assert_int_equal(clew_reader_scan(tmpdir, &f, count, NULL, &n, NULL), 0);
    assert_int_equal(n, 1000); /* nothing lost while paused */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_become_durable_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watermarks_pause_and_resume, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
