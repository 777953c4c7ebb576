/* SPDX-License-Identifier: MIT
 * forward_parse: the Fluent Forward decoder (shared/specs/forward.md).
 *
 * How bytes flow. feed() appends to `in`. next() first finds the end of one
 * complete top-level msgpack value with the framing scanner
 * (forward_unpack.c: no stack, no allocation), and only then builds the
 * msgpack-c object tree of exactly those bytes. The scanner is what bounds
 * memory: a value declaring more bytes or more children than max_buffer can
 * hold fails before anything is allocated, and the tree builder only ever
 * sees counts backed by real bytes and at most max_nodes values. The
 * request's bytes are kept in `msg` (copied, or `in` itself when less
 * follows the request than it holds: the buffers then trade places) so that
 * record strings can borrow from them while later feeds move `in`. Packed
 * payloads are walked one entry at a time with the same scanner; gzip
 * payloads (possibly several members) are inflated whole into `inflated`,
 * capped at max_inflated. Fields and structured messages become JSON in
 * forward_json.c.
 *
 * Errors. Bytes that are not msgpack (c1) lose the framing: fatal. A value
 * that frames but is not a request is skipped whole; an entry that is bad is
 * skipped alone; the rest of the stream stays readable. */
#define ZLIB_CONST
#include "collector/forward_parse.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "clew/error.h"
#include "collector/forward_json.h"
#include "collector/forward_unpack.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/timeutil.h"

#define MAX_SEC (INT64_MAX / CLEW_NS_PER_SEC)

/* The request whose entries are being returned. */
struct request {
    int mode; /* CLEW_FWD_MODE_*; NONE = between requests */
    struct clew_str tag, chunk, compressed;
    int64_t size;
    const msgpack_object *items; /* the request array's elements */
    uint32_t next;               /* Message: 0/1; Forward: entry index */
    const uint8_t *pk;           /* packed payload and cursor */
    size_t pk_len, pk_off;
    int pending_err; /* a payload error to report before the END */
    const char *pending_why;
    uint32_t records, skipped;
};

struct clew_fwd_decoder {
    struct clew_fwd_opts opts;
    int failed; /* sticky fatal error, 0 while healthy */
    struct clew_buf in;
    size_t in_off; /* bytes of `in` already consumed */
    struct clew_fwd_scan scan;
    struct clew_buf msg;      /* bytes of the current request */
    struct clew_buf inflated; /* its inflated payload */
    struct clew_buf json;     /* fields text of the current event */
    struct clew_fwd_tree req; /* tree of the current request */
    struct clew_fwd_tree ent; /* tree of the current packed entry */
    struct request cur;
    struct clew_arena arena; /* per-event copies; reset by next() */
    const char *why;         /* reason of the last entry error */
    struct clew_fwd_stats stats;
};

static uint64_t load_be32(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

/* ---- small helpers ---- */

static int fail(struct clew_fwd_decoder *d, int rc)
{
    d->failed = rc;
    return rc;
}

static int bad(struct clew_fwd_decoder *d, int code, const char *why)
{
    d->why = why;
    return code;
}

static int str_is(struct clew_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* ---- one record ---- */

enum slot {
    S_MESSAGE,
    S_LOG,
    S_HOST,
    S_HOSTNAME,
    S_SERVICE,
    S_SERVICE_NAME,
    S_APP,
    S_COMPOSE,
    S_LEVEL,
    S_SEVERITY,
    S_CID,
    S_CNAME,
    S_SOURCE,
    S_STREAM,
    S_TRACE,
    S_SPAN,
    S_PARENT,
    S_COUNT
};

#define KEY(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
static const struct clew_str slot_keys[S_COUNT] = {
    KEY("message"),
    KEY("log"),
    KEY("host"),
    KEY("hostname"),
    KEY("service"),
    KEY("service.name"),
    KEY("app"),
    KEY("com.docker.compose.service"),
    KEY("level"),
    KEY("severity"),
    KEY("container_id"),
    KEY("container_name"),
    KEY("source"),
    KEY("stream"),
    KEY("trace_id"),
    KEY("span_id"),
    KEY("parent_span_id"),
};
#undef KEY

static int classify(struct clew_str k)
{
    for (int i = 0; i < S_COUNT; i++) {
        if (k.len == slot_keys[i].len && memcmp(k.ptr, slot_keys[i].ptr, k.len) == 0) {
            return i;
        }
    }
    return -1;
}

static int level_of(const msgpack_object *v)
{
    struct clew_str s;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return v->via.u64 <= 7 ? (int)v->via.u64 : -1;
    }
    return clew_fwd_obj_str(v, &s) ? clew_level_parse(s.ptr, s.len) : -1;
}

/* Whether value v can fill slot s (otherwise it stays an ordinary field). */
static int slot_accepts(int s, const msgpack_object *v)
{
    struct clew_str str;
    if (s == S_MESSAGE || s == S_LOG) {
        return 1;
    }
    if (s == S_LEVEL || s == S_SEVERITY) {
        return level_of(v) >= 0;
    }
    if (!clew_fwd_obj_str(v, &str)) {
        return 0;
    }
    if (s == S_SOURCE || s == S_STREAM) {
        return str_is(str, "stdout") || str_is(str, "stderr");
    }
    return str.len > 0 || s == S_HOST || s == S_HOSTNAME;
}

/* Per-record decoding state: which map pair fills which slot. */
struct rec_ctx {
    const msgpack_object_map *map;
    int32_t at[S_COUNT]; /* pair index or -1 */
    int32_t used[S_COUNT];
    int nused;
};

static const msgpack_object *take(struct rec_ctx *c, int a, int b)
{
    int s = c->at[a] >= 0 ? a : (b >= 0 && c->at[b] >= 0 ? b : -1);
    if (s < 0) {
        return NULL;
    }
    c->used[c->nused++] = c->at[s];
    return &c->map->ptr[c->at[s]].val;
}

static struct clew_str take_str(struct rec_ctx *c, int a, int b)
{
    struct clew_str s = { NULL, 0 };
    const msgpack_object *v = take(c, a, b);
    if (v != NULL) {
        clew_fwd_obj_str(v, &s);
    }
    return s;
}

/* A correlation id, lower-cased (copied only when needed). */
static int take_id(struct clew_fwd_decoder *d, struct rec_ctx *c, int slot, struct clew_str *out)
{
    *out = take_str(c, slot, -1);
    size_t i = 0;
    while (i < out->len && !(out->ptr[i] >= 'A' && out->ptr[i] <= 'Z')) {
        i++;
    }
    if (i == out->len) {
        return 0;
    }
    char *p = clew_arena_dup(&d->arena, out->ptr, out->len);
    if (p == NULL) {
        return -ENOMEM;
    }
    for (; i < out->len; i++) {
        p[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
    }
    out->ptr = p;
    return 0;
}

static int take_message(struct clew_fwd_decoder *d, struct rec_ctx *c, struct clew_record *r)
{
    const msgpack_object *v = take(c, S_MESSAGE, S_LOG);
    if (v == NULL || v->type == MSGPACK_OBJECT_NIL || clew_fwd_obj_str(v, &r->message)) {
        return 0;
    }
    /* A structured message becomes its JSON text, copied out of d->json. */
    clew_buf_reset(&d->json);
    if (clew_fwd_json_value(&d->json, v, d->opts.reference) != 0) {
        return -ENOMEM;
    }
    r->message.len = d->json.len;
    r->message.ptr = clew_arena_dup(&d->arena, d->json.data, d->json.len);
    return r->message.ptr != NULL ? 0 : -ENOMEM;
}

/* Fills the labels, level and ids of r from the slots of c. */
static int take_columns(struct clew_fwd_decoder *d, struct rec_ctx *c, struct clew_str tag,
                        struct clew_record *r)
{
    struct clew_str *l = r->labels;
    l[CLEW_LABEL_HOST] = take_str(c, S_HOST, S_HOSTNAME);
    l[CLEW_LABEL_CONTAINER_ID] = take_str(c, S_CID, -1);
    l[CLEW_LABEL_CONTAINER_NAME] = take_str(c, S_CNAME, -1);
    if (l[CLEW_LABEL_CONTAINER_NAME].len > 0 && l[CLEW_LABEL_CONTAINER_NAME].ptr[0] == '/') {
        l[CLEW_LABEL_CONTAINER_NAME].ptr++, l[CLEW_LABEL_CONTAINER_NAME].len--;
    }
    l[CLEW_LABEL_STREAM] = take_str(c, S_SOURCE, S_STREAM);
    /* service: explicit field, compose label, container name, the tag */
    l[CLEW_LABEL_SERVICE] = take_str(c, S_SERVICE, S_SERVICE_NAME);
    if (l[CLEW_LABEL_SERVICE].len == 0) {
        l[CLEW_LABEL_SERVICE] = take_str(c, S_APP, S_COMPOSE);
    }
    if (l[CLEW_LABEL_SERVICE].len == 0) {
        l[CLEW_LABEL_SERVICE] =
            l[CLEW_LABEL_CONTAINER_NAME].len ? l[CLEW_LABEL_CONTAINER_NAME] : tag;
    }
    const msgpack_object *lv = take(c, S_LEVEL, S_SEVERITY);
    if (lv != NULL) {
        r->level = (uint8_t)level_of(lv);
    } else {
        r->level = str_is(l[CLEW_LABEL_STREAM], "stderr") ? 3 : CLEW_LEVEL_DEFAULT;
    }
    if (take_id(d, c, S_TRACE, &r->trace_id) != 0 || take_id(d, c, S_SPAN, &r->span_id) != 0 ||
        take_id(d, c, S_PARENT, &r->parent_span_id) != 0) {
        return -ENOMEM;
    }
    return take_message(d, c, r);
}

/* Every pair no column took, plus the tag and Fluent Bit metadata. */
static int build_fields(struct clew_fwd_decoder *d, struct rec_ctx *c, struct clew_str tag,
                        const msgpack_object *meta, struct clew_str *out)
{
    struct clew_fwd_json_fields f = { tag, meta, c->map, c->used, (size_t)c->nused };
    clew_buf_reset(&d->json);
    if (clew_fwd_json_fields(&d->json, &f, d->opts.reference) != 0) {
        return -ENOMEM;
    }
    *out = (struct clew_str){ (const char *)d->json.data, d->json.len };
    return 0;
}

static int map_record(struct clew_fwd_decoder *d, const msgpack_object *rec,
                      const msgpack_object *meta, struct clew_fwd_event *ev)
{
    struct rec_ctx c = { .map = &rec->via.map, .nused = 0 };
    for (int s = 0; s < S_COUNT; s++) {
        c.at[s] = -1;
    }
    for (uint32_t i = 0; i < c.map->size && i <= INT32_MAX; i++) {
        struct clew_str k;
        int s;
        if (clew_fwd_obj_str(&c.map->ptr[i].key, &k) && (s = classify(k)) >= 0 && c.at[s] < 0 &&
            slot_accepts(s, &c.map->ptr[i].val)) {
            c.at[s] = (int32_t)i;
        }
    }
    ev->rec.input = CLEW_INPUT_FORWARD;
    int rc = take_columns(d, &c, ev->tag, &ev->rec);
    return rc != 0 ? rc : build_fields(d, &c, ev->tag, meta, &ev->rec.fields);
}

static int float_time(struct clew_fwd_decoder *d, double f, int64_t *ns)
{
    if (!isfinite(f) || f <= -(double)MAX_SEC || f >= (double)(MAX_SEC - 1)) {
        return bad(d, CLEW_EFORMAT, "time out of range");
    }
    double sec = floor(f);
    long long frac = llround((f - sec) * 1e9);
    *ns = (int64_t)sec * CLEW_NS_PER_SEC + frac;
    return 0;
}

/* Integer seconds, EventTime (ext 0: be32 seconds, be32 nanoseconds), float
 * seconds (lenient) or nil. */
static int parse_time(struct clew_fwd_decoder *d, const msgpack_object *t, int64_t *ns)
{
    *ns = 0;
    switch (t->type) {
    case MSGPACK_OBJECT_NIL:
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (t->via.u64 > (uint64_t)MAX_SEC) {
            return bad(d, CLEW_EFORMAT, "time out of range");
        }
        *ns = (int64_t)t->via.u64 * CLEW_NS_PER_SEC;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        if (t->via.i64 < -MAX_SEC) {
            return bad(d, CLEW_EFORMAT, "time out of range");
        }
        *ns = t->via.i64 * CLEW_NS_PER_SEC;
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return float_time(d, t->via.f64, ns);
    case MSGPACK_OBJECT_EXT: {
        if (t->via.ext.type != 0 || t->via.ext.size != 8) {
            return bad(d, CLEW_EFORMAT, "time ext is not an 8-byte EventTime");
        }
        uint64_t s = load_be32(t->via.ext.ptr);
        uint64_t n = load_be32(t->via.ext.ptr + 4);
        if (n >= (uint64_t)CLEW_NS_PER_SEC) {
            return bad(d, CLEW_EFORMAT, "EventTime nanoseconds out of range");
        }
        *ns = (int64_t)s * CLEW_NS_PER_SEC + (int64_t)n;
        return 0;
    }
    default:
        return bad(d, CLEW_EFORMAT, "time has a wrong type");
    }
}

/* Decodes [time, record]; time may be Fluent Bit's [time, metadata]. */
static int decode_entry(struct clew_fwd_decoder *d, const msgpack_object *t,
                        const msgpack_object *rec, struct clew_fwd_event *ev)
{
    const msgpack_object *meta = NULL;
    if (t->type == MSGPACK_OBJECT_ARRAY) {
        if (t->via.array.size != 2) {
            return bad(d, CLEW_EFORMAT, "entry time is an array but not [time, metadata]");
        }
        meta = &t->via.array.ptr[1];
        t = &t->via.array.ptr[0];
    }
    int rc = parse_time(d, t, &ev->rec.ts);
    if (rc != 0) {
        return rc;
    }
    ev->has_ts = ev->rec.ts != 0;
    if (rec->type != MSGPACK_OBJECT_MAP) {
        return bad(d, CLEW_EFORMAT, "record is not a map");
    }
    return map_record(d, rec, meta, ev);
}

/* ---- events ---- */

static int skip_entry(struct clew_fwd_decoder *d, struct clew_fwd_event *ev, int code,
                      const char *why)
{
    memset(&ev->rec, 0, sizeof(ev->rec));
    ev->kind = CLEW_FWD_SKIP;
    ev->error = code;
    ev->reason = why;
    d->cur.skipped++;
    d->stats.bad_entries++;
    return 0;
}

static int skip_request(struct clew_fwd_decoder *d, struct clew_fwd_event *ev, int code,
                        const char *why)
{
    ev->kind = CLEW_FWD_SKIP;
    ev->mode = CLEW_FWD_MODE_NONE;
    ev->error = code;
    ev->reason = why;
    d->stats.bad_requests++;
    return 0;
}

static int emit_entry(struct clew_fwd_decoder *d, struct clew_fwd_event *ev,
                      const msgpack_object *t, const msgpack_object *rec)
{
    int rc = decode_entry(d, t, rec, ev);
    if (rc == -ENOMEM) {
        return fail(d, rc);
    }
    if (rc != 0) {
        return skip_entry(d, ev, rc, d->why);
    }
    ev->kind = CLEW_FWD_RECORD;
    d->cur.records++;
    d->stats.records++;
    return 0;
}

static int emit_array_entry(struct clew_fwd_decoder *d, struct clew_fwd_event *ev,
                            const msgpack_object *e)
{
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2) {
        return skip_entry(d, ev, CLEW_EFORMAT, "entry is not [time, record]");
    }
    return emit_entry(d, ev, &e->via.array.ptr[0], &e->via.array.ptr[1]);
}

static int emit_packed(struct clew_fwd_decoder *d, struct clew_fwd_event *ev)
{
    struct request *r = &d->cur;
    const uint8_t *p = r->pk + r->pk_off;
    size_t left = r->pk_len - r->pk_off;
    struct clew_fwd_scan s;
    clew_fwd_scan_reset(&s);
    int rc = clew_fwd_scan_value(&s, p, left, left);
    if (rc != CLEW_FWD_SCAN_DONE) {
        r->pk_off = r->pk_len; /* nothing after this point can be framed */
        return rc == CLEW_FWD_SCAN_BAD
                   ? skip_entry(d, ev, CLEW_ECORRUPT, "payload is not msgpack")
                   : skip_entry(d, ev, CLEW_ETRUNC, "payload ends inside an entry");
    }
    r->pk_off += s.pos;
    if (s.nodes > d->opts.max_nodes) {
        return skip_entry(d, ev, CLEW_ETOOBIG, "entry has too many values");
    }
    rc = clew_fwd_tree_build(&d->ent, p, s.pos, s.nodes, d->opts.reference);
    if (rc == -ENOMEM) {
        return fail(d, rc);
    }
    if (rc != 0) {
        return skip_entry(d, ev, CLEW_EFORMAT, "entry nested too deeply");
    }
    return emit_array_entry(d, ev, &d->ent.root);
}

static int emit_end(struct clew_fwd_decoder *d, struct clew_fwd_event *ev)
{
    struct request *r = &d->cur;
    ev->kind = CLEW_FWD_END;
    ev->compressed = r->compressed;
    ev->size = r->size;
    ev->records = r->records;
    ev->skipped = r->skipped;
    r->mode = CLEW_FWD_MODE_NONE;
    d->stats.requests++;
    return 0;
}

static int emit_next(struct clew_fwd_decoder *d, struct clew_fwd_event *ev)
{
    struct request *r = &d->cur;
    ev->mode = r->mode;
    ev->tag = r->tag;
    ev->chunk = r->chunk;
    if (r->pending_err != 0) {
        int code = r->pending_err;
        r->pending_err = 0;
        return skip_entry(d, ev, code, r->pending_why);
    }
    if (r->mode == CLEW_FWD_MODE_MESSAGE && r->next == 0) {
        r->next = 1;
        return emit_entry(d, ev, &r->items[1], &r->items[2]);
    }
    if (r->mode == CLEW_FWD_MODE_FORWARD && r->next < r->items[1].via.array.size) {
        return emit_array_entry(d, ev, &r->items[1].via.array.ptr[r->next++]);
    }
    if (r->mode >= CLEW_FWD_MODE_PACKED && r->pk_off < r->pk_len) {
        return emit_packed(d, ev);
    }
    return emit_end(d, ev);
}

/* ---- requests ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return clew_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    clew_free(p);
}

/* One inflate step into d->inflated, growing it up to max_inflated. */
static int inflate_step(struct clew_fwd_decoder *d, z_stream *zs)
{
    struct clew_buf *b = &d->inflated;
    size_t max = d->opts.max_inflated;
    if (b->len >= max) {
        return bad(d, CLEW_ETOOBIG, "inflated payload exceeds max_inflated");
    }
    size_t want = b->len < 65536 ? 65536 : b->len;
    if (want > max - b->len) {
        want = max - b->len;
    }
    if (clew_buf_reserve(b, want) != 0) {
        return -ENOMEM;
    }
    size_t room = b->cap - b->len < max - b->len ? b->cap - b->len : max - b->len;
    zs->next_out = b->data + b->len;
    zs->avail_out = (uInt)(room < UINT32_MAX ? room : UINT32_MAX);
    uInt before = zs->avail_out;
    int zrc = inflate(zs, Z_NO_FLUSH);
    b->len += before - zs->avail_out;
    if (zrc == Z_STREAM_END && zs->avail_in > 0) {
        return inflateReset(zs) == Z_OK ? 0 : bad(d, CLEW_ECORRUPT, "bad gzip member");
    }
    if (zrc == Z_STREAM_END) {
        return 1;
    }
    if (zrc == Z_OK || (zrc == Z_BUF_ERROR && zs->avail_out == 0)) {
        return 0;
    }
    if (zrc == Z_MEM_ERROR) {
        return -ENOMEM;
    }
    return zrc == Z_BUF_ERROR ? bad(d, CLEW_ETRUNC, "gzip payload is truncated")
                              : bad(d, CLEW_ECORRUPT, "gzip payload is corrupt");
}

/* Inflates a payload of one or more concatenated gzip members. */
static int gunzip(struct clew_fwd_decoder *d, const uint8_t *src, size_t n)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    clew_buf_reset(&d->inflated);
    if (n == 0) {
        return 0;
    }
    if (n > UINT32_MAX) {
        return bad(d, CLEW_ETOOBIG, "compressed payload too large");
    }
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return -ENOMEM;
    }
    zs.next_in = src;
    zs.avail_in = (uInt)n; /* n <= max_buffer, far below 4 GiB */
    int rc;
    while ((rc = inflate_step(d, &zs)) == 0) {
    }
    inflateEnd(&zs);
    return rc == 1 ? 0 : rc;
}

/* Reads the option map: chunk, size, compressed; other keys are ignored. */
static int read_options(struct request *r, const msgpack_object *opt)
{
    if (opt == NULL || opt->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    if (opt->type != MSGPACK_OBJECT_MAP) {
        return -1;
    }
    for (uint32_t i = 0; i < opt->via.map.size; i++) {
        const msgpack_object *v = &opt->via.map.ptr[i].val;
        struct clew_str k;
        if (!clew_fwd_obj_str(&opt->via.map.ptr[i].key, &k)) {
            continue;
        }
        if (str_is(k, "chunk") &&
            (!clew_fwd_obj_str(v, &r->chunk) || r->chunk.len > CLEW_FWD_MAX_CHUNK)) {
            return -1;
        }
        if (str_is(k, "compressed") && !clew_fwd_obj_str(v, &r->compressed)) {
            return -1;
        }
        if (str_is(k, "size") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            v->via.u64 <= INT64_MAX) {
            r->size = (int64_t)v->via.u64;
        }
    }
    return 0;
}

/* Sets up a packed payload; compression problems are reported as one SKIP
 * before the END. */
static int start_packed(struct clew_fwd_decoder *d, const msgpack_object *payload)
{
    struct request *r = &d->cur;
    struct clew_str p = { NULL, 0 }; /* obj_str fills it for str and bin objects */
    clew_fwd_obj_str(payload, &p);
    r->pk = (const uint8_t *)p.ptr;
    r->pk_len = p.len;
    if (r->compressed.len == 0 || str_is(r->compressed, "text")) {
        return 0; /* fluent-logger labels uncompressed payloads "text" */
    }
    r->pk_len = 0;
    if (!str_is(r->compressed, "gzip")) {
        r->pending_err = bad(d, CLEW_EFORMAT, "unsupported compression");
        r->pending_why = d->why;
        return 0;
    }
    r->mode = CLEW_FWD_MODE_COMPRESSED;
    int rc = gunzip(d, (const uint8_t *)p.ptr, p.len);
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        r->pending_err = rc;
        r->pending_why = d->why;
        return 0;
    }
    r->pk = d->inflated.data;
    r->pk_len = d->inflated.len;
    return 0;
}

/* Recognises the request in d->req. Returns 1 when its entries are ready,
 * 0 with a SKIP in *ev, or -ENOMEM. */
static int start_request(struct clew_fwd_decoder *d, struct clew_fwd_event *ev)
{
    const msgpack_object_array *a = &d->req.root.via.array;
    struct request *r = &d->cur;
    memset(r, 0, sizeof(*r));
    r->size = -1;
    r->items = a->ptr;
    if (a->size < 2 || a->size > 4 || !clew_fwd_obj_str(&a->ptr[0], &r->tag)) {
        return skip_request(d, ev, CLEW_EFORMAT, "request is not [tag, ...]");
    }
    int mode, t = a->ptr[1].type;
    size_t n_opt;
    if (t == MSGPACK_OBJECT_ARRAY) {
        mode = CLEW_FWD_MODE_FORWARD, n_opt = 3;
    } else if (t == MSGPACK_OBJECT_STR || t == MSGPACK_OBJECT_BIN) {
        mode = CLEW_FWD_MODE_PACKED, n_opt = 3;
    } else if (t == MSGPACK_OBJECT_POSITIVE_INTEGER || t == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
               t == MSGPACK_OBJECT_EXT || t == MSGPACK_OBJECT_FLOAT32 ||
               t == MSGPACK_OBJECT_FLOAT64 || t == MSGPACK_OBJECT_NIL) {
        mode = CLEW_FWD_MODE_MESSAGE, n_opt = 4;
    } else {
        return skip_request(d, ev, CLEW_EFORMAT, "unknown request mode");
    }
    if (a->size > n_opt || (mode == CLEW_FWD_MODE_MESSAGE && a->size < 3)) {
        return skip_request(d, ev, CLEW_EFORMAT, "request has a wrong number of elements");
    }
    if (read_options(r, a->size == n_opt ? &a->ptr[n_opt - 1] : NULL) != 0) {
        return skip_request(d, ev, CLEW_EFORMAT, "bad option map");
    }
    r->mode = mode;
    if (mode == CLEW_FWD_MODE_PACKED && start_packed(d, &a->ptr[1]) != 0) {
        return -ENOMEM;
    }
    return 1;
}

/* Keeps the n request bytes at p (in d->in, already consumed) where record
 * strings can borrow them while later feeds move d->in: in d->msg. When
 * fewer bytes follow the request than it has, the two buffers trade places
 * and only those are copied. Returns the request's bytes, or NULL on OOM. */
static const uint8_t *hold_request(struct clew_fwd_decoder *d, const uint8_t *p, size_t n)
{
    size_t tail = d->in.len - d->in_off;
    if (tail < n) {
        struct clew_buf t = d->msg;
        d->msg = d->in;
        d->in = t;
        clew_buf_reset(&d->in);
        size_t off = d->in_off;
        d->in_off = 0;
        return clew_buf_append(&d->in, d->msg.data + off, tail) == 0 ? p : NULL;
    }
    clew_buf_reset(&d->msg);
    return clew_buf_append(&d->msg, p, n) == 0 ? d->msg.data : NULL;
}

/* Takes the next complete top-level value off the input. Returns 1 when a
 * request was started or a keep-alive skipped, 0 with a SKIP in *ev,
 * -EAGAIN, or a fatal error. */
static int take_request(struct clew_fwd_decoder *d, struct clew_fwd_event *ev)
{
    if (d->in_off == d->in.len) {
        return -EAGAIN; /* also keeps a NULL buffer away from arithmetic */
    }
    const uint8_t *p = d->in.data + d->in_off;
    int rc = clew_fwd_scan_value(&d->scan, p, d->in.len - d->in_off, d->opts.max_buffer);
    if (rc != CLEW_FWD_SCAN_DONE) {
        return rc == CLEW_FWD_SCAN_MORE  ? -EAGAIN
               : rc == CLEW_FWD_SCAN_BAD ? fail(d, CLEW_ECORRUPT)
                                         : fail(d, CLEW_ETOOBIG);
    }
    size_t n = d->scan.pos;
    uint64_t nodes = d->scan.nodes;
    clew_fwd_scan_reset(&d->scan);
    d->in_off += n;
    if (p[0] == 0xc0) {
        d->stats.keepalives++;
        return 1;
    }
    if (!((p[0] >= 0x90 && p[0] <= 0x9f) || p[0] == 0xdc || p[0] == 0xdd)) {
        return skip_request(d, ev, CLEW_EFORMAT, "top-level value is not an array");
    }
    if (nodes > d->opts.max_nodes) {
        return skip_request(d, ev, CLEW_ETOOBIG, "request has too many values");
    }
    if ((p = hold_request(d, p, n)) == NULL) {
        return fail(d, -ENOMEM);
    }
    rc = clew_fwd_tree_build(&d->req, p, n, nodes, d->opts.reference);
    if (rc == -ENOMEM) {
        return fail(d, rc);
    }
    if (rc != 0) {
        return skip_request(d, ev, CLEW_EFORMAT, "request nested too deeply");
    }
    rc = start_request(d, ev);
    return rc < 0 ? fail(d, rc) : rc;
}

/* ---- public API ---- */

int clew_fwd_decoder_new(const struct clew_fwd_opts *opts, struct clew_fwd_decoder **out)
{
    *out = NULL;
    struct clew_fwd_decoder *d = clew_calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    if (opts != NULL) {
        d->opts = *opts;
    }
    if (d->opts.max_buffer == 0) {
        d->opts.max_buffer = CLEW_FWD_DEFAULT_MAX_BUFFER;
    }
    if (d->opts.max_inflated == 0) {
        d->opts.max_inflated = CLEW_FWD_DEFAULT_MAX_INFLATED;
    }
    if (d->opts.max_nodes == 0) {
        d->opts.max_nodes = CLEW_FWD_DEFAULT_MAX_NODES;
    }
    clew_buf_init(&d->in);
    clew_buf_init(&d->msg);
    clew_buf_init(&d->inflated);
    clew_buf_init(&d->json);
    clew_arena_init(&d->arena, 0);
    clew_fwd_scan_reset(&d->scan);
    clew_fwd_tree_init(&d->req);
    clew_fwd_tree_init(&d->ent);
    *out = d;
    return 0;
}

void clew_fwd_decoder_free(struct clew_fwd_decoder *d)
{
    if (d == NULL) {
        return;
    }
    clew_buf_close(&d->in);
    clew_buf_close(&d->msg);
    clew_buf_close(&d->inflated);
    clew_buf_close(&d->json);
    clew_arena_close(&d->arena);
    clew_fwd_tree_close(&d->req);
    clew_fwd_tree_close(&d->ent);
    clew_free(d);
}

int clew_fwd_decoder_feed(struct clew_fwd_decoder *d, const void *data, size_t len)
{
    if (d->failed != 0) {
        return d->failed;
    }
    size_t held = d->in.len - d->in_off;
    if (len > d->opts.max_buffer - held) {
        return fail(d, CLEW_ETOOBIG);
    }
    /* Compact when the consumed prefix dominates or room runs out; the
     * scanner's position is relative to in_off, so it survives. */
    if (held == 0) {
        d->in.len = 0;
        d->in_off = 0;
    } else if (d->in_off > 0 && (d->in_off >= held || d->in.cap - d->in.len < len)) {
        memmove(d->in.data, d->in.data + d->in_off, held);
        d->in.len = held;
        d->in_off = 0;
    }
    if (clew_buf_append(&d->in, data, len) != 0) {
        return fail(d, -ENOMEM);
    }
    d->stats.bytes += len;
    return 0;
}

int clew_fwd_decoder_next(struct clew_fwd_decoder *d, struct clew_fwd_event *ev)
{
    if (d->failed != 0) {
        return d->failed;
    }
    memset(ev, 0, sizeof(*ev));
    ev->size = -1;
    clew_arena_reset(&d->arena);
    for (;;) {
        if (d->cur.mode != CLEW_FWD_MODE_NONE) {
            return emit_next(d, ev);
        }
        int rc = take_request(d, ev);
        if (rc != 1) {
            return rc;
        }
    }
}

void clew_fwd_decoder_stats(const struct clew_fwd_decoder *d, struct clew_fwd_stats *out)
{
    *out = d->stats;
}
