/* SPDX-License-Identifier: MIT
 * The tailer on fixture trees under a temp dir: a fake
 * /var/lib/docker/containers/<id>/<id>-json.log with config.v2.json and a
 * fake /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log. Every emitted
 * record goes through the real encoder and the collector's Forward decoder,
 * so the checks see what clewd would store. */
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
#include <zlib.h>

#include "collector/forward_parse.h"
#include "common/alloc.h"

#include "shipper/checkpoint.h"
#include "shipper/cri.h"
#include "shipper/docker_json.h"
#include "shipper/multiline.h"
#include "shipper/ship_encode.h"
#include "shipper/tailer.h"

#define ID64 "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"

struct got {
    char *msg;
    size_t len;
    int64_t ts;
    uint32_t file;
    uint64_t safe;
    char service[64], cname[64], stream[16], cid[80];
    char *fields;
};

struct ctx {
    char dir[256];
    char docker[300], pods[300];
    struct got recs[4096];
    size_t n;
    struct clew_fwd_decoder *dec;
    int auto_ack;
    struct clew_tailer *t;
};

static void copy_label(char *dst, size_t cap, struct clew_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n > 0) {
        memcpy(dst, s.ptr, n);
    }
    dst[n] = '\0';
}

/* Encodes the record as clew-ship sends it and decodes it as clewd does. */
static void on_rec(void *ud, const struct clew_tailer_rec *r)
{
    struct ctx *c = ud;
    struct clew_buf req, payload;
    clew_buf_init(&req);
    clew_buf_init(&payload);
    assert_int_equal(clew_ship_entry_encode(&payload, &r->e, r->fx), 0);
    uint8_t head[CLEW_SHIP_HEAD_MAX];
    size_t hl = clew_ship_request_head(head, "clew-ship", payload.len);
    assert_int_equal(clew_buf_append(&req, head, hl), 0);
    assert_int_equal(clew_buf_append(&req, payload.data, payload.len), 0);
    assert_int_equal(clew_ship_request_tail(&req, "c1", 1, 0), 0);
    assert_int_equal(clew_fwd_decoder_feed(c->dec, req.data, req.len), 0);
    struct clew_fwd_event ev;
    assert_int_equal(clew_fwd_decoder_next(c->dec, &ev), 0);
    assert_int_equal(ev.kind, CLEW_FWD_RECORD);
    assert_true(c->n < sizeof(c->recs) / sizeof(c->recs[0]));
    struct got *g = &c->recs[c->n++];
    g->msg = clew_strndup(ev.rec.message.ptr, ev.rec.message.len);
    g->len = ev.rec.message.len;
    g->ts = ev.rec.ts;
    g->file = r->file;
    g->safe = r->safe_off;
    copy_label(g->service, sizeof(g->service), ev.rec.labels[CLEW_LABEL_SERVICE]);
    copy_label(g->cname, sizeof(g->cname), ev.rec.labels[CLEW_LABEL_CONTAINER_NAME]);
    copy_label(g->stream, sizeof(g->stream), ev.rec.labels[CLEW_LABEL_STREAM]);
    copy_label(g->cid, sizeof(g->cid), ev.rec.labels[CLEW_LABEL_CONTAINER_ID]);
    g->fields = clew_strndup(ev.rec.fields.ptr, ev.rec.fields.len);
    assert_int_equal(clew_fwd_decoder_next(c->dec, &ev), 0);
    assert_int_equal(ev.kind, CLEW_FWD_END);
    assert_int_equal(clew_fwd_decoder_next(c->dec, &ev), -EAGAIN);
    clew_buf_close(&req);
    clew_buf_close(&payload);
    if (c->auto_ack) {
        clew_tailer_ack(c->t, r->file, r->safe_off);
    }
}

static void clear_recs(struct ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        clew_free(c->recs[i].msg);
        clew_free(c->recs[i].fields);
    }
    c->n = 0;
}

static int always(void *ud)
{
    (void)ud;
    return 1;
}

static void write_file(const char *path, const char *mode, const char *text)
{
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void docker_line(const char *path, const char *log, const char *stream)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "{\"log\":\"%s\",\"stream\":\"%s\",\"time\":\"2024-01-15T10:30:00.5Z\"}\n", log,
            stream);
    fclose(f);
}

static void docker_lines(const char *path, int from, int to)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    for (int i = from; i < to; i++) {
        fprintf(
            f,
            "{\"log\":\"line %d\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:%02dZ\"}\n",
            i, i % 60);
    }
    fclose(f);
}

static struct clew_tailer *new_tail_wait(struct ctx *c, const struct clew_ml_rules *ml,
                                         int64_t rotate_wait_ns)
{
    struct clew_tailer_opts o = { .docker_root = c->docker,
                                  .cri_root = c->pods,
                                  .host = "node1",
                                  .read_chunk = 4096, /* many chunk boundaries */
                                  .rotate_wait_ns = rotate_wait_ns };
    o.asm_opts.ml = ml;
    o.asm_opts.flush_ns = 1;
    char err[CLEW_ERR_LEN];
    struct clew_tailer *t;
    assert_int_equal(clew_tailer_new(&o, on_rec, NULL, c, &t, err), 0);
    c->t = t;
    return t;
}

static struct clew_tailer *new_tail(struct ctx *c, const struct clew_ml_rules *ml)
{
    return new_tail_wait(c, ml, 1);
}

/* A new run of the tailer from checkpoint ck, acknowledging what it emits. */
static struct clew_tailer *restart(struct ctx *c, const struct clew_ckpt *ck)
{
    c->auto_ack = 1;
    struct clew_tailer *t = new_tail(c, NULL);
    assert_int_equal(clew_tailer_restore(t, ck), 0);
    return t;
}

/* Scans and reads until nothing is left; returns the records emitted. */
static size_t run(struct ctx *c, struct clew_tailer *t, int64_t *now)
{
    size_t before = c->n;
    for (int i = 0; i < 3; i++) {
        *now += 10;
        assert_int_equal(clew_tailer_scan(t, *now), 0);
        while (clew_tailer_poll(t, 1u << 20, always, NULL, *now) == 1) {
        }
    }
    return c->n - before;
}

static int setup(void **state)
{
    struct ctx *c = clew_calloc(1, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/clew-tail-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->docker, sizeof(c->docker), "%s/containers", c->dir);
    snprintf(c->pods, sizeof(c->pods), "%s/pods", c->dir);
    mkdir(c->docker, 0755);
    mkdir(c->pods, 0755);
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", c->docker, ID64);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/%s/config.v2.json", c->docker, ID64);
    write_file(p, "w",
               "{\"ID\":\"" ID64 "\",\"Name\":\"/shop-web-1\",\"Config\":{\"Image\":\"nginx:1.25\","
               "\"Labels\":{\"com.docker.compose.service\":\"web\","
               "\"com.docker.compose.project\":\"shop\"}}}");
    assert_int_equal(clew_fwd_decoder_new(NULL, &c->dec), 0);
    c->auto_ack = 1;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    clear_recs(c);
    clew_fwd_decoder_free(c->dec);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
    assert_int_equal(system(cmd), 0);
    clew_free(c);
    return 0;
}

static void log_path(struct ctx *c, char *out, size_t len)
{
    snprintf(out, len, "%s/%s/%s-json.log", c->docker, ID64, ID64);
}

static void test_docker_metadata(void **state)
{
    struct ctx *c = *state;
    char p[600];
    log_path(c, p, sizeof(p));
    docker_line(p, "hello\\n", "stdout");
    docker_line(p, "oops\\n", "stderr");
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    assert_int_equal(run(c, t, &now), 2);
    assert_string_equal(c->recs[0].msg, "hello");
    assert_true(c->recs[0].ts == 1705314600500000000LL);
    assert_string_equal(c->recs[0].service, "web");
    assert_string_equal(c->recs[0].cname, "shop-web-1");
    assert_string_equal(c->recs[0].cid, ID64);
    assert_string_equal(c->recs[0].stream, "stdout");
    assert_non_null(strstr(c->recs[0].fields, "\"image\":\"nginx:1.25\""));
    assert_non_null(strstr(c->recs[0].fields, "\"compose_project\":\"shop\""));
    assert_string_equal(c->recs[1].msg, "oops");
    assert_string_equal(c->recs[1].stream, "stderr");
    clew_tailer_free(t);
}

/* Docker attrs reach every record of the file, also records that multiline
 * grouping holds until a later line (or the idle flush) emits them. */
static void test_docker_attrs(void **state)
{
    struct ctx *c = *state;
    char p[600];
    log_path(c, p, sizeof(p));
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    for (int i = 0; i < 3; i++) {
        fprintf(f,
                "{\"log\":\"attr %d\\n\",\"stream\":\"stdout\",\"attrs\":{\"team\":\"pay\","
                "\"env\":\"prod\"},\"time\":\"2024-01-15T10:30:00.1Z\"}\n",
                i);
    }
    fclose(f);
    struct clew_ml_rules *ml;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_ml_rules_new(NULL, &ml, err), 0);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, ml);
    assert_int_equal(run(c, t, &now), 3);
    for (size_t i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof(want), "attr %zu", i);
        assert_string_equal(c->recs[i].msg, want);
        assert_non_null(strstr(c->recs[i].fields, "\"team\":\"pay\""));
        assert_non_null(strstr(c->recs[i].fields, "\"env\":\"prod\""));
        assert_non_null(strstr(c->recs[i].fields, "\"image\":\"nginx:1.25\""));
    }
    clew_tailer_free(t);
    clew_ml_rules_free(ml);
}

static void test_docker_partial_join(void **state)
{
    struct ctx *c = *state;
    char p[600];
    log_path(c, p, sizeof(p));
    char *big = clew_malloc(16385);
    memset(big, 'a', 16384);
    big[16384] = '\0';
    /* stdout fragment, an interleaved stderr line, the stdout end. */
    docker_line(p, big, "stdout");
    docker_line(p, "err line\\n", "stderr");
    docker_line(p, big, "stdout");
    docker_line(p, "bb\\n", "stdout");
    clew_free(big);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    assert_int_equal(run(c, t, &now), 2);
    assert_string_equal(c->recs[0].msg, "err line");
    /* While the stdout fragments are held, the safe offset stays at their
     * start: a restart re-reads them. */
    assert_true(c->recs[0].safe == 0);
    assert_int_equal(c->recs[1].len, 2 * 16384 + 2);
    assert_memory_equal(c->recs[1].msg + 2 * 16384, "bb", 2);
    assert_true(c->recs[1].safe == (uint64_t)st.st_size);
    clew_tailer_free(t);
}

static void test_cri_join_and_metadata(void **state)
{
    struct ctx *c = *state;
    char d[600], p[700];
    snprintf(d, sizeof(d), "%s/shop_web-7d4b9c-xk2p_0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9", c->pods);
    mkdir(d, 0755);
    strcat(d, "/nginx");
    mkdir(d, 0755);
    snprintf(p, sizeof(p), "%s/0.log", d);
    write_file(p, "w",
               "2024-01-15T10:30:00.1Z stderr P part1\n"
               "2024-01-15T10:30:00.15Z stdout F out line\n"
               "2024-01-15T10:30:00.2Z stderr P part2\n"
               "2024-01-15T10:30:00.3Z stderr F part3\n"
               "2024-01-15T10:30:00Z stdout F \n"
               "garbage line\n"
               "2024-01-15T10:30:00.120000000+00:00 stdout F crio\n");
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    assert_int_equal(run(c, t, &now), 4);
    assert_string_equal(c->recs[0].msg, "out line");
    assert_string_equal(c->recs[1].msg, "part1part2part3");
    assert_string_equal(c->recs[1].stream, "stderr");
    assert_true(c->recs[1].ts == 1705314600100000000LL);
    assert_string_equal(c->recs[2].msg, "");
    assert_string_equal(c->recs[3].msg, "crio");
    assert_true(c->recs[3].ts == 1705314600120000000LL);
    assert_string_equal(c->recs[0].cname, "nginx");
    assert_string_equal(c->recs[0].service, "nginx");
    assert_non_null(strstr(c->recs[0].fields, "\"namespace\":\"shop\""));
    assert_non_null(strstr(c->recs[0].fields, "\"pod\":\"web-7d4b9c-xk2p\""));
    assert_non_null(
        strstr(c->recs[0].fields, "\"pod_uid\":\"0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9\""));
    struct clew_tailer_stats st;
    clew_tailer_stats(t, &st);
    assert_int_equal(st.bad_lines, 1);
    clew_tailer_free(t);
}

static void test_cri_dir_with_docker_json(void **state)
{
    struct ctx *c = *state;
    char d[600], p[700];
    snprintf(d, sizeof(d), "%s/ns_pod_uid", c->pods);
    mkdir(d, 0755);
    strcat(d, "/app");
    mkdir(d, 0755);
    snprintf(p, sizeof(p), "%s/1.log", d);
    docker_line(p, "via dockershim\\n", "stdout");
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    assert_int_equal(run(c, t, &now), 1);
    assert_string_equal(c->recs[0].msg, "via dockershim");
    assert_string_equal(c->recs[0].cname, "app");
    clew_tailer_free(t);
}

/* Messages "line <i>" for i in [from, to) appear exactly once each. */
static void expect_lines(struct ctx *c, int from, int to)
{
    int n = to - from;
    assert_int_equal(c->n, (size_t)n);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "line %d", from + i);
        assert_string_equal(c->recs[i].msg, want);
    }
}

static void test_rotation_rename(void **state)
{
    struct ctx *c = *state;
    char p[600], p1[620];
    log_path(c, p, sizeof(p));
    snprintf(p1, sizeof(p1), "%s.1", p);
    docker_lines(p, 0, 100);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    /* Rename; the writer still appends to the old inode, then a new file. */
    assert_int_equal(rename(p, p1), 0);
    docker_lines(p1, 100, 150);
    docker_lines(p, 150, 300);
    run(c, t, &now);
    expect_lines(c, 0, 300);
    struct clew_tailer_stats st;
    clew_tailer_stats(t, &st);
    assert_int_equal(st.rotations, 1);
    assert_int_equal(st.files, 1); /* the old one finished */
    assert_int_equal(st.truncations, 0);
    /* A replacement with the same name (unlink + create). */
    unlink(p);
    docker_lines(p, 300, 310);
    clear_recs(c);
    run(c, t, &now);
    expect_lines(c, 300, 310);
    clew_tailer_free(t);
}

/* A file that last grew long ago is rotated, and its writer appends a few
 * last lines to the old inode after the rotation was seen: rotate-wait
 * counts from the rotation, so they are read before the file is closed. */
static void test_rotation_late_writes_after_quiet(void **state)
{
    struct ctx *c = *state;
    char p[600], p1[620];
    log_path(c, p, sizeof(p));
    snprintf(p1, sizeof(p1), "%s.1", p);
    docker_lines(p, 0, 100);
    int64_t now = 0;
    struct clew_tailer *t = new_tail_wait(c, NULL, 1000);
    run(c, t, &now);
    now += 1000000; /* quiet for much longer than rotate-wait */
    assert_int_equal(rename(p, p1), 0);
    docker_lines(p, 150, 200);
    run(c, t, &now);            /* the rotation is seen (30 ns of fake time) */
    docker_lines(p1, 100, 150); /* the writer's last lines, after that */
    run(c, t, &now);
    now += 2000;
    run(c, t, &now);
    assert_int_equal(c->n, 200);
    struct clew_tailer_stats st;
    clew_tailer_stats(t, &st);
    assert_int_equal(st.files, 1); /* the old one finished */
    clew_tailer_free(t);
}

static void test_copytruncate(void **state)
{
    struct ctx *c = *state;
    char p[600];
    log_path(c, p, sizeof(p));
    docker_lines(p, 0, 50);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    expect_lines(c, 0, 50);
    clear_recs(c);
    assert_int_equal(truncate(p, 0), 0);
    docker_lines(p, 50, 60);
    run(c, t, &now);
    expect_lines(c, 50, 60);
    /* Truncated and refilled past the old position before the next look:
     * only the head's fingerprint tells. */
    clear_recs(c);
    assert_int_equal(truncate(p, 0), 0);
    docker_lines(p, 1000, 1100);
    run(c, t, &now);
    expect_lines(c, 1000, 1100);
    struct clew_tailer_stats st;
    clew_tailer_stats(t, &st);
    assert_int_equal(st.truncations, 2);
    clew_tailer_free(t);
}

static void save_ckpt(struct clew_tailer *t, struct clew_ckpt *ck)
{
    memset(ck, 0, sizeof(*ck));
    assert_int_equal(clew_tailer_checkpoint(t, ck), 0);
}

static void test_restart_from_checkpoint(void **state)
{
    struct ctx *c = *state;
    char p[600], p1[620];
    log_path(c, p, sizeof(p));
    snprintf(p1, sizeof(p1), "%s.1", p);
    docker_lines(p, 0, 100);
    int64_t now = 0;
    c->auto_ack = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    expect_lines(c, 0, 100);
    /* Only the first 40 records were acknowledged. */
    clew_tailer_ack(t, c->recs[39].file, c->recs[39].safe);
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    assert_int_equal(ck.n, 1);
    clew_tailer_free(t);

    /* Down: the file is rotated and a new one written. */
    assert_int_equal(rename(p, p1), 0);
    docker_lines(p1, 100, 120);
    docker_lines(p, 120, 130);
    clear_recs(c);
    t = restart(c, &ck);
    run(c, t, &now);
    /* The rotated file (older) resumes at 40 and is read before the new one. */
    expect_lines(c, 40, 130);
    struct clew_tailer_stats st;
    clew_tailer_stats(t, &st);
    assert_int_equal(st.resumed, 1);
    clew_ckpt_clear(&ck);
    clew_tailer_free(t);
}

static void test_two_rotations_between_looks(void **state)
{
    struct ctx *c = *state;
    char p[600], p1[620], p2[620];
    log_path(c, p, sizeof(p));
    snprintf(p1, sizeof(p1), "%s.1", p);
    snprintf(p2, sizeof(p2), "%s.2", p);
    docker_lines(p, 0, 10);
    int64_t now = 0;
    c->auto_ack = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    clew_tailer_ack(t, c->recs[4].file, c->recs[4].safe);
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    /* Docker rotates twice before the next scan (max-file 3). */
    docker_lines(p, 10, 20);
    assert_int_equal(rename(p, p1), 0);
    docker_lines(p, 20, 30);
    assert_int_equal(rename(p1, p2), 0);
    assert_int_equal(rename(p, p1), 0);
    docker_lines(p, 30, 40);
    run(c, t, &now);
    expect_lines(c, 0, 40);
    clew_tailer_free(t);

    /* The same while stopped, resuming from the checkpoint taken at 5. */
    clear_recs(c);
    t = restart(c, &ck);
    run(c, t, &now);
    expect_lines(c, 5, 40);
    clew_ckpt_clear(&ck);
    clew_tailer_free(t);
}

/* A file first seen under a rotated name is checkpointed under that name;
 * the restart must find it there. */
static void test_restart_rotated_name(void **state)
{
    struct ctx *c = *state;
    char p[600], p1[620], p2[620];
    log_path(c, p, sizeof(p));
    snprintf(p1, sizeof(p1), "%s.1", p);
    snprintf(p2, sizeof(p2), "%s.2", p);
    docker_lines(p, 0, 10);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    c->auto_ack = 0;
    docker_lines(p, 10, 20);
    assert_int_equal(rename(p, p1), 0);
    docker_lines(p, 20, 30);
    assert_int_equal(rename(p1, p2), 0);
    assert_int_equal(rename(p, p1), 0);
    docker_lines(p, 30, 40);
    run(c, t, &now);
    expect_lines(c, 0, 40);
    /* Acked: everything of the first file and 20..24 of the second. */
    for (size_t i = 0; i < 25; i++) {
        clew_tailer_ack(t, c->recs[i].file, c->recs[i].safe);
    }
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    int under_rotated_name = 0;
    for (size_t i = 0; i < ck.n; i++) {
        under_rotated_name |= strcmp(ck.files[i].path, p1) == 0;
    }
    assert_true(under_rotated_name);
    clew_tailer_free(t);
    clear_recs(c);
    t = restart(c, &ck);
    run(c, t, &now);
    expect_lines(c, 25, 40);
    struct clew_tailer_stats st;
    clew_tailer_stats(t, &st);
    assert_int_equal(st.ckpt_lost, 0);
    clew_ckpt_clear(&ck);
    clew_tailer_free(t);
}

static void test_fingerprint_mismatch(void **state)
{
    struct ctx *c = *state;
    char p[600];
    log_path(c, p, sizeof(p));
    docker_lines(p, 0, 20);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    clew_tailer_free(t);
    /* Same inode, other content, longer than the checkpoint offset. */
    int fd = open(p, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    close(fd);
    docker_lines(p, 500, 540);
    clear_recs(c);
    t = new_tail(c, NULL);
    assert_int_equal(clew_tailer_restore(t, &ck), 0);
    run(c, t, &now);
    expect_lines(c, 500, 540);
    clew_ckpt_clear(&ck);
    clew_tailer_free(t);
}

/* Compresses src into dst (gzip, a new inode) and removes src, as Docker
 * (compress: true) and kubelet do with rotated files. */
static void gzip_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    gzFile out = gzopen(dst, "wb");
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        assert_int_equal(gzwrite(out, buf, (unsigned)n), (int)n);
    }
    fclose(in);
    assert_int_equal(gzclose(out), Z_OK);
    assert_int_equal(unlink(src), 0);
}

static struct clew_tailer_stats tail_stats(struct clew_tailer *t)
{
    struct clew_tailer_stats st;
    clew_tailer_stats(t, &st);
    return st;
}

/* Stopped with 40 of 100 lines acknowledged; meanwhile the file grows, is
 * rotated and compressed (<f>.1.gz, new inode), and that again (<f>.2.gz).
 * The restart finishes the first file from the .gz at line 40, then reads
 * <f>.1.gz whole, then the live file. Stopped again inside <f>.2.gz, the
 * checkpoint names the .gz and the next run resumes inside it. */
static void test_restart_compressed(void **state)
{
    struct ctx *c = *state;
    char p[600], p1[620], p1gz[620], p2gz[620];
    log_path(c, p, sizeof(p));
    snprintf(p1, sizeof(p1), "%s.1", p);
    snprintf(p1gz, sizeof(p1gz), "%s.1.gz", p);
    snprintf(p2gz, sizeof(p2gz), "%s.2.gz", p);
    docker_lines(p, 0, 100);
    int64_t now = 0;
    c->auto_ack = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    expect_lines(c, 0, 100);
    clew_tailer_ack(t, c->recs[39].file, c->recs[39].safe);
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    clew_tailer_free(t);

    docker_lines(p, 100, 120);
    assert_int_equal(rename(p, p1), 0);
    gzip_file(p1, p1gz);
    docker_lines(p, 120, 130);
    assert_int_equal(rename(p1gz, p2gz), 0);
    assert_int_equal(rename(p, p1), 0);
    gzip_file(p1, p1gz);
    docker_lines(p, 130, 140);
    clear_recs(c);
    t = new_tail(c, NULL);
    assert_int_equal(clew_tailer_restore(t, &ck), 0);
    clew_ckpt_clear(&ck);
    run(c, t, &now);
    expect_lines(c, 40, 140);
    struct clew_tailer_stats st = tail_stats(t);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.gz_files, 2);
    assert_int_equal(st.ckpt_lost, 0);
    assert_int_equal(st.bad_lines, 0); /* nothing compressed was read as text */

    for (size_t i = 0; i < 30; i++) { /* lines 40..69, inside <f>.2.gz */
        clew_tailer_ack(t, c->recs[i].file, c->recs[i].safe);
    }
    save_ckpt(t, &ck);
    int in_gz = 0;
    for (size_t i = 0; i < ck.n; i++) {
        in_gz |= strcmp(ck.files[i].path, p2gz) == 0 && ck.files[i].offset > 0;
    }
    assert_true(in_gz);
    clew_tailer_free(t);
    clear_recs(c);
    t = restart(c, &ck);
    clew_ckpt_clear(&ck);
    run(c, t, &now);
    expect_lines(c, 70, 140);
    st = tail_stats(t);
    assert_true(st.resumed >= 1);
    assert_int_equal(st.ckpt_lost, 0);
    assert_int_equal(st.bad_lines, 0);
    clew_tailer_free(t);
}

static void cri_lines(const char *path, int from, int to)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    for (int i = from; i < to; i++) {
        fprintf(f, "2024-01-15T10:30:%02d.5Z stdout F line %d\n", i % 60, i);
    }
    fclose(f);
}

/* kubelet: 0.log -> 0.log.<ts>, compressed one rotation later to
 * 0.log.<ts>.gz; the newest rotated file stays plain. Read order after the
 * restart: the .gz from the checkpointed offset, the plain one, 0.log. */
static void test_restart_compressed_cri(void **state)
{
    struct ctx *c = *state;
    char d[600], p[700], r1[760], r1gz[760], r2[760];
    snprintf(d, sizeof(d), "%s/shop_web-1_0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9", c->pods);
    mkdir(d, 0755);
    strcat(d, "/app");
    mkdir(d, 0755);
    snprintf(p, sizeof(p), "%s/0.log", d);
    snprintf(r1, sizeof(r1), "%s.20240115-093000", p);
    snprintf(r1gz, sizeof(r1gz), "%s.gz", r1);
    snprintf(r2, sizeof(r2), "%s.20240115-103000", p);
    cri_lines(p, 0, 100);
    int64_t now = 0;
    c->auto_ack = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    expect_lines(c, 0, 100);
    clew_tailer_ack(t, c->recs[39].file, c->recs[39].safe);
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    clew_tailer_free(t);

    cri_lines(p, 100, 120);
    assert_int_equal(rename(p, r1), 0);
    cri_lines(p, 120, 130);
    assert_int_equal(rename(p, r2), 0);
    gzip_file(r1, r1gz);
    cri_lines(p, 130, 140);
    clear_recs(c);
    t = restart(c, &ck);
    clew_ckpt_clear(&ck);
    run(c, t, &now);
    expect_lines(c, 40, 140);
    struct clew_tailer_stats st = tail_stats(t);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.gz_files, 1);
    assert_int_equal(st.ckpt_lost, 0);
    assert_string_equal(c->recs[0].cname, "app");
    clew_tailer_free(t);
}

/* A .gz name is not enough: plain bytes under it are not gzip data, so
 * they are neither taken for the checkpointed file nor read as text. */
static void test_gz_name_plain_data(void **state)
{
    struct ctx *c = *state;
    char p[600], p1gz[620];
    log_path(c, p, sizeof(p));
    snprintf(p1gz, sizeof(p1gz), "%s.1.gz", p);
    docker_lines(p, 0, 50);
    int64_t now = 0;
    c->auto_ack = 0;
    struct clew_tailer *t = new_tail(c, NULL);
    run(c, t, &now);
    clew_tailer_ack(t, c->recs[9].file, c->recs[9].safe);
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    clew_tailer_free(t);
    assert_int_equal(rename(p, p1gz), 0); /* same inode, not compressed */
    docker_lines(p, 50, 60);
    clear_recs(c);
    t = new_tail(c, NULL);
    assert_int_equal(clew_tailer_restore(t, &ck), 0);
    run(c, t, &now);
    expect_lines(c, 50, 60);
    struct clew_tailer_stats st = tail_stats(t);
    assert_int_equal(st.gz_files, 0);
    assert_int_equal(st.ckpt_lost, 1);
    clew_tailer_free(t);
    /* The checkpoint names the .gz itself (as when stopped while finishing
     * one): opened as gzip, refused, counted, never read. */
    clear_recs(c);
    clew_free(ck.files[0].path);
    ck.files[0].path = clew_strdup(p1gz);
    for (size_t i = 1; i < ck.n; i++) {
        ck.files[i].offset = UINT64_MAX;
    }
    t = new_tail(c, NULL);
    assert_int_equal(clew_tailer_restore(t, &ck), 0);
    run(c, t, &now);
    expect_lines(c, 50, 60);
    st = tail_stats(t);
    assert_int_equal(st.gz_skipped, 1);
    assert_int_equal(st.bad_lines, 0);
    clew_ckpt_clear(&ck);
    clew_tailer_free(t);
}

static void test_multiline_default(void **state)
{
    struct ctx *c = *state;
    char p[600];
    log_path(c, p, sizeof(p));
    docker_line(p, "ERROR request failed\\n", "stdout");
    docker_line(p, "java.lang.IllegalStateException: boom\\n", "stdout");
    docker_line(p, "\\tat com.shop.Cart.add(Cart.java:42)\\n", "stdout");
    docker_line(p, "\\tat com.shop.Api.post(Api.java:7)\\n", "stdout");
    docker_line(p, "Caused by: java.io.IOException: disk\\n", "stdout");
    docker_line(p, "\\t... 3 more\\n", "stdout");
    docker_line(p, "Traceback (most recent call last):\\n", "stderr");
    docker_line(p, "  File \\\"a.py\\\", line 1, in <module>\\n", "stderr");
    docker_line(p, "ValueError: bad\\n", "stderr");
    docker_line(p, "next line\\n", "stderr");
    docker_line(p, "INFO ok\\n", "stdout");
    struct clew_ml_rules *ml;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_ml_rules_new(NULL, &ml, err), 0);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, ml);
    run(c, t, &now);
    assert_int_equal(c->n, 4);
    assert_string_equal(c->recs[0].msg, "Traceback (most recent call last):\n"
                                        "  File \"a.py\", line 1, in <module>\n"
                                        "ValueError: bad");
    assert_string_equal(c->recs[0].stream, "stderr");
    assert_string_equal(c->recs[1].msg, "ERROR request failed\n"
                                        "java.lang.IllegalStateException: boom\n"
                                        "\tat com.shop.Cart.add(Cart.java:42)\n"
                                        "\tat com.shop.Api.post(Api.java:7)\n"
                                        "Caused by: java.io.IOException: disk\n"
                                        "\t... 3 more");
    /* Held groups are emitted when idle (the test's flush time is 1 ns). */
    assert_string_equal(c->recs[2].msg, "INFO ok");
    assert_string_equal(c->recs[3].msg, "next line");
    clew_tailer_free(t);
    clew_ml_rules_free(ml);
}

static void test_multiline_pattern(void **state)
{
    struct ctx *c = *state;
    char p[600];
    log_path(c, p, sizeof(p));
    docker_line(p, "2024-01-15 first\\n", "stdout");
    docker_line(p, "continued\\n", "stdout");
    docker_line(p, "2024-01-15 second\\n", "stdout");
    struct clew_ml_rules *ml;
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_ml_rules_new("(", &ml, err), CLEW_EBADARG);
    assert_non_null(strstr(err, "multiline"));
    assert_int_equal(clew_ml_rules_new("^\\d{4}-\\d\\d-\\d\\d ", &ml, err), 0);
    int64_t now = 0;
    struct clew_tailer *t = new_tail(c, ml);
    run(c, t, &now);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->recs[0].msg, "2024-01-15 first\ncontinued");
    assert_string_equal(c->recs[1].msg, "2024-01-15 second");
    clew_tailer_free(t);
    clew_ml_rules_free(ml);
}

/* A CRI container log <pods>/<ns>_<pod>_<uid>/app/0.log with n lines. */
static void pod_log(struct ctx *c, const char *ns_pod, int n, char *out, size_t len)
{
    char d[600];
    snprintf(d, sizeof(d), "%s/%s_0d1c2b3a-4e5f", c->pods, ns_pod);
    mkdir(d, 0755);
    strcat(d, "/app");
    mkdir(d, 0755);
    snprintf(out, len, "%s/0.log", d);
    cri_lines(out, 0, n);
}

static struct clew_tailer *glob_tail(struct ctx *c, const char *cri_glob, const char *exclude)
{
    struct clew_tailer_opts o = {
        .docker_root = c->docker, .cri_root = c->pods, .host = "node1", .rotate_wait_ns = 1
    };
    o.cri_glob = cri_glob;
    o.exclude = exclude;
    o.asm_opts.flush_ns = 1;
    char err[CLEW_ERR_LEN];
    struct clew_tailer *t;
    assert_int_equal(clew_tailer_new(&o, on_rec, NULL, c, &t, err), 0);
    c->t = t;
    return t;
}

/* --cri-glob restricts to one namespace, --exclude drops a pod and the
 * Docker file; metadata still comes from the standard layout. */
static void test_glob_and_exclude(void **state)
{
    struct ctx *c = *state;
    char web[700], api[700], dev[700], dk[600];
    pod_log(c, "prod_web-1", 3, web, sizeof(web));
    pod_log(c, "prod_api-1", 5, api, sizeof(api));
    pod_log(c, "dev_web-1", 7, dev, sizeof(dev));
    log_path(c, dk, sizeof(dk));
    docker_lines(dk, 0, 11);
    int64_t now = 0;
    struct clew_tailer *t = glob_tail(c, "prod_*/*/*.log", "*/prod_api-*/*,*-json.log");
    assert_int_equal(run(c, t, &now), 3);
    assert_int_equal(tail_stats(t).files, 1);
    assert_string_equal(c->recs[0].cname, "app");
    assert_non_null(strstr(c->recs[0].fields, "\"namespace\":\"prod\""));
    assert_non_null(strstr(c->recs[0].fields, "\"pod\":\"web-1\""));
    clew_tailer_free(t);
    clear_recs(c);
    t = glob_tail(c, "prod_*/*/*.log", NULL); /* both prod pods and Docker */
    assert_int_equal(run(c, t, &now), 3 + 5 + 11);
    assert_int_equal(tail_stats(t).files, 3);
    clew_tailer_free(t);
    clear_recs(c);
    t = glob_tail(c, NULL, ",*/dev_*/*,"); /* default glob; empty items ignored */
    assert_int_equal(run(c, t, &now), 3 + 5 + 11);
    clew_tailer_free(t);
}

/* A checkpointed file that the new options exclude is not resumed. */
static void test_exclude_checkpointed(void **state)
{
    struct ctx *c = *state;
    char web[700], dev[700];
    pod_log(c, "prod_web-1", 3, web, sizeof(web));
    pod_log(c, "dev_web-1", 7, dev, sizeof(dev));
    c->docker[0] = '\0';
    int64_t now = 0;
    struct clew_tailer *t = glob_tail(c, NULL, NULL);
    assert_int_equal(run(c, t, &now), 10);
    struct clew_ckpt ck;
    save_ckpt(t, &ck);
    assert_int_equal(ck.n, 2);
    clew_tailer_free(t);
    cri_lines(web, 3, 5);
    cri_lines(dev, 7, 20);
    clear_recs(c);
    t = glob_tail(c, NULL, "*/dev_*");
    assert_int_equal(clew_tailer_restore(t, &ck), 0);
    assert_int_equal(run(c, t, &now), 2);
    assert_string_equal(c->recs[0].msg, "line 3");
    assert_int_equal(tail_stats(t).files, 1);
    assert_int_equal(tail_stats(t).ckpt_lost, 0);
    clew_ckpt_clear(&ck);
    clew_tailer_free(t);
}

static void test_bad_glob(void **state)
{
    struct ctx *c = *state;
    const char *bad[] = { "/var/log/pods/*/*/*.log", "../*/*.log", "a/../b/*.log", "*/..", "" };
    struct clew_tailer_opts o = { .cri_root = c->pods };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[CLEW_ERR_LEN] = "";
        struct clew_tailer *t = NULL;
        assert_int_equal(clew_tailer_check_glob("--cri-glob", bad[i], err), CLEW_EBADARG);
        assert_non_null(strstr(err, "--cri-glob"));
        o.docker_root = bad[i][0] ? c->docker : NULL;
        o.docker_glob = bad[i];
        int want = bad[i][0] ? CLEW_EBADARG : 0; /* "": the default */
        assert_int_equal(clew_tailer_new(&o, on_rec, NULL, c, &t, err), want);
        clew_tailer_free(t);
    }
    char err[CLEW_ERR_LEN];
    assert_int_equal(clew_tailer_check_glob("x", "a..b/..c/*.log", err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_docker_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_attrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_partial_join, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cri_join_and_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cri_dir_with_docker_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_late_writes_after_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_from_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_rotations_between_looks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_rotated_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_compressed_cri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gz_name_plain_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiline_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiline_pattern, setup, teardown),
        cmocka_unit_test_setup_teardown(test_glob_and_exclude, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclude_checkpointed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_glob, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
