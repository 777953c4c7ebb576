/* SPDX-License-Identifier: MIT */
#include "query/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

int clew_cli_parse_time(const char *s, int64_t now, int64_t *out)
{
    int64_t d;
    if (strcmp(s, "now") == 0) {
        *out = now;
        return 0;
    }
    if (clew_duration_parse(s, &d) == 0) {
        *out = now - d;
        return 0;
    }
    return clew_time_parse_rfc3339(s, strlen(s), out) == 0 ? 0 : -1;
}

void clew_cli_source_resolve(struct clew_cli_source *src)
{
    if (src->data != NULL) {
        return;
    }
    if (src->server == NULL) {
        const char *env = getenv("CLEW_SERVER");
        src->server = env != NULL && env[0] != '\0' ? env : "http://127.0.0.1:7700";
    }
}

const char *clew_cli_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KB", "MB", "GB", "TB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

static const struct clew_cli_opt *find_long(const struct clew_cli_opt *o, size_t n,
                                            const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(o[i].name) == len && strncmp(o[i].name, name, len) == 0) {
            return &o[i];
        }
    }
    return NULL;
}

static int short_opt(struct clew_cli_args *a, const struct clew_cli_opt *opts, size_t nopts,
                     const char *prog, const char **value)
{
    char c = *a->sp++;
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].short_name != c) {
            continue;
        }
        if (!opts[i].has_value) {
            return opts[i].id;
        }
        if (*a->sp != '\0') {
            *value = a->sp; /* -m5 */
        } else if (a->i < a->argc) {
            *value = a->argv[a->i++];
        } else {
            fprintf(stderr, "%s: -%c needs a value\n", prog, c);
            return -2;
        }
        a->sp = "";
        return opts[i].id;
    }
    fprintf(stderr, "%s: unknown option -%c (see --help)\n", prog, c);
    return -2;
}

int clew_cli_next(struct clew_cli_args *a, const struct clew_cli_opt *opts, size_t nopts,
                  const char *prog, const char **value)
{
    *value = NULL;
    if (a->sp != NULL && *a->sp != '\0') {
        return short_opt(a, opts, nopts, prog, value);
    }
    if (a->i >= a->argc) {
        return -1;
    }
    const char *arg = a->argv[a->i++];
    if (a->only_pos || arg[0] != '-' || arg[1] == '\0') {
        *value = arg;
        return 0;
    }
    if (strcmp(arg, "--") == 0) {
        a->only_pos = 1;
        return clew_cli_next(a, opts, nopts, prog, value);
    }
    if (arg[1] != '-') {
        a->sp = arg + 1;
        return short_opt(a, opts, nopts, prog, value);
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct clew_cli_opt *o = find_long(opts, nopts, name, len);
    if (o == NULL) {
        fprintf(stderr, "%s: unknown option %s (see --help)\n", prog, arg);
        return -2;
    }
    if (!o->has_value) {
        if (eq != NULL) {
            fprintf(stderr, "%s: --%s takes no value\n", prog, o->name);
            return -2;
        }
        return o->id;
    }
    if (eq != NULL) {
        *value = eq + 1;
    } else if (a->i < a->argc) {
        *value = a->argv[a->i++];
    } else {
        fprintf(stderr, "%s: --%s needs a value\n", prog, o->name);
        return -2;
    }
    return o->id;
}
