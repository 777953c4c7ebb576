/* SPDX-License-Identifier: MIT
 * syslog_frame: the per-connection framer of syslog over TCP (RFC 6587). It
 * turns a byte stream fed in pieces of any size into complete messages,
 * detecting the framing at each message start: octet counting (`LEN SP <`)
 * or non-transparent framing ended by LF, CRLF or NUL. The caller owns the
 * bytes it feeds; the framer copies only an incomplete tail (at most
 * max_msg bytes plus a 20-byte header) into a buffer it owns. Pure (no I/O,
 * no globals, no logging); one thread at a time per framer. */
#ifndef CLEW_SYSLOG_FRAME_H
#define CLEW_SYSLOG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define CLEW_SYSLOG_FRAME_DEFAULT_MAX ((size_t)1 << 20) /* 1 MiB */
#define CLEW_SYSLOG_FRAME_MIN_MAX     64                /* smaller max values are raised */

/* Flags passed with each delivered message. */
enum {
    CLEW_SYSLOG_FRAME_OCTET = 1u << 0,     /* octet-counted frame (else delimiter-ended) */
    CLEW_SYSLOG_FRAME_TRUNCATED = 1u << 1, /* cut at max_msg; the rest was discarded     */
    CLEW_SYSLOG_FRAME_EOF = 1u << 2,       /* ended by clew_syslog_framer_finish, no LF   */
};

/* Receives one message: msg[0..len) without the framing (no `LEN SP`, no
 * LF/NUL delimiter, no CR before an LF). An octet-counted message is passed
 * exactly as counted, so it may still end in LF (rsyslog, syslog-ng); the
 * parser trims that. msg is borrowed: valid only until the callback returns
 * (it points into the fed data or into the framer's tail buffer). */
typedef void (*clew_syslog_frame_cb)(void *ud, const char *msg, size_t len, unsigned flags);

/* Counters the caller reads (and may reset) to report oddities. */
struct clew_syslog_frame_stats {
    uint64_t messages;  /* messages delivered                                         */
    uint64_t truncated; /* delimiter-framed messages cut at max_msg                   */
    uint64_t oversize;  /* octet-counted frames announcing more than max_msg: skipped */
    uint64_t partial;   /* incomplete octet-counted frames dropped by finish          */
};

/* The framer: embed it (e.g. in the connection) and treat the other members
 * as private. */
struct clew_syslog_framer {
    struct clew_syslog_frame_stats stats;
    size_t max_msg; /* longest message delivered whole                       */
    int state;      /* private: where in a frame the stream is               */
    uint64_t count; /* octet count being read / of the current frame         */
    uint64_t skip;  /* bytes of an oversize frame still to discard           */
    char hdr[24];   /* the `LEN SP` bytes read so far (replayed on fallback) */
    size_t hdr_len;
    char *tail; /* incomplete message bytes (owned)                      */
    size_t tail_len;
    size_t tail_cap;
};

/* Initialises f for a new connection. max_msg is the largest message size
 * (0 = CLEW_SYSLOG_FRAME_DEFAULT_MAX; values below CLEW_SYSLOG_FRAME_MIN_MAX
 * are raised to it). Allocates nothing; cannot fail. */
void clew_syslog_framer_init(struct clew_syslog_framer *f, size_t max_msg);

/* Frees the tail buffer. f may be initialised again afterwards. NULL-safe. */
void clew_syslog_framer_close(struct clew_syslog_framer *f);

/* Consumes data[0..len) (borrowed until return) and calls cb(ud, ...) for
 * every message it completes, in stream order, before returning. Framing
 * rules, decided at each message start after skipping stray CR, LF and NUL:
 *  - `[1-9][0-9]* SP <`: octet counting; exactly LEN bytes are the message.
 *    LEN > max_msg: stats.oversize++ and the LEN bytes are skipped.
 *  - anything else (including digits not followed by `SP <`, i.e. garbage):
 *    a message ended by the next LF or NUL (a CR before the LF is dropped).
 *    Longer than max_msg: the first max_msg bytes are delivered with
 *    CLEW_SYSLOG_FRAME_TRUNCATED and the rest up to the delimiter is dropped.
 * Returns 0, or -ENOMEM if the tail buffer could not grow (the pending
 * message is then lost and the framer resynchronises at the next message;
 * the caller should drop the connection). */
int clew_syslog_framer_feed(struct clew_syslog_framer *f, const void *data, size_t len,
                            clew_syslog_frame_cb cb, void *ud);

/* Ends the stream (peer closed): a pending delimiter-framed message is
 * delivered with CLEW_SYSLOG_FRAME_EOF; a partial octet-counted frame is
 * dropped and counted in stats.partial. The framer is then ready for a new
 * stream (stats are kept). cb may run before this returns. */
void clew_syslog_framer_finish(struct clew_syslog_framer *f, clew_syslog_frame_cb cb, void *ud);

/* A datagram (UDP, unix dgram) holds one message, but some senders put an
 * RFC 6587 `LEN SP` prefix on it anyway (`logger --octet-count` does on
 * every transport). Returns the offset of the message in p[0..n): past the
 * prefix when p starts with `[1-9][0-9]* SP <` and LEN equals the bytes
 * after the prefix (or those bytes without trailing LF/CR/NUL), else 0.
 * Pure; any thread. */
size_t clew_syslog_datagram_offset(const char *p, size_t n);

#endif
