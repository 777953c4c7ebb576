/* SPDX-License-Identifier: MIT
 * gelf_parse: GELF payload -> record. Steps: sniff the first two bytes,
 * inflate with a hard output cap, scan the JSON once with json_scan (the
 * UTF-8 repair is part of the scan), index the top-level members (a repeated
 * key keeps its first position and its last value, as jansson does), map
 * them onto the record, and write the other members as the fields object:
 * raw copies of the payload wherever the text already is in the form the
 * writer would produce, re-encoded otherwise. jansson only serves as a
 * fallback for nested values this writer does not handle itself (nested
 * deeper than NEST_MAX, or an object with a repeated key or more than
 * NEST_KEYS keys), so the output stays byte-identical to what the jansson
 * decoder produced. */
#include "collector/gelf_parse.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL /* short keys: no call into the library */
#include <xxhash.h>
#include <zlib.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/json_scan.h"
#include "common/timeutil.h"

#define MAX_SECONDS   9000000000LL /* keeps seconds * 1e9 inside int64 */
#define SCAN_OPTS     (CLEW_JSON_REPAIR | CLEW_JSON_NO_NUL_KEY | CLEW_JSON_NUL_AFTER)
#define DECODE        (CLEW_JSON_F_ESC | CLEW_JSON_F_FIX) /* a string that is not its raw text */
#define LOCAL_MEMBERS 32 /* members indexed without a heap allocation */
#define LOCAL_TABLE   64 /* hash table slots likewise (a power of two) */
#define NEST_MAX      64 /* nested containers the writer handles itself */
#define NEST_KEYS     32 /* keys per nested object likewise */
#define FALLBACK      1  /* a nested value goes through jansson */

int clew_gelf_sniff(const void *payload, size_t len)
{
    const uint8_t *p = payload;
    if (len < 2) {
        return CLEW_GELF_EMAGIC;
    }
    switch (p[0]) {
    case 0x1e:
        return p[1] == 0x0f ? CLEW_GELF_CHUNK : CLEW_GELF_EMAGIC;
    case 0x1f:
        return p[1] == 0x8b ? CLEW_GELF_GZIP : CLEW_GELF_EMAGIC;
    case 0x78:
        return (0x78 * 256 + p[1]) % 31 == 0 ? CLEW_GELF_ZLIB : CLEW_GELF_EMAGIC;
    default:
        return CLEW_GELF_PLAIN;
    }
}

size_t clew_gelf_nul_frame(const void *buf, size_t len, size_t *msg_len)
{
    const uint8_t *nul = len ? memchr(buf, 0, len) : NULL;
    if (nul == NULL) {
        return 0;
    }
    *msg_len = (size_t)(nul - (const uint8_t *)buf);
    return *msg_len + 1;
}

const char *clew_gelf_strerror(int rc)
{
    switch (rc) {
    case CLEW_GELF_EMAGIC:
        return "GELF: not a GELF payload (bad magic bytes)";
    case CLEW_GELF_EINFLATE:
        return "GELF: compressed payload is damaged";
    case CLEW_GELF_EJSON:
        return "GELF: payload is not valid JSON";
    case CLEW_GELF_ENOTOBJ:
        return "GELF: payload is not a JSON object";
    case CLEW_GELF_ENOMSG:
        return "GELF: no short_message";
    default:
        return clew_strerror(rc);
    }
}

/* ---- decompression ---- */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return clew_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    clew_free(p);
}

/* First guess for the output size: gzip's ISIZE trailer when plausible. */
static size_t inflate_guess(const uint8_t *p, size_t len, bool gzip, size_t cap)
{
    size_t guess = len * 4;
    if (gzip && len >= 18) {
        uint32_t isize = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 |
                         (uint32_t)p[len - 2] << 16 | (uint32_t)p[len - 1] << 24;
        guess = (size_t)isize + 1; /* + 1: room to see the stream end */
        if (guess / 1100 > len) {
            guess = len * 1100; /* deflate cannot expand more than ~1032:1 */
        }
    }
    if (guess < 4096) {
        guess = 4096;
    }
    return guess > cap + 1 ? cap + 1 : guess;
}

/* Grows *buf towards cap + 1 bytes (one past the cap shows an overflow). */
static int inflate_grow(z_stream *z, uint8_t **buf, size_t *size, size_t cap)
{
    if (*size > cap) {
        return CLEW_ETOOBIG;
    }
    size_t n = *size > (cap + 1) / 2 ? cap + 1 : *size * 2;
    uint8_t *nb = clew_realloc(*buf, n);
    if (nb == NULL) {
        return -ENOMEM;
    }
    size_t used = *size - z->avail_out;
    *buf = nb;
    z->next_out = nb + used;
    z->avail_out = (uInt)(n - used);
    *size = n;
    return 0;
}

static int inflate_run(z_stream *z, uint8_t **buf, size_t *size, size_t cap)
{
    for (;;) {
        int zrc = inflate(z, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            return 0;
        }
        if (zrc == Z_MEM_ERROR) {
            return -ENOMEM;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            return CLEW_GELF_EINFLATE;
        }
        if (z->avail_out != 0) {
            return CLEW_GELF_EINFLATE; /* input ended before the stream did */
        }
        int rc = inflate_grow(z, buf, size, cap);
        if (rc != 0) {
            return rc;
        }
    }
}

/* A reusable inflate stream and output buffer (see gelf_parse.h). */
struct clew_gelf_inflater {
    z_stream z;
    int inited;
    uint8_t *buf;
    size_t size;
};

struct clew_gelf_inflater *clew_gelf_inflater_new(void)
{
    return clew_calloc(1, sizeof(struct clew_gelf_inflater));
}

void clew_gelf_inflater_free(struct clew_gelf_inflater *inf)
{
    if (inf == NULL) {
        return;
    }
    if (inf->inited) {
        inflateEnd(&inf->z);
    }
    clew_free(inf->buf);
    clew_free(inf);
}

/* Readies inf's stream for one gzip or zlib payload: initialised once,
 * then only reset (the window and state are reused). */
static int inflater_start(struct clew_gelf_inflater *inf, bool gzip)
{
    int wbits = gzip ? 15 + 16 : 15;
    if (inf->inited) {
        return inflateReset2(&inf->z, wbits) == Z_OK ? 0 : CLEW_GELF_EINFLATE;
    }
    memset(&inf->z, 0, sizeof(inf->z));
    inf->z.zalloc = z_alloc;
    inf->z.zfree = z_free;
    int zrc = inflateInit2(&inf->z, wbits);
    if (zrc != Z_OK) {
        return zrc == Z_MEM_ERROR ? -ENOMEM : CLEW_GELF_EINFLATE;
    }
    inf->inited = 1;
    return 0;
}

/* Inflates a gzip or zlib payload into inf's buffer (valid until the next
 * call on inf). */
static int inflate_payload(struct clew_gelf_inflater *inf, const uint8_t *p, size_t len,
                           bool gzip, size_t cap, const uint8_t **out, size_t *out_len)
{
    if (len > UINT_MAX) {
        return CLEW_ETOOBIG;
    }
    if (cap > UINT_MAX - 1) {
        cap = UINT_MAX - 1; /* zlib counts in uInt */
    }
    size_t want = inflate_guess(p, len, gzip, cap);
    if (inf->size < want) {
        uint8_t *nb = clew_realloc(inf->buf, want);
        if (nb == NULL) {
            return -ENOMEM;
        }
        inf->buf = nb;
        inf->size = want;
    }
    int rc = inflater_start(inf, gzip);
    if (rc != 0) {
        return rc;
    }
    z_stream *z = &inf->z;
    z->next_in = (Bytef *)(uintptr_t)p;
    z->avail_in = (uInt)len;
    z->next_out = inf->buf;
    z->avail_out = (uInt)(inf->size > cap + 1 ? cap + 1 : inf->size);
    size_t size = z->avail_out;
    rc = inflate_run(z, &inf->buf, &size, cap);
    if (size > inf->size) {
        inf->size = size; /* inflate_grow reallocated the buffer */
    }
    size_t n = size - z->avail_out;
    if (rc == 0 && n > cap) {
        rc = CLEW_ETOOBIG;
    }
    if (rc != 0) {
        return rc;
    }
    *out = inf->buf;
    *out_len = n;
    return 0;
}

/* ---- JSON writing (the fields object) ---- */

static int put(struct clew_buf *b, const void *p, size_t n)
{
    return clew_buf_append(b, p, n);
}

/* The escape for a byte put_str must not copy raw; returns its length. */
static size_t escape_byte(uint8_t c, char esc[6])
{
    static const char hex[] = "0123456789abcdef";
    char named = c == '"'    ? '"'
                 : c == '\\' ? '\\'
                 : c == '\n' ? 'n'
                 : c == '\r' ? 'r'
                 : c == '\t' ? 't'
                 : c == '\b' ? 'b'
                 : c == '\f' ? 'f'
                             : 0;
    esc[0] = '\\';
    if (named != 0) {
        esc[1] = named;
        return 2;
    }
    memcpy(esc + 1, "u00", 3);
    esc[4] = hex[c >> 4];
    esc[5] = hex[c & 15];
    return 6;
}

static int put_str(struct clew_buf *b, const char *s, size_t n)
{
    if (clew_buf_reserve(b, n + 2) != 0 || put(b, "\"", 1) != 0) {
        return -ENOMEM;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        char esc[6];
        size_t elen = escape_byte(c, esc);
        if (put(b, s + run, i - run) != 0 || put(b, esc, elen) != 0) {
            return -ENOMEM;
        }
        run = i + 1;
    }
    return put(b, s + run, n - run) != 0 || put(b, "\"", 1) != 0 ? -ENOMEM : 0;
}

/* Shortest %g form that reads back as the same double. */
static int put_real(struct clew_buf *b, double v)
{
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            break;
        }
    }
    if (strpbrk(tmp, ".eE") == NULL && n < 38) {
        memcpy(tmp + n, ".0", 3); /* keep it a real: 100.0, not 100 */
        n += 2;
    }
    return put(b, tmp, (size_t)n);
}

static int put_value(struct clew_buf *b, const json_t *v);

static int put_object(struct clew_buf *b, const json_t *obj)
{
    const char *key;
    size_t klen;
    json_t *val;
    bool first = true;
    if (put(b, "{", 1) != 0) {
        return -ENOMEM;
    }
    json_object_keylen_foreach((json_t *)(uintptr_t)obj, key, klen, val)
    {
        if ((!first && put(b, ",", 1) != 0) || put_str(b, key, klen) != 0 || put(b, ":", 1) != 0 ||
            put_value(b, val) != 0) {
            return -ENOMEM;
        }
        first = false;
    }
    return put(b, "}", 1);
}

static int put_array(struct clew_buf *b, const json_t *arr)
{
    if (put(b, "[", 1) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if ((i > 0 && put(b, ",", 1) != 0) || put_value(b, json_array_get(arr, i)) != 0) {
            return -ENOMEM;
        }
    }
    return put(b, "]", 1);
}

static int put_value(struct clew_buf *b, const json_t *v)
{
    char tmp[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(b, v);
    case JSON_ARRAY:
        return put_array(b, v);
    case JSON_STRING:
        return put_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return put(b, tmp, strlen(tmp));
    case JSON_REAL:
        return put_real(b, json_real_value(v));
    case JSON_TRUE:
        return put(b, "true", 4);
    case JSON_FALSE:
        return put(b, "false", 5);
    default:
        return put(b, "null", 4);
    }
}

/* ---- the member index ---- */

/* The top-level keys the mapping looks at: X(slot, key). */
/* clang-format off */
#define GELF_KEYS(X) \
    X(S_HOST, "host") X(S_SHORT, "short_message") X(S_MESSAGE, "message")                   \
    X(S_FULL, "full_message") X(S_TS, "timestamp") X(S_LEVEL, "level")                      \
    X(S_SERVICE_U, "_service") X(S_SERVICE, "service") X(S_SERVICE_NAME_U, "_service.name") \
    X(S_SERVICE_NAME, "service.name") X(S_APP_U, "_app") X(S_APP, "app")                    \
    X(S_COMPOSE, "_com.docker.compose.service") X(S_CNAME, "_container_name")               \
    X(S_PROGRAM, "_program") X(S_CID, "_container_id") X(S_STREAM, "_stream")               \
    X(S_TRACE_U, "_trace_id") X(S_TRACE, "trace_id") X(S_SPAN_U, "_span_id")                \
    X(S_SPAN, "span_id") X(S_PARENT_U, "_parent_span_id") X(S_PARENT, "parent_span_id")     \
    X(S_VERSION, "version") X(S_ID, "_id")
/* clang-format on */

enum slot {
#define X(slot, key) slot,
    GELF_KEYS(X)
#undef X
        S_COUNT
};

static const struct {
    const char *name;
    uint8_t len;
} slot_names[S_COUNT] = {
#define X(slot, key) { key, sizeof(key) - 1 },
    GELF_KEYS(X)
#undef X
};

/* Candidate slots (+ 1) by key length. */
static const uint8_t slots_by_len[28][5] = {
    [3] = { S_APP + 1, S_ID + 1 },
    [4] = { S_HOST + 1, S_APP_U + 1 },
    [5] = { S_LEVEL + 1 },
    [7] = { S_MESSAGE + 1, S_SERVICE + 1, S_STREAM + 1, S_SPAN + 1, S_VERSION + 1 },
    [8] = { S_SERVICE_U + 1, S_PROGRAM + 1, S_TRACE + 1, S_SPAN_U + 1 },
    [9] = { S_TS + 1, S_TRACE_U + 1 },
    [12] = { S_FULL + 1, S_SERVICE_NAME + 1 },
    [13] = { S_SHORT + 1, S_SERVICE_NAME_U + 1, S_CID + 1 },
    [14] = { S_PARENT + 1 },
    [15] = { S_CNAME + 1, S_PARENT_U + 1 },
    [27] = { S_COMPOSE + 1 },
};

struct member {
    struct clew_json_val k; /* the key as scanned (k.dlen: decoded length)       */
    struct clew_json_val v; /* the value; for a repeated key, the last one's     */
    const char *key;        /* decoded key: in the payload or in gelf.keys       */
    uint64_t hash;          /* of the decoded key                                */
    bool dup;               /* repeats an earlier key: not a member of its own   */
    bool field;             /* goes into fields                                  */
    uint8_t skip;           /* bytes of the key dropped in fields (a '_')        */
};

/* One decoding: the index of the payload's members and the scratch space. */
struct gelf {
    struct member *m; /* local, or heap beyond LOCAL_MEMBERS */
    size_t n, cap;
    uint32_t *table; /* member index + 1 per slot; 0 = free */
    size_t tsize;
    size_t key_bytes;        /* decoded bytes of keys with escapes */
    int slot[S_COUNT];       /* member of each known key, or -1 */
    int used[4];             /* members the record consumed: host, message, ts, level */
    struct clew_buf keys;    /* decoded keys that had escapes */
    struct clew_buf scratch; /* a decoded string, until the next use */
    struct clew_buf fixed;   /* a nested value repaired for jansson */
    struct clew_arena *arena;
    const struct clew_gelf_parse_opts *opts;
    struct member local[LOCAL_MEMBERS];
    uint32_t local_table[LOCAL_TABLE];
};

static void gelf_init(struct gelf *g, struct clew_arena *arena,
                      const struct clew_gelf_parse_opts *opts)
{
    g->m = g->local;
    g->n = 0;
    g->cap = LOCAL_MEMBERS;
    g->table = g->local_table;
    g->tsize = LOCAL_TABLE;
    g->key_bytes = 0;
    for (int i = 0; i < S_COUNT; i++) {
        g->slot[i] = -1;
    }
    for (int i = 0; i < 4; i++) {
        g->used[i] = -1;
    }
    clew_buf_init(&g->keys);
    clew_buf_init(&g->scratch);
    clew_buf_init(&g->fixed);
    g->arena = arena;
    g->opts = opts;
}

static void gelf_close(struct gelf *g)
{
    if (g->m != g->local) {
        clew_free(g->m);
    }
    if (g->table != g->local_table) {
        clew_free(g->table);
    }
    clew_buf_close(&g->keys);
    clew_buf_close(&g->scratch);
    clew_buf_close(&g->fixed);
}

/* The next free member (the array grows when full), or NULL. */
static struct member *next_member(struct gelf *g)
{
    if (g->n == g->cap) {
        size_t cap = g->cap * 2;
        struct member *m = clew_malloc(cap * sizeof(*m));
        if (m == NULL) {
            return NULL;
        }
        memcpy(m, g->m, g->n * sizeof(*m));
        if (g->m != g->local) {
            clew_free(g->m);
        }
        g->m = m;
        g->cap = cap;
    }
    return &g->m[g->n];
}

static void count_repair(const struct gelf *g, const struct clew_json_scan *s)
{
    if (s->fixes != 0 && g->opts != NULL && g->opts->stats != NULL) {
        g->opts->stats->repaired++;
    }
}

/* Scans the whole payload: CLEW_GELF_EJSON unless it is one JSON value
 * (after the repair), CLEW_GELF_ENOTOBJ unless an object; else its members
 * are in g. */
static int scan_payload(struct gelf *g, const uint8_t *text, size_t len)
{
    struct clew_json_scan s;
    struct clew_json_val v;
    int rc;
    clew_json_scan_init(&s, text, len, SCAN_OPTS, CLEW_JSON_MAX_DEPTH);
    if (clew_json_scan_peek(&s) != CLEW_JSON_OBJECT) {
        rc = clew_json_scan_value(&s, &v);
        if (rc != 0 || clew_json_scan_end(&s) != 0) {
            return CLEW_GELF_EJSON;
        }
        count_repair(g, &s);
        return CLEW_GELF_ENOTOBJ;
    }
    clew_json_scan_enter(&s);
    for (;;) {
        /* Scanned straight into place: no copies of the views. */
        struct member *m = next_member(g);
        if (m == NULL) {
            return -ENOMEM;
        }
        if ((rc = clew_json_scan_member(&s, &m->k, &m->v)) != 1) {
            break;
        }
        m->key = m->k.ptr + 1;
        m->dup = false;
        g->key_bytes += (m->k.flags & DECODE) ? m->k.dlen : 0;
        g->n++;
    }
    if (rc != 0 || clew_json_scan_end(&s) != 0) {
        return CLEW_GELF_EJSON;
    }
    count_repair(g, &s);
    return 0;
}

/* Decodes the keys that have escapes, all into one buffer sized up front. */
static int decode_keys(struct gelf *g)
{
    if (g->key_bytes == 0) {
        return 0;
    }
    if (clew_buf_reserve(&g->keys, g->key_bytes) != 0) {
        return -ENOMEM;
    }
    char *p = (char *)g->keys.data;
    for (size_t i = 0; i < g->n; i++) {
        if (g->m[i].k.flags & DECODE) {
            g->m[i].key = p;
            p += clew_json_str_decode(&g->m[i].k, p);
        }
    }
    return 0;
}

/* The table position holding key, or the free one where it would go. */
static size_t table_pos(const struct gelf *g, const char *key, size_t klen, uint64_t h)
{
    size_t mask = g->tsize - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t e = g->table[i];
        if (e == 0) {
            return i;
        }
        const struct member *m = &g->m[e - 1];
        if (m->hash == h && m->k.dlen == klen && memcmp(m->key, key, klen) == 0) {
            return i;
        }
    }
}

static bool has_key(const struct gelf *g, const char *key, size_t klen)
{
    return g->table[table_pos(g, key, klen, XXH3_64bits(key, klen))] != 0;
}

static int slot_of(const char *key, size_t klen)
{
    if (klen >= sizeof(slots_by_len) / sizeof(slots_by_len[0])) {
        return -1;
    }
    for (size_t i = 0; i < 5 && slots_by_len[klen][i] != 0; i++) {
        int s = slots_by_len[klen][i] - 1;
        if (slot_names[s].name[0] == key[0] && memcmp(slot_names[s].name, key, klen) == 0) {
            return s;
        }
    }
    return -1;
}

/* Hashes every key; a repeated key hands its value to the first one. */
static int index_members(struct gelf *g)
{
    if (decode_keys(g) != 0) {
        return -ENOMEM;
    }
    while (g->tsize < 2 * g->n) {
        g->tsize *= 2;
    }
    if (g->tsize > LOCAL_TABLE) {
        g->table = clew_calloc(g->tsize, sizeof(*g->table));
        if (g->table == NULL) {
            return -ENOMEM;
        }
    } else {
        memset(g->table, 0, sizeof(g->local_table));
    }
    for (size_t i = 0; i < g->n; i++) {
        struct member *m = &g->m[i];
        m->hash = XXH3_64bits(m->key, m->k.dlen);
        size_t pos = table_pos(g, m->key, m->k.dlen, m->hash);
        if (g->table[pos] != 0) {
            g->m[g->table[pos] - 1].v = m->v;
            m->dup = true;
            continue;
        }
        g->table[pos] = (uint32_t)(i + 1);
        int s = slot_of(m->key, m->k.dlen);
        if (s >= 0) {
            g->slot[s] = (int)i;
        }
    }
    return 0;
}

static const struct clew_json_val *slot_val(const struct gelf *g, int s)
{
    return g->slot[s] >= 0 ? &g->m[g->slot[s]].v : NULL;
}

static const struct clew_json_val *slot_str(const struct gelf *g, int s)
{
    const struct clew_json_val *v = slot_val(g, s);
    return v != NULL && v->kind == CLEW_JSON_STRING ? v : NULL;
}

/* The decoded text of string v (v->dlen bytes): the payload's bytes when
 * there is nothing to decode, else g->scratch until its next use. */
static int str_text(struct gelf *g, const struct clew_json_val *v, const char **out)
{
    if (!(v->flags & DECODE)) {
        *out = v->ptr + 1;
        return 0;
    }
    clew_buf_reset(&g->scratch);
    if (clew_buf_reserve(&g->scratch, v->dlen + 1) != 0) {
        return -ENOMEM;
    }
    clew_json_str_decode(v, (char *)g->scratch.data);
    *out = (const char *)g->scratch.data;
    return 0;
}

/* Whether key k decodes to name (n <= 16 bytes). */
static bool key_is(const struct clew_json_val *k, const char *name, size_t n)
{
    char tmp[16];
    if (k->dlen != n || n > sizeof(tmp)) {
        return false;
    }
    if (!(k->flags & DECODE)) {
        return memcmp(k->ptr + 1, name, n) == 0;
    }
    clew_json_str_decode(k, tmp);
    return memcmp(tmp, name, n) == 0;
}

/* ---- the fields object ---- */

/* Whether put_real would print this real's text unchanged: no exponent,
 * either ".0" after at most 15 integer digits, or at most 15 significant
 * digits ending in a non-zero one with the first one at 10^-4..10^14 (the
 * fixed notation of %.15g, whose output reads back exactly). */
static bool real_is_canonical(const char *s, size_t n)
{
    const char *end = s + n, *dot = memchr(s, '.', n);
    if (dot == NULL || memchr(s, 'e', n) != NULL || memchr(s, 'E', n) != NULL) {
        return false;
    }
    const char *ip = s + (*s == '-' ? 1 : 0), *fp = dot + 1;
    size_t idig = (size_t)(dot - ip), fdig = (size_t)(end - fp);
    if (fdig == 1 && *fp == '0') {
        return idig <= 15;
    }
    if (end[-1] == '0') {
        return false;
    }
    if (!(idig == 1 && *ip == '0')) {
        return idig + fdig <= 15;
    }
    size_t zeros = 0;
    while (zeros < fdig && fp[zeros] == '0') {
        zeros++;
    }
    return zeros <= 3 && fdig - zeros <= 15;
}

static int write_scalar(struct gelf *g, struct clew_buf *b, const struct clew_json_val *v)
{
    const char *text;
    double d;
    switch (v->kind) {
    case CLEW_JSON_STRING:
        if (!(v->flags & DECODE)) {
            return put(b, v->ptr, v->len);
        }
        return str_text(g, v, &text) != 0 ? -ENOMEM : put_str(b, text, v->dlen);
    case CLEW_JSON_NUMBER:
        if (!(v->flags & CLEW_JSON_F_REAL)) {
            bool minus_zero = v->len == 2 && memcmp(v->ptr, "-0", 2) == 0;
            return minus_zero ? put(b, "0", 1) : put(b, v->ptr, v->len);
        }
        if (real_is_canonical(v->ptr, v->len)) {
            return put(b, v->ptr, v->len);
        }
        return clew_json_num_f64(v, &d) != 0 ? CLEW_GELF_EJSON : put_real(b, d);
    default: /* true, false, null */
        return put(b, v->ptr, v->len);
    }
}

static int write_container(struct gelf *g, struct clew_buf *b, struct clew_json_scan *s,
                           unsigned depth);

/* The value at the scanner's cursor. */
static int write_item(struct gelf *g, struct clew_buf *b, struct clew_json_scan *s, unsigned depth)
{
    struct clew_json_val v;
    int kind = clew_json_scan_peek(s);
    if (kind == CLEW_JSON_OBJECT || kind == CLEW_JSON_ARRAY) {
        return write_container(g, b, s, depth + 1);
    }
    int rc = clew_json_scan_value(s, &v);
    return rc != 0 ? rc : write_scalar(g, b, &v);
}

/* A nested object, its keys checked for repeats by hash (a repeat, even a
 * mere collision, sends the value to the jansson fallback). */
static int write_object(struct gelf *g, struct clew_buf *b, struct clew_json_scan *s,
                        unsigned depth)
{
    uint64_t seen[NEST_KEYS];
    size_t n = 0;
    struct clew_json_val k;
    const char *text;
    int rc;
    while ((rc = clew_json_scan_key(s, &k)) == 1) {
        if (n == NEST_KEYS || str_text(g, &k, &text) != 0) {
            return n == NEST_KEYS ? FALLBACK : -ENOMEM;
        }
        uint64_t h = XXH3_64bits(text, k.dlen);
        for (size_t i = 0; i < n; i++) {
            if (seen[i] == h) {
                return FALLBACK;
            }
        }
        seen[n++] = h;
        rc = put(b, n == 1 ? "{" : ",", 1);
        rc = rc != 0 ? rc : (k.flags & DECODE) ? put_str(b, text, k.dlen) : put(b, k.ptr, k.len);
        rc = rc != 0 ? rc : put(b, ":", 1);
        rc = rc != 0 ? rc : write_item(g, b, s, depth);
        if (rc != 0) {
            return rc;
        }
    }
    return rc != 0 ? rc : put(b, n == 0 ? "{}" : "}", n == 0 ? 2 : 1);
}

static int write_array(struct gelf *g, struct clew_buf *b, struct clew_json_scan *s, unsigned depth)
{
    int rc, first = 1;
    if (put(b, "[", 1) != 0) {
        return -ENOMEM;
    }
    while ((rc = clew_json_scan_item(s)) == 1) {
        if ((!first && put(b, ",", 1) != 0)) {
            return -ENOMEM;
        }
        first = 0;
        rc = write_item(g, b, s, depth);
        if (rc != 0) {
            return rc;
        }
    }
    return rc != 0 ? rc : put(b, "]", 1);
}

static int write_container(struct gelf *g, struct clew_buf *b, struct clew_json_scan *s,
                           unsigned depth)
{
    if (depth > NEST_MAX) {
        return FALLBACK;
    }
    int kind = clew_json_scan_enter(s);
    return kind == CLEW_JSON_OBJECT ? write_object(g, b, s, depth) : write_array(g, b, s, depth);
}

/* The value's text with every repaired string rewritten (decoded, then
 * escaped by put_str) so that jansson accepts it; into g->fixed. */
static int repair_text(struct gelf *g, const struct clew_json_val *v)
{
    const char *p = v->ptr, *end = v->ptr + v->len;
    clew_buf_reset(&g->fixed);
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        q = q != NULL ? q : end;
        if (put(&g->fixed, p, (size_t)(q - p)) != 0) {
            return -ENOMEM;
        }
        if (q == end) {
            break;
        }
        struct clew_json_scan s;
        struct clew_json_val str;
        clew_json_scan_init(&s, q, (size_t)(end - q), SCAN_OPTS, 1);
        if (clew_json_scan_value(&s, &str) != 0) {
            return CLEW_GELF_EJSON; /* cannot happen: v was scanned */
        }
        int rc = write_scalar(g, &g->fixed, &str);
        if (rc != 0) {
            return rc;
        }
        p = q + str.len;
    }
    return 0;
}

/* A nested value the writer left: loaded by jansson, written by put_value. */
static int write_fallback(struct gelf *g, struct clew_buf *b, const struct clew_json_val *v)
{
    const char *text = v->ptr;
    size_t len = v->len;
    json_error_t err;
    if (v->flags & CLEW_JSON_F_FIX) {
        int rc = repair_text(g, v);
        if (rc != 0) {
            return rc;
        }
        text = (const char *)g->fixed.data;
        len = g->fixed.len;
    }
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
    if (root == NULL) {
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : CLEW_GELF_EJSON;
    }
    int rc = put_value(b, root);
    json_decref(root);
    return rc;
}

static int write_value(struct gelf *g, struct clew_buf *b, const struct clew_json_val *v)
{
    if (v->kind != CLEW_JSON_OBJECT && v->kind != CLEW_JSON_ARRAY) {
        return write_scalar(g, b, v);
    }
    struct clew_json_scan s;
    size_t mark = b->len;
    clew_json_scan_init(&s, v->ptr, v->len, SCAN_OPTS, CLEW_JSON_MAX_DEPTH);
    int rc = write_container(g, b, &s, 1);
    if (rc == FALLBACK) {
        b->len = mark;
        rc = write_fallback(g, b, v);
    }
    return rc;
}

static bool is_used(const struct gelf *g, size_t i)
{
    for (int u = 0; u < 4; u++) {
        if (g->used[u] == (int)i) {
            return true;
        }
    }
    return false;
}

/* Whether member i goes into fields; *skip: bytes of its key to drop. */
static bool field_name(const struct gelf *g, size_t i, size_t *skip)
{
    const struct member *m = &g->m[i];
    size_t klen = m->k.dlen;
    *skip = 0;
    if (m->dup || is_used(g, i) || g->slot[S_VERSION] == (int)i || g->slot[S_ID] == (int)i) {
        return false;
    }
    if (klen > 0 && m->key[0] == '_') {
        *skip = 1;
        return true;
    }
    /* A plain key loses against its underscored twin ("facility" vs "_facility"). */
    char twin[128];
    if (klen + 1 < sizeof(twin)) {
        twin[0] = '_';
        memcpy(twin + 1, m->key, klen);
        return !has_key(g, twin, klen + 1);
    }
    return true;
}

static int put_key(struct clew_buf *b, const struct member *m, size_t skip)
{
    if (m->k.flags & DECODE) {
        return put_str(b, m->key + skip, m->k.dlen - skip);
    }
    if (clew_buf_reserve(b, m->k.len) != 0) {
        return -ENOMEM;
    }
    put(b, "\"", 1);
    put(b, m->k.ptr + 1 + skip, m->k.len - 2 - skip);
    return put(b, "\"", 1);
}

/* Whether v is written as its raw text. */
static bool raw_value(const struct clew_json_val *v)
{
    switch (v->kind) {
    case CLEW_JSON_STRING:
        return !(v->flags & DECODE);
    case CLEW_JSON_NUMBER:
        if (v->flags & CLEW_JSON_F_REAL) {
            return real_is_canonical(v->ptr, v->len);
        }
        return !(v->len == 2 && v->ptr[0] == '-');
    case CLEW_JSON_OBJECT:
    case CLEW_JSON_ARRAY:
        return false;
    default:
        return true;
    }
}

/* Decides which members go into fields; returns the exact size of the
 * object when all of them are raw copies, else 0. */
static size_t pick_fields(struct gelf *g, size_t *count)
{
    size_t size = 1, skip;
    bool raw = true;
    *count = 0;
    for (size_t i = 0; i < g->n; i++) {
        struct member *m = &g->m[i];
        m->field = field_name(g, i, &skip);
        m->skip = (uint8_t)skip;
        if (m->field) {
            raw = raw && !(m->k.flags & DECODE) && raw_value(&m->v);
            size += m->k.len - skip + 2 + m->v.len; /* key, ':' and ',' or '}' */
            (*count)++;
        }
    }
    return raw ? size : 0;
}

/* The common case: every field a raw copy, straight into the arena. */
static int write_raw_fields(struct gelf *g, size_t size, struct clew_record *out)
{
    char *p = clew_arena_alloc(g->arena, size + 1), *o = p;
    if (p == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < g->n; i++) {
        const struct member *m = &g->m[i];
        if (!m->field) {
            continue;
        }
        char sep = o == p ? '{' : ',';
        *o++ = sep;
        *o++ = '"';
        memcpy(o, m->k.ptr + 1 + m->skip, m->k.len - 2 - m->skip);
        o += m->k.len - 2 - m->skip;
        *o++ = '"';
        *o++ = ':';
        memcpy(o, m->v.ptr, m->v.len);
        o += m->v.len;
    }
    *o++ = '}';
    *o = '\0';
    out->fields = (struct clew_str){ p, (size_t)(o - p) };
    return 0;
}

static int map_fields(struct gelf *g, struct clew_record *out, size_t payload_len)
{
    struct clew_buf b;
    size_t count, size = pick_fields(g, &count);
    int rc = 0;
    if (count == 0) {
        return 0;
    }
    if (size != 0) {
        return write_raw_fields(g, size, out);
    }
    clew_buf_init(&b);
    rc = clew_buf_reserve(&b, payload_len + 16) != 0 ? -ENOMEM : 0;
    for (size_t i = 0; i < g->n && rc == 0; i++) {
        if (!g->m[i].field) {
            continue;
        }
        rc = put(&b, b.len == 0 ? "{" : ",", 1) != 0 ? -ENOMEM : 0;
        rc = rc != 0 ? rc : put_key(&b, &g->m[i], g->m[i].skip);
        rc = rc != 0 ? rc : put(&b, ":", 1);
        rc = rc != 0 ? rc : write_value(g, &b, &g->m[i].v);
    }
    if (rc == 0) {
        rc = put(&b, "}", 1) != 0 ? -ENOMEM : 0;
        char *p = rc == 0 ? clew_arena_dup(g->arena, b.data, b.len) : NULL;
        rc = rc != 0 ? rc : p == NULL ? -ENOMEM : 0;
        out->fields = (struct clew_str){ p, rc == 0 ? b.len : 0 };
    }
    clew_buf_close(&b);
    return rc == -ENOMEM || rc == 0 ? rc : CLEW_GELF_EJSON;
}

/* ---- mapping ---- */

static int dup_str(struct clew_arena *a, struct clew_str *dst, const char *s, size_t n)
{
    char *p = clew_arena_dup(a, s, n);
    if (p == NULL) {
        return -ENOMEM;
    }
    dst->ptr = p;
    dst->len = n;
    return 0;
}

/* Whether string v decodes to something starting with '/'. */
static bool starts_with_slash(const struct clew_json_val *v)
{
    const char *p = v->ptr + 1;
    if (v->dlen == 0 || p[0] != '\\') {
        return v->dlen != 0 && p[0] == '/';
    }
    return p[1] == '/' || (p[1] == 'u' && memcmp(p + 2, "002", 3) == 0 && (p[5] | 0x20) == 'f');
}

/* Copies string v into the arena, dropping a leading '/' if strip_slash. */
static int dup_val(struct gelf *g, struct clew_str *dst, const struct clew_json_val *v,
                   bool strip_slash)
{
    size_t cut = strip_slash && starts_with_slash(v) ? 1 : 0;
    if (!(v->flags & DECODE)) {
        return dup_str(g->arena, dst, v->ptr + 1 + cut, v->dlen - cut);
    }
    char *p = clew_arena_alloc(g->arena, v->dlen + 1);
    if (p == NULL) {
        return -ENOMEM;
    }
    clew_json_str_decode(v, p);
    p[v->dlen] = '\0';
    dst->ptr = p + cut;
    dst->len = v->dlen - cut;
    return 0;
}

static int dup_lower(struct gelf *g, struct clew_str *dst, const struct clew_json_val *v)
{
    int rc = dup_val(g, dst, v, false);
    if (rc == 0) {
        char *p = (char *)(uintptr_t)dst->ptr;
        for (size_t i = 0; i < dst->len; i++) {
            p[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        }
    }
    return rc;
}

static bool nonempty(const struct clew_json_val *v, bool strip_slash)
{
    return v != NULL && v->dlen > (strip_slash && starts_with_slash(v) ? 1u : 0u);
}

/* The `name` string of the `_service` object (its last `name` key). */
static const struct clew_json_val *nested_name(const struct gelf *g, struct clew_json_val *out)
{
    const struct clew_json_val *obj = slot_val(g, S_SERVICE_U);
    struct clew_json_scan s;
    struct clew_json_val k, v;
    bool found = false;
    if (obj == NULL || obj->kind != CLEW_JSON_OBJECT) {
        return NULL;
    }
    clew_json_scan_init(&s, obj->ptr, obj->len, SCAN_OPTS, CLEW_JSON_MAX_DEPTH);
    clew_json_scan_enter(&s);
    while (clew_json_scan_member(&s, &k, &v) == 1) {
        if (key_is(&k, "name", 4)) {
            *out = v;
            found = true;
        }
    }
    return found && out->kind == CLEW_JSON_STRING ? out : NULL;
}

static int map_service(struct gelf *g, struct clew_record *out)
{
    static const int order[] = { S_SERVICE_U,    S_SERVICE, S_SERVICE_NAME_U,
                                 S_SERVICE_NAME, -1, /* "_service": {"name": ...} */
                                 S_APP_U,        S_APP,     S_COMPOSE,
                                 S_CNAME,        S_PROGRAM };
    struct clew_json_val nested;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const struct clew_json_val *v =
            order[i] < 0 ? nested_name(g, &nested) : slot_str(g, order[i]);
        bool slash = order[i] == S_CNAME;
        if (nonempty(v, slash)) {
            return dup_val(g, &out->labels[CLEW_LABEL_SERVICE], v, slash);
        }
    }
    return 0;
}

/* "_name" if a string, else "name". */
static const struct clew_json_val *get_extra(const struct gelf *g, int uslot, int slot)
{
    const struct clew_json_val *v = slot_str(g, uslot);
    return v != NULL ? v : slot_str(g, slot);
}

static int map_ids(struct gelf *g, struct clew_record *out)
{
    const struct clew_json_val *v;
    int rc = 0;
    if ((v = slot_str(g, S_CID)) != NULL) {
        rc = dup_val(g, &out->labels[CLEW_LABEL_CONTAINER_ID], v, false);
    }
    if (rc == 0 && (v = slot_str(g, S_CNAME)) != NULL) {
        rc = dup_val(g, &out->labels[CLEW_LABEL_CONTAINER_NAME], v, true);
    }
    if (rc == 0 && (v = slot_str(g, S_STREAM)) != NULL) {
        rc = dup_val(g, &out->labels[CLEW_LABEL_STREAM], v, false);
    }
    if (rc == 0 && (v = get_extra(g, S_TRACE_U, S_TRACE)) != NULL) {
        rc = dup_lower(g, &out->trace_id, v);
    }
    if (rc == 0 && (v = get_extra(g, S_SPAN_U, S_SPAN)) != NULL) {
        rc = dup_lower(g, &out->span_id, v);
    }
    if (rc == 0 && (v = get_extra(g, S_PARENT_U, S_PARENT)) != NULL) {
        rc = dup_lower(g, &out->parent_span_id, v);
    }
    return rc;
}
/* Seconds as a decimal string ("1705314600.25"), exactly; 0 or -1. */
static int ts_from_decimal(const char *s, size_t n, int64_t *out)
{
    int64_t sec = 0, frac = 0, scale = CLEW_NS_PER_SEC;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (sec >= MAX_SECONDS) {
            return -1;
        }
        sec = sec * 10 + (s[i] - '0');
    }
    if (i == 0) {
        return -1;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (scale > 1) {
                scale /= 10;
                frac += (s[i] - '0') * scale;
            }
        }
    }
    if (i != n || sec >= MAX_SECONDS) {
        return -1;
    }
    *out = sec * CLEW_NS_PER_SEC + frac;
    return 0;
}

/* A double keeps ~16 significant digits: round the fraction to the finest
 * power of ten that is still above the double's resolution at this value. */
static int ts_from_real(double sec, int64_t *out)
{
    if (!(sec > 0) || sec >= (double)MAX_SECONDS) {
        return -1;
    }
    double ip = floor(sec);
    double ulp = nextafter(sec, INFINITY) - sec;
    double g = 1;
    while (g < 1e9 && g * 1e-9 < ulp) {
        g *= 10;
    }
    *out = (int64_t)ip * CLEW_NS_PER_SEC + (int64_t)(llround((sec - ip) * 1e9 / g) * (int64_t)g);
    return 0;
}

/* 0 and *out set, 1 when v is no usable timestamp, or -ENOMEM. */
static int ts_of(struct gelf *g, const struct clew_json_val *v, int64_t *out)
{
    int64_t s;
    double d;
    const char *text;
    if (v->kind == CLEW_JSON_NUMBER && !(v->flags & CLEW_JSON_F_REAL)) {
        if (clew_json_num_i64(v, &s) != 0 || s <= 0 || s >= MAX_SECONDS) {
            return 1;
        }
        *out = s * CLEW_NS_PER_SEC;
        return 0;
    }
    if (v->kind == CLEW_JSON_NUMBER) {
        return clew_json_num_f64(v, &d) == 0 && ts_from_real(d, out) == 0 ? 0 : 1;
    }
    if (v->kind != CLEW_JSON_STRING) {
        return 1;
    }
    if (str_text(g, v, &text) != 0) {
        return -ENOMEM;
    }
    if (ts_from_decimal(text, v->dlen, out) == 0) {
        return *out > 0 ? 0 : 1;
    }
    return clew_time_parse_rfc3339(text, v->dlen, out) == 0 ? 0 : 1;
}

/* 0 and *level set (0-7, or -1 when v is no usable level), or -ENOMEM. */
static int level_of(struct gelf *g, const struct clew_json_val *v, int *level)
{
    int64_t l;
    double d;
    const char *text;
    *level = -1;
    if (v == NULL) {
        return 0;
    }
    if (v->kind == CLEW_JSON_NUMBER && !(v->flags & CLEW_JSON_F_REAL)) {
        *level = clew_json_num_i64(v, &l) == 0 && l >= 0 && l <= 7 ? (int)l : -1;
    } else if (v->kind == CLEW_JSON_NUMBER) {
        bool ok = clew_json_num_f64(v, &d) == 0 && d >= 0 && d <= 7 && d == floor(d);
        *level = ok ? (int)d : -1;
    } else if (v->kind == CLEW_JSON_STRING) {
        if (str_text(g, v, &text) != 0) {
            return -ENOMEM;
        }
        *level = clew_level_parse(text, v->dlen);
    }
    return 0;
}

/* The message: first non-empty of short_message, message, full_message;
 * all empty: the first present one. Returns its slot, or -1. */
static int pick_message(const struct gelf *g)
{
    static const int cand[3] = { S_SHORT, S_MESSAGE, S_FULL };
    int first = -1;
    for (size_t i = 0; i < 3; i++) {
        const struct clew_json_val *v = slot_str(g, cand[i]);
        if (v != NULL && v->dlen > 0) {
            return cand[i];
        }
        first = v != NULL && first < 0 ? cand[i] : first;
    }
    return first;
}

static int map_message(struct gelf *g, struct clew_record *out)
{
    int s = pick_message(g);
    const char *text;
    if (s < 0) {
        return CLEW_GELF_ENOMSG;
    }
    /* full_message stays in fields even when it also became the message. */
    g->used[1] = s == S_FULL ? -1 : g->slot[s];
    const struct clew_json_val *m = slot_val(g, s);
    size_t n = m->dlen;
    size_t max = g->opts != NULL ? g->opts->max_message : 0;
    if (max == 0 || n <= max) {
        return dup_val(g, &out->message, m, false);
    }
    if (str_text(g, m, &text) != 0) {
        return -ENOMEM;
    }
    n = max;
    while (n > 0 && n + 3 >= max && ((uint8_t)text[n] & 0xc0) == 0x80) {
        n--; /* do not split a UTF-8 sequence */
    }
    out->flags |= CLEW_REC_TRUNCATED;
    if (g->opts->stats != NULL) {
        g->opts->stats->truncated++;
    }
    return dup_str(g->arena, &out->message, text, n);
}

/* Whether _stream is "stderr" (compared as a C string, as before). */
static int stream_is_stderr(struct gelf *g, bool *yes)
{
    const struct clew_json_val *st = slot_str(g, S_STREAM);
    const char *text;
    *yes = false;
    if (st == NULL || st->dlen < 6) {
        return 0;
    }
    if (str_text(g, st, &text) != 0) {
        return -ENOMEM;
    }
    *yes = memcmp(text, "stderr", 6) == 0 && (st->dlen == 6 || text[6] == '\0');
    return 0;
}

static int map_scalars(struct gelf *g, int64_t recv_ns, struct clew_record *out)
{
    const struct clew_json_val *v = slot_val(g, S_TS);
    int level, rc = v != NULL ? ts_of(g, v, &out->ts) : 1;
    if (rc < 0) {
        return rc;
    }
    g->used[2] = rc == 0 ? g->slot[S_TS] : -1;
    out->ts = rc == 0 ? out->ts : recv_ns;
    if (level_of(g, slot_val(g, S_LEVEL), &level) != 0) {
        return -ENOMEM;
    }
    if (level >= 0) {
        g->used[3] = g->slot[S_LEVEL];
    } else {
        bool err;
        if (stream_is_stderr(g, &err) != 0) {
            return -ENOMEM;
        }
        level = err ? 3 : CLEW_LEVEL_DEFAULT;
    }
    out->level = (uint8_t)level;
    if ((v = slot_str(g, S_HOST)) != NULL) {
        g->used[0] = g->slot[S_HOST];
        return dup_val(g, &out->labels[CLEW_LABEL_HOST], v, false);
    }
    return 0;
}

static int map_record(struct gelf *g, int64_t recv_ns, size_t payload_len, struct clew_record *out)
{
    int rc = map_message(g, out);
    if (rc == 0) {
        rc = map_scalars(g, recv_ns, out);
    }
    if (rc == 0) {
        rc = map_service(g, out);
    }
    if (rc == 0) {
        rc = map_ids(g, out);
    }
    if (rc == 0) {
        rc = map_fields(g, out, payload_len);
    }
    return rc;
}

int clew_gelf_parse(const void *payload, size_t len, int64_t recv_ns,
                    const struct clew_gelf_parse_opts *opts, struct clew_record *out,
                    struct clew_arena *arena)
{
    size_t cap = opts != NULL && opts->max_size != 0 ? opts->max_size : CLEW_GELF_DEFAULT_MAX_SIZE;
    const uint8_t *text = payload;
    struct clew_gelf_inflater *own = NULL;
    memset(out, 0, sizeof(*out));
    out->input = CLEW_INPUT_GELF;
    int kind = clew_gelf_sniff(payload, len);
    if (kind < 0 || kind == CLEW_GELF_CHUNK) {
        return CLEW_GELF_EMAGIC;
    }
    if (kind != CLEW_GELF_PLAIN) {
        struct clew_gelf_inflater *inf = opts != NULL ? opts->inflater : NULL;
        if (inf == NULL && (inf = own = clew_gelf_inflater_new()) == NULL) {
            return -ENOMEM;
        }
        int rc = inflate_payload(inf, payload, len, kind == CLEW_GELF_GZIP, cap, &text, &len);
        if (rc != 0) {
            clew_gelf_inflater_free(own);
            return rc;
        }
    } else if (len > cap) {
        return CLEW_ETOOBIG;
    }
    struct gelf g;
    gelf_init(&g, arena, opts);
    int rc = scan_payload(&g, text, len);
    if (rc == 0) {
        rc = index_members(&g);
    }
    if (rc == 0) {
        rc = map_record(&g, recv_ns, len, out);
    }
    gelf_close(&g);
    clew_gelf_inflater_free(own);
    return rc;
}
