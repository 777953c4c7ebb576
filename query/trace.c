/* SPDX-License-Identifier: MIT
 * Trace assembly. clew_trace_finish works in four sorted passes, each
 * O(n log n) at worst: records by (ts, arrival); spans found through an
 * open-addressing table keyed by (kind, span id | service); each span's
 * service as the most frequent of its records (a sort of (span, service));
 * the tree: parents looked up in the same table, cycles cut, children
 * sorted by (parent, start) and laid out in pre-order by an explicit-stack
 * walk (a deep chain cannot overflow the C stack). */
#include "query/trace.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/alloc.h"
#include "common/json_out.h"
#include "common/timeutil.h"

#define NO_SPAN UINT32_MAX

static int str_eq(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int str_cmp(struct clew_str a, struct clew_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int dup_str(struct clew_arena *a, struct clew_str *s)
{
    if (s->len == 0) {
        s->ptr = "";
        return 0;
    }
    char *d = clew_arena_dup(a, s->ptr, s->len);
    if (d == NULL) {
        return -ENOMEM;
    }
    s->ptr = d;
    return 0;
}

/* ------------------------------------------------------------ building */

int clew_trace_new(const char *id, size_t len, struct clew_trace **out)
{
    struct clew_trace *t = clew_calloc(1, sizeof(*t));
    *out = NULL;
    if (t == NULL) {
        return -ENOMEM;
    }
    clew_arena_init(&t->arena, 1u << 20);
    t->trace_id = (struct clew_str){ id, len };
    if (dup_str(&t->arena, &t->trace_id) < 0) {
        clew_trace_free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

void clew_trace_free(struct clew_trace *t)
{
    if (t == NULL) {
        return;
    }
    clew_free(t->records);
    clew_free(t->rec_span);
    clew_free(t->spans);
    clew_arena_close(&t->arena);
    clew_free(t);
}

int clew_trace_add(struct clew_trace *t, const struct clew_record *r)
{
    if (t->finished) {
        return CLEW_ECLOSED;
    }
    if (t->nrecords == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct clew_record *a = clew_realloc(t->records, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        t->records = a;
        t->cap = cap;
    }
    struct clew_record c = *r;
    struct clew_str *strs[] = { &c.labels[0],      &c.labels[1], &c.labels[2], &c.labels[3],
                                &c.labels[4],      &c.message,   &c.trace_id,  &c.span_id,
                                &c.parent_span_id, &c.fields };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (dup_str(&t->arena, strs[i]) < 0) {
            return -ENOMEM;
        }
    }
    t->records[t->nrecords++] = c;
    return 0;
}

struct ts_key {
    int64_t ts;
    uint32_t idx;
};

static int cmp_ts_key(const void *a, const void *b)
{
    const struct ts_key *x = a, *y = b;
    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Puts the records in (ts, arrival) order. */
static int sort_records(struct clew_trace *t)
{
    size_t n = t->nrecords;
    struct ts_key *k = clew_malloc((n ? n : 1) * sizeof(*k));
    struct clew_record *sorted = clew_malloc((n ? n : 1) * sizeof(*sorted));
    if (k == NULL || sorted == NULL) {
        clew_free(k);
        clew_free(sorted);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        k[i] = (struct ts_key){ t->records[i].ts, (uint32_t)i };
    }
    qsort(k, n, sizeof(*k), cmp_ts_key);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = t->records[k[i].idx];
    }
    clew_free(k);
    clew_free(t->records);
    t->records = sorted;
    t->cap = n;
    return 0;
}

/* ------------------------------------------------------------ span table */

/* Open addressing over span indices; key: (kind, string), kind 1 = span
 * id, 0 = service of a pseudo-span. */
struct span_table {
    uint32_t *slots; /* span index + 1; 0 empty */
    size_t mask;
};

static uint64_t span_hash(int kind, struct clew_str key)
{
    return XXH3_64bits_withSeed(key.ptr, key.len, (uint64_t)kind + 1);
}

static int span_key_eq(const struct clew_trace_span *s, int kind, struct clew_str key)
{
    return kind ? (s->span_id.len > 0 && str_eq(s->span_id, key))
                : (s->span_id.len == 0 && str_eq(s->service, key));
}

/* The slot of (kind, key): holding its span, or the empty one to use. */
static uint32_t *span_slot(const struct span_table *tb, const struct clew_trace_span *spans,
                           int kind, struct clew_str key)
{
    size_t i = (size_t)span_hash(kind, key) & tb->mask;
    while (tb->slots[i] != 0 && !span_key_eq(&spans[tb->slots[i] - 1], kind, key)) {
        i = (i + 1) & tb->mask;
    }
    return &tb->slots[i];
}

static int table_init(struct span_table *tb, size_t n)
{
    size_t size = 16;
    while (size < 2 * n) {
        size *= 2;
    }
    tb->slots = clew_calloc(size, sizeof(*tb->slots));
    tb->mask = size - 1;
    return tb->slots ? 0 : -ENOMEM;
}

static struct clew_trace_span *new_span(struct clew_trace *t, size_t *cap)
{
    if (t->nspans == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        struct clew_trace_span *a = clew_realloc(t->spans, c * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        t->spans = a;
        *cap = c;
    }
    struct clew_trace_span *s = &t->spans[t->nspans++];
    memset(s, 0, sizeof(*s));
    s->parent = -1;
    return s;
}

/* Creates the spans (in order of their first record) and rec_span. */
static int build_spans(struct clew_trace *t, struct span_table *tb)
{
    size_t n = t->nrecords, cap = 0;
    t->rec_span = clew_malloc((n ? n : 1) * sizeof(*t->rec_span));
    if (t->rec_span == NULL || table_init(tb, n) < 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct clew_record *r = &t->records[i];
        int kind = r->span_id.len > 0;
        struct clew_str key = kind ? r->span_id : r->labels[CLEW_LABEL_SERVICE];
        uint32_t *slot = span_slot(tb, t->spans, kind, key);
        if (*slot == 0) {
            struct clew_trace_span *s = new_span(t, &cap);
            if (s == NULL) {
                return -ENOMEM;
            }
            s->span_id = kind ? r->span_id : (struct clew_str){ "", 0 };
            s->service = r->labels[CLEW_LABEL_SERVICE];
            s->start = r->ts;
            *slot = (uint32_t)t->nspans;
        }
        struct clew_trace_span *s = &t->spans[*slot - 1];
        t->rec_span[i] = *slot - 1;
        s->end = r->ts;
        s->records++;
        s->errors += r->level <= 3;
        if (s->parent_span_id.len == 0) {
            s->parent_span_id = r->parent_span_id;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ services */

struct svc_key {
    uint32_t span, rec;
    struct clew_str svc;
};

static int cmp_svc_key(const void *a, const void *b)
{
    const struct svc_key *x = a, *y = b;
    if (x->span != y->span) {
        return x->span < y->span ? -1 : 1;
    }
    int c = str_cmp(x->svc, y->svc);
    return c ? c : (x->rec > y->rec) - (x->rec < y->rec);
}

/* Each span's service: the most frequent among its records; on a tie the
 * one seen first. */
static int pick_services(struct clew_trace *t)
{
    size_t n = t->nrecords;
    struct svc_key *k = clew_malloc((n ? n : 1) * sizeof(*k));
    if (k == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        k[i] = (struct svc_key){ t->rec_span[i], (uint32_t)i,
                                 t->records[i].labels[CLEW_LABEL_SERVICE] };
    }
    qsort(k, n, sizeof(*k), cmp_svc_key);
    size_t best_n = 0;
    uint32_t best_first = 0;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && k[j].span == k[i].span && str_eq(k[j].svc, k[i].svc); j++) {
        }
        if (i == 0 || k[i].span != k[i - 1].span) {
            best_n = 0; /* first run of a new span */
        }
        if (j - i > best_n || (j - i == best_n && k[i].rec < best_first)) {
            best_n = j - i;
            best_first = k[i].rec;
            t->spans[k[i].span].service = k[i].svc;
        }
    }
    clew_free(k);
    return 0;
}

/* ------------------------------------------------------------ the tree */

static void link_parents(struct clew_trace *t, const struct span_table *tb)
{
    for (size_t i = 0; i < t->nspans; i++) {
        struct clew_trace_span *s = &t->spans[i];
        if (s->parent_span_id.len == 0) {
            continue;
        }
        uint32_t p = *span_slot(tb, t->spans, 1, s->parent_span_id);
        if (p != 0 && p - 1 != i) {
            s->parent = (int32_t)(p - 1);
        }
    }
}

/* Cuts the cycle through s (reached again while walking up): the span
 * with the smallest (start, index) in it becomes a root. */
static void cut_at_earliest(struct clew_trace *t, int32_t s)
{
    int32_t best = s;
    for (int32_t c = t->spans[s].parent; c != s; c = t->spans[c].parent) {
        if (t->spans[c].start < t->spans[best].start ||
            (t->spans[c].start == t->spans[best].start && c < best)) {
            best = c;
        }
    }
    t->spans[best].parent = -1;
}

/* Cuts every parent cycle. Each span is walked up once: state 0 unseen,
 * 1 on the current path, 2 done. */
static int cut_cycles(struct clew_trace *t)
{
    size_t n = t->nspans;
    uint8_t *state = clew_calloc(n ? n : 1, 1);
    int32_t *path = clew_malloc((n ? n : 1) * sizeof(*path));
    if (state == NULL || path == NULL) {
        clew_free(state);
        clew_free(path);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        int32_t s = (int32_t)i;
        while (s >= 0 && state[s] == 0) {
            state[s] = 1;
            path[len++] = s;
            s = t->spans[s].parent;
        }
        if (s >= 0 && state[s] == 1) {
            cut_at_earliest(t, s);
        }
        while (len > 0) {
            state[path[--len]] = 2;
        }
    }
    clew_free(state);
    clew_free(path);
    return 0;
}

struct child_key {
    int32_t parent;
    uint32_t idx;
    int64_t start;
};

static int cmp_child_key(const void *a, const void *b)
{
    const struct child_key *x = a, *y = b;
    if (x->parent != y->parent) {
        return x->parent < y->parent ? -1 : 1;
    }
    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Pushes the children of p (a contiguous run of k starting at first[p+1])
 * onto the stack in reverse, so the earliest is popped first. */
static void push_children(const struct child_key *k, const size_t *first, int32_t p,
                          uint32_t *stack, size_t *top)
{
    for (size_t j = first[p + 2]; j > first[p + 1]; j--) {
        stack[(*top)++] = k[j - 1].idx;
    }
}

/* order[i]: the old index of the i-th span in pre-order; depth set. */
static int preorder(struct clew_trace *t, uint32_t *order)
{
    size_t n = t->nspans;
    struct child_key *k = clew_malloc((n ? n : 1) * sizeof(*k));
    size_t *first = clew_calloc(n + 2, sizeof(*first)); /* run of parent p at first[p+1] */
    uint32_t *stack = clew_malloc((n ? n : 1) * sizeof(*stack));
    int rc = (k && first && stack) ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        k[i] = (struct child_key){ t->spans[i].parent, (uint32_t)i, t->spans[i].start };
        first[t->spans[i].parent + 2]++;
    }
    if (rc == 0) {
        qsort(k, n, sizeof(*k), cmp_child_key);
        for (size_t p = 1; p < n + 2; p++) {
            first[p] += first[p - 1];
        }
        size_t top = 0, out = 0;
        push_children(k, first, -1, stack, &top);
        while (top > 0) {
            uint32_t s = stack[--top];
            int32_t p = t->spans[s].parent;
            t->spans[s].depth = p < 0 ? 0 : t->spans[p].depth + 1;
            order[out++] = s;
            push_children(k, first, (int32_t)s, stack, &top);
        }
    }
    clew_free(k);
    clew_free(first);
    clew_free(stack);
    return rc;
}

/* Lays the spans out in pre-order and renumbers parents and rec_span. */
static int layout(struct clew_trace *t)
{
    size_t n = t->nspans;
    uint32_t *order = clew_malloc((n ? n : 1) * sizeof(*order));
    uint32_t *pos = clew_malloc((n ? n : 1) * sizeof(*pos));
    struct clew_trace_span *spans = clew_malloc((n ? n : 1) * sizeof(*spans));
    int rc = (order && pos && spans) ? preorder(t, order) : -ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            pos[order[i]] = (uint32_t)i;
        }
        for (size_t i = 0; i < n; i++) {
            spans[i] = t->spans[order[i]];
            spans[i].parent = spans[i].parent < 0 ? -1 : (int32_t)pos[spans[i].parent];
        }
        for (size_t i = 0; i < t->nrecords; i++) {
            t->rec_span[i] = pos[t->rec_span[i]];
        }
        clew_free(t->spans);
        t->spans = spans;
        spans = NULL;
    }
    clew_free(order);
    clew_free(pos);
    clew_free(spans);
    return rc;
}

int clew_trace_finish(struct clew_trace *t)
{
    if (t->finished) {
        return 0;
    }
    t->finished = 1;
    struct span_table tb = { NULL, 0 };
    int rc = sort_records(t);
    rc = rc ? rc : build_spans(t, &tb);
    rc = rc ? rc : pick_services(t);
    if (rc == 0) {
        link_parents(t, &tb);
        rc = cut_cycles(t);
    }
    rc = rc ? rc : layout(t);
    clew_free(tb.slots);
    if (rc == 0 && t->nrecords > 0) {
        t->start = t->records[0].ts;
        t->end = t->records[t->nrecords - 1].ts;
    }
    return rc;
}

int clew_trace_assemble(const char *id, size_t len, const struct clew_record *recs, size_t n,
                        struct clew_trace **out)
{
    struct clew_trace *t;
    int rc = clew_trace_new(id, len, &t);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = clew_trace_add(t, &recs[i]);
    }
    rc = rc ? rc : clew_trace_finish(t);
    if (rc < 0) {
        clew_trace_free(t);
        t = NULL;
    }
    *out = t;
    return rc;
}

/* ------------------------------------------------------------ JSON */

static int put_lit(struct clew_buf *b, const char *s)
{
    return clew_buf_append(b, s, strlen(s));
}

static int put_time(struct clew_buf *b, const char *key, int64_t ns)
{
    char ts[40];
    int n = clew_time_format(ns, 9, ts, sizeof(ts));
    int rc = put_lit(b, key);
    rc = rc ? rc : clew_buf_put_u8(b, '"');
    rc = rc ? rc : clew_buf_append(b, ts, n > 0 ? (size_t)n : 0);
    return rc ? rc : clew_buf_put_u8(b, '"');
}

static int put_span_json(struct clew_buf *b, const struct clew_trace_span *s)
{
    char num[160];
    int rc = put_lit(b, "{\"span_id\":");
    rc = rc ? rc : clew_json_put_str(b, s->span_id.ptr, s->span_id.len);
    rc = rc ? rc : put_lit(b, ",\"parent_span_id\":");
    rc = rc ? rc : clew_json_put_str(b, s->parent_span_id.ptr, s->parent_span_id.len);
    rc = rc ? rc : put_lit(b, ",\"service\":");
    rc = rc ? rc : clew_json_put_str(b, s->service.ptr, s->service.len);
    rc = rc ? rc : put_time(b, ",\"start\":", s->start);
    rc = rc ? rc : put_time(b, ",\"end\":", s->end);
    int64_t d = s->end - s->start;
    int n = snprintf(num, sizeof(num),
                     ",\"records\":%llu,\"errors\":%llu,\"duration_ms\":%lld.%06lld,\"depth\":%u}",
                     (unsigned long long)s->records, (unsigned long long)s->errors,
                     (long long)(d / 1000000), (long long)(d % 1000000), s->depth);
    return rc ? rc : clew_buf_append(b, num, (size_t)n);
}

int clew_trace_render_json(const struct clew_trace *t, struct clew_buf *out)
{
    int rc = put_lit(out, "{\"trace_id\":");
    rc = rc ? rc : clew_json_put_str(out, t->trace_id.ptr, t->trace_id.len);
    rc = rc ? rc : put_lit(out, ",\"records\":[");
    for (size_t i = 0; rc == 0 && i < t->nrecords; i++) {
        rc = i ? clew_buf_put_u8(out, ',') : 0;
        rc = rc ? rc : clew_json_put_record(out, &t->records[i]);
    }
    rc = rc ? rc : put_lit(out, "],\"spans\":[");
    for (size_t i = 0; rc == 0 && i < t->nspans; i++) {
        rc = i ? clew_buf_put_u8(out, ',') : 0;
        rc = rc ? rc : put_span_json(out, &t->spans[i]);
    }
    return rc ? rc : put_lit(out, "]}");
}

/* ------------------------------------------------------------ text */

#define NAME_MAX_W 32
#define SID_MAX_W  32

/* A duration as "12.345ms" (below 10 s) or "12.345s". */
static void fmt_dur(int64_t ns, char *buf, size_t len)
{
    if (ns < 10 * CLEW_NS_PER_SEC) {
        snprintf(buf, len, "%lld.%03lldms", (long long)(ns / 1000000),
                 (long long)(ns % 1000000 / 1000));
    } else {
        snprintf(buf, len, "%lld.%03llds", (long long)(ns / CLEW_NS_PER_SEC),
                 (long long)(ns % CLEW_NS_PER_SEC / 1000000));
    }
}

static int put_pad(struct clew_buf *b, char c, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = clew_buf_put_u8(b, (uint8_t)c);
    }
    return rc;
}

/* s cut to w bytes, then padded with spaces to w. */
static int put_cell(struct clew_buf *b, struct clew_str s, size_t w)
{
    size_t n = s.len < w ? s.len : w;
    int rc = clew_buf_append(b, s.ptr, n);
    return rc ? rc : put_pad(b, ' ', w - n);
}

struct text_cols {
    size_t name_w, sid_w, bar_w;
};

static void text_cols(const struct clew_trace *t, unsigned width, struct text_cols *c)
{
    c->name_w = 7;
    c->sid_w = 1;
    for (size_t i = 0; i < t->nspans; i++) {
        size_t nw = 2 * (size_t)t->spans[i].depth + t->spans[i].service.len;
        c->name_w = nw > c->name_w ? nw : c->name_w;
        c->sid_w = t->spans[i].span_id.len > c->sid_w ? t->spans[i].span_id.len : c->sid_w;
    }
    c->name_w = c->name_w < NAME_MAX_W ? c->name_w : NAME_MAX_W;
    c->sid_w = c->sid_w < SID_MAX_W ? c->sid_w : SID_MAX_W;
    size_t fixed = c->name_w + c->sid_w + 50; /* offsets, counts, separators */
    width = width < 60 ? 60 : width;
    c->bar_w = width > fixed + 10 ? width - fixed : 10;
}

/* The bar of [start, end] on a line of w cells spanning the trace. */
static int put_bar(struct clew_buf *b, const struct clew_trace *t, const struct clew_trace_span *s,
                   size_t w)
{
    size_t from = 0, to = w;
    double total = (double)(t->end - t->start);
    if (total > 0) {
        from = (size_t)((double)(s->start - t->start) / total * (double)w);
        to = (size_t)((double)(s->end - t->start) / total * (double)w + 0.999999);
        from = from < w ? from : w - 1;
        to = to > from ? (to < w ? to : w) : from + 1;
    }
    int rc = clew_buf_put_u8(b, '|');
    rc = rc ? rc : put_pad(b, ' ', from);
    rc = rc ? rc : put_pad(b, '#', to - from);
    rc = rc ? rc : put_pad(b, ' ', w - to);
    return rc ? rc : clew_buf_put_u8(b, '|');
}

static int put_span_text(struct clew_buf *b, const struct clew_trace *t,
                         const struct clew_trace_span *s, const struct text_cols *c)
{
    char off[32], dur[32], line[128];
    size_t ind = 2 * (size_t)s->depth < c->name_w ? 2 * (size_t)s->depth : c->name_w;
    int rc = put_pad(b, ' ', ind);
    rc = rc ? rc : put_cell(b, s->service, c->name_w - ind);
    rc = rc ? rc : clew_buf_put_u8(b, ' ');
    struct clew_str sid = s->span_id.len ? s->span_id : (struct clew_str){ "-", 1 };
    rc = rc ? rc : put_cell(b, sid, c->sid_w);
    fmt_dur(s->start - t->start, off, sizeof(off));
    fmt_dur(s->end - s->start, dur, sizeof(dur));
    int n = snprintf(line, sizeof(line), " +%-11s %11s %6llu rec %4llu err ", off, dur,
                     (unsigned long long)s->records, (unsigned long long)s->errors);
    rc = rc ? rc : clew_buf_append(b, line, (size_t)n);
    rc = rc ? rc : put_bar(b, t, s, c->bar_w);
    return rc ? rc : clew_buf_put_u8(b, '\n');
}

static int put_record_text(struct clew_buf *b, const struct clew_trace *t, size_t i)
{
    const struct clew_record *r = &t->records[i];
    const struct clew_trace_span *s = &t->spans[t->rec_span[i]];
    char ts[40];
    int n = clew_time_format(r->ts, 6, ts, sizeof(ts));
    int rc = clew_buf_append(b, ts, n > 0 ? (size_t)n : 0);
    rc = rc ? rc : put_pad(b, ' ', 2 + 2 * (size_t)(s->depth < 32 ? s->depth : 32));
    struct clew_str svc = r->labels[CLEW_LABEL_SERVICE];
    rc = rc ? rc : clew_buf_append(b, svc.len ? svc.ptr : "-", svc.len ? svc.len : 1);
    rc = rc ? rc : clew_buf_put_u8(b, ' ');
    rc = rc ? rc : put_lit(b, clew_level_name(r->level));
    rc = rc ? rc : clew_buf_put_u8(b, ' ');
    rc = rc ? rc : clew_buf_append(b, r->message.ptr, r->message.len);
    return rc ? rc : clew_buf_put_u8(b, '\n');
}

int clew_trace_render_text(const struct clew_trace *t, const struct clew_trace_text_opts *o,
                           struct clew_buf *out)
{
    char dur[32], head[128];
    uint64_t errors = 0;
    for (size_t i = 0; i < t->nspans; i++) {
        errors += t->spans[i].errors;
    }
    fmt_dur(t->end - t->start, dur, sizeof(dur));
    int rc = put_lit(out, "trace ");
    rc = rc ? rc : clew_buf_append(out, t->trace_id.ptr, t->trace_id.len);
    int n = snprintf(head, sizeof(head), ": %zu records, %zu spans, %llu errors, %s\n", t->nrecords,
                     t->nspans, (unsigned long long)errors, dur);
    rc = rc ? rc : clew_buf_append(out, head, (size_t)n);
    struct text_cols c;
    text_cols(t, o->width, &c);
    for (size_t i = 0; rc == 0 && i < t->nspans; i++) {
        rc = put_span_text(out, t, &t->spans[i], &c);
    }
    if (o->spans_only) {
        return rc;
    }
    rc = rc ? rc : clew_buf_put_u8(out, '\n');
    for (size_t i = 0; rc == 0 && i < t->nrecords; i++) {
        rc = put_record_text(out, t, i);
    }
    return rc;
}

/* ------------------------------------------------------------ ids */

static void add_id(struct clew_trace_ids *out, const char *s, size_t len, int copy)
{
    if (len == 0 || len > CLEW_TRACE_ID_MAX || out->n == CLEW_TRACE_RECORD_IDS) {
        return;
    }
    for (size_t i = 0; i < out->n; i++) {
        if (out->ids[i].len == len && memcmp(out->ids[i].ptr, s, len) == 0) {
            return;
        }
    }
    if (copy) {
        memcpy(out->store[out->n], s, len);
        out->store[out->n][len] = '\0';
        s = out->store[out->n];
    }
    out->ids[out->n++] = (struct clew_str){ s, len };
}

static void add_json_id(struct clew_trace_ids *out, const json_t *v)
{
    if (json_is_string(v)) {
        add_id(out, json_string_value(v), json_string_length(v), 1);
    }
}

/* Whether s contains the n bytes k (n > 0). */
static int has_bytes(struct clew_str s, const char *k, size_t n)
{
    const char *p = s.ptr, *end = s.ptr + s.len;
    while (p != NULL && (size_t)(end - p) >= n) {
        p = memchr(p, k[0], (size_t)(end - p) - n + 1);
        if (p != NULL && memcmp(p, k, n) == 0) {
            return 1;
        }
        p = p ? p + 1 : NULL;
    }
    return 0;
}

size_t clew_trace_record_ids(const struct clew_record *r, struct clew_trace_ids *out)
{
    static const char key[] = "\"link_id\"";
    out->n = 0;
    add_id(out, r->trace_id.ptr, r->trace_id.len, 0);
    if (!has_bytes(r->fields, key, sizeof(key) - 1)) {
        return out->n;
    }
    json_t *root = json_loadb(r->fields.ptr, r->fields.len, JSON_ALLOW_NUL, NULL);
    const json_t *v = json_object_get(root, "link_id");
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            add_json_id(out, json_array_get(v, i));
        }
    } else {
        add_json_id(out, v);
    }
    json_decref(root);
    return out->n;
}
