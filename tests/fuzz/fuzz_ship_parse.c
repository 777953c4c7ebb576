/* SPDX-License-Identifier: MIT
 * Fuzz target for clew-ship's parsers: the first byte picks one of Docker
 * json-file lines, Docker config.v2.json, CRI lines, CRI log paths and
 * kubelet symlink names; the rest is the input. Decoded strings must stay
 * inside their buffers (ASan checks) and carry sane values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "shipper/cri.h"
#include "shipper/docker_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct clew_str s, const char *base, size_t len)
{
    if (s.len > 0 && (s.ptr < base || s.ptr + s.len > base + len)) {
        abort();
    }
}

static void docker_line(const char *p, size_t n)
{
    struct clew_buf scratch;
    clew_buf_init(&scratch);
    struct clew_docker_line l;
    if (clew_docker_line_parse(p, n, &scratch, &l) == 0) {
        /* content is decoded into scratch: touch every byte */
        volatile char sink = 0;
        for (size_t i = 0; i < l.content.len; i++) {
            sink ^= l.content.ptr[i];
        }
        (void)sink;
        if (l.complete != 0 && l.complete != 1) {
            abort();
        }
    }
    clew_buf_close(&scratch);
}

static void cri(const char *p, size_t n, int which)
{
    if (which == 0) {
        struct clew_cri_line l;
        if (clew_cri_line_parse(p, n, &l) == 0) {
            inside(l.content, p, n);
        }
        return;
    }
    struct clew_cri_meta m;
    int rc = which == 1 ? clew_cri_path_parse(p, n, &m) : clew_cri_link_parse(p, n, &m);
    if (rc == 0) {
        inside(m.namespace_, p, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) {
        return 0;
    }
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    /* A private copy, so a read past the end is caught at the exact byte. */
    char *copy = malloc(n ? n : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, p, n);
    switch (data[0] % 5) {
    case 0:
        docker_line(copy, n);
        break;
    case 1: {
        struct clew_docker_meta m;
        if (clew_docker_meta_parse(copy, n, &m) == 0) {
            if (m.name == NULL || m.image == NULL || m.service == NULL || m.project == NULL) {
                abort();
            }
            clew_docker_meta_clear(&m);
        }
        break;
    }
    default:
        cri(copy, n, data[0] % 5 - 2);
        break;
    }
    free(copy);
    return 0;
}
