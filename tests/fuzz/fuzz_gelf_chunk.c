/* SPDX-License-Identifier: MIT
 * Fuzzes the GELF chunker with a sequence of datagrams cut from the input:
 * each is [flags][len lo][len hi][len bytes]; flags bits 0-1 advance the
 * clock (0, 1 ms, 1 s, 3 s), bit 2 prefixes the chunk magic, bit 3 runs
 * expire. Small caps make eviction and expiry frequent; completed messages
 * go on to clew_gelf_parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/gelf_chunk.h"
#include "collector/gelf_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t steps[4] = { 0, 1000000, 1000000000, 3000000000 };

static void consume(const void *msg, size_t len)
{
    struct clew_arena arena;
    struct clew_record rec;
    clew_arena_init(&arena, 1024);
    (void)clew_gelf_parse(msg, len, 1, NULL, &rec, &arena);
    clew_arena_close(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct clew_gelf_chunker_opts o = {
        .timeout_ns = 2000000000, .max_memory = 8192, .max_messages = 8, .seed = 1
    };
    struct clew_gelf_chunker *c = clew_gelf_chunker_new(&o);
    uint8_t dgram[2 + 65536];
    int64_t now = 0;
    size_t off = 0;
    while (c != NULL && size - off >= 3) {
        uint8_t flags = data[off];
        size_t n = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        off += 3;
        n = n < size - off ? n : size - off;
        size_t pre = flags & 4 ? 2 : 0;
        memcpy(dgram, "\x1e\x0f", pre);
        memcpy(dgram + pre, data + off, n);
        off += n;
        now += steps[flags & 3];
        const void *msg;
        size_t len;
        if (clew_gelf_chunker_add(c, dgram, n + pre, now, &msg, &len) == 1) {
            consume(msg, len);
        }
        if (flags & 8) {
            clew_gelf_chunker_expire(c, now);
        }
        struct clew_gelf_chunker_stats st;
        clew_gelf_chunker_stats(c, &st);
        if (st.memory > o.max_memory || st.in_flight > o.max_messages) {
            abort();
        }
    }
    clew_gelf_chunker_free(c);
    return 0;
}
