/* SPDX-License-Identifier: MIT
 * The order that makes delivery at-least-once: a file position reaches the
 * checkpoint only through clew_tailer_ack, which only the Forward client's
 * done callback calls, for batches a collector acknowledged or the disk
 * buffer holds; before a checkpoint is saved the disk buffer is synced. A
 * crash at any point resumes from positions whose data is delivered or on
 * disk, so lines may be sent twice but never skipped. */
#include "shipper/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "shipper/checkpoint.h"
#include "shipper/disk_buffer.h"
#include "shipper/fwd_out.h"
#include "shipper/listeners.h"
#include "shipper/multiline.h"
#include "shipper/tailer.h"

#define POLL_MS     100
#define READ_BUDGET (4u << 20)
#define MAX_ADDRS   16

struct clew_agent {
    const struct clew_ship_config *cfg;
    uv_loop_t loop;
    int loop_inited;
    struct clew_tailer *tail; /* NULL: no log root, only listeners */
    struct clew_fwd_out *out;
    struct clew_listeners *lis; /* --syslog / --gelf */
    struct clew_dbuf *dbuf;
    struct clew_ml_rules *ml;
    struct clew_ckpt ckpt;
    char *fwd_copy;
    const char *addrs[MAX_ADDRS];
    size_t naddrs;
    uv_timer_t scan_t, poll_t, ckpt_t, stop_t;
    uv_idle_t idle;
    uv_signal_t sigterm, sigint;
    int handles_inited;
    int lock_fd;
    int dirty;
    uint64_t ckpt_files; /* files followed at the last save */
    int reading;
    int stopping;
    int fatal;
    int64_t stop_deadline;
    uint64_t resent_base;
    char host[256];
};

/* ---- records in, acks back ------------------------------------------------ */

static void on_record(void *ud, const struct clew_tailer_rec *r)
{
    struct clew_agent *a = ud;
    struct clew_buf *p = clew_fwd_out_payload(a->out);
    if (p == NULL || clew_ship_entry_encode(p, &r->e, r->fx) < 0 ||
        clew_fwd_out_commit(a->out, r->file, r->safe_off) < 0) {
        /* Losing a record here would let later positions cover it: stop
         * instead, and let the restart read it again. */
        if (!a->fatal) {
            clew_log(CLEW_LOG_ERROR, "ship", "out of memory encoding a record; stopping");
        }
        a->fatal = 1;
        uv_stop(&a->loop);
    }
}

static void start_reading(struct clew_agent *a);

static void on_done(void *ud, const struct clew_fwd_mark *marks, size_t n)
{
    struct clew_agent *a = ud;
    for (size_t i = 0; i < n; i++) {
        if (a->tail != NULL && marks[i].file != CLEW_LISTENERS_MARK_FILE) { /* no position */
            clew_tailer_ack(a->tail, marks[i].file, marks[i].off);
        }
    }
    a->dirty = 1;
    start_reading(a); /* room in the queue again */
    clew_listeners_pressure(a->lis);
}

/* A batch went out: its positions become the checkpoint's `read`, so that a
 * restart after a kill counts what it sends a second time. */
static void on_sent(void *ud, const struct clew_fwd_mark *marks, size_t n)
{
    struct clew_agent *a = ud;
    for (size_t i = 0; i < n && a->tail != NULL; i++) {
        if (marks[i].file != CLEW_LISTENERS_MARK_FILE) {
            clew_tailer_sent(a->tail, marks[i].file, marks[i].off);
        }
    }
    a->dirty = 1;
}

static void on_event(void *ud, int level, const char *text)
{
    (void)ud;
    clew_log(level, "ship", "%s", text);
}

static int can_read(void *ud)
{
    struct clew_agent *a = ud;
    return !a->stopping && !a->fatal && !clew_fwd_out_full(a->out);
}

static void on_idle(uv_idle_t *h)
{
    struct clew_agent *a = h->data;
    int more = clew_tailer_poll(a->tail, READ_BUDGET, can_read, a, clew_time_mono_ns());
    if (more < 0) {
        clew_log(CLEW_LOG_ERROR, "ship", "out of memory reading files; stopping");
        a->fatal = 1;
        uv_stop(&a->loop);
        return;
    }
    if (more == 0 || !can_read(a)) {
        a->reading = 0;
        uv_idle_stop(&a->idle);
    }
}

static void start_reading(struct clew_agent *a)
{
    if (!a->reading && !a->stopping && a->tail != NULL) {
        a->reading = 1;
        uv_idle_start(&a->idle, on_idle);
    }
}

/* ---- checkpoint and status ------------------------------------------------ */

static void tail_stats(const struct clew_agent *a, struct clew_tailer_stats *ts)
{
    if (a->tail != NULL) {
        clew_tailer_stats(a->tail, ts);
    } else {
        memset(ts, 0, sizeof(*ts));
    }
}

static int save_checkpoint(struct clew_agent *a)
{
    char err[CLEW_ERR_LEN];
    int rc = a->dbuf ? clew_dbuf_sync(a->dbuf) : 0;
    if (rc < 0) {
        /* Positions of spilled batches are not durable yet: keep the old
         * checkpoint. */
        clew_log(CLEW_LOG_ERROR, "ship", "disk buffer sync: %s", clew_strerror(rc));
        return rc;
    }
    struct clew_fwd_out_stats fs;
    clew_fwd_out_stats(a->out, &fs);
    if (a->tail != NULL && (rc = clew_tailer_checkpoint(a->tail, &a->ckpt)) < 0) {
        return rc;
    }
    a->ckpt.buffer_acked = a->dbuf ? clew_dbuf_acked(a->dbuf) : 0;
    struct clew_tailer_stats ts;
    tail_stats(a, &ts);
    a->ckpt.resent = a->resent_base + fs.records_resent + ts.reread;
    if ((rc = clew_ckpt_save(a->cfg->state, &a->ckpt, err)) < 0) {
        clew_log(CLEW_LOG_ERROR, "ship", "checkpoint: %s", err);
        return rc;
    }
    a->dirty = 0;
    return 0;
}

static void write_status(struct clew_agent *a)
{
    struct clew_tailer_stats ts;
    struct clew_fwd_out_stats fs;
    struct clew_dbuf_stats ds = { 0 };
    tail_stats(a, &ts);
    clew_fwd_out_stats(a->out, &fs);
    if (a->dbuf) {
        clew_dbuf_stats(a->dbuf, &ds);
    }
    char tmp[4200], dst[4200];
    snprintf(tmp, sizeof(tmp), "%s/status.json.tmp", a->cfg->state);
    snprintf(dst, sizeof(dst), "%s/status.json", a->cfg->state);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return;
    }
    fprintf(f,
            "{\"files\":%" PRIu64 ",\"files_opened\":%" PRIu64 ",\"rotations\":%" PRIu64
            ",\"truncations\":%" PRIu64 ",\"resumed\":%" PRIu64 ",\"checkpoint_lost\":%" PRIu64
            ",\"bytes_read\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"bad_lines\":%" PRIu64
            ",\"cut_lines\":%" PRIu64 ",\"records\":%" PRIu64 ",\"records_reread\":%" PRIu64
            ",\"read_errors\":%" PRIu64 ",\"gz_files\":%" PRIu64 ",\"gz_skipped\":%" PRIu64 ",\n",
            ts.files, ts.opened, ts.rotations, ts.truncations, ts.resumed, ts.ckpt_lost, ts.bytes,
            ts.lines, ts.bad_lines, ts.cut_lines, ts.records, ts.reread, ts.errors, ts.gz_files,
            ts.gz_skipped);
    fprintf(f,
            " \"records_queued\":%" PRIu64 ",\"records_acked\":%" PRIu64
            ",\"records_resent\":%" PRIu64 ",\"records_resent_total\":%" PRIu64
            ",\"records_spilled\":%" PRIu64 ",\"records_from_disk\":%" PRIu64
            ",\"batches_sent\":%" PRIu64 ",\"batches_acked\":%" PRIu64 ",\"ack_wait_ms_mean\":%.1f"
            ",\"bytes_sent\":%" PRIu64 ",\"connects\":%" PRIu64 ",\"connect_failures\":%" PRIu64
            ",\"disconnects\":%" PRIu64 ",\"ack_timeouts\":%" PRIu64 ",\"protocol_errors\":%" PRIu64
            ",\"probes\":%" PRIu64 ",\"failbacks\":%" PRIu64
            ",\"connected\":%d,\"collector\":\"%s\",\"queue_bytes\":%" PRIu64
            ",\"inflight_bytes\":%" PRIu64 ",\"spilling\":%d,\n",
            fs.records_queued, fs.records_acked, fs.records_resent,
            a->resent_base + fs.records_resent + ts.reread, fs.records_spilled,
            fs.records_from_disk, fs.batches_sent, fs.batches_acked,
            fs.batches_acked ? (double)fs.ack_wait_ns / (double)fs.batches_acked / 1e6 : 0.0,
            fs.bytes_sent, fs.connects, fs.connect_failures, fs.disconnects, fs.ack_timeouts,
            fs.protocol_errors, fs.probes, fs.failbacks, fs.connected, fs.addr ? fs.addr : "",
            fs.queue_bytes, fs.inflight_bytes, fs.spilling);
    fprintf(f,
            " \"buffer_bytes\":%" PRIu64 ",\"buffer_frames\":%" PRIu64
            ",\"buffer_dropped_frames\":%" PRIu64 ",\"buffer_dropped_records\":%" PRIu64
            ",\"buffer_cut_bytes\":%" PRIu64 ",\n ",
            ds.bytes, ds.frames, ds.dropped_frames, ds.dropped_records, ds.cut_bytes);
    clew_listeners_write_status(a->lis, f);
    fputs("}\n", f);
    if (fclose(f) == 0) {
        rename(tmp, dst);
    }
}

/* ---- timers and signals --------------------------------------------------- */

static void on_scan(uv_timer_t *t)
{
    struct clew_agent *a = t->data;
    if (a->tail != NULL && clew_tailer_scan(a->tail, clew_time_mono_ns()) < 0) {
        clew_log(CLEW_LOG_ERROR, "ship", "out of memory scanning; stopping");
        a->fatal = 1;
        uv_stop(&a->loop);
        return;
    }
    write_status(a);
    start_reading(a);
}

static void on_poll(uv_timer_t *t)
{
    struct clew_agent *a = t->data;
    start_reading(a);
    clew_listeners_pressure(a->lis); /* room may come without acks (spills) */
}

static void on_ckpt(uv_timer_t *t)
{
    struct clew_agent *a = t->data;
    struct clew_tailer_stats ts;
    tail_stats(a, &ts);
    /* A finished file leaves the checkpoint too. */
    if (a->dirty || ts.files != a->ckpt_files) {
        a->ckpt_files = ts.files;
        save_checkpoint(a);
    }
}

static void on_out_closed(void *ud)
{
    struct clew_agent *a = ud;
    a->out = NULL;
    uv_stop(&a->loop);
}

static void finish(struct clew_agent *a)
{
    uv_timer_stop(&a->stop_t);
    if (!clew_fwd_out_idle(a->out) && a->dbuf != NULL) {
        int rc = clew_fwd_out_spill(a->out);
        if (rc < 0) {
            clew_log(CLEW_LOG_WARN, "ship", "spilling at exit failed: %s", clew_strerror(rc));
        }
    }
    save_checkpoint(a);
    write_status(a);
    struct clew_fwd_out_stats fs;
    struct clew_tailer_stats ts;
    clew_fwd_out_stats(a->out, &fs);
    tail_stats(a, &ts);
    clew_log(CLEW_LOG_INFO, "ship",
             "stopped: %" PRIu64 " records queued, %" PRIu64 " acknowledged, %" PRIu64
             " spilled to disk; %" PRIu64 " resent after connection breaks, %" PRIu64
             " read again after a restart (already read by the previous run); %" PRIu64
             " resent since the state was created",
             fs.records_queued, fs.records_acked, fs.records_spilled, fs.records_resent, ts.reread,
             a->resent_base + fs.records_resent + ts.reread);
    if (strcmp(a->cfg->syslog, "off") != 0 || strcmp(a->cfg->gelf, "off") != 0) {
        char sum[512];
        clew_listeners_summary(a->lis, sum, sizeof(sum));
        clew_log(CLEW_LOG_INFO, "ship", "listeners: %s", sum);
    }
    clew_fwd_out_close(a->out, on_out_closed, a);
}

static void on_stop_tick(uv_timer_t *t)
{
    struct clew_agent *a = t->data;
    if (clew_fwd_out_idle(a->out) || clew_time_mono_ns() >= a->stop_deadline) {
        finish(a);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct clew_agent *a = h->data;
    if (a->stopping) {
        return;
    }
    clew_log(CLEW_LOG_INFO, "ship", "signal %d: waiting up to %lld ms for acks", signum,
             (long long)(a->cfg->drain_timeout / 1000000));
    a->stopping = 1;
    clew_listeners_stop(a->lis); /* no new records; what they sent drains below */
    uv_idle_stop(&a->idle);
    uv_timer_stop(&a->scan_t);
    uv_timer_stop(&a->poll_t);
    /* Held records (fragments, multiline groups) are not flushed: the
     * checkpoint stops before them, so the next run reads them again. */
    clew_fwd_out_flush(a->out);
    a->stop_deadline = clew_time_mono_ns() + a->cfg->drain_timeout;
    uv_timer_start(&a->stop_t, on_stop_tick, 0, 50);
}

/* ---- set-up --------------------------------------------------------------- */

static int lock_state(struct clew_agent *a, char err[CLEW_ERR_LEN])
{
    const char *dir = a->cfg->state;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, CLEW_ERR_LEN, "state directory %s: %s", dir, strerror(e));
        return -e;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/lock", dir);
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (a->lock_fd < 0) {
        int e = errno;
        snprintf(err, CLEW_ERR_LEN, "state directory %s: %s", dir, strerror(e));
        return -e;
    }
    if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, CLEW_ERR_LEN, "state directory %s is in use by another clew-ship", dir);
        return -EBUSY;
    }
    return 0;
}

static int split_addrs(struct clew_agent *a, char err[CLEW_ERR_LEN])
{
    if ((a->fwd_copy = clew_strdup(a->cfg->forward)) == NULL) {
        return -ENOMEM;
    }
    char *save = NULL;
    for (char *p = strtok_r(a->fwd_copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (a->naddrs == MAX_ADDRS) {
            snprintf(err, CLEW_ERR_LEN, "--forward: at most %d collectors", MAX_ADDRS);
            return CLEW_EBADARG;
        }
        a->addrs[a->naddrs++] = p;
    }
    if (a->naddrs == 0) {
        snprintf(err, CLEW_ERR_LEN, "--forward: no collector address");
        return CLEW_EBADARG;
    }
    return 0;
}

static const char *root_opt(const char *v)
{
    return strcmp(v, "off") == 0 || v[0] == '\0' ? NULL : v;
}

static int check_root(const char *name, const char *dir)
{
    struct stat st;
    if (dir == NULL) {
        return 0;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, R_OK | X_OK) < 0) {
        clew_log(CLEW_LOG_WARN, "ship", "%s %s: %s (watching for it to appear)", name, dir,
                 errno ? strerror(errno) : "not a directory");
    }
    return 0;
}

static int make_tail(struct clew_agent *a, char err[CLEW_ERR_LEN])
{
    const struct clew_ship_config *c = a->cfg;
    int rc = 0;
    if (strcmp(c->multiline, "off") != 0) {
        const char *pat = strcmp(c->multiline, "default") == 0 ? NULL : c->multiline;
        if ((rc = clew_ml_rules_new(pat, &a->ml, err)) < 0) {
            return rc;
        }
    }
    if (c->host[0]) {
        snprintf(a->host, sizeof(a->host), "%s", c->host);
    } else if (gethostname(a->host, sizeof(a->host) - 1) < 0) {
        snprintf(a->host, sizeof(a->host), "localhost");
    }
    struct clew_tailer_opts to = { .docker_root = root_opt(c->docker_root),
                                   .cri_root = root_opt(c->cri_root),
                                   .docker_glob = c->docker_glob,
                                   .cri_glob = c->cri_glob,
                                   .exclude = c->exclude,
                                   .host = a->host,
                                   .rotate_wait_ns = c->rotate_wait };
    to.asm_opts.ml = a->ml;
    to.asm_opts.max_line = c->max_line;
    to.asm_opts.max_group = c->max_line;
    to.asm_opts.flush_ns = c->multiline_wait;
    if (to.docker_root == NULL && to.cri_root == NULL &&
        (root_opt(c->syslog) || root_opt(c->gelf))) {
        return 0; /* only the listeners: no files, and no tailer */
    }
    check_root("Docker root", to.docker_root);
    check_root("CRI root", to.cri_root);
    if ((rc = clew_tailer_new(&to, on_record, on_event, a, &a->tail, err)) < 0) {
        return rc;
    }
    return clew_tailer_restore(a->tail, &a->ckpt);
}

static int make_out(struct clew_agent *a, char err[CLEW_ERR_LEN])
{
    const struct clew_ship_config *c = a->cfg;
    int rc = 0;
    if (c->buffer_size > 0) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/buffer", c->state);
        if ((rc = clew_dbuf_open(dir, a->ckpt.buffer_acked, c->buffer_size, &a->dbuf, err)) < 0) {
            return rc;
        }
    }
    struct clew_fwd_out_opts fo = { .addrs = a->addrs,
                                    .naddrs = a->naddrs,
                                    .tag = c->tag,
                                    .batch_bytes = c->batch_size,
                                    .batch_ns = c->batch_wait,
                                    .max_inflight = c->max_inflight,
                                    .max_queue = c->max_memory,
                                    .gzip_level = (int)c->gzip,
                                    .ack_timeout_ns = c->ack_timeout,
                                    .dbuf = a->dbuf,
                                    .spill_after_ns = c->spill_after,
                                    .sent = on_sent,
                                    .failback_ns = c->failback_every > 0 ? c->failback_every : -1 };
    return clew_fwd_out_new(&a->loop, &fo, on_done, on_event, a, &a->out, err);
}

static void init_handles(struct clew_agent *a)
{
    uv_timer_t *timers[] = { &a->scan_t, &a->poll_t, &a->ckpt_t, &a->stop_t };
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(&a->loop, timers[i]);
        timers[i]->data = a;
    }
    uv_idle_init(&a->loop, &a->idle);
    a->idle.data = a;
    uv_signal_init(&a->loop, &a->sigterm);
    uv_signal_init(&a->loop, &a->sigint);
    a->sigterm.data = a->sigint.data = a;
    a->handles_inited = 1;
}

int clew_agent_new(const struct clew_ship_config *cfg, struct clew_agent **out,
                   char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_agent *a = clew_calloc(1, sizeof(*a));
    if (a == NULL) {
        return -ENOMEM;
    }
    a->cfg = cfg;
    a->lock_fd = -1;
    int rc = uv_loop_init(&a->loop);
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "event loop: %s", uv_strerror(rc));
        clew_free(a);
        return rc;
    }
    a->loop_inited = 1;
    if ((rc = lock_state(a, err)) < 0 || (rc = split_addrs(a, err)) < 0 ||
        (rc = clew_ckpt_load(cfg->state, &a->ckpt, err)) < 0 || (rc = make_tail(a, err)) < 0 ||
        (rc = make_out(a, err)) < 0 ||
        (rc = clew_listeners_open(&a->loop, cfg->syslog, cfg->gelf, a->out, &a->lis, err)) < 0) {
        if (rc == -ENOMEM) {
            snprintf(err, CLEW_ERR_LEN, "out of memory");
        }
        clew_agent_free(a);
        return rc;
    }
    a->resent_base = a->ckpt.resent;
    init_handles(a);
    *out = a;
    return 0;
}

int clew_agent_run(struct clew_agent *a)
{
    const struct clew_ship_config *c = a->cfg;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uint64_t scan_ms = (uint64_t)(c->scan_every / 1000000);
    uint64_t ckpt_ms = (uint64_t)(c->checkpoint_every / 1000000);
    uv_timer_start(&a->scan_t, on_scan, 0, scan_ms ? scan_ms : 1);
    uv_timer_start(&a->poll_t, on_poll, POLL_MS, POLL_MS);
    uv_timer_start(&a->ckpt_t, on_ckpt, ckpt_ms ? ckpt_ms : 1, ckpt_ms ? ckpt_ms : 1);
    clew_log(CLEW_LOG_INFO, "ship",
             "started: forward %s, state %s, %zu checkpointed files, disk buffer %s", c->forward,
             c->state, a->ckpt.n, a->dbuf ? "on" : "off");
    uv_run(&a->loop, UV_RUN_DEFAULT);
    return a->fatal ? 1 : 0;
}

static void close_walk(uv_handle_t *h, void *ud)
{
    (void)ud;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

void clew_agent_free(struct clew_agent *a)
{
    if (a == NULL) {
        return;
    }
    clew_listeners_stop(a->lis); /* before the client they push into */
    if (a->out) {                /* a fatal stop: close the client first */
        clew_fwd_out_close(a->out, on_out_closed, a);
        uv_run(&a->loop, UV_RUN_DEFAULT);
    }
    if (a->loop_inited) {
        uv_walk(&a->loop, close_walk, NULL);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        uv_loop_close(&a->loop);
    }
    clew_listeners_free(a->lis); /* the loop ran the inputs' close callbacks */
    clew_tailer_free(a->tail);
    clew_dbuf_close(a->dbuf);
    clew_ml_rules_free(a->ml);
    clew_ckpt_clear(&a->ckpt);
    clew_free(a->fwd_copy);
    if (a->lock_fd >= 0) {
        close(a->lock_fd);
    }
    clew_free(a);
}
