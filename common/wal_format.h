/* SPDX-License-Identifier: MIT
 * wal_format: the on-disk layout of one WAL file, shared by the writer
 * (collector/wal.c) and by readers (replay, and query/ reading a live data
 * directory). Pure: no I/O, no globals; any thread. The byte layout and the
 * validity rules are documented at the top of wal_format.c and in
 * docs/FORMAT.md.
 *
 * A WAL file is a file header followed by frames. A frame holds a batch of
 * records (rec_codec encodings back to back), LZ4-compressed, with a
 * checksum over header and payload. A frame that is incomplete or fails its
 * checksum ends the valid part of the file: everything before it is good. */
#ifndef CLEW_WAL_FORMAT_H
#define CLEW_WAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"
#include "common/buf.h"

#define CLEW_WALF_VERSION          1
#define CLEW_WALF_FILE_HEADER_LEN  32
#define CLEW_WALF_FRAME_HEADER_LEN 32
#define CLEW_WALF_MAX_RAW          (64u << 20) /* largest uncompressed frame payload */
/* LZ4 acceleration of a compressing writer (LZ4_compress_fast) and the
 * default of a bare clew_wal_open: the WAL is short-lived and written on
 * the hot path, so speed matters more than its size. On the benchmark's
 * records: default (1) 657 ns and 69 B a record, 8: 522 ns and 92 B, 16:
 * 367 ns and 113 B, 32: 297 ns and 161 B; stored frames (acceleration 0,
 * the store's default) ~0 ns and 245 B. Any value decodes the same way. */
#define CLEW_WALF_LZ4_ACCEL 16
/* Smallest rec_codec encoding (ts, level, input, flags, ten empty strings):
 * a frame of count records has at least count * this many raw bytes. */
#define CLEW_WALF_MIN_RECORD 21

/* Appends a file header for WAL generation gen to out. Returns 0 or
 * -ENOMEM (out is then unchanged). */
int clew_walf_file_header(struct clew_buf *out, uint64_t gen);

/* Checks a file header; sets *gen. Returns 0, CLEW_ETRUNC (len < the
 * header), CLEW_EFORMAT (bad magic, checked on the bytes present even when
 * len is short), CLEW_EVERSION or CLEW_ECORRUPT (checksum, reserved
 * words). */
int clew_walf_parse_file_header(const uint8_t *p, size_t len, uint64_t *gen);

/* Appends one frame holding raw (count encoded records, raw_len bytes) to
 * out. seq is the frame's sequence number within the WAL (monotonic across
 * generations); it is stored and returned by decode. Returns 0, -ENOMEM or
 * CLEW_ETOOBIG (raw_len > CLEW_WALF_MAX_RAW). */
int clew_walf_encode(struct clew_buf *out, const void *raw, size_t raw_len, uint32_t count,
                     uint64_t seq);

/* Appends one frame holding the rec_codec encodings of recs[0..n) to out:
 * the writer's form of clew_walf_encode, without a separate raw buffer.
 * lz4_accel > 0 compresses the payload (LZ4_compress_fast at that
 * acceleration; the records are encoded into scratch first). lz4_accel == 0
 * stores it: the payload is one LZ4 block made of a single literal run, so
 * the records are encoded straight into out and any LZ4 decoder reads the
 * frame (rlen + rlen / 255 + 1 bytes instead of ~40% of rlen, for a few
 * percent of the CPU). Returns 0, -ENOMEM, or CLEW_ETOOBIG (a string over
 * CLEW_REC_MAX_FIELD, more than UINT32_MAX records, or more than
 * CLEW_WALF_MAX_RAW raw bytes); out's contents before the call are kept
 * either way, and scratch's are not. */
int clew_walf_encode_records(struct clew_buf *out, struct clew_buf *scratch,
                             const struct clew_record *recs, size_t n, uint64_t seq, int lz4_accel);

/* The result of decoding one frame. */
struct clew_walf_frame {
    size_t frame_len; /* bytes the frame occupies in the file */
    uint32_t count;   /* records in the payload               */
    uint64_t seq;
};

/* Checks the frame header at the start of p[0..len) (magic and sizes, not
 * the checksum) and sets *frame_len to the bytes the whole frame occupies,
 * so a streaming reader knows how much to read. Returns 0; CLEW_ETRUNC when
 * len < CLEW_WALF_FRAME_HEADER_LEN (the magic is still checked on the bytes
 * present); CLEW_ECORRUPT for a bad magic or impossible sizes. */
int clew_walf_frame_len(const uint8_t *p, size_t len, size_t *frame_len);

/* Decodes the frame at the start of p[0..len) and replaces raw's contents
 * with its decompressed payload (raw is left empty on error). Returns 0;
 * CLEW_ETRUNC when p ends inside the frame (a torn tail, or more bytes are
 * yet to come); CLEW_ECORRUPT for a bad magic, checksum, size or LZ4 stream,
 * or a payload that is not exactly count rec_codec records; -ENOMEM. No
 * length is used before it is checked against len and CLEW_WALF_MAX_RAW. */
int clew_walf_decode(const uint8_t *p, size_t len, struct clew_buf *raw,
                     struct clew_walf_frame *out);

#endif
