/* SPDX-License-Identifier: MIT
 * The engine (see engine.h): compiling a query, planning (per hour
 * partition, in time order: list and open the segments, collect the blocks
 * that survive pruning as tasks sorted by min_ts, or by max_ts descending
 * for --reverse), the WAL, and the run. The scan and merge of an hour's
 * tasks are in engine_scan.c. Hours never overlap, so each hour is
 * finished (its blocks and segments freed) before the next one is opened. */
#include "query/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/datadir.h"
#include "common/seg_format.h"
#include "common/timeutil.h"
#include "common/wal_read.h"
#include "query/engine_int.h"

#define LABEL_MAX 4096

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
    atomic_init(&q->cancel, 0);
    *out = q;
    return 0;
}

void clew_query_cancel(struct clew_query *q)
{
    atomic_store_explicit(&q->cancel, 1, memory_order_relaxed);
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
        rc = clew_engine_scan_tasks(R, H.tasks, H.ntasks, live, nlive);
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
    if (clew_engine_is_cancelled(R)) {
        return clew_engine_check(R); /* stops the replay */
    }
    if (!clew_filter_match(&sp->filter, r) || !clew_engine_level_ok(sp, r)) {
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
        if (rc > 0 || rc == CLEW_ETOOBIG || rc == CLEW_EBADARG || rc == -ECANCELED) {
            break; /* the matcher failed or the query was cancelled: R->err says why */
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
            rc = clew_engine_check(R);
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
    R.cancel = &q->cancel;
    R.deadline = q->spec.time_limit_ns > 0 ? clew_time_mono_ns() + q->spec.time_limit_ns : 0;
    clew_arena_init(&R.arena, 1u << 16);
    int64_t *hours = NULL;
    size_t nh = 0;
    int rc = clew_engine_check(&R);
    rc = rc ? rc : clew_match_ctx_new(q->m, &R.ctx);
    if (rc == 0 && !q->spec.filter.skip_wal) {
        rc = load_wal(&R);
    }
    if (rc == 0) {
        rc = list_hours(&R, &hours, &nh);
    }
    if (rc == 0 && (rc = clew_engine_pool_start(&R.pool, &R)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "cannot start scan threads");
    }
    if (rc == 0) {
        rc = run_hours(&R, hours, nh);
        clew_engine_pool_stop(&R.pool);
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
