#include "upset/fnv.h"

#include <stdio.h>

uint64_t fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

fnv_hex_t fnv_hex(uint64_t h)
{
    fnv_hex_t x;
    snprintf(x.s, sizeof x.s, "%016llx", (unsigned long long)h);
    return x;
}
