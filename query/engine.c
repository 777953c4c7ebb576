/* SPDX-License-Identifier: MIT
 * The engine (see engine.h). Per hour partition, in time order: list and
 * open the segments, collect the blocks that survive pruning as tasks
 * sorted by min_ts (reverse: by max_ts, descending), and let the worker
 * pool read and match them while this thread takes the finished tasks in
 * that order and merges their matches (plus the hour's WAL records) with a
 * heap: a match is emitted once no task still to come can hold an earlier
 * record. Hours never overlap, so each hour is finished (and its blocks and
 * segments freed) before the next one is opened. */
#include "query/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/datadir.h"
#include "common/seg_format.h"
#include "common/timeutil.h"
#include "common/wal_read.h"
#include "query/matcher.h"
#include "query/seg_reader.h"

#define MAX_THREADS   64
#define WINDOW_FACTOR 4 /* tasks in flight per thread */
#define LABEL_MAX     4096

struct clew_query {
    struct clew_query_spec spec; /* strings point into strs */
    char *strs;
    struct clew_matcher *m;
    unsigned read_cols; /* what a task reads first */
    unsigned full_cols; /* re-read for matches when != read_cols */
};

/* One block to scan; the result fields are written by the worker that
 * took it and read by the main thread after done is set. */
struct task {
    const struct clew_seg *seg;
    uint32_t block, segno;
    int64_t min_ts, max_ts;
    int done;
    int rc;      /* fatal error (err set) */
    int damaged; /* block skipped (err set) */
    struct clew_seg_block *b;
    uint32_t *idx; /* matching records of b, ascending */
    size_t nidx;
    uint64_t records, bytes;
    char *err;
};

/* The worker pool and the tasks of the current hour. */
struct pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    struct task *tasks;
    size_t next, limit;
    int quit;
    atomic_int stop;
    pthread_t th[MAX_THREADS];
    unsigned nth;
    struct run *run;
};

/* A kept WAL record. */
struct walrec {
    struct clew_record r;
    uint64_t gen;
    uint64_t seq; /* arrival order, for a stable sort */
};

/* A sorted run of matches being merged: a task's, or the hour's WAL. */
struct src {
    uint64_t seq;
    struct task *t;
    const struct walrec *const *wal;
    size_t k, n;
    struct clew_record cur;
};

struct run {
    const struct clew_query *q;
    const struct clew_query_spec *sp;
    const char *data;
    clew_query_emit_cb emit;
    clew_reader_error_cb on_damage;
    void *ud;
    struct clew_query_stats *st;
    char *err;
    int64_t deadline, next_progress;
    struct pool pool;
    struct clew_match_ctx *ctx; /* the main thread's, for WAL records */
    struct walrec *wal;
    size_t nwal, walcap;
    struct clew_arena arena;
    size_t nhours, hour_i;
    int stopped; /* max_count reached */
};

void clew_query_spec_init(struct clew_query_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    clew_filter_init(&spec->filter);
    spec->pattern = "";
    spec->level_max = -1;
    spec->max_count = -1;
}

/* ---- compiling a query ---- */

static size_t spec_strings_len(const struct clew_query_spec *s)
{
    size_t n = strlen(s->pattern) + 1 + s->filter.trace_id.len + 1;
    for (unsigned l = 0; l < CLEW_LABEL_COUNT; l++) {
        n += s->filter.labels[l].len + 1;
    }
    return n;
}

static struct clew_str copy_str(char **p, struct clew_str s)
{
    struct clew_str out = { *p, s.len };
    if (s.len > 0) {
        memcpy(*p, s.ptr, s.len);
    }
    (*p)[s.len] = '\0';
    *p += s.len + 1;
    return out;
}

static int copy_spec(struct clew_query *q, const struct clew_query_spec *spec)
{
    q->spec = *spec;
    q->strs = clew_malloc(spec_strings_len(spec));
    if (q->strs == NULL) {
        return -ENOMEM;
    }
    char *p = q->strs;
    struct clew_filter *f = &q->spec.filter;
    q->spec.pattern = copy_str(&p, (struct clew_str){ spec->pattern, strlen(spec->pattern) }).ptr;
    f->trace_id = copy_str(&p, spec->filter.trace_id);
    for (unsigned l = 0; l < CLEW_LABEL_COUNT; l++) {
        f->labels[l] = copy_str(&p, spec->filter.labels[l]);
    }
    return 0;
}

/* The columns a task reads: what matching and filtering need, plus what
 * the caller wants; fields (large, rarely needed) are read only for blocks
 * with a match when the pattern is selective. */
static void plan_columns(struct clew_query *q)
{
    const struct clew_query_spec *s = &q->spec;
    unsigned out = s->count_only ? 0 : (s->filter.cols & CLEW_COL_ALL);
    unsigned need = CLEW_COL_TS;
    need |= clew_matcher_matches_all(q->m) ? 0 : CLEW_COL_MESSAGE;
    need |= s->level_max >= 0 ? CLEW_COL_META : 0;
    need |= s->filter.label_mask ? CLEW_COL_LABELS : 0;
    q->full_cols = need | out;
    q->read_cols = q->full_cols;
    int selective = !clew_matcher_matches_all(q->m) && !s->invert && s->filter.trace_id.len == 0;
    if (selective && (out & CLEW_COL_FIELDS)) {
        q->read_cols &= ~(unsigned)CLEW_COL_FIELDS;
    }
}

int clew_query_new(const struct clew_query_spec *spec, struct clew_query **out,
                   char err[CLEW_ERR_LEN])
{
    *out = NULL;
    err[0] = '\0';
    if (spec->level_max < -1 || spec->level_max > 7) {
        snprintf(err, CLEW_ERR_LEN, "level %d out of range (0-7)", spec->level_max);
        return CLEW_EBADARG;
    }
    for (unsigned l = 0; l < CLEW_LABEL_COUNT; l++) {
        if (spec->filter.labels[l].len > LABEL_MAX || spec->filter.trace_id.len > LABEL_MAX) {
            snprintf(err, CLEW_ERR_LEN, "a label or trace id longer than %d bytes", LABEL_MAX);
            return CLEW_EBADARG;
        }
    }
    struct clew_query *q = clew_calloc(1, sizeof(*q));
    int rc = q == NULL ? -ENOMEM : copy_spec(q, spec);
    if (rc == 0) {
        struct clew_matcher_opts mo = { q->spec.pattern, spec->icase, spec->fixed,
                                        spec->match_limit };
        rc = clew_matcher_new(&mo, &q->m, err);
    }
    if (rc < 0) {
        if (err[0] == '\0') {
            snprintf(err, CLEW_ERR_LEN, "out of memory");
        }
        clew_query_free(q);
        return rc;
    }
    plan_columns(q);
    *out = q;
    return 0;
}

void clew_query_free(struct clew_query *q)
{
    if (q == NULL) {
        return;
    }
    clew_matcher_free(q->m);
    clew_free(q->strs);
    clew_free(q);
}

/* ---- matching one block (worker threads) ---- */

static int level_ok(const struct clew_query_spec *sp, const struct clew_record *r)
{
    return sp->level_max < 0 || r->level <= sp->level_max;
}

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
            if (!clew_filter_match(&sp->filter, &r) || !level_ok(sp, &r)) {
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
    if (n > *candcap) {
        clew_free(*cand);
        *candcap = n;
        *cand = clew_malloc(n);
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
    clew_seg_block_free(t->b); /* a match: read the remaining columns too */
    t->b = NULL;
    rc = read_block(R, t, R->q->full_cols, &t->b, err);
    if (rc == 0 && clew_seg_block_count(t->b) != n) {
        rc = CLEW_ECORRUPT;
        snprintf(err, CLEW_ERR_LEN, "%s: block %u changed", clew_seg_path(t->seg), t->block);
    }
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
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static int pool_start(struct pool *P, struct run *R)
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

static void pool_stop(struct pool *P)
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

static int timed_out(struct run *R)
{
    if (R->deadline == 0 || clew_time_mono_ns() <= R->deadline) {
        return 0;
    }
    R->st->timed_out = 1;
    snprintf(R->err, CLEW_ERR_LEN, "query time limit of %.3g s exceeded (%llu records scanned)",
             (double)R->sp->time_limit_ns / 1e9, (unsigned long long)R->st->records_scanned);
    return -ETIMEDOUT;
}

/* Waits for task k, waking every 100 ms for the deadline and progress. */
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
        rc = timed_out(R);
        progress(R, k, n);
        pthread_mutex_lock(&P->mu);
    }
    pthread_mutex_unlock(&P->mu);
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
            return timed_out(R) < 0 ? -ETIMEDOUT : t->rc;
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
static int scan_tasks(struct run *R, struct task *tasks, size_t n, const struct walrec **wal,
                      size_t nwal)
{
    struct pool *P = &R->pool;
    struct heap h = { clew_malloc((n + 1) * sizeof(struct src *)), 0 };
    struct src *srcs = clew_calloc(n + 1, sizeof(*srcs));
    size_t window = (size_t)P->nth * WINDOW_FACTOR + 2;
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

/* ---- planning an hour ---- */

struct hour {
    struct clew_seg **segs;
    size_t nsegs;
    uint64_t *gens; /* of every segment listed, opened or not */
    size_t nlisted;
    struct task *tasks;
    size_t ntasks, cap;
};

static void report(struct run *R, const char *msg)
{
    R->st->errors++;
    if (R->on_damage != NULL) {
        R->on_damage(R->ud, msg);
    }
}

static int block_may_match(const struct run *R, const struct clew_seg *seg, size_t i)
{
    const struct clew_filter *f = &R->sp->filter;
    const struct clew_seg_block_meta *bm = clew_seg_block_meta(seg, i);
    if (bm->count == 0 || bm->max_ts < f->since || bm->min_ts > f->until) {
        return 0;
    }
    for (unsigned l = 0; l < CLEW_LABEL_COUNT; l++) {
        if ((f->label_mask & (1u << l)) &&
            !clew_seg_block_has_label(seg, i, (enum clew_label)l, f->labels[l].ptr,
                                      f->labels[l].len)) {
            return 0;
        }
    }
    return 1;
}

static int add_task(struct hour *H, const struct clew_seg *seg, uint32_t segno, uint32_t i)
{
    if (H->ntasks == H->cap) {
        size_t cap = H->cap ? H->cap * 2 : 256;
        struct task *a = clew_realloc(H->tasks, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        H->tasks = a;
        H->cap = cap;
    }
    const struct clew_seg_block_meta *bm = clew_seg_block_meta(seg, i);
    H->tasks[H->ntasks++] = (struct task){
        .seg = seg, .block = i, .segno = segno, .min_ts = bm->min_ts, .max_ts = bm->max_ts
    };
    return 0;
}

/* The blocks of seg that may match, as tasks. */
static int plan_segment(struct run *R, struct hour *H, const struct clew_seg *seg, uint32_t segno)
{
    const struct clew_filter *f = &R->sp->filter;
    const struct clew_seg_info *info = clew_seg_get_info(seg);
    size_t nb = clew_seg_nblocks(seg);
    if (info->max_ts < f->since || info->min_ts > f->until) {
        R->st->blocks_pruned += nb;
        return 0;
    }
    uint32_t *list = NULL;
    size_t n = nb;
    int rc = 0;
    if (f->trace_id.len > 0) {
        if ((rc = clew_seg_trace_blocks(seg, f->trace_id.ptr, f->trace_id.len, &list, &n)) < 0) {
            return rc;
        }
        R->st->blocks_pruned += nb - n;
    }
    for (size_t k = 0; rc == 0 && k < n; k++) {
        uint32_t i = list != NULL ? list[k] : (uint32_t)k;
        if (!block_may_match(R, seg, i)) {
            R->st->blocks_pruned++;
            continue;
        }
        rc = add_task(H, seg, segno, i);
    }
    clew_free(list);
    return rc;
}

static int open_segments(struct run *R, struct hour *H, int64_t hour)
{
    struct clew_dd_segment *ds;
    size_t n;
    int rc = clew_dd_list_segments(R->data, hour, &ds, &n);
    if (rc < 0) {
        return rc;
    }
    H->segs = clew_calloc(n + 1, sizeof(*H->segs));
    H->gens = clew_calloc(n + 1, sizeof(*H->gens));
    rc = H->segs == NULL || H->gens == NULL ? -ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char err[CLEW_ERR_LEN];
        struct clew_seg *seg;
        H->gens[H->nlisted++] = ds[i].gen; /* listed: its WAL records are not used */
        rc = clew_seg_open(ds[i].path, &seg, err);
        if (rc < 0 && rc != -ENOMEM) {
            if (rc != -ENOENT) { /* dropped by retention meanwhile */
                report(R, err);
            }
            rc = 0;
            continue;
        }
        if (rc == 0) {
            H->segs[H->nsegs] = seg;
            R->st->segments++;
            rc = plan_segment(R, H, seg, (uint32_t)H->nsegs++);
        }
    }
    clew_free(ds);
    return rc;
}

static int task_cmp_fwd(const void *a, const void *b)
{
    const struct task *x = a, *y = b;
    if (x->min_ts != y->min_ts) {
        return x->min_ts < y->min_ts ? -1 : 1;
    }
    if (x->segno != y->segno) {
        return x->segno < y->segno ? -1 : 1;
    }
    return x->block < y->block ? -1 : x->block > y->block;
}

static int task_cmp_rev(const void *a, const void *b)
{
    const struct task *x = a, *y = b;
    if (x->max_ts != y->max_ts) {
        return x->max_ts > y->max_ts ? -1 : 1;
    }
    if (x->segno != y->segno) {
        return x->segno > y->segno ? -1 : 1;
    }
    return x->block > y->block ? -1 : x->block < y->block;
}

static void hour_close(struct hour *H)
{
    for (size_t i = 0; i < H->ntasks; i++) {
        clew_seg_block_free(H->tasks[i].b);
        clew_free(H->tasks[i].idx);
        clew_free(H->tasks[i].err);
    }
    for (size_t i = 0; i < H->nsegs; i++) {
        clew_seg_free(H->segs[i]);
    }
    clew_free(H->tasks);
    clew_free(H->segs);
    clew_free(H->gens);
}

static int gen_listed(const struct hour *H, uint64_t gen)
{
    for (size_t i = 0; i < H->nlisted; i++) {
        if (H->gens[i] == gen) {
            return 1;
        }
    }
    return 0;
}

/* Runs one hour: its segments and wal[0..nwal), the WAL records of the hour. */
static int run_hour(struct run *R, int64_t hour, const struct walrec *wal, size_t nwal)
{
    struct hour H;
    memset(&H, 0, sizeof(H));
    int rc = open_segments(R, &H, hour);
    const struct walrec **live = clew_malloc((nwal + 1) * sizeof(*live));
    size_t nlive = 0;
    if (rc == 0 && live == NULL) {
        rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < nwal; i++) {
        if (!gen_listed(&H, wal[i].gen)) { /* still only in the WAL */
            live[nlive++] = &wal[i];
        }
    }
    if (rc == 0) {
        R->st->partitions++;
        R->st->wal_records += nlive;
        if (H.ntasks > 1) {
            qsort(H.tasks, H.ntasks, sizeof(*H.tasks),
                  R->sp->reverse ? task_cmp_rev : task_cmp_fwd);
        }
        if (R->sp->count_only) {
            R->st->matched += nlive;
            nlive = 0;
        }
        rc = scan_tasks(R, H.tasks, H.ntasks, live, nlive);
    }
    if (rc == -ENOMEM && R->err[0] == '\0') {
        snprintf(R->err, CLEW_ERR_LEN, "out of memory");
    }
    clew_free(live);
    hour_close(&H);
    return rc;
}

/* ---- the WAL ---- */

static int copy_record(struct run *R, uint64_t gen, const struct clew_record *r)
{
    if (R->nwal == R->walcap) {
        size_t cap = R->walcap ? R->walcap * 2 : 256;
        struct walrec *a = clew_realloc(R->wal, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        R->wal = a;
        R->walcap = cap;
    }
    struct clew_record c = *r;
    struct clew_str *strs[] = { &c.labels[0],      &c.labels[1], &c.labels[2], &c.labels[3],
                                &c.labels[4],      &c.message,   &c.trace_id,  &c.span_id,
                                &c.parent_span_id, &c.fields };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        char *d = clew_arena_dup(&R->arena, strs[i]->ptr, strs[i]->len);
        if (d == NULL) {
            return -ENOMEM;
        }
        strs[i]->ptr = d;
    }
    R->wal[R->nwal] = (struct walrec){ c, gen, R->nwal };
    R->nwal++;
    return 0;
}

/* Keeps a WAL record that matches the whole query. */
static int wal_keep(void *ud, uint64_t gen, const struct clew_record *r)
{
    struct run *R = ud;
    const struct clew_query_spec *sp = R->sp;
    if (!clew_filter_match(&sp->filter, r) || !level_ok(sp, r)) {
        return 0;
    }
    int m = clew_match_one(R->ctx, r->message.ptr, r->message.len, R->err);
    if (m < 0) {
        return m;
    }
    return m == sp->invert ? 0 : copy_record(R, gen, r);
}

static int walrec_cmp(const void *a, const void *b)
{
    const struct walrec *x = a, *y = b;
    if (x->r.ts != y->r.ts) {
        return x->r.ts < y->r.ts ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reads the matching records of every WAL generation, before the segments
 * are listed (see engine.h), sorted by time. */
static int load_wal(struct run *R)
{
    char dir[CLEW_PATH_MAX], path[CLEW_PATH_MAX], err[CLEW_ERR_LEN];
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = clew_dd_wal_dir(R->data, dir, sizeof(dir));
    if (rc < 0 || (rc = clew_wal_list(dir, &ids, &n)) < 0) {
        snprintf(R->err, CLEW_ERR_LEN, "%s/wal: %s", R->data, clew_strerror(rc));
        return rc;
    }
    rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct clew_wal_replay_stats rs;
        if (clew_wal_path(dir, ids[i], path, sizeof(path)) < 0) {
            continue;
        }
        rc = clew_wal_replay(path, 0, wal_keep, R, &rs, err);
        if (rc > 0 || rc == CLEW_ETOOBIG || rc == CLEW_EBADARG) {
            break; /* the matcher failed: R->err says why */
        }
        if (rc != -ENOMEM) {
            rc = 0; /* sealed and removed meanwhile, or unreadable: segments have it */
        }
    }
    clew_free(ids);
    if (rc == -ENOMEM) {
        snprintf(R->err, CLEW_ERR_LEN, "out of memory reading the WAL");
    }
    if (rc == 0 && R->nwal > 1) {
        qsort(R->wal, R->nwal, sizeof(*R->wal), walrec_cmp);
    }
    return rc;
}

/* ---- the run ---- */

/* The hours to scan: the partitions in range and the hours of WAL records,
 * ascending and distinct. */
static int list_hours(struct run *R, int64_t **out, size_t *nout)
{
    int64_t *dd = NULL;
    size_t nd = 0;
    int rc = clew_dd_list_hours(R->data, R->sp->filter.since, R->sp->filter.until, &dd, &nd);
    if (rc < 0) {
        snprintf(R->err, CLEW_ERR_LEN, "%s: %s", R->data, clew_strerror(rc));
        return rc;
    }
    int64_t *all = clew_malloc((nd + R->nwal + 1) * sizeof(*all));
    if (all == NULL) {
        clew_free(dd);
        snprintf(R->err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    size_t n = 0, i = 0, j = 0;
    while (i < nd || j < R->nwal) {
        int64_t wh = j < R->nwal ? clew_hour_floor(R->wal[j].r.ts) : INT64_MAX;
        int64_t h = i < nd && dd[i] <= wh ? dd[i] : wh;
        if (n == 0 || all[n - 1] != h) {
            all[n++] = h;
        }
        i += i < nd && dd[i] == h;
        while (j < R->nwal && clew_hour_floor(R->wal[j].r.ts) == h) {
            j++;
        }
    }
    clew_free(dd);
    *out = all;
    *nout = n;
    return 0;
}

/* The WAL records of hour h: wal[*lo .. *hi). */
static void wal_range(const struct run *R, int64_t h, size_t *lo, size_t *hi)
{
    size_t a = 0;
    while (a < R->nwal && clew_hour_floor(R->wal[a].r.ts) < h) {
        a++;
    }
    size_t b = a;
    while (b < R->nwal && clew_hour_floor(R->wal[b].r.ts) == h) {
        b++;
    }
    *lo = a;
    *hi = b;
}

static int run_hours(struct run *R, const int64_t *hours, size_t nh)
{
    int rc = 0;
    R->nhours = nh;
    for (size_t i = 0; rc == 0 && !R->stopped && i < nh; i++) {
        int64_t h = hours[R->sp->reverse ? nh - 1 - i : i];
        size_t lo, hi;
        R->hour_i = i;
        wal_range(R, h, &lo, &hi);
        rc = run_hour(R, h, hi > lo ? R->wal + lo : NULL, hi - lo);
        if (rc == 0 && R->sp->count_only && R->sp->max_count >= 0 &&
            (int64_t)R->st->matched >= R->sp->max_count) {
            R->st->matched = (uint64_t)R->sp->max_count;
            R->stopped = 1;
        }
        if (rc == 0) {
            rc = timed_out(R);
        }
    }
    return rc;
}

static void run_close(struct run *R)
{
    clew_match_ctx_free(R->ctx);
    clew_free(R->wal);
    clew_arena_close(&R->arena);
}

int clew_query_run(struct clew_query *q, const char *data_dir, clew_query_emit_cb emit,
                   clew_reader_error_cb on_damage, void *ud, struct clew_query_stats *st,
                   char err[CLEW_ERR_LEN])
{
    struct clew_query_stats local;
    st = st != NULL ? st : &local;
    memset(st, 0, sizeof(*st));
    err[0] = '\0';
    if (q->spec.max_count == 0) {
        return 0; /* -m 0 reads nothing, as grep */
    }
    struct run R;
    memset(&R, 0, sizeof(R));
    R.q = q;
    R.sp = &q->spec;
    R.data = data_dir;
    R.emit = emit;
    R.on_damage = on_damage;
    R.ud = ud;
    R.st = st;
    R.err = err;
    R.deadline = q->spec.time_limit_ns > 0 ? clew_time_mono_ns() + q->spec.time_limit_ns : 0;
    clew_arena_init(&R.arena, 1u << 16);
    int64_t *hours = NULL;
    size_t nh = 0;
    int rc = clew_match_ctx_new(q->m, &R.ctx);
    if (rc == 0 && !q->spec.filter.skip_wal) {
        rc = load_wal(&R);
    }
    if (rc == 0) {
        rc = list_hours(&R, &hours, &nh);
    }
    if (rc == 0 && (rc = pool_start(&R.pool, &R)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "cannot start scan threads");
    }
    if (rc == 0) {
        rc = run_hours(&R, hours, nh);
        pool_stop(&R.pool);
    }
    if (rc < 0 && err[0] == '\0') {
        snprintf(err, CLEW_ERR_LEN, "%s", clew_strerror(rc));
    }
    if (rc == 0 && q->spec.progress != NULL) {
        q->spec.progress(ud, st, 1.0);
    }
    clew_free(hours);
    run_close(&R);
    return rc;
}
