#include "upset/fnv.h"

#include <errno.h>
#include <stdio.h>

uint64_t fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

int fnv1a64_file(const char *path, uint64_t *h)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        *h = fnv1a64(*h, buf, n);
    const int bad = ferror(f), e = errno;
    fclose(f);
    if (bad)
        errno = e ? e : EIO;
    return bad ? -1 : 0;
}

fnv_hex_t fnv_hex(uint64_t h)
{
    fnv_hex_t x;
    snprintf(x.s, sizeof x.s, "%016llx", (unsigned long long)h);
    return x;
}
