/* SPDX-License-Identifier: MIT
 * clew alerts: recent alerts from the stored clew-alerts records. */
#include "query/cmd_alerts.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/json_out.h"
#include "common/seg_format.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/http_client.h"
#include "query/reader.h"

#define ALERTS_SERVICE "clew-alerts"

struct item {
    int64_t ts;
    size_t off, len, seq;
};

struct list {
    struct clew_buf text;
    struct item *items;
    size_t n, cap;
};

/* {"ts":"...", then the alert's own keys (the record's fields object). */
static int on_alert(void *ud, const struct clew_record *r)
{
    struct list *l = ud;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        struct item *it = clew_realloc(l->items, ncap * sizeof(*it));
        if (it == NULL) {
            return -ENOMEM;
        }
        l->items = it;
        l->cap = ncap;
    }
    struct clew_buf *b = &l->text;
    size_t off = b->len;
    char ts[40];
    int n = clew_time_format(r->ts, 9, ts, sizeof(ts));
    int rc = clew_buf_append(b, "{\"ts\":", 6);
    rc = rc ? rc : clew_json_put_str(b, ts, (size_t)n);
    if (r->fields.len > 2 && r->fields.ptr[0] == '{') {
        rc = rc ? rc : clew_buf_put_u8(b, ',');
        rc = rc ? rc : clew_buf_append(b, r->fields.ptr + 1, r->fields.len - 1);
    } else {
        rc = rc ? rc : clew_buf_append(b, ",\"message\":", 11);
        rc = rc ? rc : clew_json_put_str(b, r->message.ptr, r->message.len);
        rc = rc ? rc : clew_buf_put_u8(b, '}');
    }
    if (rc < 0) {
        return rc;
    }
    l->items[l->n] = (struct item){ r->ts, off, b->len - off, l->n };
    l->n++;
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

long clew_alerts_list(const char *data_dir, int64_t since, struct clew_buf *out)
{
    struct list l = { .items = NULL };
    struct clew_filter f;
    clew_buf_init(&l.text);
    clew_filter_init(&f);
    f.since = since;
    f.labels[CLEW_LABEL_SERVICE] = CLEW_STR_LIT(ALERTS_SERVICE);
    f.label_mask = 1u << CLEW_LABEL_SERVICE;
    f.cols = CLEW_COL_TS | CLEW_COL_LABELS | CLEW_COL_MESSAGE | CLEW_COL_FIELDS;
    long rc = clew_reader_scan(data_dir, &f, on_alert, NULL, &l, NULL);
    if (rc == 0 && l.n > 0) {
        qsort(l.items, l.n, sizeof(*l.items), cmp_item);
    }
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        rc = clew_buf_append(out, l.text.data + l.items[i].off, l.items[i].len);
        rc = rc ? rc : clew_buf_put_u8(out, '\n');
    }
    clew_buf_close(&l.text);
    clew_free(l.items);
    return rc < 0 ? rc : (long)l.n;
}

/* One alert line as text: TS STATUS RULE count=N k=v... summary. */
static void print_text(const char *line, size_t len)
{
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    if (!json_is_object(o)) {
        printf("%.*s\n", (int)len, line);
        json_decref(o);
        return;
    }
    const char *ts = json_string_value(json_object_get(o, "ts"));
    const char *st = json_string_value(json_object_get(o, "status"));
    const char *rule = json_string_value(json_object_get(o, "rule"));
    const char *msg = json_string_value(json_object_get(o, "message"));
    printf("%s %-8s %s", ts ? ts : "-", st ? st : "-", rule ? rule : (msg ? msg : "-"));
    if (json_object_get(o, "count") != NULL) {
        printf(" count=%lld", (long long)json_integer_value(json_object_get(o, "count")));
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(o, "group"), k, v)
    {
        printf(" %s=%s", k, json_string_value(v) ? json_string_value(v) : "");
    }
    const char *sum =
        json_string_value(json_object_get(json_object_get(o, "annotations"), "summary"));
    if (sum != NULL) {
        printf("  %s", sum);
    }
    printf("\n");
    json_decref(o);
}

static int print_all(const struct clew_buf *b, int json)
{
    int n = 0;
    if (b->len == 0) {
        return 0;
    }
    const char *p = (const char *)b->data, *end = p + b->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0) {
            if (json) {
                printf("%.*s\n", (int)len, p);
            } else {
                print_text(p, len);
            }
            n++;
        }
        p += len + 1;
    }
    return n;
}

static int fetch_remote(const char *server, const char *token, int64_t since, struct clew_buf *b,
                        char err[CLEW_ERR_LEN])
{
    char ts[40];
    struct clew_buf url;
    clew_buf_init(&url);
    clew_time_format(since, 9, ts, sizeof(ts));
    int rc = clew_buf_append(&url, "/api/v1/alerts", 15); /* NUL kept, len excludes it */
    url.len -= rc == 0;
    rc = rc ? rc : clew_http_url_add(&url, "since", ts);
    if (rc == 0) {
        struct clew_http_req req = { server, (const char *)url.data, token };
        rc = clew_http_get(&req, b, NULL, err);
    } else {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
    }
    clew_buf_close(&url);
    return rc;
}

enum { OPT_SINCE = 1, OPT_DATA, OPT_SERVER, OPT_TOKEN, OPT_JSON, OPT_HELP };

static const struct clew_cli_opt alert_opts[] = {
    { "since", 0, 1, OPT_SINCE }, { "data", 0, 1, OPT_DATA }, { "server", 0, 1, OPT_SERVER },
    { "token", 0, 1, OPT_TOKEN }, { "json", 0, 0, OPT_JSON }, { "help", 'h', 0, OPT_HELP },
};

struct alerts_args {
    struct clew_cli_source src;
    const char *token;
    int64_t since;
    int json;
};

/* Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, struct alerts_args *a)
{
    struct clew_cli_args ca = { argc, argv, 1, NULL, 0 };
    const char *v;
    int id;
    int64_t now = clew_time_now_ns();
    a->since = now - 86400 * CLEW_NS_PER_SEC;
    while ((id = clew_cli_next(&ca, alert_opts, sizeof(alert_opts) / sizeof(alert_opts[0]),
                               "clew alerts", &v)) != -1) {
        switch (id) {
        case OPT_SINCE:
            if (clew_cli_parse_time(v, now, &a->since) < 0) {
                fprintf(stderr, "clew alerts: bad time '%s' (want 15m, 2h, 1d, now or RFC 3339)\n",
                        v);
                return CLEW_EXIT_ERROR;
            }
            break;
        case OPT_DATA:
            a->src.data = v;
            break;
        case OPT_SERVER:
            a->src.server = v;
            break;
        case OPT_TOKEN:
            a->token = v;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_HELP:
            printf(
                "usage: clew alerts [--since T] [--json] [--data DIR | --server URL [--token T]]\n"
                "Lists the alerts of the last day (or since T: 15m, 2h, 1d, RFC 3339) that rules\n"
                "with a log action stored (records of service clew-alerts), oldest first.\n"
                "Exit status: 0 alerts listed, 1 none, 2 error.\n");
            return 0;
        default:
            fprintf(stderr, "clew alerts: unexpected argument '%s'\n", v ? v : "");
            return CLEW_EXIT_ERROR;
        }
    }
    return -1;
}

int clew_cmd_alerts(int argc, char **argv)
{
    struct alerts_args a = { { NULL, NULL }, NULL, 0, 0 };
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        return rc;
    }
    clew_cli_source_resolve(&a.src);
    struct clew_buf b;
    char err[CLEW_ERR_LEN] = "";
    clew_buf_init(&b);
    long n;
    if (a.src.data != NULL) {
        if (access(a.src.data, R_OK) < 0) {
            fprintf(stderr, "clew alerts: %s: %s\n", a.src.data, strerror(errno));
            clew_buf_close(&b);
            return CLEW_EXIT_ERROR;
        }
        n = clew_alerts_list(a.src.data, a.since, &b);
        snprintf(err, sizeof(err), "%s: %s", a.src.data, clew_strerror((int)n));
    } else {
        n = fetch_remote(a.src.server, a.token, a.since, &b, err);
    }
    int shown = n >= 0 ? print_all(&b, a.json) : 0;
    clew_buf_close(&b);
    if (n < 0) {
        fprintf(stderr, "clew alerts: %s\n", err);
        return CLEW_EXIT_ERROR;
    }
    return shown > 0 ? CLEW_EXIT_MATCH : CLEW_EXIT_NOMATCH;
}
