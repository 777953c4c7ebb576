/* SPDX-License-Identifier: MIT */
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clew/error.h"

int64_t clew_time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CLEW_NS_PER_SEC + ts.tv_nsec;
}

int64_t clew_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CLEW_NS_PER_SEC + ts.tv_nsec;
}

/* Howard Hinnant's days_from_civil / civil_from_days algorithms. */
int64_t clew_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void clew_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t clew_hour_floor(int64_t ns)
{
    return floor_div(ns, CLEW_NS_PER_HOUR) * CLEW_NS_PER_HOUR;
}

int clew_time_format(int64_t ns, int digits, char *buf, size_t len)
{
    int64_t secs = floor_div(ns, CLEW_NS_PER_SEC);
    int64_t frac = ns - secs * CLEW_NS_PER_SEC;
    int64_t days = floor_div(secs, 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    clew_civil_from_days(days, &y, &m, &d);
    if (len < 40 || digits < 0 || digits > 9) {
        return -1;
    }
    char *p = buf;
    p += snprintf(p, 32, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)y, m, d,
                  (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60));
    if (digits > 0) {
        char f[16];
        snprintf(f, sizeof(f), "%09lld", (long long)frac);
        *p++ = '.';
        memcpy(p, f, (size_t)digits);
        p += digits;
    }
    *p++ = 'Z';
    *p = '\0';
    return (int)(p - buf);
}

static int digits_at(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static const unsigned char month_days[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

int clew_time_parse_rfc3339(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (len < 20 || digits_at(s, 4, &y) || s[4] != '-' || digits_at(s + 5, 2, &mo) || s[7] != '-' ||
        digits_at(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits_at(s + 11, 2, &h) || s[13] != ':' || digits_at(s + 14, 2, &mi) || s[16] != ':' ||
        digits_at(s + 17, 2, &se)) {
        return CLEW_EFORMAT;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] || h > 23 || mi > 59 || se > 60) {
        return CLEW_EFORMAT;
    }
    size_t i = 19;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        int nd = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
            }
        }
        if (nd == 0) {
            return CLEW_EFORMAT;
        }
        for (; nd < 9; nd++) {
            frac *= 10;
        }
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits_at(s + i + 1, 2, &oh) || digits_at(s + i + 4, 2, &om) || oh > 23 || om > 59) {
            return CLEW_EFORMAT;
        }
        off = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return CLEW_EFORMAT;
    }
    if (i != len) {
        return CLEW_EFORMAT;
    }
    /* Beyond these years the ns count overflows int64. */
    if (y < 1678 || y > 2261) {
        return CLEW_EFORMAT;
    }
    int64_t days = clew_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - off;
    *out = secs * CLEW_NS_PER_SEC + frac;
    return 0;
}

int clew_duration_parse(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {
        { "ns", 1 },
        { "us", 1000 },
        { "ms", 1000000 },
        { "s", CLEW_NS_PER_SEC },
        { "m", 60 * CLEW_NS_PER_SEC },
        { "h", CLEW_NS_PER_HOUR },
        { "d", 24 * CLEW_NS_PER_HOUR },
        { "w", 7 * 24 * CLEW_NS_PER_HOUR },
    };
    int64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') {
        return CLEW_EFORMAT;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10) {
            return CLEW_EFORMAT;
        }
        v = v * 10 + (*p - '0');
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) == 0) {
            if (v > INT64_MAX / units[i].ns) {
                return CLEW_EFORMAT;
            }
            *out = v * units[i].ns;
            return 0;
        }
    }
    return CLEW_EFORMAT;
}

int clew_duration_format(int64_t d, char *buf, size_t len)
{
    static const struct {
        int64_t ns;
        const char *unit;
    } units[] = { { 86400 * CLEW_NS_PER_SEC, "d" },
                  { 3600 * CLEW_NS_PER_SEC, "h" },
                  { 60 * CLEW_NS_PER_SEC, "m" },
                  { CLEW_NS_PER_SEC, "s" },
                  { 1000000, "ms" },
                  { 1, "ns" } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (d % units[i].ns == 0) {
            return snprintf(buf, len, "%lld%s", (long long)(d / units[i].ns), units[i].unit);
        }
    }
    return snprintf(buf, len, "%lldns", (long long)d);
}
