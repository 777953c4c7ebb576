/* SPDX-License-Identifier: MIT */
#include "shipper/listeners.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "collector/config.h"
#include "collector/input.h"
#include "common/alloc.h"
#include "shipper/ship_encode.h"

#define MAX_LISTENERS 2

/* The counters of one listener, kept after it stopped. */
struct snap {
    char name[16];
    char where[160];
    struct clew_input_stats st;
};

struct clew_listeners {
    struct clew_config cfg; /* clewd's defaults; syslog and gelf from clew-ship */
    int cfg_inited;
    struct clew_input_env env;
    struct clew_inputs *in; /* NULL once stopped */
    struct clew_fwd_out *out;
    int paused;
    uint64_t pauses;
    struct snap snap[MAX_LISTENERS];
    size_t nsnap;
};

/* A record from an input: one Forward entry without a file mark. */
static int push(void *ud, const struct clew_record *r)
{
    struct clew_listeners *l = ud;
    struct clew_buf *p = clew_fwd_out_payload(l->out);
    int rc = p != NULL ? clew_ship_record_encode(p, r) : -ENOMEM;
    if (rc == 0) {
        rc = clew_fwd_out_commit(l->out, CLEW_LISTENERS_MARK_FILE, 0);
    }
    clew_listeners_pressure(l);
    return rc;
}

void clew_listeners_pressure(struct clew_listeners *l)
{
    if (l == NULL || l->in == NULL) {
        return;
    }
    int full = clew_fwd_out_full(l->out) ? 1 : 0;
    if (full != l->paused) {
        l->paused = full;
        l->pauses += (uint64_t)full;
        clew_inputs_pause(l->in, full);
    }
}

static void take_one(void *ud, const char *name, struct clew_input_stats *st, const char *where)
{
    struct clew_listeners *l = ud;
    if (l->nsnap < MAX_LISTENERS) {
        struct snap *s = &l->snap[l->nsnap++];
        snprintf(s->name, sizeof(s->name), "%s", name);
        snprintf(s->where, sizeof(s->where), "%s", where);
        s->st = *st;
    }
}

/* Refreshes the kept counters from the running inputs. */
static void take_snapshot(struct clew_listeners *l)
{
    if (l->in != NULL) {
        l->nsnap = 0;
        clew_inputs_each(l->in, take_one, l);
    }
}

/* The listener config: clewd's defaults, only syslog and gelf on. */
static int make_config(struct clew_listeners *l, const char *syslog_addr, const char *gelf_addr,
                       char err[CLEW_ERR_LEN])
{
    const char *names[4] = { "syslog", "gelf", "forward", "http" };
    const char *vals[4] = { syslog_addr[0] ? syslog_addr : "off", gelf_addr[0] ? gelf_addr : "off",
                            "off", "off" };
    int rc = clew_config_init(&l->cfg);
    if (rc < 0) {
        return rc;
    }
    l->cfg_inited = 1;
    for (size_t i = 0; i < 4; i++) {
        struct sockaddr_storage ss;
        if (strcmp(vals[i], "off") != 0 && (rc = clew_parse_addr(vals[i], &ss, err)) < 0) {
            char why[CLEW_ERR_LEN];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, CLEW_ERR_LEN, "--%s: %s", names[i], why);
            return rc;
        }
        if ((rc = clew_config_set(&l->cfg, names[i], vals[i], err)) < 0) {
            return rc;
        }
    }
    return 0;
}

int clew_listeners_open(uv_loop_t *loop, const char *syslog_addr, const char *gelf_addr,
                        struct clew_fwd_out *out, struct clew_listeners **lp,
                        char err[CLEW_ERR_LEN])
{
    *lp = NULL;
    struct clew_listeners *l = clew_calloc(1, sizeof(*l));
    int rc = -ENOMEM;
    if (l == NULL) {
        goto fail;
    }
    l->out = out;
    if ((rc = make_config(l, syslog_addr, gelf_addr, err)) < 0) {
        goto fail;
    }
    l->env = (struct clew_input_env){
        .loop = loop, .pipe = NULL, .cfg = &l->cfg, .push = push, .push_ud = l
    };
    char why[CLEW_ERR_LEN];
    if ((rc = clew_inputs_start(&l->env, &l->in, why)) < 0) {
        snprintf(err, CLEW_ERR_LEN, "local listener (--syslog %s, --gelf %s): %s", l->cfg.syslog,
                 l->cfg.gelf, why);
        goto fail;
    }
    take_snapshot(l);
    *lp = l;
    return 0;
fail:
    if (rc == -ENOMEM) {
        snprintf(err, CLEW_ERR_LEN, "out of memory");
    }
    clew_listeners_free(l);
    return rc;
}

void clew_listeners_stop(struct clew_listeners *l)
{
    if (l == NULL || l->in == NULL) {
        return;
    }
    take_snapshot(l);
    clew_inputs_stop(l->in);
    l->in = NULL;
}

static uint64_t errors_total(const struct clew_input_stats *st)
{
    uint64_t n = 0;
    for (unsigned e = 0; e < CLEW_INERR_COUNT; e++) {
        n += st->errors[e];
    }
    return n;
}

static void write_one(const struct snap *s, FILE *f)
{
    const struct clew_input_stats *st = &s->st;
    fprintf(f,
            "\"%s\":{\"listen\":\"%s\",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
            ",\"datagrams\":%" PRIu64 ",\"connections\":%" PRIu64 ",\"open_connections\":%" PRIu64
            ",\"udp_drops\":%" PRIu64 ",\"errors\":{",
            s->name, s->where, st->records, st->bytes, st->datagrams, st->connections,
            st->open_connections, st->udp_drops);
    for (unsigned e = 0; e < CLEW_INERR_COUNT; e++) {
        fprintf(f, "%s\"%s\":%" PRIu64, e ? "," : "", clew_inerr_name(e), st->errors[e]);
    }
    fputs("}}", f);
}

void clew_listeners_write_status(struct clew_listeners *l, FILE *f)
{
    fputs("\"listeners\":{", f);
    if (l != NULL) {
        take_snapshot(l);
        for (size_t i = 0; i < l->nsnap; i++) {
            fputs(i ? "," : "", f);
            write_one(&l->snap[i], f);
        }
    }
    fprintf(f, "},\"listener_pauses\":%" PRIu64, l != NULL ? l->pauses : 0);
}

void clew_listeners_summary(struct clew_listeners *l, char *buf, size_t len)
{
    size_t n = 0;
    snprintf(buf, len, "none");
    if (l == NULL) {
        return;
    }
    take_snapshot(l);
    for (size_t i = 0; i < l->nsnap && n < len; i++) {
        const struct clew_input_stats *st = &l->snap[i].st;
        int w = snprintf(buf + n, len - n,
                         "%s%s %" PRIu64 " records, %" PRIu64 " bytes, %" PRIu64
                         " bad or cut, %" PRIu64 " datagrams dropped while paused",
                         i ? "; " : "", l->snap[i].name, st->records, st->bytes, errors_total(st),
                         st->udp_drops);
        n += w > 0 ? (size_t)w : 0;
    }
}

void clew_listeners_free(struct clew_listeners *l)
{
    if (l == NULL) {
        return;
    }
    clew_listeners_stop(l);
    if (l->cfg_inited) {
        clew_config_close(&l->cfg);
    }
    clew_free(l);
}
