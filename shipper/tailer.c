/* SPDX-License-Identifier: MIT
 * Positions. read_off is the next byte to read; carry holds the bytes of
 * the unfinished line that starts at line_off = read_off - carry.len.
 * Every complete line is pushed into the file's assembler with its [start,
 * end) offsets; a record it emits carries the offset a restart may resume
 * from. acked is the largest such offset the collector acknowledged; only
 * acked offsets reach the checkpoint. A truncated file gets a new id, so
 * acknowledgements of batches read before the truncation are ignored.
 *
 * Compressed rotated files (.gz) are never followed live nor read as plain
 * bytes; only a partly read file compressed while the shipper was stopped
 * is finished, through zlib, from its checkpointed offset (found by its
 * head's fingerprint: tail_rotate.c), then the siblings rotated after it.
 * Its head is kept in memory: a gzip stream cannot be re-read with pread. */
#include "shipper/tailer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/alloc.h"
#include "shipper/cri.h"
#include "shipper/docker_json.h"
#include "shipper/tail_match.h"
#include "shipper/tail_rotate.h"

#define TAIL_CHUNK       (256u << 10)
#define TAIL_MAX_LINE    (4u << 20)
#define TAIL_ROTATE_WAIT (5 * 1000000000LL)
#define REPORT_EVERY_NS  (60 * 1000000000LL)

enum { FMT_UNKNOWN = 0, FMT_DOCKER = 1, FMT_CRI = 2 };

struct tfile {
    uint32_t id;
    char *path;
    int fd;
    int from_cri_root;
    int fmt;
    uint64_t dev, ino;
    uint64_t read_off;
    struct clew_buf carry;
    int skipping;
    uint64_t acked;
    uint64_t reread_until; /* sent by the previous run (its checkpoint says) */
    uint64_t sent;         /* resume offset of the newest record on the wire  */
    int detached;
    int finished; /* detached, read to the end, held records flushed */
    int seen;     /* found by the current scan */
    int64_t last_growth_ns;
    int at_eof;
    uint32_t fp_len; /* CLEW_CKPT_FP_MAX once the head is known, else 0 */
    uint64_t fp_hash;
    gzFile gz;      /* a compressed file's reader, else NULL */
    int compressed; /* read through gz (head holds its first bytes) */
    int gz_bad;     /* the gzip stream broke: its end is where it broke */
    uint8_t head[CLEW_CKPT_FP_MAX];
    uint32_t head_len;
    struct clew_asm *as;
    struct clew_ship_fixed fx;
    /* Docker attrs (log-opts: fixed for a container, so for its file),
     * copied from the last line that had them; sent with every record. A
     * record may be emitted while a later line is pushed (multiline). */
    struct clew_buf attrs;
    struct clew_str akeys[CLEW_DOCKER_MAX_ATTRS], avals[CLEW_DOCKER_MAX_ATTRS];
    size_t nattrs;
    struct clew_tailer *t;
};

struct pending_ckpt {
    struct clew_ckpt_file f;
    int used;
};

struct clew_tailer {
    struct clew_tailer_opts o;
    struct clew_tail_match m; /* roots, globs, excludes */
    char *host;
    clew_tailer_emit_cb emit;
    clew_tailer_event_cb event;
    void *ud;
    struct tfile **files;
    size_t nfiles, capfiles;
    uint32_t next_id;
    size_t rr; /* round-robin start of poll */
    struct clew_ckpt restore;
    int restored; /* the first scan after restore looked for rotated files */
    struct clew_buf scratch;
    int64_t last_err_report;
    struct clew_tailer_stats st;
};

static void eventf(struct clew_tailer *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void eventf(struct clew_tailer *t, int level, const char *fmt, ...)
{
    if (t->event == NULL) {
        return;
    }
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    t->event(t->ud, level, text);
}

/* ---- records ------------------------------------------------------------ */

static void on_asm(void *ud, const struct clew_asm_rec *r)
{
    struct tfile *f = ud;
    struct clew_tailer *t = f->t;
    struct clew_tailer_rec out = { .file = f->id, .safe_off = r->safe_off, .fx = &f->fx };
    out.e.ts = r->ts;
    out.e.stream = r->stream;
    out.e.msg = r->msg;
    out.e.flags = r->flags;
    out.e.partial = r->partial;
    if (f->nattrs > 0) {
        out.e.attr_keys = f->akeys;
        out.e.attr_vals = f->avals;
        out.e.nattrs = f->nattrs;
    }
    t->st.records++;
    if (r->safe_off <= f->reread_until) {
        t->st.reread++;
    }
    t->emit(t->ud, &out);
}

/* ---- metadata ------------------------------------------------------------- */

static int docker_fixed(struct clew_tailer *t, struct tfile *f)
{
    char dir[4096], cfg[4200], err[CLEW_ERR_LEN];
    clew_tail_rotate_dir(f->path, dir, sizeof(dir));
    const char *id = strrchr(dir, '/');
    id = id ? id + 1 : dir;
    struct clew_docker_meta m;
    snprintf(cfg, sizeof(cfg), "%s/config.v2.json", dir);
    int have = clew_docker_meta_load(cfg, &m, err) == 0;
    if (!have) {
        eventf(t, 4, "no container metadata: %s", err);
    }
    struct clew_ship_fixed *fx = &f->fx;
    int rc = clew_ship_fixed_add(fx, "host", t->host, strlen(t->host));
    rc = rc ? rc : clew_ship_fixed_add(fx, "container_id", id, strlen(id));
    if (have) {
        rc = rc ? rc : clew_ship_fixed_add(fx, "container_name", m.name, strlen(m.name));
        rc = rc ? rc : clew_ship_fixed_add(fx, "service", m.service, strlen(m.service));
        rc = rc ? rc : clew_ship_fixed_add(fx, "image", m.image, strlen(m.image));
        rc = rc ? rc : clew_ship_fixed_add(fx, "compose_project", m.project, strlen(m.project));
        clew_docker_meta_clear(&m);
    }
    return rc;
}

static int cri_fixed(struct clew_tailer *t, struct tfile *f)
{
    struct clew_cri_meta m;
    struct clew_ship_fixed *fx = &f->fx;
    int rc = clew_ship_fixed_add(fx, "host", t->host, strlen(t->host));
    if (rc == 0 && clew_cri_path_parse(f->path, strlen(f->path), &m) == 0) {
        char restart[16];
        int n = m.restart >= 0 ? snprintf(restart, sizeof(restart), "%d", m.restart) : 0;
        rc = clew_ship_fixed_add(fx, "container_name", m.container.ptr, m.container.len);
        rc = rc ? rc : clew_ship_fixed_add(fx, "namespace", m.namespace_.ptr, m.namespace_.len);
        rc = rc ? rc : clew_ship_fixed_add(fx, "pod", m.pod.ptr, m.pod.len);
        rc = rc ? rc : clew_ship_fixed_add(fx, "pod_uid", m.uid.ptr, m.uid.len);
        rc = rc ? rc : clew_ship_fixed_add(fx, "restart", restart, (size_t)n);
    }
    return rc;
}

/* ---- files ---------------------------------------------------------------- */

static void close_fd(struct tfile *f)
{
    if (f->gz != NULL) {
        gzclose(f->gz); /* closes fd */
    } else if (f->fd >= 0) {
        close(f->fd);
    }
    f->gz = NULL;
    f->fd = -1;
}

/* Reads f's descriptor as a gzip stream (its reader owns the descriptor
 * then) and keeps its head. Returns 0, or -1 when it is not gzip data. */
static int gz_attach(struct tfile *f)
{
    f->compressed = 1;
    if (clew_tail_rotate_gz_open(f->fd, f->head, &f->head_len, &f->gz) < 0) {
        f->fd = -1; /* closed */
        return -1;
    }
    return 0;
}

static void file_free(struct tfile *f)
{
    if (f == NULL) {
        return;
    }
    close_fd(f);
    clew_asm_free(f->as);
    clew_buf_close(&f->carry);
    clew_buf_close(&f->attrs);
    clew_ship_fixed_close(&f->fx);
    clew_free(f->path);
    clew_free(f);
}

static int add_file(struct clew_tailer *t, struct tfile *f)
{
    if (t->nfiles == t->capfiles) {
        size_t cap = t->capfiles ? t->capfiles * 2 : 16;
        struct tfile **nf = clew_realloc(t->files, cap * sizeof(*nf));
        if (nf == NULL) {
            return -ENOMEM;
        }
        t->files = nf;
        t->capfiles = cap;
    }
    t->files[t->nfiles++] = f;
    t->st.opened++;
    return 0;
}

/* Checks a checkpoint entry's fingerprint against the file's head. */
static int fingerprint_ok(const struct tfile *f, const struct clew_ckpt_file *c)
{
    uint8_t head[CLEW_CKPT_FP_MAX];
    if (c->fp_len == 0) {
        return 1;
    }
    if (f->compressed) {
        return f->head_len >= c->fp_len && clew_ckpt_fingerprint(f->head, c->fp_len) == c->fp_hash;
    }
    ssize_t n = pread(f->fd, head, c->fp_len, 0);
    return n == (ssize_t)c->fp_len && clew_ckpt_fingerprint(head, c->fp_len) == c->fp_hash;
}

/* The checkpoint entry for (dev, ino), consumed. */
static struct clew_ckpt_file *take_ckpt(struct clew_tailer *t, uint64_t dev, uint64_t ino)
{
    struct clew_ckpt_file *c = clew_ckpt_find(&t->restore, dev, ino);
    if (c == NULL || c->offset == UINT64_MAX) {
        return NULL;
    }
    return c;
}

static void resume_from(struct clew_tailer *t, struct tfile *f, const struct stat *st)
{
    struct clew_ckpt_file *c = take_ckpt(t, f->dev, f->ino);
    if (c == NULL) {
        return;
    }
    /* A compressed file's size says nothing about its decompressed end. */
    if ((f->compressed || (uint64_t)st->st_size >= c->offset) && fingerprint_ok(f, c) &&
        (f->gz == NULL || clew_tail_rotate_gz_seek(f->gz, c->offset) == 0)) {
        f->read_off = f->acked = c->offset;
        f->reread_until = c->read;
        f->sent = c->read > c->offset ? c->read : c->offset;
        if (c->fp_len == CLEW_CKPT_FP_MAX) {
            f->fp_len = c->fp_len;
            f->fp_hash = c->fp_hash;
        }
        t->st.resumed++;
        eventf(t, 6, "%s: resuming at offset %llu", f->path, (unsigned long long)c->offset);
        c->offset = UINT64_MAX; /* used */
        return;
    }
    eventf(t, 4, "%s: checkpointed inode holds other data now: reading from the start", f->path);
    /* The inode number was reused: the checkpointed file may survive only
     * compressed, found by its fingerprint (find_rotated), never by inode. */
    c->dev = c->ino = UINT64_MAX;
}

static int open_file(struct clew_tailer *t, const char *path, int cri, int detached)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        t->st.errors++;
        if (fd >= 0) {
            close(fd);
        }
        eventf(t, 3, "cannot read %s: %s", path, strerror(e));
        return 0;
    }
    struct tfile *f = clew_calloc(1, sizeof(*f));
    int rc = -ENOMEM;
    if (f == NULL) {
        close(fd);
        return rc;
    }
    f->fd = fd;
    f->t = t;
    f->id = ++t->next_id;
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
    f->from_cri_root = cri;
    f->fmt = cri ? FMT_UNKNOWN : FMT_DOCKER;
    f->detached = detached;
    f->seen = 1;
    f->last_growth_ns = 0;
    clew_buf_init(&f->carry);
    clew_buf_init(&f->attrs);
    clew_ship_fixed_init(&f->fx);
    if (clew_tail_rotate_is_gz(path) && gz_attach(f) < 0) {
        t->st.gz_skipped++;
        eventf(t, 4, "%s: not readable as gzip data: skipped", path);
        file_free(f);
        return 0;
    }
    t->st.gz_files += f->compressed;
    if ((f->path = clew_strdup(path)) == NULL ||
        clew_asm_new(&t->o.asm_opts, on_asm, f, &f->as) < 0 ||
        (rc = cri ? cri_fixed(t, f) : docker_fixed(t, f)) < 0 || (rc = add_file(t, f)) < 0) {
        file_free(f);
        return rc < 0 ? rc : -ENOMEM;
    }
    resume_from(t, f, &st);
    return 0;
}

static struct tfile *find_path(struct clew_tailer *t, const char *path)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        if (!t->files[i]->detached && strcmp(t->files[i]->path, path) == 0) {
            return t->files[i];
        }
    }
    return NULL;
}

static struct tfile *find_inode(struct clew_tailer *t, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        if (t->files[i]->dev == dev && t->files[i]->ino == ino) {
            return t->files[i];
        }
    }
    return NULL;
}

/* ---- reading -------------------------------------------------------------- */

static char *copy_str(struct clew_str *dst, char *p, struct clew_str src)
{
    *dst = (struct clew_str){ p, src.len };
    if (src.len > 0) {
        memcpy(p, src.ptr, src.len);
    }
    return p + src.len;
}

/* Copies the line's attrs into the file's (d's point into scratch). */
static int keep_attrs(struct tfile *f, const struct clew_docker_line *d)
{
    size_t total = 0;
    for (size_t i = 0; i < d->nattrs; i++) {
        total += d->attr_keys[i].len + d->attr_vals[i].len;
    }
    f->attrs.len = 0;
    if (clew_buf_reserve(&f->attrs, total) < 0) {
        return -ENOMEM;
    }
    char *p = (char *)f->attrs.data;
    for (size_t i = 0; i < d->nattrs; i++) {
        p = copy_str(&f->akeys[i], p, d->attr_keys[i]);
        p = copy_str(&f->avals[i], p, d->attr_vals[i]);
    }
    f->attrs.len = total;
    f->nattrs = d->nattrs;
    return 0;
}

static int push_line(struct clew_tailer *t, struct tfile *f, const char *line, size_t len,
                     uint64_t start, int64_t now)
{
    uint64_t end = start + len + 1;
    t->st.lines++;
    if (f->fmt == FMT_UNKNOWN) { /* kubelet's order: CRI first, then Docker JSON */
        struct clew_cri_line c;
        f->fmt = clew_cri_line_parse(line, len, &c) == 0 ? FMT_CRI : FMT_DOCKER;
    }
    if (f->fmt == FMT_CRI) {
        struct clew_cri_line c;
        if (clew_cri_line_parse(line, len, &c) < 0) {
            t->st.bad_lines++;
            return 0;
        }
        return clew_asm_push(f->as, c.stream, c.ts, c.content.ptr, c.content.len, c.complete, start,
                             end, now);
    }
    struct clew_docker_line d;
    int rc = clew_docker_line_parse(line, len, &t->scratch, &d);
    if (rc < 0) {
        t->st.bad_lines++;
        return rc == -ENOMEM ? rc : 0;
    }
    if (d.nattrs > 0 && keep_attrs(f, &d) < 0) {
        return -ENOMEM;
    }
    return clew_asm_push(f->as, d.stream, d.ts, d.content.ptr, d.content.len, d.complete, start,
                         end, now);
}

/* Pushes every complete line in carry; keeps the rest. */
static int drain_lines(struct clew_tailer *t, struct tfile *f, int64_t now)
{
    const char *base = (const char *)f->carry.data;
    size_t pos = 0, len = f->carry.len;
    uint64_t line_off = f->read_off - len;
    int rc = 0;
    while (rc == 0 && pos < len) {
        const char *nl = memchr(base + pos, '\n', len - pos);
        if (nl == NULL) {
            break;
        }
        size_t n = (size_t)(nl - base - (ptrdiff_t)pos);
        if (f->skipping) {
            f->skipping = 0; /* the end of an overlong line: dropped */
        } else {
            rc = push_line(t, f, base + pos, n, line_off + pos, now);
        }
        pos += n + 1;
    }
    if (pos > 0) {
        memmove(f->carry.data, base + pos, len - pos);
        f->carry.len = len - pos;
    }
    if (f->carry.len > t->o.max_line) {
        /* No newline in sight: push the head as a line, drop the rest. */
        t->st.cut_lines++;
        rc = rc ? rc : push_line(t, f, base, f->carry.len, f->read_off - f->carry.len, now);
        f->carry.len = 0;
        f->skipping = 1;
    }
    return rc;
}

/* Hashes the file's first CLEW_CKPT_FP_MAX bytes. Returns 0, or -1 when
 * the file is shorter. */
static int head_hash(const struct tfile *f, uint64_t *out)
{
    uint8_t head[CLEW_CKPT_FP_MAX];
    if (f->compressed) {
        *out = clew_ckpt_fingerprint(f->head, sizeof(f->head));
        return f->head_len == sizeof(f->head) ? 0 : -1;
    }
    if (pread(f->fd, head, sizeof(head), 0) != (ssize_t)sizeof(head)) {
        return -1;
    }
    *out = clew_ckpt_fingerprint(head, sizeof(head));
    return 0;
}

static void truncated(struct clew_tailer *t, struct tfile *f)
{
    t->st.truncations++;
    eventf(t, 4, "%s: truncated (copytruncate?) below offset %llu: reading from the start", f->path,
           (unsigned long long)f->read_off);
    clew_asm_reset(f->as);
    f->carry.len = 0;
    f->skipping = 0;
    f->read_off = 0;
    f->acked = 0;
    f->sent = 0;
    f->reread_until = 0;
    f->fp_len = 0;
    f->id = ++t->next_id; /* acks of older batches no longer apply */
}

/* Reads on from a compressed file's position (read_off). A broken stream
 * (cut short, bad data) ends the file where it broke, reported once. */
static ssize_t gz_read(struct clew_tailer *t, struct tfile *f, uint8_t *dst, size_t len)
{
    if (f->gz == NULL || f->gz_bad) {
        return 0;
    }
    int n = gzread(f->gz, dst, (unsigned)len);
    if (n >= 0) {
        return n;
    }
    int zerr;
    f->gz_bad = 1;
    t->st.errors++;
    eventf(t, 3, "%s: gzip data broken after %llu bytes (%s): the rest is not read", f->path,
           (unsigned long long)f->read_off, gzerror(f->gz, &zerr));
    return 0;
}

/* Reads one chunk. Returns bytes read, 0 at the end, or a negative error. */
static ssize_t read_chunk(struct clew_tailer *t, struct tfile *f, int64_t now)
{
    if (clew_buf_reserve(&f->carry, t->o.read_chunk) < 0) {
        return -ENOMEM;
    }
    uint8_t *dst = f->carry.data + f->carry.len;
    ssize_t n = f->compressed ? gz_read(t, f, dst, t->o.read_chunk)
                              : pread(f->fd, dst, t->o.read_chunk, (off_t)f->read_off);
    if (n < 0) {
        t->st.errors++;
        return errno == EINTR ? 0 : -errno;
    }
    if (n == 0) {
        struct stat st;
        if (!f->compressed && fstat(f->fd, &st) == 0 && (uint64_t)st.st_size < f->read_off) {
            truncated(t, f);
            return 1;
        }
        f->at_eof = 1;
        return 0;
    }
    f->at_eof = 0;
    f->last_growth_ns = now;
    f->carry.len += (size_t)n;
    f->read_off += (uint64_t)n;
    if (f->fp_len == 0 && f->read_off >= CLEW_CKPT_FP_MAX && head_hash(f, &f->fp_hash) == 0) {
        f->fp_len = CLEW_CKPT_FP_MAX;
    }
    t->st.bytes += (uint64_t)n;
    int rc = drain_lines(t, f, now);
    return rc < 0 ? rc : n;
}

/* Reads file f until the budget is used. Returns 1 when it has more, 0 at
 * its end, 2 when the output is full, or -ENOMEM. */
static int poll_file(struct clew_tailer *t, struct tfile *f, size_t budget, size_t *used,
                     int (*can_read)(void *ud), void *ud, int64_t now_ns)
{
    ssize_t n = 1;
    while (*used < budget && (n = read_chunk(t, f, now_ns)) > 0) {
        *used += (size_t)n;
        if (!can_read(ud)) {
            return 2;
        }
    }
    if (n == -ENOMEM) {
        return -ENOMEM;
    }
    if (n < 0) {
        eventf(t, 3, "read %s: %s", f->path, strerror((int)-n));
        return 0;
    }
    return n > 0;
}

int clew_tailer_poll(struct clew_tailer *t, size_t budget, int (*can_read)(void *ud), void *ud,
                     int64_t now_ns)
{
    size_t used = 0;
    int more = 0;
    /* Rotated files first: their lines are older than the new file's.
     * The others round-robin so one busy file cannot starve the rest. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < t->nfiles; k++) {
            struct tfile *f = t->files[pass ? (t->rr + k) % t->nfiles : k];
            if (f->finished || f->detached != !pass) {
                continue;
            }
            int rc = poll_file(t, f, budget, &used, can_read, ud, now_ns);
            if (rc < 0 || rc == 2) {
                return rc < 0 ? rc : 1;
            }
            more |= rc;
        }
    }
    t->rr++;
    return more;
}

/* ---- discovery ------------------------------------------------------------ */

static void rate_limited(struct clew_tailer *t, int64_t now, const char *what, const char *path,
                         int e)
{
    t->st.errors++;
    if (now - t->last_err_report >= REPORT_EVERY_NS || t->last_err_report == 0) {
        t->last_err_report = now;
        eventf(t, 3, "%s %s: %s", what, path, strerror(e));
    }
}

static int adopt_siblings(struct clew_tailer *t, const char *path, int64_t since_ns, int cri);
static int64_t mtime_of(int fd);

/* The file's name no longer leads to it (rotated, renamed or deleted). The
 * writer may still be finishing its last lines there: rotate-wait counts
 * from now, not from the last growth before the rotation. */
static void detach(struct tfile *f, int64_t now)
{
    if (!f->detached) {
        f->detached = 1;
        f->last_growth_ns = now > f->last_growth_ns ? now : f->last_growth_ns;
    }
}

static int scan_path(struct clew_tailer *t, const char *path, int cri, int64_t now)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        return 0; /* vanished between glob and stat */
    }
    struct tfile *f = find_path(t, path);
    if (f && f->dev == (uint64_t)st.st_dev && f->ino == (uint64_t)st.st_ino) {
        f->seen = 1;
        uint64_t h;
        /* copytruncate followed by more writes than we had read: the size
         * check cannot see it, the head's fingerprint can. */
        if (f->fp_len > 0 && (head_hash(f, &h) < 0 || h != f->fp_hash)) {
            truncated(t, f);
        }
        return 0;
    }
    if (f) { /* the name points at a new inode: the old one was rotated */
        detach(f, now);
        t->st.rotations++;
        eventf(t, 6, "%s: rotated (new inode); finishing the old one", path);
        /* More than one rotation since the last scan: the ones between. */
        int rc = adopt_siblings(t, path, mtime_of(f->fd), cri);
        if (rc < 0) {
            return rc;
        }
    }
    struct tfile *same = find_inode(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    if (same) {
        same->seen = 1;
        return 0;
    }
    if (access(path, R_OK) < 0) {
        rate_limited(t, now, "cannot read", path, errno);
        return 0;
    }
    return open_file(t, path, cri, 0);
}

struct scan_ctx {
    struct clew_tailer *t;
    int cri;
    int64_t now;
};

static int scan_one(void *ud, const char *path)
{
    struct scan_ctx *s = ud;
    return scan_path(s->t, path, s->cri, s->now);
}

/* Scans the Docker (cri 0) or CRI (cri 1) root, if any. */
static int scan_root(struct clew_tailer *t, int cri, int64_t now)
{
    struct scan_ctx s = { t, cri, now };
    int e;
    int rc = clew_tail_match_list(&t->m, cri, scan_one, &s, &e);
    if (e != 0) {
        rate_limited(t, now, cri ? "CRI log root" : "Docker root",
                     cri ? t->m.cri_root : t->m.docker_root, e);
    }
    return rc;
}

/* ---- rotated siblings ------------------------------------------------------ */

static int followed(void *ud, uint64_t dev, uint64_t ino)
{
    return find_inode(ud, dev, ino) != NULL;
}

/* Opens the listed siblings in list order (oldest first), whole, and
 * empties the list. */
static int open_sibs(struct clew_tailer *t, struct clew_tail_sibs *s, int cri)
{
    int rc = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        eventf(t, 4, "%s: rotated before it was seen; reading it whole", s->v[i].path);
        rc = open_file(t, s->v[i].path, cri, 1);
    }
    clew_tail_rotate_sibs_clear(s);
    return rc;
}

/* Follows, from their start, the rotated siblings of path that are not
 * followed yet and were written at or after since_ns: files rotated away
 * before a scan (or while stopped) saw them. Oldest first. */
static int adopt_siblings(struct clew_tailer *t, const char *path, int64_t since_ns, int cri)
{
    struct clew_tail_sibs s;
    int rc = clew_tail_rotate_since(path, since_ns, followed, t, &s);
    return rc < 0 ? rc : open_sibs(t, &s, cri);
}

/* Follows, whole and oldest first, the rotated siblings of live that come
 * after the file at path in rotation order (compressed or not). */
static int adopt_newer(struct clew_tailer *t, const char *live, const char *path, int cri)
{
    struct clew_tail_sibs s;
    int rc = clew_tail_rotate_after(live, path, followed, t, &s);
    return rc < 0 ? rc : open_sibs(t, &s, cri);
}

static int64_t mtime_of(int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        return INT64_MAX;
    }
    return (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

/* Where the file of checkpoint entry c is now: 1 (path filled) under its
 * old name or a rotated sibling's, same inode; 2 compressed, found by its
 * fingerprint (c takes the new inode, so the resume finds c); 0 gone; or
 * -ENOMEM. */
static int locate(struct clew_ckpt_file *c, char *path, size_t len)
{
    if (clew_tail_rotate_find_inode(c->path, c->dev, c->ino, path, len)) {
        return 1;
    }
    struct clew_tail_sib gz = { 0 };
    int rc = c->fp_len > 0 ? clew_tail_rotate_find_gz(c->path, c, &gz) : 0;
    if (rc <= 0) {
        return rc;
    }
    c->dev = gz.dev;
    c->ino = gz.ino;
    snprintf(path, len, "%s", gz.path);
    clew_free(gz.path);
    return 2;
}

/* A checkpointed inode the globs did not find: look for it among the
 * rotated siblings of its old name (<f>.1, <n>.log.<date>), or compressed
 * (<f>.1.gz, <n>.log.<date>.gz), and finish it from the checkpointed
 * offset. *out: the file, or NULL when it is gone. */
static int find_rotated(struct clew_tailer *t, struct clew_ckpt_file *c, struct tfile **out)
{
    char p[8400];
    *out = NULL;
    int cri = t->m.cri_root && strncmp(c->path, t->m.cri_root, strlen(t->m.cri_root)) == 0;
    if (!clew_tail_match_wanted(&t->m, c->path, cri)) {
        eventf(t, 6, "%s: no longer matched by the globs or excluded; not resumed", c->path);
        c->offset = UINT64_MAX;
        return 0;
    }
    int how = locate(c, p, sizeof(p));
    if (how < 0) {
        return how;
    }
    if (how == 0) {
        t->st.ckpt_lost++;
        eventf(t, 4, "%s (inode %llu): gone; lines after offset %llu may be lost", c->path,
               (unsigned long long)c->ino, (unsigned long long)c->offset);
        c->offset = UINT64_MAX;
        return 0;
    }
    eventf(t, 6, "%s: rotated%s while stopped, finishing it from %s", c->path,
           how == 2 ? " and compressed" : "", p);
    int rc = find_inode(t, c->dev, c->ino) ? 0 : open_file(t, p, cri, 1);
    *out = find_inode(t, c->dev, c->ino);
    c->offset = UINT64_MAX;
    return rc;
}

/* The checkpoint's files the globs did not find, then the siblings rotated
 * after them: resumed files first, so none of them is read whole instead. */
static int resolve_restore(struct clew_tailer *t)
{
    size_t n = t->restore.n;
    struct tfile **found = clew_calloc(n ? n : 1, sizeof(*found));
    int rc = found ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (t->restore.files[i].offset != UINT64_MAX) {
            rc = find_rotated(t, &t->restore.files[i], &found[i]);
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char live[4400];
        struct tfile *f = found[i];
        if (f == NULL) {
            continue;
        }
        clew_tail_rotate_live_name(f->path, live, sizeof(live));
        rc = f->compressed ? adopt_newer(t, live, f->path, f->from_cri_root)
                           : adopt_siblings(t, live, mtime_of(f->fd), f->from_cri_root);
    }
    clew_free(found);
    return rc;
}

static void remove_at(struct clew_tailer *t, size_t i)
{
    file_free(t->files[i]);
    memmove(&t->files[i], &t->files[i + 1], (t->nfiles - i - 1) * sizeof(t->files[0]));
    t->nfiles--;
}

/* Reads what a detached file still holds. Returns 1 when it had more
 * (so it is not finished yet), 0 at its end. */
static int read_rest(struct clew_tailer *t, struct tfile *f, int64_t now)
{
    int grew = 0;
    ssize_t n;
    while ((n = read_chunk(t, f, now)) > 0) {
        grew = 1;
    }
    return grew;
}

/* Detached files: read to the end, idle long enough, then flushed; freed
 * once everything read was acknowledged. */
static void retire(struct clew_tailer *t, int64_t now)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        struct tfile *f = t->files[i];
        uint64_t consumed = f->read_off - f->carry.len;
        if (!f->finished) {
            clew_asm_tick(f->as, now, consumed);
        }
        if (f->detached && !f->finished && f->at_eof &&
            (f->compressed || now - f->last_growth_ns >= t->o.rotate_wait_ns) &&
            !read_rest(t, f, now)) {
            if (f->carry.len > 0 && !f->skipping) { /* a last line without newline */
                push_line(t, f, (const char *)f->carry.data, f->carry.len, consumed, now);
                f->carry.len = 0;
            }
            clew_asm_flush(f->as, f->read_off);
            f->finished = 1;
            close_fd(f);
        }
        if (f->finished && f->acked >= f->read_off) {
            eventf(t, 6, "%s: finished (%llu bytes)", f->path, (unsigned long long)f->read_off);
            remove_at(t, i--);
        }
    }
}

int clew_tailer_scan(struct clew_tailer *t, int64_t now_ns)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        t->files[i]->seen = 0;
    }
    int rc = scan_root(t, 0, now_ns);
    rc = rc ? rc : scan_root(t, 1, now_ns);
    for (size_t i = 0; rc == 0 && i < t->nfiles; i++) {
        struct tfile *f = t->files[i];
        if (!f->seen && !f->detached) {
            detach(f, now_ns);
            eventf(t, 6, "%s: renamed or deleted; finishing it", f->path);
        }
    }
    if (rc == 0 && !t->restored) {
        t->restored = 1;
        rc = resolve_restore(t);
    }
    retire(t, now_ns);
    return rc;
}

/* ---- public --------------------------------------------------------------- */

int clew_tailer_check_glob(const char *what, const char *pattern, char err[CLEW_ERR_LEN])
{
    return clew_tail_match_check_glob(what, pattern, err);
}

int clew_tailer_new(const struct clew_tailer_opts *opts, clew_tailer_emit_cb emit,
                    clew_tailer_event_cb event, void *ud, struct clew_tailer **out,
                    char err[CLEW_ERR_LEN])
{
    *out = NULL;
    struct clew_tailer *t = clew_calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->o = *opts;
    t->o.read_chunk = t->o.read_chunk ? t->o.read_chunk : TAIL_CHUNK;
    t->o.max_line = t->o.max_line ? t->o.max_line : TAIL_MAX_LINE;
    t->o.rotate_wait_ns = t->o.rotate_wait_ns ? t->o.rotate_wait_ns : TAIL_ROTATE_WAIT;
    t->emit = emit;
    t->event = event;
    t->ud = ud;
    clew_buf_init(&t->scratch);
    int rc = clew_tail_match_init(&t->m, opts, err);
    if (rc == 0 && (t->host = clew_strdup(opts->host ? opts->host : "")) == NULL) {
        rc = -ENOMEM;
    }
    if (rc < 0) {
        clew_tailer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void clew_tailer_free(struct clew_tailer *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nfiles; i++) {
        file_free(t->files[i]);
    }
    clew_free(t->files);
    clew_ckpt_clear(&t->restore);
    clew_buf_close(&t->scratch);
    clew_tail_match_close(&t->m);
    clew_free(t->host);
    clew_free(t);
}

int clew_tailer_restore(struct clew_tailer *t, const struct clew_ckpt *c)
{
    clew_ckpt_clear(&t->restore);
    for (size_t i = 0; i < c->n; i++) {
        if (clew_ckpt_add(&t->restore, &c->files[i]) < 0) {
            return -ENOMEM;
        }
    }
    t->restored = 0;
    return 0;
}

static struct tfile *find_file(struct clew_tailer *t, uint32_t id)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        if (t->files[i]->id == id) {
            return t->files[i];
        }
    }
    return NULL;
}

void clew_tailer_sent(struct clew_tailer *t, uint32_t id, uint64_t off)
{
    struct tfile *f = find_file(t, id);
    if (f != NULL && off > f->sent) {
        f->sent = off;
    }
}

void clew_tailer_ack(struct clew_tailer *t, uint32_t id, uint64_t off)
{
    struct tfile *f = find_file(t, id);
    if (f != NULL && off > f->acked) {
        f->acked = off;
    }
}

void clew_tailer_flush(struct clew_tailer *t)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        struct tfile *f = t->files[i];
        if (!f->finished) {
            clew_asm_flush(f->as, f->read_off - f->carry.len);
        }
    }
}

static int ckpt_entry(struct tfile *f, struct clew_ckpt *c)
{
    struct clew_ckpt_file e = { .dev = f->dev,
                                .ino = f->ino,
                                .offset = f->acked,
                                .read = f->sent > f->acked ? f->sent : f->acked,
                                .path = f->path };
    uint8_t head[CLEW_CKPT_FP_MAX];
    size_t want = f->acked < CLEW_CKPT_FP_MAX ? (size_t)f->acked : CLEW_CKPT_FP_MAX;
    if (f->compressed && want > 0 && want <= f->head_len) {
        e.fp_len = (uint32_t)want;
        e.fp_hash = clew_ckpt_fingerprint(f->head, want);
    } else if (!f->compressed && want > 0 && f->fd >= 0 &&
               pread(f->fd, head, want, 0) == (ssize_t)want) {
        e.fp_len = (uint32_t)want;
        e.fp_hash = clew_ckpt_fingerprint(head, want);
    }
    return clew_ckpt_add(c, &e);
}

int clew_tailer_checkpoint(struct clew_tailer *t, struct clew_ckpt *c)
{
    for (size_t i = 0; i < c->n; i++) {
        clew_free(c->files[i].path);
    }
    c->n = 0;
    for (size_t i = 0; i < t->nfiles; i++) {
        int rc = ckpt_entry(t->files[i], c);
        if (rc < 0) {
            return rc;
        }
    }
    /* Entries not resolved yet (the first scan has not run) are kept. */
    for (size_t i = 0; !t->restored && i < t->restore.n; i++) {
        if (t->restore.files[i].offset != UINT64_MAX &&
            clew_ckpt_add(c, &t->restore.files[i]) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

int clew_tailer_caught_up(const struct clew_tailer *t)
{
    for (size_t i = 0; i < t->nfiles; i++) {
        const struct tfile *f = t->files[i];
        if (!f->finished && (!f->at_eof || clew_asm_holding(f->as))) {
            return 0;
        }
        if (f->acked < f->read_off - f->carry.len) {
            return 0;
        }
    }
    return 1;
}

void clew_tailer_stats(const struct clew_tailer *t, struct clew_tailer_stats *out)
{
    *out = t->st;
    out->files = t->nfiles;
}
