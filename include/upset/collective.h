/* Collective helpers shared by the MPI commands (`upset run`, `upset rank`). */
#ifndef UPSET_COLLECTIVE_H
#define UPSET_COLLECTIVE_H

#include <mpi.h>

#include "upset/campaign.h"
#include "upset/error.h"

/* Every rank reaches the same verdict: 0 if rc is 0 on every rank, else -1 on every rank
 * with the first failing rank's message in err. */
int mpi_agree(MPI_Comm comm, int rc, upset_err_t *err);

/* Rank 0 has loaded and validated c (rc0: the outcome); the other ranks receive it, so only
 * rank 0 ever parses YAML. Collective; 0 or -1 (same message) on every rank. */
int campaign_bcast(MPI_Comm comm, campaign_t *c, int rc0, upset_err_t *err);

#endif
