/* SPDX-License-Identifier: MIT
 * clew stats: what a data directory holds: partitions, segments, records,
 * raw text bytes against stored bytes, and what waits in the WAL. Reads
 * only segment footers and the WAL. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <stddef.h>

#include "common/alloc.h"
#include "common/datadir.h"
#include "common/json_scan.h"
#include "common/rec_codec.h"
#include "common/timeutil.h"
#include "common/wal_read.h"
#include "query/cli.h"
#include "query/http_client.h"
#include "query/seg_reader.h"

struct stats {
    uint64_t partitions, segments, damaged, seg_records, seg_raw, seg_bytes;
    uint64_t wal_files, wal_records, wal_raw, wal_bytes;
    int64_t first_ts, last_ts;
    int quiet; /* damaged segments are only counted (clewd's /api/v1/stats) */
};

static void see_ts(struct stats *st, int64_t lo, int64_t hi)
{
    st->first_ts = lo < st->first_ts ? lo : st->first_ts;
    st->last_ts = hi > st->last_ts ? hi : st->last_ts;
}

static int add_segments(const char *data, struct stats *st)
{
    int64_t *hours;
    size_t nh;
    int rc = clew_dd_list_hours(data, INT64_MIN, INT64_MAX, &hours, &nh);
    for (size_t h = 0; rc == 0 && h < nh; h++) {
        struct clew_dd_segment *segs;
        size_t ns;
        st->partitions++;
        if ((rc = clew_dd_list_segments(data, hours[h], &segs, &ns)) < 0) {
            break;
        }
        for (size_t i = 0; i < ns; i++) {
            char err[CLEW_ERR_LEN];
            struct clew_seg *seg;
            if (clew_seg_open(segs[i].path, &seg, err) < 0) {
                if (!st->quiet) {
                    fprintf(stderr, "clew stats: %s (skipped)\n", err);
                }
                st->damaged++;
                continue;
            }
            const struct clew_seg_info *in = clew_seg_get_info(seg);
            st->segments++;
            st->seg_records += in->records;
            st->seg_raw += in->raw_bytes;
            st->seg_bytes += in->file_bytes;
            see_ts(st, in->min_ts, in->max_ts);
            clew_seg_free(seg);
        }
        clew_free(segs);
    }
    clew_free(hours);
    return rc;
}

static int count_wal_record(void *ud, uint64_t gen, const struct clew_record *r)
{
    struct stats *st = ud;
    (void)gen;
    st->wal_records++;
    st->wal_raw += clew_rec_raw_size(r);
    see_ts(st, r->ts, r->ts);
    return 0;
}

static int add_wal(const char *data, struct stats *st)
{
    char dir[CLEW_PATH_MAX], path[CLEW_PATH_MAX], err[CLEW_ERR_LEN];
    uint64_t *gens;
    size_t n;
    int rc = clew_dd_wal_dir(data, dir, sizeof(dir));
    if (rc < 0 || (rc = clew_wal_list(dir, &gens, &n)) < 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct clew_wal_replay_stats rs;
        struct stat sb;
        if (clew_wal_path(dir, gens[i], path, sizeof(path)) < 0 || stat(path, &sb) < 0) {
            continue; /* sealed and removed meanwhile */
        }
        st->wal_files++;
        st->wal_bytes += (uint64_t)sb.st_size;
        clew_wal_replay(path, 0, count_wal_record, st, &rs, err);
    }
    clew_free(gens);
    return 0;
}

static void print_text(const char *data, const struct stats *st)
{
    char a[32], b[32], t0[40] = "-", t1[40] = "-";
    uint64_t raw = st->seg_raw + st->wal_raw, stored = st->seg_bytes + st->wal_bytes;
    if (st->first_ts <= st->last_ts) {
        clew_time_format(st->first_ts, 3, t0, sizeof(t0));
        clew_time_format(st->last_ts, 3, t1, sizeof(t1));
    }
    printf("data        %s\n", data);
    printf("time        %s .. %s\n", t0, t1);
    printf("partitions  %" PRIu64 " hours\n", st->partitions);
    printf("segments    %" PRIu64 "%s\n", st->segments, st->damaged ? " (and damaged ones)" : "");
    printf("records     %" PRIu64 " (segments %" PRIu64 ", wal %" PRIu64 ")\n",
           st->seg_records + st->wal_records, st->seg_records, st->wal_records);
    printf("raw         %s\n", clew_cli_bytes(raw, a, sizeof(a)));
    printf("stored      %s (segments %s", clew_cli_bytes(stored, a, sizeof(a)),
           clew_cli_bytes(st->seg_bytes, b, sizeof(b)));
    printf(", wal %s in %" PRIu64 " files)\n", clew_cli_bytes(st->wal_bytes, a, sizeof(a)),
           st->wal_files);
    printf("ratio       %.2fx (segments %.2fx)\n", stored ? (double)raw / (double)stored : 0.0,
           st->seg_bytes ? (double)st->seg_raw / (double)st->seg_bytes : 0.0);
    if (st->seg_records > 0) {
        printf("per record  %.1f bytes stored, %.1f raw\n",
               (double)st->seg_bytes / (double)st->seg_records,
               (double)st->seg_raw / (double)st->seg_records);
    }
}

/* The `clew stats --json` object, without a newline. */
static int render_json(const struct stats *st, struct clew_buf *b)
{
    uint64_t raw = st->seg_raw + st->wal_raw, stored = st->seg_bytes + st->wal_bytes;
    char num[512], t[2][48] = { "null", "null" };
    for (int i = 0; i < 2 && st->first_ts <= st->last_ts; i++) {
        t[i][0] = '"';
        int n = clew_time_format(i ? st->last_ts : st->first_ts, 9, t[i] + 1, sizeof(t[i]) - 2);
        t[i][n + 1] = '"';
        t[i][n + 2] = '\0';
    }
    int n = snprintf(
        num, sizeof(num),
        "{\"partitions\":%" PRIu64 ",\"segments\":%" PRIu64 ",\"damaged_segments\":%" PRIu64
        ",\"records\":%" PRIu64 ",\"segment_records\":%" PRIu64 ",\"wal_records\":%" PRIu64
        ",\"wal_files\":%" PRIu64 ",\"raw_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
        ",\"segment_bytes\":%" PRIu64 ",\"wal_bytes\":%" PRIu64 ",\"segment_raw_bytes\":%" PRIu64
        ",\"ratio\":%.4f,\"first_ts\":%s,\"last_ts\":%s}",
        st->partitions, st->segments, st->damaged, st->seg_records + st->wal_records,
        st->seg_records, st->wal_records, st->wal_files, raw, stored, st->seg_bytes, st->wal_bytes,
        st->seg_raw, stored ? (double)raw / (double)stored : 0.0, t[0], t[1]);
    return clew_buf_append(b, num, (size_t)n);
}

/* Reads the footers and the WAL of data into st. Returns 0 or -1 with err set. */
static int collect(const char *data, struct stats *st, char err[CLEW_ERR_LEN])
{
    struct stat sb;
    if (stat(data, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, CLEW_ERR_LEN, "%s: not a data directory", data);
        return -1;
    }
    int rc = add_segments(data, st);
    if (rc == 0) {
        rc = add_wal(data, st);
    }
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s", data, strerror(-rc));
        return -1;
    }
    return 0;
}

int clew_stats_json(const char *data, struct clew_buf *out, char err[CLEW_ERR_LEN])
{
    struct stats st = { .first_ts = INT64_MAX, .last_ts = INT64_MIN, .quiet = 1 };
    if (collect(data, &st, err) < 0) {
        return CLEW_EBADARG;
    }
    int rc = render_json(&st, out);
    rc = rc ? rc : clew_buf_put_u8(out, '\n');
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
    }
    return rc;
}

/* ---- --server: GET /api/v1/stats, the text rendered here from the object */

static int stats_member(struct stats *st, const struct clew_json_val *k,
                        const struct clew_json_val *v)
{
    static const struct {
        const char *key;
        size_t off;
    } u64s[] = {
        { "partitions", offsetof(struct stats, partitions) },
        { "segments", offsetof(struct stats, segments) },
        { "damaged_segments", offsetof(struct stats, damaged) },
        { "segment_records", offsetof(struct stats, seg_records) },
        { "wal_records", offsetof(struct stats, wal_records) },
        { "wal_files", offsetof(struct stats, wal_files) },
        { "segment_bytes", offsetof(struct stats, seg_bytes) },
        { "wal_bytes", offsetof(struct stats, wal_bytes) },
        { "segment_raw_bytes", offsetof(struct stats, seg_raw) },
        { "raw_bytes", offsetof(struct stats, wal_raw) }, /* minus seg_raw, below */
    };
    size_t klen = k->len - 2;
    int64_t n;
    for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++) {
        if (strlen(u64s[i].key) == klen && memcmp(k->ptr + 1, u64s[i].key, klen) == 0) {
            if (clew_json_num_i64(v, &n) < 0 || n < 0) {
                return -1;
            }
            *(uint64_t *)(void *)((char *)st + u64s[i].off) = (uint64_t)n;
        }
    }
    int first = klen == 8 && memcmp(k->ptr + 1, "first_ts", 8) == 0;
    if ((first || (klen == 7 && memcmp(k->ptr + 1, "last_ts", 7) == 0)) &&
        v->kind == CLEW_JSON_STRING) {
        return clew_time_parse_rfc3339(v->ptr + 1, v->len - 2,
                                       first ? &st->first_ts : &st->last_ts);
    }
    return 0;
}

static int parse_stats(const struct clew_buf *b, struct stats *st)
{
    struct clew_json_scan sc;
    struct clew_json_val k, v;
    clew_json_scan_init(&sc, b->data, b->len, 0, 0);
    int rc = clew_json_scan_enter(&sc) == CLEW_JSON_OBJECT ? 1 : -1;
    while (rc == 1 && (rc = clew_json_scan_member(&sc, &k, &v)) == 1) {
        rc = stats_member(st, &k, &v) < 0 ? -1 : 1;
    }
    st->wal_raw -= st->wal_raw >= st->seg_raw ? st->seg_raw : st->wal_raw;
    return rc;
}

static int stats_remote(const char *server, const char *token, int json)
{
    struct clew_http_req req = { server, "/api/v1/stats", token };
    struct clew_buf b;
    char err[CLEW_ERR_LEN];
    clew_buf_init(&b);
    int rc = clew_http_get(&req, &b, NULL, err);
    struct stats st = { .first_ts = INT64_MAX, .last_ts = INT64_MIN };
    if (rc == 0 && !json && parse_stats(&b, &st) < 0) {
        snprintf(err, sizeof(err), "clewd at %s: unexpected /api/v1/stats answer", server);
        rc = CLEW_EFORMAT;
    }
    if (rc == 0 && json) {
        fwrite(b.data, 1, b.len, stdout);
    } else if (rc == 0) {
        print_text(server, &st);
    }
    clew_buf_close(&b);
    if (rc < 0) {
        fprintf(stderr, "clew stats: %s\n", err);
        return CLEW_EXIT_ERROR;
    }
    return 0;
}

enum { OPT_DATA = 1, OPT_SERVER, OPT_JSON, OPT_TOKEN, OPT_HELP };

int clew_cmd_stats(int argc, char **argv)
{
    static const struct clew_cli_opt opts[] = {
        { "data", 0, 1, OPT_DATA },   { "server", 0, 1, OPT_SERVER }, { "json", 0, 0, OPT_JSON },
        { "token", 0, 1, OPT_TOKEN }, { "help", 'h', 0, OPT_HELP },
    };
    struct clew_cli_args a = { argc, argv, 1, NULL, 0 };
    struct clew_cli_source src = { NULL, NULL };
    int json = 0, id;
    const char *v, *token = NULL;
    while ((id = clew_cli_next(&a, opts, sizeof(opts) / sizeof(opts[0]), "clew stats", &v)) != -1) {
        switch (id) {
        case OPT_DATA:
            src.data = v;
            break;
        case OPT_SERVER:
            src.server = v;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case OPT_TOKEN:
            token = v;
            break;
        case OPT_HELP:
            printf("usage: clew stats [--json] [--data DIR | --server URL [--token T]]\n");
            return 0;
        default:
            if (id == 0) {
                fprintf(stderr, "clew stats: unexpected argument '%s'\n", v);
            }
            return CLEW_EXIT_ERROR;
        }
    }
    clew_cli_source_resolve(&src);
    if (src.data == NULL) {
        return stats_remote(src.server, token, json);
    }
    char err[CLEW_ERR_LEN];
    struct stats st = { .first_ts = INT64_MAX, .last_ts = INT64_MIN };
    if (collect(src.data, &st, err) < 0) {
        fprintf(stderr, "clew stats: %s\n", err);
        return CLEW_EXIT_ERROR;
    }
    if (json) {
        struct clew_buf b;
        clew_buf_init(&b);
        int rc = render_json(&st, &b);
        if (rc == 0) {
            printf("%.*s\n", (int)b.len, (const char *)b.data);
        }
        clew_buf_close(&b);
    } else {
        print_text(src.data, &st);
    }
    return 0;
}
