#include "upset/campaign_data.h"

#include <stdlib.h>

#include "upset/collective.h"
#include "upset/evaluate.h"

int campaign_data_load(campaign_data_format_t f, const char *const *files, int n_files,
                       const char *labels, int64_t offset, int64_t count, dataset_t *d,
                       upset_err_t *err)
{
    if (f == CAMPAIGN_DATA_HGCAL)
        return dataset_load_hgcal(files, n_files, offset, count, d, err);
    count = count < 0 ? -1 : count;
    return f == CAMPAIGN_DATA_HDF5 ? dataset_load_hdf5(files[0], offset, count, d, err)
                                   : dataset_load_cifar10(files[0], labels, offset, count, d, err);
}

int campaign_load_dataset(const campaign_t *c, const model_t *m, dataset_t *d, upset_err_t *err)
{
    int rc = campaign_data_load(c->data.format, (const char *const *)c->data.files.v,
                                c->data.files.n, c->data.labels, c->data.offset, c->data.count, d,
                                err);
    if (rc || task_check_data(m, d, c->source ? c->source : "campaign", err))
        return -1;
    if (task_ops(m->task)->labelled && c->data.correct_only && dataset_keep_correct(d, m, err))
        return -1;
    dataset_checksum(d); /* the results record it; once, on the samples kept */
    return 0;
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
    if (mpi_bcast_bytes(comm, &buf, &len, rc, err)) {
        free(buf);
        return -1;
    }
    rc = rank ? campaign_deserialize(c, buf, len, err) : 0;
    free(buf);
    return mpi_agree(comm, rc, err);
}
