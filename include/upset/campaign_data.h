/* A campaign's evaluation set, and a campaign sent to every rank: the glue between the
 * campaign file, the loaders and MPI, shared by `upset run` and `upset rank`. */
#ifndef UPSET_CAMPAIGN_DATA_H
#define UPSET_CAMPAIGN_DATA_H

#include <mpi.h>

#include "upset/campaign.h"
#include "upset/dataset.h"
#include "upset/model.h"

/* Samples of data format f from the loader for it: files (hgcal reads them all, the others
 * the first), labels (cifar10 only), offset, count (> 0, or < 0 for all). */
int campaign_data_load(campaign_data_format_t f, const char *const *files, int n_files,
                       const char *labels, int64_t offset, int64_t count, dataset_t *d,
                       upset_err_t *err);

/* Loads the data section of c, checks it fits m and, for a classifier with
 * data.correct_only, keeps the samples m classifies correctly. */
int campaign_load_dataset(const campaign_t *c, const model_t *m, dataset_t *d, upset_err_t *err);

/* Rank 0 has loaded and validated c (rc0: the outcome); the other ranks receive it, so only
 * rank 0 ever parses YAML. Collective; 0 or -1 (same message) on every rank. */
int campaign_bcast(MPI_Comm comm, campaign_t *c, int rc0, upset_err_t *err);

#endif
