/* SPDX-License-Identifier: MIT
 * rec_copy: deep copies of a record's strings into an arena, for the
 * places that must keep a record beyond its source buffer (pipeline
 * batches, the HTTP inbox, memtables, readers). Pure; any thread. */
#ifndef CLEW_REC_COPY_H
#define CLEW_REC_COPY_H

#include <stdint.h>
#include <string.h>

#include "clew/record.h"
#include "common/arena.h"

/* The ten strings of a record, in storage order: labels, message,
 * trace_id, span_id, parent_span_id, fields. */
#define CLEW_REC_NSTRINGS 10
void clew_rec_strings(struct clew_record *r, struct clew_str *out[CLEW_REC_NSTRINGS]);

/* *dst = *src with every string copied into a (empty strings need no
 * memory). dst may be src. Returns 0 or -ENOMEM (then dst's strings are
 * partly copied and must not be used). */
int clew_rec_copy(struct clew_record *dst, const struct clew_record *src, struct clew_arena *a);

/* memcpy(dst, src, n) for the short strings records are made of (labels,
 * ids: a few to 32 bytes): fixed-size moves instead of a library call,
 * which dominates copies this short. dst and src must not overlap. */
static inline void clew_rec_memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (n > 32) {
        memcpy(d, s, n);
    } else if (n >= 16) {
        memcpy(d, s, 16); /* two overlapping halves cover 16..32 bytes */
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* The id a record links its trace to: the string value of "link_id" in
 * its fields (as the correlation stage, or an input's `_link_id`, puts it
 * there). Sets *out to a view into r->fields and returns 1, or returns 0
 * when there is none (or it holds escapes: ids never do). */
int clew_rec_link_id(const struct clew_record *r, struct clew_str *out);

#endif
