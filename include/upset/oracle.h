/* Reading a complete single-bit oracle (a `kind: oracle` results file over every bit):
 * the per-bit view that protection policies and the protection planner share. */
#ifndef UPSET_ORACLE_H
#define UPSET_ORACLE_H

#include <stdint.h>

#include "upset/error.h"

/* Fills error[b] (the bit's task error relative to fault-free: column `error_column`
 * minus the attribute `baseline_attr` when not NULL, as the task metric says) and
 * sensitive[b] (0/1) for every one of the n_fault_bits bits, each of which the file must
 * hold exactly once. The caller checks that the oracle belongs to its model (and inputs). */
int oracle_read_bits(const char *path, int64_t n_fault_bits, const char *error_column,
                     const char *baseline_attr, double *error, unsigned char *sensitive,
                     upset_err_t *err);

#endif
