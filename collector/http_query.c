/* SPDX-License-Identifier: MIT */
#include "collector/http_query.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "collector/tail.h"
#include "common/alloc.h"
#include "common/arena.h"
#include "common/json_out.h"
#include "common/seg_format.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/engine.h"
#include "query/matcher.h"
#include "query/reader.h"
#include "query/trace.h"

#define STREAM_CAP        (256u << 10) /* bytes a query may run ahead of its client */
#define BLOCK_SIZE        (64u << 10)  /* bytes per content reader call          */
#define TAIL_WAIT_NS      (250 * 1000000LL)
#define HEARTBEAT_S       15 /* an empty line after this long without output */
#define TAIL_HEARTBEAT_NS (HEARTBEAT_S * CLEW_NS_PER_SEC)
#define TRACE_WINDOW_NS   (-1) /* off, as `clew trace`: links are indexed */
#define NDJSON            "application/x-ndjson"

/* ------------------------------------------------------------ parameters */

enum {
    P_Q = 1u << 0,
    P_I = 1u << 1,
    P_V = 1u << 2,
    P_F = 1u << 3,
    P_M = 1u << 4,
    P_SINCE = 1u << 5,
    P_UNTIL = 1u << 6,
    P_SERVICE = 1u << 7,
    P_HOST = 1u << 8,
    P_CONTAINER = 1u << 9,
    P_LEVEL = 1u << 10,
    P_TRACE = 1u << 11,
    P_REVERSE = 1u << 12,
    P_COUNT = 1u << 13,
    P_RAW = 1u << 14,
    P_WINDOW = 1u << 15,
    P_FORMAT = 1u << 16,
    P_WIDTH = 1u << 17,
    P_SPANS = 1u << 18,
    P_TIMEOUT = 1u << 19,
};

#define TAIL_PARAMS                                                                                \
    (P_Q | P_I | P_V | P_F | P_M | P_SERVICE | P_HOST | P_CONTAINER | P_LEVEL | P_TRACE | P_RAW)
#define SEARCH_PARAMS (TAIL_PARAMS | P_SINCE | P_UNTIL | P_REVERSE | P_COUNT | P_TIMEOUT)
#define TRACE_PARAMS  (P_WINDOW | P_FORMAT | P_WIDTH | P_SPANS)

static const struct {
    const char *name;
    unsigned bit;
} param_names[] = {
    { "q", P_Q },
    { "i", P_I },
    { "v", P_V },
    { "F", P_F },
    { "m", P_M },
    { "since", P_SINCE },
    { "until", P_UNTIL },
    { "service", P_SERVICE },
    { "host", P_HOST },
    { "container", P_CONTAINER },
    { "level", P_LEVEL },
    { "trace", P_TRACE },
    { "reverse", P_REVERSE },
    { "count", P_COUNT },
    { "raw", P_RAW },
    { "link_window", P_WINDOW },
    { "format", P_FORMAT },
    { "width", P_WIDTH },
    { "spans_only", P_SPANS },
    { "timeout", P_TIMEOUT },
};

/* What a request asked for; strings are copies in arena. */
struct params {
    unsigned allowed;
    int64_t now;
    struct clew_arena *arena;
    const char *pattern;
    int icase, invert, fixed, reverse, count, raw, spans_only, text;
    int level_max;
    int64_t max_count;
    int64_t link_window;
    int64_t timeout;
    unsigned width;
    struct clew_filter f;
    char err[CLEW_ERR_LEN];
};

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = { "", "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_count(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0) {
        return -1;
    }
    *out = n;
    return 0;
}

static int set_string(struct params *p, unsigned bit, const char *v)
{
    size_t len = strlen(v);
    char *copy = clew_arena_dup(p->arena, v, len);
    if (copy == NULL) {
        snprintf(p->err, CLEW_ERR_LEN, "out of memory");
        return -1;
    }
    struct clew_str s = { copy, len };
    enum clew_label l = bit == P_SERVICE ? CLEW_LABEL_SERVICE
                        : bit == P_HOST  ? CLEW_LABEL_HOST
                                         : CLEW_LABEL_CONTAINER_NAME;
    if (bit == P_Q) {
        p->pattern = copy;
    } else if (bit == P_TRACE) {
        p->f.trace_id = s;
    } else {
        p->f.labels[l] = s;
        p->f.label_mask |= 1u << l;
    }
    return 0;
}

static int set_time_or_number(struct params *p, unsigned bit, const char *v)
{
    int64_t n;
    switch (bit) {
    case P_SINCE:
    case P_UNTIL:
        if (clew_cli_parse_time(v, p->now, bit == P_SINCE ? &p->f.since : &p->f.until) < 0) {
            snprintf(p->err, CLEW_ERR_LEN, "bad time '%s' (want 15m, 2h, 1d, now or RFC 3339)", v);
            return -1;
        }
        return 0;
    case P_M:
        if (parse_count(v, &p->max_count) < 0) {
            snprintf(p->err, CLEW_ERR_LEN, "m: want a number, not '%s'", v);
            return -1;
        }
        return 0;
    case P_LEVEL:
        if ((p->level_max = clew_level_parse(v, strlen(v))) < 0) {
            snprintf(p->err, CLEW_ERR_LEN, "bad level '%s'", v);
            return -1;
        }
        return 0;
    case P_WIDTH:
        if (parse_count(v, &n) < 0 || n > 10000) {
            snprintf(p->err, CLEW_ERR_LEN, "width: want a number, not '%s'", v);
            return -1;
        }
        p->width = (unsigned)n;
        return 0;
    case P_TIMEOUT:
        if (clew_duration_parse(v, &p->timeout) < 0 || p->timeout <= 0) {
            snprintf(p->err, CLEW_ERR_LEN, "bad timeout '%s' (want 30s, 5m, ...)", v);
            return -1;
        }
        return 0;
    default: /* P_WINDOW */
        if (strcmp(v, "off") == 0) {
            p->link_window = -1;
        } else if (clew_duration_parse(v, &p->link_window) < 0 || p->link_window < 0) {
            snprintf(p->err, CLEW_ERR_LEN, "bad link_window '%s' (want 5s, 1m or off)", v);
            return -1;
        }
        return 0;
    }
}

static int set_flag(struct params *p, unsigned bit, const char *name, const char *v)
{
    int b;
    if (parse_bool(v, &b) < 0) {
        snprintf(p->err, CLEW_ERR_LEN, "%s: want 1 or 0, not '%s'", name, v);
        return -1;
    }
    int *dst = bit == P_I         ? &p->icase
               : bit == P_V       ? &p->invert
               : bit == P_F       ? &p->fixed
               : bit == P_REVERSE ? &p->reverse
               : bit == P_COUNT   ? &p->count
               : bit == P_RAW     ? &p->raw
                                  : &p->spans_only;
    *dst = b;
    return 0;
}

static int set_param(struct params *p, const char *key, const char *v)
{
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof(param_names) / sizeof(param_names[0]); i++) {
        if (strcmp(key, param_names[i].name) == 0) {
            bit = param_names[i].bit;
        }
    }
    if ((bit & p->allowed) == 0) {
        snprintf(p->err, CLEW_ERR_LEN, "unknown parameter '%s'", key);
        return -1;
    }
    if (bit & (P_Q | P_TRACE | P_SERVICE | P_HOST | P_CONTAINER)) {
        if (bit == P_TRACE && strlen(v) > CLEW_TRACE_ID_MAX) {
            snprintf(p->err, CLEW_ERR_LEN, "trace: an id is 1-%d bytes", CLEW_TRACE_ID_MAX);
            return -1;
        }
        return set_string(p, bit, v);
    }
    if (bit & (P_SINCE | P_UNTIL | P_M | P_LEVEL | P_WIDTH | P_WINDOW | P_TIMEOUT)) {
        return set_time_or_number(p, bit, v);
    }
    if (bit == P_FORMAT) {
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
            snprintf(p->err, CLEW_ERR_LEN, "format: want json or text, not '%s'", v);
            return -1;
        }
        p->text = v[0] == 't';
        return 0;
    }
    return set_flag(p, bit, key, v);
}

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    (void)kind;
    return set_param(cls, key, value ? value : "") == 0 ? MHD_YES : MHD_NO;
}

/* Reads the query string of c into p. Returns 0, or -1 with p->err set. */
static int parse_params(struct MHD_Connection *c, unsigned allowed, struct clew_arena *arena,
                        struct params *p)
{
    memset(p, 0, sizeof(*p));
    p->allowed = allowed;
    p->arena = arena;
    p->now = clew_time_now_ns();
    p->pattern = "";
    p->level_max = -1;
    p->max_count = -1;
    p->link_window = TRACE_WINDOW_NS;
    p->width = 100;
    clew_filter_init(&p->f);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, p);
    return p->err[0] ? -1 : 0;
}

/* ------------------------------------------------------------ records */

static int utf8_valid(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n = c < 0x80                 ? 1
                   : c >= 0xc2 && c <= 0xdf ? 2
                   : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
        if (n == 0 || n > len - i) {
            return 0;
        }
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        /* Overlong 3/4-byte forms, surrogates and values past U+10FFFF. */
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
            (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f)) {
            return 0;
        }
        i += n;
    }
    return 1;
}

static int put_hex(struct clew_buf *b, struct clew_str s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = clew_buf_reserve(b, s.len * 2 + 2);
    rc = rc ? rc : clew_buf_put_u8(b, '"');
    for (size_t i = 0; rc == 0 && i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        char two[2] = { hex[c >> 4], hex[c & 15] };
        rc = clew_buf_append(b, two, 2);
    }
    return rc ? rc : clew_buf_put_u8(b, '"');
}

int clew_http_query_put_record(struct clew_buf *b, const struct clew_record *r, int raw)
{
    static const char *const keys[] = { "host",           "service", "container_id",
                                        "container_name", "stream",  "message",
                                        "trace_id",       "span_id", "parent_span_id" };
    const struct clew_str strs[] = { r->labels[0], r->labels[1], r->labels[2],
                                     r->labels[3], r->labels[4], r->message,
                                     r->trace_id,  r->span_id,   r->parent_span_id };
    int rc = clew_json_put_record(b, r);
    size_t n = 0;
    for (size_t i = 0; raw && rc == 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (utf8_valid((const unsigned char *)strs[i].ptr, strs[i].len)) {
            continue;
        }
        if (n++ == 0) {
            b->len--; /* reopen the object: "raw" is its last member */
            rc = clew_buf_append(b, ",\"raw\":{", 8);
        } else {
            rc = clew_buf_put_u8(b, ',');
        }
        rc = rc ? rc : clew_json_put_str(b, keys[i], strlen(keys[i]));
        rc = rc ? rc : clew_buf_put_u8(b, ':');
        rc = rc ? rc : put_hex(b, strs[i]);
    }
    if (rc == 0 && n > 0) {
        rc = clew_buf_append(b, "}}", 2);
    }
    return rc ? rc : clew_buf_put_u8(b, '\n');
}

/* ------------------------------------------------------------ responses */

static int add_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return 0;
}

static int queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (r == NULL) {
        return MHD_NO;
    }
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static int unavailable(struct MHD_Connection *c, const char *what)
{
    char msg[80];
    snprintf(msg, sizeof(msg), "this clewd serves no %s", what);
    return clew_http_reply_error(c, 503, msg);
}

/* ------------------------------------------------------------ /api/v1/query */

/* A query in flight: the producer thread runs it and appends lines to out;
 * the connection thread drains out. */
struct search {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct clew_buf out; /* produced, not yet sent: [off, len) */
    size_t off;
    int done, cancel; /* lock */
    pthread_t th;
    struct params p;
    struct clew_arena arena; /* the parameters' strings */
    char *data_dir;
    struct clew_query *q;
    uint64_t matched;       /* producer only */
    struct clew_buf line;   /* producer only */
    char err[CLEW_ERR_LEN]; /* producer only */
};

static void search_free(struct search *s)
{
    if (s == NULL) {
        return;
    }
    clew_query_free(s->q);
    clew_buf_close(&s->out);
    clew_buf_close(&s->line);
    clew_arena_close(&s->arena);
    clew_free(s->data_dir);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    clew_free(s);
}

/* Hands s->line to the connection, waiting while the client is behind.
 * Returns 0, or 1 when the client left. */
static int put_line(struct search *s)
{
    pthread_mutex_lock(&s->lock);
    while (!s->cancel && s->out.len - s->off >= STREAM_CAP) {
        pthread_cond_wait(&s->cond, &s->lock);
    }
    int rc = s->cancel;
    if (!rc && s->off > 0) {
        memmove(s->out.data, s->out.data + s->off, s->out.len - s->off);
        s->out.len -= s->off;
        s->off = 0;
    }
    if (!rc && clew_buf_append(&s->out, s->line.data, s->line.len) < 0) {
        rc = -ENOMEM;
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    clew_buf_reset(&s->line);
    return rc;
}

static int put_message(struct search *s, const char *key, const char *msg)
{
    clew_buf_reset(&s->line);
    int rc = clew_buf_append(&s->line, key, strlen(key));
    rc = rc ? rc : clew_json_put_str(&s->line, msg, strlen(msg));
    rc = rc ? rc : clew_buf_append(&s->line, "}\n", 2);
    return rc ? rc : put_line(s);
}

static void on_damage(void *ud, const char *msg)
{
    put_message(ud, "{\"warning\":", msg);
}

/* A match: send it. */
static int search_emit(void *ud, const struct clew_record *r)
{
    struct search *s = ud;
    s->matched++;
    int rc = clew_http_query_put_record(&s->line, r, s->p.raw);
    return rc ? rc : put_line(s);
}

/* Runs the query; the records go out through search_emit. */
static int run_search(struct search *s)
{
    if (s->p.max_count == 0) {
        return 0; /* -m 0 reads nothing, as grep */
    }
    struct clew_query_stats st;
    memset(&st, 0, sizeof(st));
    int rc = clew_query_run(s->q, s->data_dir, search_emit, on_damage, s, &st, s->err);
    s->matched = st.matched;
    return rc;
}

static void *search_main(void *arg)
{
    struct search *s = arg;
    int rc = run_search(s);
    if (rc >= 0) {
        char done[64];
        snprintf(done, sizeof(done), "{\"done\":true,\"matched\":%" PRIu64 "}\n", s->matched);
        clew_buf_reset(&s->line);
        if (clew_buf_append(&s->line, done, strlen(done)) == 0) {
            put_line(s);
        }
    } else {
        put_message(s, "{\"error\":", s->err[0] ? s->err : clew_strerror(rc));
    }
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static ssize_t search_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct search *s = cls;
    (void)pos;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += HEARTBEAT_S;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (s->out.len == s->off && !s->done && rc == 0) {
        rc = pthread_cond_timedwait(&s->cond, &s->lock, &until);
    }
    if (s->out.len == s->off && !s->done) {
        pthread_mutex_unlock(&s->lock);
        buf[0] = '\n'; /* a long scan without matches: keep the connection busy */
        return 1;
    }
    size_t n = s->out.len - s->off;
    n = n < max ? n : max;
    memcpy(buf, s->out.data + s->off, n);
    s->off += n;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

/* The response is done with (sent, or the client left): stop and free. */
static void search_end(void *cls)
{
    struct search *s = cls;
    pthread_mutex_lock(&s->lock);
    s->cancel = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->q != NULL) {
        clew_query_cancel(s->q); /* a scan with no match left would run on */
    }
    pthread_join(s->th, NULL);
    search_free(s);
}

static struct search *search_new(void)
{
    struct search *s = clew_calloc(1, sizeof(*s));
    if (s != NULL) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
        clew_buf_init(&s->out);
        clew_buf_init(&s->line);
        clew_arena_init(&s->arena, 1024);
    }
    return s;
}

/* Compiles the query of s->p. Returns 0 or -1 with s->err set. */
static int search_compile(struct search *s, const char *data_dir)
{
    struct clew_query_spec spec;
    clew_query_spec_init(&spec);
    spec.filter = s->p.f;
    spec.filter.cols = CLEW_COL_ALL;
    spec.pattern = s->p.pattern;
    spec.icase = s->p.icase;
    spec.invert = s->p.invert;
    spec.fixed = s->p.fixed;
    spec.level_max = s->p.level_max;
    spec.max_count = s->p.max_count;
    spec.reverse = s->p.reverse;
    spec.count_only = s->p.count;
    spec.time_limit_ns = s->p.timeout;
    if (clew_query_new(&spec, &s->q, s->err) < 0) {
        return -1;
    }
    if ((s->data_dir = clew_strdup(data_dir)) == NULL) {
        snprintf(s->err, CLEW_ERR_LEN, "out of memory");
        return -1;
    }
    return 0;
}

int clew_http_query_search(const struct clew_http_env *env, struct MHD_Connection *c)
{
    if (env->data_dir == NULL) {
        return unavailable(c, "data directory");
    }
    struct search *s = search_new();
    if (s == NULL) {
        return clew_http_reply_error(c, 500, "out of memory");
    }
    if (parse_params(c, SEARCH_PARAMS, &s->arena, &s->p) < 0 ||
        search_compile(s, env->data_dir) < 0) {
        int rc = clew_http_reply_error(c, 400, s->p.err[0] ? s->p.err : s->err);
        search_free(s);
        return rc;
    }
    if (pthread_create(&s->th, NULL, search_main, s) != 0) {
        search_free(s);
        return clew_http_reply_error(c, 503, "cannot start a query thread");
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE, search_read, s, search_end);
    if (r == NULL) {
        search_end(s);
        return MHD_NO;
    }
    add_headers(r, NDJSON);
    return queue(c, 200, r);
}

/* ------------------------------------------------------------ /api/v1/trace */

static int trace_reply(struct MHD_Connection *c, const struct clew_trace *t,
                       const struct clew_trace_lookup_stats *st, const struct params *p)
{
    struct clew_buf b;
    clew_buf_init(&b);
    struct clew_trace_text_opts to = { p->width, p->spans_only };
    int rc = p->text ? clew_trace_render_text(t, &to, &b) : clew_trace_render_json(t, &b);
    rc = rc ? rc : (p->text ? 0 : clew_buf_put_u8(&b, '\n'));
    struct MHD_Response *r =
        rc ? NULL : MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    clew_buf_close(&b);
    if (r == NULL) {
        return clew_http_reply_error(c, 500, "out of memory");
    }
    char n[32];
    add_headers(r, p->text ? "text/plain; charset=utf-8" : "application/json");
    snprintf(n, sizeof(n), "%zu", t->nrecords);
    MHD_add_response_header(r, "X-Clew-Records", n);
    snprintf(n, sizeof(n), "%zu", st->ids);
    MHD_add_response_header(r, "X-Clew-Ids", n);
    MHD_add_response_header(r, "X-Clew-Truncated", st->truncated ? "1" : "0");
    return queue(c, 200, r);
}

int clew_http_query_trace(const struct clew_http_env *env, struct MHD_Connection *c, const char *id)
{
    if (env->data_dir == NULL) {
        return unavailable(c, "data directory");
    }
    struct clew_arena arena;
    struct params p;
    clew_arena_init(&arena, 1024);
    int rc;
    if (parse_params(c, TRACE_PARAMS, &arena, &p) < 0) {
        rc = clew_http_reply_error(c, 400, p.err);
    } else if (id[0] == '\0' || strlen(id) > CLEW_TRACE_ID_MAX) {
        snprintf(p.err, CLEW_ERR_LEN, "want GET /api/v1/trace/ID with an id of 1-%d bytes",
                 CLEW_TRACE_ID_MAX);
        rc = clew_http_reply_error(c, 400, p.err);
    } else {
        struct clew_trace_lookup_opts o = { .data_dir = env->data_dir,
                                            .link_window_ns = p.link_window };
        struct clew_trace_lookup_stats st;
        struct clew_trace *t;
        rc = clew_trace_lookup(&o, id, strlen(id), &t, &st, p.err);
        rc = rc < 0 ? clew_http_reply_error(c, 500, p.err) : trace_reply(c, t, &st, &p);
        clew_trace_free(t);
    }
    clew_arena_close(&arena);
    return rc;
}

/* ------------------------------------------------------------ /api/v1/stats */

int clew_http_query_stats(const struct clew_http_env *env, struct MHD_Connection *c)
{
    if (env->data_dir == NULL) {
        return unavailable(c, "data directory");
    }
    struct clew_arena arena;
    struct params p;
    clew_arena_init(&arena, 256);
    int rc = parse_params(c, 0, &arena, &p);
    clew_arena_close(&arena);
    if (rc < 0) {
        return clew_http_reply_error(c, 400, p.err);
    }
    struct clew_buf b;
    clew_buf_init(&b);
    char err[CLEW_ERR_LEN];
    rc = clew_stats_json(env->data_dir, &b, err);
    rc = rc < 0 ? clew_http_reply_error(c, 500, err)
                : clew_http_reply(c, 200, "application/json", b.data, b.len);
    clew_buf_close(&b);
    return rc;
}

/* ------------------------------------------------------------ /api/v1/tail */

/* A follower. f and level_max are read by the loop thread (accept) and
 * never change while subscribed; the rest is the connection thread's. */
struct tail_req {
    struct clew_filter f;
    int level_max;
    struct params p;
    struct clew_arena arena;
    struct MHD_Connection *conn;
    struct clew_tail_sub *sub;
    struct clew_matcher *m;
    struct clew_match_ctx *mc;
    struct clew_buf out; /* to send: [off, len) */
    size_t off;
    int64_t sent, idle_ns;
    int ended;
};

static int tail_accept(void *ud, const struct clew_record *r)
{
    const struct tail_req *t = ud;
    return (t->level_max < 0 || r->level <= t->level_max) && clew_filter_match(&t->f, r);
}

static void tail_free(void *cls)
{
    struct tail_req *t = cls;
    if (t == NULL) {
        return;
    }
    clew_tail_unsubscribe(t->sub);
    clew_match_ctx_free(t->mc);
    clew_matcher_free(t->m);
    clew_buf_close(&t->out);
    clew_arena_close(&t->arena);
    clew_free(t);
}

/* 1 when the client closed its side of the connection. */
static int client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL) {
        return 1;
    }
    struct pollfd pfd = { ci->connect_fd, POLLIN, 0 };
    if (poll(&pfd, 1, 0) <= 0) {
        return 0;
    }
    char byte;
    return (pfd.revents & (POLLHUP | POLLERR)) ||
           recv(ci->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Adds what one record (and the drops before it) gives to t->out. */
static int tail_take(struct tail_req *t, const struct clew_record *r, uint64_t dropped)
{
    int rc = 0;
    if (dropped > 0) {
        char line[64];
        int n = snprintf(line, sizeof(line), "{\"dropped\":%" PRIu64 "}\n", dropped);
        rc = clew_buf_append(&t->out, line, (size_t)n);
    }
    char err[CLEW_ERR_LEN];
    int m = clew_match_one(t->mc, r->message.ptr, r->message.len, err);
    if (rc == 0 && (m > 0) != t->p.invert) {
        rc = clew_http_query_put_record(&t->out, r, t->p.raw);
        t->ended = t->p.max_count >= 0 && ++t->sent >= t->p.max_count;
    }
    return rc;
}

/* Waits for records and fills t->out. Returns 0, or -1 when the client left. */
static int tail_fill(struct tail_req *t)
{
    struct clew_record r;
    uint64_t dropped;
    int rc = clew_tail_next(t->sub, TAIL_WAIT_NS, &r, &dropped);
    while (rc == 1 && !t->ended) {
        t->idle_ns = 0;
        if (tail_take(t, &r, dropped) < 0) {
            t->ended = 1;
            break;
        }
        if (t->out.len - t->off >= BLOCK_SIZE) {
            return 0;
        }
        rc = clew_tail_next(t->sub, 0, &r, &dropped);
    }
    if (rc < 0) {
        t->ended = 1; /* clewd is stopping */
    }
    if (rc == 0 && t->out.len == t->off) {
        if (client_gone(t->conn)) {
            return -1;
        }
        if ((t->idle_ns += TAIL_WAIT_NS) >= TAIL_HEARTBEAT_NS) {
            t->idle_ns = 0;
            clew_buf_put_u8(&t->out, '\n'); /* proves the connection alive */
        }
    }
    return 0;
}

static ssize_t tail_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct tail_req *t = cls;
    (void)pos;
    while (t->out.len == t->off) {
        clew_buf_reset(&t->out);
        t->off = 0;
        if (t->ended) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (tail_fill(t) < 0) {
            return MHD_CONTENT_READER_END_OF_STREAM; /* the client left: nothing to report */
        }
    }
    size_t n = t->out.len - t->off;
    n = n < max ? n : max;
    memcpy(buf, t->out.data + t->off, n);
    t->off += n;
    return (ssize_t)n;
}

static int tail_setup(struct tail_req *t, struct clew_tail *hub, char err[CLEW_ERR_LEN])
{
    t->f = t->p.f;
    t->level_max = t->p.level_max;
    struct clew_matcher_opts mo = { t->p.pattern, t->p.icase, t->p.fixed, 0 };
    int rc = clew_matcher_new(&mo, &t->m, err);
    if (rc < 0) {
        return 400;
    }
    if ((rc = clew_match_ctx_new(t->m, &t->mc)) < 0 ||
        (rc = clew_tail_subscribe(hub, 0, 0, tail_accept, t, &t->sub)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s",
                 rc == CLEW_ECLOSED ? "clewd is stopping" : clew_strerror(rc));
        return 503;
    }
    return 0;
}

int clew_http_query_tail(const struct clew_http_env *env, struct MHD_Connection *c)
{
    if (env->tail == NULL) {
        return unavailable(c, "live tail");
    }
    struct tail_req *t = clew_calloc(1, sizeof(*t));
    if (t == NULL) {
        return clew_http_reply_error(c, 500, "out of memory");
    }
    clew_arena_init(&t->arena, 1024);
    clew_buf_init(&t->out);
    t->conn = c;
    char err[CLEW_ERR_LEN] = "";
    int status = parse_params(c, TAIL_PARAMS, &t->arena, &t->p) < 0 ? 400 : 0;
    status = status ? status : tail_setup(t, env->tail, err);
    if (status != 0) {
        int rc = clew_http_reply_error(c, (unsigned)status, t->p.err[0] ? t->p.err : err);
        tail_free(t);
        return rc;
    }
    t->ended = t->p.max_count == 0;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE, tail_read, t, tail_free);
    if (r == NULL) {
        tail_free(t);
        return MHD_NO;
    }
    add_headers(r, NDJSON);
    return queue(c, 200, r);
}
