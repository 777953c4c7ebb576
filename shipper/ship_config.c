/* SPDX-License-Identifier: MIT */
#include "shipper/ship_config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "shipper/tailer.h"

enum { T_STR, T_GLOB, T_SIZE, T_DUR, T_INT };

struct opt {
    const char *name;
    int type;
    size_t off;
    const char *def;
    const char *help;
};

#define O(n, t, f, d, h)                                                                           \
    {                                                                                              \
        n, t, offsetof(struct clew_ship_config, f), d, h                                           \
    }
static const struct opt opts[] = {
    O("forward", T_STR, forward, "127.0.0.1:24224",
      "collectors, HOST:PORT[,HOST:PORT...] (failover in order)"),
    O("state", T_STR, state, "/var/lib/clew-ship",
      "state directory: checkpoint, disk buffer, status.json"),
    O("docker-root", T_STR, docker_root, "/var/lib/docker/containers",
      "Docker containers directory, or off"),
    O("cri-root", T_STR, cri_root, "/var/log/pods", "Kubernetes pod logs directory, or off"),
    O("docker-glob", T_GLOB, docker_glob, "*/*-json.log",
      "files to follow under --docker-root (glob(3), relative, no ..)"),
    O("cri-glob", T_GLOB, cri_glob, "*/*/*.log",
      "files to follow under --cri-root (glob(3), relative, no ..; e.g. prod_*/*/*.log)"),
    O("exclude", T_STR, exclude, "",
      "PATTERN[,PATTERN...]: fnmatch(3) patterns on the full path; matching files are not "
      "followed"),
    O("syslog", T_STR, syslog, "off",
      "local syslog listener HOST:PORT, UDP and TCP (e.g. 127.0.0.1:5514), or off"),
    O("gelf", T_STR, gelf, "off",
      "local GELF listener HOST:PORT, UDP (chunked, gzip, zlib) and TCP, or off"),
    O("config", T_STR, config, "none", "file of these options, one `name: value` a line"),
    O("host", T_STR, host, "", "node name sent as `host` (default: the hostname)"),
    O("tag", T_STR, tag, "clew-ship", "Fluent Forward tag"),
    O("multiline", T_STR, multiline, "default",
      "off, default (Java/Python/Go traces) or a PCRE2 pattern that starts a record"),
    O("multiline-wait", T_DUR, multiline_wait, "1s",
      "a held multiline record is sent after this idle time"),
    O("batch-size", T_SIZE, batch_size, "512KiB", "seal a Forward request at this many bytes"),
    O("batch-wait", T_DUR, batch_wait, "200ms", "seal a non-empty request this old"),
    O("max-inflight", T_SIZE, max_inflight, "16MiB", "bytes sent and not yet acknowledged"),
    O("max-memory", T_SIZE, max_memory, "32MiB", "bytes queued in memory before reading pauses"),
    O("buffer-size", T_SIZE, buffer_size, "256MiB",
      "disk buffer bound (oldest dropped first); 0 disables it"),
    O("spill-after", T_DUR, spill_after, "2s",
      "use the disk buffer when no collector answered this long"),
    O("ack-timeout", T_DUR, ack_timeout, "30s", "reconnect when an ack takes longer"),
    O("failback-every", T_DUR, failback_every, "30s",
      "on a later collector, probe the earlier ones this often (0: never go back)"),
    O("gzip", T_INT, gzip, "0", "gzip level of requests, 0 (off) to 9"),
    O("max-line", T_SIZE, max_line, "1MiB", "longest joined line; longer ones are cut"),
    O("rotate-wait", T_DUR, rotate_wait, "5s",
      "keep reading a rotated file this long after its rotation or last growth"),
    O("checkpoint-every", T_DUR, checkpoint_every, "1s",
      "how often acknowledged positions are saved"),
    O("scan-every", T_DUR, scan_every, "1s", "how often the log roots are scanned for new files"),
    O("drain-timeout", T_DUR, drain_timeout, "5s",
      "on SIGTERM, wait this long for outstanding acks"),
    O("log-file", T_STR, log_file, "", "clew-ship's own log (default stderr)"),
    O("log-level", T_STR, log_level, "info", "error, warn, info or debug"),
};
#undef O
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int clew_ship_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno != 0 || s[0] == '-') {
        return CLEW_EFORMAT;
    }
    static const struct {
        const char *suf;
        unsigned shift;
    } sufs[] = { { "", 0 },    { "b", 0 },    { "k", 10 }, { "kb", 10 }, { "kib", 10 }, { "m", 20 },
                 { "mb", 20 }, { "mib", 20 }, { "g", 30 }, { "gb", 30 }, { "gib", 30 } };
    char suf[8];
    size_t n = strlen(end);
    if (n >= sizeof(suf)) {
        return CLEW_EFORMAT;
    }
    for (size_t i = 0; i <= n; i++) {
        suf[i] = (char)tolower((unsigned char)end[i]);
    }
    for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++) {
        if (strcmp(suf, sufs[i].suf) == 0) {
            if (v > (SIZE_MAX >> sufs[i].shift)) {
                return CLEW_EFORMAT;
            }
            *out = (size_t)(v << sufs[i].shift);
            return 0;
        }
    }
    return CLEW_EFORMAT;
}

static const struct opt *find(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(opts[i].name, name) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

static int set_opt(struct clew_ship_config *c, const struct opt *o, const char *v,
                   char err[CLEW_ERR_LEN])
{
    char *field = (char *)c + o->off;
    int rc = 0;
    if (o->type == T_GLOB) {
        char what[80];
        snprintf(what, sizeof(what), "--%s", o->name);
        if (clew_tailer_check_glob(what, v, err) < 0) {
            return CLEW_EBADARG;
        }
    }
    if (o->type == T_STR || o->type == T_GLOB) {
        char *dup = clew_strdup(v);
        if (dup == NULL) {
            return -ENOMEM;
        }
        clew_free(*(char **)(void *)field);
        *(char **)(void *)field = dup;
    } else if (o->type == T_SIZE) {
        rc = clew_ship_parse_size(v, (size_t *)(void *)field);
    } else if (o->type == T_DUR) {
        rc = clew_duration_parse(v, (int64_t *)(void *)field);
    } else {
        char *end;
        long x = strtol(v, &end, 10);
        rc = end == v || *end != '\0' || x < 0 || x > 9 ? CLEW_EFORMAT : 0;
        if (rc == 0) {
            *(int64_t *)(void *)field = x;
        }
    }
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "--%s: bad value '%s'", o->name, v);
        return CLEW_EBADARG;
    }
    return 0;
}

int clew_ship_config_set(struct clew_ship_config *c, const char *name, const char *value,
                         char err[CLEW_ERR_LEN])
{
    const struct opt *o = find(name);
    if (o == NULL) {
        snprintf(err, CLEW_ERR_LEN, "unknown option '%s' (see --help)", name);
        return CLEW_ENOTFOUND;
    }
    return set_opt(c, o, value, err);
}

int clew_ship_config_init(struct clew_ship_config *c)
{
    memset(c, 0, sizeof(*c));
    char err[CLEW_ERR_LEN];
    for (size_t i = 0; i < NOPTS; i++) {
        int rc = set_opt(c, &opts[i], opts[i].def, err);
        if (rc < 0) {
            clew_ship_config_close(c);
            return rc;
        }
    }
    return 0;
}

void clew_ship_config_close(struct clew_ship_config *c)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].type == T_STR || opts[i].type == T_GLOB) {
            char **p = (char **)(void *)((char *)c + opts[i].off);
            clew_free(*p);
            *p = NULL;
        }
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

int clew_ship_config_load_file(struct clew_ship_config *c, const char *path, char err[CLEW_ERR_LEN])
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, CLEW_ERR_LEN, "config %s: %s", path, strerror(e));
        return -e;
    }
    char line[4096];
    int rc = 0, lineno = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || strcmp(s, "---") == 0) {
            continue;
        }
        char *colon = strchr(s, ':');
        if (colon == NULL) {
            snprintf(err, CLEW_ERR_LEN, "config %s:%d: want `name: value`", path, lineno);
            rc = CLEW_EBADARG;
            break;
        }
        *colon = '\0';
        char *name = trim(s), *value = trim(colon + 1);
        char e2[CLEW_ERR_LEN];
        if ((rc = clew_ship_config_set(c, name, value, e2)) < 0) {
            snprintf(err, CLEW_ERR_LEN, "config %s:%d: %s", path, lineno, e2);
            rc = rc == -ENOMEM ? rc : CLEW_EBADARG;
        }
    }
    fclose(f);
    return rc;
}

static void print_help(FILE *out)
{
    fprintf(out, "usage: clew-ship [options]\n\n"
                 "clew's node shipper: tails Docker and Kubernetes container logs and sends\n"
                 "them to clewd over Fluent Forward with acks (at-least-once). With --syslog\n"
                 "or --gelf it also listens on the node for syslog (RFC 5424/3164) and GELF,\n"
                 "e.g. from Docker's syslog and gelf log drivers, and forwards those records\n"
                 "whole (unlike file lines they cannot be read again: a crash loses those\n"
                 "neither acknowledged nor in the disk buffer).\n"
                 "\noptions:\n");
    for (size_t i = 0; i < NOPTS; i++) {
        fprintf(out, "  --%-18s %s (default: %s)\n", opts[i].name, opts[i].help,
                opts[i].def[0] ? opts[i].def : "\"\"");
    }
    fprintf(out, "  --%-18s %s\n", "help", "show this help");
}

/* Splits argv into (name, value) pairs; calls fn for each. */
static int walk_args(struct clew_ship_config *c, int argc, char **argv, int config_only,
                     char err[CLEW_ERR_LEN])
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, CLEW_ERR_LEN, "unexpected argument '%s'", a);
            return CLEW_EBADARG;
        }
        char name[64];
        const char *eq = strchr(a + 2, '='), *value;
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof(name)) {
            nl = sizeof(name) - 1;
        }
        memcpy(name, a + 2, nl);
        name[nl] = '\0';
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, CLEW_ERR_LEN, "--%s needs a value", name);
            return CLEW_EBADARG;
        }
        if (config_only != (strcmp(name, "config") == 0)) {
            continue;
        }
        int rc = clew_ship_config_set(c, name, value, err);
        if (rc < 0) {
            return rc == -ENOMEM ? rc : CLEW_EBADARG;
        }
    }
    return 0;
}

int clew_ship_config_parse_args(struct clew_ship_config *c, int argc, char **argv, FILE *help_out,
                                char err[CLEW_ERR_LEN])
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(help_out);
            return 1;
        }
    }
    int rc = walk_args(c, argc, argv, 1, err);
    if (rc == 0 && strcmp(c->config, "none") != 0) {
        rc = clew_ship_config_load_file(c, c->config, err);
    }
    return rc < 0 ? rc : walk_args(c, argc, argv, 0, err);
}
