/* SPDX-License-Identifier: MIT
 * clew grep: records whose message matches a pattern (PCRE2 with JIT), with
 * grep's flags and exit codes, over a data directory. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json_out.h"
#include "common/seg_format.h"
#include "common/timeutil.h"
#include "query/cli.h"
#include "query/reader.h"

struct grep {
    pcre2_code *re;
    pcre2_match_data *md;
    int invert, count_only, json, color;
    int level_max;
    long max_count;
    long matched;
    struct clew_buf out;
};

static int emit(struct grep *g, const struct clew_record *r)
{
    struct clew_buf *b = &g->out;
    clew_buf_reset(b);
    int rc;
    if (g->json) {
        rc = clew_json_put_record(b, r);
    } else {
        char ts[40];
        int n = clew_time_format(r->ts, 6, ts, sizeof(ts));
        rc = clew_buf_append(b, ts, (size_t)n);
        const struct clew_str parts[] = { r->labels[CLEW_LABEL_SERVICE],
                                          r->labels[CLEW_LABEL_HOST] };
        for (size_t i = 0; rc == 0 && i < 2; i++) {
            rc = clew_buf_put_u8(b, ' ');
            rc = rc ? rc
                    : clew_buf_append(b, parts[i].len ? parts[i].ptr : "-",
                                      parts[i].len ? parts[i].len : 1);
        }
        const char *lv = clew_level_name(r->level);
        rc = rc ? rc : clew_buf_put_u8(b, ' ');
        rc = rc ? rc : clew_buf_append(b, lv, strlen(lv));
        rc = rc ? rc : clew_buf_put_u8(b, ' ');
        rc = rc ? rc : clew_buf_append(b, r->message.ptr, r->message.len);
        if (rc == 0 && r->trace_id.len > 0) {
            rc = clew_buf_append(b, " trace=", 7);
            rc = rc ? rc : clew_buf_append(b, r->trace_id.ptr, r->trace_id.len);
        }
    }
    rc = rc ? rc : clew_buf_put_u8(b, '\n');
    if (rc == 0 && fwrite(b->data, 1, b->len, stdout) != b->len) {
        rc = errno == EPIPE ? -EPIPE : -EIO; /* EPIPE: the reader left, as `| head` */
    }
    return rc;
}

static int on_record(void *ud, const struct clew_record *r)
{
    struct grep *g = ud;
    if (g->level_max >= 0 && r->level > g->level_max) {
        return 0;
    }
    int m = 1;
    if (g->re != NULL) {
        int rc = pcre2_match(g->re, (PCRE2_SPTR)r->message.ptr, r->message.len, 0, 0, g->md, NULL);
        m = rc >= 0;
    }
    if (m == g->invert) {
        return 0;
    }
    g->matched++;
    if (!g->count_only) {
        int rc = emit(g, r);
        if (rc < 0) {
            return rc;
        }
    }
    return (g->max_count >= 0 && g->matched >= g->max_count) ? 1 : 0;
}

static void on_damage(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "clew grep: %s (skipped)\n", msg);
}

static int compile(struct grep *g, const char *pattern, int icase, int fixed)
{
    if (pattern[0] == '\0') {
        return 0; /* matches every record, as in grep */
    }
    int errcode;
    PCRE2_SIZE off;
    uint32_t flags = (icase ? PCRE2_CASELESS : 0) | (fixed ? PCRE2_LITERAL : 0);
    g->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags, &errcode, &off, NULL);
    if (g->re == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        fprintf(stderr, "clew grep: bad pattern at offset %zu: %s\n", (size_t)off, (char *)msg);
        return -1;
    }
    pcre2_jit_compile(g->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    g->md = pcre2_match_data_create_from_pattern(g->re, NULL);
    return g->md ? 0 : -1;
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
    { "trace", 0, 1, OPT_TRACE },     { "help", 'h', 0, OPT_HELP },
};

static void grep_usage(void)
{
    printf("usage: clew grep [-i] [-v] [-c] [-F] [-m N] [--since T] [--until T]\n"
           "                 [--service S] [--host H] [--container C] [--level L] [--json]\n"
           "                 [--data DIR | --server URL] PATTERN\n"
           "T: 15m, 2h, 1d (back from now), now, or RFC 3339. L: a level name or 0-7;\n"
           "records at that severity or worse match (error = 0-3).\n"
           "Exit status: 0 a record matched, 1 none did, 2 error.\n");
}

static void set_label(struct clew_filter *f, enum clew_label l, const char *v)
{
    f->labels[l] = (struct clew_str){ v, strlen(v) };
    f->label_mask |= 1u << l;
}

int clew_cmd_grep(int argc, char **argv)
{
    struct clew_cli_args a = { argc, argv, 1, NULL, 0 };
    struct clew_cli_source src = { NULL, NULL };
    struct grep g = { .level_max = -1, .max_count = -1 };
    struct clew_filter f;
    clew_filter_init(&f);
    const char *pattern = NULL, *v;
    int icase = 0, fixed = 0, id;
    int64_t now = clew_time_now_ns();
    while ((id = clew_cli_next(&a, grep_opts, sizeof(grep_opts) / sizeof(grep_opts[0]), "clew grep",
                               &v)) != -1) {
        switch (id) {
        case 0:
            if (pattern != NULL) {
                fprintf(stderr, "clew grep: one pattern only (got '%s' too)\n", v);
                return CLEW_EXIT_ERROR;
            }
            pattern = v;
            break;
        case OPT_I:
            icase = 1;
            break;
        case OPT_V:
            g.invert = 1;
            break;
        case OPT_C:
            g.count_only = 1;
            break;
        case OPT_F:
            fixed = 1;
            break;
        case OPT_JSON:
            g.json = 1;
            break;
        case OPT_DATA:
            src.data = v;
            break;
        case OPT_SERVER:
            src.server = v;
            break;
        case OPT_SERVICE:
            set_label(&f, CLEW_LABEL_SERVICE, v);
            break;
        case OPT_HOST:
            set_label(&f, CLEW_LABEL_HOST, v);
            break;
        case OPT_CONTAINER:
            set_label(&f, CLEW_LABEL_CONTAINER_NAME, v);
            break;
        case OPT_TRACE:
            f.trace_id = (struct clew_str){ v, strlen(v) };
            break;
        case OPT_M: {
            char *end;
            g.max_count = strtol(v, &end, 10);
            if (*end != '\0' || g.max_count < 0) {
                fprintf(stderr, "clew grep: -m: want a number, not '%s'\n", v);
                return CLEW_EXIT_ERROR;
            }
            break;
        }
        case OPT_SINCE:
        case OPT_UNTIL:
            if (clew_cli_parse_time(v, now, id == OPT_SINCE ? &f.since : &f.until) < 0) {
                fprintf(stderr, "clew grep: bad time '%s' (want 15m, 2h, 1d, now or RFC 3339)\n",
                        v);
                return CLEW_EXIT_ERROR;
            }
            break;
        case OPT_LEVEL:
            if ((g.level_max = clew_level_parse(v, strlen(v))) < 0) {
                fprintf(stderr, "clew grep: bad level '%s'\n", v);
                return CLEW_EXIT_ERROR;
            }
            break;
        case OPT_HELP:
            grep_usage();
            return 0;
        default:
            return CLEW_EXIT_ERROR;
        }
    }
    if (pattern == NULL) {
        fprintf(stderr, "clew grep: no pattern (use '' to match every record)\n");
        return CLEW_EXIT_ERROR;
    }
    clew_cli_source_resolve(&src);
    if (src.data == NULL) {
        fprintf(stderr, "clew grep: --server is not supported yet; use --data DIR\n");
        return CLEW_EXIT_ERROR;
    }
    if (access(src.data, R_OK) < 0) {
        fprintf(stderr, "clew grep: %s: %s\n", src.data, strerror(errno));
        return CLEW_EXIT_ERROR;
    }
    if (compile(&g, pattern, icase, fixed) < 0) {
        return CLEW_EXIT_ERROR;
    }
    clew_buf_init(&g.out);
    f.cols =
        g.json ? CLEW_COL_ALL
               : (CLEW_COL_TS | CLEW_COL_LABELS | CLEW_COL_META | CLEW_COL_MESSAGE | CLEW_COL_IDS);
    if (g.max_count == 0) {
        f.since = 1, f.until = 0; /* -m 0 reads nothing, as grep */
    }
    int rc = clew_reader_scan(src.data, &f, on_record, on_damage, &g, NULL);
    if (g.count_only) {
        printf("%ld\n", g.matched);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        rc = errno == EPIPE ? -EPIPE : -EIO;
    }
    clew_buf_close(&g.out);
    pcre2_match_data_free(g.md);
    pcre2_code_free(g.re);
    if (rc == -EPIPE) {
        return CLEW_EXIT_MATCH; /* like grep under `| head`: quiet, found */
    }
    if (rc < 0) {
        fprintf(stderr, "clew grep: %s\n", strerror(-rc));
        return CLEW_EXIT_ERROR;
    }
    return g.matched > 0 ? CLEW_EXIT_MATCH : CLEW_EXIT_NOMATCH;
}
