/* SPDX-License-Identifier: MIT
 * arena: a bump allocator for the strings of decoded records. Memory comes
 * in chunks that never move, so pointers stay valid until clew_arena_reset
 * or clew_arena_close; reset keeps the first chunk for reuse. One thread at
 * a time per arena. */
#ifndef CLEW_ARENA_H
#define CLEW_ARENA_H

#include <stddef.h>

struct clew_arena_chunk;

struct clew_arena {
    struct clew_arena_chunk *head; /* newest chunk first */
    size_t chunk_size;             /* default size of a new chunk */
    size_t used;                   /* bytes handed out since reset */
};

void clew_arena_init(struct clew_arena *a, size_t chunk_size);
void clew_arena_close(struct clew_arena *a);
void clew_arena_reset(struct clew_arena *a);
/* n bytes, 8-byte aligned; NULL on OOM. */
void *clew_arena_alloc(struct clew_arena *a, size_t n);
/* Copies n bytes (plus a NUL, not counted) into the arena; NULL on OOM. */
char *clew_arena_dup(struct clew_arena *a, const void *p, size_t n);

#endif
