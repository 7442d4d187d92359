#include "upset/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int upset_fail(upset_err_t *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void upset_err_append(upset_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    size_t len = strlen(err->msg);
    if (len + 3 >= sizeof err->msg)
        return;
    if (len) {
        err->msg[len++] = '\n';
        err->msg[len] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + len, sizeof err->msg - len, fmt, ap);
    va_end(ap);
}

void *upset_calloc(size_t n, size_t size, upset_err_t *err)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        upset_fail(err, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *upset_calloc_lines(size_t n, size_t size, upset_err_t *err)
{
    const size_t count = n ? n : 1, each = size ? size : 1; /* as upset_calloc: never 0 bytes */
    void *p = NULL;
    if (count <= (SIZE_MAX - 63) / each) { /* rounding up to whole lines cannot overflow */
        const size_t whole = (count * each + 63) / 64 * 64;
        if ((p = aligned_alloc(64, whole)))
            memset(p, 0, whole);
    }
    if (!p)
        upset_fail(err, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}
