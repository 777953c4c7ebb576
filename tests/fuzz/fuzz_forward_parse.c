/* SPDX-License-Identifier: MIT
 * Arbitrary bytes through the Forward decoder, fed in two pieces (the first
 * input byte picks the split). Every event's strings are read in full (so
 * ASan sees a dangling view) and every record's fields must be a JSON
 * object jansson accepts. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "collector/forward_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t touch(struct clew_str s)
{
    size_t h = 0;
    for (size_t i = 0; i < s.len; i++) {
        h = h * 31 + (unsigned char)s.ptr[i];
    }
    return h;
}

static void check_record(const struct clew_record *r, volatile size_t *sink)
{
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        *sink += touch(r->labels[i]);
    }
    *sink += touch(r->message) + touch(r->trace_id) + touch(r->span_id) + touch(r->parent_span_id);
    json_t *f = json_loadb(r->fields.ptr, r->fields.len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(f) || r->level > 7 || r->input != CLEW_INPUT_FORWARD) {
        abort();
    }
    json_decref(f);
}

static int drain(struct clew_fwd_decoder *d, volatile size_t *sink)
{
    struct clew_fwd_event ev;
    int rc;
    while ((rc = clew_fwd_decoder_next(d, &ev)) == 0) {
        *sink += touch(ev.tag) + touch(ev.chunk) + touch(ev.compressed);
        if (ev.kind == CLEW_FWD_RECORD) {
            check_record(&ev.rec, sink);
        } else if (ev.kind == CLEW_FWD_SKIP && (ev.error >= 0 || ev.reason == NULL)) {
            abort();
        } else if (ev.kind != CLEW_FWD_SKIP && ev.kind != CLEW_FWD_END) {
            abort();
        }
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static volatile size_t sink;
    if (size < 1) {
        return 0;
    }
    struct clew_fwd_opts o = { .max_buffer = 1u << 16,
                               .max_inflated = 1u << 20,
                               .max_nodes = 1u << 12 };
    struct clew_fwd_decoder *d;
    if (clew_fwd_decoder_new(&o, &d) != 0) {
        return 0;
    }
    size_t rest = size - 1, split = rest * data[0] / 255;
    int rc = clew_fwd_decoder_feed(d, data + 1, split);
    if (rc == 0) {
        rc = drain(d, &sink);
    }
    if (rc == -EAGAIN && clew_fwd_decoder_feed(d, data + 1 + split, rest - split) == 0) {
        drain(d, &sink);
    }
    clew_fwd_decoder_free(d);
    return 0;
}
