/* SPDX-License-Identifier: MIT */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"

int clew_log_threshold = CLEW_LOG_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;

static const char *level_word(int level)
{
    switch (level) {
    case CLEW_LOG_ERROR:
        return "error";
    case CLEW_LOG_WARN:
        return "warn";
    case CLEW_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void clew_log_(int level, const char *module, const char *fmt, ...)
{
    char ts[40];
    clew_time_format(clew_time_now_ns(), 3, ts, sizeof(ts));
    pthread_mutex_lock(&log_lock);
    FILE *f = log_file ? log_file : stderr;
    fprintf(f, "%s %s %s: ", ts, level_word(level), module);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}

int clew_log_open(const char *path)
{
    FILE *f = NULL;
    if (path != NULL && (f = fopen(path, "a")) == NULL) {
        return -errno;
    }
    pthread_mutex_lock(&log_lock);
    if (log_file != NULL) {
        fclose(log_file);
    }
    log_file = f;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

int clew_log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = { { "error", CLEW_LOG_ERROR },
                   { "warn", CLEW_LOG_WARN },
                   { "info", CLEW_LOG_INFO },
                   { "debug", CLEW_LOG_DEBUG } };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(levels[i].name, name) == 0) {
            return levels[i].level;
        }
    }
    return -1;
}
