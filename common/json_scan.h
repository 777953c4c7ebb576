/* SPDX-License-Identifier: MIT
 * json_scan: a zero-copy scanner for one JSON text (RFC 8259, with jansson's
 * limits: integers within int64, reals that do not overflow a double, a
 * nesting depth cap). Values come back as raw spans of the caller's text with
 * a kind, flags and, for strings, their decoded length; objects and arrays can
 * be entered and walked member by member, or validated and skipped whole. It
 * never allocates, never recurses (nesting lives in a bit stack) and holds no
 * globals: any thread, one scanner at a time. The text is borrowed for as long
 * as the scanner or any value taken from it is used. */
#ifndef CLEW_JSON_SCAN_H
#define CLEW_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define CLEW_JSON_MAX_DEPTH 2048 /* deepest value a scanner accepts (jansson's limit) */

/* Errors of this module; calls in the wrong place (a key outside an object)
 * report CLEW_JSON_ESYNTAX too. */
enum {
    CLEW_JSON_ESYNTAX = -10301, /* not JSON here, or the text ends too early      */
    CLEW_JSON_EDEPTH = -10302,  /* a value nested deeper than max_depth           */
    CLEW_JSON_ERANGE = -10303,  /* integer outside int64, or a real overflowing   */
    CLEW_JSON_ESTRING = -10304, /* bad UTF-8, raw control byte or lone surrogate  */
    CLEW_JSON_ENULKEY = -10305, /* a key decodes to text holding NUL              */
    CLEW_JSON_EKIND = -10306,   /* the value is not of the kind the call needs    */
};

enum clew_json_kind {
    CLEW_JSON_NONE = 0,
    CLEW_JSON_OBJECT = 1,
    CLEW_JSON_ARRAY = 2,
    CLEW_JSON_STRING = 3,
    CLEW_JSON_NUMBER = 4,
    CLEW_JSON_TRUE = 5,
    CLEW_JSON_FALSE = 6,
    CLEW_JSON_NULL = 7,
};

/* Scanner options. */
#define CLEW_JSON_REPAIR     0x1u /* accept repairable strings (see decode)  */
#define CLEW_JSON_NO_NUL_KEY 0x2u /* a key holding NUL is an error (jansson) */
#define CLEW_JSON_NUL_AFTER                                                                        \
    0x4u /* one NUL byte right after a number or literal is skipped (jansson) */

/* Value flags; a container carries the union of its contents'. */
#define CLEW_JSON_F_ESC  0x01u /* string: has backslash escapes           */
#define CLEW_JSON_F_FIX  0x02u /* string: needs the repair (REPAIR only)  */
#define CLEW_JSON_F_NUL  0x04u /* string: decodes to text holding NUL     */
#define CLEW_JSON_F_REAL 0x08u /* number: has a fraction or an exponent   */

/* A value: a view of the scanner's text. A string without F_ESC and F_FIX
 * reads as its raw bytes between the quotes; otherwise decode it. */
struct clew_json_val {
    const char *ptr; /* first byte (a string's opening quote)          */
    size_t len;      /* raw length, quotes and brackets included       */
    size_t dlen;     /* strings: bytes clew_json_str_decode writes     */
    uint8_t kind;    /* enum clew_json_kind                            */
    uint8_t flags;   /* CLEW_JSON_F_*                                  */
};

struct clew_json_scan {
    const uint8_t *p;    /* cursor                                        */
    const uint8_t *end;  /* one past the text                             */
    const uint8_t *base; /* start of the text (offsets in errors)         */
    unsigned opts;       /* CLEW_JSON_REPAIR | CLEW_JSON_NO_NUL_KEY       */
    unsigned max_depth;  /* 1..CLEW_JSON_MAX_DEPTH; the top value is 1    */
    unsigned depth;      /* containers entered and not yet closed         */
    int first;           /* the innermost entered one has no member yet   */
    size_t fixes;        /* strings accepted only thanks to the repair    */
};

/* Starts a scan of len bytes at text (borrowed). max_depth 0 or above
 * CLEW_JSON_MAX_DEPTH means CLEW_JSON_MAX_DEPTH. Never fails. */
void clew_json_scan_init(struct clew_json_scan *s, const void *text, size_t len, unsigned opts,
                         unsigned max_depth);

/* The kind of the value at the cursor (after whitespace), without consuming
 * it; CLEW_JSON_ESYNTAX when no value starts there (end of text included). */
int clew_json_scan_peek(struct clew_json_scan *s);

/* Reads the whole value at the cursor into *v: scalars are validated and
 * measured, objects and arrays validated to their closing bracket (every
 * string, number and the depth limit checked) and returned as one span.
 * Returns 0 or CLEW_JSON_E*; on error the cursor is near the bad byte. */
int clew_json_scan_value(struct clew_json_scan *s, struct clew_json_val *v);

/* Consumes the '{' or '[' at the cursor so its members can be walked with
 * clew_json_scan_key / clew_json_scan_item. Returns the kind entered,
 * CLEW_JSON_EKIND for a scalar, CLEW_JSON_EDEPTH or CLEW_JSON_ESYNTAX. */
int clew_json_scan_enter(struct clew_json_scan *s);

/* Inside an entered object: consumes the separator and reads the next key
 * (a string value) and its ':'; the cursor is then at the member's value,
 * which the caller reads with clew_json_scan_value or enters. Returns 1 for
 * a key, 0 when the object ended (its '}' consumed), or an error. */
int clew_json_scan_key(struct clew_json_scan *s, struct clew_json_val *key);

/* clew_json_scan_key followed by clew_json_scan_value: 1, 0 or an error. */
int clew_json_scan_member(struct clew_json_scan *s, struct clew_json_val *key,
                          struct clew_json_val *val);

/* Inside an entered array: consumes the separator; returns 1 when an element
 * follows (the cursor is at it), 0 when the array ended (its ']' consumed),
 * or an error. */
int clew_json_scan_item(struct clew_json_scan *s);

/* After the top value: 0 when only whitespace remains and every entered
 * container was closed, else CLEW_JSON_ESYNTAX (trailing garbage). */
int clew_json_scan_end(struct clew_json_scan *s);

/* Offset of the cursor from the start of the text (where an error was). */
size_t clew_json_scan_offset(const struct clew_json_scan *s);

/* Writes the decoded bytes of string value v (exactly v->dlen of them, no
 * NUL added) to out, which must hold v->dlen bytes; returns v->dlen. Escapes
 * are resolved (\u0000 gives a NUL byte, surrogate pairs one code point).
 * The repair, for strings scanned with CLEW_JSON_REPAIR: every byte that is
 * not part of valid UTF-8 (no overlongs, surrogates or values past U+10FFFF)
 * becomes U+FFFD, a raw control byte is kept as is, and a lone UTF-16
 * surrogate escape becomes U+FFFD. v must come from a scan of live text. */
size_t clew_json_str_decode(const struct clew_json_val *v, char *out);

/* An integer number (no fraction or exponent) as int64: 0, CLEW_JSON_EKIND
 * (not an integer) or CLEW_JSON_ERANGE. */
int clew_json_num_i64(const struct clew_json_val *v, int64_t *out);

/* Any number as the nearest double (correctly rounded, as strtod in the C
 * locale; independent of the current locale): 0, CLEW_JSON_EKIND or
 * CLEW_JSON_ERANGE when it overflows to infinity. */
int clew_json_num_f64(const struct clew_json_val *v, double *out);

/* A static description of a CLEW_JSON_E* code, or clew_strerror(rc). */
const char *clew_json_strerror(int rc);

#endif
