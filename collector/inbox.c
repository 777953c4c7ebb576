/* SPDX-License-Identifier: MIT */
#include "collector/inbox.h"

#include <errno.h>
#include <pthread.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/rec_codec.h"
#include "common/rec_copy.h"

struct slot {
    struct slot *next;
    struct clew_arena arena;
    size_t n, bytes;
    struct clew_record recs[];
};

struct clew_inbox {
    uv_async_t async;
    clew_inbox_cb cb;
    void *ud;
    size_t max_bytes;
    pthread_mutex_t lock;
    struct slot *head, *tail;
    size_t bytes;
};

static void free_slot(struct slot *s)
{
    clew_arena_close(&s->arena);
    clew_free(s);
}

static void drain(struct clew_inbox *in)
{
    pthread_mutex_lock(&in->lock);
    struct slot *s = in->head;
    in->head = in->tail = NULL;
    in->bytes = 0;
    pthread_mutex_unlock(&in->lock);
    while (s != NULL) {
        struct slot *next = s->next;
        for (size_t i = 0; i < s->n; i++) {
            in->cb(in->ud, &s->recs[i]);
        }
        free_slot(s);
        s = next;
    }
}

static void on_async(uv_async_t *h)
{
    drain(h->data);
}

int clew_inbox_new(uv_loop_t *loop, size_t max_bytes, clew_inbox_cb cb, void *ud,
                   struct clew_inbox **out)
{
    struct clew_inbox *in = clew_calloc(1, sizeof(*in));
    *out = NULL;
    if (in == NULL) {
        return -ENOMEM;
    }
    in->cb = cb;
    in->ud = ud;
    in->max_bytes = max_bytes;
    pthread_mutex_init(&in->lock, NULL);
    int rc = uv_async_init(loop, &in->async, on_async);
    if (rc < 0) {
        pthread_mutex_destroy(&in->lock);
        clew_free(in);
        return rc;
    }
    in->async.data = in;
    uv_unref((uv_handle_t *)&in->async);
    *out = in;
    return 0;
}

int clew_inbox_put(struct clew_inbox *in, const struct clew_record *recs, size_t n)
{
    struct slot *s = clew_calloc(1, sizeof(*s) + n * sizeof(s->recs[0]));
    if (s == NULL) {
        return -ENOMEM;
    }
    clew_arena_init(&s->arena, 16384);
    for (size_t i = 0; i < n; i++) {
        struct clew_record c;
        if (clew_rec_copy(&c, &recs[i], &s->arena) < 0) {
            free_slot(s);
            return -ENOMEM;
        }
        s->recs[s->n++] = c;
        s->bytes += clew_rec_raw_size(&c);
    }
    pthread_mutex_lock(&in->lock);
    if (in->bytes + s->bytes > in->max_bytes) {
        pthread_mutex_unlock(&in->lock);
        free_slot(s);
        return CLEW_ETOOBIG;
    }
    if (in->tail != NULL) {
        in->tail->next = s;
    } else {
        in->head = s;
    }
    in->tail = s;
    in->bytes += s->bytes;
    pthread_mutex_unlock(&in->lock);
    uv_async_send(&in->async);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct clew_inbox *in = h->data;
    pthread_mutex_destroy(&in->lock);
    clew_free(in);
}

void clew_inbox_close(struct clew_inbox *in)
{
    if (in == NULL) {
        return;
    }
    drain(in);
    uv_close((uv_handle_t *)&in->async, on_closed);
}
