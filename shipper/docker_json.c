/* SPDX-License-Identifier: MIT */
#include "shipper/docker_json.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/json_scan.h"
#include "common/timeutil.h"

#define SCAN_OPTS    (CLEW_JSON_REPAIR | CLEW_JSON_NO_NUL_KEY)
#define MAX_META_LEN (4u << 20)

static int key_is(const struct clew_json_val *k, const char *lit, size_t n)
{
    return !(k->flags & (CLEW_JSON_F_ESC | CLEW_JSON_F_FIX)) && k->len == n + 2 &&
           memcmp(k->ptr + 1, lit, n) == 0;
}

/* The decoded bytes of string v: its raw bytes when it needs no decoding,
 * else decoded into scratch (which has room reserved: pointers never move). */
static struct clew_str str_of(const struct clew_json_val *v, struct clew_buf *scratch)
{
    if (!(v->flags & (CLEW_JSON_F_ESC | CLEW_JSON_F_FIX))) {
        return (struct clew_str){ v->ptr + 1, v->len - 2 };
    }
    char *dst = (char *)scratch->data + scratch->len;
    size_t n = clew_json_str_decode(v, dst);
    scratch->len += n;
    return (struct clew_str){ dst, n };
}

static int parse_attrs(struct clew_json_scan *s, struct clew_buf *scratch,
                       struct clew_docker_line *out)
{
    if (clew_json_scan_enter(s) != CLEW_JSON_OBJECT) {
        return CLEW_EFORMAT;
    }
    struct clew_json_val k, v;
    int rc;
    while ((rc = clew_json_scan_member(s, &k, &v)) == 1) {
        if (v.kind != CLEW_JSON_STRING) {
            continue;
        }
        if (out->nattrs == CLEW_DOCKER_MAX_ATTRS) {
            out->nattrs_dropped++;
            continue;
        }
        out->attr_keys[out->nattrs] = str_of(&k, scratch);
        out->attr_vals[out->nattrs] = str_of(&v, scratch);
        out->nattrs++;
    }
    return rc == 0 ? 0 : CLEW_EFORMAT;
}

static int parse_member(struct clew_json_scan *s, const struct clew_json_val *k,
                        struct clew_buf *scratch, struct clew_docker_line *out, unsigned *seen)
{
    if (key_is(k, "attrs", 5)) {
        return parse_attrs(s, scratch, out);
    }
    struct clew_json_val v;
    if (clew_json_scan_value(s, &v) < 0) {
        return CLEW_EFORMAT;
    }
    if (key_is(k, "log", 3)) {
        if (v.kind != CLEW_JSON_STRING) {
            return CLEW_EFORMAT;
        }
        out->content = str_of(&v, scratch);
        *seen |= 1;
    } else if (key_is(k, "stream", 6)) {
        if (key_is(&v, "stdout", 6)) {
            out->stream = CLEW_SHIP_STDOUT;
        } else if (key_is(&v, "stderr", 6)) {
            out->stream = CLEW_SHIP_STDERR;
        } else {
            return CLEW_EFORMAT;
        }
        *seen |= 2;
    } else if (key_is(k, "time", 4)) {
        if (v.kind != CLEW_JSON_STRING ||
            clew_time_parse_rfc3339(v.ptr + 1, v.len - 2, &out->ts) < 0) {
            return CLEW_EFORMAT;
        }
        *seen |= 4;
    }
    return 0;
}

int clew_docker_line_parse(const char *line, size_t len, struct clew_buf *scratch,
                           struct clew_docker_line *out)
{
    memset(out, 0, sizeof(*out));
    clew_buf_reset(scratch);
    /* Decoding never grows a string by more than 3x (a bad byte becomes
     * U+FFFD), so this one reservation keeps every pointer stable. */
    if (clew_buf_reserve(scratch, 3 * len + 16) < 0) {
        return -ENOMEM;
    }
    struct clew_json_scan s;
    clew_json_scan_init(&s, line, len, SCAN_OPTS, 8);
    if (clew_json_scan_enter(&s) != CLEW_JSON_OBJECT) {
        return CLEW_EFORMAT;
    }
    struct clew_json_val k;
    unsigned seen = 0;
    int rc;
    while ((rc = clew_json_scan_key(&s, &k)) == 1) {
        if ((rc = parse_member(&s, &k, scratch, out, &seen)) < 0) {
            return rc;
        }
    }
    if (rc < 0 || clew_json_scan_end(&s) < 0 || (seen & 6) != 6) {
        return CLEW_EFORMAT;
    }
    /* `log` is omitted only when empty: a fragment with nothing in it. */
    if (out->content.len > 0 && out->content.ptr[out->content.len - 1] == '\n') {
        out->complete = 1;
        out->content.len--;
    }
    return 0;
}

static char *dup_str(json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    return clew_strdup(s);
}

int clew_docker_meta_parse(const char *text, size_t len, struct clew_docker_meta *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(text, len, 0, NULL);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return CLEW_EFORMAT;
    }
    json_t *cfg = json_object_get(root, "Config");
    json_t *labels = json_object_get(cfg, "Labels");
    const char *name = json_string_value(json_object_get(root, "Name"));
    name = name ? name : "";
    out->name = clew_strdup(name[0] == '/' ? name + 1 : name);
    out->image = dup_str(json_object_get(cfg, "Image"));
    out->service = dup_str(json_object_get(labels, "com.docker.compose.service"));
    out->project = dup_str(json_object_get(labels, "com.docker.compose.project"));
    json_decref(root);
    if (!out->name || !out->image || !out->service || !out->project) {
        clew_docker_meta_clear(out);
        return -ENOMEM;
    }
    return 0;
}

int clew_docker_meta_load(const char *path, struct clew_docker_meta *out, char err[CLEW_ERR_LEN])
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, CLEW_ERR_LEN, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    char *text = NULL;
    ssize_t n = 0;
    if (fstat(fd, &st) < 0 || st.st_size > (off_t)MAX_META_LEN) {
        rc = st.st_size > (off_t)MAX_META_LEN ? CLEW_ETOOBIG : -errno;
    } else if ((text = clew_malloc((size_t)st.st_size + 1)) == NULL) {
        rc = -ENOMEM;
    } else if ((n = pread(fd, text, (size_t)st.st_size, 0)) < 0) {
        rc = -errno;
    } else {
        rc = clew_docker_meta_parse(text, (size_t)n, out);
    }
    close(fd);
    clew_free(text);
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s", path, clew_strerror(rc));
    }
    return rc;
}

void clew_docker_meta_clear(struct clew_docker_meta *m)
{
    if (m == NULL) {
        return;
    }
    clew_free(m->name);
    clew_free(m->image);
    clew_free(m->service);
    clew_free(m->project);
    memset(m, 0, sizeof(*m));
}
