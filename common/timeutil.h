/* SPDX-License-Identifier: MIT
 * timeutil: nanosecond UTC time, RFC 3339 formatting and parsing, civil
 * dates without the C library's time zone state, and durations ("15m").
 * Pure apart from clew_time_now_ns(); any thread. */
#ifndef CLEW_TIMEUTIL_H
#define CLEW_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define CLEW_NS_PER_SEC  1000000000LL
#define CLEW_NS_PER_HOUR (3600LL * CLEW_NS_PER_SEC)

/* Wall clock, ns since the epoch. */
int64_t clew_time_now_ns(void);
/* Monotonic clock, ns. */
int64_t clew_time_mono_ns(void);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t clew_days_from_civil(int64_t y, unsigned m, unsigned d);
void clew_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Formats ns as RFC 3339 UTC "YYYY-MM-DDTHH:MM:SS[.f]Z" with `digits`
 * fraction digits (0-9). Returns the length written, or -1 if len is too
 * small (buf 40 bytes always suffices). */
int clew_time_format(int64_t ns, int digits, char *buf, size_t len);

/* Parses RFC 3339 ("2026-11-28T20:29:38.710192Z", "...+01:00", 't' or ' '
 * for 'T', 'z' for 'Z', 0-9 fraction digits; years 1678-2261, the range of
 * int64 ns). Returns 0 or CLEW_EFORMAT. */
int clew_time_parse_rfc3339(const char *s, size_t len, int64_t *out);

/* Parses a duration: an integer followed by ns, us, ms, s, m, h, d or w.
 * Returns 0 or CLEW_EFORMAT. */
int clew_duration_parse(const char *s, int64_t *out);

/* Formats d in the largest unit that divides it exactly ("90s", "5m",
 * "1500ms"), the form clew_duration_parse reads back, into buf. Returns
 * what snprintf returns. */
int clew_duration_format(int64_t d, char *buf, size_t len);

/* Start of the UTC hour holding ns. */
int64_t clew_hour_floor(int64_t ns);

#endif
