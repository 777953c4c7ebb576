/* SPDX-License-Identifier: MIT
 * Tests of the storage engine as a whole: store (WAL + memtable + seal +
 * recovery + retention) read back through the query reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector/seg_writer.h"
#include "collector/store.h"
#include "collector/wal.h"
#include "common/datadir.h"
#include "common/timeutil.h"
#include "query/reader.h"

#define T0 (1795897778LL * CLEW_NS_PER_SEC) /* 2026-11-28T20:29:38Z */

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/clew-test-store-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

/* Record i: a unique message "rec-<i>", an id shared by groups of 7. */
struct gen_rec {
    struct clew_record r;
    char msg[64], trace[40];
};

static void make_rec(struct gen_rec *g, int i, int64_t ts)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->msg, sizeof(g->msg), "rec-%06d payload %d", i, i * 31);
    snprintf(g->trace, sizeof(g->trace), "%032x", (unsigned)(i / 7 + 1));
    g->r.ts = ts;
    g->r.level = (uint8_t)(i % 8);
    g->r.input = CLEW_INPUT_SYSLOG;
    g->r.labels[CLEW_LABEL_HOST] = (struct clew_str){ "host-a", 6 };
    g->r.labels[CLEW_LABEL_SERVICE] = (struct clew_str){ i % 2 ? "api" : "db", i % 2 ? 3u : 2u };
    g->r.message = (struct clew_str){ g->msg, strlen(g->msg) };
    g->r.trace_id = (struct clew_str){ g->trace, 32 };
}

static void open_store(struct clew_store **s, size_t seal_bytes, int64_t retention)
{
    struct clew_store_config cfg;
    char err[CLEW_ERR_LEN];
    clew_store_config_default(&cfg);
    cfg.data_dir = tmpdir;
    cfg.fsync = CLEW_FSYNC_NEVER;
    cfg.seal_bytes = seal_bytes;
    cfg.retention_ns = retention;
    cfg.seg.block_records = 50; /* many blocks per segment */
    int rc = clew_store_open(&cfg, NULL, NULL, s, err);
    if (rc != 0) {
        fail_msg("store open: %s", err);
    }
}

/* Appends records [from, to) with timestamps ts_of(i), in batches of 10. */
static void append_range(struct clew_store *s, int from, int to, int64_t (*ts_of)(int))
{
    struct gen_rec g[10];
    struct clew_record recs[10];
    for (int i = from; i < to;) {
        int n = 0;
        for (; n < 10 && i < to; n++, i++) {
            make_rec(&g[n], i, ts_of(i));
            recs[n] = g[n].r;
        }
        uint64_t seq;
        assert_int_equal(clew_store_append(s, recs, (size_t)n, &seq), 0);
        assert_true(seq > 0);
    }
}

/* Spread over three hours, with late and out-of-order records. */
static int64_t ts_mixed(int i)
{
    int64_t base = T0 + (int64_t)i * 20 * CLEW_NS_PER_SEC; /* 500 records ≈ 2.8 h */
    if (i % 13 == 0) {
        base -= 2 * CLEW_NS_PER_HOUR; /* late: two hours back */
    }
    if (i % 5 == 0) {
        base -= 3 * CLEW_NS_PER_SEC; /* a little out of order */
    }
    return base;
}

struct seen {
    int count[2000];
    int total;
    int wrong_hour;
    const char *data;
};

static int see(void *ud, const struct clew_record *r)
{
    struct seen *s = ud;
    int i = -1;
    assert_true(r->message.len > 4 && sscanf(r->message.ptr, "rec-%d", &i) == 1);
    assert_true(i >= 0 && i < 2000);
    struct gen_rec g;
    make_rec(&g, i, r->ts);
    /* Every field comes back as it went in. */
    assert_int_equal(r->level, g.r.level);
    assert_int_equal(r->input, g.r.input);
    assert_int_equal(r->message.len, g.r.message.len);
    assert_memory_equal(r->message.ptr, g.r.message.ptr, g.r.message.len);
    assert_int_equal(r->trace_id.len, 32);
    assert_memory_equal(r->trace_id.ptr, g.trace, 32);
    assert_int_equal(r->labels[CLEW_LABEL_SERVICE].len, g.r.labels[CLEW_LABEL_SERVICE].len);
    s->count[i]++;
    s->total++;
    return 0;
}

static struct seen *scan_all(const struct clew_filter *f, struct clew_reader_stats *st)
{
    static struct seen s;
    memset(&s, 0, sizeof(s));
    struct clew_filter all;
    clew_filter_init(&all);
    assert_int_equal(clew_reader_scan(tmpdir, f ? f : &all, see, NULL, &s, st), 0);
    return &s;
}

static void assert_each_once(const struct seen *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (s->count[i] != 1) {
            fail_msg("record %d seen %d times", i, s->count[i]);
        }
    }
    assert_int_equal(s->total, n);
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        n += l > sl && strcmp(e->d_name + l - sl, suffix) == 0;
    }
    if (d) {
        closedir(d);
    }
    return n;
}

static void test_round_trip_hours(void **state)
{
    (void)state;
    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    append_range(s, 0, 500, ts_mixed);
    assert_int_equal(clew_store_close(s), 0);

    struct clew_reader_stats st;
    assert_each_once(scan_all(NULL, &st), 500);
    assert_int_equal(st.wal_records, 0);
    /* One partition per distinct hour (the late records reach two hours back). */
    int64_t hours[16];
    size_t nhours = 0;
    for (int i = 0; i < 500; i++) {
        int64_t h = clew_hour_floor(ts_mixed(i));
        size_t k = 0;
        while (k < nhours && hours[k] != h) {
            k++;
        }
        if (k == nhours) {
            hours[nhours++] = h;
        }
    }
    assert_true(nhours >= 5);
    assert_int_equal(st.partitions, nhours);
    char wal[CLEW_PATH_MAX];
    clew_dd_wal_dir(tmpdir, wal, sizeof(wal));
    assert_int_equal(count_files(wal, ".wal"), 0);

    /* A time filter on one hour returns exactly its records. */
    struct clew_filter f;
    clew_filter_init(&f);
    f.since = clew_hour_floor(T0) + CLEW_NS_PER_HOUR;
    f.until = f.since + CLEW_NS_PER_HOUR - 1;
    struct seen *sn = scan_all(&f, NULL);
    int want = 0;
    for (int i = 0; i < 500; i++) {
        int in = ts_mixed(i) >= f.since && ts_mixed(i) <= f.until;
        want += in;
        assert_int_equal(sn->count[i], in);
    }
    assert_int_equal(sn->total, want);
}

static int64_t ts_now(int i)
{
    return clew_time_now_ns() - 1000 + i;
}

static void test_live_wal_then_seal(void **state)
{
    (void)state;
    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    append_range(s, 0, 100, ts_now);
    struct clew_reader_stats st;
    assert_each_once(scan_all(NULL, &st), 100); /* from the WAL */
    assert_int_equal(st.wal_records, 100);
    assert_int_equal(clew_store_seal(s), 0);
    append_range(s, 100, 150, ts_now);
    assert_each_once(scan_all(NULL, &st), 150); /* 100 sealed, 50 in the WAL */
    assert_int_equal(st.wal_records, 50);
    assert_int_equal(clew_store_close(s), 0);
    assert_each_once(scan_all(NULL, &st), 150);
    assert_int_equal(st.wal_records, 0);
}

/* A child process appends and dies without closing the store. */
static void crash_after_append(int from, int to, int64_t (*ts_of)(int))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct clew_store *s;
        open_store(&s, 64u << 20, 0);
        append_range(s, from, to, ts_of);
        _exit(0); /* no close: like kill -9 after the appends returned */
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_recovery_after_crash(void **state)
{
    (void)state;
    crash_after_append(0, 300, ts_mixed);
    struct clew_reader_stats st;
    assert_each_once(scan_all(NULL, &st), 300); /* readers see the WAL */
    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    struct clew_store_stats ss;
    clew_store_get_stats(s, &ss);
    assert_int_equal(ss.replayed_records, 300);
    assert_int_equal(clew_store_close(s), 0);
    assert_each_once(scan_all(NULL, &st), 300);
    assert_int_equal(st.wal_records, 0);
}

/* The crash between a segment's rename and the WAL's removal: one hour of
 * the generation is already a segment when the store recovers. */
static void test_crash_between_rename_and_wal_removal(void **state)
{
    (void)state;
    crash_after_append(0, 300, ts_mixed);
    char wal[CLEW_PATH_MAX];
    clew_dd_wal_dir(tmpdir, wal, sizeof(wal));
    uint64_t *gens;
    size_t n;
    assert_int_equal(clew_wal_list(wal, &gens, &n), 0);
    assert_int_equal(n, 1);
    uint64_t gen = gens[0];
    free(gens);

    /* Seal the records of T0's hour by hand, as the store would have. */
    int64_t hour = clew_hour_floor(T0);
    struct gen_rec g[300];
    struct clew_record recs[300];
    size_t k = 0;
    for (int i = 0; i < 300; i++) {
        make_rec(&g[i], i, ts_mixed(i));
    }
    /* In time order, as seal writes them. */
    for (int64_t t = hour; t < hour + CLEW_NS_PER_HOUR; t += CLEW_NS_PER_SEC) {
        for (int i = 0; i < 300; i++) {
            if (g[i].r.ts == t) {
                recs[k++] = g[i].r;
            }
        }
    }
    assert_true(k > 10);
    char dir[CLEW_PATH_MAX], path[CLEW_PATH_MAX], err[CLEW_ERR_LEN];
    clew_dd_hour_dir(tmpdir, hour, dir, sizeof(dir));
    assert_int_equal(clew_dd_mkdirs(dir), 0);
    clew_dd_segment_path(tmpdir, recs[0].ts, gen, path, sizeof(path));
    struct clew_seg_opts o;
    clew_seg_opts_default(&o);
    assert_int_equal(clew_seg_write(path, gen, recs, k, &o, NULL, err), 0);

    struct clew_reader_stats st;
    assert_each_once(scan_all(NULL, &st), 300); /* the reader skips WAL dups too */

    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    assert_int_equal(clew_store_close(s), 0);
    assert_each_once(scan_all(NULL, &st), 300); /* no loss, no duplicates */
}

static void test_torn_tail_recovery(void **state)
{
    (void)state;
    crash_after_append(0, 100, ts_now);
    char wal[CLEW_PATH_MAX], path[CLEW_PATH_MAX];
    clew_dd_wal_dir(tmpdir, wal, sizeof(wal));
    uint64_t *gens;
    size_t n;
    assert_int_equal(clew_wal_list(wal, &gens, &n), 0);
    assert_int_equal(n, 1);
    clew_wal_path(wal, gens[0], path, sizeof(path));
    free(gens);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 5), 0); /* tear the last frame */

    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    struct clew_store_stats ss;
    clew_store_get_stats(s, &ss);
    assert_int_equal(ss.replayed_records, 90);
    assert_true(ss.replay_cut_bytes > 0);
    assert_int_equal(clew_store_close(s), 0);
    struct seen *sn = scan_all(NULL, NULL);
    assert_each_once(sn, 90); /* the last batch of 10 was torn */
}

static int64_t ts_days_back(int i)
{
    return clew_time_now_ns() - (int64_t)(i % 4) * 24 * CLEW_NS_PER_HOUR;
}

static void test_retention(void **state)
{
    (void)state;
    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    append_range(s, 0, 200, ts_days_back);
    assert_int_equal(clew_store_close(s), 0);
    assert_int_equal(scan_all(NULL, NULL)->total, 200);

    open_store(&s, 64u << 20, 36 * CLEW_NS_PER_HOUR);
    assert_int_equal(clew_store_apply_retention(s), 0);
    assert_int_equal(clew_store_close(s), 0);
    struct seen *sn = scan_all(NULL, NULL);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(sn->count[i], i % 4 <= 1); /* today and a day back stay */
    }
}

static void test_trace_lookup_many_segments(void **state)
{
    (void)state;
    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    for (int b = 0; b < 20; b++) { /* 20 generations, so 20+ segments */
        append_range(s, b * 50, b * 50 + 50, ts_mixed);
        assert_int_equal(clew_store_seal(s), 0);
    }
    append_range(s, 1000, 1050, ts_mixed); /* and some still in the WAL */
    for (int id = 1; id <= 150; id += 7) {
        char trace[40];
        snprintf(trace, sizeof(trace), "%032x", (unsigned)id);
        struct clew_filter f;
        clew_filter_init(&f);
        f.trace_id = (struct clew_str){ trace, 32 };
        struct clew_reader_stats st;
        struct seen *sn = scan_all(&f, &st);
        for (int i = 0; i < 1050; i++) {
            int want = (i / 7 + 1) == id;
            if (sn->count[i] != want) {
                fail_msg("trace %d: record %d seen %d times", id, i, sn->count[i]);
            }
        }
        assert_true(st.blocks_pruned > 0); /* the index kept most blocks unread */
    }
    assert_int_equal(clew_store_close(s), 0);
}

struct damage {
    int reports;
    char first[CLEW_ERR_LEN];
};

struct damage_scan {
    struct damage d;
    int records;
};

static void on_damage(void *ud, const char *msg)
{
    struct damage *d = &((struct damage_scan *)ud)->d;
    if (d->reports++ == 0) {
        snprintf(d->first, sizeof(d->first), "%s", msg);
    }
}

static int count_rec(void *ud, const struct clew_record *r)
{
    (void)r;
    ((struct damage_scan *)ud)->records++;
    return 0;
}

static void test_corrupt_block_skipped(void **state)
{
    (void)state;
    struct clew_store *s;
    open_store(&s, 64u << 20, 0);
    append_range(s, 0, 1000, ts_now);
    assert_int_equal(clew_store_close(s), 0);
    int64_t *hours;
    size_t nh;
    assert_int_equal(clew_dd_list_hours(tmpdir, INT64_MIN, INT64_MAX, &hours, &nh), 0);
    assert_true(nh >= 1);
    struct clew_dd_segment *segs;
    size_t ns;
    assert_int_equal(clew_dd_list_segments(tmpdir, hours[nh - 1], &segs, &ns), 0);
    assert_true(ns >= 1);
    struct stat sb;
    assert_int_equal(stat(segs[0].path, &sb), 0);
    /* Flip a byte a quarter into the file: inside some block's columns. */
    int fd = open(segs[0].path, O_RDWR);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, sb.st_size / 4), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, sb.st_size / 4), 1);
    close(fd);

    struct damage_scan ctx = { { 0, "" }, 0 };
    struct clew_filter f;
    clew_filter_init(&f);
    assert_int_equal(clew_reader_scan(tmpdir, &f, count_rec, on_damage, &ctx, NULL), 0);
    assert_int_equal(ctx.d.reports, 1);
    assert_non_null(strstr(ctx.d.first, segs[0].path));
    assert_non_null(strstr(ctx.d.first, "block"));
    assert_true(ctx.records >= 1000 - 50 && ctx.records < 1000); /* one block lost */
    free(segs);
    free(hours);
}

static uint64_t durable_seen;

static void on_durable(void *ud, uint64_t seq)
{
    (void)ud;
    __atomic_store_n(&durable_seen, seq, __ATOMIC_SEQ_CST);
}

static void test_durable_callback(void **state)
{
    (void)state;
    const enum clew_fsync_mode modes[] = { CLEW_FSYNC_ALWAYS, CLEW_FSYNC_INTERVAL,
                                           CLEW_FSYNC_NEVER };
    for (int m = 0; m < 3; m++) {
        struct clew_store_config cfg;
        char err[CLEW_ERR_LEN];
        clew_store_config_default(&cfg);
        cfg.data_dir = tmpdir;
        cfg.fsync = modes[m];
        cfg.fsync_interval_ns = 20 * 1000000LL;
        struct clew_store *s;
        durable_seen = 0;
        assert_int_equal(clew_store_open(&cfg, on_durable, NULL, &s, err), 0);
        struct gen_rec g;
        make_rec(&g, 1, ts_now(1));
        uint64_t seq = 0;
        assert_int_equal(clew_store_append(s, &g.r, 1, &seq), 0);
        for (int i = 0; i < 200 && __atomic_load_n(&durable_seen, __ATOMIC_SEQ_CST) < seq; i++) {
            nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
        }
        assert_true(__atomic_load_n(&durable_seen, __ATOMIC_SEQ_CST) >= seq);
        assert_true(clew_store_durable_seq(s) >= seq);
        assert_int_equal(clew_store_close(s), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_hours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_wal_then_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_rename_and_wal_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace_lookup_many_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_block_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_callback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
