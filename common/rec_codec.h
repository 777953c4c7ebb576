/* SPDX-License-Identifier: MIT
 * rec_codec: the compact binary encoding of one struct clew_record, used by
 * the WAL (inside LZ4 frames) and the memtable arena. Pure; any thread.
 *
 * Layout (all integers LEB128 varints unless noted):
 *   ts        8 bytes, little-endian two's complement
 *   level     1 byte (0-7)
 *   input     1 byte (enum clew_input)
 *   flags     varint
 *   then 10 byte strings, each varint length + bytes, in this order:
 *   host, service, container_id, container_name, stream, message,
 *   trace_id, span_id, parent_span_id, fields
 * The encoding is canonical: decode(encode(r)) == r byte for byte. */
#ifndef CLEW_REC_CODEC_H
#define CLEW_REC_CODEC_H

#include <stddef.h>

#include "clew/record.h"
#include "common/buf.h"

/* Upper bound of one encoded string field, and so of a message. */
#define CLEW_REC_MAX_FIELD (64u << 20)

/* Appends the encoding of r to b. Returns 0, -ENOMEM, or CLEW_ETOOBIG when a
 * string exceeds CLEW_REC_MAX_FIELD (b is then unchanged). */
int clew_rec_encode(struct clew_buf *b, const struct clew_record *r);

/* Exact encoded size of r. */
size_t clew_rec_encoded_size(const struct clew_record *r);

/* Like clew_rec_encoded_size, but returns 0 when a string exceeds
 * CLEW_REC_MAX_FIELD (an encoding is never shorter than 21 bytes). */
size_t clew_rec_checked_size(const struct clew_record *r);

/* Writes the encoding of r at p, which must have room for
 * clew_rec_checked_size(r) bytes (non-zero: strings within the limit), and
 * returns the end of what was written. The bulk writers' form (the WAL
 * encodes a batch straight into its frame). */
uint8_t *clew_rec_encode_to(uint8_t *p, const struct clew_record *r);

/* Decodes one record at rd and advances it. The strings of out borrow rd's
 * memory. Returns 0, CLEW_ETRUNC, or CLEW_ECORRUPT (level > 7, bad input
 * value, oversized string); rd is not advanced on error. */
int clew_rec_decode(struct clew_rd *rd, struct clew_record *out);

/* Raw text size of r as a log line (the sum of its string lengths): the
 * "raw bytes" that clew stats and the benchmarks compare against. */
size_t clew_rec_raw_size(const struct clew_record *r);

#endif
