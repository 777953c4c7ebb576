/* SPDX-License-Identifier: MIT
 * corpus_gen: the simulated shop behind the benchmark corpus.
 *
 * Model. Up to 12 services run as 1-3 containers each on four hosts. A
 * request is a call tree rooted at api-gateway (2-8 spans, depth <= 4, each
 * child called sequentially by its parent). When a request starts, its whole
 * timeline is planned at once and every log line it will produce becomes an
 * event (time, sequence number, request, span, kind) in a min-heap; the text
 * of a line is only formatted when the event is popped, so many requests are
 * in flight at once and their lines interleave. Background lines (health
 * checks, jobs, lines drawn from the Loghub samples) and container start-up
 * lines carry no id; the background rate is steered so the share of records
 * without an id (stack-trace continuation lines included) tracks the option.
 * Everything draws from one xoshiro256** stream in emission order, which is
 * what makes the output a pure function of the options.
 *
 * Ids as services print them: api-gateway plain text with
 * "traceparent: 00-<trace>-<span>-01"; auth and search JSON fields
 * trace_id/span_id/parent_span_id; payments and recommendations JSON
 * traceId/spanId/parentSpanId; orders and cart Sleuth "[svc,trace,span]";
 * users and catalog "trace_id=.. span_id=.." text; inventory and
 * notifications "request_id=<id>" text; shipping JSON "request_id". Requests
 * that reach a request-id service get a request id (UUID or 32 hex), and the
 * gateway prints one line holding both ids. Java services (orders, payments,
 * cart, recommendations) print a failed span's stack trace on stderr as one
 * record per line; only the first line has the id.
 *
 * Loghub lines (https://github.com/logpai/loghub, Zhu et al., "Loghub: A
 * Large Collection of System Log Datasets for AI-driven Log Analytics",
 * ISSRE 2023) are read at run time from opts.loghub_dir, never embedded:
 * their own time stamp prefix is cut, and runs of 3+ digits and hex tokens
 * become holes that are refilled (with probability opts.noise) with fresh
 * digits. */
#include "bench/lib/corpus_gen.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/timeutil.h"

/* ------------------------------------------------------------------ PRNG */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix(&seed);
    }
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n). */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static inline double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

/* Uniform in [lo, hi]. */
static inline int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* -------------------------------------------------------------- services */

enum scheme {
    SC_TRACEPARENT, /* text "... traceparent: 00-T-S-01"                */
    SC_JSON_SNAKE,  /* fields trace_id, span_id, parent_span_id         */
    SC_JSON_CAMEL,  /* fields traceId, spanId, parentSpanId             */
    SC_JSON_REQID,  /* fields request_id                                */
    SC_SLEUTH,      /* text "INFO [svc,T,S] 1 --- [thread] logger : ..." */
    SC_OTEL_TEXT,   /* text "... trace_id=T span_id=S trace_flags=01"   */
    SC_REQID_TEXT,  /* text "... request_id=R"                          */
};

struct svc_def {
    const char *name;
    const char *noun; /* the resource it serves */
    const char *cls;  /* its main class / logger */
    uint8_t scheme;
    uint8_t java;
    uint8_t replicas;
    const char *callees; /* space-separated service names */
    const char *logs[2]; /* Loghub systems it borrows lines from */
};

static const struct svc_def svc_defs[CLEW_GEN_MAX_SERVICES] = {
    { "api-gateway",
      "route",
      "GatewayHandler",
      SC_TRACEPARENT,
      0,
      2,
      "auth orders users search cart catalog recommendations",
      { "Apache", "Proxifier" } },
    { "auth", "session", "TokenService", SC_JSON_SNAKE, 0, 2, "users", { "OpenSSH", "Linux" } },
    { "orders",
      "order",
      "OrderService",
      SC_SLEUTH,
      1,
      3,
      "inventory payments shipping users cart",
      { "Hadoop", "Spark" } },
    { "payments",
      "payment",
      "PaymentService",
      SC_JSON_CAMEL,
      1,
      2,
      "auth notifications",
      { "Zookeeper", "Windows" } },
    { "inventory", "item", "StockService", SC_REQID_TEXT, 0, 2, "catalog", { "HDFS", "BGL" } },
    { "users", "user", "UserService", SC_OTEL_TEXT, 0, 2, "", { "HealthApp", "Android" } },
    { "shipping",
      "shipment",
      "ShipmentService",
      SC_JSON_REQID,
      0,
      1,
      "notifications",
      { "OpenStack", "HPC" } },
    { "search",
      "query",
      "SearchService",
      SC_JSON_SNAKE,
      0,
      2,
      "catalog recommendations",
      { "Mac", "Thunderbird" } },
    { "cart", "cart", "CartService", SC_SLEUTH, 1, 1, "catalog inventory", { "Spark", "Hadoop" } },
    { "catalog", "product", "CatalogService", SC_OTEL_TEXT, 0, 2, "", { "HPC", "HDFS" } },
    { "notifications",
      "notification",
      "NotificationService",
      SC_REQID_TEXT,
      0,
      1,
      "",
      { "Android", "Mac" } },
    { "recommendations",
      "recommendation",
      "RecommendationService",
      SC_JSON_CAMEL,
      1,
      1,
      "catalog",
      { "OpenStack", "Spark" } },
};

/* Loghub systems and how to cut their time stamp prefix: skip N
 * space-separated tokens, or everything up to and including a char. */
static const struct {
    const char *name;
    uint8_t skip_tokens;
    char upto;
} loghub_sys[] = {
    { "Android", 2, 0 }, { "Apache", 0, ']' },    { "BGL", 5, 0 },         { "HDFS", 2, 0 },
    { "HPC", 1, 0 },     { "Hadoop", 2, 0 },      { "HealthApp", 0, '|' }, { "Linux", 3, 0 },
    { "Mac", 3, 0 },     { "OpenSSH", 3, 0 },     { "OpenStack", 3, 0 },   { "Proxifier", 0, ']' },
    { "Spark", 2, 0 },   { "Thunderbird", 7, 0 }, { "Windows", 2, 0 },     { "Zookeeper", 2, 0 },
};
#define N_SYS (sizeof(loghub_sys) / sizeof(loghub_sys[0]))

#define MAX_SPANS     8
#define MAX_DEPTH     4
#define MAX_CONT      32
#define N_HOSTS       4
#define MSG_CAP       4096
#define FIELDS_CAP    1024
#define NONE          UINT32_MAX
#define MAX_TMPL_LINE 320

/* Template hole markers inside a compiled Loghub line. */
enum { H_DIGITS = 1, H_HEX = 2, H_HEXUP = 3 };

struct tmpl {
    uint32_t off; /* into tpool */
    uint16_t len;
    uint8_t level;
};

struct svc_rt {
    const struct svc_def *def;
    uint8_t ncallees;
    uint8_t callees[CLEW_GEN_MAX_SERVICES];
    uint8_t ncont;
    uint8_t cont0;  /* first container index */
    int8_t sys[2];  /* loghub system indexes, -1 = none loaded */
    char fwpkg[24]; /* "orders" */
};

struct container {
    char id[65];
    char name[32];
    uint8_t host;
    uint8_t svc;
    uint8_t name_len, svc_len, host_len; /* precomputed strlen()s */
};

struct gspan {
    char id[16];
    int8_t parent;
    uint8_t svc;
    uint8_t cont;
    uint8_t depth;
    uint8_t failed;
    uint16_t status;
    int64_t plan_start, plan_end;
    int64_t first, last; /* emitted record times */
    uint32_t records, errors;
};

struct greq {
    char trace[32];
    char rid[36];
    uint8_t rid_len;
    uint8_t nspans;
    uint8_t method;
    uint8_t primary; /* service index of the gateway's first callee */
    uint32_t oid, uid, ip;
    uint32_t pending; /* events not yet emitted; 0 = slot free */
    uint32_t next_free;
    uint64_t num;
    uint64_t records, errors;
    struct gspan spans[MAX_SPANS];
};

enum ev_kind { EV_START, EV_LINK, EV_MID, EV_CALL, EV_RESP, EV_ERROR, EV_END, EV_STARTUP };

struct ev {
    int64_t ts;
    uint64_t seq;
    uint32_t req; /* NONE for start-up lines (span = container then) */
    uint8_t span;
    uint8_t kind;
    uint8_t aux;
};

/* The stack trace being emitted, one continuation line per call. */
struct stack_grp {
    int active;
    uint32_t req;
    uint8_t span;
    int64_t ts;
    uint16_t line, nlines;
    uint8_t napp, nfw, ncause, cause, exc, app_off;
};

struct outbuf {
    char *p;
    size_t n, cap;
};

struct clew_gen {
    struct clew_gen_opts o;
    struct rng rng;
    unsigned nsvc;
    struct svc_rt svc[CLEW_GEN_MAX_SERVICES];
    unsigned ncont;
    struct container cont[MAX_CONT];
    char hosts[N_HOSTS][24];
    /* Loghub templates */
    char *tpool;
    struct tmpl *tmpl;
    uint32_t ntmpl;
    uint32_t sys_first[N_SYS], sys_count[N_SYS];
    uint32_t builtin_first;
    uint32_t noise24; /* opts.noise scaled to 2^24 */
    /* requests and events */
    struct greq *reqs;
    uint32_t nreqs, free_head;
    struct ev *heap;
    size_t nheap, heap_cap;
    uint64_t seq, nreq;
    int64_t next_req_ts, next_bg_ts;
    double avg_req_records;
    uint64_t emitted, noid;
    struct stack_grp grp;
    int finished;
    /* the current record */
    char msg[MSG_CAP];
    char fields[FIELDS_CAP];
    struct outbuf m, f;
    char tid[32], sid[16], pid[16];
    struct clew_gen_truth truth;
    char tline[8192]; /* a truth line being built */
};

static const char hexd[] = "0123456789abcdef";

/* ---------------------------------------------------------- text output */

static inline void ob_put(struct outbuf *b, const char *s, size_t n)
{
    if (n > b->cap - b->n) {
        n = b->cap - b->n;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static inline void ob_str(struct outbuf *b, const char *s)
{
    ob_put(b, s, strlen(s));
}

static inline void ob_ch(struct outbuf *b, char c)
{
    if (b->n < b->cap) {
        b->p[b->n++] = c;
    }
}

static void ob_u64(struct outbuf *b, uint64_t v)
{
    char t[20];
    int i = 20;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    ob_put(b, t + i, (size_t)(20 - i));
}

/* v with at least `width` digits (zero padded). */
static void ob_u64w(struct outbuf *b, uint64_t v, int width)
{
    char t[20];
    int i = 20;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || 20 - i < width);
    ob_put(b, t + i, (size_t)(20 - i));
}

static void rand_hex(struct rng *r, char *dst, size_t n)
{
    uint64_t x = 0, any = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 16 == 0) {
            x = rng_next(r);
            any |= x;
        }
        dst[i] = hexd[x & 15];
        x >>= 4;
    }
    if (any == 0) { /* all-zero ids are invalid */
        dst[n - 1] = '1';
    }
}

static void rand_uuid(struct rng *r, char *dst)
{
    char h[32];
    rand_hex(r, h, 32);
    h[12] = '4';
    h[16] = hexd[8 + (h[16] & 3)];
    memcpy(dst, h, 8);
    dst[8] = '-';
    memcpy(dst + 9, h + 8, 4);
    dst[13] = '-';
    memcpy(dst + 14, h + 12, 4);
    dst[18] = '-';
    memcpy(dst + 19, h + 16, 4);
    dst[23] = '-';
    memcpy(dst + 24, h + 20, 12);
}

/* Random decimal digits; the first one non-zero when nz. */
static void ob_rand_digits(struct outbuf *b, struct rng *r, size_t n, int nz)
{
    uint32_t f = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0) {
            f = (uint32_t)(rng_next(r) >> 32);
        }
        uint64_t m = (uint64_t)f * 10;
        unsigned d = (unsigned)(m >> 32);
        f = (uint32_t)m;
        if (i == 0 && nz && d == 0) {
            d = 1 + (f >> 29);
        }
        ob_ch(b, (char)('0' + d));
    }
}

/* --------------------------------------------------- Loghub templates */

static int is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* 0 = not a hex token; H_HEX or H_HEXUP otherwise (>= 6 chars, both a
 * digit and a letter, one case). */
static int hex_kind(const char *s, size_t n)
{
    int dig = 0, lo = 0, up = 0;
    if (n < 6 || n > 255) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_digit(c)) {
            dig = 1;
        } else if (c >= 'a' && c <= 'f') {
            lo = 1;
        } else if (c >= 'A' && c <= 'F') {
            up = 1;
        } else {
            return 0;
        }
    }
    if (!dig || lo == up) {
        return 0;
    }
    return lo ? H_HEX : H_HEXUP;
}

static int put_hole(struct clew_buf *pool, int kind, const char *s, size_t n)
{
    uint8_t h[2] = { (uint8_t)kind, (uint8_t)n };
    int rc = clew_buf_append(pool, h, 2);
    return rc ? rc : clew_buf_append(pool, s, n);
}

/* One alphanumeric token: a hex hole, or its digit runs of 3+ as holes. */
static int compile_token(struct clew_buf *pool, const char *s, size_t n)
{
    int hk = hex_kind(s, n);
    if (hk) {
        return put_hole(pool, hk, s, n);
    }
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        int dig = is_digit(s[i]);
        while (j < n && is_digit(s[j]) == dig) {
            j++;
        }
        int rc;
        if (dig && j - i >= 3 && j - i <= 255) {
            rc = put_hole(pool, H_DIGITS, s + i, j - i);
        } else {
            rc = clew_buf_append(pool, s + i, j - i);
        }
        if (rc) {
            return rc;
        }
        i = j;
    }
    return 0;
}

static int compile_line(struct clew_buf *pool, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        int alnum = is_alnum((unsigned char)s[i]);
        while (j < n && is_alnum((unsigned char)s[j]) == alnum) {
            j++;
        }
        int rc = alnum ? compile_token(pool, s + i, j - i) : clew_buf_append(pool, s + i, j - i);
        if (rc) {
            return rc;
        }
        i = j;
    }
    return 0;
}

/* lower: the line in lower case, NUL-terminated. */
static uint8_t guess_level(const char *lower)
{
    if (strstr(lower, "error") || strstr(lower, "fatal") || strstr(lower, "fail")) {
        return 3;
    }
    if (strstr(lower, "warn")) {
        return 4;
    }
    return strstr(lower, "debug") ? 7 : 6;
}

/* Cuts the time stamp prefix of a Loghub line; returns the rest's start. */
static size_t strip_prefix(const char *s, size_t n, unsigned sys)
{
    size_t i = 0;
    if (loghub_sys[sys].upto) {
        while (i < n && s[i] != loghub_sys[sys].upto) {
            i++;
        }
        i++;
    } else {
        for (unsigned t = 0; t < loghub_sys[sys].skip_tokens; t++) {
            while (i < n && s[i] == ' ') {
                i++;
            }
            while (i < n && s[i] != ' ') {
                i++;
            }
        }
    }
    while (i < n && (s[i] == ' ' || s[i] == '\t')) {
        i++;
    }
    return i < n ? i : n;
}

/* Lines that look like they carry an id would confuse correlation tests.
 * Fills lower (MAX_TMPL_LINE + 1 bytes) with the line in lower case. */
static int usable_line(const char *s, size_t n, char *lower)
{
    static const char *const bad[] = { "trace",  "request_id",  "requestid",
                                       "req_id", "correlation", "span_id" };
    if (n < 8 || n > MAX_TMPL_LINE) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e) {
            return 0;
        }
        lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (strstr(lower, bad[i]) != NULL) {
            return 0;
        }
    }
    return 1;
}

struct tmpl_set {
    struct clew_buf pool;
    struct clew_buf tmp; /* a line with in-line hole markers */
    struct tmpl *t;
    uint32_t n, cap;
};

/* Re-encodes a marked line as pieces [kind][len][bytes]: kind 0 is a
 * literal of len bytes, the others a hole whose bytes are the original. */
static int to_pieces(struct clew_buf *pool, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    int rc = 0;
    while (p < end && rc == 0) {
        const uint8_t *q = p;
        if (*p <= H_HEXUP) {
            q = p + 2 + p[1];
            rc = clew_buf_append(pool, p, (size_t)(q - p));
        } else {
            while (q<end && * q> H_HEXUP && q - p < 255) {
                q++;
            }
            uint8_t h[2] = { 0, (uint8_t)(q - p) };
            rc = clew_buf_append(pool, h, 2);
            rc = rc ? rc : clew_buf_append(pool, p, (size_t)(q - p));
        }
        p = q;
    }
    return rc;
}

static int tmpl_add(struct tmpl_set *ts, const char *s, size_t n, const char *lower)
{
    if (ts->n == ts->cap) {
        uint32_t cap = ts->cap ? ts->cap * 2 : 1024;
        struct tmpl *t = clew_realloc(ts->t, cap * sizeof(*t));
        if (t == NULL) {
            return -ENOMEM;
        }
        ts->t = t;
        ts->cap = cap;
    }
    size_t off = ts->pool.len;
    clew_buf_reset(&ts->tmp);
    int rc = compile_line(&ts->tmp, s, n);
    rc = rc ? rc : to_pieces(&ts->pool, ts->tmp.data, ts->tmp.len);
    if (rc) {
        return rc;
    }
    ts->t[ts->n++] =
        (struct tmpl){ (uint32_t)off, (uint16_t)(ts->pool.len - off), guess_level(lower) };
    return 0;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -errno;
    }
    struct clew_buf b;
    clew_buf_init(&b);
    char tmp[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        rc = b.len + n > (64u << 20) ? CLEW_ETOOBIG : clew_buf_append(&b, tmp, n);
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
    }
    fclose(f);
    if (rc) {
        clew_buf_close(&b);
        return rc;
    }
    *out = (char *)clew_buf_steal(&b, len);
    return 0;
}

static int load_system(struct clew_gen *g, struct tmpl_set *ts, unsigned sys, char *err)
{
    char path[1024], lower[MAX_TMPL_LINE + 1];
    char *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/%s_2k.log", g->o.loghub_dir, loghub_sys[sys].name);
    int rc = read_file(path, &data, &len);
    if (rc) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s", path, clew_strerror(rc));
        return rc;
    }
    g->sys_first[sys] = ts->n;
    size_t i = 0;
    while (i < len && rc == 0) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r') {
            j++;
        }
        size_t k = i + strip_prefix(data + i, j - i, sys);
        if (usable_line(data + k, j - k, lower)) {
            rc = tmpl_add(ts, data + k, j - k, lower);
        }
        i = j + 1;
    }
    g->sys_count[sys] = ts->n - g->sys_first[sys];
    clew_free(data);
    if (rc == 0 && g->sys_count[sys] == 0) {
        snprintf(err, CLEW_ERR_LEN, "%s: no usable lines", path);
        rc = CLEW_EFORMAT;
    }
    return rc;
}

/* Used when no Loghub directory is given (our own lines, not Loghub's). */
static const char *const builtin_lines[] = {
    "Worker pool size=32 busy=7 queued=0 rejected=0",
    "Flushed 1834 metrics to statsd in 12 ms",
    "Checkpoint 48213 completed in 311 ms (state size 1048576 bytes)",
    "Connection to 10.0.4.12:5432 established after 3 ms",
    "Compacted 12 segments into 3 (freed 73400320 bytes) in 2214 ms",
    "Refreshed TLS certificate, expires in 2160 hours",
    "Leader lease renewed by replica-2 term=4417",
    "Evicted 2048 entries from lru cache (size 65536, hit ratio 0.93)",
    "DNS lookup for db-1.internal took 1 ms (cached)",
    "Reloaded 14 feature flags from config revision 5cfe81a2",
    "Heap usage 412MB of 1024MB after collection, 38 threads live",
    "Rotated log file app.log.3 (52428800 bytes)",
};

static int load_templates(struct clew_gen *g, char *err)
{
    struct tmpl_set ts = { .t = NULL };
    clew_buf_init(&ts.pool);
    clew_buf_init(&ts.tmp);
    int rc = 0;
    for (unsigned s = 0; s < g->nsvc && rc == 0; s++) {
        for (unsigned k = 0; k < 2 && rc == 0; k++) {
            for (unsigned y = 0; y < N_SYS && g->o.loghub_dir != NULL; y++) {
                if (strcmp(loghub_sys[y].name, g->svc[s].def->logs[k]) != 0) {
                    continue;
                }
                if (g->sys_count[y] == 0) {
                    rc = load_system(g, &ts, y, err);
                }
                g->svc[s].sys[k] = (int8_t)y;
            }
        }
    }
    g->builtin_first = ts.n;
    for (size_t i = 0; i < sizeof(builtin_lines) / sizeof(builtin_lines[0]) && rc == 0; i++) {
        char lower[MAX_TMPL_LINE + 1];
        size_t n = strlen(builtin_lines[i]);
        rc = usable_line(builtin_lines[i], n, lower) ? tmpl_add(&ts, builtin_lines[i], n, lower)
                                                     : CLEW_EFORMAT;
    }
    g->ntmpl = ts.n;
    g->tmpl = ts.t;
    size_t len;
    g->tpool = (char *)clew_buf_steal(&ts.pool, &len);
    clew_buf_close(&ts.tmp);
    if (rc == -ENOMEM) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
    }
    return rc;
}

/* Writes template t with its holes refilled (or kept, see opts.noise). */
static void fill_tmpl(struct clew_gen *g, const struct tmpl *t, struct outbuf *b)
{
    const char *p = g->tpool + t->off, *end = p + t->len;
    while (p < end) {
        int kind = p[0];
        size_t n = (uint8_t)p[1];
        const char *orig = p + 2;
        p = orig + n;
        if (kind == 0 || (uint32_t)(rng_next(&g->rng) >> 40) >= g->noise24) {
            ob_put(b, orig, n);
        } else if (kind == H_DIGITS && n == 3 && orig[0] <= '2' && orig[0] != '0') {
            ob_u64(b, 100 + rng_below(&g->rng, 156)); /* IPv4 octets stay valid */
        } else if (kind == H_DIGITS) {
            ob_rand_digits(b, &g->rng, n, orig[0] != '0');
        } else {
            size_t at = b->n;
            char h[256];
            rand_hex(&g->rng, h, n);
            ob_put(b, h, n);
            for (size_t i = at; kind == H_HEXUP && i < b->n; i++) {
                b->p[i] = (b->p[i] >= 'a') ? (char)(b->p[i] - 32) : b->p[i];
            }
        }
    }
}

/* ------------------------------------------------------- message texts */

/* A template's first char is its level digit; {key}s are expanded by
 * expand() from the request in hand (or random values without one). */
static const char *const mid_generic[] = {
    "7SELECT id, status, updated_at FROM {noun}s WHERE id = ? took {ms} ms rows=1",
    "7cache {hit} key={noun}:{oid} ttl=300s",
    "6validated {noun} {oid} for user {uid} in {us} us",
    "7acquired db connection pool=main active={n} idle={n} waiting=0",
    "6published event {noun}.updated id={oid} partition={n} offset={N}",
    "7feature flag new-{noun}-flow=off for user {uid}",
    "4retrying {noun} lookup attempt=2 backoff_ms={ms}",
    "4slow query on {noun}s: {ms} ms (threshold 200 ms)",
    "6{noun} {oid} state changed from PENDING to ACTIVE by {uid}",
};

static const char *const mid_svc[CLEW_GEN_MAX_SERVICES][3] = {
    { "6route matched path={path} upstream={prim}:8080 timeout=30s",
      "7rate limit bucket user={uid} remaining={n}/100 window=60s",
      "6jwt accepted sub={uid} iss=https://auth.shop.internal kid={hex}" },
    { "6token validated sub={uid} scope=read:orders exp={epoch}",
      "7session {hex}{hex} refreshed for {uid}", "4login throttled for {uid} attempts={n}" },
    { "6Order {oid} created for customer {uid} total={amt} EUR items={n}",
      "7Loaded order {oid} with {n} line items from db in {ms} ms",
      "6Order {oid} moved to state PAID after {ms} ms" },
    { "6Charge authorized amount={amt} currency=EUR card=****{d4} provider=stripe",
      "7Idempotency key {hex}-{hex} not seen before, processing",
      "4Payment provider latency high: {ms} ms (p99 budget 250 ms)" },
    { "6reserved {n} units of {sku} warehouse=wh-{n}",
      "7stock level {sku} available={N} reserved={n}",
      "4low stock {sku} available={n} threshold=10" },
    { "6loaded profile {uid} locale=en_US tier=gold", "7address book for {uid} has {n} entries",
      "6updated preferences for {uid} newsletter=false" },
    { "6label created carrier=DHL tracking=JD0{N}{N} for order {oid}",
      "7rate quote carrier=UPS zone={n} price={amt} EUR",
      "6pickup scheduled for order {oid} slot={n}" },
    { "6query=\"{word}\" hits={N} took={ms}ms shards=5/5",
      "7rewrote query \"{word}\" to \"{word} {word}\" (synonyms)",
      "6facet counts computed for \"{word}\" buckets={n}" },
    { "6Added {sku} x{n} to cart {oid} of {uid}", "7Cart {oid} total recomputed: {amt} EUR",
      "6Applied coupon SAVE{n} to cart {oid}" },
    { "6product {sku} served from cache age={ms}s",
      "7fetched {n} products for category c-{n} in {ms} ms", "6price list v{n} applied to {sku}" },
    { "6email queued template=order_confirmation to={uid}@example.com",
      "7push token lookup for {uid} found {n} devices",
      "6sms sent to +49 151 {d4}{d4} provider=twilio" },
    { "6scored {N} candidates for {uid} model=als-v{n} in {ms} ms",
      "7feature vector for {uid} loaded dims=128 age={ms}s",
      "6returned {n} recommendations for {uid} (cold start=false)" },
};

static const char *const start_tpl[] = { "6Received {m} {ipath} from {peer}",
                                         "6{m} {ipath} user={uid} caller={peer}",
                                         "7Handling request {m} {ipath}" };
static const char *const call_tpl[] = { "7Calling {peer} {m} http://{peer}:8080{pipath}",
                                        "7-> {peer} {m} {pipath} timeout_ms=3000" };
static const char *const resp_tpl[] = { "6{peer} responded status={pst} duration_ms={pdur}",
                                        "6<- {peer} {pst} in {pdur} ms" };
static const char *const end_tpl[] = { "6Completed {m} {ipath} status={st} duration_ms={dur}",
                                       "6Request finished status={st} in {dur} ms" };
static const char root_start_tpl[] = "6{m} {path} from {ip} ua=\"{ua}\"";
static const char root_end_tpl[] = "6{ip} - {uid} \"{m} {path} HTTP/1.1\" {st} {bytes} \"-\" "
                                   "\"{ua}\" rt={rt} upstream={prim}:8080";
static const char link_tpl[] = "6assigned request_id={rid} for {m} {path}";
static const char err_tpl[] = "3error handling {m} {ipath}: {peer} call failed: context deadline "
                              "exceeded (Client.Timeout exceeded while awaiting headers)";
static const char root_err_tpl[] =
    "3upstream {prim} failed for {m} {path}: 503 Service Unavailable";

static const char *const health_tpl[] = { "7GET /healthz 200 {us}us from 10.0.0.1 kube-probe/1.29",
                                          "7GET /actuator/health 200 status=UP ({us} us)",
                                          "7health check ok db=up cache=up latency_us={us}" };
static const char *const job_tpl[] = {
    "6scheduled job cache-refresh finished entries={N} took_ms={ms}",
    "6connection pool stats active={n} idle={n} waiting=0 max=20",
    "6GC pause (G1 Evacuation Pause) young {N}M->{n}M ({N}M) {ms}.{n}ms",
    "6metrics flushed series={N} in {ms} ms",
    "4kafka consumer lag group={svc} topic={noun}-events partition={n} lag={N}",
    "6outbox relay published {n} events in {ms} ms",
};
static const char *const startup_java[] = {
    "Starting {cls}Application v2.3.{n} using Java 17.0.9 with PID 1 (started by app in /app)",
    "No active profile set, falling back to 1 default profile: \"default\"",
    "Tomcat initialized with port(s): 8080 (http)",
    "Initializing Spring embedded WebApplicationContext",
    "Started {cls}Application in {n}.{N} seconds (process running for {n}.{N})",
};
static const char *const startup_other[] = {
    "starting {svc} version=1.{n}.{n} commit={hex} go=go1.22.3",
    "loaded configuration from /etc/{svc}/config.yaml",
    "connected to postgres host=db-{n}.internal:5432 db={svc} pool=20",
    "listening on 0.0.0.0:8080",
};
static const char *const words[] = { "running shoes", "laptop",     "coffee grinder", "usb-c cable",
                                     "winter jacket", "headphones", "desk lamp",      "yoga mat",
                                     "phone case",    "backpack",   "water bottle",   "keyboard" };
static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "shop-android/4.12.0 okhttp/4.12.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/17.5 Safari/605.1.15",
    "python-requests/2.32.3",
};
static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };

struct ctx {
    struct clew_gen *g;
    const struct greq *r; /* NULL: background */
    int svc;              /* own service */
    int span;             /* own span, -1 without request */
    int peer_span;        /* -1: none */
    int peer_svc;         /* -1: none */
};

static const struct gspan *ctx_span(const struct ctx *c, int i)
{
    return (c->r != NULL && i >= 0) ? &c->r->spans[i] : NULL;
}

static void put_noun_path(struct outbuf *b, const struct ctx *c, int svc, const char *pre)
{
    ob_str(b, pre);
    ob_str(b, svc_defs[svc].noun);
    ob_str(b, "s/");
    ob_u64(b, c->r ? c->r->oid : rng_range(&c->g->rng, 1, 999999));
}

static void put_dur(struct outbuf *b, const struct gspan *s, int secs)
{
    int64_t d = s ? (s->plan_end - s->plan_start) : 1000000;
    if (!secs) {
        ob_u64(b, (uint64_t)(d / 1000000));
        return;
    }
    ob_u64(b, (uint64_t)(d / CLEW_NS_PER_SEC));
    ob_ch(b, '.');
    ob_u64w(b, (uint64_t)(d / 1000000 % 1000), 3);
}

static void put_ip(struct outbuf *b, uint32_t ip)
{
    ob_str(b, "10.");
    ob_u64(b, (ip >> 16) & 255);
    ob_ch(b, '.');
    ob_u64(b, (ip >> 8) & 255);
    ob_ch(b, '.');
    ob_u64(b, ip & 255);
}

/* Request-independent keys; returns 0 when key is not one of them. */
static int expand_rand(const struct ctx *c, const char *k, size_t n, struct outbuf *b)
{
    struct rng *R = &c->g->rng;
    char h[8];
#define KEY(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
    if (KEY("ms")) {
        ob_u64(b, (uint64_t)rng_range(R, 1, rng_range(R, 2, 400)));
    } else if (KEY("n")) {
        ob_u64(b, (uint64_t)rng_range(R, 1, 20));
    } else if (KEY("N")) {
        ob_u64(b, (uint64_t)rng_range(R, 100, rng_range(R, 200, 99999)));
    } else if (KEY("us")) {
        ob_u64(b, (uint64_t)rng_range(R, 40, 900));
    } else if (KEY("d4")) {
        ob_u64w(b, (uint64_t)rng_range(R, 0, 9999), 4);
    } else if (KEY("amt")) {
        ob_u64(b, (uint64_t)rng_range(R, 1, 499));
        ob_ch(b, '.');
        ob_u64w(b, (uint64_t)rng_range(R, 0, 99), 2);
    } else if (KEY("hex")) {
        rand_hex(R, h, 8);
        ob_put(b, h, 8);
    } else if (KEY("sku")) {
        ob_str(b, "SKU-");
        ob_u64(b, (uint64_t)rng_range(R, 10000, 10000 + rng_range(R, 10, 89999)));
    } else if (KEY("word")) {
        ob_str(b, words[rng_below(R, sizeof(words) / sizeof(words[0]))]);
    } else if (KEY("hit")) {
        ob_str(b, rng_below(R, 4) ? "hit" : "miss");
    } else if (KEY("epoch")) {
        ob_u64(b, 1795900000 + rng_below(R, 100000));
    } else if (KEY("bytes")) {
        ob_u64(b, (uint64_t)rng_range(R, 120, 24000));
    } else {
        return 0;
    }
    return 1;
}

static void expand_key(const struct ctx *c, const char *k, size_t n, struct outbuf *b)
{
    const struct greq *r = c->r;
    struct rng *R = &c->g->rng;
    const struct gspan *own = ctx_span(c, c->span), *peer = ctx_span(c, c->peer_span);
    int prim = r ? r->primary : 2;
    if (expand_rand(c, k, n, b)) {
        return;
    } else if (KEY("m")) {
        ob_str(b, methods[r ? r->method : 0]);
    } else if (KEY("path")) {
        put_noun_path(b, c, prim, "/api/v1/");
    } else if (KEY("ipath")) {
        put_noun_path(b, c, c->svc, "/internal/");
    } else if (KEY("pipath")) {
        put_noun_path(b, c, c->peer_svc >= 0 ? c->peer_svc : c->svc, "/internal/");
    } else if (KEY("noun")) {
        ob_str(b, svc_defs[c->svc].noun);
    } else if (KEY("oid")) {
        ob_u64(b, r ? r->oid : (uint64_t)rng_range(R, 1, 999999));
    } else if (KEY("uid")) {
        ob_str(b, "u-");
        ob_u64(b, r ? r->uid : rng_below(R, 50000));
    } else if (KEY("ip")) {
        put_ip(b, r ? r->ip : (uint32_t)rng_next(R));
    } else if (KEY("svc")) {
        ob_str(b, svc_defs[c->svc].name);
    } else if (KEY("cls")) {
        ob_str(b, svc_defs[c->svc].cls);
    } else if (KEY("peer")) {
        ob_str(b, c->peer_svc >= 0 ? svc_defs[c->peer_svc].name : "postgres");
    } else if (KEY("prim")) {
        ob_str(b, svc_defs[prim].name);
    } else if (KEY("st") || KEY("pst")) {
        const struct gspan *s = k[0] == 'p' ? peer : own;
        ob_u64(b, s ? s->status : 200);
    } else if (KEY("dur") || KEY("pdur")) {
        put_dur(b, k[0] == 'p' ? peer : own, 0);
    } else if (KEY("rt")) {
        put_dur(b, own, 1);
    } else if (KEY("rid")) {
        ob_put(b, r ? r->rid : "", r ? r->rid_len : 0);
    } else if (KEY("ua")) {
        ob_str(b, user_agents[r ? r->uid % 5 : 0]);
    } else {
        ob_ch(b, '?');
    }
#undef KEY
}

/* Expands t (after its level digit). */
static void expand(const struct ctx *c, const char *t, struct outbuf *b)
{
    while (*t) {
        const char *q = t;
        while (*q && *q != '{') {
            q++;
        }
        ob_put(b, t, (size_t)(q - t));
        if (*q == '\0') {
            break;
        }
        const char *e = strchr(q, '}');
        expand_key(c, q + 1, (size_t)(e - q - 1), b);
        t = e + 1;
    }
}

/* ----------------------------------------------------------- stack traces */

static const struct {
    const char *exc;
    const char *msg;
} exc_defs[] = {
    { "java.lang.IllegalStateException", "{noun} {oid} cannot be processed in state PENDING" },
    { "org.springframework.web.client.HttpServerErrorException$ServiceUnavailable",
      "503 Service Unavailable: \"{peer} is unavailable\"" },
    { "java.util.concurrent.TimeoutException",
      "Did not observe any item or terminal signal within 3000ms in 'circuitBreaker' "
      "(and no fallback has been configured)" },
    { "org.springframework.dao.DataAccessResourceFailureException",
      "Unable to acquire JDBC Connection; nested exception is "
      "org.hibernate.exception.JDBCConnectionException: Unable to acquire JDBC Connection" },
    { "java.lang.NullPointerException",
      "Cannot invoke \"com.example.model.Customer.getId()\" because \"customer\" is null" },
};
#define N_EXC (sizeof(exc_defs) / sizeof(exc_defs[0]))

static const char *const fw_frames[] = {
    "jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
    "java.base/java.lang.reflect.Method.invoke(Method.java:580)",
    "org.springframework.web.method.support.InvocableHandlerMethod.doInvoke("
    "InvocableHandlerMethod.java:205)",
    "org.springframework.web.method.support.InvocableHandlerMethod.invokeForRequest("
    "InvocableHandlerMethod.java:150)",
    "org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod."
    "invokeAndHandle(ServletInvocableHandlerMethod.java:118)",
    "org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter."
    "invokeHandlerMethod(RequestMappingHandlerAdapter.java:884)",
    "org.springframework.web.servlet.mvc.method.annotation.RequestMappingHandlerAdapter."
    "handleInternal(RequestMappingHandlerAdapter.java:797)",
    "org.springframework.web.servlet.mvc.method.AbstractHandlerMethodAdapter.handle("
    "AbstractHandlerMethodAdapter.java:87)",
    "org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1081)",
    "org.springframework.web.servlet.DispatcherServlet.doService(DispatcherServlet.java:974)",
    "org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1011)",
    "org.springframework.web.servlet.FrameworkServlet.doGet(FrameworkServlet.java:903)",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:564)",
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
    "org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:"
    "205)",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:149)",
    "org.apache.tomcat.websocket.server.WsFilter.doFilter(WsFilter.java:51)",
    "org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:167)",
    "org.apache.catalina.core.StandardContextValve.invoke(StandardContextValve.java:90)",
    "org.apache.coyote.http11.Http11Processor.service(Http11Processor.java:391)",
    "java.base/java.lang.Thread.run(Thread.java:1583)",
};
#define N_FW (sizeof(fw_frames) / sizeof(fw_frames[0]))

static const char *const cause_defs[][3] = {
    { "java.net.SocketTimeoutException: Read timed out",
      "java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
      "java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)" },
    { "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
      "request timed out after 30000ms.",
      "com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
      "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)" },
    { "java.net.ConnectException: Connection refused",
      "java.base/sun.nio.ch.Net.pollConnect(Native Method)",
      "java.base/sun.nio.ch.NioSocketImpl.connect(NioSocketImpl.java:592)" },
};
#define N_CAUSE (sizeof(cause_defs) / sizeof(cause_defs[0]))

static const char *const app_methods[] = { "process",          "handle", "validate", "reserve",
                                           "lambda$process$0", "apply",  "execute",  "load" };

static void stack_begin(struct clew_gen *g, uint32_t ri, unsigned si, int64_t ts, unsigned exc)
{
    struct rng *R = &g->rng;
    struct stack_grp *s = &g->grp;
    s->active = 1;
    s->req = ri;
    s->span = (uint8_t)si;
    s->ts = ts;
    s->line = 0;
    s->exc = (uint8_t)exc;
    s->app_off = (uint8_t)rng_below(R, 3);
    s->napp = (uint8_t)(2 + rng_below(R, 4));
    s->nfw = (uint8_t)(6 + rng_below(R, N_FW - 5));
    s->cause = (uint8_t)rng_below(R, N_CAUSE * 2); /* >= N_CAUSE: no cause */
    s->ncause = s->cause < N_CAUSE ? 4 : 0;        /* header, 2 frames, "... N more" */
    s->nlines = (uint16_t)(s->napp + s->nfw + s->ncause);
}

/* The text of continuation line s->line of the current stack trace. */
static void stack_line(struct clew_gen *g, const struct svc_def *d, struct outbuf *b)
{
    const struct stack_grp *s = &g->grp;
    unsigned i = s->line, si = (unsigned)(d - svc_defs);
    if (i < s->napp) {
        unsigned k = i + s->app_off;
        ob_str(b, "\tat com.example.");
        ob_str(b, d->name);
        ob_ch(b, '.');
        ob_str(b, d->cls);
        ob_ch(b, '.');
        ob_str(b, app_methods[(si * 5 + k) % 8]);
        ob_ch(b, '(');
        ob_str(b, d->cls);
        ob_str(b, ".java:");
        ob_u64(b, 20 + (si * 131 + k * 57 + s->exc * 13) % 380);
        ob_ch(b, ')');
        return;
    }
    i -= s->napp;
    if (i < s->nfw) {
        ob_str(b, "\tat ");
        ob_str(b, fw_frames[i]);
        return;
    }
    i -= s->nfw;
    if (i == 0) {
        ob_str(b, "Caused by: ");
        ob_str(b, cause_defs[s->cause][0]);
    } else if (i < 3) {
        ob_str(b, "\tat ");
        ob_str(b, cause_defs[s->cause][i]);
    } else {
        ob_str(b, "\t... ");
        ob_u64(b, (uint64_t)s->nfw + s->napp - 1);
        ob_str(b, " more");
    }
}

/* ---------------------------------------------------------- decorations */

struct ids {
    const struct greq *r; /* NULL: the line carries no id */
    const struct gspan *sp;
    const struct gspan *parent;
};

static const char *const spring_levels[8] = { "ERROR", "ERROR", "ERROR", "ERROR",
                                              " WARN", " INFO", " INFO", "DEBUG" };

/* thread: 0 main, 1 scheduler, 2.. request worker thread-1. */
static void put_thread(struct outbuf *b, int thread, int full)
{
    if (thread == 0) {
        ob_str(b, "main");
    } else if (thread == 1) {
        ob_str(b, "scheduling-1");
    } else {
        ob_str(b, full ? "http-nio-8080-exec-" : "nio-8080-exec-");
        ob_u64(b, (uint64_t)thread - 1);
    }
}

/* A span runs on one worker thread, named after its id. */
static int span_thread(const struct gspan *sp)
{
    return 2 + (unsigned char)sp->id[0] % 10;
}

/* The part before the body: Sleuth's prefix. */
static void deco_open(struct clew_gen *g, unsigned svc, uint8_t level, const struct ids *id,
                      int thread)
{
    const struct svc_def *d = g->svc[svc].def;
    struct outbuf *b = &g->m;
    if (d->scheme != SC_SLEUTH) {
        return;
    }
    ob_str(b, spring_levels[level & 7]);
    ob_str(b, " [");
    ob_str(b, d->name);
    ob_ch(b, ',');
    if (id->r != NULL) {
        ob_put(b, id->r->trace, 32);
        ob_ch(b, ',');
        ob_put(b, id->sp->id, 16);
    } else {
        ob_ch(b, ',');
    }
    ob_str(b, "] 1 --- [");
    put_thread(b, thread, 0);
    ob_str(b, "] c.e.");
    ob_str(b, d->name);
    ob_ch(b, '.');
    ob_str(b, d->cls);
    ob_str(b, " : ");
}

static void json_kv(struct outbuf *b, const char *k, const char *v, size_t n)
{
    ob_str(b, ",\"");
    ob_str(b, k);
    ob_str(b, "\":\"");
    ob_put(b, v, n);
    ob_ch(b, '"');
}

static void deco_fields(struct clew_gen *g, const struct svc_def *d, const struct ids *id,
                        int thread)
{
    struct outbuf *f = &g->f;
    static const char *const names[2][3] = { { "trace_id", "span_id", "parent_span_id" },
                                             { "traceId", "spanId", "parentSpanId" } };
    ob_str(f, "{\"logger\":\"com.example.");
    ob_str(f, d->name);
    ob_ch(f, '.');
    ob_str(f, d->cls);
    ob_str(f, "\",\"thread\":\"");
    put_thread(f, thread, 1);
    ob_ch(f, '"');
    if (id->r != NULL && d->scheme == SC_JSON_REQID) {
        json_kv(f, "request_id", id->r->rid, id->r->rid_len);
    } else if (id->r != NULL) {
        const char *const *nm = names[d->scheme == SC_JSON_CAMEL];
        json_kv(f, nm[0], id->r->trace, 32);
        json_kv(f, nm[1], id->sp->id, 16);
        if (id->parent != NULL) {
            json_kv(f, nm[2], id->parent->id, 16);
        }
    }
    if (id->r != NULL) {
        char u[16];
        struct outbuf ub = { u, 0, sizeof(u) };
        ob_str(&ub, "u-");
        ob_u64(&ub, id->r->uid);
        json_kv(f, "user_id", u, ub.n);
    }
    ob_ch(f, '}');
}

/* The part after the body: text suffixes, or the fields of JSON lines. */
static void deco_close(struct clew_gen *g, unsigned svc, const struct ids *id, int thread)
{
    const struct svc_def *d = g->svc[svc].def;
    struct outbuf *b = &g->m;
    switch (d->scheme) {
    case SC_JSON_SNAKE:
    case SC_JSON_CAMEL:
    case SC_JSON_REQID:
        deco_fields(g, d, id, thread);
        return;
    default:
        break;
    }
    if (id->r == NULL) {
        return;
    }
    if (d->scheme == SC_TRACEPARENT) {
        ob_str(b, " traceparent: 00-");
        ob_put(b, id->r->trace, 32);
        ob_ch(b, '-');
        ob_put(b, id->sp->id, 16);
        ob_str(b, "-01");
    } else if (d->scheme == SC_OTEL_TEXT) {
        ob_str(b, " trace_id=");
        ob_put(b, id->r->trace, 32);
        ob_str(b, " span_id=");
        ob_put(b, id->sp->id, 16);
        ob_str(b, " trace_flags=01");
    } else if (d->scheme == SC_REQID_TEXT) {
        ob_str(b, " request_id=");
        ob_put(b, id->r->rid, id->r->rid_len);
    }
}

/* -------------------------------------------------------------- records */

static void rec_begin(struct clew_gen *g, struct clew_record *out, int64_t ts, unsigned cont,
                      uint8_t level, int err_stream)
{
    const struct container *c = &g->cont[cont];
    const char *stream = err_stream ? "stderr" : "stdout";
    memset(out, 0, sizeof(*out));
    out->ts = ts;
    out->level = level;
    out->input = (c->host & 1) ? CLEW_INPUT_FORWARD : CLEW_INPUT_SHIP;
    out->labels[CLEW_LABEL_HOST] = (struct clew_str){ g->hosts[c->host], c->host_len };
    out->labels[CLEW_LABEL_SERVICE] = (struct clew_str){ svc_defs[c->svc].name, c->svc_len };
    out->labels[CLEW_LABEL_CONTAINER_ID] = (struct clew_str){ c->id, 64 };
    out->labels[CLEW_LABEL_CONTAINER_NAME] = (struct clew_str){ c->name, c->name_len };
    out->labels[CLEW_LABEL_STREAM] = (struct clew_str){ stream, 6 };
    g->m.n = 0;
    g->f.n = 0;
}

/* Sets the message, fields, ids and truth of the record, and counts it. */
static void rec_finish(struct clew_gen *g, struct clew_record *out, struct greq *r, unsigned si,
                       int carries, int continuation)
{
    struct clew_gen_truth *t = &g->truth;
    out->message = (struct clew_str){ g->msg, g->m.n };
    out->fields = (struct clew_str){ g->fields, g->f.n };
    memset(t, 0, sizeof(*t));
    t->carries_id = carries;
    t->continuation = continuation;
    g->emitted++;
    g->noid += carries ? 0 : 1;
    if (r == NULL) {
        return;
    }
    struct gspan *sp = &r->spans[si];
    memcpy(g->tid, r->trace, 32);
    memcpy(g->sid, sp->id, 16);
    t->trace_id = (struct clew_str){ g->tid, 32 };
    t->span_id = (struct clew_str){ g->sid, 16 };
    if (sp->parent >= 0) {
        memcpy(g->pid, r->spans[sp->parent].id, 16);
        t->parent_span_id = (struct clew_str){ g->pid, 16 };
    }
    t->request = r->num;
    sp->first = sp->records == 0 ? out->ts : sp->first;
    sp->last = out->ts;
    sp->records++;
    sp->errors += out->level <= 3;
    r->records++;
    r->errors += out->level <= 3;
    if (g->o.resolved_ids) {
        out->trace_id = t->trace_id;
        out->span_id = t->span_id;
        out->parent_span_id = t->parent_span_id;
        out->flags |= continuation ? CLEW_REC_INHERITED : 0;
    }
}

static const char *pick_list(struct rng *R, const char *const *list, size_t n)
{
    return list[rng_below(R, (uint32_t)n)];
}
#define PICK(R, a) pick_list((R), (a), sizeof(a) / sizeof((a)[0]))

/* A loghub (or built-in) line of service svc. */
static const struct tmpl *pick_tmpl(struct clew_gen *g, unsigned svc)
{
    const struct svc_rt *s = &g->svc[svc];
    int sys = s->sys[rng_below(&g->rng, 2)];
    if (sys < 0) {
        uint32_t nb = g->ntmpl - g->builtin_first;
        return &g->tmpl[g->builtin_first + rng_below(&g->rng, nb)];
    }
    return &g->tmpl[g->sys_first[sys] + rng_below(&g->rng, g->sys_count[sys])];
}

/* Chooses the text of a request event: a template (returned, level set)
 * or, for EV_MID, possibly a Loghub line (*lt set, NULL returned). */
static const char *req_text(struct clew_gen *g, const struct ev *e, const struct greq *r,
                            const struct tmpl **lt)
{
    struct rng *R = &g->rng;
    const struct gspan *sp = &r->spans[e->span];
    *lt = NULL;
    switch (e->kind) {
    case EV_START:
        return e->span == 0 ? root_start_tpl : PICK(R, start_tpl);
    case EV_LINK:
        return link_tpl;
    case EV_CALL:
        return PICK(R, call_tpl);
    case EV_RESP:
        return PICK(R, resp_tpl);
    case EV_ERROR:
        return e->span == 0 ? root_err_tpl : err_tpl;
    case EV_END:
        return e->span == 0 ? root_end_tpl : PICK(R, end_tpl);
    default:
        break;
    }
    uint32_t x = rng_below(R, 100);
    if (x < 45) {
        *lt = pick_tmpl(g, sp->svc);
        return NULL;
    }
    return x < 75 ? PICK(R, mid_svc[sp->svc]) : PICK(R, mid_generic);
}

static uint8_t req_level(const struct ev *e, const struct greq *r, const char *tpl,
                         const struct tmpl *lt)
{
    const struct gspan *sp = &r->spans[e->span];
    if (lt != NULL) {
        return lt->level;
    }
    if (e->kind == EV_RESP && r->spans[e->aux].status >= 500) {
        return 4;
    }
    if (e->kind == EV_END && sp->status >= 500) {
        return e->span == 0 ? 4 : 3;
    }
    return (uint8_t)(tpl[0] - '0');
}

static int req_release(struct clew_gen *g, uint32_t ri);

/* Formats request event e into out. Returns 0 or a negative error. */
static int emit_req_event(struct clew_gen *g, const struct ev *e, struct clew_record *out)
{
    struct greq *r = &g->reqs[e->req];
    struct gspan *sp = &r->spans[e->span];
    const struct svc_def *d = &svc_defs[sp->svc];
    struct ctx c = { g, r, sp->svc, e->span, -1, sp->parent >= 0 ? r->spans[sp->parent].svc : -1 };
    const struct tmpl *lt;
    const char *tpl = req_text(g, e, r, &lt);
    uint8_t level = req_level(e, r, tpl, lt);
    int java_err = e->kind == EV_ERROR && d->java;
    struct ids id = { r, sp, sp->parent >= 0 ? &r->spans[sp->parent] : NULL };
    if (e->kind == EV_CALL || e->kind == EV_RESP) {
        c.peer_span = e->aux;
        c.peer_svc = r->spans[e->aux].svc;
    } else if (e->kind == EV_ERROR) {
        c.peer_svc = -1;
        for (unsigned k = e->span + 1u; k < r->nspans && c.peer_svc < 0; k++) {
            c.peer_svc =
                r->spans[k].parent == (int8_t)e->span && r->spans[k].failed ? r->spans[k].svc : -1;
        }
    }
    rec_begin(g, out, e->ts, sp->cont, level, level <= 3);
    deco_open(g, sp->svc, level, &id, span_thread(sp));
    if (java_err) {
        unsigned x = rng_below(&g->rng, N_EXC);
        ob_str(&g->m, exc_defs[x].exc);
        ob_str(&g->m, ": ");
        expand(&c, exc_defs[x].msg, &g->m);
        stack_begin(g, e->req, e->span, e->ts, x);
    } else if (lt != NULL) {
        fill_tmpl(g, lt, &g->m);
    } else {
        expand(&c, tpl + 1, &g->m);
    }
    deco_close(g, sp->svc, &id, span_thread(sp));
    rec_finish(g, out, r, e->span, 1, 0);
    return java_err ? 0 : req_release(g, e->req);
}

/* The next continuation line of the stack trace in progress. */
static int emit_stack_line(struct clew_gen *g, struct clew_record *out)
{
    struct stack_grp *s = &g->grp;
    struct greq *r = &g->reqs[s->req];
    struct gspan *sp = &r->spans[s->span];
    rec_begin(g, out, s->ts, sp->cont, 3, 1);
    stack_line(g, &svc_defs[sp->svc], &g->m);
    rec_finish(g, out, r, s->span, 0, 1);
    if (++s->line < s->nlines) {
        return 0;
    }
    s->active = 0;
    return req_release(g, s->req);
}

static void emit_background(struct clew_gen *g, struct clew_record *out)
{
    struct rng *R = &g->rng;
    unsigned svc = rng_below(R, g->nsvc);
    const struct svc_rt *s = &g->svc[svc];
    unsigned cont = s->cont0 + rng_below(R, s->ncont);
    struct ctx c = { g, NULL, (int)svc, -1, -1, -1 };
    struct ids id = { NULL, NULL, NULL };
    const struct tmpl *lt = NULL;
    const char *tpl = NULL;
    uint32_t x = rng_below(R, 100);
    if (x < 10) {
        tpl = health_tpl[svc == 0 ? 0 : s->def->java ? 1 : 2];
    } else if (x < 25) {
        tpl = PICK(R, job_tpl);
    } else {
        lt = pick_tmpl(g, svc);
    }
    uint8_t level = lt != NULL ? lt->level : (uint8_t)(tpl[0] - '0');
    rec_begin(g, out, g->next_bg_ts, cont, level, level <= 3);
    deco_open(g, svc, level, &id, 1);
    if (lt != NULL) {
        fill_tmpl(g, lt, &g->m);
    } else {
        expand(&c, tpl + 1, &g->m);
    }
    deco_close(g, svc, &id, 1);
    rec_finish(g, out, NULL, 0, 0, 0);
}

static void emit_startup(struct clew_gen *g, const struct ev *e, struct clew_record *out)
{
    const struct container *k = &g->cont[e->span];
    const struct svc_def *d = &svc_defs[k->svc];
    struct ctx c = { g, NULL, k->svc, -1, -1, -1 };
    struct ids id = { NULL, NULL, NULL };
    rec_begin(g, out, e->ts, e->span, 6, 0);
    deco_open(g, k->svc, 6, &id, 0);
    expand(&c, d->java ? startup_java[e->aux] : startup_other[e->aux], &g->m);
    deco_close(g, k->svc, &id, 0);
    rec_finish(g, out, NULL, 0, 0, 0);
}

/* ------------------------------------------------------------ the heap */

static int ev_less(const struct ev *a, const struct ev *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static int heap_reserve(struct clew_gen *g, size_t n)
{
    if (g->nheap + n <= g->heap_cap) {
        return 0;
    }
    size_t cap = g->heap_cap ? g->heap_cap : 1024;
    while (cap < g->nheap + n) {
        cap *= 2;
    }
    struct ev *h = clew_realloc(g->heap, cap * sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    g->heap = h;
    g->heap_cap = cap;
    return 0;
}

/* Room must have been reserved. */
static void push_ev(struct clew_gen *g, int64_t ts, uint32_t ri, unsigned span, int kind,
                    unsigned aux)
{
    struct ev e = { ts, g->seq++, ri, (uint8_t)span, (uint8_t)kind, (uint8_t)aux };
    size_t i = g->nheap++;
    while (i > 0 && ev_less(&e, &g->heap[(i - 1) / 2])) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = e;
    if (ri != NONE) {
        g->reqs[ri].pending++;
    }
}

static struct ev pop_ev(struct clew_gen *g)
{
    struct ev top = g->heap[0], last = g->heap[--g->nheap];
    size_t i = 0, n = g->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        c += (c + 1 < n && ev_less(&g->heap[c + 1], &g->heap[c]));
        if (!ev_less(&g->heap[c], &last)) {
            break;
        }
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (n > 0) {
        g->heap[i] = last;
    }
    return top;
}

/* ------------------------------------------------------------ requests */

#define MAX_EV_PER_REQ (MAX_SPANS * 12)

static int64_t dt_step(struct rng *r)
{
    uint32_t x = rng_below(r, 100);
    if (x < 70) {
        return rng_range(r, 50000, 3000000);
    }
    return x < 96 ? rng_range(r, 3000000, 40000000) : rng_range(r, 40000000, 1200000000);
}

static int64_t dt_net(struct rng *r)
{
    return rng_range(r, 200000, 2500000);
}

static uint16_t span_status(struct rng *R, const struct greq *r, unsigned si)
{
    static const uint16_t root_fail[] = { 502, 503, 504 };
    uint32_t x = rng_below(R, 100);
    if (r->spans[si].failed) {
        return si == 0 ? root_fail[x % 3] : (x < 70 ? 500 : 503);
    }
    if (si != 0 || x >= 7) {
        return r->method == 1 && si == 0 ? 201 : 200;
    }
    return x < 4 ? 404 : x < 6 ? 400 : 401;
}

static int64_t push_mids(struct clew_gen *g, uint32_t ri, unsigned si, int64_t t, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        t += dt_step(&g->rng);
        push_ev(g, t, ri, si, EV_MID, 0);
    }
    return t;
}

/* Plans span si starting at t and its subtree; returns its end time. */
static int64_t plan_span(struct clew_gen *g, uint32_t ri, unsigned si, int64_t t)
{
    struct rng *R = &g->rng;
    struct greq *r = &g->reqs[ri];
    struct gspan *sp = &r->spans[si];
    sp->plan_start = t;
    sp->failed = si != 0 && rng_unit(R) < g->o.error_rate;
    push_ev(g, t, ri, si, EV_START, 0);
    if (si == 0 && r->rid_len > 0) {
        t += dt_net(R);
        push_ev(g, t, ri, si, EV_LINK, 0);
    }
    t = push_mids(g, ri, si, t, rng_below(R, 3));
    for (unsigned c = si + 1; c < r->nspans; c++) {
        if (r->spans[c].parent != (int8_t)si) {
            continue;
        }
        t += dt_net(R);
        push_ev(g, t, ri, si, EV_CALL, c);
        t = plan_span(g, ri, c, t + dt_net(R)) + dt_net(R);
        push_ev(g, t, ri, si, EV_RESP, c);
        sp->failed |= r->spans[c].failed && rng_unit(R) < 0.6;
    }
    t = push_mids(g, ri, si, t, rng_below(R, 2));
    if (sp->failed) {
        t += dt_step(R);
        push_ev(g, t, ri, si, EV_ERROR, 0);
    }
    t += dt_step(R);
    sp->status = span_status(R, r, si);
    push_ev(g, t, ri, si, EV_END, 0);
    sp->plan_end = t;
    return t;
}

static int add_span(struct clew_gen *g, struct greq *r, unsigned parent)
{
    const struct svc_rt *p = &g->svc[r->spans[parent].svc];
    if (r->spans[parent].depth >= MAX_DEPTH || p->ncallees == 0) {
        return 0;
    }
    struct gspan *sp = &r->spans[r->nspans++];
    const struct svc_rt *s = &g->svc[p->callees[rng_below(&g->rng, p->ncallees)]];
    memset(sp, 0, sizeof(*sp));
    rand_hex(&g->rng, sp->id, 16);
    sp->parent = (int8_t)parent;
    sp->svc = (uint8_t)(s - g->svc);
    sp->cont = (uint8_t)(s->cont0 + rng_below(&g->rng, s->ncont));
    sp->depth = (uint8_t)(r->spans[parent].depth + 1);
    return 1;
}

/* The call tree: a gateway root and 1-7 more spans under it. */
static void plan_tree(struct clew_gen *g, struct greq *r)
{
    struct rng *R = &g->rng;
    struct gspan *root = &r->spans[0];
    memset(root, 0, sizeof(*root));
    rand_hex(R, root->id, 16);
    root->parent = -1;
    root->cont = (uint8_t)(g->svc[0].cont0 + rng_below(R, g->svc[0].ncont));
    root->depth = 1;
    r->nspans = 1;
    unsigned want = 2 + rng_below(R, MAX_SPANS - 1);
    add_span(g, r, 0);
    r->primary = r->spans[1].svc;
    for (unsigned tries = 0; r->nspans < want && tries < 32; tries++) {
        add_span(g, r, rng_below(R, r->nspans));
    }
}

static int req_alloc(struct clew_gen *g, uint32_t *out)
{
    if (g->free_head == NONE) {
        uint32_t n = g->nreqs ? g->nreqs * 2 : 64;
        struct greq *q = clew_realloc(g->reqs, n * sizeof(*q));
        if (q == NULL) {
            return -ENOMEM;
        }
        for (uint32_t i = g->nreqs; i < n; i++) {
            q[i].pending = 0;
            q[i].next_free = i + 1 < n ? i + 1 : NONE;
        }
        g->reqs = q;
        g->free_head = g->nreqs;
        g->nreqs = n;
    }
    *out = g->free_head;
    g->free_head = g->reqs[*out].next_free;
    return 0;
}

static int start_request(struct clew_gen *g, int64_t t0)
{
    struct rng *R = &g->rng;
    uint32_t ri;
    int rc = heap_reserve(g, MAX_EV_PER_REQ);
    if (rc || (rc = req_alloc(g, &ri)) != 0) {
        return rc;
    }
    struct greq *r = &g->reqs[ri];
    rand_hex(R, r->trace, 32);
    r->num = ++g->nreq;
    r->method = (uint8_t)(rng_below(R, 10) < 7 ? 0 : 1 + rng_below(R, 3));
    r->oid = (uint32_t)rng_range(R, 1000, 9999999);
    r->uid = rng_below(R, 1 + rng_below(R, 50000));
    r->ip = (uint32_t)rng_next(R);
    r->records = r->errors = 0;
    r->rid_len = 0;
    plan_tree(g, r);
    for (unsigned i = 1; i < r->nspans && r->rid_len == 0; i++) {
        uint8_t sc = svc_defs[r->spans[i].svc].scheme;
        if (sc == SC_JSON_REQID || sc == SC_REQID_TEXT) {
            r->rid_len = rng_below(R, 10) < 6 ? 36 : 32;
        }
    }
    if (r->rid_len == 36) {
        rand_uuid(R, r->rid);
    } else if (r->rid_len == 32) {
        rand_hex(R, r->rid, 32);
    }
    uint64_t seq0 = g->seq;
    plan_span(g, ri, 0, t0);
    double n = (double)(g->seq - seq0);
    for (unsigned i = 1; i < r->nspans; i++) {
        n += r->spans[i].failed && svc_defs[r->spans[i].svc].java ? 17.0 : 0.0;
    }
    g->avg_req_records = 0.99 * g->avg_req_records + 0.01 * n;
    return 0;
}

/* --------------------------------------------------------------- truth */

static void truth_time(struct outbuf *b, const char *key, const struct gspan *s, int64_t ns)
{
    char t[40];
    int n = s->records ? clew_time_format(ns, 9, t, sizeof(t)) : 0;
    ob_str(b, key);
    ob_put(b, t, n > 0 ? (size_t)n : 0);
    ob_ch(b, '"');
}

static int write_truth(struct clew_gen *g, const struct greq *r)
{
    if (g->o.truth == NULL) {
        return 0;
    }
    struct outbuf b = { g->tline, 0, sizeof(g->tline) };
    ob_str(&b, "{\"trace_id\":\"");
    ob_put(&b, r->trace, 32);
    ob_str(&b, "\",\"ids\":[\"");
    ob_put(&b, r->trace, 32);
    if (r->rid_len) {
        ob_str(&b, "\",\"");
        ob_put(&b, r->rid, r->rid_len);
    }
    ob_str(&b, "\"],\"records\":");
    ob_u64(&b, r->records);
    ob_str(&b, ",\"errors\":");
    ob_u64(&b, r->errors);
    ob_str(&b, ",\"spans\":[");
    for (unsigned i = 0; i < r->nspans; i++) {
        const struct gspan *s = &r->spans[i];
        ob_str(&b, i ? ",{\"span_id\":\"" : "{\"span_id\":\"");
        ob_put(&b, s->id, 16);
        ob_str(&b, "\",\"parent_span_id\":\"");
        ob_put(&b, s->parent >= 0 ? r->spans[s->parent].id : "", s->parent >= 0 ? 16 : 0);
        ob_str(&b, "\",\"service\":\"");
        ob_str(&b, svc_defs[s->svc].name);
        ob_str(&b, "\",\"records\":");
        ob_u64(&b, s->records);
        ob_str(&b, ",\"errors\":");
        ob_u64(&b, s->errors);
        truth_time(&b, ",\"start\":\"", s, s->first);
        truth_time(&b, ",\"end\":\"", s, s->last);
        ob_ch(&b, '}');
    }
    ob_str(&b, "]}\n");
    return fwrite(b.p, 1, b.n, g->o.truth) == b.n ? 0 : -EIO;
}

static int req_release(struct clew_gen *g, uint32_t ri)
{
    struct greq *r = &g->reqs[ri];
    if (--r->pending > 0) {
        return 0;
    }
    r->next_free = g->free_head;
    g->free_head = ri;
    return write_truth(g, r);
}

/* End of the corpus: the truth of every request still open, slot order. */
static int finish(struct clew_gen *g)
{
    int rc = 0;
    g->finished = 1;
    for (uint32_t i = 0; i < g->nreqs && rc == 0; i++) {
        if (g->reqs[i].pending > 0) {
            g->reqs[i].pending = 0;
            rc = write_truth(g, &g->reqs[i]);
        }
    }
    if (rc == 0 && g->o.truth != NULL && fflush(g->o.truth) != 0) {
        rc = -EIO;
    }
    return rc;
}

/* ----------------------------------------------------------- schedule */

/* The share of records the background should supply now: the target
 * corrected by how far the id-less share so far is from it. */
static double bg_share(const struct clew_gen *g)
{
    double target = g->o.no_id_fraction;
    if (g->emitted >= 200) {
        target += 8.0 * (target - (double)g->noid / (double)g->emitted);
    }
    return target < 0.002 ? 0.002 : target > 0.95 ? 0.95 : target;
}

static double exp_draw(struct rng *r)
{
    return -log(1.0 - rng_unit(r));
}

static void schedule_request(struct clew_gen *g)
{
    double mean = g->avg_req_records * 1e9 / ((double)g->o.rate * (1.0 - bg_share(g)));
    g->next_req_ts += 1 + (int64_t)(mean * exp_draw(&g->rng));
}

static void schedule_background(struct clew_gen *g)
{
    double mean = 1e9 / ((double)g->o.rate * bg_share(g));
    g->next_bg_ts += 1 + (int64_t)(mean * exp_draw(&g->rng));
}

int clew_gen_next(struct clew_gen *g, struct clew_record *out)
{
    if (g->finished) {
        return 0;
    }
    if (g->emitted >= g->o.records) {
        int rc = finish(g);
        return rc < 0 ? rc : 0;
    }
    if (g->grp.active) {
        int rc = emit_stack_line(g, out);
        return rc < 0 ? rc : 1;
    }
    for (;;) {
        int64_t th = g->nheap > 0 ? g->heap[0].ts : INT64_MAX;
        if (g->next_req_ts < th && g->next_req_ts <= g->next_bg_ts) {
            int rc = start_request(g, g->next_req_ts);
            if (rc < 0) {
                return rc;
            }
            schedule_request(g);
            continue;
        }
        if (g->next_bg_ts < th) {
            emit_background(g, out);
            schedule_background(g);
            return 1;
        }
        struct ev e = pop_ev(g);
        if (e.req == NONE) {
            emit_startup(g, &e, out);
            return 1;
        }
        int rc = emit_req_event(g, &e, out);
        return rc < 0 ? rc : 1;
    }
}

void clew_gen_record_truth(const struct clew_gen *g, struct clew_gen_truth *out)
{
    *out = g->truth;
}

/* ---------------------------------------------------------- lifecycle */

void clew_gen_opts_default(struct clew_gen_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->records = 1000;
    o->start_ns = 1795899420LL * CLEW_NS_PER_SEC; /* 2026-11-28T20:57:00Z */
    o->rate = 2000;
    o->services = 10;
    o->no_id_fraction = 0.2;
    o->error_rate = 0.02;
    o->noise = 0.5;
}

static int check_opts(const struct clew_gen_opts *o, char *err)
{
    const char *bad = NULL;
    if (o->services < CLEW_GEN_MIN_SERVICES || o->services > CLEW_GEN_MAX_SERVICES) {
        bad = "services must be 8..12";
    } else if (o->rate == 0) {
        bad = "rate must be > 0";
    } else if (!(o->no_id_fraction >= 0.0 && o->no_id_fraction <= 0.9)) {
        bad = "no_id_fraction must be 0..0.9";
    } else if (!(o->error_rate >= 0.0 && o->error_rate <= 0.5)) {
        bad = "error_rate must be 0..0.5";
    } else if (!(o->noise >= 0.0 && o->noise <= 1.0)) {
        bad = "noise must be 0..1";
    }
    if (bad != NULL) {
        snprintf(err, CLEW_ERR_LEN, "%s", bad);
        return CLEW_EBADARG;
    }
    return 0;
}

/* Services, their callees (among those present), containers and hosts. */
static void setup_system(struct clew_gen *g)
{
    struct rng *R = &g->rng;
    for (unsigned h = 0; h < N_HOSTS; h++) {
        snprintf(g->hosts[h], sizeof(g->hosts[h]), "ip-10-0-%u-%u", 1 + h, 10 + rng_below(R, 240));
    }
    for (unsigned s = 0; s < g->nsvc; s++) {
        struct svc_rt *rt = &g->svc[s];
        rt->def = &svc_defs[s];
        rt->sys[0] = rt->sys[1] = -1;
        for (unsigned c = 0; c < g->nsvc; c++) {
            const char *p = strstr(rt->def->callees, svc_defs[c].name);
            size_t n = strlen(svc_defs[c].name);
            if (p != NULL && (p[n] == ' ' || p[n] == '\0')) {
                rt->callees[rt->ncallees++] = (uint8_t)c;
            }
        }
        rt->cont0 = (uint8_t)g->ncont;
        rt->ncont = rt->def->replicas;
        for (unsigned k = 0; k < rt->ncont; k++) {
            struct container *c = &g->cont[g->ncont];
            rand_hex(R, c->id, 64);
            snprintf(c->name, sizeof(c->name), "/%s-%u", rt->def->name, k + 1);
            c->host = (uint8_t)((g->ncont * 3 + k) % N_HOSTS);
            c->svc = (uint8_t)s;
            c->name_len = (uint8_t)strlen(c->name);
            c->svc_len = (uint8_t)strlen(rt->def->name);
            c->host_len = (uint8_t)strlen(g->hosts[c->host]);
            g->ncont++;
        }
    }
}

/* Every container prints its start-up lines first. */
static int push_startup(struct clew_gen *g)
{
    int rc = heap_reserve(g, g->ncont * 8);
    int64_t t = g->o.start_ns;
    for (unsigned c = 0; c < g->ncont && rc == 0; c++) {
        unsigned n = svc_defs[g->cont[c].svc].java ? 5 : 4;
        int64_t tc = t;
        for (unsigned i = 0; i < n; i++) {
            push_ev(g, tc, NONE, c, EV_STARTUP, i);
            tc += rng_range(&g->rng, 100000, 30000000);
        }
        t += rng_range(&g->rng, 1000000, 20000000);
    }
    return rc;
}

int clew_gen_new(const struct clew_gen_opts *o, struct clew_gen **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    int rc = check_opts(o, err);
    if (rc) {
        return rc;
    }
    struct clew_gen *g = clew_calloc(1, sizeof(*g));
    if (g == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    g->o = *o;
    g->nsvc = o->services;
    g->free_head = NONE;
    g->noise24 = (uint32_t)(o->noise * (double)(1u << 24));
    g->m = (struct outbuf){ g->msg, 0, MSG_CAP };
    g->f = (struct outbuf){ g->fields, 0, FIELDS_CAP };
    g->avg_req_records = 30.0;
    rng_seed(&g->rng, o->seed);
    setup_system(g);
    if ((rc = load_templates(g, err)) != 0) {
        goto fail;
    }
    if ((rc = push_startup(g)) != 0) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        goto fail;
    }
    g->next_req_ts = o->start_ns + 20000000;
    g->next_bg_ts = o->start_ns + 30000000;
    *out = g;
    return 0;
fail:
    clew_gen_free(g);
    return rc;
}

void clew_gen_free(struct clew_gen *g)
{
    if (g == NULL) {
        return;
    }
    clew_free(g->tpool);
    clew_free(g->tmpl);
    clew_free(g->reqs);
    clew_free(g->heap);
    clew_free(g);
}
