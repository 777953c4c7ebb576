/* SPDX-License-Identifier: MIT
 * forward_unpack: the framing scanner and the object tree builder.
 *
 * The scanner keeps a single "values still to read" counter, so it needs no
 * stack and no allocation: a value declaring more bytes or more children
 * than max can hold fails before anything is reserved, and the builder only
 * ever sees counts backed by real bytes.
 *
 * The builder walks bytes the scanner framed, so every length it reads is
 * in bounds and every header is valid. It reproduces msgpack_unpack's tree:
 * positive signed integers are POSITIVE_INTEGER, float32 is FLOAT32 with
 * the value widened into f64, ext keeps its type byte apart, str/bin/ext
 * point into the input, a map's pairs are msgpack_object_kv. msgpack-c
 * refuses a container that opens while 32 others are open (its fixed
 * stack, MSGPACK_EMBED_STACK_SIZE), empty or not; so does the builder.
 * All containers' elements of one value take nodes - 1 slots, so one array
 * sized up front holds them and nothing moves while the tree is built. */
#include "collector/forward_unpack.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "clew/error.h"
#include "common/alloc.h"

#define MAX_DEPTH 32 /* msgpack-c's MSGPACK_EMBED_STACK_SIZE */

_Static_assert(sizeof(msgpack_object_kv) == 2 * sizeof(msgpack_object),
               "a map's pairs take two node slots");

/* ---- framing scanner ---- */

enum { K_FIXED, K_BYTES, K_EXT, K_ARRAY, K_MAP, K_BAD };

/* Headers c0..df: fixed total size, or the width of a length/count field. */
static const struct {
    uint8_t size, lenb, kind;
} heads[32] = {
    { 1, 0, K_FIXED },  { 0, 0, K_BAD },   { 1, 0, K_FIXED }, { 1, 0, K_FIXED }, /* c0-c3 */
    { 0, 1, K_BYTES },  { 0, 2, K_BYTES }, { 0, 4, K_BYTES },                    /* bin   */
    { 0, 1, K_EXT },    { 0, 2, K_EXT },   { 0, 4, K_EXT },                      /* ext   */
    { 5, 0, K_FIXED },  { 9, 0, K_FIXED },                                       /* float */
    { 2, 0, K_FIXED },  { 3, 0, K_FIXED }, { 5, 0, K_FIXED }, { 9, 0, K_FIXED }, /* uint  */
    { 2, 0, K_FIXED },  { 3, 0, K_FIXED }, { 5, 0, K_FIXED }, { 9, 0, K_FIXED }, /* int   */
    { 3, 0, K_FIXED },  { 4, 0, K_FIXED }, { 6, 0, K_FIXED }, { 10, 0, K_FIXED },
    { 18, 0, K_FIXED },                                       /* fixext */
    { 0, 1, K_BYTES },  { 0, 2, K_BYTES }, { 0, 4, K_BYTES }, /* str   */
    { 0, 2, K_ARRAY },  { 0, 4, K_ARRAY }, { 0, 2, K_MAP },   { 0, 4, K_MAP },
};

static uint64_t load_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Sizes the item at p: *item = header + payload bytes, *kids = values nested
 * directly in it. Returns 0, 1 when the header itself is cut, -1 for c1. */
static int item_size(const uint8_t *p, size_t avail, uint64_t *item, uint64_t *kids)
{
    uint8_t b = p[0];
    *kids = 0;
    *item = 1;
    if (b <= 0x7f || b >= 0xe0) {
        return 0;
    }
    if (b <= 0x9f) {
        *kids = (b & 0x0f) * (b <= 0x8f ? 2u : 1u);
        return 0;
    }
    if (b <= 0xbf) {
        *item = 1u + (b & 0x1f);
        return 0;
    }
    unsigned k = heads[b - 0xc0].kind, lenb = heads[b - 0xc0].lenb;
    if (k == K_BAD) {
        return -1;
    }
    if (k == K_FIXED) {
        *item = heads[b - 0xc0].size;
        return 0;
    }
    if (avail < 1u + lenb) {
        return 1;
    }
    uint64_t n = load_be(p + 1, lenb);
    *item = 1u + lenb + (k == K_BYTES ? n : k == K_EXT ? n + 1 : 0);
    *kids = k == K_ARRAY ? n : k == K_MAP ? 2 * n : 0;
    return 0;
}

void clew_fwd_scan_reset(struct clew_fwd_scan *s)
{
    s->pos = 0;
    s->pending = 1;
    s->nodes = 0;
}

int clew_fwd_scan_value(struct clew_fwd_scan *s, const uint8_t *p, size_t len, size_t max)
{
    while (s->pending > 0) {
        uint64_t item, kids;
        if (s->pos >= len) {
            return s->pos >= max ? CLEW_FWD_SCAN_BIG : CLEW_FWD_SCAN_MORE;
        }
        int rc = item_size(p + s->pos, len - s->pos, &item, &kids);
        if (rc != 0) {
            return rc < 0 ? CLEW_FWD_SCAN_BAD : CLEW_FWD_SCAN_MORE;
        }
        if (item > max - s->pos) {
            return CLEW_FWD_SCAN_BIG;
        }
        if (item > len - s->pos) {
            return CLEW_FWD_SCAN_MORE;
        }
        s->pos += (size_t)item;
        s->nodes++;
        s->pending = s->pending - 1 + kids;
        /* Every pending value needs at least one more byte. */
        if (s->pending > max - s->pos) {
            return CLEW_FWD_SCAN_BIG;
        }
    }
    return CLEW_FWD_SCAN_DONE;
}

/* ---- tree builder ---- */

struct builder {
    const uint8_t *p;     /* the next header            */
    msgpack_object *next; /* the next free pool slot    */
};

static int build_value(struct builder *b, msgpack_object *o, unsigned depth);

static void set_int(msgpack_object *o, int64_t v)
{
    if (v >= 0) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = (uint64_t)v;
    } else {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = v;
    }
}

/* str, bin: a length of lenb bytes, then the bytes. */
static void set_bytes(struct builder *b, msgpack_object *o, int type, unsigned lenb)
{
    uint32_t n = (uint32_t)load_be(b->p + 1, lenb);
    o->type = type;
    o->via.str.ptr = (const char *)b->p + 1 + lenb; /* str and bin share a layout */
    o->via.str.size = n;
    b->p += 1 + lenb + n;
}

/* ext: a length of lenb bytes (0: fixed size n), the type, the data. */
static void set_ext(struct builder *b, msgpack_object *o, unsigned lenb, uint32_t n)
{
    if (lenb > 0) {
        n = (uint32_t)load_be(b->p + 1, lenb);
    }
    o->type = MSGPACK_OBJECT_EXT;
    o->via.ext.type = (int8_t)b->p[1 + lenb];
    o->via.ext.ptr = (const char *)b->p + 2 + lenb;
    o->via.ext.size = n;
    b->p += 2 + lenb + n;
}

static void set_number(struct builder *b, msgpack_object *o, uint8_t c)
{
    static const uint8_t width[] = { 1, 2, 4, 8 };
    unsigned w = width[c & 3];
    uint64_t v = load_be(b->p + 1, w);
    b->p += 1 + w;
    if (c == 0xca) {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, sizeof(f));
        o->type = MSGPACK_OBJECT_FLOAT32;
        o->via.f64 = f;
    } else if (c == 0xcb) {
        o->type = MSGPACK_OBJECT_FLOAT64;
        memcpy(&o->via.f64, &v, sizeof(v));
    } else if (c <= 0xcf) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = v;
    } else {
        unsigned shift = 64 - 8 * w; /* sign-extend the w-byte value */
        set_int(o, (int64_t)(v << shift) >> shift);
    }
}

static int build_container(struct builder *b, msgpack_object *o, uint32_t n, int map,
                           unsigned depth)
{
    if (depth >= MAX_DEPTH) {
        return CLEW_EFORMAT;
    }
    msgpack_object *kids = b->next;
    size_t slots = map ? 2 * (size_t)n : n;
    b->next += slots;
    if (map) {
        o->type = MSGPACK_OBJECT_MAP;
        o->via.map.size = n;
        o->via.map.ptr = (msgpack_object_kv *)(void *)kids;
    } else {
        o->type = MSGPACK_OBJECT_ARRAY;
        o->via.array.size = n;
        o->via.array.ptr = kids;
    }
    for (uint32_t i = 0; i < n; i++) {
        int rc = map ? build_value(b, &o->via.map.ptr[i].key, depth + 1) : 0;
        rc = rc != 0 ? rc : build_value(b, map ? &o->via.map.ptr[i].val : &kids[i], depth + 1);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* c0..df except the containers. */
static void build_scalar(struct builder *b, msgpack_object *o, uint8_t c)
{
    static const uint8_t fixext[] = { 1, 2, 4, 8, 16 };
    if (c == 0xc0 || c == 0xc2 || c == 0xc3) {
        o->type = c == 0xc0 ? MSGPACK_OBJECT_NIL : MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = c == 0xc3;
        b->p++;
    } else if (c >= 0xc4 && c <= 0xc6) {
        set_bytes(b, o, MSGPACK_OBJECT_BIN, 1u << (c - 0xc4));
    } else if (c >= 0xc7 && c <= 0xc9) {
        set_ext(b, o, 1u << (c - 0xc7), 0);
    } else if (c >= 0xd4 && c <= 0xd8) {
        set_ext(b, o, 0, fixext[c - 0xd4]);
    } else if (c >= 0xd9 && c <= 0xdb) {
        set_bytes(b, o, MSGPACK_OBJECT_STR, 1u << (c - 0xd9));
    } else {
        set_number(b, o, c); /* ca..d3 */
    }
}

static int build_value(struct builder *b, msgpack_object *o, unsigned depth)
{
    uint8_t c = b->p[0];
    if (c <= 0x7f || c >= 0xe0) {
        set_int(o, (int8_t)c);
        b->p++;
        return 0;
    }
    if (c <= 0x9f) {
        b->p++;
        return build_container(b, o, c & 0x0f, c <= 0x8f, depth);
    }
    if (c <= 0xbf) {
        o->type = MSGPACK_OBJECT_STR;
        o->via.str.ptr = (const char *)b->p + 1;
        o->via.str.size = c & 0x1f;
        b->p += 1 + (c & 0x1f);
        return 0;
    }
    if (c >= 0xdc) {
        unsigned lenb = c & 1 ? 4 : 2;
        uint32_t n = (uint32_t)load_be(b->p + 1, lenb);
        b->p += 1 + lenb;
        return build_container(b, o, n, c >= 0xde, depth);
    }
    build_scalar(b, o, c);
    return 0;
}

void clew_fwd_tree_init(struct clew_fwd_tree *t)
{
    memset(t, 0, sizeof(*t));
}

void clew_fwd_tree_close(struct clew_fwd_tree *t)
{
    clew_free(t->pool);
    if (t->zone != NULL) {
        msgpack_zone_free(t->zone);
    }
    clew_fwd_tree_init(t);
}

static int build_ref(struct clew_fwd_tree *t, const uint8_t *p, size_t len)
{
    if (t->zone == NULL && (t->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) == NULL) {
        return -ENOMEM;
    }
    size_t off = 0;
    msgpack_zone_clear(t->zone);
    int rc = msgpack_unpack((const char *)p, len, &off, t->zone, &t->root);
    return rc == MSGPACK_UNPACK_SUCCESS ? 0 : CLEW_EFORMAT;
}

/* Makes room for n slots; a pool much larger than needed is given back. */
static int reserve(struct clew_fwd_tree *t, uint64_t n)
{
    if (n <= t->cap && (t->cap <= 65536 || n >= t->cap / 4)) {
        return 0;
    }
    if (n > SIZE_MAX / sizeof(msgpack_object)) {
        return -ENOMEM;
    }
    size_t cap = n < 64 ? 64 : (size_t)n;
    clew_free(t->pool);
    t->cap = 0;
    if ((t->pool = clew_malloc(cap * sizeof(msgpack_object))) == NULL) {
        return -ENOMEM;
    }
    t->cap = cap;
    return 0;
}

int clew_fwd_tree_build(struct clew_fwd_tree *t, const uint8_t *p, size_t len, uint64_t nodes,
                        int ref)
{
    if (ref) {
        return build_ref(t, p, len);
    }
    if (reserve(t, nodes) != 0) {
        return -ENOMEM;
    }
    struct builder b = { p, t->pool };
    int rc = build_value(&b, &t->root, 0);
    assert(rc != 0 || (b.p == p + len && (uint64_t)(b.next - (msgpack_object *)t->pool) < nodes));
    (void)len;
    return rc;
}

int clew_fwd_obj_str(const msgpack_object *o, struct clew_str *out)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        *out = (struct clew_str){ o->via.str.ptr, o->via.str.size };
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        *out = (struct clew_str){ o->via.bin.ptr, o->via.bin.size };
        return 1;
    }
    return 0;
}
