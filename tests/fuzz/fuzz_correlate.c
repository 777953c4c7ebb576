/* SPDX-License-Identifier: MIT
 * Arbitrary message and fields bytes through clew_correlate. Input layout:
 * byte 0 picks the label set (so streams repeat and inheritance and LRU
 * eviction run), byte 1 the level, then the message and the fields split at
 * the first "\n--\n" (no separator: all message). One correlator (with user
 * patterns and a small stream table) lives across inputs. Every output id
 * must be printable ASCII within the documented lengths and every string is
 * read in full so ASan sees a dangling view. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/correlate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct clew_correlator *corr;
static struct clew_arena arena;
static int64_t clock_ns;

static void check_id(struct clew_str s, size_t max)
{
    if (s.len > max || (s.len > 0 && s.ptr == NULL)) {
        abort();
    }
    for (size_t i = 0; i < s.len; i++) {
        if ((unsigned char)s.ptr[i] <= 0x20 || (unsigned char)s.ptr[i] >= 0x7f) {
            abort();
        }
    }
}

static void init_once(void)
{
    static const char *pats[] = { "order=(?<id>[0-9]+)",
                                  ("(?i)txn (?<id>[a-f0-9]{8,32})/(?<span>[a-f0-9]{16})"
                                   "(?:/(?<parent>[a-f0-9]{16}))?"),
                                  "(a+)+b(?<id>x)" };
    struct clew_correlate_opts o;
    clew_correlate_opts_default(&o);
    o.patterns = pats;
    o.npatterns = 3;
    o.max_streams = 5;
    o.seed = 1;
    if (clew_correlator_new(&o, &corr, NULL) != 0) {
        abort();
    }
    clew_arena_init(&arena, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *hosts[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
    if (corr == NULL) {
        init_once();
    }
    if (size < 2) {
        return 0;
    }
    struct clew_record r;
    memset(&r, 0, sizeof(r));
    r.labels[CLEW_LABEL_HOST] = (struct clew_str){ hosts[data[0] & 7], 1 };
    r.labels[CLEW_LABEL_STREAM] = (struct clew_str){ (data[0] & 8) ? "stderr" : "stdout", 6 };
    r.level = data[1] & 7;
    clock_ns += (data[0] & 0x10) ? 3000000000LL : 1000;
    r.ts = clock_ns;
    const char *body = (const char *)data + 2;
    size_t n = size - 2, mlen = n;
    for (size_t i = 0; i + 4 <= n; i++) {
        if (memcmp(body + i, "\n--\n", 4) == 0) {
            mlen = i;
            break;
        }
    }
    /* Copies make the exact bounds visible to ASan. */
    char *msg = malloc(mlen + 1), *fields = malloc(n - mlen + 1);
    if (msg == NULL || fields == NULL) {
        abort();
    }
    memcpy(msg, body, mlen);
    size_t flen = mlen < n ? n - mlen - 4 : 0;
    memcpy(fields, body + (n - flen), flen);
    r.message = (struct clew_str){ msg, mlen };
    r.fields = (struct clew_str){ fields, flen };
    if (data[0] & 0x20) {
        r.trace_id = r.message.len > 40 ? (struct clew_str){ msg, 40 } : r.message;
    }
    struct clew_correlation out;
    int rc = clew_correlate(corr, &r, &arena, &out);
    if (rc != 0 || out.source < 0 || out.source >= CLEW_CORR_SOURCE_COUNT_) {
        abort();
    }
    check_id(r.trace_id, CLEW_CORR_MAX_ID);
    check_id(r.span_id, CLEW_CORR_MAX_SPAN);
    check_id(r.parent_span_id, CLEW_CORR_MAX_SPAN);
    check_id(out.link_id, CLEW_CORR_MAX_ID);
    if ((out.source == CLEW_CORR_NONE) != (r.trace_id.len == 0)) {
        abort();
    }
    free(msg);
    free(fields);
    clew_arena_reset(&arena);
    return 0;
}
