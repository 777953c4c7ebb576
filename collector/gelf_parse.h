/* SPDX-License-Identifier: MIT
 * gelf_parse: one GELF payload (plain JSON, gzip or zlib, already reassembled
 * from UDP chunks) becomes one struct clew_record. Pure: no I/O, no globals, no
 * logging; any thread. Every string of the record is copied into the caller's
 * arena, so the record stays valid until that arena is reset; the payload is
 * only borrowed for the duration of the call. Chunk reassembly lives in
 * gelf_chunk.c, sockets in the GELF input. */
#ifndef CLEW_GELF_PARSE_H
#define CLEW_GELF_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"
#include "common/arena.h"

#define CLEW_GELF_DEFAULT_MAX_SIZE (1u << 20) /* decompressed payload cap: 1 MiB */

/* Errors of this module (besides CLEW_ETOOBIG and -ENOMEM); distinct so the
 * input can count each reason. clew_gelf_strerror() names them. */
enum {
    CLEW_GELF_EMAGIC = -10201,   /* < 2 bytes, 1f/78 without a valid header, or a chunk */
    CLEW_GELF_EINFLATE = -10202, /* gzip/zlib stream damaged or cut short           */
    CLEW_GELF_EJSON = -10203,    /* not JSON, even after the UTF-8 repair           */
    CLEW_GELF_ENOTOBJ = -10204,  /* valid JSON but not an object                    */
    CLEW_GELF_ENOMSG = -10205,   /* no short_message, message or full_message string */
};

/* What clew_gelf_sniff() sees in the first two bytes (GELF spec §3). */
enum clew_gelf_kind {
    CLEW_GELF_PLAIN = 0,
    CLEW_GELF_GZIP = 1,
    CLEW_GELF_ZLIB = 2,
    CLEW_GELF_CHUNK = 3,
};

/* Counters the parser bumps when the caller passes them (optional). */
struct clew_gelf_stats {
    uint64_t repaired;  /* payloads whose strings needed the repair (see parse) */
    uint64_t truncated; /* messages cut at max_message                          */
};

/* A zlib stream and output buffer reused across payloads, so a compressed
 * message costs no stream set-up (about 4 us of the ~6 us it took). One
 * thread at a time; clew_gelf_inflater_free is NULL-safe. */
struct clew_gelf_inflater;
struct clew_gelf_inflater *clew_gelf_inflater_new(void);
void clew_gelf_inflater_free(struct clew_gelf_inflater *inf);

struct clew_gelf_parse_opts {
    size_t max_size;               /* payload cap after decompression; 0 = 1 MiB   */
    size_t max_message;            /* longer messages are cut; 0 = no cut          */
    struct clew_gelf_stats *stats; /* NULL = do not count                          */
    struct clew_gelf_inflater *inflater; /* NULL = a fresh stream per payload  */
};

/* Classifies a payload by its first two bytes: CLEW_GELF_CHUNK (1e 0f),
 * CLEW_GELF_GZIP (1f 8b), CLEW_GELF_ZLIB (78 xx with a valid RFC 1950 header
 * check), CLEW_GELF_PLAIN (any other first byte). Returns the kind, or
 * CLEW_GELF_EMAGIC for fewer than 2 bytes, 1e/1f followed by the wrong byte,
 * or 78 with a failing header check. */
int clew_gelf_sniff(const void *payload, size_t len);

/* Decodes one GELF payload into *out (zeroed first). Compression is detected
 * by clew_gelf_sniff; gzip/zlib are inflated up to opts->max_size bytes (a
 * bigger output fails with CLEW_ETOOBIG before more memory is taken; a plain
 * payload above max_size fails the same way). A chunk (1e 0f) is refused with
 * CLEW_GELF_EMAGIC: reassemble it first.
 *
 * JSON that jansson refuses is repaired once, inside strings only: invalid
 * UTF-8 bytes become U+FFFD (as Go's encoder does), raw control bytes become
 * \u00XX escapes (the byte survives), lone UTF-16 surrogate escapes become
 * \ufffd; opts->stats->repaired counts such payloads. \u0000 is accepted.
 * Messages are therefore byte-exact except for those replaced bytes.
 *
 * Mapping (the record, DESIGN.md):
 * - host: `host` string (may be ""); message: the first non-empty string of
 *   `short_message`, `message` (Graylog extension), `full_message`; when all
 *   present ones are "" the message is ""; when none is a string the payload
 *   fails with CLEW_GELF_ENOMSG. Longer than opts->max_message: cut at a UTF-8
 *   boundary, CLEW_REC_TRUNCATED set.
 * - ts: `timestamp` as seconds (integer, real or numeric string; a string may
 *   also be RFC 3339); a real keeps every decimal digit its double can hold
 *   (the fraction is rounded to the finest power of ten above the double's
 *   resolution: 1 µs for current dates). Absent, <= 0 or unreadable: recv_ns.
 * - level: `level` integer 0-7 or a name/digit string (clew_level_parse);
 *   otherwise `_stream` "stderr" gives 3, else 6.
 * - service: first non-empty of `_service`, `service`, `_service.name`,
 *   `service.name`, `_service`.name (nested), `_app`, `app`,
 *   `_com.docker.compose.service`, `_container_name` (leading '/' dropped),
 *   `_program` (syslog-ng).
 * - container_id / container_name / stream: `_container_id`,
 *   `_container_name` (leading '/' dropped), `_stream`.
 * - trace_id / span_id / parent_span_id: `_trace_id`, `_span_id`,
 *   `_parent_span_id` (or the names without '_'), lower-cased. A traceparent
 *   is left in fields for the correlation stage.
 * - fields: a compact JSON object of every other key, additional fields with
 *   their leading '_' stripped (`_request_id` -> "request_id"; Graylog's
 *   choice), in payload order; nested objects and arrays kept as JSON. The
 *   mapped extras (`_service`, `_container_id`, trace ids, ...) and
 *   `full_message` stay in fields too. Dropped: `version`, `_id` (spec), and
 *   `host`/`short_message`/`timestamp`/`level`/`message` when they were used
 *   above (an unusable value, e.g. a numeric host, stays in fields). When
 *   `x` and `_x` both exist, `_x` wins. No other key: fields is empty.
 * Returns 0, CLEW_GELF_E*, CLEW_ETOOBIG, or -ENOMEM (the arena may then hold
 * partial copies; *out must not be used). opts may be NULL. */
int clew_gelf_parse(const void *payload, size_t len, int64_t recv_ns,
                    const struct clew_gelf_parse_opts *opts, struct clew_record *out,
                    struct clew_arena *arena);

/* NUL framing of GELF over TCP: looks for the first NUL in buf. Returns the
 * number of bytes to consume (the message plus its NUL) and sets *msg_len to
 * the message length (0 for an empty frame, which the caller skips); returns
 * 0 when buf holds no NUL yet (keep the bytes and read more). */
size_t clew_gelf_nul_frame(const void *buf, size_t len, size_t *msg_len);

/* A static description of a CLEW_GELF_E* code, or clew_strerror(rc). */
const char *clew_gelf_strerror(int rc);

#endif
