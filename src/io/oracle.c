#include "upset/oracle.h"

#include <stdlib.h>

#include "upset/results.h"

int oracle_read_bits(const char *path, int64_t n_fault_bits, const char *error_column,
                     const char *baseline_attr, double *error, unsigned char *sensitive,
                     upset_err_t *err)
{
    void *bits = NULL, *e = NULL, *s = NULL;
    int64_t nb = 0, ne = 0, ns = 0, base = 0;
    int rc = results_read_column(path, "bits", "bit", RESULTS_INT64, &bits, &nb, err) ||
             results_read_column(path, "bits", error_column, RESULTS_FLOAT64, &e, &ne, err) ||
             results_read_column(path, "bits", "sensitive", RESULTS_INT8, &s, &ns, err) ||
             (baseline_attr && results_read_attr_int64(path, baseline_attr, &base, err));
    unsigned char *seen = rc ? NULL : upset_calloc((size_t)n_fault_bits + 1, 1, err);
    if (!rc && !seen)
        rc = -1;
    if (!rc && (ne != nb || ns != nb))
        rc = upset_fail(err, "%s: the oracle's columns differ in length", path);
    for (int64_t i = 0; !rc && i < nb; i++) {
        const int64_t b = ((int64_t *)bits)[i];
        if (b < 0 || b >= n_fault_bits || seen[b]) {
            rc = upset_fail(err, "%s: bit %lld is out of range or repeated", path, (long long)b);
            break;
        }
        seen[b] = 1;
        error[b] = ((double *)e)[i] - (double)base;
        sensitive[b] = ((int8_t *)s)[i] != 0;
    }
    if (!rc && nb != n_fault_bits)
        rc = upset_fail(err, "%s: the oracle covers %lld of the %lld faultable bits; "
                             "protection needs a full oracle",
                        path, (long long)nb, (long long)n_fault_bits);
    free(seen);
    free(bits);
    free(e);
    free(s);
    return rc ? -1 : 0;
}
