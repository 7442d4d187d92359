/* Text bit rankings (docs/sensitivity.md): one global bit index per line. */
#ifndef UPSET_BITRANKING_H
#define UPSET_BITRANKING_H

#include <stdint.h>

#include "upset/error.h"

/* Reads path into a malloc'd array (*bits, *n); every index must lie in [0, n_fault_bits)
 * and appear once. Errors name the file and line. */
int bit_ranking_read(const char *path, int64_t n_fault_bits, int64_t **bits, int64_t *n,
                     upset_err_t *err);

#endif
