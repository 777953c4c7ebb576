/* SPDX-License-Identifier: MIT
 *
 * WAL FILE FORMAT, version 1 (also docs/FORMAT_WAL.md)
 *
 * A WAL file is DATA/wal/<gen as 16 lowercase hex digits>.wal. It holds a
 * 32-byte file header followed by zero or more frames. All integers are
 * little-endian.
 *
 * File header (CLEW_WALF_FILE_HEADER_LEN = 32 bytes):
 *
 *   offset size  field
 *        0    8  magic, the ASCII bytes "CLEW-WAL"
 *        8    4  version, 1
 *       12    4  reserved, 0
 *       16    8  generation (equals the number in the file name)
 *       24    4  reserved, 0
 *       28    4  header checksum: XXH32(bytes 0..27, seed 0)
 *
 * Frame (CLEW_WALF_FRAME_HEADER_LEN = 32 bytes of header, then payload):
 *
 *   offset size  field
 *        0    4  frame magic 0x464C5743 (the bytes "CWLF")
 *        4    4  clen: compressed payload length, 1..LZ4_COMPRESSBOUND(rlen)
 *        8    4  rlen: raw payload length, 0..CLEW_WALF_MAX_RAW (64 MiB)
 *       12    4  count: records in the payload, count * 21 <= rlen
 *       16    8  seq: the frame's sequence number
 *       24    8  checksum: XXH3_64bits_withSeed(payload, clen,
 *                                               XXH3_64bits(bytes 0..23))
 *       32 clen  payload: one LZ4 block (LZ4_compress_fast, acceleration
 *                CLEW_WALF_LZ4_ACCEL) that decompresses to exactly rlen
 *                bytes
 *
 * The raw payload is count rec_codec encodings (common/rec_codec.h) back to
 * back, with nothing before, between or after them. The checksum covers the
 * header fields (through the seed) and the compressed payload.
 *
 * Validity. A file header is valid when its magic, version, reserved words
 * and checksum are right. A frame is valid when its magic is right, its
 * sizes are in the ranges above, the file holds all 32 + clen bytes, the
 * checksum matches, the LZ4 block decompresses to exactly rlen bytes, and
 * the payload decodes as exactly count records. Within one file, every
 * frame's seq is the previous frame's seq + 1 (checked by the reader,
 * collector/wal.c); seq keeps increasing across generations.
 *
 * Recovery. Frames are read in order from offset 32. The first frame that
 * is not valid ends the good prefix of the file: every frame before it is
 * good, it and everything after it are the tail. A tail that ends inside a
 * frame (CLEW_ETRUNC) is a torn write; any other failure is CLEW_ECORRUPT.
 * Neither is an error for the file as a whole: on restart the writer cuts
 * the tail (ftruncate to the good prefix, fsync) and then starts a new
 * generation; the old file is never appended to again. Readers of a live
 * directory read the good prefix and leave the file alone. A file shorter
 * than the file header, or whose header is all zero bytes (created, header
 * not yet on disk), holds no records. A header with another magic is not a
 * WAL file (CLEW_EFORMAT); another version is CLEW_EVERSION; a bad header
 * checksum is CLEW_ECORRUPT.
 *
 * Writers append whole frames with one write, so a crash leaves at most one
 * torn frame at the end; a frame is acknowledged only after an fdatasync
 * that began after its write completed.
 */
#include "common/wal_format.h"

#include <errno.h>
#include <lz4.h>
#include <string.h>
#include <xxhash.h>

#include "clew/error.h"
#include "common/rec_codec.h"

static const uint8_t file_magic[8] = { 'C', 'L', 'E', 'W', '-', 'W', 'A', 'L' };
#define FRAME_MAGIC     0x464C5743u /* "CWLF" little-endian */
#define FRAME_MAGIC_LEN 4
#define FRAME_SUM_OFF   24

int clew_walf_file_header(struct clew_buf *out, uint64_t gen)
{
    uint8_t h[CLEW_WALF_FILE_HEADER_LEN] = { 0 };
    memcpy(h, file_magic, sizeof(file_magic));
    clew_store_u32(h + 8, CLEW_WALF_VERSION);
    clew_store_u64(h + 16, gen);
    clew_store_u32(h + 28, XXH32(h, 28, 0));
    return clew_buf_append(out, h, sizeof(h));
}

int clew_walf_parse_file_header(const uint8_t *p, size_t len, uint64_t *gen)
{
    size_t m = len < sizeof(file_magic) ? len : sizeof(file_magic);
    if (m > 0 && memcmp(p, file_magic, m) != 0) {
        return CLEW_EFORMAT;
    }
    if (len < CLEW_WALF_FILE_HEADER_LEN) {
        return CLEW_ETRUNC;
    }
    if (clew_load_u32(p + 8) != CLEW_WALF_VERSION) {
        return CLEW_EVERSION;
    }
    if (clew_load_u32(p + 12) != 0 || clew_load_u32(p + 24) != 0 ||
        clew_load_u32(p + 28) != XXH32(p, 28, 0)) {
        return CLEW_ECORRUPT;
    }
    *gen = clew_load_u64(p + 16);
    return 0;
}

static uint64_t frame_sum(const uint8_t *hdr, const uint8_t *payload, size_t clen)
{
    return XXH3_64bits_withSeed(payload, clen, XXH3_64bits(hdr, FRAME_SUM_OFF));
}

int clew_walf_encode(struct clew_buf *out, const void *raw, size_t raw_len, uint32_t count,
                     uint64_t seq)
{
    if (raw_len > CLEW_WALF_MAX_RAW) {
        return CLEW_ETOOBIG;
    }
    int bound = LZ4_compressBound((int)raw_len);
    int rc = clew_buf_reserve(out, CLEW_WALF_FRAME_HEADER_LEN + (size_t)bound);
    if (rc < 0) {
        return rc;
    }
    uint8_t *h = out->data + out->len;
    uint8_t *payload = h + CLEW_WALF_FRAME_HEADER_LEN;
    int clen = LZ4_compress_fast(raw, (char *)payload, (int)raw_len, bound, CLEW_WALF_LZ4_ACCEL);
    if (clen <= 0) {
        return CLEW_ECORRUPT; /* cannot happen with a bound-sized destination */
    }
    clew_store_u32(h, FRAME_MAGIC);
    clew_store_u32(h + 4, (uint32_t)clen);
    clew_store_u32(h + 8, (uint32_t)raw_len);
    clew_store_u32(h + 12, count);
    clew_store_u64(h + 16, seq);
    clew_store_u64(h + FRAME_SUM_OFF, frame_sum(h, payload, (size_t)clen));
    out->len += CLEW_WALF_FRAME_HEADER_LEN + (size_t)clen;
    return 0;
}

int clew_walf_frame_len(const uint8_t *p, size_t len, size_t *frame_len)
{
    uint8_t magic[FRAME_MAGIC_LEN];
    clew_store_u32(magic, FRAME_MAGIC);
    size_t m = len < FRAME_MAGIC_LEN ? len : FRAME_MAGIC_LEN;
    if (m > 0 && memcmp(p, magic, m) != 0) {
        return CLEW_ECORRUPT;
    }
    if (len < CLEW_WALF_FRAME_HEADER_LEN) {
        return CLEW_ETRUNC;
    }
    uint32_t clen = clew_load_u32(p + 4);
    uint32_t rlen = clew_load_u32(p + 8);
    uint32_t count = clew_load_u32(p + 12);
    if (rlen > CLEW_WALF_MAX_RAW || clen == 0 || clen > (uint32_t)LZ4_COMPRESSBOUND(rlen) ||
        (uint64_t)count * CLEW_WALF_MIN_RECORD > rlen) {
        return CLEW_ECORRUPT;
    }
    *frame_len = CLEW_WALF_FRAME_HEADER_LEN + (size_t)clen;
    return 0;
}

/* The payload must be exactly count records and nothing else. */
static int check_records(const struct clew_buf *raw, uint32_t count)
{
    if (raw->len == 0) {
        return count == 0 ? 0 : CLEW_ECORRUPT; /* raw->data may be NULL */
    }
    struct clew_rd rd;
    clew_rd_init(&rd, raw->data, raw->len);
    for (uint32_t i = 0; i < count; i++) {
        struct clew_record rec;
        if (clew_rec_decode(&rd, &rec) < 0) {
            return CLEW_ECORRUPT;
        }
    }
    return clew_rd_left(&rd) == 0 ? 0 : CLEW_ECORRUPT;
}

int clew_walf_decode(const uint8_t *p, size_t len, struct clew_buf *raw,
                     struct clew_walf_frame *out)
{
    clew_buf_reset(raw);
    size_t flen;
    int rc = clew_walf_frame_len(p, len, &flen);
    if (rc < 0) {
        return rc;
    }
    if (len < flen) {
        return CLEW_ETRUNC;
    }
    const uint8_t *payload = p + CLEW_WALF_FRAME_HEADER_LEN;
    size_t clen = flen - CLEW_WALF_FRAME_HEADER_LEN;
    uint32_t rlen = clew_load_u32(p + 8);
    uint32_t count = clew_load_u32(p + 12);
    if (clew_load_u64(p + FRAME_SUM_OFF) != frame_sum(p, payload, clen)) {
        return CLEW_ECORRUPT;
    }
    if ((rc = clew_buf_reserve(raw, rlen)) < 0) {
        return rc;
    }
    /* clen <= LZ4_COMPRESSBOUND(64 MiB) and rlen <= 64 MiB both fit an int. */
    int n = LZ4_decompress_safe((const char *)payload, (char *)raw->data, (int)clen, (int)rlen);
    if (n < 0 || (uint32_t)n != rlen) {
        return CLEW_ECORRUPT;
    }
    raw->len = rlen;
    if (check_records(raw, count) < 0) {
        clew_buf_reset(raw);
        return CLEW_ECORRUPT;
    }
    out->frame_len = flen;
    out->count = count;
    out->seq = clew_load_u64(p + 16);
    return 0;
}
