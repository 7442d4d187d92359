/* Collective helpers shared by the MPI commands (`upset run`, `upset rank`); they know
 * nothing of campaigns (campaign_data.h sends one with them). */
#ifndef UPSET_COLLECTIVE_H
#define UPSET_COLLECTIVE_H

#include <mpi.h>

#include "upset/error.h"

/* Every rank reaches the same verdict: 0 if rc is 0 on every rank, else -1 on every rank
 * with the first failing rank's message in err. */
int mpi_agree(MPI_Comm comm, int rc, upset_err_t *err);

/* Rank 0's *len bytes at *buf (rc0: whether rank 0 has them) reach every rank: the others
 * get a malloc'd copy (free() it). Collective; 0 or -1 (same message) on every rank. */
int mpi_bcast_bytes(MPI_Comm comm, unsigned char **buf, size_t *len, int rc0,
                    upset_err_t *err);

#endif
