/* SPDX-License-Identifier: MIT
 * Arbitrary bytes through the Forward decoder, fed in two pieces (the first
 * input byte picks the split). Every event's strings are read in full (so
 * ASan sees a dangling view) and every record's fields must be a JSON
 * object jansson accepts. The same bytes also go through a decoder in
 * reference mode (msgpack_unpack and jansson, the slow paths the record
 * format was defined with): both must give the same events, byte for byte,
 * and the same final status. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collector/forward_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything observable about a run, appended as bytes. */
struct trace {
    uint8_t *p;
    size_t len, cap;
};

static void put(struct trace *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + n) {
            cap *= 2;
        }
        if ((t->p = realloc(t->p, cap)) == NULL) {
            abort();
        }
        t->cap = cap;
    }
    if (n > 0) {
        memcpy(t->p + t->len, p, n);
        t->len += n;
    }
}

static void put_str(struct trace *t, struct clew_str s)
{
    put(t, &s.len, sizeof(s.len));
    put(t, s.ptr, s.len); /* reads every byte: ASan sees a dangling view */
}

static void put_int(struct trace *t, int64_t v)
{
    put(t, &v, sizeof(v));
}

static void check_record(struct trace *t, const struct clew_record *r)
{
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        put_str(t, r->labels[i]);
    }
    put_str(t, r->message);
    put_str(t, r->trace_id);
    put_str(t, r->span_id);
    put_str(t, r->parent_span_id);
    put_str(t, r->fields);
    put_int(t, r->ts);
    put_int(t, r->level);
    put_int(t, r->flags);
    json_t *f = json_loadb(r->fields.ptr, r->fields.len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(f) || r->level > 7 || r->input != CLEW_INPUT_FORWARD) {
        abort();
    }
    json_decref(f);
}

static void put_event(struct trace *t, const struct clew_fwd_event *ev)
{
    put_int(t, ev->kind);
    put_int(t, ev->mode);
    put_str(t, ev->tag);
    put_str(t, ev->chunk);
    if (ev->kind == CLEW_FWD_RECORD) {
        put_int(t, ev->has_ts);
        check_record(t, &ev->rec);
    } else if (ev->kind == CLEW_FWD_SKIP) {
        if (ev->error >= 0 || ev->reason == NULL) {
            abort();
        }
        put_int(t, ev->error);
        put(t, ev->reason, strlen(ev->reason));
    } else if (ev->kind == CLEW_FWD_END) {
        put_str(t, ev->compressed);
        put_int(t, ev->size);
        put_int(t, ev->records);
        put_int(t, ev->skipped);
    } else {
        abort();
    }
}

static int drain(struct clew_fwd_decoder *d, struct trace *t)
{
    struct clew_fwd_event ev;
    int rc;
    while ((rc = clew_fwd_decoder_next(d, &ev)) == 0) {
        put_event(t, &ev);
    }
    return rc;
}

/* Runs the input through one decoder; the trace ends with the status. */
static void run(const uint8_t *data, size_t size, int reference, struct trace *t)
{
    struct clew_fwd_opts o = { .max_buffer = 1u << 16,
                               .max_inflated = 1u << 20,
                               .max_nodes = 1u << 12,
                               .reference = reference };
    struct clew_fwd_decoder *d;
    if (clew_fwd_decoder_new(&o, &d) != 0) {
        abort();
    }
    size_t rest = size - 1, split = rest * data[0] / 255;
    int rc = clew_fwd_decoder_feed(d, data + 1, split);
    if (rc == 0) {
        rc = drain(d, t);
    }
    if (rc == -EAGAIN && (rc = clew_fwd_decoder_feed(d, data + 1 + split, rest - split)) == 0) {
        rc = drain(d, t);
    }
    put_int(t, rc);
    clew_fwd_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    struct trace fast = { 0 }, ref = { 0 };
    run(data, size, 0, &fast);
    run(data, size, 1, &ref);
    if (fast.len != ref.len || memcmp(fast.p, ref.p, fast.len) != 0) {
        abort(); /* the fast paths differ from the reference */
    }
    free(fast.p);
    free(ref.p);
    return 0;
}
