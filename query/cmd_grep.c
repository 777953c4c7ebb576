/* SPDX-License-Identifier: MIT
 * clew grep: records whose message matches a pattern, with grep's flags and
 * exit codes, over a data directory, through the query engine
 * (query/engine.h): parallel, pruned, merged in time order. Matches are
 * highlighted on a terminal (--color), and a long query on a terminal
 * shows a progress line on stderr. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/json_out.h"
#include "common/seg_format.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/engine.h"
#include "query/http_client.h"
#include "query/matcher.h"

#define SGR_MATCH         "\033[01;31m\033[K"
#define SGR_TS            "\033[32m"
#define SGR_SERVICE       "\033[35m"
#define SGR_END           "\033[m\033[K"
#define PROGRESS_AFTER_NS (1000LL * 1000 * 1000)

/* The formatted second of the last timestamp printed: records come in time
 * order, so most share it with the previous one and only the fraction is
 * formatted (clew_time_format's snprintf was half the CPU of a large
 * output). */
struct ts_cache {
    int64_t sec;
    int valid;
    int len;       /* of head */
    char head[40]; /* "YYYY-MM-DDTHH:MM:SS" */
};

struct grep {
    int json, color, count_only;
    struct ts_cache tsc;
    struct clew_matcher *hl; /* for highlighting; NULL without colour */
    struct clew_match_ctx *hl_ctx;
    int progress_tty, progress_shown;
    int64_t started;
    struct clew_buf out;
};

static int put(struct clew_buf *b, const char *s, size_t n)
{
    return clew_buf_append(b, s, n);
}

static int put_str(struct clew_buf *b, const char *s)
{
    return clew_buf_append(b, s, strlen(s));
}

/* The message with its matches wrapped in SGR_MATCH .. SGR_END. */
static int put_highlighted(struct grep *g, struct clew_buf *b, struct clew_str m)
{
    char err[CLEW_ERR_LEN];
    size_t pos = 0, so, eo;
    int rc = 0;
    while (rc == 0 && pos <= m.len &&
           clew_match_span(g->hl_ctx, m.ptr, m.len, pos, &so, &eo, err) == 1) {
        if (eo == so) { /* an empty match: nothing to show, step over a byte */
            rc = so < m.len ? put(b, m.ptr + pos, so + 1 - pos) : put(b, m.ptr + pos, so - pos);
            pos = so + 1;
            continue;
        }
        rc = put(b, m.ptr + pos, so - pos);
        rc = rc ? rc : put_str(b, SGR_MATCH);
        rc = rc ? rc : put(b, m.ptr + so, eo - so);
        rc = rc ? rc : put_str(b, SGR_END);
        pos = eo;
    }
    return rc == 0 && pos < m.len ? put(b, m.ptr + pos, m.len - pos) : rc;
}

static int put_label(struct grep *g, struct clew_buf *b, struct clew_str s, const char *sgr)
{
    int rc = put_str(b, " ");
    if (rc == 0 && g->color && sgr != NULL) {
        rc = put_str(b, sgr);
    }
    rc = rc ? rc : put(b, s.len ? s.ptr : "-", s.len ? s.len : 1);
    if (rc == 0 && g->color && sgr != NULL) {
        rc = put_str(b, SGR_END);
    }
    return rc;
}

/* ts as clew_time_format(ts, 6, ...) writes it: "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
static int put_time(struct ts_cache *c, struct clew_buf *b, int64_t ts)
{
    if (ts < INT64_MIN + 1000000000) { /* sec * 10^9 below would overflow */
        char t[40];
        int n = clew_time_format(ts, 6, t, sizeof(t));
        return n < 0 ? CLEW_EBADARG : put(b, t, (size_t)n);
    }
    int64_t sec = ts / 1000000000, frac = ts % 1000000000;
    if (frac < 0) {
        sec--;
        frac += 1000000000;
    }
    if (!c->valid || sec != c->sec) {
        int n = clew_time_format(sec * 1000000000, 0, c->head, sizeof(c->head));
        if (n < 1) {
            return CLEW_EBADARG;
        }
        c->len = n - 1; /* without the Z */
        c->sec = sec;
        c->valid = 1;
    }
    char f[9];
    f[0] = '.';
    frac /= 1000; /* microseconds, truncated */
    for (int i = 6; i >= 1; i--) {
        f[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    f[7] = 'Z';
    int rc = put(b, c->head, (size_t)c->len);
    return rc ? rc : put(b, f, 8);
}

/* time service host level message [trace=ID] */
static int format_text(struct grep *g, struct clew_buf *b, const struct clew_record *r)
{
    int rc = g->color ? put_str(b, SGR_TS) : 0;
    rc = rc ? rc : put_time(&g->tsc, b, r->ts);
    rc = rc || !g->color ? rc : put_str(b, SGR_END);
    rc = rc ? rc : put_label(g, b, r->labels[CLEW_LABEL_SERVICE], SGR_SERVICE);
    rc = rc ? rc : put_label(g, b, r->labels[CLEW_LABEL_HOST], NULL);
    const char *lv = clew_level_name(r->level);
    rc = rc ? rc : put_label(g, b, (struct clew_str){ lv, strlen(lv) }, NULL);
    rc = rc ? rc : put_str(b, " ");
    if (rc == 0) {
        rc = g->hl_ctx != NULL ? put_highlighted(g, b, r->message)
                               : put(b, r->message.ptr, r->message.len);
    }
    if (rc == 0 && r->trace_id.len > 0) {
        rc = put(b, " trace=", 7);
        rc = rc ? rc : put(b, r->trace_id.ptr, r->trace_id.len);
    }
    return rc;
}

static void clear_progress(struct grep *g)
{
    if (g->progress_shown) {
        fputs("\r\033[K", stderr);
        g->progress_shown = 0;
    }
}

static int emit(void *ud, const struct clew_record *r)
{
    struct grep *g = ud;
    struct clew_buf *b = &g->out;
    clew_buf_reset(b);
    int rc = g->json ? clew_json_put_record(b, r) : format_text(g, b, r);
    rc = rc ? rc : clew_buf_put_u8(b, '\n');
    clear_progress(g);
    if (rc == 0 && fwrite(b->data, 1, b->len, stdout) != b->len) {
        rc = errno == EPIPE ? -EPIPE : -EIO; /* EPIPE: the reader left, as `| head` */
    }
    return rc;
}

static void on_damage(void *ud, const char *msg)
{
    clear_progress(ud);
    fprintf(stderr, "clew grep: %s (skipped)\n", msg);
}

static void on_progress(void *ud, const struct clew_query_stats *st, double done)
{
    struct grep *g = ud;
    if (!g->progress_tty || done >= 1.0) {
        clear_progress(g);
        return;
    }
    if (clew_time_mono_ns() - g->started < PROGRESS_AFTER_NS) {
        return;
    }
    char bytes[32];
    fprintf(stderr, "\r\033[Kclew grep: %3.0f%% of the time range, %s of messages, %llu matches",
            done * 100, clew_cli_bytes(st->raw_bytes_scanned, bytes, sizeof(bytes)),
            (unsigned long long)st->matched);
    g->progress_shown = 1;
    fflush(stderr);
}

enum {
    OPT_I = 1,
    OPT_V,
    OPT_C,
    OPT_F,
    OPT_M,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_SERVICE,
    OPT_HOST,
    OPT_CONTAINER,
    OPT_LEVEL,
    OPT_JSON,
    OPT_DATA,
    OPT_SERVER,
    OPT_TRACE,
    OPT_REVERSE,
    OPT_COLOR,
    OPT_TIMEOUT,
    OPT_TOKEN,
    OPT_HELP
};

static const struct clew_cli_opt grep_opts[] = {
    { "ignore-case", 'i', 0, OPT_I }, { "invert-match", 'v', 0, OPT_V },
    { "count", 'c', 0, OPT_C },       { "fixed-strings", 'F', 0, OPT_F },
    { "max-count", 'm', 1, OPT_M },   { "since", 0, 1, OPT_SINCE },
    { "until", 0, 1, OPT_UNTIL },     { "service", 0, 1, OPT_SERVICE },
    { "host", 0, 1, OPT_HOST },       { "container", 0, 1, OPT_CONTAINER },
    { "level", 0, 1, OPT_LEVEL },     { "json", 0, 0, OPT_JSON },
    { "data", 0, 1, OPT_DATA },       { "server", 0, 1, OPT_SERVER },
    { "trace", 0, 1, OPT_TRACE },     { "reverse", 0, 0, OPT_REVERSE },
    { "color", 0, 1, OPT_COLOR },     { "colour", 0, 1, OPT_COLOR },
    { "timeout", 0, 1, OPT_TIMEOUT }, { "token", 0, 1, OPT_TOKEN },
    { "help", 'h', 0, OPT_HELP },
};

static void grep_usage(void)
{
    printf("usage: clew grep [-i] [-v] [-c] [-F] [-m N] [--since T] [--until T]\n"
           "                 [--service S] [--host H] [--container C] [--level L]\n"
           "                 [--trace ID] [--json] [--reverse] [--color=auto|always|never]\n"
           "                 [--timeout D] [--data DIR | --server URL [--token T]] PATTERN\n"
           "PATTERN: PCRE2 (a literal with -F); '' matches every record.\n"
           "T: 15m, 2h, 1d (back from now), now, or RFC 3339. L: a level name or 0-7;\n"
           "records at that severity or worse match (error = 0-3). D: 30s, 5m, ...\n"
           "Output: oldest first (--reverse: newest first); the whole store unless\n"
           "--since/--until. Exit status: 0 a record matched, 1 none did, 2 error.\n");
}

static void set_label(struct clew_filter *f, enum clew_label l, const char *v)
{
    f->labels[l] = (struct clew_str){ v, strlen(v) };
    f->label_mask |= 1u << l;
}

/* Everything the command line says. */
struct grep_args {
    struct clew_query_spec spec;
    struct clew_cli_source src;
    const char *pattern;
    const char *color;
    const char *token; /* --token: clewd's bearer token (else $CLEW_TOKEN) */
};

static int parse_value(struct grep_args *ga, int id, const char *v, int64_t now)
{
    struct clew_query_spec *s = &ga->spec;
    char *end;
    switch (id) {
    case OPT_M:
        s->max_count = strtoll(v, &end, 10);
        if (*end != '\0' || end == v || s->max_count < 0) {
            fprintf(stderr, "clew grep: -m: want a number, not '%s'\n", v);
            return -1;
        }
        return 0;
    case OPT_SINCE:
    case OPT_UNTIL:
        if (clew_cli_parse_time(v, now, id == OPT_SINCE ? &s->filter.since : &s->filter.until) <
            0) {
            fprintf(stderr, "clew grep: bad time '%s' (want 15m, 2h, 1d, now or RFC 3339)\n", v);
            return -1;
        }
        return 0;
    case OPT_LEVEL:
        if ((s->level_max = clew_level_parse(v, strlen(v))) < 0) {
            fprintf(stderr, "clew grep: bad level '%s'\n", v);
            return -1;
        }
        return 0;
    case OPT_TIMEOUT:
        if (clew_duration_parse(v, &s->time_limit_ns) < 0 || s->time_limit_ns <= 0) {
            fprintf(stderr, "clew grep: bad timeout '%s' (want 30s, 5m, ...)\n", v);
            return -1;
        }
        return 0;
    case OPT_COLOR:
        if (strcmp(v, "auto") != 0 && strcmp(v, "always") != 0 && strcmp(v, "never") != 0) {
            fprintf(stderr, "clew grep: --color: want auto, always or never, not '%s'\n", v);
            return -1;
        }
        ga->color = v;
        return 0;
    default:
        return -1;
    }
}

static int parse_opt(struct grep_args *ga, int id, const char *v, int64_t now)
{
    struct clew_query_spec *s = &ga->spec;
    switch (id) {
    case 0:
        if (ga->pattern != NULL) {
            fprintf(stderr, "clew grep: one pattern only (got '%s' too)\n", v);
            return -1;
        }
        ga->pattern = v;
        return 0;
    case OPT_I:
        s->icase = 1;
        return 0;
    case OPT_V:
        s->invert = 1;
        return 0;
    case OPT_C:
        s->count_only = 1;
        return 0;
    case OPT_F:
        s->fixed = 1;
        return 0;
    case OPT_REVERSE:
        s->reverse = 1;
        return 0;
    case OPT_JSON:
        s->filter.cols = CLEW_COL_ALL;
        return 0;
    case OPT_DATA:
        ga->src.data = v;
        return 0;
    case OPT_SERVER:
        ga->src.server = v;
        return 0;
    case OPT_TOKEN:
        ga->token = v;
        return 0;
    case OPT_SERVICE:
        set_label(&s->filter, CLEW_LABEL_SERVICE, v);
        return 0;
    case OPT_HOST:
        set_label(&s->filter, CLEW_LABEL_HOST, v);
        return 0;
    case OPT_CONTAINER:
        set_label(&s->filter, CLEW_LABEL_CONTAINER_NAME, v);
        return 0;
    case OPT_TRACE:
        s->filter.trace_id = (struct clew_str){ v, strlen(v) };
        return 0;
    default:
        return parse_value(ga, id, v, now);
    }
}

/* Parses argv; returns 0 to run, 1 when --help was shown, -1 on error. */
static int parse_args(struct grep_args *ga, int argc, char **argv, int *json)
{
    struct clew_cli_args a = { argc, argv, 1, NULL, 0 };
    int64_t now = clew_time_now_ns();
    const char *v;
    int id;
    *json = 0;
    while ((id = clew_cli_next(&a, grep_opts, sizeof(grep_opts) / sizeof(grep_opts[0]), "clew grep",
                               &v)) != -1) {
        if (id == OPT_HELP) {
            grep_usage();
            return 1;
        }
        if (id < 0 || parse_opt(ga, id, v, now) < 0) {
            return -1;
        }
        *json |= id == OPT_JSON;
    }
    if (ga->pattern == NULL) {
        fprintf(stderr, "clew grep: no pattern (use '' to match every record)\n");
        return -1;
    }
    return 0;
}

static int want_color(const char *mode)
{
    if (strcmp(mode, "always") == 0) {
        return 1;
    }
    if (strcmp(mode, "never") == 0) {
        return 0;
    }
    const char *term = getenv("TERM");
    return isatty(STDOUT_FILENO) && (term == NULL || strcmp(term, "dumb") != 0);
}

/* The highlighter: the pattern again, for its match positions. */
static int setup_color(struct grep *g, const struct grep_args *ga)
{
    const struct clew_query_spec *s = &ga->spec;
    if (!g->color || g->json || s->invert || s->count_only || ga->pattern[0] == '\0') {
        return 0;
    }
    char err[CLEW_ERR_LEN];
    struct clew_matcher_opts mo = { ga->pattern, s->icase, s->fixed, s->match_limit };
    if (clew_matcher_new(&mo, &g->hl, err) < 0 || clew_match_ctx_new(g->hl, &g->hl_ctx) < 0) {
        return -1; /* the engine compiled it already: out of memory */
    }
    return 0;
}

static int finish(struct grep *g, const struct grep_args *ga, int rc,
                  const struct clew_query_stats *st, const char *err)
{
    clear_progress(g);
    if (ga->spec.count_only && rc != -EPIPE) {
        printf("%llu\n", (unsigned long long)st->matched);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        rc = errno == EPIPE ? -EPIPE : -EIO;
    }
    if (rc == -EPIPE) {
        return CLEW_EXIT_MATCH; /* like grep under `| head`: quiet, found */
    }
    if (rc < 0) {
        fprintf(stderr, "clew grep: %s\n", err[0] ? err : strerror(-rc));
        return CLEW_EXIT_ERROR;
    }
    return st->matched > 0 ? CLEW_EXIT_MATCH : CLEW_EXIT_NOMATCH;
}

/* ---- --server URL: the same query through clewd's GET /api/v1/query; the
 * records come back as JSON lines (with raw=1, invalid UTF-8 restored) and
 * are printed here as in --data mode; the last line says how many matched. */

struct remote {
    struct grep *g;
    struct clew_arena arena;
    int done;
    uint64_t matched;
    char err[CLEW_ERR_LEN];
};

static int remote_value(void *ud, const char *text, size_t len)
{
    struct remote *rm = ud;
    struct clew_http_line l;
    clew_arena_reset(&rm->arena);
    if (clew_http_line_decode(text, len, &rm->arena, &l) < 0) {
        snprintf(rm->err, sizeof(rm->err), "unexpected answer from clewd: %.80s", text);
        return CLEW_EFORMAT;
    }
    switch (l.type) {
    case CLEW_HTTP_LINE_RECORD:
        return emit(rm->g, &l.rec);
    case CLEW_HTTP_LINE_WARNING:
        on_damage(rm->g, l.msg);
        return 0;
    case CLEW_HTTP_LINE_DONE:
        rm->done = 1;
        rm->matched = l.n;
        return 0;
    case CLEW_HTTP_LINE_ERROR:
        snprintf(rm->err, sizeof(rm->err), "%s", l.msg);
        return CLEW_EBADARG;
    default:
        return 0;
    }
}

static int remote_num(struct clew_buf *url, const char *key, long long n)
{
    char v[32];
    snprintf(v, sizeof(v), "%lld", n);
    return clew_http_url_add(url, key, v);
}

static int remote_time(struct clew_buf *url, const char *key, int64_t t, int64_t none)
{
    char v[40];
    return t == none || clew_time_format(t, 9, v, sizeof(v)) < 0 ? 0
                                                                 : clew_http_url_add(url, key, v);
}

/* /api/v1/query with the query string of ga. */
static int remote_url(const struct grep_args *ga, struct clew_buf *url)
{
    const struct clew_query_spec *s = &ga->spec;
    const struct clew_filter *f = &s->filter;
    static const char *const label_keys[CLEW_LABEL_COUNT] = { [CLEW_LABEL_HOST] = "host",
                                                              [CLEW_LABEL_SERVICE] = "service",
                                                              [CLEW_LABEL_CONTAINER_NAME] =
                                                                  "container" };
    int rc = clew_buf_append(url, "/api/v1/query", 13);
    rc = rc ? rc : clew_http_url_add(url, "q", ga->pattern);
    rc = rc ? rc : clew_http_url_add(url, "raw", "1");
    const int flags[] = { s->icase, s->invert, s->fixed, s->reverse, s->count_only };
    const char *const flag_keys[] = { "i", "v", "F", "reverse", "count" };
    for (size_t i = 0; i < 5; i++) {
        rc = rc || !flags[i] ? rc : clew_http_url_add(url, flag_keys[i], "1");
    }
    rc = rc || s->max_count < 0 ? rc : remote_num(url, "m", s->max_count);
    rc = rc || s->level_max < 0 ? rc : remote_num(url, "level", s->level_max);
    rc = rc ? rc : remote_time(url, "since", f->since, INT64_MIN);
    rc = rc ? rc : remote_time(url, "until", f->until, INT64_MAX);
    for (int i = 0; i < CLEW_LABEL_COUNT; i++) {
        if (rc == 0 && (f->label_mask & (1u << i)) && label_keys[i] != NULL) {
            rc = clew_http_url_add(url, label_keys[i], f->labels[i].ptr); /* from argv */
        }
    }
    rc = rc || f->trace_id.len == 0 ? rc : clew_http_url_add(url, "trace", f->trace_id.ptr);
    if (rc == 0 && s->time_limit_ns > 0) {
        char v[32];
        snprintf(v, sizeof(v), "%lldns", (long long)s->time_limit_ns);
        rc = clew_http_url_add(url, "timeout", v);
    }
    return rc;
}

static int grep_remote(struct grep_args *ga, struct grep *g)
{
    struct remote rm = { .g = g };
    struct clew_buf url;
    clew_buf_init(&url);
    clew_buf_init(&g->out);
    clew_arena_init(&rm.arena, 16384);
    g->color = want_color(ga->color);
    if (setup_color(g, ga) < 0) {
        g->color = 0; /* a bad pattern: clewd says what is wrong with it */
    }
    int rc = remote_url(ga, &url);
    if (rc == 0) {
        struct clew_http_req req = { ga->src.server, (const char *)url.data, ga->token };
        rc = clew_http_get_stream(&req, remote_value, &rm, rm.err);
    } else {
        snprintf(rm.err, sizeof(rm.err), "out of memory");
    }
    if (rc == 0 && !rm.done) {
        snprintf(rm.err, sizeof(rm.err), "clewd at %s: the answer ended early", ga->src.server);
        rc = -EPROTO;
    }
    struct clew_query_stats st;
    memset(&st, 0, sizeof(st));
    st.matched = rm.matched;
    int code = finish(g, ga, rc, &st, rm.err);
    clew_arena_close(&rm.arena);
    clew_buf_close(&url);
    clew_buf_close(&g->out);
    clew_match_ctx_free(g->hl_ctx);
    clew_matcher_free(g->hl);
    return code;
}

int clew_cmd_grep(int argc, char **argv)
{
    struct grep_args ga = { .src = { NULL, NULL }, .color = "auto" };
    clew_query_spec_init(&ga.spec);
    ga.spec.filter.cols =
        CLEW_COL_TS | CLEW_COL_LABELS | CLEW_COL_META | CLEW_COL_MESSAGE | CLEW_COL_IDS;
    struct grep g = { 0 };
    int prc = parse_args(&ga, argc, argv, &g.json);
    if (prc != 0) {
        return prc > 0 ? 0 : CLEW_EXIT_ERROR;
    }
    clew_cli_source_resolve(&ga.src);
    if (ga.src.data == NULL) {
        return grep_remote(&ga, &g);
    }
    if (access(ga.src.data, R_OK) < 0) {
        fprintf(stderr, "clew grep: %s: %s\n", ga.src.data, strerror(errno));
        return CLEW_EXIT_ERROR;
    }
    char err[CLEW_ERR_LEN];
    struct clew_query *q;
    ga.spec.pattern = ga.pattern;
    ga.spec.progress = on_progress;
    if (clew_query_new(&ga.spec, &q, err) < 0) {
        fprintf(stderr, "clew grep: %s\n", err);
        return CLEW_EXIT_ERROR;
    }
    g.color = want_color(ga.color);
    g.progress_tty = isatty(STDERR_FILENO);
    g.started = clew_time_mono_ns();
    clew_buf_init(&g.out);
    struct clew_query_stats st;
    memset(&st, 0, sizeof(st));
    int rc = setup_color(&g, &ga) < 0 ? -ENOMEM : 0;
    if (rc == 0) {
        rc = clew_query_run(q, ga.src.data, emit, on_damage, &g, &st, err);
    } else {
        snprintf(err, sizeof(err), "out of memory");
    }
    int code = finish(&g, &ga, rc, &st, err);
    clew_buf_close(&g.out);
    clew_match_ctx_free(g.hl_ctx);
    clew_matcher_free(g.hl);
    clew_query_free(q);
    return code;
}
