/* SPDX-License-Identifier: MIT
 * engine_int: what the two files of the engine module share (engine.c:
 * compiling, planning, the WAL and the run; engine_scan.c: the worker pool
 * that reads and matches blocks, and the merge on the calling thread). Not
 * for use outside query/engine*.c. */
#ifndef CLEW_ENGINE_INT_H
#define CLEW_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/arena.h"
#include "query/engine.h"
#include "query/matcher.h"
#include "query/seg_reader.h"

#define CLEW_ENGINE_MAX_THREADS 64
#define CLEW_ENGINE_WINDOW      4 /* tasks in flight per thread */

struct clew_query {
    struct clew_query_spec spec; /* strings point into strs */
    char *strs;
    struct clew_matcher *m;
    unsigned read_cols; /* what a task reads first */
    unsigned full_cols; /* re-read for matches when != read_cols */
    atomic_int cancel;  /* clew_query_cancel: stays set */
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
    pthread_t th[CLEW_ENGINE_MAX_THREADS];
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
    int stopped;        /* max_count reached */
    atomic_int *cancel; /* &q->cancel */
};

static inline int clew_engine_level_ok(const struct clew_query_spec *sp,
                                       const struct clew_record *r)
{
    return sp->level_max < 0 || r->level <= sp->level_max;
}

/* Starts the scan threads (spec->threads, or one per core). Returns 0 or
 * -EAGAIN when none started. */
int clew_engine_pool_start(struct pool *P, struct run *R);
/* Stops and joins them. */
void clew_engine_pool_stop(struct pool *P);

/* Scans tasks[0..n) (sorted by the run's order) on the pool and merges
 * their matches with wal[0..nwal) (ascending), emitting in order; stops at
 * max_count (R->stopped). Returns 0, emit's value, or a fatal error with
 * R->err set. Blocks left in tasks are the caller's to free. */
int clew_engine_scan_tasks(struct run *R, struct task *tasks, size_t n, const struct walrec **wal,
                           size_t nwal);

/* -ETIMEDOUT with R->err set (and st->timed_out) once the deadline passed;
 * 0 before. */
int clew_engine_timed_out(struct run *R);

/* The calling thread's check between steps: -ECANCELED ("query
 * cancelled") once clew_query_cancel was called, else what
 * clew_engine_timed_out says. Main thread only (sets R->err). */
int clew_engine_check(struct run *R);

/* Whether clew_query_cancel was called. Any thread; writes nothing. */
static inline int clew_engine_is_cancelled(const struct run *R)
{
    return atomic_load_explicit(R->cancel, memory_order_relaxed) != 0;
}

#endif
