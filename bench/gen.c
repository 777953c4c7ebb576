/* SPDX-License-Identifier: MIT
 * gen: writes the deterministic benchmark corpus (bench/lib/corpus_gen.h)
 * as JSON lines (the `clew grep --json` keys), as raw container-log text, or
 * both, plus the per-request truth file; prints its speed on stderr.
 *
 *   gen [--seed N] [--records N] [--format jsonl|raw|both|none] [--out PREFIX]
 *       [--truth FILE] [--raw-ids] [--rate N] [--services N] [--no-id F]
 *       [--errors F] [--noise F] [--start RFC3339] [--loghub DIR|none] [-q] */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/lib/corpus_gen.h"
#include "common/alloc.h"
#include "common/timeutil.h"

#define OUT_CAP (1u << 20)

struct out {
    FILE *f;
    char *buf;
    size_t n;
    int err;
};

struct tsfmt {
    int64_t sec;   /* second held in head */
    char head[32]; /* "YYYY-MM-DDTHH:MM:SS" */
    size_t len;
};

static void out_flush(struct out *o)
{
    if (o->f != NULL && o->n > 0 && fwrite(o->buf, 1, o->n, o->f) != o->n) {
        o->err = 1;
    }
    o->n = 0;
}

static inline void out_put(struct out *o, const char *s, size_t n)
{
    if (o->n + n > OUT_CAP) {
        out_flush(o);
    }
    if (n > OUT_CAP) {
        if (fwrite(s, 1, n, o->f) != n) {
            o->err = 1;
        }
        return;
    }
    memcpy(o->buf + o->n, s, n);
    o->n += n;
}

static inline void out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

static void out_cstr(struct out *o, struct clew_str s)
{
    if (s.len > 0) {
        out_put(o, s.ptr, s.len);
    }
}

/* s as the inside of a JSON string. */
static void out_json(struct out *o, struct clew_str s)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, start = 0;
    if (s.len == 0) {
        return;
    }
    for (; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        out_put(o, s.ptr + start, i - start);
        start = i + 1;
        char e[6] = { '\\', (char)c, 0, 0, 0, 0 };
        size_t n = 2;
        if (c == '\n' || c == '\t' || c == '\r') {
            e[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20) {
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        }
        out_put(o, e, n);
    }
    out_put(o, s.ptr + start, i - start);
}

/* RFC 3339 with 9 fraction digits; the date part is formatted once a second. */
static void out_ts(struct out *o, struct tsfmt *t, int64_t ns)
{
    int64_t sec = ns / CLEW_NS_PER_SEC - (ns % CLEW_NS_PER_SEC < 0);
    int64_t frac = ns - sec * CLEW_NS_PER_SEC;
    if (sec != t->sec || t->len == 0) {
        char b[40];
        int n = clew_time_format(sec * CLEW_NS_PER_SEC, 0, b, sizeof(b));
        t->sec = sec;
        t->len = n > 1 ? (size_t)n - 1 : 0; /* drop the 'Z' */
        memcpy(t->head, b, t->len);
    }
    char f[11];
    f[0] = '.';
    for (int i = 9; i >= 1; i--) {
        f[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    f[10] = 'Z';
    out_put(o, t->head, t->len);
    out_put(o, f, 11);
}

static void jkey(struct out *o, const char *k, struct clew_str v)
{
    out_str(o, k);
    out_json(o, v);
    out_put(o, "\"", 1);
}

static void write_jsonl(struct out *o, struct tsfmt *t, const struct clew_record *r)
{
    char lv[4] = { (char)('0' + (r->level & 7)), 0 };
    out_str(o, "{\"ts\":\"");
    out_ts(o, t, r->ts);
    jkey(o, "\",\"host\":\"", r->labels[CLEW_LABEL_HOST]);
    jkey(o, ",\"service\":\"", r->labels[CLEW_LABEL_SERVICE]);
    jkey(o, ",\"container_id\":\"", r->labels[CLEW_LABEL_CONTAINER_ID]);
    jkey(o, ",\"container_name\":\"", r->labels[CLEW_LABEL_CONTAINER_NAME]);
    jkey(o, ",\"stream\":\"", r->labels[CLEW_LABEL_STREAM]);
    out_str(o, ",\"level\":");
    out_str(o, lv);
    jkey(o, ",\"message\":\"", r->message);
    jkey(o, ",\"trace_id\":\"", r->trace_id);
    jkey(o, ",\"span_id\":\"", r->span_id);
    jkey(o, ",\"parent_span_id\":\"", r->parent_span_id);
    out_str(o, ",\"input\":\"");
    out_str(o, clew_input_name(r->input));
    out_str(o, "\",\"fields\":");
    if (r->fields.len > 0) {
        out_cstr(o, r->fields);
    } else {
        out_str(o, "{}");
    }
    out_str(o, "}\n");
}

/* `<ts> <host> <service>[<container>] <level> <message>`; a structured
 * line's message is the JSON object the service printed. */
static void write_raw(struct out *o, struct tsfmt *t, const struct clew_record *r)
{
    struct clew_str cn = r->labels[CLEW_LABEL_CONTAINER_NAME];
    if (cn.len > 0 && cn.ptr[0] == '/') {
        cn.ptr++;
        cn.len--;
    }
    out_ts(o, t, r->ts);
    out_put(o, " ", 1);
    out_cstr(o, r->labels[CLEW_LABEL_HOST]);
    out_put(o, " ", 1);
    out_cstr(o, r->labels[CLEW_LABEL_SERVICE]);
    out_put(o, "[", 1);
    out_cstr(o, cn);
    out_put(o, "] ", 2);
    out_str(o, clew_level_name(r->level));
    out_put(o, " ", 1);
    if (r->fields.len > 1) {
        out_str(o, "{\"msg\":\"");
        out_json(o, r->message);
        out_put(o, "\",", 2);
        out_put(o, r->fields.ptr + 1, r->fields.len - 1);
    } else {
        out_cstr(o, r->message);
    }
    out_put(o, "\n", 1);
}

static void usage(void)
{
    fprintf(stderr, "usage: gen [--seed N] [--records N] [--format jsonl|raw|both|none]\n"
                    "           [--out PREFIX] [--truth FILE] [--raw-ids] [--rate N]\n"
                    "           [--services N] [--no-id F] [--errors F] [--noise F]\n"
                    "           [--start RFC3339] [--loghub DIR|none] [-q]\n");
}

/* The Loghub samples: $CLEW_SHARED_DIR/corpus/loghub, else ../shared next
 * to the source tree that holds this binary (build-x/bench/gen). */
static const char *default_loghub(char *buf, size_t len)
{
    const char *env = getenv("CLEW_SHARED_DIR");
    if (env != NULL) {
        snprintf(buf, len, "%s/corpus/loghub", env);
        return buf;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return NULL;
    }
    exe[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL) {
            return NULL;
        }
        *slash = '\0';
    }
    snprintf(buf, len, "%s/../shared/corpus/loghub", exe);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

struct args {
    struct clew_gen_opts o;
    const char *format, *prefix, *truth, *loghub;
    int quiet;
};

static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return (errno != 0 || end == s || *end != '\0') ? -1 : 0;
}

static int parse_opt(struct args *a, const char *k, const char *v)
{
    double d = 0;
    int64_t t;
    if (strcmp(k, "--format") == 0 || strcmp(k, "--out") == 0 || strcmp(k, "--truth") == 0 ||
        strcmp(k, "--loghub") == 0) {
        const char **dst = k[2] == 'f'   ? &a->format
                           : k[2] == 'o' ? &a->prefix
                           : k[2] == 't' ? &a->truth
                                         : &a->loghub;
        *dst = v;
        return 0;
    }
    if (strcmp(k, "--start") == 0) {
        if (clew_time_parse_rfc3339(v, strlen(v), &t) != 0) {
            return -1;
        }
        a->o.start_ns = t;
        return 0;
    }
    if (parse_num(v, &d) != 0 || d < 0) {
        return -1;
    }
    if (strcmp(k, "--seed") == 0) {
        a->o.seed = strtoull(v, NULL, 10);
    } else if (strcmp(k, "--records") == 0) {
        a->o.records = (uint64_t)d;
    } else if (strcmp(k, "--rate") == 0) {
        a->o.rate = (uint32_t)d;
    } else if (strcmp(k, "--services") == 0) {
        a->o.services = (unsigned)d;
    } else if (strcmp(k, "--no-id") == 0) {
        a->o.no_id_fraction = d;
    } else if (strcmp(k, "--errors") == 0) {
        a->o.error_rate = d;
    } else if (strcmp(k, "--noise") == 0) {
        a->o.noise = d;
    } else {
        return -1;
    }
    return 0;
}

static int parse_args(struct args *a, int argc, char **argv)
{
    clew_gen_opts_default(&a->o);
    a->o.resolved_ids = 1;
    a->format = "both";
    a->prefix = "corpus";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--raw-ids") == 0) {
            a->o.resolved_ids = 0;
        } else if (strcmp(argv[i], "-q") == 0) {
            a->quiet = 1;
        } else if (i + 1 < argc && parse_opt(a, argv[i], argv[i + 1]) == 0) {
            i++;
        } else {
            fprintf(stderr, "gen: bad option %s\n", argv[i]);
            return -1;
        }
    }
    if (strcmp(a->format, "jsonl") && strcmp(a->format, "raw") && strcmp(a->format, "both") &&
        strcmp(a->format, "none")) {
        fprintf(stderr, "gen: bad --format %s\n", a->format);
        return -1;
    }
    return 0;
}

static FILE *open_out(const char *prefix, const char *ext)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s%s", prefix, ext);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
    }
    return f;
}

static int close_out(struct out *o)
{
    out_flush(o);
    int bad = o->err;
    if (o->f != NULL && fclose(o->f) != 0) {
        bad = 1;
    }
    clew_free(o->buf);
    return bad;
}

/* Generates every record into the open outputs; returns clew_gen_next's
 * last result (0 = done). */
struct stats {
    uint64_t count, noid;
    int64_t first, last;
};

static int run(struct clew_gen *g, struct out *js, struct out *raw, struct stats *st)
{
    struct clew_record r;
    struct clew_gen_truth t;
    struct tsfmt tj = { 0 }, tr = { 0 };
    int rc;
    while ((rc = clew_gen_next(g, &r)) == 1) {
        clew_gen_record_truth(g, &t);
        st->first = st->count++ == 0 ? r.ts : st->first;
        st->last = r.ts;
        st->noid += !t.carries_id;
        if (js->f != NULL) {
            write_jsonl(js, &tj, &r);
        }
        if (raw->f != NULL) {
            write_raw(raw, &tr, &r);
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = { .quiet = 0 };
    char lh[4096], err[CLEW_ERR_LEN] = "";
    struct out js = { 0 }, raw = { 0 };
    FILE *truth = NULL;
    struct clew_gen *g = NULL;
    struct stats st = { 0 };
    int rc = 1;
    if (parse_args(&a, argc, argv) != 0) {
        usage();
        return 2;
    }
    a.o.loghub_dir =
        a.loghub ? (strcmp(a.loghub, "none") ? a.loghub : NULL) : default_loghub(lh, sizeof(lh));
    if (a.o.loghub_dir == NULL && a.loghub == NULL) {
        fprintf(stderr, "gen: Loghub samples not found, using built-in lines only\n");
    }
    if (a.truth != NULL && (truth = a.o.truth = fopen(a.truth, "wb")) == NULL) {
        fprintf(stderr, "gen: %s: %s\n", a.truth, strerror(errno));
        return 1;
    }
    int both = strcmp(a.format, "both") == 0;
    if ((both || strcmp(a.format, "jsonl") == 0) && (js.f = open_out(a.prefix, ".jsonl")) == NULL) {
        goto done;
    }
    if ((both || strcmp(a.format, "raw") == 0) && (raw.f = open_out(a.prefix, ".log")) == NULL) {
        goto done;
    }
    js.buf = clew_malloc(OUT_CAP);
    raw.buf = clew_malloc(OUT_CAP);
    if (js.buf == NULL || raw.buf == NULL) {
        goto done;
    }
    int grc = clew_gen_new(&a.o, &g, err);
    if (grc != 0) {
        fprintf(stderr, "gen: %s\n", err);
        goto done;
    }
    int64_t t0 = clew_time_mono_ns();
    grc = run(g, &js, &raw, &st);
    double secs = (double)(clew_time_mono_ns() - t0) / 1e9;
    if (grc < 0) {
        fprintf(stderr, "gen: %s\n", clew_strerror(grc));
        goto done;
    }
    rc = 0;
    if (!a.quiet) {
        fprintf(stderr,
                "gen: %llu records in %.3f s (%.0f records/s); %.1f %% without id; "
                "%.1f s of simulated time\n",
                (unsigned long long)st.count, secs, secs > 0 ? (double)st.count / secs : 0.0,
                st.count ? 100.0 * (double)st.noid / (double)st.count : 0.0,
                (double)(st.last - st.first) / 1e9);
    }
done:
    clew_gen_free(g);
    rc |= close_out(&js) | close_out(&raw);
    if (truth != NULL && fclose(truth) != 0) {
        rc = 1;
    }
    return rc;
}
