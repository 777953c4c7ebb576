/* SPDX-License-Identifier: MIT
 * log: the programs' diagnostic log (stderr or a file), one line per event:
 * "2026-11-28T21:00:00.123Z warn wal: message". Library modules do not log;
 * they return errors and the program decides. Thread-safe. */
#ifndef CLEW_LOG_H
#define CLEW_LOG_H

enum clew_log_level {
    CLEW_LOG_ERROR = 3,
    CLEW_LOG_WARN = 4,
    CLEW_LOG_INFO = 6,
    CLEW_LOG_DEBUG = 7
};

extern int clew_log_threshold; /* messages above this level are dropped */

void clew_log_(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define clew_log(level, module, ...)                                                               \
    do {                                                                                           \
        if ((level) <= clew_log_threshold) {                                                       \
            clew_log_((level), (module), __VA_ARGS__);                                             \
        }                                                                                          \
    } while (0)

/* Maps "error", "warn", "info" or "debug" to its level; -1 otherwise. */
int clew_log_level_parse(const char *name);

/* Sends the log to path (appending), or back to stderr when path is NULL.
 * Returns 0 or -errno. Used at start-up and on SIGHUP. */
int clew_log_open(const char *path);

#endif
