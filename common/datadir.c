/* SPDX-License-Identifier: MIT */
#include "common/datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clew/error.h"
#include "common/alloc.h"
#include "common/timeutil.h"

static int fit(int n, size_t len)
{
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : n;
}

int clew_dd_wal_dir(const char *data, char *buf, size_t len)
{
    return fit(snprintf(buf, len, "%s/wal", data), len);
}

int clew_dd_hour_dir(const char *data, int64_t ts, char *buf, size_t len)
{
    int64_t hour = clew_hour_floor(ts) / CLEW_NS_PER_HOUR;
    int64_t days = hour >= 0 ? hour / 24 : (hour - 23) / 24;
    int64_t y;
    unsigned m, d;
    clew_civil_from_days(days, &y, &m, &d);
    return fit(snprintf(buf, len, "%s/%04lld-%02u-%02u/%02u", data, (long long)y, m, d,
                        (unsigned)(hour - days * 24)),
               len);
}

int clew_dd_segment_path(const char *data, int64_t first_ts, uint64_t gen, char *buf, size_t len)
{
    int n = clew_dd_hour_dir(data, first_ts, buf, len);
    if (n < 0) {
        return n;
    }
    return fit(
        n + snprintf(buf + n, len - (size_t)n, "/%019" PRId64 "-%016" PRIx64 ".seg", first_ts, gen),
        len);
}

int clew_dd_parse_segment_name(const char *name, int64_t *first_ts, uint64_t *gen)
{
    char *end;
    errno = 0;
    long long ts = strtoll(name, &end, 10);
    if (end == name || *end != '-' || errno != 0) {
        return CLEW_EFORMAT;
    }
    const char *g = end + 1;
    unsigned long long gv = strtoull(g, &end, 16);
    if (end - g != 16 || strcmp(end, ".seg") != 0 || errno != 0) {
        return CLEW_EFORMAT;
    }
    *first_ts = ts;
    *gen = gv;
    return 0;
}

int clew_dd_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int clew_dd_mkdirs(const char *path)
{
    char tmp[CLEW_PATH_MAX];
    if (fit(snprintf(tmp, sizeof(tmp), "%s", path), sizeof(tmp)) < 0) {
        return -ENAMETOOLONG;
    }
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0755) == 0) {
            /* A new directory is durable once its parent is synced. */
            char *slash = strrchr(tmp, '/');
            if (slash != NULL && slash != tmp) {
                *slash = '\0';
                clew_dd_fsync_dir(tmp);
                *slash = '/';
            }
        } else if (errno != EEXIST) {
            return -errno;
        }
        *p = c;
        if (c == '\0') {
            return 0;
        }
    }
}

static int is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* Parses "YYYY-MM-DD" into days since the epoch. */
static int parse_day(const char *s, int64_t *days)
{
    if (strlen(s) != 10 || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' ||
        !is_digits(s + 8, 2)) {
        return -1;
    }
    unsigned m = (unsigned)atoi(s + 5), d = (unsigned)atoi(s + 8);
    if (m < 1 || m > 12 || d < 1 || d > 31) {
        return -1;
    }
    *days = clew_days_from_civil(atoi(s), m, d);
    return 0;
}

static int push_i64(int64_t **arr, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        int64_t *a = clew_realloc(*arr, c * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Adds the hours of one day directory that overlap [since, until]. */
static int scan_day(const char *data, const char *day, int64_t days, int64_t since, int64_t until,
                    int64_t **hours, size_t *n, size_t *cap)
{
    char path[CLEW_PATH_MAX];
    if (fit(snprintf(path, sizeof(path), "%s/%s", data, day), sizeof(path)) < 0) {
        return -ENAMETOOLONG;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 2 || !is_digits(e->d_name, 2) || atoi(e->d_name) > 23) {
            continue;
        }
        int64_t h = (days * 24 + atoi(e->d_name)) * CLEW_NS_PER_HOUR;
        if (h + CLEW_NS_PER_HOUR > since && h <= until) {
            rc = push_i64(hours, n, cap, h);
        }
    }
    closedir(d);
    return rc;
}

int clew_dd_list_hours(const char *data, int64_t since, int64_t until, int64_t **hours, size_t *n)
{
    *hours = NULL;
    *n = 0;
    size_t cap = 0;
    DIR *d = opendir(data);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        int64_t days;
        if (parse_day(e->d_name, &days) < 0) {
            continue;
        }
        if ((days + 1) * 24 * CLEW_NS_PER_HOUR <= since || days * 24 * CLEW_NS_PER_HOUR > until) {
            continue;
        }
        rc = scan_day(data, e->d_name, days, since, until, hours, n, &cap);
    }
    closedir(d);
    if (rc < 0) {
        clew_free(*hours);
        *hours = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1) {
        qsort(*hours, *n, sizeof(**hours), cmp_i64);
    }
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct clew_dd_segment *x = a, *y = b;
    if (x->first_ts != y->first_ts) {
        return (x->first_ts > y->first_ts) - (x->first_ts < y->first_ts);
    }
    return (x->gen > y->gen) - (x->gen < y->gen);
}

int clew_dd_list_segments(const char *data, int64_t hour, struct clew_dd_segment **segs, size_t *n)
{
    *segs = NULL;
    *n = 0;
    char dir[CLEW_PATH_MAX];
    int rc = clew_dd_hour_dir(data, hour, dir, sizeof(dir));
    if (rc < 0) {
        return rc;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    size_t cap = 0;
    struct dirent *e;
    rc = 0;
    while ((e = readdir(d)) != NULL) {
        struct clew_dd_segment s;
        if (clew_dd_parse_segment_name(e->d_name, &s.first_ts, &s.gen) < 0) {
            continue;
        }
        if (fit(snprintf(s.path, sizeof(s.path), "%s/%s", dir, e->d_name), sizeof(s.path)) < 0) {
            continue;
        }
        if (*n == cap) {
            size_t c = cap ? cap * 2 : 16;
            struct clew_dd_segment *a = clew_realloc(*segs, c * sizeof(*a));
            if (a == NULL) {
                rc = -ENOMEM;
                break;
            }
            *segs = a;
            cap = c;
        }
        (*segs)[(*n)++] = s;
    }
    closedir(d);
    if (rc < 0) {
        clew_free(*segs);
        *segs = NULL;
        *n = 0;
        return rc;
    }
    if (*n > 1) {
        qsort(*segs, *n, sizeof(**segs), cmp_seg);
    }
    return 0;
}

int clew_dd_remove_hour(const char *data, int64_t hour)
{
    char dir[CLEW_PATH_MAX];
    int rc = clew_dd_hour_dir(data, hour, dir, sizeof(dir));
    if (rc < 0) {
        return rc;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    struct dirent *e;
    char path[CLEW_PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (fit(snprintf(path, sizeof(path), "%s/%s", dir, e->d_name), sizeof(path)) >= 0) {
            unlink(path);
        }
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT) {
        return -errno;
    }
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    rmdir(dir); /* the day directory, if this was its last hour */
    clew_dd_fsync_dir(data);
    return 0;
}
