/* SPDX-License-Identifier: MIT
 * Reading WAL files: names, listing, replay. Replay reads a file in chunks,
 * decodes frame after frame, checks that seq increases by one from frame to
 * frame, and stops at the first bad frame; with truncate it cuts the file
 * there (ftruncate + fsync). */
#include "common/wal_read.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rec_codec.h"
#include "common/wal_format.h"

#define WAL_NAME_LEN 20 /* 16 hex digits + ".wal" */
#define READ_CHUNK   (1u << 20)

static void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char *err, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, CLEW_ERR_LEN, fmt, ap);
    va_end(ap);
}

int clew_wal_path(const char *dir, uint64_t gen, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%016" PRIx64 ".wal", dir, gen);
    if (n < 0 || (size_t)n >= len) {
        return -ENAMETOOLONG;
    }
    return 0;
}

/* Parses "<16 lowercase hex>.wal". */
static bool parse_name(const char *name, uint64_t *gen)
{
    if (strlen(name) != WAL_NAME_LEN || strcmp(name + 16, ".wal") != 0) {
        return false;
    }
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return false;
        }
        v = v << 4 | (uint64_t)d;
    }
    *gen = v;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Appends x to the growing array *v. */
static int push_gen(uint64_t **v, size_t *len, size_t *cap, uint64_t x)
{
    if (*len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        uint64_t *nv = clew_realloc(*v, ncap * sizeof(**v));
        if (nv == NULL) {
            return -ENOMEM;
        }
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*len)++] = x;
    return 0;
}

int clew_wal_list(const char *dir, uint64_t **gens, size_t *n)
{
    *gens = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    uint64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        uint64_t gen;
        if (parse_name(e->d_name, &gen)) {
            rc = push_gen(&v, &len, &cap, gen);
        }
    }
    closedir(d);
    if (rc < 0) {
        clew_free(v);
        return rc;
    }
    if (len > 1) {
        qsort(v, len, sizeof(*v), cmp_u64);
    }
    *gens = v;
    *n = len;
    return 0;
}

/* --- replay ------------------------------------------------------------ */

struct replay {
    const char *path;
    int fd;
    bool eof;
    struct clew_buf in; /* file bytes from file offset in_off          */
    size_t pos;         /* consumed bytes of in                        */
    uint64_t in_off;
    struct clew_buf raw; /* decompressed payload of the current frame   */
    uint64_t gen;
    clew_wal_record_cb cb;
    void *ud;
    struct clew_wal_replay_stats *st;
};

/* Makes at least want unconsumed bytes available in r->in, unless the file
 * ends first. Returns 0 (check the amount) or a negative error. */
static int fill(struct replay *r, size_t want)
{
    if (r->in.len - r->pos >= want || r->eof) {
        return 0;
    }
    /* Drop the consumed bytes, then read big chunks until want is met. */
    if (r->pos > 0) {
        memmove(r->in.data, r->in.data + r->pos, r->in.len - r->pos);
        r->in.len -= r->pos;
        r->in_off += r->pos;
        r->pos = 0;
    }
    int rc = clew_buf_reserve(&r->in, (want > READ_CHUNK ? want : READ_CHUNK) - r->in.len);
    if (rc < 0) {
        return rc;
    }
    while (r->in.len < want && !r->eof) {
        ssize_t n = read(r->fd, r->in.data + r->in.len, r->in.cap - r->in.len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        r->eof = n == 0;
        r->in.len += (size_t)n;
    }
    return 0;
}

static size_t avail(const struct replay *r)
{
    return r->in.len - r->pos;
}

static const uint8_t *cur(const struct replay *r)
{
    return r->in.data + r->pos;
}

/* Delivers the records of the decoded frame in r->raw. */
static int deliver(struct replay *r, uint32_t count)
{
    if (count == 0) {
        return 0;
    }
    struct clew_rd rd;
    clew_rd_init(&rd, r->raw.data, r->raw.len);
    for (uint32_t i = 0; i < count; i++) {
        struct clew_record rec;
        if (clew_rec_decode(&rd, &rec) < 0) {
            return CLEW_ECORRUPT; /* checked by clew_walf_decode already */
        }
        int rc = r->cb(r->ud, r->gen, &rec);
        if (rc != 0) {
            return rc;
        }
        r->st->records++;
    }
    return 0;
}

/* Reads and delivers one frame. Returns 0, 1 at the end of the good prefix
 * (st->tail_rc says why, 0 at a clean end of file), or a negative error or
 * the callback's value. */
static int replay_frame(struct replay *r)
{
    struct clew_wal_replay_stats *st = r->st;
    size_t flen;
    int rc = fill(r, CLEW_WALF_FRAME_HEADER_LEN);
    if (rc < 0) {
        return rc;
    }
    if (avail(r) == 0) {
        return 1;
    }
    rc = clew_walf_frame_len(cur(r), avail(r), &flen);
    if (rc == 0 && (rc = fill(r, flen)) < 0) {
        return rc;
    }
    struct clew_walf_frame f;
    if (rc == 0) {
        rc = clew_walf_decode(cur(r), avail(r), &r->raw, &f);
    }
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc == 0 && st->frames > 0 && f.seq != st->last_seq + 1) {
        rc = CLEW_ECORRUPT; /* a frame from elsewhere, or a gap */
    }
    if (rc < 0) {
        st->tail_rc = rc;
        return 1;
    }
    if ((rc = deliver(r, f.count)) != 0) {
        return rc;
    }
    st->frames++;
    st->last_seq = f.seq;
    r->pos += f.frame_len;
    st->good_bytes += f.frame_len;
    return 0;
}

/* Reads the file header. Returns 0 (records follow), 1 (no header yet: an
 * empty file) or a negative error. */
static int replay_header(struct replay *r, char *err)
{
    int rc = fill(r, CLEW_WALF_FILE_HEADER_LEN);
    if (rc < 0) {
        set_err(err, "%s: read: %s", r->path, strerror(-rc));
        return rc;
    }
    /* A short or all-zero header: the file was created but its header never
     * reached the disk, so it cannot hold a record that was acknowledged. */
    bool zero = avail(r) >= CLEW_WALF_FILE_HEADER_LEN;
    for (size_t i = 0; zero && i < CLEW_WALF_FILE_HEADER_LEN; i++) {
        zero = cur(r)[i] == 0;
    }
    if (avail(r) < CLEW_WALF_FILE_HEADER_LEN || zero) {
        r->st->tail_rc = CLEW_ETRUNC;
        return 1;
    }
    rc = clew_walf_parse_file_header(cur(r), avail(r), &r->gen);
    if (rc < 0) {
        set_err(err, "%s: not a valid WAL file header: %s", r->path, clew_strerror(rc));
        return rc;
    }
    r->pos = CLEW_WALF_FILE_HEADER_LEN;
    r->st->good_bytes = CLEW_WALF_FILE_HEADER_LEN;
    return 0;
}

/* Cuts (or, without truncate, just reports) the tail past the good prefix. */
static int finish_tail(struct replay *r, int truncate, char *err)
{
    struct clew_wal_replay_stats *st = r->st;
    struct stat sb;
    if (fstat(r->fd, &sb) < 0) {
        int rc = -errno;
        set_err(err, "%s: fstat: %s", r->path, strerror(-rc));
        return rc;
    }
    uint64_t size = (uint64_t)sb.st_size;
    /* At a clean end of file, bytes past it were appended after we read. */
    st->cut_bytes = size > st->good_bytes && st->tail_rc != 0 ? size - st->good_bytes : 0;
    if (st->cut_bytes == 0) {
        st->tail_rc = 0;
        return 0;
    }
    const char *why = st->tail_rc == CLEW_ETRUNC ? "truncated frame" : "corrupt frame";
    if (st->good_bytes == 0) {
        why = "incomplete file header";
    }
    set_err(err, "%s: %s %" PRIu64 " bytes at offset %" PRIu64 ": %s", r->path,
            truncate ? "cut" : "ignored", st->cut_bytes, st->good_bytes, why);
    if (!truncate) {
        return 0;
    }
    if (ftruncate(r->fd, (off_t)st->good_bytes) < 0 || fsync(r->fd) < 0) {
        int rc = -errno;
        set_err(err, "%s: cannot cut the tail at offset %" PRIu64 ": %s", r->path, st->good_bytes,
                strerror(-rc));
        return rc;
    }
    return 0;
}

static int replay_run(struct replay *r, int truncate, char *err)
{
    int rc = replay_header(r, err);
    if (rc < 0) {
        return rc;
    }
    while (rc == 0) {
        rc = replay_frame(r);
    }
    if (rc < 0) {
        set_err(err, "%s: replay at offset %" PRIu64 ": %s", r->path, r->in_off + r->pos,
                clew_strerror(rc));
    }
    if (rc != 1) {
        return rc; /* an error, or the callback stopped the replay */
    }
    return finish_tail(r, truncate, err);
}

int clew_wal_replay(const char *path, int truncate, clew_wal_record_cb cb, void *ud,
                    struct clew_wal_replay_stats *st, char err[CLEW_ERR_LEN])
{
    memset(st, 0, sizeof(*st));
    set_err(err, "%s", "");
    struct replay r = { .path = path, .cb = cb, .ud = ud, .st = st };
    clew_buf_init(&r.in);
    clew_buf_init(&r.raw);
    r.fd = open(path, (truncate ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (r.fd < 0) {
        int rc = -errno;
        set_err(err, "%s: %s", path, strerror(-rc));
        return rc;
    }
    int rc = replay_run(&r, truncate, err);
    close(r.fd);
    clew_buf_close(&r.in);
    clew_buf_close(&r.raw);
    return rc;
}
