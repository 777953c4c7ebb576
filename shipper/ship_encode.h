/* SPDX-License-Identifier: MIT
 * ship_encode: the msgpack the shipper sends. One entry per record,
 * [EventTime, {"log": msg, "stream": s, <per-file pairs>, <attrs>}], where
 * the per-file pairs (host, container_id, container_name, service, image,
 * pod, namespace, ...) are encoded once per file into a struct
 * clew_ship_fixed and copied in; a listener's record goes whole, fields
 * included (clew_ship_record_encode). Requests are PackedForward:
 * [tag, bin(entries), {"chunk": id, "size": n}] or, gzipped,
 * CompressedPackedForward with "compressed": "gzip". Pure; any thread. */
#ifndef CLEW_SHIP_ENCODE_H
#define CLEW_SHIP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"
#include "common/buf.h"

/* Pre-encoded key/value pairs (msgpack str -> str). */
struct clew_ship_fixed {
    struct clew_buf kv;
    uint32_t npairs;
};

void clew_ship_fixed_init(struct clew_ship_fixed *f);
void clew_ship_fixed_close(struct clew_ship_fixed *f);

/* Adds key -> val (val of vlen bytes); an empty val is skipped. Returns 0 or
 * -ENOMEM. */
int clew_ship_fixed_add(struct clew_ship_fixed *f, const char *key, const char *val, size_t vlen);

/* Whether f already has a pair with this key. */
int clew_ship_fixed_has(const struct clew_ship_fixed *f, const char *key, size_t klen);

/* What one entry holds besides the fixed pairs. */
struct clew_ship_entry {
    int64_t ts;                       /* ns since the epoch                    */
    int stream;                       /* 0 stdout, 1 stderr, -1 none            */
    struct clew_str msg;              /* the `log` value                        */
    const struct clew_str *attr_keys; /* extra pairs (Docker attrs)    */
    const struct clew_str *attr_vals;
    size_t nattrs;
    unsigned flags; /* CLEW_REC_TRUNCATED adds "truncated": "true" */
    int partial;    /* adds "partial": "true"                 */
};

/* Appends one entry to out. Attrs whose key is a built-in or fixed key are
 * skipped. Returns 0 or -ENOMEM (out unchanged). */
int clew_ship_entry_encode(struct clew_buf *out, const struct clew_ship_entry *e,
                           const struct clew_ship_fixed *fx);

/* Depth of nested objects and arrays inside a field that go as msgpack;
 * deeper values go as their JSON text (the collector's msgpack decoder
 * refuses an entry nested beyond 32 levels). */
#define CLEW_SHIP_MAX_DEPTH 16

/* Appends one entry that carries a whole record (a listener's syslog or
 * GELF record), with keys the collector's Forward decoder maps back:
 * [EventTime(ts), {"message", "host", "service", "container_id",
 * "container_name", "stream", "level" (integer), "trace_id", "span_id",
 * "parent_span_id", "input" (its name: "syslog", "gelf", ...), "truncated":
 * "true" (CLEW_REC_TRUNCATED), then every pair of r->fields as msgpack
 * (strings, integers, reals, booleans, null, arrays, maps)}]. Empty
 * strings are left out, except host. The record's own keys come first, so a
 * field of the same name does not replace them (the collector takes the
 * first). Fields that are not a JSON object go whole as "fields": text.
 * Returns 0 or -ENOMEM (out unchanged). */
int clew_ship_record_encode(struct clew_buf *out, const struct clew_record *r);

#define CLEW_SHIP_HEAD_MAX 300

/* Writes the request head [tag, bin32 header of payload_len] into head
 * (CLEW_SHIP_HEAD_MAX bytes; the tag is cut at 250 bytes). Returns its
 * length. */
size_t clew_ship_request_head(uint8_t *head, const char *tag, size_t payload_len);

/* Appends the options map {"chunk": chunk, "size": count[, "compressed":
 * "gzip"]} to out. Returns 0 or -ENOMEM. */
int clew_ship_request_tail(struct clew_buf *out, const char *chunk, uint32_t count, int gzip);

/* Appends gzip(in) at level (1-9) to out. Returns 0, -ENOMEM or
 * CLEW_ECORRUPT (zlib failure). */
int clew_ship_gzip(struct clew_buf *out, const void *in, size_t len, int level);

#endif
