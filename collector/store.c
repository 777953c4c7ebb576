/* SPDX-License-Identifier: MIT
 * The storage engine: see store.h for the life of a record. Invariants:
 *  - the active memtable holds exactly the records of the current WAL
 *    generation (unless `incomplete`: an add failed after the WAL write, and
 *    the generation is then sealed from its WAL file instead);
 *  - a WAL file is deleted only after every hour segment of its generation
 *    is renamed into place and its directory synced;
 *  - at most one segment exists per (hour, generation), so sealing a
 *    generation again after a crash skips the hours already sealed. */
#include "collector/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "collector/memtable.h"
#include "collector/wal.h"
#include "common/alloc.h"
#include "common/datadir.h"
#include "common/rec_codec.h"
#include "common/timeutil.h"

#define RETRY_NS           (10 * CLEW_NS_PER_SEC)
#define RETENTION_EVERY_NS (60 * CLEW_NS_PER_SEC)

struct sealing {
    struct clew_memtable *m;
    int incomplete;   /* seal from the WAL file, not the memtable */
    int64_t next_try; /* monotonic ns of the next attempt after a failure */
};

struct clew_store {
    struct clew_store_config cfg;
    char *data_dir;
    char wal_dir[CLEW_PATH_MAX];
    clew_store_durable_cb durable_cb;
    void *ud;

    pthread_mutex_t lock;
    pthread_cond_t wake;      /* flusher: work to do                  */
    pthread_cond_t seal_wake; /* sealer: a memtable waits to be sealed */
    pthread_cond_t sealed;    /* a seal finished (or failed)           */
    pthread_t thread, sealer;
    int thread_started, sealer_started;
    int stop;        /* the flusher's last round            */
    int sealer_stop; /* the sealer's last pass (after it)   */
    int sync_now;
    int last_seal_err; /* of the sealer's latest failed attempt */

    struct clew_wal *wal;
    uint64_t last_gen;
    struct clew_memtable *active;
    int active_incomplete;
    int64_t active_first_wall;
    struct sealing *sealing;
    size_t nsealing, sealing_cap;

    uint64_t last_seq, durable_seq;
    uint64_t seal_req, seal_done;
    int seal_rc;
    int64_t last_retention;
    struct clew_store_stats st;
};

/* Reports an event to the program (the store itself never logs). Lock held
 * or not; the callback must not call the store. */
__attribute__((format(printf, 2, 3))) static void note(struct clew_store *s, const char *fmt, ...)
{
    if (s->cfg.note_cb == NULL) {
        return;
    }
    char msg[2 * CLEW_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->cfg.note_cb(s->cfg.note_ud, msg);
}

void clew_store_config_default(struct clew_store_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->data_dir = "./data";
    cfg->fsync = CLEW_FSYNC_INTERVAL;
    cfg->fsync_interval_ns = 100 * 1000000LL;
    cfg->seal_bytes = 64u << 20;
    cfg->seal_age_ns = 10 * 60 * CLEW_NS_PER_SEC;
    cfg->retention_ns = 0;
    cfg->wal_lz4_accel = 0;
    clew_seg_opts_default(&cfg->seg);
}

int clew_store_parse_fsync(const char *s, enum clew_fsync_mode *out)
{
    static const char *const names[] = { "always", "interval", "never" };
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum clew_fsync_mode)i;
            return 0;
        }
    }
    return CLEW_EBADARG;
}

/* Generations are time-based (µs) and strictly increasing, so they stay
 * unique across restarts even after every WAL file has been sealed away. */
static uint64_t next_gen(struct clew_store *s)
{
    uint64_t g = (uint64_t)(clew_time_now_ns() / 1000);
    s->last_gen = g > s->last_gen ? g : s->last_gen + 1;
    return s->last_gen;
}

/* Writes one segment per UTC hour of recs (sorted by ts), skipping hours
 * that already hold a segment of generation gen. */
static int write_hours(struct clew_store *s, uint64_t gen, const struct clew_record *recs, size_t n,
                       char err[CLEW_ERR_LEN])
{
    size_t i = 0;
    while (i < n) {
        int64_t hour = clew_hour_floor(recs[i].ts);
        size_t j = i + 1;
        while (j < n && clew_hour_floor(recs[j].ts) == hour) {
            j++;
        }
        struct clew_dd_segment *segs;
        size_t nsegs;
        int rc = clew_dd_list_segments(s->data_dir, hour, &segs, &nsegs);
        if (rc < 0) {
            snprintf(err, CLEW_ERR_LEN, "listing hour of %s: %s", s->data_dir, clew_strerror(rc));
            return rc;
        }
        int exists = 0;
        for (size_t k = 0; k < nsegs; k++) {
            exists |= segs[k].gen == gen;
        }
        clew_free(segs);
        if (!exists) {
            char dir[CLEW_PATH_MAX], path[CLEW_PATH_MAX];
            struct clew_seg_info info;
            if ((rc = clew_dd_hour_dir(s->data_dir, hour, dir, sizeof(dir))) < 0 ||
                (rc = clew_dd_mkdirs(dir)) < 0 ||
                (rc = clew_dd_segment_path(s->data_dir, recs[i].ts, gen, path, sizeof(path))) < 0) {
                snprintf(err, CLEW_ERR_LEN, "creating %s: %s", dir, clew_strerror(rc));
                return rc;
            }
            rc = clew_seg_write(path, gen, recs + i, j - i, &s->cfg.seg, &info, err);
            if (rc < 0) {
                return rc;
            }
            __atomic_add_fetch(&s->st.segments_written, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&s->st.segment_bytes_written, info.file_bytes, __ATOMIC_RELAXED);
        }
        i = j;
    }
    return 0;
}

/* Seals a frozen memtable: segments first, then the WAL file goes. */
static int seal_memtable(struct clew_store *s, struct clew_memtable *m, char err[CLEW_ERR_LEN])
{
    struct clew_record *recs = clew_memtable_sorted(m);
    if (recs == NULL) {
        snprintf(err, CLEW_ERR_LEN, "sealing: out of memory");
        return -ENOMEM;
    }
    int rc = write_hours(s, clew_memtable_gen(m), recs, clew_memtable_count(m), err);
    clew_free(recs);
    if (rc == 0 && (rc = clew_wal_remove(s->wal_dir, clew_memtable_gen(m))) < 0) {
        snprintf(err, CLEW_ERR_LEN, "removing WAL generation %016" PRIx64 ": %s",
                 clew_memtable_gen(m), clew_strerror(rc));
    }
    return rc;
}

static int replay_add(void *ud, uint64_t gen, const struct clew_record *rec)
{
    (void)gen;
    return clew_memtable_add(ud, rec);
}

/* Reads generation gen back from its WAL file (cutting a bad tail) and
 * seals it. Used at start-up, and for a generation whose memtable missed a
 * record. */
static int seal_from_wal(struct clew_store *s, uint64_t gen, char err[CLEW_ERR_LEN])
{
    char path[CLEW_PATH_MAX];
    int rc = clew_wal_path(s->wal_dir, gen, path, sizeof(path));
    struct clew_memtable *m = clew_memtable_new(gen);
    if (rc < 0 || m == NULL) {
        clew_memtable_free(m);
        snprintf(err, CLEW_ERR_LEN, "replaying generation %016" PRIx64 ": %s", gen,
                 clew_strerror(rc < 0 ? rc : -ENOMEM));
        return rc < 0 ? rc : -ENOMEM;
    }
    struct clew_wal_replay_stats rs;
    char rerr[CLEW_ERR_LEN] = "";
    rc = clew_wal_replay(path, 1, replay_add, m, &rs, rerr);
    if (rc == CLEW_EFORMAT || rc == CLEW_EVERSION || rc == CLEW_ECORRUPT) {
        /* Not a WAL file we can read: keep it aside for a human, go on. */
        char bad[CLEW_PATH_MAX + 8];
        snprintf(bad, sizeof(bad), "%s.bad", path);
        rc = rename(path, bad) < 0 ? -errno : 0;
        note(s, "%s: unreadable (%s), moved aside to .bad", path, rerr);
        if (rc < 0) {
            snprintf(err, CLEW_ERR_LEN, "renaming %s: %s", path, clew_strerror(rc));
        }
    } else if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "%s", rerr);
    } else {
        __atomic_add_fetch(&s->st.replayed_records, rs.records, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->st.replay_cut_bytes, rs.cut_bytes, __ATOMIC_RELAXED);
        if (rs.cut_bytes > 0) {
            note(s, "WAL recovery: %s", rerr);
        }
        if (rs.records > 0) {
            note(s, "WAL recovery: %" PRIu64 " records of generation %016" PRIx64 " replayed",
                 rs.records, gen);
        }
        clew_memtable_freeze(m);
        rc = seal_memtable(s, m, err);
    }
    clew_memtable_free(m);
    return rc;
}

static int recover(struct clew_store *s, char err[CLEW_ERR_LEN])
{
    uint64_t *gens;
    size_t n;
    int rc = clew_wal_list(s->wal_dir, &gens, &n);
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "listing %s: %s", s->wal_dir, clew_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        s->last_gen = gens[i] > s->last_gen ? gens[i] : s->last_gen;
        rc = seal_from_wal(s, gens[i], err);
    }
    clew_free(gens);
    return rc;
}

static void notify_durable(struct clew_store *s, uint64_t seq)
{
    s->durable_seq = seq > s->durable_seq ? seq : s->durable_seq;
    s->st.durable_seq = s->durable_seq;
    if (s->durable_cb != NULL) {
        pthread_mutex_unlock(&s->lock);
        s->durable_cb(s->ud, seq);
        pthread_mutex_lock(&s->lock);
    }
}

/* Makes every appended frame durable (by the policy) and tells the caller.
 * Called on the flusher with the lock held; drops it around the fsync. */
static void sync_wal(struct clew_store *s)
{
    uint64_t target = s->last_seq;
    s->sync_now = 0;
    if (target <= s->durable_seq) {
        return;
    }
    int rc = 0;
    if (s->cfg.fsync != CLEW_FSYNC_NEVER) {
        struct clew_wal *w = s->wal;
        pthread_mutex_unlock(&s->lock);
        rc = clew_wal_sync(w); /* appends may go on meanwhile; rotation cannot */
        pthread_mutex_lock(&s->lock);
    }
    if (rc < 0) {
        s->st.wal_errors++;
        note(s, "WAL fsync failed: %s", clew_strerror(rc));
        return; /* not durable: acks wait, and the next round tries again */
    }
    s->st.wal_syncs++;
    notify_durable(s, target);
}

static int push_sealing(struct clew_store *s, struct clew_memtable *m, int incomplete)
{
    if (s->nsealing == s->sealing_cap) {
        size_t cap = s->sealing_cap ? s->sealing_cap * 2 : 4;
        struct sealing *a = clew_realloc(s->sealing, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        s->sealing = a;
        s->sealing_cap = cap;
    }
    s->sealing[s->nsealing++] = (struct sealing){ m, incomplete, 0 };
    return 0;
}

/* Swaps the active memtable and WAL generation for new ones. Lock held.
 * The old generation's file is synced first, so its frames are durable. */
static int rotate(struct clew_store *s, char err[CLEW_ERR_LEN])
{
    uint64_t gen = next_gen(s);
    struct clew_memtable *m = clew_memtable_new(gen);
    struct clew_wal *w = NULL;
    int rc = m == NULL ? -ENOMEM : clew_wal_open(s->wal_dir, gen, s->last_seq + 1, &w, err);
    if (rc == 0) {
        clew_wal_set_lz4(w, s->cfg.wal_lz4_accel);
    }
    if (rc == 0 && s->cfg.fsync != CLEW_FSYNC_NEVER) {
        rc = clew_wal_sync(s->wal);
    }
    if (rc == 0 && (rc = push_sealing(s, s->active, s->active_incomplete)) == 0) {
        clew_memtable_freeze(s->active);
        clew_wal_free(s->wal);
        s->wal = w;
        s->active = m;
        s->active_incomplete = 0;
        s->active_first_wall = 0;
        notify_durable(s, s->last_seq);
        pthread_cond_signal(&s->seal_wake);
        return 0;
    }
    if (w != NULL) {
        clew_wal_free(w);
        clew_wal_remove(s->wal_dir, gen);
    }
    clew_memtable_free(m);
    if (err[0] == '\0') {
        snprintf(err, CLEW_ERR_LEN, "rotating the WAL: %s", clew_strerror(rc));
    }
    return rc;
}

/* Seals every memtable waiting in the list whose time has come. Lock held;
 * dropped while segments are written. Returns the first error. */
static int seal_pending(struct clew_store *s, int64_t now, char err[CLEW_ERR_LEN])
{
    int first_rc = 0;
    for (size_t i = 0; i < s->nsealing;) {
        struct sealing it = s->sealing[i];
        if (it.next_try > now) {
            i++;
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        int rc = it.incomplete ? seal_from_wal(s, clew_memtable_gen(it.m), err)
                               : seal_memtable(s, it.m, err);
        pthread_mutex_lock(&s->lock);
        if (rc < 0) {
            s->last_seal_err = rc;
            s->st.seal_errors++;
            pthread_cond_broadcast(&s->sealed);
            s->sealing[i].next_try = now + RETRY_NS;
            first_rc = first_rc ? first_rc : rc;
            i++;
            continue;
        }
        s->st.seals++;
        clew_memtable_free(it.m);
        pthread_cond_broadcast(&s->sealed); /* appends may wait for this */
        memmove(&s->sealing[i], &s->sealing[i + 1], (s->nsealing - i - 1) * sizeof(*s->sealing));
        s->nsealing--;
    }
    return first_rc;
}

static int seal_due(struct clew_store *s, int64_t mono, int64_t wall)
{
    if (clew_memtable_count(s->active) == 0) {
        return 0;
    }
    if (s->stop || s->seal_req != s->seal_done ||
        clew_hour_floor(wall) != clew_hour_floor(s->active_first_wall)) {
        return 1;
    }
    /* Size and age wait while the sealer is behind: the active memtable
     * grows (to twice seal_bytes, where appends wait) instead of the list
     * of memtables to seal. */
    if (s->nsealing > 0) {
        return 0;
    }
    return clew_memtable_raw_bytes(s->active) >= s->cfg.seal_bytes ||
           mono - clew_memtable_first_mono(s->active) >= s->cfg.seal_age_ns;
}

/* An explicit seal (clew_store_seal, stop): waits until the sealer has
 * sealed every waiting memtable or failed at one. Lock held. */
static int wait_sealed(struct clew_store *s)
{
    uint64_t seal_errors = s->st.seal_errors;
    while (s->nsealing > 0 && s->st.seal_errors == seal_errors) {
        pthread_cond_wait(&s->sealed, &s->lock);
    }
    return s->nsealing == 0                   ? 0
           : s->st.seal_errors != seal_errors ? s->last_seal_err
                                              : CLEW_ECLOSED;
}

/* One round of the flusher's work: durability first, then the decision to
 * seal (the sealer thread does the sealing, so acks never wait for it).
 * Lock held. */
static void flush_round(struct clew_store *s)
{
    char err[CLEW_ERR_LEN] = "";
    int64_t mono = clew_time_mono_ns(), wall = clew_time_now_ns();
    sync_wal(s);
    int want_seal = s->seal_req != s->seal_done;
    uint64_t req = s->seal_req;
    int rc = 0;
    if (seal_due(s, mono, wall) && (rc = rotate(s, err)) < 0) {
        note(s, "seal failed (will retry): %s", err);
    }
    if (want_seal) {
        int src = wait_sealed(s);
        s->seal_rc = rc ? rc : src;
        s->seal_done = req;
        pthread_cond_broadcast(&s->sealed);
    }
    if (s->cfg.retention_ns > 0 && mono - s->last_retention >= RETENTION_EVERY_NS) {
        s->last_retention = mono;
        pthread_mutex_unlock(&s->lock);
        clew_store_apply_retention(s);
        pthread_mutex_lock(&s->lock);
    }
}

/* The monotonic time of the next seal attempt; INT64_MAX if none waits. */
static int64_t next_seal_at(const struct clew_store *s)
{
    int64_t t = INT64_MAX;
    for (size_t i = 0; i < s->nsealing; i++) {
        t = s->sealing[i].next_try < t ? s->sealing[i].next_try : t;
    }
    return t;
}

/* The sealer: turns frozen memtables into segments, off the flusher so
 * that fsyncs and durable notifications go on while a seal runs. After
 * sealer_stop it makes one last attempt at everything still waiting. */
static void *sealer_main(void *arg)
{
    struct clew_store *s = arg;
    char err[CLEW_ERR_LEN];
    pthread_mutex_lock(&s->lock);
    for (;;) {
        int last = s->sealer_stop;
        int64_t mono = clew_time_mono_ns(), at = next_seal_at(s);
        if (!last && at > mono) {
            int64_t t = at == INT64_MAX ? mono + CLEW_NS_PER_SEC : at;
            struct timespec ts = { .tv_sec = t / CLEW_NS_PER_SEC, .tv_nsec = t % CLEW_NS_PER_SEC };
            pthread_cond_timedwait(&s->seal_wake, &s->lock, &ts);
            continue;
        }
        err[0] = '\0';
        if (s->nsealing > 0 && seal_pending(s, last ? INT64_MAX : mono, err) < 0) {
            note(s, "seal failed (will retry): %s", err);
        }
        if (last) {
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void *flusher_main(void *arg)
{
    struct clew_store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        int64_t wait_ns =
            s->cfg.fsync == CLEW_FSYNC_INTERVAL ? s->cfg.fsync_interval_ns : CLEW_NS_PER_SEC;
        if (!s->stop && !s->sync_now && s->seal_req == s->seal_done) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t t = (int64_t)ts.tv_sec * CLEW_NS_PER_SEC + ts.tv_nsec + wait_ns;
            ts.tv_sec = t / CLEW_NS_PER_SEC;
            ts.tv_nsec = t % CLEW_NS_PER_SEC;
            pthread_cond_timedwait(&s->wake, &s->lock, &ts);
        }
        int stopping = s->stop;
        flush_round(s);
        if (stopping) {
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int clew_store_open(const struct clew_store_config *cfg, clew_store_durable_cb durable_cb, void *ud,
                    struct clew_store **out, char err[CLEW_ERR_LEN])
{
    *out = NULL;
    err[0] = '\0';
    struct clew_store *s = clew_calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    s->cfg = *cfg;
    s->durable_cb = durable_cb;
    s->ud = ud;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_cond_init(&s->seal_wake, &ca);
    pthread_cond_init(&s->sealed, &ca);
    pthread_condattr_destroy(&ca);
    int rc = -ENOMEM;
    if ((s->data_dir = clew_strdup(cfg->data_dir)) == NULL) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        goto fail;
    }
    s->cfg.data_dir = s->data_dir;
    if ((rc = clew_dd_wal_dir(s->data_dir, s->wal_dir, sizeof(s->wal_dir))) < 0 ||
        (rc = clew_dd_mkdirs(s->wal_dir)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "creating %s/wal: %s", s->data_dir, clew_strerror(rc));
        goto fail;
    }
    if ((rc = recover(s, err)) < 0) {
        goto fail;
    }
    uint64_t gen = next_gen(s);
    if ((s->active = clew_memtable_new(gen)) == NULL) {
        rc = -ENOMEM;
        snprintf(err, CLEW_ERR_LEN, "out of memory");
        goto fail;
    }
    if ((rc = clew_wal_open(s->wal_dir, gen, 1, &s->wal, err)) < 0) {
        goto fail;
    }
    clew_wal_set_lz4(s->wal, s->cfg.wal_lz4_accel);
    s->last_retention = clew_time_mono_ns() - RETENTION_EVERY_NS; /* run soon */
    if ((rc = -pthread_create(&s->sealer, NULL, sealer_main, s)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "starting the sealer: %s", clew_strerror(rc));
        goto fail;
    }
    s->sealer_started = 1;
    if ((rc = -pthread_create(&s->thread, NULL, flusher_main, s)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "starting the flusher: %s", clew_strerror(rc));
        goto fail;
    }
    s->thread_started = 1;
    *out = s;
    return 0;
fail:
    clew_store_close(s);
    return rc;
}

int clew_store_append(struct clew_store *s, const struct clew_record *recs, size_t n, uint64_t *seq)
{
    uint64_t fseq = 0;
    pthread_mutex_lock(&s->lock);
    /* Backpressure: while a seal is still running, the active memtable may
     * grow to twice its size, no further; the writer waits here, its queue
     * fills, and the pipeline pauses the inputs. */
    uint64_t seal_errors = s->st.seal_errors; /* a failing seal must not wedge ingest */
    while (!s->stop && s->nsealing > 0 && s->st.seal_errors == seal_errors &&
           clew_memtable_raw_bytes(s->active) >= 2 * s->cfg.seal_bytes) {
        s->st.append_waits++;
        pthread_cond_wait(&s->sealed, &s->lock);
    }
    int rc = n == 0 ? 0 : clew_wal_append(s->wal, recs, n, &fseq);
    if (rc < 0) {
        s->st.wal_errors++;
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    if (n > 0) {
        s->last_seq = fseq;
        s->st.wal_frames++;
    }
    if (clew_memtable_count(s->active) == 0 && n > 0) {
        s->active_first_wall = clew_time_now_ns();
    }
    for (size_t i = 0; i < n; i++) {
        /* The records are in the WAL already: if the memtable cannot take
         * one, the generation is sealed from its WAL file instead. */
        if (!s->active_incomplete && clew_memtable_add(s->active, &recs[i]) < 0) {
            s->active_incomplete = 1;
        }
        s->st.raw_bytes_appended += clew_rec_raw_size(&recs[i]);
    }
    s->st.records_appended += n;
    int wake = s->cfg.fsync != CLEW_FSYNC_INTERVAL ||
               clew_memtable_raw_bytes(s->active) >= s->cfg.seal_bytes || s->active_incomplete;
    if (wake) {
        s->sync_now = 1;
        pthread_cond_signal(&s->wake);
    }
    if (seq != NULL) {
        *seq = s->last_seq;
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void clew_store_sync_soon(struct clew_store *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->sync_now) {
        s->sync_now = 1;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
}

uint64_t clew_store_durable_seq(struct clew_store *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t v = s->durable_seq;
    pthread_mutex_unlock(&s->lock);
    return v;
}

int clew_store_seal(struct clew_store *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t req = ++s->seal_req;
    pthread_cond_signal(&s->wake);
    while (s->seal_done < req) {
        pthread_cond_wait(&s->sealed, &s->lock);
    }
    int rc = s->seal_rc;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int clew_store_apply_retention(struct clew_store *s)
{
    if (s->cfg.retention_ns <= 0) {
        return 0;
    }
    /* An hour is dropped once its end is older than the retention: the
     * hours listed start at or before the cutoff. */
    int64_t cutoff = clew_time_now_ns() - s->cfg.retention_ns - CLEW_NS_PER_HOUR;
    int64_t *hours;
    size_t n;
    int rc = clew_dd_list_hours(s->data_dir, INT64_MIN, cutoff, &hours, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((rc = clew_dd_remove_hour(s->data_dir, hours[i])) == 0) {
            char ts[40];
            clew_time_format(hours[i], 0, ts, sizeof(ts));
            note(s, "retention: dropped the hour of %s", ts);
            __atomic_add_fetch(&s->st.hours_dropped, 1, __ATOMIC_RELAXED);
        }
    }
    clew_free(hours);
    return rc;
}

int clew_store_scan_memtables(struct clew_store *s, clew_store_record_cb cb, void *ud)
{
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; rc == 0 && i <= s->nsealing; i++) {
        struct clew_memtable *m = i < s->nsealing ? s->sealing[i].m : s->active;
        size_t n = clew_memtable_count(m);
        for (size_t j = 0; rc == 0 && j < n; j++) {
            rc = cb(ud, clew_memtable_get(m, j));
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void clew_store_get_stats(struct clew_store *s, struct clew_store_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    out->memtable_records = clew_memtable_count(s->active);
    for (size_t i = 0; i < s->nsealing; i++) {
        out->memtable_records += clew_memtable_count(s->sealing[i].m);
    }
    pthread_mutex_unlock(&s->lock);
    out->segments_written = __atomic_load_n(&s->st.segments_written, __ATOMIC_RELAXED);
}

int clew_store_close(struct clew_store *s)
{
    if (s == NULL) {
        return 0;
    }
    int rc = 0;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_signal(&s->wake);
        pthread_cond_broadcast(&s->sealed);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->sealer_started) { /* after the flusher's last rotation */
        pthread_mutex_lock(&s->lock);
        s->sealer_stop = 1;
        pthread_cond_signal(&s->seal_wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->sealer, NULL);
        rc = s->nsealing > 0 ? CLEW_ECLOSED : 0; /* a seal failed: the WAL keeps them */
    }
    if (s->wal != NULL) {
        uint64_t gen = clew_wal_gen(s->wal);
        clew_wal_sync(s->wal);
        clew_wal_free(s->wal);
        if (s->active != NULL && clew_memtable_count(s->active) == 0 && !s->active_incomplete) {
            clew_wal_remove(s->wal_dir, gen); /* nothing in it */
        }
    }
    clew_memtable_free(s->active);
    for (size_t i = 0; i < s->nsealing; i++) {
        clew_memtable_free(s->sealing[i].m);
    }
    clew_free(s->sealing);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->seal_wake);
    pthread_cond_destroy(&s->sealed);
    pthread_mutex_destroy(&s->lock);
    clew_free(s->data_dir);
    clew_free(s);
    return rc;
}
