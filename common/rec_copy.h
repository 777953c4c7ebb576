/* SPDX-License-Identifier: MIT
 * rec_copy: deep copies of a record's strings into an arena, for the
 * places that must keep a record beyond its source buffer (pipeline
 * batches, the HTTP inbox, memtables, readers). Pure; any thread. */
#ifndef CLEW_REC_COPY_H
#define CLEW_REC_COPY_H

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

#endif
