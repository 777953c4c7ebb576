/* SPDX-License-Identifier: MIT
 * Rotation names. Docker json-file renames <f> to <f>.1 (older ones count
 * up: .2, .3, ...; with `compress: true` every one but possibly the newest
 * becomes <f>.N.gz). kubelet renames <n>.log to <n>.log.YYYYMMDD-hhmmss and
 * gzips the older ones to <...>.gz through a .tmp file. So the rotation
 * order of two siblings is: Docker, the smaller N is newer; kubelet, the
 * later timestamp is newer. A sibling that is not a rotation name at all
 * ("<f>.r3", as a test or a hand-made rotation writes) has no rank; it is
 * ordered by mtime when found by clew_tail_rotate_since.
 *
 * A gzip file's offsets are those of its decompressed bytes, which are the
 * original file's: a checkpoint offset taken on the plain file applies to
 * its compressed copy unchanged. */
#include "shipper/tail_rotate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clew/error.h"
#include "common/alloc.h"

int clew_tail_rotate_is_gz(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".gz") == 0;
}

int clew_tail_rotate_is_sibling(const char *name, const char *base)
{
    size_t bl = strlen(base), nl = strlen(name);
    if (nl <= bl + 1 || strncmp(name, base, bl) != 0 || name[bl] != '.') {
        return 0;
    }
    return !clew_tail_rotate_is_gz(name) && !(nl > 4 && strcmp(name + nl - 4, ".tmp") == 0);
}

int clew_tail_rotate_rank(const char *name, const char *base, int64_t *out)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || name[bl] != '.') {
        return -1;
    }
    const char *s = name + bl + 1;
    size_t n = strlen(s) - (clew_tail_rotate_is_gz(s) ? 3 : 0);
    int64_t v = 0;
    int dash = 0;
    for (size_t i = 0; i < n && n <= 15; i++) {
        if (s[i] == '-' && i == 8) {
            dash = 1;
        } else if (s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (s[i] - '0');
        } else {
            return -1;
        }
    }
    *out = dash ? v : -v;
    return (dash && n == 15) || (!dash && n > 0 && n <= 9) ? 0 : -1;
}

void clew_tail_rotate_live_name(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    char *slash = strrchr(out, '/');
    char *name = slash ? slash + 1 : out;
    for (char *p = strstr(name, ".log"); p; p = strstr(p + 1, ".log")) {
        if (p[4] == '\0' || p[4] == '.') {
            p[4] = '\0';
            return;
        }
    }
}

void clew_tail_rotate_dir(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash) {
        *slash = '\0';
    }
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

void clew_tail_rotate_sibs_clear(struct clew_tail_sibs *s)
{
    for (size_t i = 0; s->v != NULL && i < s->n; i++) {
        clew_free(s->v[i].path);
    }
    clew_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int cmp_sib(const void *a, const void *b)
{
    const struct clew_tail_sib *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* How a listing selects and orders the entries of a directory. */
struct pick {
    const char *base; /* the live name */
    int64_t since;    /* by mtime: at or after this (rank < 0) */
    int by_rank;      /* by rank: compressed too, newer than after */
    int64_t after;
    clew_tail_rotate_known_cb known;
    void *ud;
};

/* Whether the entry name (at path, stat st) belongs in the list; fills
 * *key. */
static int picked(const struct pick *pk, const char *name, const char *path, const struct stat *st,
                  int64_t *key)
{
    if (!S_ISREG(st->st_mode) ||
        (pk->known != NULL && pk->known(pk->ud, (uint64_t)st->st_dev, (uint64_t)st->st_ino))) {
        return 0;
    }
    if (!pk->by_rank) {
        *key = mtime_ns(st);
        return *key >= pk->since;
    }
    char plain[4400];
    snprintf(plain, sizeof(plain), "%.*s", (int)strlen(path) - 3, path);
    return !clew_tail_rotate_is_gz(name) || access(plain, F_OK) < 0;
}

/* Whether name is a candidate for the listing at all, by name alone. */
static int named(const struct pick *pk, const char *name, int64_t *key)
{
    if (!pk->by_rank) {
        return clew_tail_rotate_is_sibling(name, pk->base);
    }
    return clew_tail_rotate_rank(name, pk->base, key) == 0 && *key > pk->after;
}

static int list(const char *dir, const struct pick *pk, struct clew_tail_sibs *out)
{
    out->v = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    out->v = clew_calloc(CLEW_TAIL_ROTATE_MAX, sizeof(*out->v));
    struct dirent *e;
    int rc = out->v ? 0 : -ENOMEM;
    while (rc == 0 && out->n < CLEW_TAIL_ROTATE_MAX && (e = readdir(d)) != NULL) {
        struct clew_tail_sib *s = &out->v[out->n];
        struct stat st;
        char path[4400];
        if (!named(pk, e->d_name, &s->key)) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) < 0 || !picked(pk, e->d_name, path, &st, &s->key)) {
            continue;
        }
        s->dev = (uint64_t)st.st_dev;
        s->ino = (uint64_t)st.st_ino;
        rc = (s->path = clew_strdup(path)) ? 0 : -ENOMEM;
        out->n += rc == 0;
    }
    closedir(d);
    if (rc < 0 || out->n == 0) {
        clew_tail_rotate_sibs_clear(out); /* an empty list holds nothing */
        return rc;
    }
    qsort(out->v, out->n, sizeof(*out->v), cmp_sib);
    return 0;
}

int clew_tail_rotate_since(const char *live, int64_t since_ns, clew_tail_rotate_known_cb known,
                           void *ud, struct clew_tail_sibs *out)
{
    char dir[4096];
    clew_tail_rotate_dir(live, dir, sizeof(dir));
    struct pick pk = { .base = base_of(live), .since = since_ns, .known = known, .ud = ud };
    return list(dir, &pk, out);
}

int clew_tail_rotate_after(const char *live, const char *path, clew_tail_rotate_known_cb known,
                           void *ud, struct clew_tail_sibs *out)
{
    char dir[4096];
    clew_tail_rotate_dir(live, dir, sizeof(dir));
    struct pick pk = { .base = base_of(live), .by_rank = 1, .known = known, .ud = ud };
    out->v = NULL;
    out->n = 0;
    if (clew_tail_rotate_rank(base_of(path), pk.base, &pk.after) < 0) {
        return 0;
    }
    return list(dir, &pk, out);
}

int clew_tail_rotate_find_inode(const char *old_path, uint64_t dev, uint64_t ino, char *out,
                                size_t len)
{
    char dir[4096], live[4400];
    clew_tail_rotate_dir(old_path, dir, sizeof(dir));
    clew_tail_rotate_live_name(old_path, live, sizeof(live));
    const char *base = base_of(live), *old = base_of(old_path);
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d)) != NULL) {
        struct stat st;
        if (!clew_tail_rotate_is_sibling(e->d_name, base) && strcmp(e->d_name, old) != 0) {
            continue;
        }
        snprintf(out, len, "%s/%s", dir, e->d_name);
        found = stat(out, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
    }
    if (d) {
        closedir(d);
    }
    return found;
}

/* Whether the decompressed head of the gzip file at path has c's
 * fingerprint. */
static int gz_head_matches(const char *path, const struct clew_ckpt_file *c)
{
    uint8_t head[CLEW_CKPT_FP_MAX];
    if (c->fp_len == 0 || c->fp_len > sizeof(head)) {
        return 0;
    }
    gzFile gz = gzopen(path, "rbe");
    if (gz == NULL) {
        return 0;
    }
    int n = gzread(gz, head, c->fp_len);
    int ok = n == (int)c->fp_len && !gzdirect(gz) &&
             clew_ckpt_fingerprint(head, c->fp_len) == c->fp_hash;
    gzclose(gz);
    return ok;
}

int clew_tail_rotate_find_gz(const char *old_path, const struct clew_ckpt_file *c,
                             struct clew_tail_sib *out)
{
    char dir[4096], live[4400], path[8400];
    clew_tail_rotate_dir(old_path, dir, sizeof(dir));
    clew_tail_rotate_live_name(old_path, live, sizeof(live));
    const char *base = base_of(live);
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0, matches = 0;
    while (d && found >= 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, base, bl) != 0 || e->d_name[bl] != '.' ||
            !clew_tail_rotate_is_gz(e->d_name)) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && gz_head_matches(path, c) &&
            ++matches == 1) {
            out->dev = (uint64_t)st.st_dev;
            out->ino = (uint64_t)st.st_ino;
            out->key = 0;
            found = (out->path = clew_strdup(path)) != NULL ? 1 : -ENOMEM;
        }
    }
    if (d) {
        closedir(d);
    }
    if (matches > 1 && found > 0) { /* the head does not tell them apart */
        clew_free(out->path);
        out->path = NULL;
        return 0;
    }
    return found;
}

int clew_tail_rotate_gz_open(int fd, uint8_t *head, uint32_t *head_len, gzFile *out)
{
    *out = NULL;
    *head_len = 0;
    gzFile gz = gzdopen(fd, "rb");
    if (gz == NULL) {
        close(fd);
        return CLEW_EFORMAT;
    }
    /* zlib passes data that is not gzip through as it is (gzdirect). */
    int n = gzread(gz, head, CLEW_CKPT_FP_MAX);
    if (n <= 0 || gzdirect(gz) || gzrewind(gz) != 0) {
        gzclose(gz);
        return CLEW_EFORMAT;
    }
    *head_len = (uint32_t)n;
    *out = gz;
    return 0;
}

int clew_tail_rotate_gz_seek(gzFile gz, uint64_t off)
{
    return gzseek(gz, (z_off_t)off, SEEK_SET) >= 0 ? 0 : CLEW_ECORRUPT;
}
