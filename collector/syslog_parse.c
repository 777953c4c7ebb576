/* SPDX-License-Identifier: MIT
 * syslog_parse: one syslog message to a record.
 *
 * Detection (specs/syslog.md): `<PRI>` (1-3 digits, 0-191) then either
 * `VERSION SP` (RFC 5424) or anything else (BSD). The 5424 header is split
 * on spaces; a timestamp that is neither `-` nor RFC 3339 sends the message
 * to the BSD rules. Missing or malformed STRUCTURED-DATA (Heroku) leaves
 * the text as MSG. The BSD header is an optional timestamp (`Mmm dd
 * hh:mm:ss[.frac]`, optionally with a year, or RFC 3339), then the
 * hostname heuristic: a first token that is a tag (`name:` or
 * `name[pid]:`) means no hostname; otherwise it is the hostname when a
 * timestamp was seen and the next token is a tag; otherwise everything
 * after PRI and timestamp is the message.
 *
 * `fields` is written by hand (into a stack buffer, then copied to the arena)
 * rather than through jansson: jansson took ~2 us per typical 5424 message,
 * twice the whole per-message budget. The writer emits only JSON strings
 * and objects, escapes per RFC 8259 and replaces invalid UTF-8 with U+FFFD,
 * so the text always loads in a strict JSON parser. */
#include "collector/syslog_parse.h"

#include <errno.h>
#include <string.h>

#include "common/timeutil.h"

enum { ID_TRACE, ID_SPAN, ID_PARENT, ID_COUNT };

struct sd_param {
    struct clew_str name;
    struct clew_str value; /* raw, still SD-escaped */
    int dup;               /* same name earlier in the element: left out of fields */
};

struct sd_elem {
    struct clew_str id;
    unsigned first, n; /* params[first .. first+n) */
    int dup;           /* same SD-ID earlier (or a reserved key): left out of fields */
};

/* What the header parsers find besides the record's own fields. */
struct parsed {
    unsigned facility;
    struct clew_str procid, msgid;
    struct sd_elem elems[CLEW_SYSLOG_MAX_SD_ELEMS];
    struct sd_param params[CLEW_SYSLOG_MAX_SD_PARAMS];
    unsigned n_elems, n_params;
    struct clew_str ids[ID_COUNT]; /* raw SD values of trace_id, span_id, parent_span_id */
};

static const char *const facility_names[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7",
};

const char *clew_syslog_facility_name(unsigned fac)
{
    return fac < 24 ? facility_names[fac] : "unknown";
}

static struct clew_str mkstr(const char *p, size_t n)
{
    return (struct clew_str){ p, n };
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int str_eq(struct clew_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

static int is_nil(struct clew_str s)
{
    return s.len == 1 && s.ptr[0] == '-';
}

/* Years whose times fit int64 nanoseconds (1677-09-21 .. 2262-04-11). */
#define YEAR_MIN 1678
#define YEAR_MAX 2261

/* RFC 3339 through timeutil, after refusing years whose nanoseconds would
 * overflow. */
static int parse_iso(const char *s, size_t n, int64_t *t)
{
    int y = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= n || !is_digit(s[i])) {
            return -1;
        }
        y = y * 10 + (s[i] - '0');
    }
    if (y < YEAR_MIN || y > YEAR_MAX) {
        return -1;
    }
    return clew_time_parse_rfc3339(s, n, t) == 0 ? 0 : -1;
}

/* <PRI>: 1-3 digits (leading zeros allowed), value 0-191. */
static int parse_pri(const char *s, size_t n, unsigned *pri, size_t *pos)
{
    if (n < 3 || s[0] != '<') {
        return -1;
    }
    unsigned v = 0;
    size_t i = 1;
    while (i < n && i <= 3 && is_digit(s[i])) {
        v = v * 10 + (unsigned)(s[i] - '0');
        i++;
    }
    if (i == 1 || i >= n || s[i] != '>' || v > 191) {
        return -1;
    }
    *pri = v;
    *pos = i + 1;
    return 0;
}

/* The token at *cur up to the next SP (or the end); *cur moves past the SP. */
static struct clew_str next_token(const char *s, size_t n, size_t *cur)
{
    size_t i = *cur;
    if (i >= n) {
        return mkstr(s + n, 0);
    }
    const char *sp = memchr(s + i, ' ', n - i);
    size_t end = sp ? (size_t)(sp - s) : n;
    *cur = sp ? end + 1 : n;
    return mkstr(s + i, end - i);
}

/* ---- structured data ---------------------------------------------------- */

/* SD-NAME: PRINTUSASCII except '=', SP, ']', '"'. */
static size_t sd_name_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && u[i] > 0x20 && u[i] < 0x7f && u[i] != '=' && u[i] != ']' && u[i] != '"') {
        i++;
    }
    return i;
}

/* Finds the closing quote of a PARAM-VALUE starting at s[0]; a quote
 * preceded by an odd number of backslashes is escaped. Returns its index
 * or n. */
static size_t sd_value_end(const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        const char *q = memchr(s + i, '"', n - i);
        if (q == NULL) {
            return n;
        }
        size_t j = (size_t)(q - s), k = 0;
        while (k < j && s[j - 1 - k] == '\\') {
            k++;
        }
        if (k % 2 == 0) {
            return j;
        }
        i = j + 1;
    }
}

static void note_param(struct parsed *p, struct sd_elem *e, struct clew_str name,
                       struct clew_str value)
{
    static const char *const id_names[ID_COUNT] = { "trace_id", "span_id", "parent_span_id" };
    for (int k = 0; k < ID_COUNT; k++) {
        if (p->ids[k].ptr == NULL && str_eq(name, id_names[k])) {
            p->ids[k] = value;
        }
    }
    if (e == NULL || p->n_params >= CLEW_SYSLOG_MAX_SD_PARAMS) {
        return;
    }
    p->params[p->n_params++] = (struct sd_param){ name, value, 0 };
    e->n++;
}

/* One `SP PARAM-NAME="PARAM-VALUE"` at s[*cur] (the SP already checked). */
static int parse_sd_param(const char *s, size_t n, size_t *cur, struct parsed *p, struct sd_elem *e)
{
    size_t i = *cur + 1;
    size_t nl = sd_name_len(s + i, n - i);
    if (nl == 0 || i + nl + 2 > n || s[i + nl] != '=' || s[i + nl + 1] != '"') {
        return -1;
    }
    struct clew_str name = mkstr(s + i, nl);
    i += nl + 2;
    size_t vl = sd_value_end(s + i, n - i);
    if (i + vl >= n) {
        return -1;
    }
    note_param(p, e, name, mkstr(s + i, vl));
    *cur = i + vl + 1;
    return 0;
}

/* One `[SD-ID *(SP PARAM)]` at s[*cur] == '['. */
static int parse_sd_elem(const char *s, size_t n, size_t *cur, struct parsed *p)
{
    size_t i = *cur + 1;
    size_t il = sd_name_len(s + i, n - i);
    if (il == 0) {
        return -1;
    }
    struct sd_elem *e = NULL;
    if (p->n_elems < CLEW_SYSLOG_MAX_SD_ELEMS) {
        e = &p->elems[p->n_elems++];
        *e = (struct sd_elem){ mkstr(s + i, il), p->n_params, 0, 0 };
    }
    i += il;
    while (i < n && s[i] == ' ') {
        if (parse_sd_param(s, n, &i, p, e) < 0) {
            return -1;
        }
    }
    if (i >= n || s[i] != ']') {
        return -1;
    }
    *cur = i + 1;
    return 0;
}

/* STRUCTURED-DATA at s[*cur] == '['; on failure nothing of it is kept. */
static int parse_sd(const char *s, size_t n, size_t *cur, struct parsed *p)
{
    size_t i = *cur;
    while (i < n && s[i] == '[') {
        if (parse_sd_elem(s, n, &i, p) < 0) {
            p->n_elems = p->n_params = 0;
            memset(p->ids, 0, sizeof(p->ids));
            return -1;
        }
    }
    *cur = i;
    return 0;
}

/* ---- RFC 5424 ----------------------------------------------------------- */

static int is_5424(const char *s, size_t n)
{
    size_t i = 0;
    if (n < 2 || s[0] < '1' || s[0] > '9') {
        return 0;
    }
    for (i = 1; i < n && i < 3 && is_digit(s[i]); i++) {
    }
    return i < n && s[i] == ' ';
}

static struct clew_str drop_bom(struct clew_str m)
{
    if (m.len >= 3 && memcmp(m.ptr, "\xEF\xBB\xBF", 3) == 0) {
        return mkstr(m.ptr + 3, m.len - 3);
    }
    return m;
}

/* s[0..n) is everything after `<PRI>`. Returns -1 to fall back to BSD. */
static int parse_5424(const char *s, size_t n, int64_t recv_ns, struct parsed *p,
                      struct clew_record *out)
{
    size_t cur = 0;
    next_token(s, n, &cur); /* VERSION */
    struct clew_str ts = next_token(s, n, &cur);
    int64_t t = recv_ns;
    if (!is_nil(ts) && parse_iso(ts.ptr, ts.len, &t) != 0) {
        return -1;
    }
    struct clew_str host = next_token(s, n, &cur);
    struct clew_str app = next_token(s, n, &cur);
    struct clew_str procid = next_token(s, n, &cur);
    struct clew_str msgid = next_token(s, n, &cur);
    out->ts = t;
    out->labels[CLEW_LABEL_HOST] = is_nil(host) ? mkstr(host.ptr, 0) : host;
    out->labels[CLEW_LABEL_SERVICE] = is_nil(app) ? mkstr(app.ptr, 0) : app;
    p->procid = is_nil(procid) ? mkstr(NULL, 0) : procid;
    p->msgid = is_nil(msgid) ? mkstr(NULL, 0) : msgid;
    if (cur < n && s[cur] == '-' && (cur + 1 == n || s[cur + 1] == ' ')) {
        cur = cur + 1 == n ? n : cur + 2;
    } else if (cur < n && s[cur] == '[' && parse_sd(s, n, &cur, p) == 0) {
        cur += cur < n && s[cur] == ' ';
    }
    /* Anything else (no SD at all, or SD that does not parse) is MSG. */
    out->message = drop_bom(mkstr(s + cur, n - cur));
    return 0;
}

/* ---- BSD (RFC 3164 and relatives) -------------------------------------- */

struct bsd_time {
    int year; /* 0 = not given */
    unsigned mon, day, h, m, s;
    int64_t frac_ns;
};

static int parse_month(const char *s)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    char lo[3];
    for (int i = 0; i < 3; i++) {
        lo[i] = (char)(s[i] | 0x20);
    }
    for (int m = 0; m < 12; m++) {
        if (memcmp(lo, names + 3 * m, 3) == 0) {
            return m + 1;
        }
    }
    return 0;
}

/* Reads k digits at s[*i]. */
static int read_digits(const char *s, size_t n, size_t *i, int k, unsigned *out)
{
    unsigned v = 0;
    for (int j = 0; j < k; j++, (*i)++) {
        if (*i >= n || !is_digit(s[*i])) {
            return -1;
        }
        v = v * 10 + (unsigned)(s[*i] - '0');
    }
    *out = v;
    return 0;
}

/* `hh:mm:ss[.frac]` at s[*i]. */
static int parse_clock(const char *s, size_t n, size_t *i, struct bsd_time *bt)
{
    if (read_digits(s, n, i, 2, &bt->h) || *i >= n || s[(*i)++] != ':' ||
        read_digits(s, n, i, 2, &bt->m) || *i >= n || s[(*i)++] != ':' ||
        read_digits(s, n, i, 2, &bt->s) || bt->h > 23 || bt->m > 59 || bt->s > 60) {
        return -1;
    }
    bt->frac_ns = 0;
    if (*i + 1 < n && s[*i] == '.' && is_digit(s[*i + 1])) {
        int64_t scale = 100000000;
        for ((*i)++; *i < n && is_digit(s[*i]); (*i)++) {
            bt->frac_ns += scale * (s[*i] - '0');
            scale /= 10;
        }
    }
    return 0;
}

/* `Mmm dd [yyyy ]hh:mm:ss[.frac]` (day space- or zero-padded) at s[0]. */
static int parse_bsd_stamp(const char *s, size_t n, size_t *len, struct bsd_time *bt)
{
    size_t i = 4;
    if (n < 14 || (bt->mon = (unsigned)parse_month(s)) == 0 || s[3] != ' ') {
        return -1;
    }
    i += s[i] == ' ';
    bt->day = 0;
    for (int k = 0; k < 2 && i < n && is_digit(s[i]); k++, i++) {
        bt->day = bt->day * 10 + (unsigned)(s[i] - '0');
    }
    if (bt->day < 1 || bt->day > 31 || i >= n || s[i++] != ' ') {
        return -1;
    }
    bt->year = 0;
    unsigned y;
    size_t j = i;
    if (read_digits(s, n, &j, 4, &y) == 0 && j < n && s[j] == ' ' && y >= YEAR_MIN &&
        y <= YEAR_MAX) {
        bt->year = (int)y;
        i = j + 1;
    }
    if (parse_clock(s, n, &i, bt) < 0 || (i < n && s[i] != ' ')) {
        return -1;
    }
    *len = i;
    return 0;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int stamp_at_year(const struct bsd_time *bt, int64_t y, int32_t tz, int64_t *out)
{
    static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < YEAR_MIN || y > YEAR_MAX || bt->day > mdays[bt->mon - 1] ||
        (bt->mon == 2 && bt->day == 29 && !is_leap(y))) {
        return -1;
    }
    int64_t secs = clew_days_from_civil(y, bt->mon, bt->day) * 86400 +
                   (int64_t)(bt->h * 3600 + bt->m * 60 + bt->s) - tz;
    *out = secs * CLEW_NS_PER_SEC + bt->frac_ns;
    return 0;
}

/* Local time without a year: the candidate year nearest to recv_ns. */
static int resolve_bsd_time(const struct bsd_time *bt, int64_t recv_ns, int32_t tz, int64_t *out)
{
    if (bt->year != 0) {
        return stamp_at_year(bt, bt->year, tz, out);
    }
    int64_t secs = recv_ns / CLEW_NS_PER_SEC - (recv_ns % CLEW_NS_PER_SEC < 0) + tz;
    int64_t local_days = secs / 86400 - (secs % 86400 < 0);
    int64_t y;
    unsigned m, d;
    clew_civil_from_days(local_days, &y, &m, &d);
    int found = -1;
    int64_t best = 0;
    for (int64_t cy = y - 1; cy <= y + 1; cy++) {
        int64_t t;
        if (stamp_at_year(bt, cy, tz, &t) < 0) {
            continue;
        }
        int64_t dist = t > recv_ns ? t - recv_ns : recv_ns - t;
        if (found < 0 || dist < best) {
            *out = t;
            best = dist;
            found = 0;
        }
    }
    return found;
}

/* Optional timestamp at s[0]; *cur moves past it and one SP. */
static int parse_bsd_time(const char *s, size_t n, int64_t recv_ns, int32_t tz, size_t *cur,
                          int64_t *ts)
{
    size_t len = 0;
    if (n >= 20 && is_digit(s[0]) && is_digit(s[3]) && s[4] == '-') {
        const char *sp = memchr(s, ' ', n);
        len = sp ? (size_t)(sp - s) : n;
        if (parse_iso(s, len, ts) != 0) {
            return -1;
        }
    } else {
        struct bsd_time bt;
        if (parse_bsd_stamp(s, n, &len, &bt) < 0 || resolve_bsd_time(&bt, recv_ns, tz, ts) < 0) {
            return -1;
        }
    }
    *cur = len < n ? len + 1 : n;
    return 0;
}

/* A tag at s[0]: `name:` or `name[pid]:`, the colon followed by SP or the
 * end. Sets the tag, pid and where the content starts. */
static int match_tag(const char *s, size_t n, struct clew_str *tag, struct clew_str *pid,
                     size_t *content)
{
    size_t i = 0;
    while (i < n && s[i] != '[' && s[i] != ':' && s[i] != ' ') {
        i++;
    }
    if (i == 0 || i >= n || s[i] == ' ') {
        return -1;
    }
    *tag = mkstr(s, i);
    *pid = mkstr(NULL, 0);
    if (s[i] == '[') {
        size_t j = i + 1;
        while (j < n && s[j] != ']' && s[j] != ' ') {
            j++;
        }
        if (j >= n || s[j] != ']') {
            return -1;
        }
        *pid = mkstr(s + i + 1, j - i - 1);
        i = j + 1;
    }
    if (i >= n || s[i] != ':' || (i + 1 < n && s[i + 1] != ' ')) {
        return -1;
    }
    *content = i + 1 < n ? i + 2 : n;
    return 0;
}

static void parse_bsd(const char *s, size_t n, int64_t recv_ns, int32_t tz, struct parsed *p,
                      struct clew_record *out)
{
    size_t cur = 0, content = 0;
    int have_ts = parse_bsd_time(s, n, recv_ns, tz, &cur, &out->ts) == 0;
    if (!have_ts) {
        out->ts = recv_ns;
        cur = 0;
    }
    struct clew_str tag, pid;
    const char *t1 = s + cur;
    size_t left = n - cur;
    if (match_tag(t1, left, &tag, &pid, &content) == 0) {
        cur += content;
    } else if (have_ts) {
        size_t c2 = cur;
        struct clew_str host = next_token(s, n, &c2);
        if (c2 > cur + host.len && match_tag(s + c2, n - c2, &tag, &pid, &content) == 0) {
            out->labels[CLEW_LABEL_HOST] = host;
            cur = c2 + content;
        } else {
            tag = pid = mkstr(NULL, 0);
        }
    } else {
        tag = pid = mkstr(NULL, 0);
    }
    out->labels[CLEW_LABEL_SERVICE] = tag;
    p->procid = pid;
    out->message = mkstr(s + cur, n - cur);
}

/* ---- fields (JSON) ------------------------------------------------------ */

/* Writes into buf[0..cap) while the text fits and counts on regardless:
 * len > cap afterwards means "did not fit, len bytes are needed". */
struct jw {
    char *buf;
    size_t cap;
    size_t len;
};

static void jw_raw(struct jw *w, const char *p, size_t n)
{
    if (w->len + n <= w->cap) {
        memcpy(w->buf + w->len, p, n);
    }
    w->len += n;
}

/* Length of a valid UTF-8 sequence at s (lead byte >= 0x80), 0 if invalid
 * (overlong, surrogate, above U+10FFFF or cut short). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (k == 0 || c > 0xF4 || n < k) {
        return 0;
    }
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F)) {
        return 0;
    }
    return k;
}

/* Bytes a JSON string holds as they are: printable ASCII but `"` and `\\`. */
static const unsigned char json_plain_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80-0xff: 0 */
};

static int json_plain(unsigned char c)
{
    return json_plain_tab[c];
}

static void jw_escape_byte(struct jw *w, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = { '\\', (char)c, 0, 0, 0, 0 };
    size_t k = 2;
    if (c == '\n' || c == '\r' || c == '\t') {
        e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
    } else if (c < 0x20) {
        memcpy(e + 1, "u00", 3);
        e[4] = hex[c >> 4];
        e[5] = hex[c & 15];
        k = 6;
    }
    jw_raw(w, e, k);
}

/* Writes the non-plain char at s[0] (escaped, or U+FFFD for NUL and bytes
 * of invalid UTF-8); returns how many bytes it used. */
static size_t jw_special(struct jw *w, const unsigned char *s, size_t n)
{
    static const char repl[] = "\xEF\xBF\xBD";
    if (s[0] == 0) {
        jw_raw(w, repl, 3); /* valid as \u0000, but jansson refuses it by default */
        return 1;
    }
    if (s[0] < 0x80) {
        jw_escape_byte(w, s[0]);
        return 1;
    }
    size_t k = utf8_seq(s, n);
    if (k == 0) {
        jw_raw(w, repl, 3);
        return 1;
    }
    jw_raw(w, (const char *)s, k);
    return k;
}

/* A JSON string of p[0..n); sd: also undo the SD escapes \" \\ \]. */
static void jw_str(struct jw *w, const char *p, size_t n, int sd)
{
    const unsigned char *s = (const unsigned char *)p;
    jw_raw(w, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && json_plain(s[j])) {
            j++;
        }
        jw_raw(w, p + i, j - i);
        if (j >= n) {
            break;
        }
        if (sd && s[j] == '\\' && j + 1 < n &&
            (s[j + 1] == '"' || s[j + 1] == '\\' || s[j + 1] == ']')) {
            j++; /* write the escaped char itself, JSON-escaped if need be */
            if (s[j] == ']') {
                jw_raw(w, "]", 1);
                i = j + 1;
                continue;
            }
        }
        i = j + jw_special(w, s + j, n - j);
    }
    jw_raw(w, "\"", 1);
}

/* `,"key":"value"`; key is a literal with its quotes and colon. */
static void jw_member(struct jw *w, const char *key, size_t key_len, struct clew_str v)
{
    jw_raw(w, key, key_len);
    jw_str(w, v.ptr, v.len, 0);
}

#define JW_MEMBER(w, lit, v) jw_member((w), (lit), sizeof(lit) - 1, (v))

static void jw_elem(struct jw *w, const struct parsed *p, const struct sd_elem *e)
{
    jw_raw(w, ",", 1);
    jw_str(w, e->id.ptr, e->id.len, 0);
    jw_raw(w, ":{", 2);
    int first = 1;
    for (unsigned i = e->first; i < e->first + e->n; i++) {
        const struct sd_param *prm = &p->params[i];
        if (prm->dup) {
            continue;
        }
        jw_raw(w, first ? "" : ",", first ? 0 : 1);
        first = 0;
        jw_str(w, prm->name.ptr, prm->name.len, 0);
        jw_raw(w, ":", 1);
        jw_str(w, prm->value.ptr, prm->value.len, 1);
    }
    jw_raw(w, "}", 1);
}

static void jw_fields(struct jw *w, const struct parsed *p)
{
    const char *fac = clew_syslog_facility_name(p->facility);
    JW_MEMBER(w, "{\"facility\":", mkstr(fac, strlen(fac)));
    if (p->procid.len > 0) {
        JW_MEMBER(w, ",\"procid\":", p->procid);
    }
    if (p->msgid.len > 0) {
        JW_MEMBER(w, ",\"msgid\":", p->msgid);
    }
    for (unsigned i = 0; i < p->n_elems; i++) {
        if (!p->elems[i].dup) {
            jw_elem(w, p, &p->elems[i]);
        }
    }
    jw_raw(w, "}", 1);
}

static int same(struct clew_str a, struct clew_str b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* Marks repeated SD-IDs (and IDs equal to our own keys) and repeated
 * param names within an element: the first occurrence is kept. */
static void mark_dups(struct parsed *p)
{
    for (unsigned i = 0; i < p->n_elems; i++) {
        struct sd_elem *e = &p->elems[i];
        e->dup = str_eq(e->id, "facility") || str_eq(e->id, "procid") || str_eq(e->id, "msgid");
        for (unsigned j = 0; j < i && !e->dup; j++) {
            e->dup = same(e->id, p->elems[j].id);
        }
        for (unsigned a = e->first + 1; a < e->first + e->n; a++) {
            for (unsigned b = e->first; b < a && !p->params[a].dup; b++) {
                p->params[a].dup = same(p->params[a].name, p->params[b].name);
            }
        }
    }
}

/* One pass into a stack buffer, then one copy of the exact size into the
 * arena; text longer than the buffer is written again straight into it. */
static int build_fields(const struct parsed *p, struct clew_record *out, struct clew_arena *arena)
{
    char scratch[2048];
    struct jw w = { scratch, sizeof(scratch), 0 };
    jw_fields(&w, p);
    size_t n = w.len;
    char *buf =
        n <= sizeof(scratch) ? clew_arena_dup(arena, scratch, n) : clew_arena_alloc(arena, n + 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    if (n > sizeof(scratch)) {
        w = (struct jw){ buf, n, 0 };
        jw_fields(&w, p);
        buf[n] = '\0';
    }
    out->fields = mkstr(buf, n);
    return 0;
}

/* An id from an SD value: SD escapes undone, lower-cased; borrowed from the
 * message when it needs neither. */
static int set_id(struct clew_str raw, struct clew_str *dst, struct clew_arena *arena)
{
    size_t i = 0;
    while (i < raw.len && raw.ptr[i] != '\\' && !(raw.ptr[i] >= 'A' && raw.ptr[i] <= 'Z')) {
        i++;
    }
    if (i == raw.len) {
        *dst = raw;
        return 0;
    }
    char *d = clew_arena_alloc(arena, raw.len + 1);
    if (d == NULL) {
        return -ENOMEM;
    }
    size_t k = 0;
    for (i = 0; i < raw.len; i++) {
        char c = raw.ptr[i];
        char e = i + 1 < raw.len ? raw.ptr[i + 1] : 0;
        if (c == '\\' && (e == '"' || e == '\\' || e == ']')) {
            c = raw.ptr[++i];
        }
        d[k++] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
    }
    d[k] = '\0';
    *dst = mkstr(d, k);
    return 0;
}

static int finish_record(struct parsed *p, struct clew_record *out, struct clew_arena *arena)
{
    struct clew_str *dst[ID_COUNT] = { &out->trace_id, &out->span_id, &out->parent_span_id };
    for (int k = 0; k < ID_COUNT; k++) {
        if (p->ids[k].ptr != NULL && set_id(p->ids[k], dst[k], arena) < 0) {
            return -ENOMEM;
        }
    }
    mark_dups(p);
    return build_fields(p, out, arena);
}

static size_t trim_end(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\0')) {
        n--;
    }
    return n;
}

int clew_syslog_parse(const char *msg, size_t len, int64_t recv_ns,
                      const struct clew_syslog_parse_opts *opts, struct clew_record *out,
                      struct clew_arena *arena)
{
    memset(out, 0, sizeof(*out));
    out->input = CLEW_INPUT_SYSLOG;
    out->level = CLEW_LEVEL_DEFAULT;
    out->ts = recv_ns;
    size_t n = trim_end(msg, len);
    unsigned pri;
    size_t pos;
    if (parse_pri(msg, n, &pri, &pos) < 0) {
        out->message = mkstr(msg, n);
        return CLEW_SYSLOG_PARSE_NOPRI;
    }
    out->level = (uint8_t)(pri & 7);
    struct parsed p;
    p.facility = pri >> 3;
    p.n_elems = p.n_params = 0;
    p.procid = p.msgid = mkstr(NULL, 0);
    memset(p.ids, 0, sizeof(p.ids));
    const char *s = msg + pos;
    size_t sn = n - pos;
    if (!is_5424(s, sn) || parse_5424(s, sn, recv_ns, &p, out) < 0) {
        int32_t tz = opts != NULL ? opts->bsd_tz_offset : 0;
        parse_bsd(s, sn, recv_ns, tz, &p, out);
    }
    return finish_record(&p, out, arena);
}
