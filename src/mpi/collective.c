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

int campaign_bcast(MPI_Comm comm, campaign_t *c, int rc0, upset_err_t *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = rank == 0 ? rc0 : 0;
    if (rank == 0 && !rc)
        rc = campaign_serialize(c, &buf, &len, err);
    if (mpi_agree(comm, rc, err))
        return -1;
    unsigned long long blen = len;
    MPI_Bcast(&blen, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
    if (rank) {
        buf = malloc(blen ? blen : 1);
        rc = buf ? 0 : upset_fail(err, "out of memory receiving the campaign");
    }
    if (mpi_agree(comm, rc, err)) {
        free(buf);
        return -1;
    }
    MPI_Bcast(buf, (int)blen, MPI_UNSIGNED_CHAR, 0, comm);
    if (rank)
        rc = campaign_deserialize(c, buf, blen, err);
    free(buf);
    return mpi_agree(comm, rc, err);
}
