/* SPDX-License-Identifier: MIT
 * The evaluator. Cost per record: one pass over the message testing each
 * pair of adjacent bytes against a bitmap of the rules' literals (whatever
 * the number of rules), a compare where a bit is set, then PCRE2 only for
 * the candidate rules.
 *
 * Windows: a group keeps the clock times of its last `threshold` matches
 * in a ring, oldest first; a match counts while now - at < window. So the
 * group fires at the match that makes `threshold` of them less than
 * `window` apart, and a ring of `threshold` times is all it needs. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "collector/alerts.h"

#include <errno.h>
#include <inttypes.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "common/alloc.h"
#include "common/json_out.h"
#include "common/rec_codec.h"
#include "common/timeutil.h"

#define FIRST_MSG_MAX 4096 /* bytes of the first message kept for {{first_message}} */
#define TRACE_ID_MAX  128  /* longer ids are cut                                    */
#define MATCH_LIMIT   1000000u

/* ------------------------------------------------------------ prefilter */

/* Each literal (2 bytes or more) is indexed by one pair of adjacent bytes
 * in it, the rarest by a rough guess at byte frequencies in logs. The scan
 * tests every adjacent pair of the message against a 64 Kibit bitmap: the
 * loads are independent of each other (no state carried from byte to byte
 * as in an automaton), so the scan runs at about a cycle a byte. A set bit
 * sends the literals of that pair to a case-folded compare at their
 * offset. */
struct lit {
    const char *text; /* lowercase */
    uint32_t len;
    uint32_t at; /* offset of the indexing pair in the literal */
    uint32_t rule;
    uint32_t next; /* next literal of the same bucket, 1-based; 0: none */
    uint16_t pair;
};

#define PF_BUCKETS    4096
#define PF_STRIDE_MAX 4

struct prefilter {
    uint8_t bits[65536 / 8];
    uint32_t head[PF_BUCKETS]; /* by pair hash: first literal, 1-based */
    struct lit *lits;
    uint32_t nlits;
    uint32_t stride;  /* positions tested: every stride-th */
    uint32_t *always; /* rules without a usable literal: candidates for every record */
    uint32_t nalways;
};

/* ASCII lowercase, without a table or a branch. */
static inline uint8_t fold(uint8_t c)
{
    return (uint8_t)(c | (((unsigned)c - 'A' < 26u) << 5));
}

static unsigned byte_weight(uint8_t c)
{
    if (c == ' ') {
        return 12;
    }
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
        return 7; /* hex ids everywhere */
    }
    if (c >= 'g' && c <= 'z') {
        return 5;
    }
    return strchr("=:/.-_,\"", c) != NULL && c != 0 ? 4 : 1;
}

/* The bitmap index of the pair at p: the two bytes (little-endian) with
 * bit 5 set, which folds ASCII case (and merges a few punctuation bytes
 * with others: more compares, never a miss). */
static inline uint16_t pair_of(const uint8_t *p)
{
    uint16_t w;
    memcpy(&w, p, 2);
    w = (uint16_t)(w | 0x2020);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = (uint16_t)(w >> 8 | w << 8);
#endif
    return w;
}

static uint32_t pair_bucket(uint16_t pair)
{
    return ((uint32_t)pair * 2654435761u) >> 20; /* 12 bits */
}

static void prefilter_free(struct prefilter *pf)
{
    if (pf == NULL) {
        return;
    }
    clew_free(pf->lits);
    clew_free(pf->always);
    clew_free(pf);
}

/* Indexes literal l by `stride` consecutive pairs (the rarest window):
 * the scan tests every stride-th position only, and one of those falls on
 * one of these pairs wherever the literal stands. */
static void index_literal(struct prefilter *pf, const struct clew_rule_literal *l, uint32_t rule)
{
    const uint8_t *t = (const uint8_t *)l->text;
    uint32_t s = pf->stride, best = 0;
    unsigned best_w = ~0u;
    for (uint32_t k = 0; k + s < l->len; k++) {
        unsigned w = 0;
        for (uint32_t j = k; j < k + s; j++) {
            w += byte_weight(t[j]) * byte_weight(t[j + 1]);
        }
        if (w < best_w) {
            best_w = w;
            best = k;
        }
    }
    for (uint32_t j = best; j < best + s; j++) {
        struct lit *x = &pf->lits[pf->nlits];
        x->text = l->text;
        x->len = (uint32_t)l->len;
        x->at = j;
        x->rule = rule;
        x->pair = pair_of(t + j);
        x->next = pf->head[pair_bucket(x->pair)];
        pf->head[pair_bucket(x->pair)] = ++pf->nlits;
        pf->bits[x->pair >> 3] |= (uint8_t)(1u << (x->pair & 7));
    }
}

/* The stride: up to PF_STRIDE_MAX, and below the shortest literal. */
static uint32_t pick_stride(const struct clew_rules *rs)
{
    uint32_t s = PF_STRIDE_MAX;
    for (size_t i = 0; i < rs->n; i++) {
        for (size_t l = 0; l < rs->rules[i].nliterals; l++) {
            size_t len = rs->rules[i].literals[l].len;
            if (len >= 2 && len - 1 < s) {
                s = (uint32_t)(len - 1);
            }
        }
    }
    return s;
}

static int prefilter_build(struct prefilter **out, const struct clew_rules *rs)
{
    size_t nlits = 0;
    for (size_t i = 0; i < rs->n; i++) {
        nlits += rs->rules[i].nliterals;
    }
    struct prefilter *pf = clew_calloc(1, sizeof(*pf));
    if (pf == NULL ||
        (pf->lits = clew_calloc(nlits * PF_STRIDE_MAX + 1, sizeof(struct lit))) == NULL ||
        (pf->always = clew_calloc(rs->n + 1, sizeof(uint32_t))) == NULL) {
        prefilter_free(pf);
        return -ENOMEM;
    }
    pf->stride = pick_stride(rs);
    for (uint32_t i = 0; i < rs->n; i++) {
        const struct clew_rule *r = &rs->rules[i];
        int usable = r->nliterals > 0;
        for (size_t l = 0; l < r->nliterals; l++) {
            usable &= r->literals[l].len >= 2; /* a pair needs two bytes */
        }
        if (!usable) {
            pf->always[pf->nalways++] = i;
            continue;
        }
        for (size_t l = 0; l < r->nliterals; l++) {
            index_literal(pf, &r->literals[l], i);
        }
    }
    *out = pf;
    return 0;
}

/* --------------------------------------------------------------- groups */

struct sample {
    int64_t at;
    struct clew_buf enc; /* the record, rec_codec-encoded (JSON only when an event needs it) */
};

struct group {
    struct group *next; /* hash chain */
    uint64_t hash;
    char *key; /* the group_by values, each a u32 length then bytes */
    size_t key_len;
    struct clew_str vals[CLEW_RULE_KEY_COUNT]; /* in the rule's group_by order, into key */
    int64_t *ring; /* match times, oldest first from head; capacity threshold */
    uint32_t head, n;
    int firing;
    int64_t last_fired; /* INT64_MIN: never */
    /* The episode: since the window was last empty. */
    int64_t first_ts, last_ts;
    char *first[CLEW_RULE_KEY_COUNT]; /* service, host, container, trace_id of the first match */
    char *first_message;
    struct sample samples[CLEW_ALERTS_SAMPLES];
    uint32_t sample_head, nsamples;
    char *trace_ids[CLEW_ALERTS_TRACE_IDS];
    uint32_t ntrace;
};

struct rstate {
    const struct clew_rule *rule;
    struct group **tab;
    size_t cap, n;
};

struct clew_alerts {
    struct clew_alerts_opts o;
    struct clew_rules *rules;
    struct rstate **st; /* per rule */
    struct prefilter *pf;
    uint32_t *stamp; /* per rule: the evaluation that made it a candidate */
    uint32_t *cand;
    uint32_t gen;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    int64_t last_now;
    struct clew_buf key, body, line, tmp;
    struct clew_alerts_stats stats; /* written by the loop thread, read by any */
};

/* Counters have one writer (the loop thread): a relaxed load and store, no
 * locked add. */
static void bump(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static void gauge(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static void episode_clear(struct group *g)
{
    for (int i = 0; i < CLEW_RULE_KEY_COUNT; i++) {
        clew_free(g->first[i]);
        g->first[i] = NULL;
    }
    clew_free(g->first_message);
    g->first_message = NULL;
    for (uint32_t i = 0; i < g->ntrace; i++) {
        clew_free(g->trace_ids[i]);
    }
    g->ntrace = 0;
    g->nsamples = g->sample_head = 0;
    g->first_ts = g->last_ts = 0;
}

static void group_free(struct group *g)
{
    if (g == NULL) {
        return;
    }
    episode_clear(g);
    for (int i = 0; i < CLEW_ALERTS_SAMPLES; i++) {
        clew_buf_close(&g->samples[i].enc);
    }
    clew_free(g->ring);
    clew_free(g->key);
    clew_free(g);
}

static void rstate_free(struct rstate *st)
{
    if (st == NULL) {
        return;
    }
    for (size_t i = 0; i < st->cap; i++) {
        for (struct group *g = st->tab[i], *nx; g != NULL; g = nx) {
            nx = g->next;
            group_free(g);
        }
    }
    clew_free(st->tab);
    clew_free(st);
}

static struct clew_str group_value(const struct clew_record *r, enum clew_rule_key k)
{
    switch (k) {
    case CLEW_RULE_KEY_SERVICE:
        return r->labels[CLEW_LABEL_SERVICE];
    case CLEW_RULE_KEY_HOST:
        return r->labels[CLEW_LABEL_HOST];
    case CLEW_RULE_KEY_CONTAINER:
        return r->labels[CLEW_LABEL_CONTAINER_NAME].len ? r->labels[CLEW_LABEL_CONTAINER_NAME]
                                                        : r->labels[CLEW_LABEL_CONTAINER_ID];
    default:
        return r->trace_id;
    }
}

static int grow_table(struct rstate *st)
{
    size_t ncap = st->cap ? st->cap * 2 : 16;
    struct group **tab = clew_calloc(ncap, sizeof(*tab));
    if (tab == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < st->cap; i++) {
        for (struct group *g = st->tab[i], *nx; g != NULL; g = nx) {
            nx = g->next;
            g->next = tab[g->hash & (ncap - 1)];
            tab[g->hash & (ncap - 1)] = g;
        }
    }
    clew_free(st->tab);
    st->tab = tab;
    st->cap = ncap;
    return 0;
}

static struct group *group_new(const struct clew_rule *rule, const struct clew_buf *key,
                               uint64_t hash)
{
    struct group *g = clew_calloc(1, sizeof(*g));
    if (g == NULL || (g->key = clew_malloc(key->len + 1)) == NULL ||
        (g->ring = clew_calloc(rule->threshold, sizeof(int64_t))) == NULL) {
        group_free(g);
        return NULL;
    }
    if (key->len > 0) {
        memcpy(g->key, key->data, key->len);
    }
    g->key_len = key->len;
    g->hash = hash;
    g->last_fired = INT64_MIN;
    const char *p = g->key;
    for (size_t i = 0; i < rule->ngroup_by; i++) {
        uint32_t len;
        memcpy(&len, p, 4);
        g->vals[i] = (struct clew_str){ p + 4, len };
        p += 4 + len;
    }
    for (int i = 0; i < CLEW_ALERTS_SAMPLES; i++) {
        clew_buf_init(&g->samples[i].enc);
    }
    return g;
}

/* The group of r under rule st (created when new); NULL when the table is
 * full or memory ran out (counted). */
static struct group *group_of(struct clew_alerts *a, struct rstate *st, const struct clew_record *r)
{
    struct clew_buf *k = &a->key;
    clew_buf_reset(k);
    for (size_t i = 0; i < st->rule->ngroup_by; i++) {
        struct clew_str v = group_value(r, st->rule->group_by[i]);
        uint32_t len = (uint32_t)(v.len < 4096 ? v.len : 4096);
        if (clew_buf_append(k, &len, 4) < 0 || clew_buf_append(k, v.ptr, len) < 0) {
            return NULL;
        }
    }
    uint64_t h = XXH3_64bits(k->data != NULL ? k->data : (const uint8_t *)"", k->len);
    for (struct group *g = st->cap ? st->tab[h & (st->cap - 1)] : NULL; g != NULL; g = g->next) {
        if (g->hash == h && g->key_len == k->len &&
            (k->len == 0 || memcmp(g->key, k->data, k->len) == 0)) {
            return g;
        }
    }
    size_t max = a->o.max_groups ? a->o.max_groups : CLEW_ALERTS_MAX_GROUPS;
    struct group *g = NULL;
    if (st->n >= max || (st->n + 1 > st->cap * 3 / 4 && grow_table(st) < 0) ||
        (g = group_new(st->rule, k, h)) == NULL) {
        bump(&a->stats.groups_dropped, 1);
        return NULL;
    }
    g->next = st->tab[h & (st->cap - 1)];
    st->tab[h & (st->cap - 1)] = g;
    st->n++;
    bump(&a->stats.groups, 1);
    return g;
}

/* Drops the match times that left the window; returns how many remain. */
static uint32_t prune(struct group *g, const struct clew_rule *rule, int64_t now)
{
    while (g->n > 0 && now - g->ring[g->head] >= rule->window_ns) {
        g->head = (g->head + 1) % rule->threshold;
        g->n--;
    }
    return g->n;
}

static char *dup_cut(struct clew_str s, size_t max)
{
    return clew_strndup(s.ptr != NULL ? s.ptr : "", s.len < max ? s.len : max);
}

/* Records what an event will need of a matching record. */
static void note_match(struct group *g, const struct clew_record *r, int64_t now)
{
    if (g->first_message == NULL) {
        for (int i = 0; i < CLEW_RULE_KEY_COUNT; i++) {
            g->first[i] = dup_cut(group_value(r, (enum clew_rule_key)i), TRACE_ID_MAX);
        }
        g->first_message = dup_cut(r->message, FIRST_MSG_MAX);
        g->first_ts = r->ts;
    }
    g->last_ts = r->ts;
    if (r->trace_id.len > 0 && g->ntrace < CLEW_ALERTS_TRACE_IDS) {
        size_t len = r->trace_id.len < TRACE_ID_MAX ? r->trace_id.len : TRACE_ID_MAX;
        uint32_t i = 0;
        while (i < g->ntrace && !(strlen(g->trace_ids[i]) == len &&
                                  memcmp(g->trace_ids[i], r->trace_id.ptr, len) == 0)) {
            i++;
        }
        if (i == g->ntrace && (g->trace_ids[i] = clew_strndup(r->trace_id.ptr, len)) != NULL) {
            g->ntrace++;
        }
    }
    struct sample *s = &g->samples[(g->sample_head + g->nsamples) % CLEW_ALERTS_SAMPLES];
    if (g->nsamples == CLEW_ALERTS_SAMPLES) {
        s = &g->samples[g->sample_head];
        g->sample_head = (g->sample_head + 1) % CLEW_ALERTS_SAMPLES;
    } else {
        g->nsamples++;
    }
    s->at = now;
    clew_buf_reset(&s->enc);
    if (clew_rec_encode(&s->enc, r) < 0) {
        clew_buf_reset(&s->enc); /* left out of the event */
    }
}

/* --------------------------------------------------------------- events */

struct ev_ctx {
    const struct clew_rule *rule;
    const struct group *g;
    enum clew_alert_status status;
    uint32_t count;
};

/* The value of a template variable or group key k for this event: the
 * group's value when the rule groups by it, else the first match's. */
static const char *key_value(const struct ev_ctx *e, enum clew_rule_key k, size_t *len)
{
    for (size_t i = 0; i < e->rule->ngroup_by; i++) {
        if (e->rule->group_by[i] == k) {
            *len = e->g->vals[i].len;
            return e->g->vals[i].ptr;
        }
    }
    const char *v = e->g->first[k] != NULL ? e->g->first[k] : "";
    *len = strlen(v);
    return v;
}

static int put_var(struct clew_buf *b, const struct ev_ctx *e, const char *name, size_t nlen)
{
    char num[32];
    size_t len;
    const char *v = num;
    static const char *const keys[] = { "service", "host", "container", "trace_id" };
    for (int k = 0; k < CLEW_RULE_KEY_COUNT; k++) {
        if (strlen(keys[k]) == nlen && memcmp(keys[k], name, nlen) == 0) {
            v = key_value(e, (enum clew_rule_key)k, &len);
            return clew_buf_append(b, v, len);
        }
    }
#define IS(s) (nlen == sizeof(s) - 1 && memcmp(name, s, nlen) == 0)
    if (IS("rule")) {
        v = e->rule->name;
    } else if (IS("status")) {
        v = e->status == CLEW_ALERT_FIRING ? "firing" : "resolved";
    } else if (IS("count")) {
        snprintf(num, sizeof(num), "%" PRIu32, e->count);
    } else if (IS("threshold")) {
        snprintf(num, sizeof(num), "%" PRIu32, e->rule->threshold);
    } else if (IS("window")) {
        clew_duration_format(e->rule->window_ns, num, sizeof(num));
    } else if (IS("first_message")) {
        v = e->g->first_message != NULL ? e->g->first_message : "";
    } else {
        v = "";
    }
#undef IS
    return clew_buf_append(b, v, strlen(v));
}

/* Appends template t with its {{variables}} replaced (validated by the
 * rules parser; an unknown one renders empty). */
static int render(struct clew_buf *b, const struct ev_ctx *e, const char *t)
{
    int rc = 0;
    const char *s;
    while (rc == 0 && (s = strstr(t, "{{")) != NULL) {
        const char *end = strstr(s + 2, "}}");
        if (end == NULL) {
            break;
        }
        const char *n0 = s + 2, *n1 = end;
        while (n0 < n1 && *n0 == ' ') {
            n0++;
        }
        while (n1 > n0 && n1[-1] == ' ') {
            n1--;
        }
        rc = clew_buf_append(b, t, (size_t)(s - t));
        rc = rc ? rc : put_var(b, e, n0, (size_t)(n1 - n0));
        t = end + 2;
    }
    return rc ? rc : clew_buf_append(b, t, strlen(t));
}

static int put_lit(struct clew_buf *b, const char *s)
{
    return clew_buf_append(b, s, strlen(s));
}

/* {"k":"rendered",...} of labels or annotations; tmp is scratch. */
static int put_kvs(struct clew_buf *b, struct clew_buf *tmp, const struct ev_ctx *e,
                   const struct clew_rule_kv *kv, size_t n)
{
    int rc = clew_buf_put_u8(b, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        clew_buf_reset(tmp);
        rc = i ? clew_buf_put_u8(b, ',') : 0;
        rc = rc ? rc : clew_json_put_str(b, kv[i].key, strlen(kv[i].key));
        rc = rc ? rc : clew_buf_put_u8(b, ':');
        rc = rc ? rc : render(tmp, e, kv[i].value);
        rc = rc ? rc : clew_json_put_str(b, (const char *)tmp->data, tmp->len);
    }
    return rc ? rc : clew_buf_put_u8(b, '}');
}

static int put_ts(struct clew_buf *b, const char *key, int64_t ts)
{
    char t[40];
    int n = clew_time_format(ts, 9, t, sizeof(t));
    int rc = put_lit(b, key);
    return rc ? rc : clew_json_put_str(b, t, n > 0 ? (size_t)n : 0);
}

static int put_group_and_samples(struct clew_buf *b, const struct ev_ctx *e)
{
    const struct group *g = e->g;
    int rc = put_lit(b, ",\"group\":{");
    for (size_t i = 0; rc == 0 && i < e->rule->ngroup_by; i++) {
        const char *k = clew_rule_key_name(e->rule->group_by[i]);
        rc = i ? clew_buf_put_u8(b, ',') : 0;
        rc = rc ? rc : clew_json_put_str(b, k, strlen(k));
        rc = rc ? rc : clew_buf_put_u8(b, ':');
        rc = rc ? rc : clew_json_put_str(b, g->vals[i].ptr, g->vals[i].len);
    }
    rc = rc ? rc : clew_buf_put_u8(b, '}');
    rc = rc ? rc : put_ts(b, ",\"first_ts\":", g->first_ts);
    rc = rc ? rc : put_ts(b, ",\"last_ts\":", g->last_ts);
    rc = rc ? rc : put_lit(b, ",\"samples\":[");
    for (uint32_t i = 0; rc == 0 && i < g->nsamples; i++) {
        const struct sample *s = &g->samples[(g->sample_head + i) % CLEW_ALERTS_SAMPLES];
        struct clew_rd rd;
        struct clew_record r;
        clew_rd_init(&rd, s->enc.data, s->enc.len);
        if (s->enc.len == 0 || clew_rec_decode(&rd, &r) < 0) {
            continue;
        }
        rc = b->data[b->len - 1] != '[' ? clew_buf_put_u8(b, ',') : 0;
        rc = rc ? rc : clew_json_put_record(b, &r);
    }
    return rc ? rc : clew_buf_put_u8(b, ']');
}

/* The webhook body: rule, status, count, window_s, group, first_ts,
 * last_ts, samples, annotations, labels, trace_ids. */
static int make_body(struct clew_alerts *a, const struct ev_ctx *e)
{
    struct clew_buf *b = &a->body;
    char num[96];
    clew_buf_reset(b);
    int rc = put_lit(b, "{\"rule\":");
    rc = rc ? rc : clew_json_put_str(b, e->rule->name, strlen(e->rule->name));
    int n = snprintf(num, sizeof(num), ",\"status\":\"%s\",\"count\":%" PRIu32 ",\"window_s\":%.9g",
                     e->status == CLEW_ALERT_FIRING ? "firing" : "resolved", e->count,
                     (double)e->rule->window_ns / 1e9);
    rc = rc ? rc : clew_buf_append(b, num, (size_t)n);
    rc = rc ? rc : put_group_and_samples(b, e);
    rc = rc ? rc : put_lit(b, ",\"annotations\":");
    rc = rc ? rc : put_kvs(b, &a->tmp, e, e->rule->annotations, e->rule->nannotations);
    rc = rc ? rc : put_lit(b, ",\"labels\":");
    rc = rc ? rc : put_kvs(b, &a->tmp, e, e->rule->labels, e->rule->nlabels);
    rc = rc ? rc : put_lit(b, ",\"trace_ids\":[");
    for (uint32_t i = 0; rc == 0 && i < e->g->ntrace; i++) {
        rc = i ? clew_buf_put_u8(b, ',') : 0;
        rc = rc ? rc : clew_json_put_str(b, e->g->trace_ids[i], strlen(e->g->trace_ids[i]));
    }
    return rc ? rc : put_lit(b, "]}");
}

/* "[firing] NAME: summary", the summary annotation or "N matches in W". */
static int make_line(struct clew_alerts *a, const struct ev_ctx *e)
{
    struct clew_buf *b = &a->line;
    clew_buf_reset(b);
    int rc = put_lit(b, e->status == CLEW_ALERT_FIRING ? "[firing] " : "[resolved] ");
    rc = rc ? rc : put_lit(b, e->rule->name);
    rc = rc ? rc : put_lit(b, ": ");
    for (size_t i = 0; i < e->rule->nannotations; i++) {
        if (strcmp(e->rule->annotations[i].key, "summary") == 0) {
            return rc ? rc : render(b, e, e->rule->annotations[i].value);
        }
    }
    return rc ? rc : render(b, e, "{{count}} matches in {{window}}");
}

static void emit(struct clew_alerts *a, const struct clew_rule *rule, struct group *g,
                 enum clew_alert_status status, int64_t now)
{
    struct ev_ctx e = { rule, g, status, g->n };
    if (make_body(a, &e) < 0 || make_line(a, &e) < 0) {
        return; /* out of memory: the event is lost, the state stays right */
    }
    struct clew_alert_event ev = { rule, status, g->n, now, { 0 }, { 0 }, { 0 } };
    ev.body = (struct clew_str){ (const char *)a->body.data, a->body.len };
    ev.line = (struct clew_str){ (const char *)a->line.data, a->line.len };
    ev.host.ptr = key_value(&e, CLEW_RULE_KEY_HOST, &ev.host.len);
    bump(status == CLEW_ALERT_FIRING ? &a->stats.fired : &a->stats.resolved, 1);
    a->o.on_event(a->o.ud, &ev);
}

/* Fires g when it holds threshold matches, is not firing and its cooldown
 * is over. */
static void maybe_fire(struct clew_alerts *a, const struct clew_rule *rule, struct group *g,
                       int64_t now)
{
    if (g->firing || g->n < rule->threshold) {
        return;
    }
    if (g->last_fired != INT64_MIN && now - g->last_fired < rule->cooldown_ns) {
        return;
    }
    g->firing = 1;
    g->last_fired = now;
    emit(a, rule, g, CLEW_ALERT_FIRING, now);
}

/* ----------------------------------------------------------- evaluation */

static int64_t clock_now(struct clew_alerts *a)
{
    int64_t now = a->o.clock != NULL ? a->o.clock(a->o.clock_ud) : clew_time_now_ns();
    if (now < a->last_now) {
        now = a->last_now; /* the wall clock stepped back: windows never run backwards */
    }
    a->last_now = now;
    return now;
}

static int str_eq(struct clew_str s, const char *c)
{
    return s.len == strlen(c) && (s.len == 0 || memcmp(s.ptr, c, s.len) == 0);
}

static int where_ok(const struct clew_rule *rule, const struct clew_record *r)
{
    const char *const *w = rule->where;
    if (rule->where_level >= 0 && r->level > rule->where_level) {
        return 0;
    }
    if (w[CLEW_RULE_KEY_SERVICE] && !str_eq(r->labels[CLEW_LABEL_SERVICE], w[0])) {
        return 0;
    }
    if (w[CLEW_RULE_KEY_HOST] && !str_eq(r->labels[CLEW_LABEL_HOST], w[1])) {
        return 0;
    }
    return w[CLEW_RULE_KEY_CONTAINER] == NULL ||
           str_eq(r->labels[CLEW_LABEL_CONTAINER_NAME], w[2]) ||
           str_eq(r->labels[CLEW_LABEL_CONTAINER_ID], w[2]);
}

static void add_cand(struct clew_alerts *a, uint32_t rule, uint32_t *n)
{
    if (a->stamp[rule] != a->gen) {
        a->stamp[rule] = a->gen;
        a->cand[(*n)++] = rule;
    }
}

/* The literals indexed by the pair at p[0..2) that occur around p. */
static void verify(struct clew_alerts *a, const uint8_t *msg, size_t len, size_t i, uint32_t *n)
{
    const struct prefilter *pf = a->pf;
    uint16_t pair = pair_of(msg + i);
    for (uint32_t l = pf->head[pair_bucket(pair)]; l != 0; l = pf->lits[l - 1].next) {
        const struct lit *x = &pf->lits[l - 1];
        if (x->pair != pair || i < x->at || i - x->at + x->len > len ||
            a->stamp[x->rule] == a->gen) {
            continue;
        }
        const uint8_t *m = msg + i - x->at;
        uint32_t k = 0;
        while (k < x->len && fold(m[k]) == (uint8_t)x->text[k]) {
            k++;
        }
        if (k == x->len) {
            add_cand(a, x->rule, n);
        }
    }
}

/* The rules one of whose literals occurs in the message, then those
 * without one; each once. Returns how many are in a->cand. */
static uint32_t candidates(struct clew_alerts *a, const struct clew_record *r)
{
    const struct prefilter *pf = a->pf;
    uint32_t n = 0;
    if (++a->gen == 0) {
        memset(a->stamp, 0, a->rules->n * sizeof(uint32_t));
        a->gen = 1;
    }
    if (pf->nlits > 0 && r->message.len >= 2) {
        const uint8_t *m = (const uint8_t *)r->message.ptr;
        size_t len = r->message.len;
        const uint8_t *bits = pf->bits;
        for (size_t i = 0; i + 1 < len; i += pf->stride) {
            unsigned pair = pair_of(m + i);
            if (bits[pair >> 3] & (1u << (pair & 7))) {
                verify(a, m, len, i, &n);
            }
        }
    }
    for (uint32_t k = 0; k < pf->nalways; k++) {
        a->cand[n++] = pf->always[k];
    }
    return n;
}

static void on_match(struct clew_alerts *a, struct rstate *st, const struct clew_record *r,
                     int64_t now)
{
    const struct clew_rule *rule = st->rule;
    struct group *g = group_of(a, st, r);
    if (g == NULL) {
        return;
    }
    if (prune(g, rule, now) == 0 && !g->firing) {
        episode_clear(g); /* a new episode: first match, samples, trace ids anew */
    }
    if (g->n == rule->threshold) {
        g->ring[g->head] = now;
        g->head = (g->head + 1) % rule->threshold;
    } else {
        g->ring[(g->head + g->n) % rule->threshold] = now;
        g->n++;
    }
    note_match(g, r, now);
    maybe_fire(a, rule, g, now);
}

void clew_alerts_eval(struct clew_alerts *a, const struct clew_record *r)
{
    if (a->rules == NULL || a->rules->n == 0) {
        return;
    }
    bump(&a->stats.evaluations, 1);
    if (str_eq(r->labels[CLEW_LABEL_SERVICE], CLEW_ALERTS_SERVICE)) {
        return; /* an alert about alerts would feed itself */
    }
    uint32_t n = candidates(a, r);
    int64_t now = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        const struct clew_rule *rule = &a->rules->rules[a->cand[i]];
        if (!where_ok(rule, r)) {
            continue;
        }
        bump(&a->stats.candidates, 1);
        int rc = pcre2_match(rule->re, (PCRE2_SPTR)(r->message.ptr ? r->message.ptr : ""),
                             r->message.len, 0, 0, a->md, a->mctx);
        if (rc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH) {
                bump(&a->stats.match_errors, 1);
            }
            continue;
        }
        bump(&a->stats.matches, 1);
        if (now == INT64_MIN) {
            now = clock_now(a);
        }
        on_match(a, a->st[a->cand[i]], r, now);
    }
}

/* Ages one group; returns 1 when it is idle and may be freed. */
static int tick_group(struct clew_alerts *a, const struct clew_rule *rule, struct group *g,
                      int64_t now)
{
    prune(g, rule, now);
    if (g->firing && g->n < rule->threshold) {
        g->firing = 0;
        emit(a, rule, g, CLEW_ALERT_RESOLVED, now);
    } else {
        maybe_fire(a, rule, g, now);
    }
    return !g->firing && g->n == 0 &&
           (g->last_fired == INT64_MIN || now - g->last_fired >= rule->cooldown_ns);
}

void clew_alerts_tick(struct clew_alerts *a)
{
    if (a->rules == NULL) {
        return;
    }
    int64_t now = clock_now(a);
    for (size_t i = 0; i < a->rules->n; i++) {
        struct rstate *st = a->st[i];
        for (size_t b = 0; b < st->cap; b++) {
            for (struct group **pg = &st->tab[b]; *pg != NULL;) {
                struct group *g = *pg;
                if (tick_group(a, st->rule, g, now)) {
                    *pg = g->next;
                    group_free(g);
                    st->n--;
                    gauge(&a->stats.groups,
                          __atomic_load_n(&a->stats.groups, __ATOMIC_RELAXED) - 1);
                } else {
                    pg = &g->next;
                }
            }
        }
    }
}

/* ------------------------------------------------------------ lifecycle */

int clew_alerts_new(const struct clew_alerts_opts *o, struct clew_alerts **out)
{
    *out = NULL;
    struct clew_alerts *a = clew_calloc(1, sizeof(*a));
    if (a == NULL) {
        return -ENOMEM;
    }
    a->o = *o;
    a->last_now = INT64_MIN;
    clew_buf_init(&a->key);
    clew_buf_init(&a->body);
    clew_buf_init(&a->line);
    clew_buf_init(&a->tmp);
    a->md = pcre2_match_data_create(1, NULL);
    a->mctx = pcre2_match_context_create(NULL);
    if (a->md == NULL || a->mctx == NULL) {
        clew_alerts_free(a);
        return -ENOMEM;
    }
    pcre2_set_match_limit(a->mctx, MATCH_LIMIT);
    *out = a;
    return 0;
}

static void free_states(struct rstate **st, size_t n)
{
    for (size_t i = 0; st != NULL && i < n; i++) {
        rstate_free(st[i]);
    }
    clew_free(st);
}

void clew_alerts_free(struct clew_alerts *a)
{
    if (a == NULL) {
        return;
    }
    free_states(a->st, a->rules != NULL ? a->rules->n : 0);
    clew_rules_free(a->rules);
    prefilter_free(a->pf);
    clew_free(a->stamp);
    clew_free(a->cand);
    pcre2_match_data_free(a->md);
    pcre2_match_context_free(a->mctx);
    clew_buf_close(&a->key);
    clew_buf_close(&a->body);
    clew_buf_close(&a->line);
    clew_buf_close(&a->tmp);
    clew_free(a);
}

/* Moves the state of each old rule equal to a new one into st. */
static size_t carry_over(struct clew_alerts *a, const struct clew_rules *rs, struct rstate **st)
{
    size_t kept = 0, nold = a->rules != NULL ? a->rules->n : 0;
    for (size_t i = 0; i < rs->n; i++) {
        for (size_t j = 0; j < nold; j++) {
            if (a->st[j] != NULL && clew_rule_equal(&a->rules->rules[j], &rs->rules[i])) {
                rstate_free(st[i]);
                st[i] = a->st[j];
                a->st[j] = NULL;
                st[i]->rule = &rs->rules[i];
                kept++;
                break;
            }
        }
    }
    return kept;
}

int clew_alerts_set_rules(struct clew_alerts *a, struct clew_rules *rs, size_t *kept)
{
    static struct clew_rules none;
    const struct clew_rules *nrs = rs != NULL ? rs : &none;
    size_t n = nrs->n;
    struct prefilter *pf = NULL;
    struct rstate **st = clew_calloc(n + 1, sizeof(*st));
    uint32_t *stamp = clew_calloc(n + 1, sizeof(uint32_t)), *cand = clew_calloc(n + 1, 4);
    int rc = st != NULL && stamp != NULL && cand != NULL ? prefilter_build(&pf, nrs) : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((st[i] = clew_calloc(1, sizeof(**st))) == NULL) {
            rc = -ENOMEM;
        } else {
            st[i]->rule = &nrs->rules[i];
        }
    }
    if (rc < 0) {
        free_states(st, n);
        clew_free(stamp);
        clew_free(cand);
        prefilter_free(pf);
        return rc;
    }
    size_t k = carry_over(a, nrs, st);
    free_states(a->st, a->rules != NULL ? a->rules->n : 0);
    clew_rules_free(a->rules);
    prefilter_free(a->pf);
    clew_free(a->stamp);
    clew_free(a->cand);
    a->rules = rs, a->st = st, a->pf = pf, a->stamp = stamp, a->cand = cand, a->gen = 0;
    uint64_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        groups += st[i]->n;
    }
    gauge(&a->stats.groups, groups);
    gauge(&a->stats.rules, n);
    bump(&a->stats.reloads, 1);
    if (kept != NULL) {
        *kept = k;
    }
    return 0;
}

const struct clew_rules *clew_alerts_rules(const struct clew_alerts *a)
{
    return a->rules;
}

void clew_alerts_get_stats(const struct clew_alerts *a, struct clew_alerts_stats *out)
{
    const uint64_t *src = (const uint64_t *)(const void *)&a->stats;
    uint64_t *dst = (uint64_t *)(void *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++) {
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}

void clew_alerts_write_metrics(const struct clew_alerts *a, struct clew_buf *out)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } m[] = {
#define M(n, t, h, f) { n, t, h, offsetof(struct clew_alerts_stats, f) }
        M("clew_alert_rules", "gauge", "Alert rules loaded.", rules),
        M("clew_alert_evaluations_total", "counter", "Records evaluated by the alert rules.",
          evaluations),
        M("clew_alert_candidates_total", "counter",
          "Rule patterns run (records that passed the literal prefilter and where).", candidates),
        M("clew_alert_matches_total", "counter", "Records that matched a rule.", matches),
        M("clew_alert_match_errors_total", "counter", "Pattern runs that failed (match limit).",
          match_errors),
        M("clew_alerts_fired_total", "counter", "Alerts fired.", fired),
        M("clew_alerts_resolved_total", "counter", "Alerts resolved.", resolved),
        M("clew_alert_groups", "gauge", "Alert groups with state.", groups),
        M("clew_alert_groups_dropped_total", "counter",
          "Matches dropped because a rule had too many groups.", groups_dropped),
        M("clew_alert_reloads_total", "counter", "Rule sets loaded (start and SIGHUP).", reloads),
#undef M
    };
    struct clew_alerts_stats s;
    clew_alerts_get_stats(a, &s);
    char line[512];
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        uint64_t v = *(const uint64_t *)(const void *)((const char *)&s + m[i].off);
        int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n",
                         m[i].name, m[i].help, m[i].name, m[i].type, m[i].name, v);
        clew_buf_append(out, line, (size_t)n);
    }
}
