/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c, built by `make fuzz` with
 * libFuzzer): loaders that take a path get the input through one temporary file. */
#ifndef UPSET_FUZZ_UTIL_H
#define UPSET_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The path of a per-process temporary file holding exactly data[0..n). */
static inline const char *fuzz_file(const uint8_t *data, size_t n)
{
    static char path[64];
    static int fd = -1;
    if (fd < 0) {
        snprintf(path, sizeof path, "/tmp/upset-fuzz-XXXXXX");
        fd = mkstemp(path);
        if (fd < 0)
            abort();
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, n, 0) != (ssize_t)n)
        abort();
    return path;
}

#endif
