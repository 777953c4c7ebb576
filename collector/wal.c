/* SPDX-License-Identifier: MIT
 *
 * The write-ahead log: one file per generation, DATA/wal/<gen>.wal, in the
 * format described at the top of common/wal_format.c (and
 * docs/FORMAT.md).
 *
 * Writing. clew_wal_open creates the file with O_EXCL (a generation is
 * never reopened: after a restart, replay cuts the torn tail of the old
 * files and the store opens a new generation), writes the file header and
 * fsyncs the directory so the name survives a crash. Each clew_wal_append
 * encodes its records into one frame in buffers kept in the struct (stored
 * straight into the frame, or through a raw buffer when LZ4-compressed) and
 * writes the frame with one pwrite at the end of the good prefix (looping
 * on short writes). If the write fails, the file is truncated back to the
 * good prefix, the frame's seq is not consumed and the WAL stays usable; if
 * even the truncate fails, the WAL refuses appends until it rotates.
 *
 * Durability. last_seq is published (release) after a frame's write has
 * returned. clew_wal_sync reads it before fdatasync and, once fdatasync
 * returns, raises durable_seq to that value: a frame appended while the sync
 * was running is not claimed durable. sync and rotate share a mutex so the
 * syncer never uses a file descriptor rotate is closing.
 *
 * Replay reads a file in chunks, decodes frame after frame, checks that seq
 * increases by one from frame to frame, and stops at the first bad frame.
 */
#include "collector/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define PATH_CAP 4096

struct clew_wal {
    char *dir;
    uint64_t gen;
    int fd;
    uint64_t size;           /* end of the last good frame            */
    int broken;              /* a failed write could not be undone    */
    int lz4_accel;           /* 0: frames store their records as is   */
    struct clew_buf raw;     /* records to compress (lz4_accel > 0)   */
    struct clew_buf frame;   /* the encoded frame                     */
    pthread_mutex_t fd_lock; /* sync vs rotate                        */
    _Atomic uint64_t last_seq;
    _Atomic uint64_t durable_seq;
};

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

/* Writes all of p[0..n) at offset off. */
static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return w < 0 ? -errno : -EIO;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Creates the file of generation gen and writes its header; sets *fd_out. */
static int create_file(const char *dir, uint64_t gen, struct clew_buf *tmp, int *fd_out, char *err)
{
    char path[PATH_CAP];
    int rc = clew_wal_path(dir, gen, path, sizeof(path));
    if (rc < 0) {
        set_err(err, "%s: WAL path too long", dir);
        return rc;
    }
    clew_buf_reset(tmp);
    if ((rc = clew_walf_file_header(tmp, gen)) < 0) {
        set_err(err, "%s: out of memory", path);
        return rc;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        set_err(err, "%s: %s", path,
                rc == -EEXIST ? "WAL generation already exists" : strerror(-rc));
        return rc;
    }
    if ((rc = pwrite_all(fd, tmp->data, tmp->len, 0)) < 0 || (rc = fsync_dir(dir)) < 0) {
        set_err(err, "%s: cannot write the header: %s", path, strerror(-rc));
        close(fd);
        unlink(path);
        return rc;
    }
    clew_buf_reset(tmp);
    *fd_out = fd;
    return 0;
}

int clew_wal_open(const char *dir, uint64_t gen, uint64_t next_seq, struct clew_wal **out,
                  char err[CLEW_ERR_LEN])
{
    *out = NULL;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        int rc = -errno;
        set_err(err, "%s: cannot create the WAL directory: %s", dir, strerror(-rc));
        return rc;
    }
    struct clew_wal *w = clew_calloc(1, sizeof(*w));
    if (w == NULL) {
        set_err(err, "%s: out of memory", dir);
        return -ENOMEM;
    }
    w->fd = -1;
    w->lz4_accel = CLEW_WALF_LZ4_ACCEL;
    clew_buf_init(&w->raw);
    clew_buf_init(&w->frame);
    pthread_mutex_init(&w->fd_lock, NULL);
    uint64_t last = next_seq > 0 ? next_seq - 1 : 0;
    atomic_init(&w->last_seq, last);
    atomic_init(&w->durable_seq, last);
    int rc = -ENOMEM;
    if ((w->dir = clew_strdup(dir)) == NULL) {
        set_err(err, "%s: out of memory", dir);
        goto fail;
    }
    if ((rc = create_file(dir, gen, &w->frame, &w->fd, err)) < 0) {
        goto fail;
    }
    w->gen = gen;
    w->size = CLEW_WALF_FILE_HEADER_LEN;
    *out = w;
    return 0;
fail:
    clew_wal_free(w);
    return rc;
}

void clew_wal_free(struct clew_wal *w)
{
    if (w == NULL) {
        return;
    }
    if (w->fd >= 0) {
        close(w->fd);
    }
    clew_buf_close(&w->raw);
    clew_buf_close(&w->frame);
    pthread_mutex_destroy(&w->fd_lock);
    clew_free(w->dir);
    clew_free(w);
}

static int encode_frame(struct clew_wal *w, const struct clew_record *recs, size_t n, uint64_t seq)
{
    clew_buf_reset(&w->frame);
    return clew_walf_encode_records(&w->frame, &w->raw, recs, n, seq, w->lz4_accel);
}

void clew_wal_set_lz4(struct clew_wal *w, int accel)
{
    w->lz4_accel = accel > 0 ? accel : 0;
}

int clew_wal_append(struct clew_wal *w, const struct clew_record *recs, size_t n, uint64_t *seq)
{
    uint64_t last = atomic_load_explicit(&w->last_seq, memory_order_relaxed);
    if (w->broken) {
        return w->broken;
    }
    if (n == 0) {
        *seq = last; /* nothing to write; durable once everything before is */
        return 0;
    }
    int rc = encode_frame(w, recs, n, last + 1);
    if (rc < 0) {
        return rc;
    }
    rc = pwrite_all(w->fd, w->frame.data, w->frame.len, w->size);
    if (rc < 0) {
        /* Undo a partial frame so the next append follows the good prefix. */
        if (ftruncate(w->fd, (off_t)w->size) < 0) {
            w->broken = rc;
        }
        return rc;
    }
    w->size += w->frame.len;
    atomic_store_explicit(&w->last_seq, last + 1, memory_order_release);
    *seq = last + 1;
    return 0;
}

/* Raises durable_seq to seq unless a concurrent sync already went further. */
static void raise_durable(struct clew_wal *w, uint64_t seq)
{
    uint64_t cur = atomic_load(&w->durable_seq);
    while (cur < seq && !atomic_compare_exchange_weak(&w->durable_seq, &cur, seq)) {
    }
}

int clew_wal_sync(struct clew_wal *w)
{
    pthread_mutex_lock(&w->fd_lock);
    /* Frames whose write returned before this load are covered below. */
    uint64_t target = atomic_load_explicit(&w->last_seq, memory_order_acquire);
    int rc = fdatasync(w->fd) < 0 ? -errno : 0;
    pthread_mutex_unlock(&w->fd_lock);
    if (rc == 0) {
        raise_durable(w, target);
    }
    return rc;
}

uint64_t clew_wal_durable_seq(const struct clew_wal *w)
{
    return atomic_load(&w->durable_seq);
}

uint64_t clew_wal_last_seq(const struct clew_wal *w)
{
    return atomic_load(&w->last_seq);
}

uint64_t clew_wal_gen(const struct clew_wal *w)
{
    return w->gen;
}

int clew_wal_rotate(struct clew_wal *w, uint64_t new_gen, char err[CLEW_ERR_LEN])
{
    int rc = clew_wal_sync(w);
    if (rc < 0) {
        set_err(err, "%s: fdatasync of generation %016" PRIx64 ": %s", w->dir, w->gen,
                strerror(-rc));
        return rc;
    }
    /* Create the new file first: on failure the current one stays in use. */
    int fd;
    if ((rc = create_file(w->dir, new_gen, &w->frame, &fd, err)) < 0) {
        return rc;
    }
    pthread_mutex_lock(&w->fd_lock);
    int old = w->fd;
    w->fd = fd;
    w->gen = new_gen;
    w->size = CLEW_WALF_FILE_HEADER_LEN;
    w->broken = 0; /* a tail the old file could not undo is cut by replay */
    pthread_mutex_unlock(&w->fd_lock);
    close(old);
    return 0;
}

int clew_wal_remove(const char *dir, uint64_t gen)
{
    char path[PATH_CAP];
    int rc = clew_wal_path(dir, gen, path, sizeof(path));
    if (rc < 0) {
        return rc;
    }
    if (unlink(path) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    return fsync_dir(dir);
}
