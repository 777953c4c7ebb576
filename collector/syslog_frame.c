/* SPDX-License-Identifier: MIT
 * syslog_frame: RFC 6587 framing as a byte-at-a-time state machine.
 *
 * States (f->state), entered at each message start:
 *   START   skip stray CR/LF/NUL; a digit 1-9 goes to LEN, anything else to LINE
 *   LEN     digits of an octet count, copied to hdr (19 at most, so no overflow)
 *   LEN_SP  `LEN SP` read; the next byte decides: `<` is a real frame (OCTET or,
 *           when LEN > max_msg, SKIP); anything else replays hdr as a LINE
 *   OCTET   collect exactly count bytes
 *   SKIP    discard the bytes of an oversize frame
 *   LINE    collect up to the next LF or NUL (at most max_msg bytes)
 *   DISCARD drop the rest of a truncated line up to its delimiter
 * Complete messages inside one fed buffer are delivered in place; only a
 * message that spans feeds is copied into the tail buffer. */
#include "collector/syslog_frame.h"

#include <errno.h>
#include <string.h>

#include "common/alloc.h"

#define MAX_MSG_CAP ((size_t)1 << 30)
#define LEN_DIGITS  19 /* 10^19 - 1 < 2^64 */

enum { ST_START, ST_LEN, ST_LEN_SP, ST_OCTET, ST_SKIP, ST_LINE, ST_DISCARD };

/* The unconsumed rest of one feed and where messages go. */
struct chunk {
    const char *p;
    size_t n;
    clew_syslog_frame_cb cb;
    void *ud;
};

static void advance(struct chunk *c, size_t k)
{
    c->p += k;
    c->n -= k;
}

static void reset(struct clew_syslog_framer *f)
{
    f->state = ST_START;
    f->count = 0;
    f->skip = 0;
    f->hdr_len = 0;
    f->tail_len = 0;
}

void clew_syslog_framer_init(struct clew_syslog_framer *f, size_t max_msg)
{
    memset(f, 0, sizeof(*f));
    if (max_msg == 0) {
        max_msg = CLEW_SYSLOG_FRAME_DEFAULT_MAX;
    }
    if (max_msg < CLEW_SYSLOG_FRAME_MIN_MAX) {
        max_msg = CLEW_SYSLOG_FRAME_MIN_MAX;
    }
    f->max_msg = max_msg > MAX_MSG_CAP ? MAX_MSG_CAP : max_msg;
    reset(f);
}

void clew_syslog_framer_close(struct clew_syslog_framer *f)
{
    if (f == NULL) {
        return;
    }
    clew_free(f->tail);
    f->tail = NULL;
    f->tail_cap = 0;
    reset(f);
}

/* Appends to the tail; callers never let it exceed max_msg. */
static int tail_append(struct clew_syslog_framer *f, const char *p, size_t n)
{
    size_t need = f->tail_len + n;
    if (n == 0) {
        return 0;
    }
    if (need > f->tail_cap) {
        size_t cap = f->tail_cap ? f->tail_cap : 256;
        while (cap < need) {
            cap *= 2;
        }
        if (cap > f->max_msg) {
            cap = f->max_msg;
        }
        char *t = clew_realloc(f->tail, cap);
        if (t == NULL) {
            return -ENOMEM;
        }
        f->tail = t;
        f->tail_cap = cap;
    }
    memcpy(f->tail + f->tail_len, p, n);
    f->tail_len = need;
    return 0;
}

/* On a failed append the pending message is lost: resynchronise at the next
 * delimiter. */
static int tail_append_or_drop(struct clew_syslog_framer *f, const char *p, size_t n)
{
    int rc = tail_append(f, p, n);
    if (rc < 0) {
        f->tail_len = 0;
        f->state = ST_DISCARD;
    }
    return rc;
}

static void deliver(struct clew_syslog_framer *f, const struct chunk *c, const char *msg,
                    size_t len, unsigned flags)
{
    f->stats.messages++;
    c->cb(c->ud, msg, len, flags);
}

static void deliver_line(struct clew_syslog_framer *f, const struct chunk *c, const char *msg,
                         size_t len, unsigned flags)
{
    if (len > 0 && msg[len - 1] == '\r') {
        len--;
    }
    deliver(f, c, msg, len, flags);
}

/* Index of the first LF or NUL in p[0..n), or n. */
static size_t find_delim(const char *p, size_t n)
{
    const char *lf = memchr(p, '\n', n);
    size_t lim = lf ? (size_t)(lf - p) : n;
    const char *nul = memchr(p, '\0', lim);
    return nul ? (size_t)(nul - p) : lim;
}

static void step_start(struct clew_syslog_framer *f, struct chunk *c)
{
    while (c->n > 0 && (*c->p == '\n' || *c->p == '\r' || *c->p == '\0')) {
        advance(c, 1);
    }
    if (c->n == 0) {
        return;
    }
    if (*c->p >= '1' && *c->p <= '9') {
        f->state = ST_LEN;
        f->count = 0;
        f->hdr_len = 0;
    } else {
        f->state = ST_LINE;
    }
}

/* Not an octet count after all: the header bytes start a LINE message. */
static int fallback_to_line(struct clew_syslog_framer *f)
{
    f->state = ST_LINE;
    return tail_append_or_drop(f, f->hdr, f->hdr_len);
}

static int step_len(struct clew_syslog_framer *f, struct chunk *c)
{
    while (c->n > 0) {
        char ch = *c->p;
        if (ch == ' ') {
            f->hdr[f->hdr_len++] = ch;
            advance(c, 1);
            f->state = ST_LEN_SP;
            return 0;
        }
        if (ch < '0' || ch > '9' || f->hdr_len >= LEN_DIGITS) {
            return fallback_to_line(f);
        }
        f->count = f->count * 10 + (uint64_t)(ch - '0');
        f->hdr[f->hdr_len++] = ch;
        advance(c, 1);
    }
    return 0;
}

static int step_len_sp(struct clew_syslog_framer *f, const struct chunk *c)
{
    if (*c->p != '<') {
        return fallback_to_line(f);
    }
    if (f->count > f->max_msg) {
        f->stats.oversize++;
        f->skip = f->count;
        f->state = ST_SKIP;
    } else {
        f->state = ST_OCTET;
    }
    return 0;
}

static int step_octet(struct clew_syslog_framer *f, struct chunk *c)
{
    size_t want = (size_t)f->count;
    if (f->tail_len == 0 && c->n >= want) {
        deliver(f, c, c->p, want, CLEW_SYSLOG_FRAME_OCTET);
        advance(c, want);
        f->state = ST_START;
        return 0;
    }
    size_t have = f->tail_len;
    size_t take = want - have < c->n ? want - have : c->n;
    int rc = tail_append_or_drop(f, c->p, take);
    advance(c, take);
    if (rc < 0) {
        /* The frame is lost; skip the rest of it to stay in sync. */
        f->skip = want - have - take;
        f->state = f->skip > 0 ? ST_SKIP : ST_START;
        return rc;
    }
    if (f->tail_len == want) {
        deliver(f, c, f->tail, want, CLEW_SYSLOG_FRAME_OCTET);
        f->tail_len = 0;
        f->state = ST_START;
    }
    return rc;
}

static void step_skip(struct clew_syslog_framer *f, struct chunk *c)
{
    size_t take = f->skip < c->n ? (size_t)f->skip : c->n;
    f->skip -= take;
    advance(c, take);
    if (f->skip == 0) {
        f->state = ST_START;
    }
}

/* Delivers tail + p[0..k) (k fits in the room left) and resets the tail. */
static int emit_line(struct clew_syslog_framer *f, const struct chunk *c, size_t k, unsigned flags)
{
    if (flags & CLEW_SYSLOG_FRAME_TRUNCATED) {
        f->stats.truncated++;
    }
    if (f->tail_len == 0) {
        deliver_line(f, c, c->p, k, flags);
        return 0;
    }
    int rc = tail_append_or_drop(f, c->p, k);
    if (rc == 0) {
        deliver_line(f, c, f->tail, f->tail_len, flags);
        f->tail_len = 0;
    }
    return rc;
}

static int step_line(struct clew_syslog_framer *f, struct chunk *c)
{
    size_t room = f->max_msg - f->tail_len;
    size_t scan = c->n < room + 1 ? c->n : room + 1;
    size_t d = find_delim(c->p, scan);
    int rc;
    if (d < scan) {
        rc = emit_line(f, c, d, 0);
        advance(c, d + 1);
        f->state = ST_START; /* at a message boundary even if the message was lost */
        return rc;
    }
    if (scan == room + 1) {
        /* No delimiter within max_msg + 1 bytes: cut here. A truncated
         * message keeps a trailing CR: it is not the end of the line. */
        rc = emit_line(f, c, room, CLEW_SYSLOG_FRAME_TRUNCATED);
        advance(c, room);
        f->state = ST_DISCARD;
        return rc;
    }
    rc = tail_append_or_drop(f, c->p, c->n);
    advance(c, c->n);
    return rc;
}

static void step_discard(struct clew_syslog_framer *f, struct chunk *c)
{
    size_t d = find_delim(c->p, c->n);
    if (d < c->n) {
        advance(c, d + 1);
        f->state = ST_START;
    } else {
        advance(c, c->n);
    }
}

static int step(struct clew_syslog_framer *f, struct chunk *c)
{
    switch (f->state) {
    case ST_START:
        step_start(f, c);
        return 0;
    case ST_LEN:
        return step_len(f, c);
    case ST_LEN_SP:
        return step_len_sp(f, c);
    case ST_OCTET:
        return step_octet(f, c);
    case ST_SKIP:
        step_skip(f, c);
        return 0;
    case ST_LINE:
        return step_line(f, c);
    default:
        step_discard(f, c);
        return 0;
    }
}

int clew_syslog_framer_feed(struct clew_syslog_framer *f, const void *data, size_t len,
                            clew_syslog_frame_cb cb, void *ud)
{
    struct chunk c = { data, len, cb, ud };
    int rc = 0;
    while (c.n > 0) {
        int step_rc = step(f, &c);
        if (step_rc < 0) {
            rc = step_rc;
        }
    }
    return rc;
}

void clew_syslog_framer_finish(struct clew_syslog_framer *f, clew_syslog_frame_cb cb, void *ud)
{
    struct chunk c = { NULL, 0, cb, ud };
    switch (f->state) {
    case ST_LINE:
        if (f->tail_len > 0) {
            deliver_line(f, &c, f->tail, f->tail_len, CLEW_SYSLOG_FRAME_EOF);
        }
        break;
    case ST_LEN:
        /* Digits and no space: not a frame header, just a short line. */
        deliver(f, &c, f->hdr, f->hdr_len, CLEW_SYSLOG_FRAME_EOF);
        break;
    case ST_LEN_SP:
    case ST_OCTET:
        f->stats.partial++;
        break;
    default:
        break;
    }
    reset(f);
}

size_t clew_syslog_datagram_offset(const char *p, size_t n)
{
    uint64_t count = 0;
    size_t i = 0;
    if (n == 0 || p[0] < '1' || p[0] > '9') {
        return 0;
    }
    while (i < n && i < LEN_DIGITS && p[i] >= '0' && p[i] <= '9') {
        count = count * 10 + (uint64_t)(p[i] - '0');
        i++;
    }
    if (i + 1 >= n || p[i] != ' ' || p[i + 1] != '<') {
        return 0;
    }
    size_t body = n - i - 1, trimmed = body;
    while (trimmed > 0 &&
           (p[i + trimmed] == '\n' || p[i + trimmed] == '\r' || p[i + trimmed] == '\0')) {
        trimmed--;
    }
    return count == body || count == trimmed ? i + 1 : 0;
}
