/* SPDX-License-Identifier: MIT */
#include "collector/tail.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"

#define DEFAULT_RECORDS 4096
#define DEFAULT_BYTES   (8u << 20)

/* One record, rec_codec-encoded. */
struct item {
    size_t len;
    unsigned char data[];
};

struct clew_tail_sub {
    struct clew_tail *hub;
    struct clew_tail_sub *next; /* hub list; hub lock */
    clew_tail_accept_cb accept;
    void *ud;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    struct item **ring;
    size_t cap, head, count;
    size_t bytes, max_bytes;
    uint64_t dropped; /* not yet reported */
    int closed, cancelled;
    struct item *cur; /* the record last returned; owner only */
};

struct clew_tail {
    pthread_mutex_t lock; /* guards the list, the flags and the counters */
    pthread_cond_t idle;  /* signalled when a subscriber leaves */
    struct clew_tail_sub *subs;
    int closed;
    unsigned refs;       /* the owner + one per subscriber */
    struct clew_buf enc; /* the record being fed, encoded; feeder only */
    struct clew_tail_stats st;
};

int clew_tail_new(struct clew_tail **out)
{
    struct clew_tail *t = clew_calloc(1, sizeof(*t));
    *out = t;
    if (t == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->idle, &ca);
    pthread_condattr_destroy(&ca);
    clew_buf_init(&t->enc);
    t->refs = 1;
    return 0;
}

static void hub_destroy(struct clew_tail *t)
{
    clew_buf_close(&t->enc);
    pthread_cond_destroy(&t->idle);
    pthread_mutex_destroy(&t->lock);
    clew_free(t);
}

/* Drops one reference; hub lock held, released here. */
static void hub_unref_unlock(struct clew_tail *t)
{
    int last = --t->refs == 0;
    pthread_mutex_unlock(&t->lock);
    if (last) {
        hub_destroy(t);
    }
}

void clew_tail_close(struct clew_tail *t)
{
    pthread_mutex_lock(&t->lock);
    t->closed = 1;
    for (struct clew_tail_sub *s = t->subs; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->lock);
        s->closed = 1;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&t->lock);
}

void clew_tail_free(struct clew_tail *t)
{
    if (t == NULL) {
        return;
    }
    clew_tail_close(t);
    pthread_mutex_lock(&t->lock);
    hub_unref_unlock(t);
}

static void deadline_after(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ns += ts->tv_nsec;
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

int clew_tail_wait_idle(struct clew_tail *t, int64_t timeout_ns)
{
    struct timespec until;
    deadline_after(&until, timeout_ns);
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    while (t->subs != NULL && rc == 0) {
        rc = pthread_cond_timedwait(&t->idle, &t->lock, &until);
    }
    int idle = t->subs == NULL;
    pthread_mutex_unlock(&t->lock);
    return idle;
}

/* Removes the oldest record of s's ring. Sub lock held. */
static void drop_oldest(struct clew_tail_sub *s)
{
    struct item *it = s->ring[s->head];
    s->ring[s->head] = NULL;
    s->head = (s->head + 1) % s->cap;
    s->count--;
    s->bytes -= it->len;
    s->dropped++;
    clew_free(it);
}

/* Copies the encoded record into s's ring. Hub lock held. */
static void push(struct clew_tail *t, struct clew_tail_sub *s, const void *data, size_t len)
{
    struct item *it = len <= s->max_bytes ? clew_malloc(sizeof(*it) + len) : NULL;
    pthread_mutex_lock(&s->lock);
    if (it == NULL) {
        s->dropped++; /* too big for this ring, or out of memory */
        t->st.dropped++;
    } else {
        it->len = len;
        memcpy(it->data, data, len);
        while (s->count > 0 && (s->count == s->cap || s->bytes + len > s->max_bytes)) {
            drop_oldest(s);
            t->st.dropped++;
        }
        s->ring[(s->head + s->count) % s->cap] = it;
        s->count++;
        s->bytes += len;
        t->st.delivered++;
    }
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void clew_tail_feed(struct clew_tail *t, const struct clew_record *r)
{
    pthread_mutex_lock(&t->lock);
    int encoded = 0;
    for (struct clew_tail_sub *s = t->closed ? NULL : t->subs; s != NULL; s = s->next) {
        if (s->accept != NULL && !s->accept(s->ud, r)) {
            continue;
        }
        if (!encoded) {
            clew_buf_reset(&t->enc);
            if (clew_rec_encode(&t->enc, r) < 0) {
                break; /* out of memory or oversized: nobody gets it */
            }
            encoded = 1;
        }
        push(t, s, t->enc.data, t->enc.len);
    }
    pthread_mutex_unlock(&t->lock);
}

static void sub_destroy(struct clew_tail_sub *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; s->ring != NULL && i < s->count; i++) {
        clew_free(s->ring[(s->head + i) % s->cap]);
    }
    clew_free(s->ring);
    clew_free(s->cur);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    clew_free(s);
}

static struct clew_tail_sub *sub_alloc(size_t max_records, size_t max_bytes)
{
    struct clew_tail_sub *s = clew_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->cap = max_records ? max_records : DEFAULT_RECORDS;
    s->max_bytes = max_bytes ? max_bytes : DEFAULT_BYTES;
    if ((s->ring = clew_calloc(s->cap, sizeof(*s->ring))) == NULL) {
        sub_destroy(s);
        return NULL;
    }
    return s;
}

int clew_tail_subscribe(struct clew_tail *t, size_t max_records, size_t max_bytes,
                        clew_tail_accept_cb accept, void *ud, struct clew_tail_sub **out)
{
    *out = NULL;
    struct clew_tail_sub *s = sub_alloc(max_records, max_bytes);
    if (s == NULL) {
        return -ENOMEM;
    }
    s->hub = t;
    s->accept = accept;
    s->ud = ud;
    pthread_mutex_lock(&t->lock);
    if (t->closed) {
        pthread_mutex_unlock(&t->lock);
        sub_destroy(s);
        return CLEW_ECLOSED;
    }
    s->next = t->subs;
    t->subs = s;
    t->refs++;
    t->st.subscribers++;
    pthread_mutex_unlock(&t->lock);
    *out = s;
    return 0;
}

int clew_tail_next(struct clew_tail_sub *s, int64_t timeout_ns, struct clew_record *out,
                   uint64_t *dropped)
{
    struct timespec until;
    if (timeout_ns >= 0) {
        deadline_after(&until, timeout_ns);
    }
    clew_free(s->cur);
    s->cur = NULL;
    *dropped = 0;
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    while (s->count == 0 && !s->closed && !s->cancelled && rc == 0) {
        rc = timeout_ns < 0 ? pthread_cond_wait(&s->cond, &s->lock)
                            : pthread_cond_timedwait(&s->cond, &s->lock, &until);
    }
    if (s->cancelled || (s->count == 0 && s->closed)) {
        pthread_mutex_unlock(&s->lock);
        return CLEW_ECLOSED;
    }
    if (s->count == 0) {
        pthread_mutex_unlock(&s->lock);
        return 0; /* timed out */
    }
    struct item *it = s->ring[s->head];
    s->ring[s->head] = NULL;
    s->head = (s->head + 1) % s->cap;
    s->count--;
    s->bytes -= it->len;
    *dropped = s->dropped;
    s->dropped = 0;
    pthread_mutex_unlock(&s->lock);
    s->cur = it;
    struct clew_rd rd;
    clew_rd_init(&rd, it->data, it->len);
    return clew_rec_decode(&rd, out) == 0 ? 1 : CLEW_ECORRUPT; /* we encoded it: cannot fail */
}

void clew_tail_cancel(struct clew_tail_sub *s)
{
    pthread_mutex_lock(&s->lock);
    s->cancelled = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void clew_tail_unsubscribe(struct clew_tail_sub *s)
{
    if (s == NULL) {
        return;
    }
    struct clew_tail *t = s->hub;
    pthread_mutex_lock(&t->lock);
    for (struct clew_tail_sub **pp = &t->subs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    t->st.subscribers--;
    pthread_cond_broadcast(&t->idle);
    hub_unref_unlock(t);
    sub_destroy(s);
}

void clew_tail_get_stats(struct clew_tail *t, struct clew_tail_stats *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->st;
    pthread_mutex_unlock(&t->lock);
}
