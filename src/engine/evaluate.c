#include "upset/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "upset/econt.h"
#include "upset/emd.h"

int evaluator_create(evaluator_t *ev, const model_t *m, const dataset_t *d, int emd_zero_rule,
                     upset_err_t *err)
{
    memset(ev, 0, sizeof *ev);
    ev->model = m;
    ev->data = d;
    ev->emd_zero_rule = emd_zero_rule;
    if (dataset_check_model(d, m, "evaluation data", err))
        return -1;
    if (engine_create(&ev->engine, m, d->input_frac, err))
        return -1;
    if (m->task == TASK_AUTOENCODER) {
        if (shape_size(m->layers[m->n_layers - 1].out) != 64)
            return upset_fail(err, "%s: an ECON-T autoencoder must output 8x8 (64) values",
                              m->path);
        ev->emd = emd_workspace_create(ECONT_CELLS, ECONT_CELLS, err);
        if (!ev->emd) {
            engine_free(&ev->engine);
            return upset_fail(err, "out of memory for the EMD workspace");
        }
    }
    return 0;
}

void evaluator_free(evaluator_t *ev)
{
    engine_free(&ev->engine);
    emd_workspace_free(ev->emd);
    ev->emd = NULL;
}

int argmax_tensor(const tensor_t *t)
{
    int best = 0;
    for (int64_t i = 1; i < t->n; i++)
        if (tensor_value(t, i) > tensor_value(t, best))
            best = (int)i;
    return best;
}

int evaluator_score(evaluator_t *ev, int64_t i, sample_result_t *r, upset_err_t *err)
{
    const tensor_t *out = engine_output(&ev->engine);
    r->emd = 0;
    r->pred = -1;
    if (ev->model->task == TASK_CLASSIFIER) {
        r->pred = argmax_tensor(out);
    } else if (ev->model->task == TASK_AUTOENCODER) {
        double img[64], cells[ECONT_CELLS];
        for (int p = 0; p < 64; p++)
            img[p] = tensor_value(out, p);
        econt_cells_from_8x8(img, cells);
        emd_basis_t *b = ev->bases ? ev->bases[i] : NULL;
        const double *in = ev->data->cells + i * ECONT_CELLS;
        /* first solve of a sample with a basis slot: cold, saving the basis; the value
         * reported is then the warm solve from it, exactly what a later solve of the same
         * output gives, so an unchanged sample scores the same on every path */
        if (b && b->n == 0 && econt_emd_warm(ev->emd, NULL, in, cells, ev->emd_zero_rule,
                                             &r->emd, b, err))
            return -1;
        if (econt_emd_warm(ev->emd, b, in, cells, ev->emd_zero_rule, &r->emd, NULL, err))
            return -1;
    }
    return 0;
}

int evaluator_sample(evaluator_t *ev, int64_t i, sample_result_t *r, upset_err_t *err)
{
    const double *x = ev->data->x + i * shape_size(ev->data->shape);
    if (engine_run(&ev->engine, x, err))
        return -1;
    return evaluator_score(ev, i, r, err);
}

int dataset_keep_correct(dataset_t *d, const model_t *m, upset_err_t *err)
{
    if (m->task != TASK_CLASSIFIER || !d->label)
        return upset_fail(err, "only labelled data on a classifier has correct samples");
    evaluator_t ev;
    if (evaluator_create(&ev, m, d, 0, err))
        return -1;
    unsigned char *keep = upset_calloc((size_t)d->n, 1, err);
    int rc = keep ? 0 : -1;
    for (int64_t i = 0; !rc && i < d->n; i++) {
        sample_result_t s;
        rc = evaluator_sample(&ev, i, &s, err);
        keep[i] = !rc && s.pred == d->label[i];
    }
    evaluator_free(&ev);
    if (!rc)
        rc = dataset_select(d, keep, err);
    free(keep);
    return rc;
}
