/* SPDX-License-Identifier: MIT
 * clew trace: a request's call chain. The lookup reads the records of the
 * id through the trace index (clew_reader_scan with a trace_id filter:
 * only the blocks that hold the id are decompressed, plus the live WAL),
 * then follows links breadth-first, bounded in ids and records; the
 * assembly and rendering are query/trace.c's.
 *
 * Links go both ways. Forward: a record found names other ids
 * (clew_trace_record_ids), which are looked up in turn. Backward: a record
 * that links to an id of the chain while carrying another trace id is
 * found through the segments' link index (the reader's with_links), and
 * its own trace id is looked up in turn. --link-window D adds a scan of the
 * chain's time range widened by D for links the index cannot know (data
 * written before links were indexed); it is off by default. Each record is
 * collected only from the lookup of its own trace id, so a record reached
 * through two ids appears once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/seg_format.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/http_client.h"
#include "query/reader.h"
#include "query/trace.h"

#define DEFAULT_LINK_WINDOW_NS (-1) /* off: the link index answers */
#define LINK_SCAN_MAX_NS       (CLEW_NS_PER_HOUR / 4) /* longest chain given a reverse scan */

struct known_id {
    size_t len;
    char id[CLEW_TRACE_ID_MAX + 1];
};

struct lookup {
    const struct clew_trace_lookup_opts *o;
    struct clew_trace *t;
    struct known_id *ids; /* ids[0..nids): known; ids[next..nids): still to look up */
    size_t nids, next, max_ids, max_records;
    struct clew_str cur; /* the id being looked up */
    int64_t tmin, tmax;  /* of the records collected */
    struct clew_trace_lookup_stats *st;
};

static int id_known(const struct lookup *lk, struct clew_str id)
{
    for (size_t i = 0; i < lk->nids; i++) {
        if (lk->ids[i].len == id.len && memcmp(lk->ids[i].id, id.ptr, id.len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Queues id for a lookup unless it is known; notes when the bound bites. */
static void enqueue(struct lookup *lk, struct clew_str id)
{
    if (id.len == 0 || id.len > CLEW_TRACE_ID_MAX || id_known(lk, id)) {
        return;
    }
    if (lk->nids == lk->max_ids) {
        lk->st->truncated = 1;
        return;
    }
    struct known_id *k = &lk->ids[lk->nids++];
    memcpy(k->id, id.ptr, id.len);
    k->id[id.len] = '\0';
    k->len = id.len;
}

static int str_eq(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* A record of the id being looked up: collect it, queue what it links to. */
static int on_forward(void *ud, const struct clew_record *r)
{
    struct lookup *lk = ud;
    if (!str_eq(r->trace_id, lk->cur)) {
        enqueue(lk, r->trace_id); /* matched through a link: collected under its own id */
        return 0;
    }
    struct clew_trace_ids ids;
    clew_trace_record_ids(r, &ids);
    for (size_t i = 0; i < ids.n; i++) {
        enqueue(lk, ids.ids[i]);
    }
    if (lk->t->nrecords >= lk->max_records) {
        lk->st->truncated = 1;
        return 1;
    }
    lk->tmin = r->ts < lk->tmin ? r->ts : lk->tmin;
    lk->tmax = r->ts > lk->tmax ? r->ts : lk->tmax;
    return clew_trace_add(lk->t, r);
}

/* A record near the chain: queue its trace id when it links into the chain. */
static int on_reverse(void *ud, const struct clew_record *r)
{
    struct lookup *lk = ud;
    if (r->trace_id.len == 0 || r->fields.len == 0 || id_known(lk, r->trace_id)) {
        return 0;
    }
    struct clew_trace_ids ids;
    clew_trace_record_ids(r, &ids);
    for (size_t i = 0; i < ids.n; i++) {
        if (id_known(lk, ids.ids[i])) {
            enqueue(lk, r->trace_id);
            break;
        }
    }
    return 0;
}

static void on_error(void *ud, const char *msg)
{
    struct lookup *lk = ud;
    if (lk->o->err_cb != NULL) {
        lk->o->err_cb(lk->o->ud, msg);
    }
}

static int scan(struct lookup *lk, const struct clew_filter *f, clew_reader_record_cb cb)
{
    struct clew_reader_stats rs;
    int rc = clew_reader_scan(lk->o->data_dir, f, cb, on_error, lk, &rs);
    lk->st->blocks_read += rs.blocks_read;
    lk->st->blocks_pruned += rs.blocks_pruned;
    lk->st->records_scanned += rs.records;
    return rc < 0 ? rc : 0; /* 1: stopped at the record bound */
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }
    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }
    return a + b;
}

static int reverse_scan(struct lookup *lk)
{
    struct clew_filter f;
    clew_filter_init(&f);
    f.since = sat_add(lk->tmin, -lk->o->link_window_ns);
    f.until = sat_add(lk->tmax, lk->o->link_window_ns);
    f.cols = CLEW_COL_TS | CLEW_COL_IDS | CLEW_COL_FIELDS;
    lk->st->link_scans++;
    return scan(lk, &f, on_reverse);
}

/* Looks up every queued id; then, while the reverse scan finds new ids,
 * looks those up too. */
static int follow(struct lookup *lk)
{
    int rc = 0;
    for (;;) {
        while (rc == 0 && lk->next < lk->nids && lk->t->nrecords < lk->max_records) {
            struct clew_filter f;
            clew_filter_init(&f);
            struct known_id *k = &lk->ids[lk->next++];
            lk->cur = (struct clew_str){ k->id, k->len };
            f.trace_id = lk->cur;
            f.with_links = 1;
            rc = scan(lk, &f, on_forward);
        }
        if (rc < 0 || lk->o->link_window_ns < 0 || lk->t->nrecords == 0 ||
            lk->t->nrecords >= lk->max_records || lk->nids == lk->max_ids) {
            break;
        }
        if ((uint64_t)lk->tmax - (uint64_t)lk->tmin > (uint64_t)LINK_SCAN_MAX_NS) {
            lk->st->link_scan_skipped = 1; /* a long chain: too much to read */
            break;
        }
        size_t before = lk->nids;
        rc = reverse_scan(lk);
        if (rc < 0 || lk->nids == before) {
            break;
        }
    }
    lk->st->ids = lk->next;
    return rc;
}

int clew_trace_lookup(const struct clew_trace_lookup_opts *o, const char *id, size_t len,
                      struct clew_trace **out, struct clew_trace_lookup_stats *st,
                      char err[CLEW_ERR_LEN])
{
    struct clew_trace_lookup_stats local;
    struct lookup lk = { .o = o, .tmin = INT64_MAX, .tmax = INT64_MIN, .st = st ? st : &local };
    memset(lk.st, 0, sizeof(*lk.st));
    *out = NULL;
    if (len == 0 || len > CLEW_TRACE_ID_MAX) {
        snprintf(err, CLEW_ERR_LEN, "an id is 1-%d bytes", CLEW_TRACE_ID_MAX);
        return CLEW_EBADARG;
    }
    lk.max_ids = o->max_ids && o->max_ids < CLEW_TRACE_MAX_IDS ? o->max_ids : CLEW_TRACE_MAX_IDS;
    lk.max_records = o->max_records ? o->max_records : CLEW_TRACE_MAX_RECORDS;
    lk.ids = clew_calloc(lk.max_ids, sizeof(*lk.ids));
    int rc = lk.ids ? clew_trace_new(id, len, &lk.t) : -ENOMEM;
    if (rc == 0) {
        enqueue(&lk, (struct clew_str){ id, len });
        rc = follow(&lk);
    }
    rc = rc ? rc : clew_trace_finish(lk.t);
    clew_free(lk.ids);
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s", o->data_dir, clew_strerror(rc));
        clew_trace_free(lk.t);
        return rc;
    }
    *out = lk.t;
    return 0;
}

/* ------------------------------------------------------------ command */

enum { OPT_JSON = 1, OPT_DATA, OPT_SERVER, OPT_SPANS, OPT_WINDOW, OPT_TOKEN, OPT_HELP };

static const struct clew_cli_opt trace_opts[] = {
    { "json", 0, 0, OPT_JSON },          { "data", 0, 1, OPT_DATA },
    { "server", 0, 1, OPT_SERVER },      { "spans-only", 0, 0, OPT_SPANS },
    { "link-window", 0, 1, OPT_WINDOW }, { "token", 0, 1, OPT_TOKEN },
    { "help", 'h', 0, OPT_HELP },
};

static void trace_usage(void)
{
    printf("usage: clew trace [--json] [--spans-only] [--link-window D]\n"
           "                  [--data DIR | --server URL [--token T]] ID\n"
           "Prints every record of the request ID (a trace id or a linked request id)\n"
           "in time order and its span tree as a waterfall. --json prints one object:\n"
           "{trace_id, records: [...], spans: [...]}. Links are found through the index;\n"
           "--link-window D (default off) also scans D around the chain for links in\n"
           "data written before links were indexed.\n"
           "Exit status: 0 records found, 1 none, 2 error.\n");
}

static void on_damage(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "clew trace: %s (skipped)\n", msg);
}

static unsigned term_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    const char *cols = getenv("COLUMNS");
    long n = cols ? strtol(cols, NULL, 10) : 0;
    return n > 0 && n < 1000 ? (unsigned)n : 100;
}

struct trace_args {
    const char *id;
    int json, spans_only;
    struct clew_cli_source src;
    int64_t window;
    const char *token; /* --token: clewd's bearer token (else $CLEW_TOKEN) */
};

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct trace_args *ta)
{
    struct clew_cli_args a = { argc, argv, 1, NULL, 0 };
    const char *v;
    int id;
    while ((id = clew_cli_next(&a, trace_opts, sizeof(trace_opts) / sizeof(trace_opts[0]),
                               "clew trace", &v)) != -1) {
        switch (id) {
        case 0:
            if (ta->id != NULL) {
                fprintf(stderr, "clew trace: one id only (got '%s' too)\n", v);
                return CLEW_EXIT_ERROR;
            }
            ta->id = v;
            break;
        case OPT_JSON:
            ta->json = 1;
            break;
        case OPT_SPANS:
            ta->spans_only = 1;
            break;
        case OPT_DATA:
            ta->src.data = v;
            break;
        case OPT_SERVER:
            ta->src.server = v;
            break;
        case OPT_TOKEN:
            ta->token = v;
            break;
        case OPT_WINDOW:
            if (strcmp(v, "off") == 0) {
                ta->window = -1;
            } else if (clew_duration_parse(v, &ta->window) < 0 || ta->window < 0) {
                fprintf(stderr, "clew trace: bad --link-window '%s' (want 5s, 1m or off)\n", v);
                return CLEW_EXIT_ERROR;
            }
            break;
        case OPT_HELP:
            trace_usage();
            return 0;
        default:
            return CLEW_EXIT_ERROR;
        }
    }
    if (ta->id == NULL || ta->id[0] == '\0') {
        fprintf(stderr, "clew trace: no id (see --help)\n");
        return CLEW_EXIT_ERROR;
    }
    return -1;
}

static int print_trace(const struct clew_trace *t, const struct trace_args *ta)
{
    struct clew_buf b;
    clew_buf_init(&b);
    struct clew_trace_text_opts to = { term_width(), ta->spans_only };
    int rc = ta->json ? clew_trace_render_json(t, &b) : clew_trace_render_text(t, &to, &b);
    rc = rc ? rc : (ta->json ? clew_buf_put_u8(&b, '\n') : 0);
    if (rc == 0 && (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0)) {
        rc = -EIO;
    }
    clew_buf_close(&b);
    return rc;
}

/* --server URL: GET /api/v1/trace/ID; clewd assembles and renders (the text
 * at this terminal's width), the headers say how many records and ids. */
static int trace_remote(const struct trace_args *ta)
{
    struct clew_buf url, body;
    char err[CLEW_ERR_LEN], v[32];
    clew_buf_init(&url);
    clew_buf_init(&body);
    int rc = clew_buf_append(&url, "/api/v1/trace/", 14);
    rc = rc ? rc : clew_http_url_escape(&url, ta->id);
    snprintf(v, sizeof(v), "%lldns", (long long)ta->window);
    rc = rc ? rc : clew_http_url_add(&url, "link_window", ta->window < 0 ? "off" : v);
    rc = rc ? rc : clew_http_url_add(&url, "format", ta->json ? "json" : "text");
    snprintf(v, sizeof(v), "%u", term_width());
    rc = rc ? rc : clew_http_url_add(&url, "width", v);
    rc = rc || !ta->spans_only ? rc : clew_http_url_add(&url, "spans_only", "1");
    struct clew_http_meta meta = { 0 };
    if (rc == 0) {
        struct clew_http_req req = { ta->src.server, (const char *)url.data, ta->token };
        rc = clew_http_get(&req, &body, &meta, err);
    } else {
        snprintf(err, sizeof(err), "out of memory");
    }
    long n = meta.records;
    if (rc == 0 && meta.truncated) {
        fprintf(stderr, "clew trace: stopped at %ld records / %ld ids: the chain is incomplete\n",
                n, meta.ids);
    }
    if (rc < 0) {
        fprintf(stderr, "clew trace: %s\n", err);
    } else if (n <= 0 && !ta->json) {
        fprintf(stderr, "clew trace: no records with id %s\n", ta->id);
    } else if (fwrite(body.data, 1, body.len, stdout) != body.len || fflush(stdout) != 0) {
        fprintf(stderr, "clew trace: writing: %s\n", strerror(errno));
        rc = -EIO;
    }
    clew_buf_close(&url);
    clew_buf_close(&body);
    return rc < 0 ? CLEW_EXIT_ERROR : n > 0 ? CLEW_EXIT_MATCH : CLEW_EXIT_NOMATCH;
}

int clew_cmd_trace(int argc, char **argv)
{
    struct trace_args ta = { .window = DEFAULT_LINK_WINDOW_NS };
    int ex = parse_args(argc, argv, &ta);
    if (ex >= 0) {
        return ex;
    }
    clew_cli_source_resolve(&ta.src);
    if (ta.src.data == NULL) {
        return trace_remote(&ta);
    }
    if (access(ta.src.data, R_OK) < 0) {
        fprintf(stderr, "clew trace: %s: %s\n", ta.src.data, strerror(errno));
        return CLEW_EXIT_ERROR;
    }
    struct clew_trace_lookup_opts o = { .data_dir = ta.src.data,
                                        .link_window_ns = ta.window,
                                        .err_cb = on_damage };
    struct clew_trace_lookup_stats st;
    struct clew_trace *t;
    char err[CLEW_ERR_LEN];
    int rc = clew_trace_lookup(&o, ta.id, strlen(ta.id), &t, &st, err);
    if (rc < 0) {
        fprintf(stderr, "clew trace: %s\n", err);
        return CLEW_EXIT_ERROR;
    }
    if (st.truncated) {
        fprintf(stderr, "clew trace: stopped at %zu records / %zu ids: the chain is incomplete\n",
                t->nrecords, st.ids);
    }
    if (t->nrecords == 0 && !ta.json) {
        fprintf(stderr, "clew trace: no records with id %s\n", ta.id);
    } else if ((rc = print_trace(t, &ta)) < 0) {
        fprintf(stderr, "clew trace: writing: %s\n", strerror(-rc));
    }
    ex = rc < 0 ? CLEW_EXIT_ERROR : t->nrecords > 0 ? CLEW_EXIT_MATCH : CLEW_EXIT_NOMATCH;
    clew_trace_free(t);
    return ex;
}
