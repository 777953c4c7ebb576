/* SPDX-License-Identifier: MIT
 *
 * WAL FILE FORMAT, version 1 (also docs/FORMAT.md)
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
 *       32 clen  payload: one LZ4 block that decompresses to exactly
 *                rlen bytes: either LZ4_compress_fast's output (at the
 *                writer's acceleration) or a single literal run ("stored":
 *                token, 255-run length bytes, the raw bytes; see
 *                literal_head), which readers decode alike
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

static void put_frame_header(uint8_t *h, size_t clen, size_t rlen, uint32_t count, uint64_t seq)
{
    clew_store_u32(h, FRAME_MAGIC);
    clew_store_u32(h + 4, (uint32_t)clen);
    clew_store_u32(h + 8, (uint32_t)rlen);
    clew_store_u32(h + 12, count);
    clew_store_u64(h + 16, seq);
    clew_store_u64(h + FRAME_SUM_OFF, frame_sum(h, h + CLEW_WALF_FRAME_HEADER_LEN, clen));
}

/* Appends a frame whose payload is raw compressed at acceleration accel. */
static int encode_lz4(struct clew_buf *out, const void *raw, size_t raw_len, uint32_t count,
                      uint64_t seq, int accel)
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
    int clen = LZ4_compress_fast(raw, (char *)payload, (int)raw_len, bound, accel);
    if (clen <= 0) {
        return CLEW_ECORRUPT; /* cannot happen with a bound-sized destination */
    }
    put_frame_header(h, (size_t)clen, raw_len, count, seq);
    out->len += CLEW_WALF_FRAME_HEADER_LEN + (size_t)clen;
    return 0;
}

int clew_walf_encode(struct clew_buf *out, const void *raw, size_t raw_len, uint32_t count,
                     uint64_t seq)
{
    return encode_lz4(out, raw, raw_len, count, seq, CLEW_WALF_LZ4_ACCEL);
}

/* Bytes of the token and length bytes of an LZ4 literal run of n bytes. */
static size_t literal_head_len(size_t n)
{
    return 1 + (n >= 15 ? (n - 15) / 255 + 1 : 0);
}

/* Writes the token and length bytes of one literal run of n bytes, the
 * whole of an LZ4 block (LZ4 block format: the high nibble of the token
 * counts literals, 15 meaning that bytes follow, each 255 adding to it,
 * the first byte under 255 ending the count). Returns the end. */
static uint8_t *literal_head(uint8_t *p, size_t n)
{
    if (n < 15) {
        *p++ = (uint8_t)(n << 4);
        return p;
    }
    *p++ = 0xF0;
    size_t rest = n - 15;
    memset(p, 255, rest / 255);
    p += rest / 255;
    *p++ = (uint8_t)(rest % 255);
    return p;
}

/* Sums the encoded sizes of recs[0..n); CLEW_ETOOBIG past the limits. */
static int records_size(const struct clew_record *recs, size_t n, size_t *out)
{
    if (n > UINT32_MAX) {
        return CLEW_ETOOBIG;
    }
    size_t raw = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = clew_rec_checked_size(&recs[i]);
        if (k == 0) {
            return CLEW_ETOOBIG;
        }
        raw += k;
        if (raw > CLEW_WALF_MAX_RAW) {
            return CLEW_ETOOBIG;
        }
    }
    *out = raw;
    return 0;
}

int clew_walf_encode_records(struct clew_buf *out, struct clew_buf *scratch,
                             const struct clew_record *recs, size_t n, uint64_t seq, int lz4_accel)
{
    size_t raw;
    int rc = records_size(recs, n, &raw);
    if (rc < 0) {
        return rc;
    }
    if (lz4_accel > 0) {
        clew_buf_reset(scratch);
        if ((rc = clew_buf_reserve(scratch, raw)) < 0) {
            return rc;
        }
        uint8_t *p = scratch->data;
        for (size_t i = 0; i < n; i++) {
            p = clew_rec_encode_to(p, &recs[i]);
        }
        scratch->len = raw;
        return encode_lz4(out, scratch->data, raw, (uint32_t)n, seq, lz4_accel);
    }
    size_t clen = literal_head_len(raw) + raw;
    if ((rc = clew_buf_reserve(out, CLEW_WALF_FRAME_HEADER_LEN + clen)) < 0) {
        return rc;
    }
    uint8_t *h = out->data + out->len;
    uint8_t *p = literal_head(h + CLEW_WALF_FRAME_HEADER_LEN, raw);
    for (size_t i = 0; i < n; i++) {
        p = clew_rec_encode_to(p, &recs[i]);
    }
    put_frame_header(h, clen, raw, (uint32_t)n, seq);
    out->len += CLEW_WALF_FRAME_HEADER_LEN + clen;
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
