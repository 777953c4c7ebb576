/* SPDX-License-Identifier: MIT
 *
 * CHECKPOINT FILE FORMAT, version 1: STATE/checkpoint, text, one item a line:
 *
 *   clew-ship checkpoint 1
 *   buffer <acked disk-buffer seq, decimal>
 *   resent <records resent so far, decimal>
 *   file <dev> <ino> <offset> <fp_len> <fp_hash, 16 hex> <read> <path>
 *   ...
 *   sum <XXH3_64bits of every byte before this line, 16 hex>
 *
 * <read> is how far the run that wrote the checkpoint had read and queued
 * (not acknowledged): only for counting what a restart reads again. In
 * <path>, '%' and LF are written as %25 and %0A. A file without the sum
 * line, or whose sum does not match, is rejected (it cannot happen with the
 * rename protocol unless the disk lies). */
#include "shipper/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/alloc.h"

#define MAGIC_LINE   "clew-ship checkpoint 1\n"
#define MAX_CKPT_LEN (64u << 20)

uint64_t clew_ckpt_fingerprint(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

int clew_ckpt_add(struct clew_ckpt *c, const struct clew_ckpt_file *f)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct clew_ckpt_file *nf = clew_realloc(c->files, cap * sizeof(*nf));
        if (nf == NULL) {
            return -ENOMEM;
        }
        c->files = nf;
        c->cap = cap;
    }
    char *p = clew_strdup(f->path ? f->path : "");
    if (p == NULL) {
        return -ENOMEM;
    }
    c->files[c->n] = *f;
    c->files[c->n++].path = p;
    return 0;
}

struct clew_ckpt_file *clew_ckpt_find(struct clew_ckpt *c, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->files[i].dev == dev && c->files[i].ino == ino) {
            return &c->files[i];
        }
    }
    return NULL;
}

void clew_ckpt_clear(struct clew_ckpt *c)
{
    for (size_t i = 0; i < c->n; i++) {
        clew_free(c->files[i].path);
    }
    clew_free(c->files);
    memset(c, 0, sizeof(*c));
}

__attribute__((format(printf, 2, 3))) static int put_line(struct clew_buf *out, const char *fmt,
                                                          ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    return clew_buf_append(out, line, (size_t)n);
}

static int put_path(struct clew_buf *out, const char *p)
{
    int rc = 0;
    for (; *p && rc == 0; p++) {
        if (*p == '%') {
            rc = clew_buf_append(out, "%25", 3);
        } else if (*p == '\n') {
            rc = clew_buf_append(out, "%0A", 3);
        } else {
            rc = clew_buf_put_u8(out, (uint8_t)*p);
        }
    }
    return rc < 0 ? rc : clew_buf_put_u8(out, '\n');
}

int clew_ckpt_encode(const struct clew_ckpt *c, struct clew_buf *out)
{
    size_t start = out->len;
    int rc = clew_buf_append(out, MAGIC_LINE, strlen(MAGIC_LINE));
    rc = rc ? rc
            : put_line(out, "buffer %" PRIu64 "\nresent %" PRIu64 "\n", c->buffer_acked, c->resent);
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        const struct clew_ckpt_file *f = &c->files[i];
        rc = put_line(
            out, "file %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu32 " %016" PRIx64 " %" PRIu64 " ",
            f->dev, f->ino, f->offset, f->fp_len, f->fp_hash, f->read);
        rc = rc ? rc : put_path(out, f->path);
    }
    uint64_t sum = XXH3_64bits(out->data + start, out->len - start);
    rc = rc ? rc : put_line(out, "sum %016" PRIx64 "\n", sum);
    if (rc < 0) {
        out->len = start;
    }
    return rc;
}

static char *unescape_path(const char *p, size_t n)
{
    char *s = clew_malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; s && i < n; i++) {
        if (p[i] == '%' && i + 2 < n && p[i + 1] == '2' && p[i + 2] == '5') {
            s[k++] = '%';
            i += 2;
        } else if (p[i] == '%' && i + 2 < n && p[i + 1] == '0' && p[i + 2] == 'A') {
            s[k++] = '\n';
            i += 2;
        } else {
            s[k++] = p[i];
        }
    }
    if (s) {
        s[k] = '\0';
    }
    return s;
}

/* One "file ..." line (without "file " and the LF). */
static int decode_file(const char *l, size_t n, struct clew_ckpt *out)
{
    char head[160];
    size_t hl = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
    memcpy(head, l, hl);
    head[hl] = '\0';
    struct clew_ckpt_file f = { 0 };
    int used = 0;
    if (sscanf(head, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu32 " %" SCNx64 " %" SCNu64 " %n",
               &f.dev, &f.ino, &f.offset, &f.fp_len, &f.fp_hash, &f.read, &used) != 6 ||
        used == 0 || f.fp_len > CLEW_CKPT_FP_MAX) {
        return CLEW_EFORMAT;
    }
    f.path = unescape_path(l + used, n - (size_t)used);
    if (f.path == NULL) {
        return -ENOMEM;
    }
    int rc = clew_ckpt_add(out, &f);
    clew_free(f.path);
    return rc;
}

static int decode_line(const char *l, size_t n, struct clew_ckpt *out)
{
    char num[32];
    if (n > 5 && memcmp(l, "file ", 5) == 0) {
        return decode_file(l + 5, n - 5, out);
    }
    size_t k = n < sizeof(num) - 1 ? n : sizeof(num) - 1;
    memcpy(num, l, k);
    num[k] = '\0';
    if (sscanf(num, "buffer %" SCNu64, &out->buffer_acked) == 1 ||
        sscanf(num, "resent %" SCNu64, &out->resent) == 1) {
        return 0;
    }
    return CLEW_EFORMAT;
}

int clew_ckpt_decode(const char *text, size_t len, struct clew_ckpt *out)
{
    memset(out, 0, sizeof(*out));
    size_t ml = strlen(MAGIC_LINE);
    if (len < ml || memcmp(text, MAGIC_LINE, ml) != 0) {
        return CLEW_EFORMAT;
    }
    size_t pos = ml;
    int rc = CLEW_EFORMAT;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (nl == NULL) {
            break;
        }
        size_t n = (size_t)(nl - text - pos);
        if (n > 4 && memcmp(text + pos, "sum ", 4) == 0) {
            uint64_t want = strtoull(text + pos + 4, NULL, 16);
            rc = want == XXH3_64bits(text, pos) && nl + 1 == text + len ? 0 : CLEW_ECORRUPT;
            break;
        }
        if ((rc = decode_line(text + pos, n, out)) < 0) {
            break;
        }
        rc = CLEW_EFORMAT; /* until the sum line */
        pos += n + 1;
    }
    if (rc < 0) {
        clew_ckpt_clear(out);
    }
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int clew_ckpt_save(const char *dir, const struct clew_ckpt *c, char err[CLEW_ERR_LEN])
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, CLEW_CKPT_NAME);
    snprintf(dst, sizeof(dst), "%s/%s", dir, CLEW_CKPT_NAME);
    struct clew_buf b;
    clew_buf_init(&b);
    int rc = clew_ckpt_encode(c, &b);
    const char *step = "encode";
    int fd = -1;
    if (rc == 0) {
        step = "open";
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        rc = fd < 0 ? -errno : 0;
    }
    if (rc == 0) {
        step = "write";
        rc = write_all(fd, b.data, b.len);
    }
    if (rc == 0) {
        step = "fsync";
        rc = fdatasync(fd) < 0 ? -errno : 0;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == 0) {
        step = "rename";
        rc = rename(tmp, dst) < 0 ? -errno : 0;
    }
    if (rc == 0) {
        step = "fsync dir";
        rc = fsync_dir(dir);
    }
    clew_buf_close(&b);
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s: %s", dst, step, clew_strerror(rc));
    }
    return rc;
}

int clew_ckpt_load(const char *dir, struct clew_ckpt *out, char err[CLEW_ERR_LEN])
{
    memset(out, 0, sizeof(*out));
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, CLEW_CKPT_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        return 0;
    }
    struct stat st;
    int rc = 0;
    char *text = NULL;
    ssize_t n = 0;
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
    } else if (st.st_size > (off_t)MAX_CKPT_LEN) {
        rc = CLEW_ETOOBIG;
    } else if ((text = clew_malloc((size_t)st.st_size + 1)) == NULL) {
        rc = -ENOMEM;
    } else if ((n = pread(fd, text, (size_t)st.st_size, 0)) < 0) {
        rc = -errno;
    } else {
        rc = clew_ckpt_decode(text, (size_t)n, out);
    }
    if (fd >= 0) {
        close(fd);
    }
    clew_free(text);
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s", path, clew_strerror(rc));
    }
    return rc;
}
