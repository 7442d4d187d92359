#include "upset/collective.h"

#include <stdlib.h>

int mpi_agree(MPI_Comm comm, int rc, upset_err_t *err)
{
    int rank, bad = rc ? 1 : 0, any;
    MPI_Comm_rank(comm, &rank);
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm);
    if (!any)
        return 0;
    int who = bad ? rank : 1 << 30, first;
    MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, comm);
    MPI_Bcast(err->msg, UPSET_ERR_LEN, MPI_CHAR, first, comm);
    return -1;
}

int mpi_bcast_bytes(MPI_Comm comm, unsigned char **buf, size_t *len, int rc0, upset_err_t *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (mpi_agree(comm, rank == 0 ? rc0 : 0, err))
        return -1;
    unsigned long long blen = rank == 0 ? *len : 0;
    MPI_Bcast(&blen, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
    int rc = 0;
    if (rank) {
        *buf = malloc(blen ? blen : 1);
        *len = blen;
        rc = *buf ? 0 : upset_fail(err, "out of memory receiving %llu bytes", blen);
    }
    if (mpi_agree(comm, rc, err))
        return -1;
    MPI_Bcast(*buf, (int)blen, MPI_UNSIGNED_CHAR, 0, comm);
    return 0;
}
