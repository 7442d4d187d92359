/* FNV-1a 64, the one checksum of the project: model files, loaded data, checkpoints and
 * results columns. Not cryptographic: it detects accidents (a torn write, bit rot, an
 * edited file, a changed input), not attacks. */
#ifndef UPSET_FNV_H
#define UPSET_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT UINT64_C(0xcbf29ce484222325)

/* The start value of the model-file and loaded-data checksums: FNV's offset basis with its
 * last digit missing (1469598103934665603, not ...6037). Every results file and checkpoint
 * stores these checksums, so they keep it: a campaign written before must still match. */
#define FNV1A64_INIT_MODEL_DATA UINT64_C(1469598103934665603)

/* FNV-1a 64 of len bytes continuing from h (start with FNV1A64_INIT). */
uint64_t fnv1a64(uint64_t h, const void *data, size_t len);

/* FNV-1a 64 of the bytes of the file at path, continuing from *h (start with FNV1A64_INIT, or
 * FNV1A64_INIT_MODEL_DATA for a model file). 0, or -1 with errno set when the file cannot be
 * opened or read (*h then holds the checksum of what was read). */
int fnv1a64_file(const char *path, uint64_t *h);

/* A checksum as results files store it: 16 lower-case hex digits and a NUL. */
typedef struct {
    char s[17];
} fnv_hex_t;
fnv_hex_t fnv_hex(uint64_t h);

#endif
