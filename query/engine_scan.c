/* SPDX-License-Identifier: MIT
 * The engine's scan (see engine.h and engine_int.h): worker threads take
 * the tasks (blocks) of an hour in order, read the columns the query needs
 * and select the matching records (literal prefilter over the message
 * column, then PCRE2 on the candidates and the filters); the calling
 * thread takes finished tasks in the same order and merges their matches,
 * and the hour's WAL records, with a heap: a match is emitted once no task
 * still to come can hold an earlier record. At most CLEW_ENGINE_WINDOW
 * tasks per thread are in flight beyond the one being merged, so memory
 * stays bounded and -m N stops early. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "query/engine_int.h"

/* ---- matching one block (worker threads) ---- */

/* Whether the records of t need a per-record filter check. */
static int needs_check(const struct clew_query_spec *sp, const struct task *t)
{
    const struct clew_filter *f = &sp->filter;
    return f->label_mask != 0 || sp->level_max >= 0 || t->min_ts < f->since || t->max_ts > f->until;
}

static int task_fail(struct task *t, int rc, const char *msg)
{
    if (t->err == NULL) {
        t->err = clew_malloc(CLEW_ERR_LEN);
    }
    if (t->err != NULL && msg != NULL) {
        snprintf(t->err, CLEW_ERR_LEN, "%s", msg);
    }
    return rc;
}

static int read_block(const struct run *R, struct task *t, unsigned cols, struct clew_seg_block **b,
                      char *err)
{
    const struct clew_str *tid = &R->sp->filter.trace_id;
    if (tid->len > 0) {
        return clew_seg_block_read_trace(t->seg, t->block, cols, tid->ptr, tid->len, b, err);
    }
    return clew_seg_block_read(t->seg, t->block, cols, b, err);
}

/* Selects the matching records of t->b into t->idx. */
static int select_matches(const struct run *R, struct clew_match_ctx *ctx, struct task *t,
                          uint8_t *cand, char *err)
{
    const struct clew_query_spec *sp = R->sp;
    size_t n = clew_seg_block_count(t->b);
    const uint32_t *off = NULL;
    const char *msgs = clew_seg_block_messages(t->b, &off);
    if (msgs != NULL && !clew_matcher_matches_all(R->q->m)) {
        clew_matcher_candidates(R->q->m, msgs, off, n, cand);
        t->bytes = off[n] - off[0];
    } else {
        memset(cand, clew_matcher_matches_all(R->q->m) ? CLEW_MATCH_YES : CLEW_MATCH_MAYBE, n);
    }
    int check = needs_check(sp, t);
    for (size_t j = 0; j < n; j++) {
        if (cand[j] == CLEW_MATCH_NO && !sp->invert) {
            continue;
        }
        if (check) {
            struct clew_record r;
            clew_seg_block_record(t->b, j, &r);
            if (!clew_filter_match(&sp->filter, &r) || !clew_engine_level_ok(sp, &r)) {
                continue;
            }
        }
        int m = cand[j] == CLEW_MATCH_YES;
        if (cand[j] == CLEW_MATCH_MAYBE) {
            m = clew_match_run(ctx, msgs + off[j], off[j + 1] - off[j], err);
            if (m < 0) {
                return m;
            }
        }
        if (m != sp->invert) {
            t->idx[t->nidx++] = (uint32_t)j;
        }
    }
    return 0;
}

static int scan_task(struct run *R, struct clew_match_ctx *ctx, struct task *t, uint8_t **cand,
                     size_t *candcap)
{
    char err[CLEW_ERR_LEN];
    int rc = read_block(R, t, R->q->read_cols, &t->b, err);
    if (rc < 0) {
        t->damaged = rc != -ENOMEM;
        return task_fail(t, rc == -ENOMEM ? rc : 0, err);
    }
    size_t n = clew_seg_block_count(t->b);
    t->records = n;
    if (*cand == NULL || n > *candcap) { /* a trace read may keep 0 records */
        clew_free(*cand);
        *candcap = n;
        *cand = clew_malloc(n + 1);
    }
    t->idx = clew_malloc(n * sizeof(*t->idx) + 1);
    if (*cand == NULL || t->idx == NULL) {
        *candcap = 0;
        return task_fail(t, -ENOMEM, "out of memory");
    }
    if ((rc = select_matches(R, ctx, t, *cand, err)) < 0) {
        return task_fail(t, rc, err);
    }
    if (t->nidx == 0 || R->q->read_cols == R->q->full_cols) {
        return 0;
    }
    /* A match: decode the columns left out (fields) into the same block;
     * the columns read already are not decoded again. */
    rc = clew_seg_block_read_more(t->b, R->q->full_cols, err);
    if (rc < 0) {
        t->nidx = 0;
        t->damaged = rc != -ENOMEM;
        return task_fail(t, rc == -ENOMEM ? rc : 0, err);
    }
    return 0;
}

static void run_task(struct run *R, struct clew_match_ctx *ctx, struct task *t, uint8_t **cand,
                     size_t *candcap)
{
    if (atomic_load(&R->pool.stop)) {
        return;
    }
    if (clew_engine_is_cancelled(R)) {
        t->rc = -ECANCELED;
        return;
    }
    if (R->deadline > 0 && clew_time_mono_ns() > R->deadline) {
        t->rc = -ETIMEDOUT;
        return;
    }
    t->rc = scan_task(R, ctx, t, cand, candcap);
    if (t->nidx == 0) {
        clew_seg_block_free(t->b);
        t->b = NULL;
    }
}

/* ---- the worker pool ---- */

static void *worker(void *arg)
{
    struct pool *P = arg;
    struct clew_match_ctx *ctx = NULL;
    uint8_t *cand = NULL;
    size_t candcap = 0;
    int ctx_rc = clew_match_ctx_new(P->run->q->m, &ctx);
    pthread_mutex_lock(&P->mu);
    for (;;) {
        while (!P->quit && P->next >= P->limit) {
            pthread_cond_wait(&P->work, &P->mu);
        }
        if (P->quit) {
            break;
        }
        struct task *t = &P->tasks[P->next++];
        pthread_mutex_unlock(&P->mu);
        if (ctx_rc < 0) {
            t->rc = task_fail(t, ctx_rc, "out of memory");
        } else {
            run_task(P->run, ctx, t, &cand, &candcap);
        }
        pthread_mutex_lock(&P->mu);
        t->done = 1;
        pthread_cond_broadcast(&P->done);
    }
    pthread_mutex_unlock(&P->mu);
    clew_free(cand);
    clew_match_ctx_free(ctx);
    return NULL;
}

static unsigned thread_count(const struct clew_query_spec *sp)
{
    long n = sp->threads > 0 ? (long)sp->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > CLEW_ENGINE_MAX_THREADS ? CLEW_ENGINE_MAX_THREADS : (unsigned)n;
}

int clew_engine_pool_start(struct pool *P, struct run *R)
{
    memset(P, 0, sizeof(*P));
    P->run = R;
    atomic_init(&P->stop, 0);
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->work, NULL);
    pthread_cond_init(&P->done, NULL);
    unsigned want = thread_count(R->sp);
    for (unsigned i = 0; i < want; i++) {
        if (pthread_create(&P->th[i], NULL, worker, P) != 0) {
            break;
        }
        P->nth++;
    }
    return P->nth > 0 ? 0 : -EAGAIN;
}

void clew_engine_pool_stop(struct pool *P)
{
    pthread_mutex_lock(&P->mu);
    P->quit = 1;
    pthread_cond_broadcast(&P->work);
    pthread_mutex_unlock(&P->mu);
    for (unsigned i = 0; i < P->nth; i++) {
        pthread_join(P->th[i], NULL);
    }
    pthread_cond_destroy(&P->work);
    pthread_cond_destroy(&P->done);
    pthread_mutex_destroy(&P->mu);
}

/* Lets the workers take tasks[0..limit). */
static void pool_allow(struct pool *P, size_t limit)
{
    pthread_mutex_lock(&P->mu);
    if (limit > P->limit) {
        P->limit = limit;
        pthread_cond_broadcast(&P->work);
    }
    pthread_mutex_unlock(&P->mu);
}

/* Waits until the workers are done with every task they took, then
 * detaches the task list. */
static void pool_finish(struct pool *P)
{
    pthread_mutex_lock(&P->mu);
    P->limit = P->next; /* nothing more is taken */
    for (size_t i = 0; i < P->next; i++) {
        while (!P->tasks[i].done) {
            pthread_cond_wait(&P->done, &P->mu);
        }
    }
    P->tasks = NULL;
    P->next = P->limit = 0;
    pthread_mutex_unlock(&P->mu);
}

/* ---- the main thread: progress, waiting, merging ---- */

static void progress(struct run *R, size_t done, size_t n)
{
    if (R->sp->progress == NULL) {
        return;
    }
    int64_t now = clew_time_mono_ns();
    if (now < R->next_progress) {
        return;
    }
    R->next_progress = now + (R->sp->progress_ns > 0 ? R->sp->progress_ns : 250000000);
    double frac = (double)R->hour_i + (n > 0 ? (double)done / (double)n : 1.0);
    R->sp->progress(R->ud, R->st, R->nhours ? frac / (double)R->nhours : 1.0);
}

int clew_engine_timed_out(struct run *R)
{
    if (R->deadline == 0 || clew_time_mono_ns() <= R->deadline) {
        return 0;
    }
    R->st->timed_out = 1;
    snprintf(R->err, CLEW_ERR_LEN, "query time limit of %.3g s exceeded (%llu records scanned)",
             (double)R->sp->time_limit_ns / 1e9, (unsigned long long)R->st->records_scanned);
    return -ETIMEDOUT;
}

int clew_engine_check(struct run *R)
{
    if (clew_engine_is_cancelled(R)) {
        snprintf(R->err, CLEW_ERR_LEN, "query cancelled (%llu records scanned)",
                 (unsigned long long)R->st->records_scanned);
        return -ECANCELED;
    }
    return clew_engine_timed_out(R);
}

/* Waits for task k, waking every 100 ms for the deadline, a cancel and
 * progress. */
static int wait_task(struct run *R, size_t k, size_t n)
{
    struct pool *P = &R->pool;
    int rc = 0;
    pthread_mutex_lock(&P->mu);
    while (!P->tasks[k].done && rc == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&P->done, &P->mu, &ts);
        pthread_mutex_unlock(&P->mu);
        rc = clew_engine_check(R);
        progress(R, k, n);
        pthread_mutex_lock(&P->mu);
    }
    pthread_mutex_unlock(&P->mu);
    progress(R, k, n);
    return rc;
}

static int src_before(const struct run *R, const struct src *a, const struct src *b)
{
    if (a->cur.ts != b->cur.ts) {
        return R->sp->reverse ? a->cur.ts > b->cur.ts : a->cur.ts < b->cur.ts;
    }
    return a->seq < b->seq;
}

static void src_load(const struct run *R, struct src *s)
{
    size_t k = R->sp->reverse ? s->n - 1 - s->k : s->k;
    if (s->t != NULL) {
        clew_seg_block_record(s->t->b, s->t->idx[k], &s->cur);
    } else {
        s->cur = s->wal[k]->r;
    }
}

struct heap {
    struct src **v;
    size_t n;
};

static void heap_down(const struct run *R, struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < h->n && src_before(R, h->v[l], h->v[m])) {
            m = l;
        }
        if (l + 1 < h->n && src_before(R, h->v[l + 1], h->v[m])) {
            m = l + 1;
        }
        if (m == i) {
            return;
        }
        struct src *x = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = x;
        i = m;
    }
}

static void heap_push(const struct run *R, struct heap *h, struct src *s)
{
    size_t i = h->n++;
    h->v[i] = s;
    while (i > 0 && src_before(R, h->v[i], h->v[(i - 1) / 2])) {
        struct src *x = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = x;
        i = (i - 1) / 2;
    }
}

/* Whether ts may be emitted before every record of the tasks to come. */
static int before_frontier(const struct run *R, int64_t ts, const struct task *next)
{
    if (next == NULL) {
        return 1;
    }
    return R->sp->reverse ? ts >= next->max_ts : ts <= next->min_ts;
}

static int emit_one(struct run *R, const struct clew_record *r)
{
    R->st->matched++;
    int rc = R->emit(R->ud, r);
    if (rc == 0 && R->sp->max_count >= 0 && (int64_t)R->st->matched >= R->sp->max_count) {
        R->stopped = 1;
    }
    return rc;
}

/* Emits the heap's records that come before next's. */
static int drain(struct run *R, struct heap *h, const struct task *next)
{
    while (h->n > 0 && !R->stopped && before_frontier(R, h->v[0]->cur.ts, next)) {
        struct src *s = h->v[0];
        if (clew_engine_is_cancelled(R)) {
            return clew_engine_check(R);
        }
        int rc = emit_one(R, &s->cur);
        if (rc != 0) {
            return rc;
        }
        if (++s->k < s->n) {
            src_load(R, s);
        } else {
            if (s->t != NULL) {
                clew_seg_block_free(s->t->b);
                s->t->b = NULL;
            }
            h->v[0] = h->v[--h->n];
        }
        heap_down(R, h, 0);
    }
    return 0;
}

/* Takes finished task t into the stats and the merge. */
static int consume(struct run *R, struct task *t, struct heap *h, struct src *s)
{
    struct clew_query_stats *st = R->st;
    if (t->rc < 0) {
        snprintf(R->err, CLEW_ERR_LEN, "%s", t->err ? t->err : clew_strerror(t->rc));
        if (t->rc == -ETIMEDOUT) {
            return clew_engine_timed_out(R) < 0 ? -ETIMEDOUT : t->rc;
        }
        if (t->rc == -ECANCELED) {
            return clew_engine_check(R);
        }
        return t->rc;
    }
    if (t->damaged) {
        st->errors++;
        if (R->on_damage != NULL) {
            R->on_damage(R->ud, t->err ? t->err : "damaged block");
        }
        return 0;
    }
    st->blocks_read++;
    st->records_scanned += t->records;
    st->raw_bytes_scanned += t->bytes;
    if (R->sp->count_only) {
        st->matched += t->nidx;
        if (R->sp->max_count >= 0 && (int64_t)st->matched >= R->sp->max_count) {
            st->matched = (uint64_t)R->sp->max_count;
            R->stopped = 1;
        }
        clew_seg_block_free(t->b);
        t->b = NULL;
        return 0;
    }
    if (t->nidx > 0) {
        *s = (struct src){ .seq = (uint64_t)(t - R->pool.tasks) + 1, .t = t, .n = t->nidx };
        src_load(R, s);
        heap_push(R, h, s);
    }
    return 0;
}

/* Scans and merges tasks[0..n) (sorted) and the WAL run (wal[0..nwal)). */
int clew_engine_scan_tasks(struct run *R, struct task *tasks, size_t n, const struct walrec **wal,
                           size_t nwal)
{
    struct pool *P = &R->pool;
    struct heap h = { clew_malloc((n + 1) * sizeof(struct src *)), 0 };
    struct src *srcs = clew_calloc(n + 1, sizeof(*srcs));
    size_t window = (size_t)P->nth * CLEW_ENGINE_WINDOW + 2;
    int rc = h.v == NULL || srcs == NULL ? -ENOMEM : 0;
    pthread_mutex_lock(&P->mu);
    P->tasks = tasks;
    P->next = P->limit = 0;
    pthread_mutex_unlock(&P->mu);
    if (rc == 0 && nwal > 0) {
        srcs[n] = (struct src){ .seq = 0, .wal = wal, .n = nwal };
        src_load(R, &srcs[n]);
        heap_push(R, &h, &srcs[n]);
    }
    for (size_t k = 0; rc == 0 && !R->stopped && k < n; k++) {
        pool_allow(P, k + window < n ? k + window : n);
        if ((rc = wait_task(R, k, n)) == 0 && (rc = consume(R, &tasks[k], &h, &srcs[k])) == 0) {
            rc = drain(R, &h, k + 1 < n ? &tasks[k + 1] : NULL);
        }
    }
    if (rc == 0) {
        rc = drain(R, &h, NULL);
    }
    atomic_store(&P->stop, 1);
    pool_finish(P);
    atomic_store(&P->stop, 0);
    clew_free(h.v);
    clew_free(srcs);
    if (rc == -ENOMEM && R->err[0] == '\0') {
        snprintf(R->err, CLEW_ERR_LEN, "out of memory");
    }
    return rc;
}
