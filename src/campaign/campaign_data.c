#include "upset/campaign_data.h"

#include "upset/evaluate.h"

int campaign_load_dataset(const campaign_t *c, const model_t *m, dataset_t *d, upset_err_t *err)
{
    int rc = c->data.format == CAMPAIGN_DATA_HGCAL
                 ? dataset_load_hgcal((const char *const *)c->data.files.v, c->data.files.n,
                                      c->data.offset, c->data.count, d, err)
                 : dataset_load_cifar10(c->data.files.v[0], c->data.labels, c->data.offset,
                                        c->data.count < 0 ? -1 : c->data.count, d, err);
    if (rc || dataset_check_model(d, m, c->source ? c->source : "campaign", err))
        return -1;
    if (m->task == TASK_CLASSIFIER && c->data.correct_only)
        return dataset_keep_correct(d, m, err);
    return 0;
}
