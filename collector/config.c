/* SPDX-License-Identifier: MIT */
#include "collector/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/alloc.h"
#include "common/timeutil.h"

enum opt_type { OPT_STR, OPT_SIZE, OPT_DURATION };

struct opt {
    const char *name;
    enum opt_type type;
    const char *def;
    size_t offset;
    const char *help;
};

#define O(name, type, def, field, help)                                                            \
    {                                                                                              \
        name, type, def, offsetof(struct clew_config, field), help                                 \
    }

static const struct opt opts[] = {
    O("data", OPT_STR, "./data", data, "data directory (WAL and segments)"),
    O("syslog", OPT_STR, "0.0.0.0:1514", syslog, "syslog listen address, UDP and TCP, or off"),
    O("gelf", OPT_STR, "0.0.0.0:12201", gelf, "GELF listen address, UDP and TCP, or off"),
    O("forward", OPT_STR, "0.0.0.0:24224", forward, "Fluent Forward listen address, or off"),
    O("http", OPT_STR, "127.0.0.1:7700", http, "HTTP API listen address, or off"),
    O("config", OPT_STR, "", config_file, "YAML file of these options (name: value)"),
    O("rules", OPT_STR, "", rules, "alert rules file"),
    O("log-file", OPT_STR, "", log_file, "clewd's own log file (default stderr)"),
    O("log-level", OPT_STR, "info", log_level, "error, warn, info or debug"),
    O("fsync", OPT_STR, "interval", fsync, "WAL fsync policy: always, interval or never"),
    O("wal-compress", OPT_STR, "off", wal_compress,
      "WAL frames: off (stored, least CPU) or lz4 (about 1/3 the WAL bytes)"),
    O("http-token", OPT_STR, "", http_token, "Bearer token; required to bind HTTP off loopback"),
    O("correlate", OPT_STR, "on", correlate, "on or off: find, inherit and link request ids"),
    O("inject-ids", OPT_STR, "on", inject_ids, "on or off: give records without an id a new one"),
    O("id-pattern", OPT_STR, "", id_pattern,
      "extra PCRE2 pattern for ids in messages, with (?<id>...) [(?<span>...)]"),
    O("continuation-window", OPT_DURATION, "2s", continuation_window,
      "stack-trace lines this close to an id-carrying line inherit its id"),
    O("fsync-interval", OPT_DURATION, "100ms", fsync_interval,
      "fsync period with --fsync interval"),
    O("retention", OPT_DURATION, "0s", retention, "drop hours older than this (0s keeps all)"),
    O("seal-age", OPT_DURATION, "10m", seal_age,
      "seal the memtable when its oldest record is this old"),
    O("seal-size", OPT_SIZE, "64MiB", seal_size, "seal the memtable at this much raw text"),
    O("max-message", OPT_SIZE, "1MiB", max_message, "longest message; longer ones are cut"),
    O("max-connections", OPT_SIZE, "1024", max_connections, "most TCP connections per input"),
    O("conn-buffer", OPT_SIZE, "8MiB", conn_buffer, "unframed bytes buffered per TCP peer"),
    O("gelf-reassembly-mem", OPT_SIZE, "64MiB", gelf_reassembly_mem, "memory for GELF chunks"),
    O("gelf-chunk-timeout", OPT_DURATION, "5s", gelf_chunk_timeout,
      "GELF chunk reassembly timeout"),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

int clew_parse_size(const char *s, size_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = { { "", 0 },     { "k", 10 }, { "K", 10 },   { "KiB", 10 }, { "M", 20 },
                  { "MiB", 20 }, { "G", 30 }, { "GiB", 30 }, { "B", 0 } };
    char *end;
    if (*s < '0' || *s > '9') {
        return CLEW_EFORMAT;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) {
        return CLEW_EFORMAT;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > (SIZE_MAX >> units[i].shift)) {
                return CLEW_EFORMAT;
            }
            *out = (size_t)v << units[i].shift;
            return 0;
        }
    }
    return CLEW_EFORMAT;
}

static int apply(struct clew_config *c, const struct opt *o, const char *value,
                 char err[CLEW_ERR_LEN])
{
    char *field = (char *)c + o->offset;
    int rc = 0;
    switch (o->type) {
    case OPT_STR: {
        char *d = clew_strdup(value);
        if (d == NULL) {
            return -ENOMEM;
        }
        clew_free(*(char **)field);
        *(char **)field = d;
        return 0;
    }
    case OPT_SIZE:
        rc = clew_parse_size(value, (size_t *)field);
        break;
    case OPT_DURATION:
        rc = clew_duration_parse(value, (int64_t *)field);
        break;
    }
    if (rc < 0) {
        snprintf(err, CLEW_ERR_LEN, "--%s: invalid value '%s' (%s)", o->name, value,
                 o->type == OPT_SIZE ? "want a size such as 64MiB" : "want a duration such as 15m");
        return CLEW_EBADARG;
    }
    return 0;
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

int clew_config_set(struct clew_config *c, const char *name, const char *value,
                    char err[CLEW_ERR_LEN])
{
    const struct opt *o = find(name);
    if (o == NULL) {
        snprintf(err, CLEW_ERR_LEN, "unknown option '%s' (see --help)", name);
        return CLEW_EBADARG;
    }
    return apply(c, o, value, err);
}

int clew_config_init(struct clew_config *c)
{
    char err[CLEW_ERR_LEN];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NOPTS; i++) {
        int rc = apply(c, &opts[i], opts[i].def, err);
        if (rc < 0) {
            clew_config_close(c);
            return rc;
        }
    }
    return 0;
}

void clew_config_close(struct clew_config *c)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].type == OPT_STR) {
            char **p = (char **)((char *)c + opts[i].offset);
            clew_free(*p);
            *p = NULL;
        }
    }
}

/* Reads the next scalar of a flat mapping into buf; 0 at the mapping's end. */
static int next_scalar(yaml_parser_t *p, char *buf, size_t len, int *done)
{
    yaml_event_t ev;
    for (;;) {
        if (!yaml_parser_parse(p, &ev)) {
            return -1;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_SCALAR_EVENT) {
            snprintf(buf, len, "%.*s", (int)ev.data.scalar.length,
                     (const char *)ev.data.scalar.value);
            yaml_event_delete(&ev);
            return 1;
        }
        yaml_event_delete(&ev);
        if (t == YAML_MAPPING_END_EVENT || t == YAML_STREAM_END_EVENT) {
            *done = 1;
            return 0;
        }
        if (t == YAML_SEQUENCE_START_EVENT || (t == YAML_MAPPING_START_EVENT && *done == 2)) {
            return -2; /* nested values: not an option of ours */
        }
        if (t == YAML_MAPPING_START_EVENT) {
            *done = 2; /* inside the top mapping now */
        }
    }
}

int clew_config_load_file(struct clew_config *c, const char *path, char err[CLEW_ERR_LEN])
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, CLEW_ERR_LEN, "%s: %s", path, strerror(errno));
        return CLEW_EBADARG;
    }
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = 0, state = 0;
    char key[128], value[4096];
    while (rc == 0) {
        int k = next_scalar(&p, key, sizeof(key), &state);
        if (k == 0) {
            break;
        }
        int v = k < 0 ? k : next_scalar(&p, value, sizeof(value), &state);
        if (k < 0 || v <= 0) {
            snprintf(err, CLEW_ERR_LEN, "%s: line %zu: expected 'name: value' pairs", path,
                     p.problem_mark.line + 1);
            rc = CLEW_EBADARG;
            break;
        }
        if ((rc = clew_config_set(c, key, value, err)) < 0) {
            char tmp[CLEW_ERR_LEN];
            snprintf(tmp, sizeof(tmp), "%s: %s", path, err);
            memcpy(err, tmp, CLEW_ERR_LEN);
        }
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

void clew_config_usage(FILE *out)
{
    fprintf(out, "usage: clewd [options]\n\nclew's collector: receives logs, stores them, answers "
                 "queries.\n\noptions:\n");
    for (size_t i = 0; i < NOPTS; i++) {
        fprintf(out, "  --%-22s %s (default: %s)\n", opts[i].name, opts[i].help,
                opts[i].def[0] ? opts[i].def : "none");
    }
    fprintf(out, "  --%-22s %s\n", "help", "show this help");
}

int clew_config_parse_args(struct clew_config *c, int argc, char **argv, FILE *out,
                           char err[CLEW_ERR_LEN])
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            clew_config_usage(out);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            int rc = clew_config_load_file(c, argv[i + 1], err);
            if (rc < 0) {
                return rc;
            }
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, CLEW_ERR_LEN, "unexpected argument '%s' (see --help)", a);
            return CLEW_EBADARG;
        }
        const char *eq = strchr(a, '=');
        char name[64];
        const char *value;
        if (eq != NULL) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a + 2);
            if (i + 1 >= argc) {
                snprintf(err, CLEW_ERR_LEN, "--%s needs a value", name);
                return CLEW_EBADARG;
            }
            value = argv[++i];
        }
        int rc = clew_config_set(c, name, value, err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
