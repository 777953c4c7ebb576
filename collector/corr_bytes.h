/* SPDX-License-Identifier: MIT
 * corr_bytes: the byte helpers shared by the correlation scanner
 * (correlate_scan.c) and the trace-context carrier parsers
 * (trace_carrier.c): one character-class table and small checks over
 * byte ranges (hex classes, trimming, case-blind compares). Private to
 * those two files, hence the short names; header-only and static inline
 * so the per-byte loops cost what they did as file-local helpers. Pure:
 * any thread. */
#ifndef CLEW_CORR_BYTES_H
#define CLEW_CORR_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Character classes, one table lookup per byte on the hot paths. */
enum {
    C_LHEX = 1,  /* 0-9 a-f                                   */
    C_HEX = 2,   /* 0-9 a-f A-F                               */
    C_KEY = 4,   /* key characters: A-Z a-z 0-9 _ - .         */
    C_PRINT = 8, /* printable ASCII without space: 0x21-0x7e  */
    C_VEND = 16, /* ends an unquoted text value               */
};

/* clang-format off */
static const uint8_t cclass[256] = {
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16,  8, 24,  8,  8,  8, 24, 24,  8, 24,  8,  8, 24, 12, 12,  8,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  8, 24, 24,  8, 24,  8,
     8, 14, 14, 14, 14, 14, 14, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,  8,  8, 24,  8, 12,
     8, 15, 15, 15, 15, 15, 15, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,  8,  8, 24,  8, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
};
/* clang-format on */

#define IS(c, k) (cclass[(unsigned char)(c)] & (k))

static inline int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static inline int is_hex(unsigned char c)
{
    return IS(c, C_HEX);
}

static inline int is_lhex(unsigned char c)
{
    return IS(c, C_LHEX);
}

static inline unsigned hexval(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(lower(c) - 'a' + 10);
}

static inline int all_lhex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_lhex((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static inline int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_hex((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static inline int all_char(const char *s, size_t n, char c)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != c) {
            return 0;
        }
    }
    return 1;
}

/* 1 when a[0..n) equals the lower-case literal lit, ignoring ASCII case. */
static inline int ieq(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower((unsigned char)a[i]) != lit[i]) {
            return 0;
        }
    }
    return 1;
}

static inline int has_prefix(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    return n >= m && memcmp(s, lit, m) == 0;
}

/* Drops the spaces and tabs around *p[0..*n). */
static inline void trim(const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t')) {
        (*n)--;
    }
}

#endif
