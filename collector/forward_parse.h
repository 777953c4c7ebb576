/* SPDX-License-Identifier: MIT
 * forward_parse: a pure, per-connection streaming decoder for the Fluent
 * Forward protocol v1 (Message, Forward, PackedForward and gzip
 * CompressedPackedForward modes, as Fluentd, Fluent Bit, fluent-logger and
 * Docker's fluentd driver send them). The caller feeds raw TCP bytes and pulls
 * events: one per entry, one per skipped entry or request, and one END per
 * request carrying its ack `chunk`. The decoder owns every byte an event
 * points to; the libuv input (in_forward) owns the socket, the acks and the
 * receive-time fallback. One thread at a time per decoder. */
#ifndef CLEW_FORWARD_PARSE_H
#define CLEW_FORWARD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"

/* Limits; 0 means the default. Every size a peer controls is capped here. */
struct clew_fwd_opts {
    size_t max_buffer;   /* undecoded bytes held; one request must fit (8 MiB) */
    size_t max_inflated; /* inflated bytes of one compressed request (64 MiB)  */
    size_t max_nodes;    /* msgpack values in one request or entry (1 Mi)      */
    int reference;       /* tests: decode with msgpack-c and print JSON with
                            jansson only, the slow reference the fast paths
                            must match event for event                      */
};

#define CLEW_FWD_DEFAULT_MAX_BUFFER   (8u << 20)
#define CLEW_FWD_DEFAULT_MAX_INFLATED (64u << 20)
#define CLEW_FWD_DEFAULT_MAX_NODES    (1u << 20)
#define CLEW_FWD_MAX_CHUNK            256 /* longer `chunk` options are rejected */

/* Events come in stream order. A request yields its RECORD and entry-SKIP
 * events, then one END; the caller answers {"ack": chunk} (when chunk is not
 * empty) once every RECORD since the previous END is durable, and in END
 * order. A SKIP with mode NONE is a top-level value dropped whole (no END,
 * hence no ack even if it carried a chunk). */
enum clew_fwd_kind {
    CLEW_FWD_RECORD = 1, /* rec holds one entry                                  */
    CLEW_FWD_END = 2,    /* the request's entries are all out                    */
    CLEW_FWD_SKIP = 3,   /* an entry or a whole request was dropped: see error   */
};

enum clew_fwd_mode {
    CLEW_FWD_MODE_NONE = 0, /* not (yet) recognised as a request */
    CLEW_FWD_MODE_MESSAGE = 1,
    CLEW_FWD_MODE_FORWARD = 2,
    CLEW_FWD_MODE_PACKED = 3,
    CLEW_FWD_MODE_COMPRESSED = 4,
};

/* One decoded unit. Every pointer in it (record strings, tag, chunk,
 * compressed; none NUL-terminated) stays valid until the next call of
 * clew_fwd_decoder_next, clew_fwd_decoder_feed or clew_fwd_decoder_free on
 * the same decoder: copy what must live longer (the record into the
 * pipeline, the chunk id until its ack is sent).
 *
 * Record mapping: `message`, else Docker's `log` (byte-exact; a non-string
 * becomes its JSON text) -> message; `host`/`hostname` -> host; service = the
 * first non-empty of `service`, `service.name`, `app`,
 * `com.docker.compose.service`, the container name, the tag; `level` /
 * `severity` (a name clew_level_parse knows or 0-7) -> level, else stderr 3,
 * otherwise 6; `container_id`, `container_name` (leading '/' dropped) and
 * `source`/`stream` ("stdout"/"stderr" only) -> labels; `trace_id`,
 * `span_id`, `parent_span_id` -> ids, lower-cased. Every other key, Docker's
 * `partial_*` included (no reassembly here), goes to fields, a compact JSON
 * object that starts with "tag" and holds Fluent Bit's entry metadata under
 * "metadata"; strings there get U+FFFD for invalid UTF-8, EventTime values
 * become RFC 3339 strings. A `traceparent` key is left in fields for the
 * correlation stage. */
struct clew_fwd_event {
    int kind;                   /* enum clew_fwd_kind                                   */
    int mode;                   /* enum clew_fwd_mode of the request                    */
    struct clew_record rec;     /* RECORD: input = CLEW_INPUT_FORWARD                   */
    int has_ts;                 /* RECORD: 0 = no/zero time sent: use the receive time  */
    struct clew_str tag;        /* the request's tag; empty on a SKIP of a non-request  */
    struct clew_str chunk;      /* RECORD, END: ack id; empty = no ack requested        */
    struct clew_str compressed; /* END: the `compressed` option as sent, or empty     */
    int64_t size;               /* END: the `size` option, -1 when absent               */
    uint32_t records;           /* END: RECORD events this request produced             */
    uint32_t skipped;           /* END: entries of this request that were dropped       */
    int error;                  /* SKIP: CLEW_EFORMAT (wrong structure or types),
                                   CLEW_ETRUNC (payload or gzip cut short),
                                   CLEW_ECORRUPT (bad gzip or msgpack inside a payload),
                                   CLEW_ETOOBIG (a configured limit was hit)            */
    const char *reason;         /* SKIP: static English text                            */
};

/* Counters since clew_fwd_decoder_new. */
struct clew_fwd_stats {
    uint64_t requests;     /* recognised requests (END events)            */
    uint64_t records;      /* RECORD events                               */
    uint64_t bad_entries;  /* SKIPs of single entries                     */
    uint64_t bad_requests; /* SKIPs of whole top-level values             */
    uint64_t keepalives;   /* top-level nil values, ignored               */
    uint64_t bytes;        /* bytes fed                                   */
};

struct clew_fwd_decoder;

/* Creates a decoder; opts may be NULL (all defaults). Returns 0 and sets *out,
 * or -ENOMEM (then *out is NULL). Free it with clew_fwd_decoder_free. */
int clew_fwd_decoder_new(const struct clew_fwd_opts *opts, struct clew_fwd_decoder **out);

/* Frees the decoder and everything its events point to; NULL is a no-op. */
void clew_fwd_decoder_free(struct clew_fwd_decoder *d);

/* Appends len bytes of the stream (copied; borrowed until return). Call
 * clew_fwd_decoder_next until it returns -EAGAIN before feeding again, so
 * only an incomplete request is held. Returns 0; CLEW_ETOOBIG when the held
 * bytes would exceed max_buffer (nothing appended); -ENOMEM; or the fatal
 * error the decoder already failed with. CLEW_ETOOBIG and -ENOMEM are fatal:
 * the stream cannot be resumed, close the connection. */
int clew_fwd_decoder_feed(struct clew_fwd_decoder *d, const void *data, size_t len);

/* Decodes the next unit into *ev. Returns 0 with *ev filled (RECORD, END or
 * SKIP; call again), -EAGAIN when more bytes are needed, or a fatal error
 * after which every call returns the same code and the connection must be
 * closed: CLEW_ECORRUPT (bytes that are not msgpack: framing is lost),
 * CLEW_ETOOBIG (a request larger than max_buffer), -ENOMEM. A top-level nil
 * (keep-alive) is skipped silently; any other value that is not a request
 * array gives one SKIP and no END. A recognised request gives its RECORD and
 * entry SKIP events in order, then exactly one END, even when entries (or a
 * compressed payload) were bad, so the client is not made to resend data
 * that can never decode. No handshake: HELO/PING is only used with a shared
 * key, which clew does not configure (a PING arrives as a SKIP). */
int clew_fwd_decoder_next(struct clew_fwd_decoder *d, struct clew_fwd_event *ev);

/* Copies the counters into *out. */
void clew_fwd_decoder_stats(const struct clew_fwd_decoder *d, struct clew_fwd_stats *out);

#endif
