/* SPDX-License-Identifier: MIT */
#include "clew/record.h"

#include <strings.h>

static const char *const input_names[CLEW_INPUT_MAX_] = {
    "unknown", "syslog", "gelf", "forward", "http", "ship",
};

static const char *const label_names[CLEW_LABEL_COUNT] = {
    "host", "service", "container_id", "container_name", "stream",
};

static const char *const level_names[8] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

const char *clew_input_name(unsigned input)
{
    return input < CLEW_INPUT_MAX_ ? input_names[input] : "unknown";
}

const char *clew_label_name(unsigned label)
{
    return label < CLEW_LABEL_COUNT ? label_names[label] : "unknown";
}

const char *clew_level_name(unsigned level)
{
    return level < 8 ? level_names[level] : "unknown";
}

int clew_level_parse(const char *s, size_t len)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        { "emerg", 0 },   { "emergency", 0 }, { "panic", 0 },   { "fatal", 2 },
        { "alert", 1 },   { "crit", 2 },      { "critical", 2 }, { "err", 3 },
        { "error", 3 },   { "warn", 4 },      { "warning", 4 },  { "notice", 5 },
        { "info", 6 },    { "informational", 6 }, { "debug", 7 }, { "trace", 7 },
    };
    if (len == 1 && s[0] >= '0' && s[0] <= '7') {
        return s[0] - '0';
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = 0;
        while (names[i].name[n] != '\0') {
            n++;
        }
        if (n == len && strncasecmp(s, names[i].name, len) == 0) {
            return names[i].level;
        }
    }
    return -1;
}
