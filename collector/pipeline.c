/* SPDX-License-Identifier: MIT */
#include "collector/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "clew/error.h"
#include "collector/correlate.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/json_out.h"
#include "common/rec_codec.h"
#include "common/rec_copy.h"

/* A batch's memory, kept for the next batch once the writer is done with
 * it: a fresh batch would fault in new pages for every record it copies. */
struct spare {
    struct clew_record *recs;
    size_t cap;
    struct clew_arena arena; /* reset: holds its first chunk */
};

#define MAX_SPARES  4
#define BATCH_CHUNK (1u << 20) /* arena chunk: most batches fit in one */

struct batch {
    struct batch *next;
    uint64_t ticket;
    uint64_t seq; /* store sequence number once appended */
    struct clew_record *recs;
    size_t n, cap;
    size_t bytes;
    int urgent; /* an ack waits for it: sync right after the append */
    struct clew_arena arena;
};

struct clew_pipeline {
    uv_loop_t *loop;
    struct clew_store *store;
    struct clew_pipeline_config cfg;
    uv_check_t check; /* hands over the batch after each iteration's I/O */
    uv_async_t async; /* the writer and the flusher wake the loop        */
    int handles;      /* loop handles still open                          */
    clew_pipeline_durable_cb durable_cb;
    clew_pipeline_pressure_cb pressure_cb;
    void *ud;
    struct clew_correlator *corr; /* loop thread only; may be NULL        */
    struct clew_arena corr_arena; /* the correlated record's new strings */
    struct clew_buf fields;       /* fields with a link_id added         */
    struct {
        clew_pipeline_tap_cb cb;
        void *ud;
    } taps[CLEW_PIPELINE_MAX_TAPS];
    size_t ntaps;

    struct batch *cur;     /* loop thread only */
    uint64_t next_ticket;  /* loop thread only */
    int paused;            /* loop thread only */
    uint64_t told_durable; /* loop thread only: last ticket reported */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t writer;
    int writer_started;
    int stop;
    struct batch *qhead, *qtail; /* waiting for the writer           */
    struct batch *whead, *wtail; /* appended, waiting to be durable  */
    size_t queued_bytes;
    uint64_t store_durable; /* highest store seq reported durable      */
    uint64_t durable_ticket;
    uint64_t failed[64]; /* tickets of recent batches the store refused */
    size_t nfailed;
    struct spare spares[MAX_SPARES]; /* memory of appended batches */
    size_t nspares;
    struct clew_pipeline_stats st;
};

void clew_pipeline_config_default(struct clew_pipeline_config *cfg)
{
    cfg->batch_records = 4096;
    cfg->batch_bytes = 4u << 20;
    cfg->high_water = 64u << 20;
    cfg->low_water = 16u << 20;
}

/* A batch, with the memory of an appended one when there is a spare. */
static struct batch *batch_new(struct clew_pipeline *p, uint64_t ticket)
{
    struct batch *b = clew_calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    b->ticket = ticket;
    clew_arena_init(&b->arena, BATCH_CHUNK);
    pthread_mutex_lock(&p->lock);
    if (p->nspares > 0) {
        struct spare *s = &p->spares[--p->nspares];
        b->recs = s->recs;
        b->cap = s->cap;
        b->arena = s->arena;
    }
    pthread_mutex_unlock(&p->lock);
    return b;
}

/* Writer thread, lock held: keeps the memory of appended batch b (its
 * arena reset) for a later batch, or frees it. */
static void batch_recycle(struct clew_pipeline *p, struct batch *b)
{
    if (p->nspares < MAX_SPARES) {
        p->spares[p->nspares++] = (struct spare){ b->recs, b->cap, b->arena };
    } else {
        clew_arena_close(&b->arena);
        clew_free(b->recs);
    }
    clew_arena_init(&b->arena, BATCH_CHUNK);
    b->recs = NULL;
    b->cap = 0;
    b->n = 0;
}

static void batch_free(struct batch *b)
{
    if (b != NULL) {
        clew_arena_close(&b->arena);
        clew_free(b->recs);
        clew_free(b);
    }
}

static int copy_into(struct batch *b, const struct clew_record *r)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        struct clew_record *a = clew_realloc(b->recs, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        b->recs = a;
        b->cap = cap;
    }
    struct clew_record c;
    if (clew_rec_copy(&c, r, &b->arena) < 0) {
        return -ENOMEM;
    }
    b->recs[b->n++] = c;
    b->bytes += clew_rec_raw_size(&c);
    return 0;
}

/* Moves the batches whose seq the store has made durable off the written
 * list and advances the durable ticket. Lock held. Returns 1 if it moved. */
static int drain_durable(struct clew_pipeline *p)
{
    int moved = 0;
    while (p->whead != NULL && p->whead->seq <= p->store_durable) {
        struct batch *b = p->whead;
        p->whead = b->next;
        if (p->whead == NULL) {
            p->wtail = NULL;
        }
        p->durable_ticket = b->ticket;
        batch_free(b);
        moved = 1;
    }
    return moved;
}

/* The writer thread: appends queued batches to the store in order. */
static void *writer_main(void *arg)
{
    struct clew_pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->qhead == NULL && !p->stop) {
            pthread_cond_wait(&p->cond, &p->lock);
        }
        struct batch *b = p->qhead;
        if (b == NULL) {
            break; /* stopping, and the queue is drained */
        }
        p->qhead = b->next;
        if (p->qhead == NULL) {
            p->qtail = NULL;
        }
        pthread_mutex_unlock(&p->lock);
        int rc = clew_store_append(p->store, b->recs, b->n, &b->seq);
        if (rc == 0 && b->urgent) {
            clew_store_sync_soon(p->store);
        }
        clew_arena_reset(&b->arena);
        pthread_mutex_lock(&p->lock);
        p->queued_bytes -= b->bytes;
        p->st.queued_bytes = p->queued_bytes;
        p->st.batches++;
        p->st.records += b->n;
        /* The records are copied into the WAL frame and the memtable now:
         * only the ticket needs to wait for durability. */
        batch_recycle(p, b);
        b->next = NULL;
        if (rc < 0) {
            /* Lost: counted, and remembered so no ack claims it. The
             * ticket still passes, or later acks would wait forever. */
            p->st.append_errors++;
            p->failed[p->nfailed++ % 64] = b->ticket;
            b->seq = 0;
        }
        if (p->wtail != NULL) {
            p->wtail->next = b;
        } else {
            p->whead = b;
        }
        p->wtail = b;
        /* The store may have reported this seq durable before the batch
         * reached the list. */
        int moved = drain_durable(p);
        if (moved || rc < 0 || p->queued_bytes < p->cfg.low_water) {
            uv_async_send(&p->async);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void clew_pipeline_store_durable(struct clew_pipeline *p, uint64_t seq)
{
    pthread_mutex_lock(&p->lock);
    p->store_durable = seq > p->store_durable ? seq : p->store_durable;
    int moved = drain_durable(p);
    pthread_mutex_unlock(&p->lock);
    if (moved) {
        uv_async_send(&p->async);
    }
}

int clew_pipeline_failed(struct clew_pipeline *p, uint64_t ticket)
{
    pthread_mutex_lock(&p->lock);
    int found = 0;
    for (size_t i = 0; i < p->nfailed && i < 64; i++) {
        found |= p->failed[i] == ticket;
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

static void set_paused(struct clew_pipeline *p, int paused)
{
    if (p->paused == paused) {
        return;
    }
    p->paused = paused;
    if (paused) {
        p->st.pauses++;
    }
    if (p->pressure_cb != NULL) {
        p->pressure_cb(p->ud, paused);
    }
}

static void on_async(uv_async_t *h)
{
    struct clew_pipeline *p = h->data;
    pthread_mutex_lock(&p->lock);
    uint64_t durable = p->durable_ticket;
    size_t queued = p->queued_bytes;
    pthread_mutex_unlock(&p->lock);
    if (p->paused && queued < p->cfg.low_water) {
        set_paused(p, 0);
    }
    if (durable > p->told_durable) {
        p->told_durable = durable;
        if (p->durable_cb != NULL) {
            p->durable_cb(p->ud, durable);
        }
    }
}

uint64_t clew_pipeline_flush(struct clew_pipeline *p)
{
    struct batch *b = p->cur;
    if (b == NULL || b->n == 0) {
        return 0;
    }
    p->cur = NULL;
    /* Once queued, b belongs to the writer, which may append and free it
     * before this function returns: read what we need first. */
    uint64_t ticket = b->ticket;
    pthread_mutex_lock(&p->lock);
    if (p->qtail != NULL) {
        p->qtail->next = b;
    } else {
        p->qhead = b;
    }
    p->qtail = b;
    p->queued_bytes += b->bytes;
    p->st.queued_bytes = p->queued_bytes;
    size_t queued = p->queued_bytes;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (queued >= p->cfg.high_water) {
        set_paused(p, 1);
    }
    return ticket;
}

static void on_check(uv_check_t *h)
{
    clew_pipeline_flush(h->data);
}

void clew_pipeline_set_correlator(struct clew_pipeline *p, struct clew_correlator *c)
{
    p->corr = c;
}

int clew_pipeline_add_tap(struct clew_pipeline *p, clew_pipeline_tap_cb cb, void *ud)
{
    if (p->ntaps == CLEW_PIPELINE_MAX_TAPS) {
        return CLEW_ETOOBIG;
    }
    p->taps[p->ntaps].cb = cb;
    p->taps[p->ntaps++].ud = ud;
    return 0;
}

void clew_pipeline_remove_tap(struct clew_pipeline *p, clew_pipeline_tap_cb cb, void *ud)
{
    for (size_t i = 0; i < p->ntaps; i++) {
        if (p->taps[i].cb == cb && p->taps[i].ud == ud) {
            p->taps[i] = p->taps[--p->ntaps];
            return;
        }
    }
}

/* fields + "link_id": the id this record links its trace id to. */
static int add_link(struct clew_pipeline *p, struct clew_record *r, struct clew_str link)
{
    struct clew_buf *b = &p->fields;
    clew_buf_reset(b);
    size_t n = r->fields.len;
    while (n > 0 && r->fields.ptr[n - 1] != '}') {
        n--;
    }
    int empty = n < 2 || r->fields.ptr[0] != '{';
    if (!empty) {
        /* Is there a member before the closing brace? */
        size_t k = n - 1;
        while (k > 1 && (r->fields.ptr[k - 1] == ' ' || r->fields.ptr[k - 1] == '\n')) {
            k--;
        }
        empty = k <= 1;
    }
    int rc = empty ? clew_buf_append(b, "{", 1) : clew_buf_append(b, r->fields.ptr, n - 1);
    rc = rc ? rc : clew_buf_append(b, empty ? "\"link_id\":" : ",\"link_id\":", empty ? 10 : 11);
    rc = rc ? rc : clew_json_put_str(b, link.ptr, link.len);
    rc = rc ? rc : clew_buf_put_u8(b, '}');
    if (rc == 0) {
        r->fields = (struct clew_str){ (const char *)b->data, b->len };
    }
    return rc;
}

int clew_pipeline_push(struct clew_pipeline *p, const struct clew_record *r, uint64_t *ticket)
{
    if (p->cur == NULL && (p->cur = batch_new(p, ++p->next_ticket)) == NULL) {
        return -ENOMEM;
    }
    struct clew_record c;
    if (p->corr != NULL) {
        struct clew_correlation out;
        c = *r;
        clew_arena_reset(&p->corr_arena);
        /* On ENOMEM the record keeps the ids it came with: store it anyway. */
        if (clew_correlate(p->corr, &c, &p->corr_arena, &out) == 0 && out.link_id.len > 0) {
            add_link(p, &c, out.link_id);
        }
        r = &c;
    }
    for (size_t i = 0; i < p->ntaps; i++) {
        p->taps[i].cb(p->taps[i].ud, r);
    }
    int rc = copy_into(p->cur, r);
    if (rc < 0) {
        return rc;
    }
    if (ticket != NULL) {
        *ticket = p->cur->ticket;
    }
    if (p->cur->n >= p->cfg.batch_records || p->cur->bytes >= p->cfg.batch_bytes) {
        clew_pipeline_flush(p);
    }
    return 0;
}

void clew_pipeline_expedite(struct clew_pipeline *p)
{
    if (p->cur != NULL) {
        p->cur->urgent = 1;
    }
}

uint64_t clew_pipeline_durable(const struct clew_pipeline *p)
{
    return p->told_durable;
}

int clew_pipeline_paused(const struct clew_pipeline *p)
{
    return p->paused;
}

void clew_pipeline_set_callbacks(struct clew_pipeline *p, clew_pipeline_durable_cb durable,
                                 clew_pipeline_pressure_cb pressure, void *ud)
{
    p->durable_cb = durable;
    p->pressure_cb = pressure;
    p->ud = ud;
}

void clew_pipeline_get_stats(struct clew_pipeline *p, struct clew_pipeline_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->st;
    pthread_mutex_unlock(&p->lock);
}

static void free_pipeline(struct clew_pipeline *p)
{
    batch_free(p->cur);
    clew_arena_close(&p->corr_arena);
    clew_buf_close(&p->fields);
    for (struct batch *b = p->qhead, *n; b != NULL; b = n) {
        n = b->next;
        batch_free(b);
    }
    for (struct batch *b = p->whead, *n; b != NULL; b = n) {
        n = b->next;
        batch_free(b);
    }
    for (size_t i = 0; i < p->nspares; i++) {
        clew_arena_close(&p->spares[i].arena);
        clew_free(p->spares[i].recs);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    clew_free(p);
}

static void on_close(uv_handle_t *h)
{
    struct clew_pipeline *p = h->data;
    if (--p->handles == 0) {
        free_pipeline(p);
    }
}

int clew_pipeline_new(uv_loop_t *loop, struct clew_store *store,
                      const struct clew_pipeline_config *cfg, struct clew_pipeline **out)
{
    *out = NULL;
    struct clew_pipeline *p = clew_calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    p->loop = loop;
    p->store = store;
    p->cfg = *cfg;
    clew_arena_init(&p->corr_arena, 4096);
    clew_buf_init(&p->fields);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    int rc = uv_check_init(loop, &p->check);
    if (rc < 0) {
        free_pipeline(p);
        return rc;
    }
    p->check.data = p;
    p->handles = 1;
    if ((rc = uv_async_init(loop, &p->async, on_async)) < 0) {
        uv_close((uv_handle_t *)&p->check, on_close);
        return rc;
    }
    p->async.data = p;
    p->handles = 2;
    uv_check_start(&p->check, on_check);
    uv_unref((uv_handle_t *)&p->check); /* the pipeline alone keeps no loop alive */
    uv_unref((uv_handle_t *)&p->async);
    if ((rc = -pthread_create(&p->writer, NULL, writer_main, p)) < 0) {
        uv_close((uv_handle_t *)&p->check, on_close);
        uv_close((uv_handle_t *)&p->async, on_close);
        return rc;
    }
    p->writer_started = 1;
    *out = p;
    return 0;
}

void clew_pipeline_close(struct clew_pipeline *p)
{
    if (p == NULL) {
        return;
    }
    clew_pipeline_flush(p);
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->writer, NULL);
    uv_close((uv_handle_t *)&p->check, on_close);
    uv_close((uv_handle_t *)&p->async, on_close);
}
