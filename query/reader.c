/* SPDX-License-Identifier: MIT */
#include "query/reader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/datadir.h"
#include "common/rec_copy.h"
#include "common/timeutil.h"
#include "common/wal_read.h"
#include "query/seg_reader.h"

void clew_filter_init(struct clew_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->since = INT64_MIN;
    f->until = INT64_MAX;
    f->cols = CLEW_COL_ALL;
}

static int str_eq(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int clew_filter_match(const struct clew_filter *f, const struct clew_record *r)
{
    if (r->ts < f->since || r->ts > f->until) {
        return 0;
    }
    for (unsigned i = 0; i < CLEW_LABEL_COUNT; i++) {
        if ((f->label_mask & (1u << i)) && !str_eq(f->labels[i], r->labels[i])) {
            return 0;
        }
    }
    if (f->trace_id.len == 0 || str_eq(f->trace_id, r->trace_id)) {
        return 1;
    }
    struct clew_str link;
    return f->with_links && clew_rec_link_id(r, &link) && str_eq(f->trace_id, link);
}

/* The state of one scan. */
struct scan {
    const char *data;
    const struct clew_filter *f;
    clew_reader_record_cb cb;
    clew_reader_error_cb err_cb;
    void *ud;
    struct clew_reader_stats *st;
    unsigned cols; /* what the filter and the caller need */
    /* The (hour, generation) pairs of the segments listed by this scan. */
    struct sealed {
        int64_t hour;
        uint64_t gen;
    } * sealed;
    size_t nsealed, sealed_cap;
};

static int remember_sealed(struct scan *sc, int64_t hour, uint64_t gen)
{
    if (sc->nsealed == sc->sealed_cap) {
        size_t cap = sc->sealed_cap ? sc->sealed_cap * 2 : 64;
        struct sealed *a = clew_realloc(sc->sealed, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        sc->sealed = a;
        sc->sealed_cap = cap;
    }
    sc->sealed[sc->nsealed++] = (struct sealed){ hour, gen };
    return 0;
}

static int is_sealed(const struct scan *sc, int64_t hour, uint64_t gen)
{
    for (size_t i = 0; i < sc->nsealed; i++) {
        if (sc->sealed[i].hour == hour && sc->sealed[i].gen == gen) {
            return 1;
        }
    }
    return 0;
}

static void report(struct scan *sc, const char *msg)
{
    sc->st->errors++;
    if (sc->err_cb != NULL) {
        sc->err_cb(sc->ud, msg);
    }
}

/* Whether block i of seg can hold a match, by time and labels. */
static int block_may_match(struct scan *sc, const struct clew_seg *seg, size_t i)
{
    const struct clew_seg_block_meta *bm = clew_seg_block_meta(seg, i);
    if (bm->max_ts < sc->f->since || bm->min_ts > sc->f->until) {
        return 0;
    }
    for (unsigned l = 0; l < CLEW_LABEL_COUNT; l++) {
        if ((sc->f->label_mask & (1u << l)) &&
            !clew_seg_block_has_label(seg, i, (enum clew_label)l, sc->f->labels[l].ptr,
                                      sc->f->labels[l].len)) {
            return 0;
        }
    }
    return 1;
}

static int scan_block(struct scan *sc, const struct clew_seg *seg, size_t i)
{
    char err[CLEW_ERR_LEN];
    struct clew_seg_block *b;
    const struct clew_str *tid = &sc->f->trace_id;
    /* A trace lookup decodes the ids first and the rest only for its records. */
    int rc = tid->len > 0 ? clew_seg_block_read_trace(seg, i, sc->cols, tid->ptr, tid->len, &b, err)
                          : clew_seg_block_read(seg, i, sc->cols, &b, err);
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc < 0) {
        report(sc, err);
        return 0;
    }
    sc->st->blocks_read++;
    size_t n = clew_seg_block_count(b);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        struct clew_record r;
        clew_seg_block_record(b, j, &r);
        if (clew_filter_match(sc->f, &r)) {
            sc->st->records++;
            rc = sc->cb(sc->ud, &r);
        }
    }
    clew_seg_block_free(b);
    return rc;
}

/* The blocks of seg to read: all, or those the trace index names. */
/* The records of seg that link to the trace id but do not carry it (those
 * were found through the trace index already): found through the link
 * index, read whole (they are rare: about one a request). */
static int scan_links(struct scan *sc, const struct clew_seg *seg)
{
    const struct clew_str *tid = &sc->f->trace_id;
    uint32_t *blocks;
    size_t n;
    int rc = clew_seg_link_blocks(seg, tid->ptr, tid->len, &blocks, &n);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        char err[CLEW_ERR_LEN];
        struct clew_seg_block *b;
        rc = clew_seg_block_read(seg, blocks[k], sc->cols | CLEW_COL_IDS | CLEW_COL_FIELDS, &b,
                                 err);
        if (rc < 0) {
            if (rc == -ENOMEM) {
                break;
            }
            report(sc, err);
            rc = 0;
            continue;
        }
        sc->st->blocks_read++;
        size_t m = clew_seg_block_count(b);
        for (size_t j = 0; rc == 0 && j < m; j++) {
            struct clew_record r;
            struct clew_str link;
            clew_seg_block_record(b, j, &r);
            if (!str_eq(*tid, r.trace_id) && clew_rec_link_id(&r, &link) && str_eq(*tid, link) &&
                clew_filter_match(sc->f, &r)) {
                sc->st->records++;
                rc = sc->cb(sc->ud, &r);
            }
        }
        clew_seg_block_free(b);
    }
    clew_free(blocks);
    return rc;
}

static int scan_segment(struct scan *sc, const char *path)
{
    char err[CLEW_ERR_LEN];
    struct clew_seg *seg;
    int rc = clew_seg_open(path, &seg, err);
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc < 0) {
        if (rc != -ENOENT) { /* a segment dropped by retention meanwhile is fine */
            report(sc, err);
        }
        return 0;
    }
    sc->st->segments++;
    const struct clew_seg_info *info = clew_seg_get_info(seg);
    uint32_t *blocks = NULL;
    size_t nblocks = clew_seg_nblocks(seg);
    int indexed = 0;
    if (info->max_ts < sc->f->since || info->min_ts > sc->f->until) {
        sc->st->segments_pruned++;
        nblocks = 0;
    } else if (sc->f->trace_id.len > 0) {
        rc =
            clew_seg_trace_blocks(seg, sc->f->trace_id.ptr, sc->f->trace_id.len, &blocks, &nblocks);
        indexed = 1;
    }
    for (size_t k = 0; rc == 0 && k < nblocks; k++) {
        size_t i = indexed ? blocks[k] : k;
        if (!block_may_match(sc, seg, i)) {
            sc->st->blocks_pruned++;
            continue;
        }
        rc = scan_block(sc, seg, i);
    }
    if (indexed) {
        sc->st->blocks_pruned += clew_seg_nblocks(seg) - nblocks;
    }
    clew_free(blocks);
    if (rc == 0 && indexed && sc->f->with_links) {
        rc = scan_links(sc, seg);
    }
    clew_seg_free(seg);
    return rc;
}

/* Records of one WAL generation that match, copied out of the file. */
struct wal_gen {
    uint64_t gen;
    struct clew_record *recs;
    size_t n, cap;
    struct clew_arena arena;
};

struct wal_load {
    struct scan *sc;
    struct wal_gen *g;
    int rc;
};

static int copy_record(struct wal_gen *g, const struct clew_record *r)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        struct clew_record *a = clew_realloc(g->recs, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        g->recs = a;
        g->cap = cap;
    }
    struct clew_record c = *r;
    struct clew_str *strs[] = { &c.labels[0],      &c.labels[1], &c.labels[2], &c.labels[3],
                                &c.labels[4],      &c.message,   &c.trace_id,  &c.span_id,
                                &c.parent_span_id, &c.fields };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        char *d = clew_arena_dup(&g->arena, strs[i]->ptr, strs[i]->len);
        if (d == NULL) {
            return -ENOMEM;
        }
        strs[i]->ptr = d;
    }
    g->recs[g->n++] = c;
    return 0;
}

static int wal_keep(void *ud, uint64_t gen, const struct clew_record *r)
{
    (void)gen;
    struct wal_load *wl = ud;
    if (!clew_filter_match(wl->sc->f, r)) {
        return 0;
    }
    return copy_record(wl->g, r);
}

static void free_wal_gens(struct wal_gen *gens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        clew_free(gens[i].recs);
        clew_arena_close(&gens[i].arena);
    }
    clew_free(gens);
}

/* Reads every WAL generation's matching records into memory, before the
 * segments are listed (see the header for why). */
static int load_wal(struct scan *sc, struct wal_gen **out, size_t *nout)
{
    char dir[CLEW_PATH_MAX], path[CLEW_PATH_MAX], err[CLEW_ERR_LEN];
    uint64_t *ids;
    size_t n;
    *out = NULL;
    *nout = 0;
    int rc = clew_dd_wal_dir(sc->data, dir, sizeof(dir));
    if (rc < 0 || (rc = clew_wal_list(dir, &ids, &n)) < 0) {
        return rc;
    }
    struct wal_gen *gens = clew_calloc(n ? n : 1, sizeof(*gens));
    if (gens == NULL) {
        clew_free(ids);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        gens[i].gen = ids[i];
        clew_arena_init(&gens[i].arena, 1u << 16);
        struct wal_load wl = { sc, &gens[i], 0 };
        struct clew_wal_replay_stats rs;
        if (clew_wal_path(dir, ids[i], path, sizeof(path)) < 0) {
            continue;
        }
        rc = clew_wal_replay(path, 0, wal_keep, &wl, &rs, err);
        if (rc == -ENOMEM) {
            break;
        }
        rc = 0; /* a WAL sealed and removed meanwhile, or unreadable: segments have it */
    }
    clew_free(ids);
    if (rc < 0) {
        free_wal_gens(gens, n);
        return rc;
    }
    *out = gens;
    *nout = n;
    return 0;
}

/* Delivers the WAL records whose (hour, generation) had no segment when
 * the partitions were listed. */
static int emit_wal(struct scan *sc, struct wal_gen *gens, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t last_hour = INT64_MIN;
        int sealed = 0;
        for (size_t j = 0; rc == 0 && j < gens[i].n; j++) {
            const struct clew_record *r = &gens[i].recs[j];
            int64_t hour = clew_hour_floor(r->ts);
            if (hour != last_hour) { /* a generation spans few hours */
                sealed = is_sealed(sc, hour, gens[i].gen);
                last_hour = hour;
            }
            if (!sealed) {
                sc->st->wal_records++;
                sc->st->records++;
                rc = sc->cb(sc->ud, r);
            }
        }
    }
    return rc;
}

static unsigned columns_needed(const struct clew_filter *f)
{
    unsigned cols = f->cols | CLEW_COL_TS;
    if (f->label_mask) {
        cols |= CLEW_COL_LABELS;
    }
    if (f->trace_id.len > 0) {
        cols |= CLEW_COL_IDS;
    }
    return cols;
}

int clew_reader_scan(const char *data_dir, const struct clew_filter *f, clew_reader_record_cb cb,
                     clew_reader_error_cb err_cb, void *ud, struct clew_reader_stats *st)
{
    struct clew_reader_stats local;
    memset(&local, 0, sizeof(local));
    struct scan sc = {
        data_dir, f, cb, err_cb, ud, st ? st : &local, columns_needed(f), NULL, 0, 0
    };
    memset(sc.st, 0, sizeof(*sc.st));
    struct wal_gen *gens = NULL;
    size_t ngens = 0;
    int rc = f->skip_wal ? 0 : load_wal(&sc, &gens, &ngens);
    int64_t *hours = NULL;
    size_t nhours = 0;
    if (rc == 0) {
        rc = clew_dd_list_hours(data_dir, f->since, f->until, &hours, &nhours);
    }
    for (size_t h = 0; rc == 0 && h < nhours; h++) {
        struct clew_dd_segment *segs;
        size_t nsegs;
        sc.st->partitions++;
        if ((rc = clew_dd_list_segments(data_dir, hours[h], &segs, &nsegs)) < 0) {
            break;
        }
        for (size_t i = 0; rc == 0 && i < nsegs; i++) {
            if ((rc = remember_sealed(&sc, hours[h], segs[i].gen)) == 0) {
                rc = scan_segment(&sc, segs[i].path);
            }
        }
        clew_free(segs);
    }
    if (rc == 0) {
        rc = emit_wal(&sc, gens, ngens);
    }
    clew_free(hours);
    clew_free(sc.sealed);
    free_wal_gens(gens, ngens);
    return rc;
}
