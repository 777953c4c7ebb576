/* SPDX-License-Identifier: MIT
 * seg_text: the template codec of the segment's string columns (message
 * and fields; docs/FORMAT.md, "String columns"). A string is split into a
 * template (its text with every number, hex token and copy of its record's
 * ids replaced by a placeholder) and the variables; a block stores each
 * distinct template once. The encoder and decoder own their buffers (close
 * frees them); the decoder borrows the stream bytes it is given. Pure; one
 * thread per encoder or decoder. */
#ifndef CLEW_SEG_TEXT_H
#define CLEW_SEG_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "clew/record.h"
#include "common/buf.h"

/* The four streams of a string column, in stored order. */
enum {
    CLEW_SEG_TEXT_TIDS = 0, /* one varint template number per string        */
    CLEW_SEG_TEXT_TMPL = 1, /* the distinct templates, each ended by 0x0A    */
    CLEW_SEG_TEXT_INTS = 2, /* the decimal numbers, as varints               */
    CLEW_SEG_TEXT_HEX = 3,  /* the hex tokens: varint digit count + packed   */
    CLEW_SEG_TEXT_NSTREAMS = 4
};

/* Ids shorter than this are not replaced in the text. */
#define CLEW_SEG_TEXT_MIN_ID 8u

/* A string seen before in the column (with the same ids) is not tokenized
 * again: its template number and variables are repeated from where they
 * were written. Direct-mapped by hash; strings up to CLEW_SEG_TEXT_REPEAT_MAX
 * bytes. Container metadata in fields repeats record after record. */
#define CLEW_SEG_TEXT_REPEAT_SLOTS 16u
#define CLEW_SEG_TEXT_REPEAT_MAX   1024u

struct clew_seg_text_repeat {
    struct clew_buf key; /* the string, then the three ids with lengths */
    uint64_t hash;
    uint32_t tid;
    size_t ints_off, ints_len, hex_off, hex_len; /* in the streams */
    int used;
};

struct clew_seg_text_enc {
    struct clew_buf s[CLEW_SEG_TEXT_NSTREAMS]; /* the encoded streams       */
    struct clew_buf cur;                       /* template being built      */
    uint32_t *slots;                           /* hash table: index + 1     */
    uint32_t mask;
    uint32_t *toff; /* template i at s[TMPL].data[toff[i] .. toff[i+1]) */
    uint32_t ntmpl, tcap;
    uint64_t *bits;     /* byte-class bit masks of the string being added  */
    size_t bcap;        /* words at bits                                  */
    const char *idp[3]; /* the last ids seen, and whether each is hex */
    size_t idlen[3];
    int idhex[3];
    struct clew_seg_text_repeat rep[CLEW_SEG_TEXT_REPEAT_SLOTS];
    uint32_t rep_tries, rep_hits; /* in this column; few hits: stop trying */
    uint32_t rep_last_tid;        /* template number of the latest string   */
    int repeat_off;               /* 1: always tokenize (tests compare)     */
};

/* Sets e up empty (no allocation). */
void clew_seg_text_enc_init(struct clew_seg_text_enc *e);
/* Starts a new column: empties the streams and forgets the templates. */
void clew_seg_text_enc_reset(struct clew_seg_text_enc *e);
/* Frees what e holds; e may be reused after clew_seg_text_enc_init. */
void clew_seg_text_enc_close(struct clew_seg_text_enc *e);

/* Appends string s[0..len) of a record whose ids are ids[0..3) (trace_id,
 * span_id, parent_span_id; borrowed until return) to the streams. Returns
 * 0 or -ENOMEM (the column is then unusable: reset it). */
int clew_seg_text_enc_add(struct clew_seg_text_enc *e, const char *s, size_t len,
                          const struct clew_str ids[3]);

/* One template of a column, as the decoder indexed it. */
struct clew_seg_text_tmpl {
    uint32_t off;  /* its bytes: the decoder's copy, from off            */
    uint32_t op;   /* its first op                                       */
    uint32_t lit;  /* literal bytes (the text without its placeholders)  */
    uint32_t nint; /* int placeholders                                   */
    uint32_t nhex; /* hex placeholders                                   */
};

struct clew_seg_text_dec {
    const uint8_t *p[CLEW_SEG_TEXT_NSTREAMS]; /* read positions           */
    const uint8_t *end[CLEW_SEG_TEXT_NSTREAMS];
    uint8_t *tmpl;                  /* a copy of the templates stream, with
                                       room for wide copies past its end */
    struct clew_seg_text_tmpl *tpl; /* the templates                       */
    uint64_t *ops;                  /* the templates parsed: literal
                                       lengths and escape codes           */
    size_t nops;
    uint32_t ntmpl;
};

/* Checks the templates stream and indexes it; s[k][0..len[k]) are the
 * four streams (borrowed while d is used). Returns 0, CLEW_ECORRUPT (a
 * malformed template) or -ENOMEM. Close d in every case. */
int clew_seg_text_dec_init(struct clew_seg_text_dec *d, const uint8_t *const s[4],
                           const size_t len[4]);
void clew_seg_text_dec_close(struct clew_seg_text_dec *d);

/* Decodes the next string, whose record has ids ids[0..3), appending it to
 * out. A string longer than max is CLEW_ECORRUPT. Returns 0, CLEW_ECORRUPT
 * (streams exhausted or malformed) or -ENOMEM. */
int clew_seg_text_dec_next(struct clew_seg_text_dec *d, const struct clew_str ids[3],
                           struct clew_buf *out, size_t max);

/* Skips the next string without building it. Returns 0 or CLEW_ECORRUPT. */
int clew_seg_text_dec_skip(struct clew_seg_text_dec *d);

/* 0 when every stream but the templates was consumed exactly, else
 * CLEW_ECORRUPT. */
int clew_seg_text_dec_end(const struct clew_seg_text_dec *d);

#endif
