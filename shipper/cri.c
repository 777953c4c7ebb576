/* SPDX-License-Identifier: MIT */
#include "shipper/cri.h"

#include <string.h>

#include "clew/error.h"
#include "common/timeutil.h"
#include "shipper/docker_json.h"

int clew_cri_line_parse(const char *line, size_t len, struct clew_cri_line *out)
{
    memset(out, 0, sizeof(*out));
    const char *end = line + len;
    const char *sp = memchr(line, ' ', len);
    if (sp == NULL || clew_time_parse_rfc3339(line, (size_t)(sp - line), &out->ts) < 0) {
        return CLEW_EFORMAT;
    }
    const char *p = sp + 1;
    if (end - p >= 7 && memcmp(p, "stdout ", 7) == 0) {
        out->stream = CLEW_SHIP_STDOUT;
    } else if (end - p >= 7 && memcmp(p, "stderr ", 7) == 0) {
        out->stream = CLEW_SHIP_STDERR;
    } else {
        return CLEW_EFORMAT;
    }
    p += 7;
    if (p == end || (*p != 'P' && *p != 'F')) {
        return CLEW_EFORMAT;
    }
    out->complete = *p == 'F';
    p++;
    if (p < end && *p == ':') { /* reserved tags: ignored */
        const char *q = memchr(p, ' ', (size_t)(end - p));
        p = q ? q : end;
    }
    if (p == end) {
        out->no_delim = 1;
        out->content = (struct clew_str){ end, 0 };
        return 0;
    }
    if (*p != ' ') {
        return CLEW_EFORMAT;
    }
    out->content = (struct clew_str){ p + 1, (size_t)(end - p - 1) };
    return 0;
}

/* The start of the n-th path component counted from the end (0 = last) of
 * path[0..len); *clen gets its length. NULL when there are fewer. */
static const char *component(const char *path, size_t len, int n, size_t *clen)
{
    size_t end = len;
    while (1) {
        size_t start = end;
        while (start > 0 && path[start - 1] != '/') {
            start--;
        }
        if (n-- == 0) {
            *clen = end - start;
            return end > start ? path + start : NULL;
        }
        if (start == 0) {
            return NULL;
        }
        end = start - 1;
    }
}

static int parse_int(const char *p, size_t n)
{
    int v = 0;
    if (n == 0 || n > 9) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* The ".log" of "<n>.log" or of a rotated "<n>.log.<suffix>" (kubelet's
 * ".20240115-103000", ".20240115-103000.gz"); NULL when absent. */
static const char *log_ext(const char *f, size_t fl)
{
    for (size_t i = 1; i + 4 <= fl; i++) {
        if (memcmp(f + i, ".log", 4) == 0 && (i + 4 == fl || f[i + 4] == '.')) {
            return f + i;
        }
    }
    return NULL;
}

int clew_cri_path_parse(const char *path, size_t len, struct clew_cri_meta *out)
{
    memset(out, 0, sizeof(*out));
    out->restart = -1;
    size_t fl, cl, dl;
    const char *file = component(path, len, 0, &fl);
    const char *cont = component(path, len, 1, &cl);
    const char *dir = component(path, len, 2, &dl);
    const char *ext = file ? log_ext(file, fl) : NULL;
    if (!ext || !cont || !dir) {
        return CLEW_EFORMAT;
    }
    const char *u1 = memchr(dir, '_', dl);
    const char *u2 = u1 ? memchr(u1 + 1, '_', (size_t)(dir + dl - u1 - 1)) : NULL;
    if (!u2 || u1 == dir || u2 == u1 + 1 || u2 + 1 == dir + dl ||
        memchr(u2 + 1, '_', (size_t)(dir + dl - u2 - 1)) != NULL) {
        return CLEW_EFORMAT;
    }
    out->namespace_ = (struct clew_str){ dir, (size_t)(u1 - dir) };
    out->pod = (struct clew_str){ u1 + 1, (size_t)(u2 - u1 - 1) };
    out->uid = (struct clew_str){ u2 + 1, (size_t)(dir + dl - u2 - 1) };
    out->container = (struct clew_str){ cont, cl };
    out->restart = parse_int(file, (size_t)(ext - file));
    return 0;
}

int clew_cri_link_parse(const char *path, size_t len, struct clew_cri_meta *out)
{
    memset(out, 0, sizeof(*out));
    out->restart = -1;
    size_t fl;
    const char *f = component(path, len, 0, &fl);
    if (!f || fl < 5 || memcmp(f + fl - 4, ".log", 4) != 0) {
        return CLEW_EFORMAT;
    }
    fl -= 4;
    const char *dash = NULL;
    for (size_t i = fl; i > 0; i--) {
        if (f[i - 1] == '-') {
            dash = f + i - 1;
            break;
        }
    }
    if (dash == NULL || dash + 1 == f + fl) {
        return CLEW_EFORMAT;
    }
    out->container_id = (struct clew_str){ dash + 1, (size_t)(f + fl - dash - 1) };
    size_t rl = (size_t)(dash - f);
    const char *u1 = memchr(f, '_', rl);
    const char *u2 = u1 ? memchr(u1 + 1, '_', (size_t)(f + rl - u1 - 1)) : NULL;
    if (!u2 || u1 == f || u2 == u1 + 1 || u2 + 1 == f + rl ||
        memchr(u2 + 1, '_', (size_t)(f + rl - u2 - 1)) != NULL) {
        return CLEW_EFORMAT;
    }
    out->pod = (struct clew_str){ f, (size_t)(u1 - f) };
    out->namespace_ = (struct clew_str){ u1 + 1, (size_t)(u2 - u1 - 1) };
    out->container = (struct clew_str){ u2 + 1, (size_t)(f + rl - u2 - 1) };
    return 0;
}
