/* SPDX-License-Identifier: MIT
 * gelf_chunk: GELF chunk reassembly.
 *
 * Layout of a chunk datagram (GELF 1.1): 1e 0f | id[8] | seq | count | data.
 * Valid: count 1-128, seq < count; data may be empty. The message is the
 * data of seq 0..count-1 concatenated. The first chunk of an id fixes the
 * count; later chunks with another count are refused; a second copy of a
 * seq is ignored (first wins, as Graylog does). Unlike Graylog, the sender
 * address is not part of the key either: ids are 8 random bytes.
 *
 * Structure: an open-addressing hash table (linear probing, backward-shift
 * deletion, at most half full) maps the id to its message; messages also sit
 * on a list in arrival order of their first chunk, so expiry and eviction
 * take the oldest in O(1). Each chunk's data is one heap copy. */
#include "collector/gelf_chunk.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/buf.h"

#define DEFAULT_TIMEOUT_NS  (5LL * 1000000000LL)
#define DEFAULT_MAX_MEMORY  ((size_t)64 << 20)
#define DEFAULT_MAX_MESSAGE 8192u
#define MAX_MAX_MESSAGES    ((size_t)1 << 24)

struct part {
    uint8_t *data;
    size_t len;
};

struct msg {
    struct msg *older, *newer; /* age list */
    uint64_t id;
    uint64_t hash;
    int64_t first_ns;
    size_t charge; /* bytes counted against max_memory */
    uint8_t count;
    uint8_t got;
    uint64_t have[2]; /* bit per seq */
    struct part parts[];
};

struct clew_gelf_chunker {
    struct clew_gelf_chunker_opts opts;
    struct msg **table;
    size_t mask;
    struct msg *oldest, *newest;
    struct clew_buf out; /* the last reassembled message */
    struct clew_gelf_chunker_stats stats;
};

const char *clew_gelf_chunk_strerror(int rc)
{
    switch (rc) {
    case CLEW_GELF_ECHUNK_SHORT:
        return "GELF chunk: datagram shorter than the chunk header";
    case CLEW_GELF_ECHUNK_COUNT:
        return "GELF chunk: sequence count is 0 or above 128";
    case CLEW_GELF_ECHUNK_SEQ:
        return "GELF chunk: sequence number not below the count";
    case CLEW_GELF_ECHUNK_MISMATCH:
        return "GELF chunk: sequence count differs from the message's first chunk";
    default:
        return clew_strerror(rc);
    }
}

struct clew_gelf_chunker *clew_gelf_chunker_new(const struct clew_gelf_chunker_opts *opts)
{
    struct clew_gelf_chunker *c = clew_calloc(1, sizeof(*c));
    if (c == NULL) {
        goto fail;
    }
    if (opts != NULL) {
        c->opts = *opts;
    }
    if (c->opts.timeout_ns <= 0) {
        c->opts.timeout_ns = DEFAULT_TIMEOUT_NS;
    }
    if (c->opts.max_memory == 0) {
        c->opts.max_memory = DEFAULT_MAX_MEMORY;
    }
    if (c->opts.max_messages == 0 || c->opts.max_messages > MAX_MAX_MESSAGES) {
        c->opts.max_messages = c->opts.max_messages ? MAX_MAX_MESSAGES : DEFAULT_MAX_MESSAGE;
    }
    size_t slots = 16;
    while (slots < 2 * c->opts.max_messages) {
        slots *= 2;
    }
    c->table = clew_calloc(slots, sizeof(*c->table));
    if (c->table == NULL) {
        goto fail;
    }
    c->mask = slots - 1;
    clew_buf_init(&c->out);
    return c;
fail:
    clew_gelf_chunker_free(c);
    return NULL;
}

static void msg_free(struct msg *m)
{
    for (unsigned i = 0; i < m->count; i++) {
        clew_free(m->parts[i].data);
    }
    clew_free(m);
}

void clew_gelf_chunker_free(struct clew_gelf_chunker *c)
{
    if (c == NULL) {
        return;
    }
    struct msg *m = c->oldest;
    while (m != NULL) {
        struct msg *next = m->newer;
        msg_free(m);
        m = next;
    }
    clew_free(c->table);
    clew_buf_close(&c->out);
    clew_free(c);
}

void clew_gelf_chunker_stats(const struct clew_gelf_chunker *c, struct clew_gelf_chunker_stats *out)
{
    *out = c->stats;
}

/* ---- hash table ---- */

static uint64_t id_hash(const struct clew_gelf_chunker *c, uint64_t id)
{
    return XXH3_64bits_withSeed(&id, sizeof(id), c->opts.seed);
}

static size_t find_slot(const struct clew_gelf_chunker *c, uint64_t id, uint64_t hash)
{
    size_t i = (size_t)hash & c->mask;
    while (c->table[i] != NULL && c->table[i]->id != id) {
        i = (i + 1) & c->mask;
    }
    return i;
}

static void table_remove(struct clew_gelf_chunker *c, const struct msg *m)
{
    size_t i = find_slot(c, m->id, m->hash);
    size_t j = i;
    c->table[i] = NULL;
    for (;;) {
        j = (j + 1) & c->mask;
        if (c->table[j] == NULL) {
            return;
        }
        /* The entry at j may move back to the hole at i unless its home
         * slot lies cyclically within (i, j]. */
        size_t home = (size_t)c->table[j]->hash & c->mask;
        if (((j - home) & c->mask) >= ((j - i) & c->mask)) {
            c->table[i] = c->table[j];
            c->table[j] = NULL;
            i = j;
        }
    }
}

/* ---- messages ---- */

static void msg_drop(struct clew_gelf_chunker *c, struct msg *m)
{
    table_remove(c, m);
    if (m->older != NULL) {
        m->older->newer = m->newer;
    } else {
        c->oldest = m->newer;
    }
    if (m->newer != NULL) {
        m->newer->older = m->older;
    } else {
        c->newest = m->older;
    }
    c->stats.memory -= m->charge;
    c->stats.in_flight--;
    msg_free(m);
}

/* Evicts the oldest messages other than keep until need more bytes fit.
 * Returns 0, or CLEW_ETOOBIG when keep alone leaves no room. */
static int make_room(struct clew_gelf_chunker *c, size_t need, const struct msg *keep)
{
    while (c->stats.memory + need > c->opts.max_memory) {
        struct msg *victim = c->oldest;
        if (victim == keep) {
            victim = victim->newer;
        }
        if (victim == NULL) {
            return CLEW_ETOOBIG;
        }
        msg_drop(c, victim);
        c->stats.evicted++;
    }
    return 0;
}

/* Creates the message of id (after making room for its bookkeeping).
 * Returns 0, CLEW_ETOOBIG or -ENOMEM. */
static int msg_new(struct clew_gelf_chunker *c, uint64_t id, uint64_t hash, uint8_t count,
                   int64_t now_ns, struct msg **out)
{
    size_t size = sizeof(struct msg) + count * sizeof(struct part);
    int rc = make_room(c, size, NULL);
    if (rc != 0) {
        return rc;
    }
    struct msg *m = clew_calloc(1, size);
    if (m == NULL) {
        return -ENOMEM;
    }
    m->id = id;
    m->hash = hash;
    m->first_ns = now_ns;
    m->count = count;
    m->charge = size;
    m->older = c->newest;
    if (c->newest != NULL) {
        c->newest->newer = m;
    } else {
        c->oldest = m;
    }
    c->newest = m;
    c->table[find_slot(c, id, hash)] = m; /* after make_room: drops shift slots */
    c->stats.memory += size;
    c->stats.in_flight++;
    *out = m;
    return 0;
}

/* Copies the data of all parts, in order, into c->out. */
static int assemble(struct clew_gelf_chunker *c, const struct msg *m)
{
    size_t total = 0;
    for (unsigned i = 0; i < m->count; i++) {
        total += m->parts[i].len;
    }
    clew_buf_reset(&c->out);
    if (clew_buf_reserve(&c->out, total ? total : 1) != 0) {
        return -ENOMEM;
    }
    for (unsigned i = 0; i < m->count; i++) {
        if (m->parts[i].len != 0) {
            memcpy(c->out.data + c->out.len, m->parts[i].data, m->parts[i].len);
            c->out.len += m->parts[i].len;
        }
    }
    return 0;
}

/* Finds the message of id, dropping it when timed out; when there is none,
 * makes room under the message cap for a new one. */
static struct msg *msg_lookup(struct clew_gelf_chunker *c, uint64_t id, uint64_t hash,
                              int64_t now_ns)
{
    struct msg *m = c->table[find_slot(c, id, hash)];
    if (m != NULL && now_ns - m->first_ns > c->opts.timeout_ns) {
        msg_drop(c, m);
        c->stats.expired++;
        m = NULL;
    }
    if (m == NULL && c->stats.in_flight >= c->opts.max_messages) {
        msg_drop(c, c->oldest);
        c->stats.evicted++;
    }
    return m;
}

/* Holds one chunk's data; returns 1 when the message is complete and
 * assembled in c->out, 0 when held, or an error (the message is dropped). */
static int msg_put(struct clew_gelf_chunker *c, struct msg *m, uint8_t seq, const uint8_t *data,
                   size_t len)
{
    int rc = make_room(c, len, m);
    uint8_t *copy = rc == 0 ? clew_malloc(len ? len : 1) : NULL;
    if (copy == NULL) {
        msg_drop(c, m);
        return rc != 0 ? rc : -ENOMEM;
    }
    if (len != 0) {
        memcpy(copy, data, len);
    }
    m->parts[seq].data = copy;
    m->parts[seq].len = len;
    m->have[seq >> 6] |= 1ull << (seq & 63);
    m->charge += len;
    c->stats.memory += len;
    if (++m->got < m->count) {
        return 0;
    }
    rc = assemble(c, m);
    msg_drop(c, m);
    if (rc != 0) {
        return rc;
    }
    c->stats.completed++;
    return 1;
}

int clew_gelf_chunker_add(struct clew_gelf_chunker *c, const void *datagram, size_t len,
                          int64_t now_ns, const void **complete, size_t *complete_len)
{
    const uint8_t *p = datagram;
    if (len < 2 || p[0] != 0x1e || p[1] != 0x0f) {
        *complete = datagram;
        *complete_len = len;
        return 1;
    }
    if (len < CLEW_GELF_CHUNK_HEADER) {
        return CLEW_GELF_ECHUNK_SHORT;
    }
    uint8_t seq = p[10], count = p[11];
    if (count == 0 || count > CLEW_GELF_CHUNK_MAX) {
        return CLEW_GELF_ECHUNK_COUNT;
    }
    if (seq >= count) {
        return CLEW_GELF_ECHUNK_SEQ;
    }
    c->stats.chunks++;
    if (count == 1) {
        c->stats.completed++;
        *complete = p + CLEW_GELF_CHUNK_HEADER;
        *complete_len = len - CLEW_GELF_CHUNK_HEADER;
        return 1;
    }
    uint64_t id;
    memcpy(&id, p + 2, sizeof(id));
    uint64_t hash = id_hash(c, id);
    struct msg *m = msg_lookup(c, id, hash, now_ns);
    if (m != NULL && m->count != count) {
        return CLEW_GELF_ECHUNK_MISMATCH;
    }
    if (m != NULL && (m->have[seq >> 6] >> (seq & 63) & 1)) {
        c->stats.duplicates++;
        return 0;
    }
    int rc = m == NULL ? msg_new(c, id, hash, count, now_ns, &m) : 0;
    if (rc != 0) {
        return rc;
    }
    rc = msg_put(c, m, seq, p + CLEW_GELF_CHUNK_HEADER, len - CLEW_GELF_CHUNK_HEADER);
    if (rc == 1) {
        *complete = c->out.data;
        *complete_len = c->out.len;
    }
    return rc;
}

size_t clew_gelf_chunker_expire(struct clew_gelf_chunker *c, int64_t now_ns)
{
    size_t n = 0;
    while (c->oldest != NULL && now_ns - c->oldest->first_ns > c->opts.timeout_ns) {
        msg_drop(c, c->oldest);
        n++;
    }
    c->stats.expired += n;
    return n;
}
