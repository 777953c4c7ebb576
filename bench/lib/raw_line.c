/* SPDX-License-Identifier: MIT */
#include "bench/lib/raw_line.h"

#include "common/json_out.h"
#include "common/timeutil.h"

void clew_bench_write_raw(FILE *f, struct clew_buf *b, const struct clew_record *r)
{
    char ts[40];
    clew_time_format(r->ts, 6, ts, sizeof(ts));
    struct clew_str cn = r->labels[CLEW_LABEL_CONTAINER_NAME];
    if (cn.len > 0 && cn.ptr[0] == '/') {
        cn.ptr++;
        cn.len--;
    }
    fprintf(f, "%s %.*s %.*s[%.*s] %s ", ts, (int)r->labels[CLEW_LABEL_HOST].len,
            r->labels[CLEW_LABEL_HOST].ptr, (int)r->labels[CLEW_LABEL_SERVICE].len,
            r->labels[CLEW_LABEL_SERVICE].ptr, (int)cn.len, cn.ptr, clew_level_name(r->level));
    if (r->fields.len > 2) {
        clew_buf_reset(b);
        clew_buf_append(b, "{\"msg\":", 7);
        clew_json_put_str(b, r->message.ptr, r->message.len);
        clew_buf_put_u8(b, ',');
        clew_buf_append(b, r->fields.ptr + 1, r->fields.len - 1);
        fwrite(b->data, 1, b->len, f);
    } else {
        fwrite(r->message.ptr, 1, r->message.len, f);
    }
    fputc('\n', f);
}
