/* A campaign's evaluation set: the glue between the campaign file and the loaders,
 * shared by `upset run` and `upset rank`. */
#ifndef UPSET_CAMPAIGN_DATA_H
#define UPSET_CAMPAIGN_DATA_H

#include "upset/campaign.h"
#include "upset/dataset.h"
#include "upset/model.h"

/* Loads the data section of c, checks it fits m and, for a classifier with
 * data.correct_only, keeps the samples m classifies correctly. */
int campaign_load_dataset(const campaign_t *c, const model_t *m, dataset_t *d, upset_err_t *err);

#endif
