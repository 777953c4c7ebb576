/* SPDX-License-Identifier: MIT
 * syslog_parse: decodes one syslog message (RFC 5424, RFC 3164 and the BSD
 * variants real senders use: no hostname, no timestamp, ISO timestamps,
 * Docker's formats) into a struct clew_record. The record's strings point
 * into the message or into the caller's arena; the parser owns nothing and
 * keeps no state. Pure (no I/O, no globals, no logging); any thread. Framing
 * (TCP streams, datagram lengths) lives in syslog_frame.c. */
#ifndef CLEW_SYSLOG_PARSE_H
#define CLEW_SYSLOG_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"
#include "common/arena.h"

/* Return values besides 0 and negative errors. */
enum {
    CLEW_SYSLOG_PARSE_NOPRI = 1, /* no valid <PRI>: kept as plain text (count it) */
};

/* Caps on structured data put into `fields` (protect against quadratic
 * duplicate checks); elements or params beyond them are left out of fields
 * but still scanned for trace ids. */
#define CLEW_SYSLOG_MAX_SD_ELEMS  64
#define CLEW_SYSLOG_MAX_SD_PARAMS 256

struct clew_syslog_parse_opts {
    /* Time zone of RFC 3164 timestamps (which carry none): seconds east of
     * UTC, e.g. 3600 for UTC+01:00. Default (and NULL opts): 0, UTC. A fixed
     * offset, not a zone with DST rules: senders in a DST zone need the
     * offset adjusted by the caller. */
    int32_t bsd_tz_offset;
};

/* Parses msg[0..len) received at recv_ns (ns since the epoch) into *out,
 * which is cleared first. opts may be NULL (defaults).
 *
 * Mapping: level = PRI & 7; labels[HOST] = HOSTNAME ("" when absent or
 * "-"); labels[SERVICE] = APP-NAME or the BSD tag without "[pid]"; message =
 * MSG with a leading UTF-8 BOM (5424) and trailing LF/CR/NUL bytes removed,
 * otherwise byte-exact; ts = the message's timestamp, or recv_ns when it has
 * none (or an unparsable one); input = CLEW_INPUT_SYSLOG; fields = a JSON
 * object text {"facility": name, "procid": .., "msgid": .., "<SD-ID>":
 * {"<PARAM>": "<value>", ...}, ...} (absent keys left out; values are JSON
 * strings; invalid UTF-8 and NUL in them become U+FFFD, the message stays
 * byte-exact). SD-PARAMs named trace_id, span_id, parent_span_id in any
 * element set those record fields (first one wins, lower-cased).
 *
 * RFC 3164 timestamps (`Mmm dd hh:mm:ss`, optional fraction) are local time
 * in opts->bsd_tz_offset; the year is the one (of recv's year -1, 0, +1)
 * that puts the time nearest to recv_ns, which also handles Dec/Jan wrap.
 *
 * Out of the ordinary but kept: a message without a valid <PRI> (0-191)
 * returns CLEW_SYSLOG_PARSE_NOPRI with level CLEW_LEVEL_DEFAULT, ts =
 * recv_ns, the whole (trimmed) text as message and no other fields; a 5424
 * header that does not parse falls back to the BSD rules, and BSD text whose
 * header does not parse is kept whole (after PRI and timestamp) as message.
 *
 * Strings of *out borrow msg (keep it alive as long as the record) or are
 * allocated in arena. Returns 0 (syslog parsed), CLEW_SYSLOG_PARSE_NOPRI,
 * or -ENOMEM (arena exhausted; *out is then incomplete). The caller sets
 * CLEW_REC_TRUNCATED itself when the framer cut the message. */
int clew_syslog_parse(const char *msg, size_t len, int64_t recv_ns,
                      const struct clew_syslog_parse_opts *opts, struct clew_record *out,
                      struct clew_arena *arena);

/* The facility name of facility number fac (0-23): "kern", "user", ...,
 * "local7"; "unknown" otherwise. Static string. */
const char *clew_syslog_facility_name(unsigned fac);

#endif
