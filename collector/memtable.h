/* SPDX-License-Identifier: MIT
 * memtable: the records of one WAL generation that are not yet sealed into
 * segments, held in memory so queries see them at once. Owns copies of the
 * records (structs and strings in chunks that never move; records of one
 * label tuple share one copy of their labels). Not thread-safe: the store
 * serialises writers and readers with its lock. */
#ifndef CLEW_MEMTABLE_H
#define CLEW_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"

struct clew_memtable;

/* A new, empty memtable for WAL generation gen; NULL on OOM. */
struct clew_memtable *clew_memtable_new(uint64_t gen);
/* NULL-safe. */
void clew_memtable_free(struct clew_memtable *m);

/* Copies r into the memtable. Returns 0 or -ENOMEM (then nothing added). */
int clew_memtable_add(struct clew_memtable *m, const struct clew_record *r);

uint64_t clew_memtable_gen(const struct clew_memtable *m);
size_t clew_memtable_count(const struct clew_memtable *m);
/* Sum of clew_rec_raw_size of the records, and the memory held. */
size_t clew_memtable_raw_bytes(const struct clew_memtable *m);
size_t clew_memtable_mem_bytes(const struct clew_memtable *m);
/* Monotonic time of the first add (0 while empty). */
int64_t clew_memtable_first_mono(const struct clew_memtable *m);

/* Record i in arrival order; valid until the memtable is freed. */
const struct clew_record *clew_memtable_get(const struct clew_memtable *m, size_t i);

/* Marks the memtable frozen: further adds are a programming error, and
 * readers on any thread may then read it without a lock. */
void clew_memtable_freeze(struct clew_memtable *m);

/* A copy of the record array sorted by ts, arrival order kept among equal
 * times (a stable merge sort, fast on nearly sorted input). The copies'
 * strings borrow the memtable. Caller clew_free()s; NULL on OOM. */
struct clew_record *clew_memtable_sorted(const struct clew_memtable *m);

#endif
