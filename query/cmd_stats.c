/* SPDX-License-Identifier: MIT
 * clew stats: what a data directory holds: partitions, segments, records,
 * raw text bytes against stored bytes, and what waits in the WAL. Reads
 * only segment footers and the WAL. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/datadir.h"
#include "common/rec_codec.h"
#include "common/timeutil.h"
#include "common/wal_read.h"
#include "query/cli.h"
#include "query/seg_reader.h"

struct stats {
    uint64_t partitions, segments, damaged, seg_records, seg_raw, seg_bytes;
    uint64_t wal_files, wal_records, wal_raw, wal_bytes;
    int64_t first_ts, last_ts;
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
                fprintf(stderr, "clew stats: %s (skipped)\n", err);
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

static void print_json(const struct stats *st)
{
    uint64_t raw = st->seg_raw + st->wal_raw, stored = st->seg_bytes + st->wal_bytes;
    printf("{\"partitions\":%" PRIu64 ",\"segments\":%" PRIu64 ",\"damaged_segments\":%" PRIu64
           ",\"records\":%" PRIu64 ",\"segment_records\":%" PRIu64 ",\"wal_records\":%" PRIu64
           ",\"wal_files\":%" PRIu64 ",\"raw_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
           ",\"segment_bytes\":%" PRIu64 ",\"wal_bytes\":%" PRIu64 ",\"ratio\":%.4f}\n",
           st->partitions, st->segments, st->damaged, st->seg_records + st->wal_records,
           st->seg_records, st->wal_records, st->wal_files, raw, stored, st->seg_bytes,
           st->wal_bytes, stored ? (double)raw / (double)stored : 0.0);
}

enum { OPT_DATA = 1, OPT_SERVER, OPT_JSON, OPT_HELP };

int clew_cmd_stats(int argc, char **argv)
{
    static const struct clew_cli_opt opts[] = {
        { "data", 0, 1, OPT_DATA },
        { "server", 0, 1, OPT_SERVER },
        { "json", 0, 0, OPT_JSON },
        { "help", 'h', 0, OPT_HELP },
    };
    struct clew_cli_args a = { argc, argv, 1, NULL, 0 };
    struct clew_cli_source src = { NULL, NULL };
    int json = 0, id;
    const char *v;
    while ((id = clew_cli_next(&a, opts, 4, "clew stats", &v)) != -1) {
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
        case OPT_HELP:
            printf("usage: clew stats [--json] [--data DIR | --server URL]\n");
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
        fprintf(stderr, "clew stats: --server is not supported yet; use --data DIR\n");
        return CLEW_EXIT_ERROR;
    }
    struct stat sb;
    if (stat(src.data, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "clew stats: %s: not a data directory\n", src.data);
        return CLEW_EXIT_ERROR;
    }
    struct stats st = { .first_ts = INT64_MAX, .last_ts = INT64_MIN };
    int rc = add_segments(src.data, &st);
    if (rc == 0) {
        rc = add_wal(src.data, &st);
    }
    if (rc < 0) {
        fprintf(stderr, "clew stats: %s: %s\n", src.data, strerror(-rc));
        return CLEW_EXIT_ERROR;
    }
    if (json) {
        print_json(&st);
    } else {
        print_text(src.data, &st);
    }
    return 0;
}
