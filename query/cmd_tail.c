/* SPDX-License-Identifier: MIT
 * clew tail: follows a running collector (GET /api/v1/tail): prints the
 * records clewd receives from now on that match the filters and pattern,
 * as clew grep prints them, until interrupted, -m N records, or clewd
 * stops. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/json_out.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/http_client.h"

enum {
    OPT_I = 1,
    OPT_V,
    OPT_F,
    OPT_M,
    OPT_SERVICE,
    OPT_HOST,
    OPT_CONTAINER,
    OPT_LEVEL,
    OPT_TRACE,
    OPT_JSON,
    OPT_DATA,
    OPT_SERVER,
    OPT_TOKEN,
    OPT_HELP
};

static const struct clew_cli_opt tail_opts[] = {
    { "ignore-case", 'i', 0, OPT_I },     { "invert-match", 'v', 0, OPT_V },
    { "fixed-strings", 'F', 0, OPT_F },   { "max-count", 'm', 1, OPT_M },
    { "service", 0, 1, OPT_SERVICE },     { "host", 0, 1, OPT_HOST },
    { "container", 0, 1, OPT_CONTAINER }, { "level", 0, 1, OPT_LEVEL },
    { "trace", 0, 1, OPT_TRACE },         { "json", 0, 0, OPT_JSON },
    { "data", 0, 1, OPT_DATA },           { "server", 0, 1, OPT_SERVER },
    { "token", 0, 1, OPT_TOKEN },         { "help", 'h', 0, OPT_HELP },
};

static void tail_usage(void)
{
    printf("usage: clew tail [-i] [-v] [-F] [-m N] [--service S] [--host H] [--container C]\n"
           "                 [--level L] [--trace ID] [--json] [--server URL] [--token T]\n"
           "                 [PATTERN]\n"
           "Follows a running clewd: prints the records it receives from now on whose\n"
           "message matches PATTERN (PCRE2; all records without one) and the filters,\n"
           "as clew grep prints them, until interrupted, N records (-m), or clewd stops.\n"
           "URL: --server, else $CLEW_SERVER, else http://127.0.0.1:7700; the bearer\n"
           "token: --token, else $CLEW_TOKEN. A client too slow for the stream loses\n"
           "records and is told so on stderr.\n"
           "Exit status: 0 a record was printed, 1 none was, 2 error.\n");
}

struct tail {
    struct clew_buf url; /* path and query */
    const char *server, *token;
    int json;
    unsigned long long printed;
    struct clew_arena arena;
    struct clew_buf out;
    char err[CLEW_ERR_LEN];
};

/* time service host level message [trace=ID], as clew grep without colour. */
static int format_text(struct clew_buf *b, const struct clew_record *r)
{
    char ts[40];
    int n = clew_time_format(r->ts, 6, ts, sizeof(ts));
    int rc = clew_buf_append(b, ts, (size_t)n);
    const char *lv = clew_level_name(r->level);
    const struct clew_str parts[] = { r->labels[CLEW_LABEL_SERVICE],
                                      r->labels[CLEW_LABEL_HOST],
                                      { lv, strlen(lv) } };
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        rc = clew_buf_put_u8(b, ' ');
        rc = rc ? rc
                : clew_buf_append(b, parts[i].len ? parts[i].ptr : "-",
                                  parts[i].len ? parts[i].len : 1);
    }
    rc = rc ? rc : clew_buf_put_u8(b, ' ');
    rc = rc ? rc : clew_buf_append(b, r->message.ptr, r->message.len);
    if (rc == 0 && r->trace_id.len > 0) {
        rc = clew_buf_append(b, " trace=", 7);
        rc = rc ? rc : clew_buf_append(b, r->trace_id.ptr, r->trace_id.len);
    }
    return rc;
}

static int print_record(struct tail *t, const struct clew_record *r)
{
    struct clew_buf *b = &t->out;
    clew_buf_reset(b);
    int rc = t->json ? clew_json_put_record(b, r) : format_text(b, r);
    rc = rc ? rc : clew_buf_put_u8(b, '\n');
    if (rc == 0 && (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0)) {
        rc = errno == EPIPE ? -EPIPE : -EIO;
    }
    t->printed += rc == 0;
    return rc;
}

static int on_value(void *ud, const char *text, size_t len)
{
    struct tail *t = ud;
    struct clew_http_line l;
    clew_arena_reset(&t->arena);
    int rc = clew_http_line_decode(text, len, &t->arena, &l);
    if (rc < 0) {
        snprintf(t->err, sizeof(t->err), "unexpected answer from clewd: %.80s", text);
        return rc;
    }
    switch (l.type) {
    case CLEW_HTTP_LINE_RECORD:
        return print_record(t, &l.rec);
    case CLEW_HTTP_LINE_DROPPED:
        fprintf(stderr, "clew tail: %llu records dropped (this client did not keep up)\n",
                (unsigned long long)l.n);
        return 0;
    case CLEW_HTTP_LINE_ERROR:
        snprintf(t->err, sizeof(t->err), "%s", l.msg);
        return CLEW_EBADARG;
    default:
        return 0;
    }
}

static void set_label(struct tail *t, const char *key, const char *v, int *rc)
{
    *rc = *rc ? *rc : clew_http_url_add(&t->url, key, v);
}

static int parse_value(struct tail *t, int id, const char *v, int *rc)
{
    char *end;
    switch (id) {
    case OPT_M:
        if (strtoll(v, &end, 10) < 0 || *end != '\0' || end == v) {
            fprintf(stderr, "clew tail: -m: want a number, not '%s'\n", v);
            return -1;
        }
        set_label(t, "m", v, rc);
        return 0;
    case OPT_LEVEL:
        if (clew_level_parse(v, strlen(v)) < 0) {
            fprintf(stderr, "clew tail: bad level '%s'\n", v);
            return -1;
        }
        set_label(t, "level", v, rc);
        return 0;
    case OPT_DATA:
        fprintf(stderr, "clew tail: follows a running clewd (--server URL); to read a data "
                        "directory use clew grep --data DIR\n");
        return -1;
    case OPT_SERVER:
        t->server = v;
        return 0;
    case OPT_TOKEN:
        t->token = v;
        return 0;
    default:
        return -1;
    }
}

static int parse_opt(struct tail *t, int id, const char *v, const char **pattern, int *rc)
{
    static const char *const flags[] = { [OPT_I] = "i", [OPT_V] = "v", [OPT_F] = "F" };
    static const char *const labels[] = { [OPT_SERVICE] = "service",
                                          [OPT_HOST] = "host",
                                          [OPT_CONTAINER] = "container",
                                          [OPT_TRACE] = "trace" };
    if (id == 0) {
        if (*pattern != NULL) {
            fprintf(stderr, "clew tail: one pattern only (got '%s' too)\n", v);
            return -1;
        }
        *pattern = v;
    } else if (id == OPT_I || id == OPT_V || id == OPT_F) {
        set_label(t, flags[id], "1", rc);
    } else if (id >= OPT_SERVICE && id <= OPT_TRACE && id != OPT_LEVEL) {
        set_label(t, labels[id], v, rc);
    } else if (id == OPT_JSON) {
        t->json = 1;
    } else {
        return parse_value(t, id, v, rc);
    }
    return 0;
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(struct tail *t, int argc, char **argv)
{
    struct clew_cli_args a = { argc, argv, 1, NULL, 0 };
    const char *v, *pattern = NULL;
    int id, rc = clew_buf_append(&t->url, "/api/v1/tail", 12);
    while ((id = clew_cli_next(&a, tail_opts, sizeof(tail_opts) / sizeof(tail_opts[0]), "clew tail",
                               &v)) != -1) {
        if (id == OPT_HELP) {
            tail_usage();
            return 0;
        }
        if (id < 0 || parse_opt(t, id, v, &pattern, &rc) < 0) {
            return CLEW_EXIT_ERROR;
        }
    }
    if (pattern != NULL && pattern[0] != '\0') {
        set_label(t, "q", pattern, &rc);
    }
    set_label(t, "raw", "1", &rc);
    if (rc < 0) {
        fprintf(stderr, "clew tail: out of memory\n");
        return CLEW_EXIT_ERROR;
    }
    return -1;
}

int clew_cmd_tail(int argc, char **argv)
{
    struct tail t = { .server = NULL };
    clew_buf_init(&t.url);
    clew_buf_init(&t.out);
    clew_arena_init(&t.arena, 16384);
    int ex = parse_args(&t, argc, argv);
    if (ex < 0) {
        struct clew_cli_source src = { NULL, t.server };
        clew_cli_source_resolve(&src);
        struct clew_http_req req = { src.server, (const char *)t.url.data, t.token };
        int rc = clew_http_get_stream(&req, on_value, &t, t.err);
        if (rc < 0 && rc != -EPIPE) {
            fprintf(stderr, "clew tail: %s\n", t.err[0] ? t.err : clew_strerror(rc));
            ex = CLEW_EXIT_ERROR;
        } else {
            ex = t.printed > 0 || rc == -EPIPE ? CLEW_EXIT_MATCH : CLEW_EXIT_NOMATCH;
        }
    }
    clew_arena_close(&t.arena);
    clew_buf_close(&t.out);
    clew_buf_close(&t.url);
    return ex;
}
