/* MPI_CHECK / H5_CHECK: run one MPI or HDF5 call and, when it fails, put a
 * message naming the call (its source text), the file and the line into an
 * upset_err_t. Both evaluate the call once and yield 0 on success or -1 on
 * failure, so the control flow stays visible at the call site:
 *
 *     if (MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, 0, comm), err))
 *         goto fail;
 *     if (H5_CHECK(file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), err))
 *         goto fail;
 *
 * H5_CHECK treats a negative value (herr_t or hid_t) as failure and appends
 * the innermost HDF5 error-stack entry, so "unable to open file" comes with
 * its reason rather than a bare -1.
 *
 * MPI's default error handler (MPI_ERRORS_ARE_FATAL) aborts before MPI_CHECK
 * ever sees a failure; MPI_CHECK matters on communicators whose handler is
 * MPI_ERRORS_RETURN, and documents the call either way.
 *
 * Everything here is static inline so the header needs no .c of its own. */
#ifndef UPSET_MPICHECK_H
#define UPSET_MPICHECK_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "upset/error.h"

#define MPI_CHECK(call, err) upset_mpi_check((call), #call, __FILE__, __LINE__, (err))
#define H5_CHECK(call, err) upset_h5_check((int64_t)(call), #call, __FILE__, __LINE__, (err))

static inline int upset_mpi_check(int rc, const char *call, const char *file, int line,
                                  upset_err_t *err)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char text[MPI_MAX_ERROR_STRING] = "unknown MPI error";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return upset_fail(err, "%s:%d: %s failed: %s", file, line, call, text);
}

/* Walking upward visits the most specific entry first (n == 0, usually the
 * system reason such as errno text) and the API-level entry last; the message
 * keeps both: "<api-level desc>: <most specific desc>". */
typedef struct {
    char inner[384];
    char outer[256];
} upset_h5_why_t;

static inline herr_t upset_h5_walk_(unsigned n, const H5E_error2_t *e, void *data)
{
    upset_h5_why_t *why = data;
    const char *desc = e->desc ? e->desc : "";
    if (n == 0)
        snprintf(why->inner, sizeof why->inner, "%s", desc);
    snprintf(why->outer, sizeof why->outer, "%s", desc);
    return 0;
}

static inline int upset_h5_check(int64_t rc, const char *call, const char *file, int line,
                                 upset_err_t *err)
{
    if (rc >= 0)
        return 0;
    upset_h5_why_t why = {"", ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, upset_h5_walk_, &why);
    if (!why.inner[0])
        return upset_fail(err, "%s:%d: %s failed", file, line, call);
    if (!strcmp(why.inner, why.outer))
        return upset_fail(err, "%s:%d: %s failed: %s", file, line, call, why.inner);
    return upset_fail(err, "%s:%d: %s failed: %s: %s", file, line, call, why.outer,
                      why.inner);
}

/* Silences HDF5's automatic error-stack printing while library code runs (it
 * reports through upset_err_t instead) and restores the caller's setting:
 *     h5_quiet_t q = h5_quiet_begin(); ... h5_quiet_end(&q); */
typedef struct {
    H5E_auto2_t func;
    void *data;
} h5_quiet_t;

static inline h5_quiet_t h5_quiet_begin(void)
{
    h5_quiet_t q = {NULL, NULL};
    H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

static inline void h5_quiet_end(const h5_quiet_t *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

#endif
