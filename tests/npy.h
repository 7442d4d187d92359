/* Minimal reader for the .npy reference arrays the tests compare against
 * (NumPy format 1.0/2.0, little-endian <f4, <f8 or <i8, C order), as doubles. */
#ifndef UPSET_TEST_NPY_H
#define UPSET_TEST_NPY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns a malloc'd array of *n doubles, or NULL. */
static double *npy_read(const char *path, int64_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char magic[10];
    double *out = NULL;
    if (fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6))
        goto done;
    uint32_t hlen = magic[8] | (uint32_t)magic[9] << 8;
    if (magic[6] >= 2) {
        unsigned char b[2];
        if (fread(b, 1, 2, f) != 2)
            goto done;
        hlen |= (uint32_t)b[0] << 16 | (uint32_t)b[1] << 24;
    }
    char *hdr = calloc(hlen + 1, 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        free(hdr);
        goto done;
    }
    int size = strstr(hdr, "'<f4'") ? 4 : strstr(hdr, "'<f8'") ? 8 : strstr(hdr, "'<i8'") ? -8 : 0;
    int fortran = strstr(hdr, "'fortran_order': True") != NULL;
    const char *sh = strstr(hdr, "'shape': (");
    int64_t count = 1;
    if (sh) {
        sh += 10;
        while (*sh && *sh != ')') {
            char *end;
            long long d = strtoll(sh, &end, 10);
            if (end == sh)
                break;
            count *= d;
            sh = end;
            while (*sh == ',' || *sh == ' ')
                sh++;
        }
    }
    free(hdr);
    if (!size || fortran || !sh)
        goto done;
    out = malloc((size_t)count * sizeof *out);
    for (int64_t i = 0; out && i < count; i++) {
        unsigned char b[8];
        int w = size < 0 ? -size : size;
        if (fread(b, 1, (size_t)w, f) != (size_t)w) {
            free(out);
            out = NULL;
            break;
        }
        if (size == 4) {
            float v;
            memcpy(&v, b, 4);
            out[i] = v;
        } else if (size == 8) {
            memcpy(&out[i], b, 8);
        } else {
            int64_t v;
            memcpy(&v, b, 8);
            out[i] = (double)v;
        }
    }
    *n = count;
done:
    fclose(f);
    return out;
}

#endif
