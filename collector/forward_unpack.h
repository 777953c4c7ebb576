/* SPDX-License-Identifier: MIT
 * forward_unpack: msgpack framing and object trees for forward_parse. The
 * scanner finds where one msgpack value ends without allocating (so a peer
 * cannot make the decoder reserve memory its bytes do not back); the tree
 * builder then turns exactly those bytes into the msgpack-c object tree
 * (msgpack_object, zero-copy: strings point into the bytes) that
 * msgpack_unpack would give, refusing the same values (containers nested
 * 32 deep), but with one reusable node array instead of a zone and a
 * state machine per byte. Pure; one thread at a time per tree. */
#ifndef CLEW_FORWARD_UNPACK_H
#define CLEW_FORWARD_UNPACK_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"

enum {
    CLEW_FWD_SCAN_DONE = 0, /* s->pos is the value's size, s->nodes its value count */
    CLEW_FWD_SCAN_MORE = 1, /* the bytes end inside the value                       */
    CLEW_FWD_SCAN_BAD = 2,  /* a c1 byte: not msgpack                               */
    CLEW_FWD_SCAN_BIG = 3,  /* the value would exceed max bytes                     */
};

/* Progress of the scanner over one value; resumable across calls as long
 * as the bytes before pos stay the same. */
struct clew_fwd_scan {
    size_t pos;       /* bytes of complete items so far */
    uint64_t pending; /* values still to read           */
    uint64_t nodes;   /* values read                    */
};

void clew_fwd_scan_reset(struct clew_fwd_scan *s);

/* Advances over p[0..len) towards the end of one value that may not
 * exceed max bytes (len <= max). Returns CLEW_FWD_SCAN_*. */
int clew_fwd_scan_value(struct clew_fwd_scan *s, const uint8_t *p, size_t len, size_t max);

/* An object tree and the memory its containers use. */
struct clew_fwd_tree {
    msgpack_object root;
    void *pool;         /* the containers' elements (direct builder) */
    size_t cap;         /* pool size in msgpack_object slots         */
    msgpack_zone *zone; /* the reference builder's memory    */
};

void clew_fwd_tree_init(struct clew_fwd_tree *t);
void clew_fwd_tree_close(struct clew_fwd_tree *t);

/* Builds t->root from p[0..len), which must be exactly one value that
 * clew_fwd_scan_value framed as DONE with `nodes` values. The tree borrows
 * p and is valid until the next build or close. ref = 1 uses
 * msgpack_unpack (the reference). Returns 0, CLEW_EFORMAT when containers
 * nest deeper than msgpack-c accepts, or -ENOMEM. */
int clew_fwd_tree_build(struct clew_fwd_tree *t, const uint8_t *p, size_t len, uint64_t nodes,
                        int ref);

/* The bytes of a str or bin object into *out (borrowing o): 1; other
 * types: 0. */
int clew_fwd_obj_str(const msgpack_object *o, struct clew_str *out);

#endif
