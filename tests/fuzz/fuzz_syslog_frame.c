/* SPDX-License-Identifier: MIT
 * Fuzzes the syslog framer. Input: byte 0 picks max_msg (64-319), bytes
 * 1-2 the split point, the rest is the stream. The stream is framed twice,
 * whole and in two pieces at the split; both runs must deliver the same
 * messages with the same flags (framing does not depend on how TCP cut the
 * bytes), and no message may exceed max_msg. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/syslog_frame.h"
#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
    struct clew_buf b;
    size_t max;
};

static void on_msg(void *ud, const char *msg, size_t len, unsigned flags)
{
    struct log *l = ud;
    if (len > l->max) {
        abort();
    }
    if (clew_buf_put_u32(&l->b, (uint32_t)len) || clew_buf_put_u32(&l->b, flags) ||
        clew_buf_append(&l->b, msg, len)) {
        abort();
    }
}

static void frame(const uint8_t *p, size_t n, size_t split, size_t max, struct log *l)
{
    struct clew_syslog_framer f;
    clew_syslog_framer_init(&f, max);
    l->max = f.max_msg;
    if (clew_syslog_framer_feed(&f, p, split, on_msg, l) != 0 ||
        clew_syslog_framer_feed(&f, p + split, n - split, on_msg, l) != 0) {
        abort();
    }
    clew_syslog_framer_finish(&f, on_msg, l);
    if (f.tail_cap > f.max_msg) {
        abort();
    }
    clew_syslog_framer_close(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    size_t max = 64 + data[0];
    size_t n = size - 3;
    size_t split = ((size_t)data[1] << 8 | data[2]) % (n + 1);
    /* An exact-size copy so ASan catches any overread. */
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL) {
        return 0;
    }
    memcpy(p, data + 3, n);
    struct log whole = { 0 }, parts = { 0 };
    clew_buf_init(&whole.b);
    clew_buf_init(&parts.b);
    if (clew_syslog_datagram_offset((const char *)p, n) > n) {
        abort();
    }
    frame(p, n, n, max, &whole);
    frame(p, n, split, max, &parts);
    if (whole.b.len != parts.b.len ||
        (whole.b.len > 0 && memcmp(whole.b.data, parts.b.data, whole.b.len) != 0)) {
        abort();
    }
    clew_buf_close(&whole.b);
    clew_buf_close(&parts.b);
    free(p);
    return 0;
}
