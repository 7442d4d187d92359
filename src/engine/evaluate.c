#include "upset/evaluate.h"

#include <stdlib.h>
#include <string.h>

int evaluator_create(evaluator_t *ev, const model_t *m, const dataset_t *d, int emd_zero_rule,
                     upset_err_t *err)
{
    memset(ev, 0, sizeof *ev);
    ev->model = m;
    ev->data = d;
    if (task_check_data(m, d, "evaluation data", err))
        return -1;
    if (engine_create(&ev->engine, m, d->input_frac, err))
        return -1;
    ev->out = upset_calloc((size_t)shape_size(m->layers[m->n_layers - 1].out),
                           sizeof *ev->out, err);
    if (!ev->out || task_scorer_create(&ev->scorer, m, d, emd_zero_rule, err)) {
        evaluator_free(ev);
        return -1;
    }
    return 0;
}

void evaluator_free(evaluator_t *ev)
{
    engine_free(&ev->engine);
    task_scorer_free(&ev->scorer);
    free(ev->out);
    ev->out = NULL;
}

int evaluator_score(evaluator_t *ev, int64_t i, sample_result_t *r, upset_err_t *err)
{
    const tensor_t *t = engine_output(&ev->engine);
    for (int64_t k = 0; k < t->n; k++)
        ev->out[k] = tensor_value(t, k);
    return task_score(&ev->scorer, ev->out, i, r, err);
}

int evaluator_sample(evaluator_t *ev, int64_t i, sample_result_t *r, upset_err_t *err)
{
    const double *x = ev->data->x + i * shape_size(ev->data->shape);
    engine_set_input(&ev->engine, x);
    if (ev->output_only ? engine_run_lean(&ev->engine, 0, err)
                        : engine_run_layers(&ev->engine, 0, ev->engine.n_layers - 1, err))
        return -1;
    return evaluator_score(ev, i, r, err);
}

int dataset_keep_correct(dataset_t *d, const model_t *m, upset_err_t *err)
{
    if (!task_ops(m->task)->labelled || !d->label)
        return upset_fail(err, "only labelled data on a classifier has correct samples");
    evaluator_t ev;
    if (evaluator_create(&ev, m, d, 0, err))
        return -1;
    ev.output_only = 1;
    unsigned char *keep = upset_calloc((size_t)d->n, 1, err);
    int rc = keep ? 0 : -1;
    int64_t kept = 0;
    for (int64_t i = 0; !rc && i < d->n; i++) {
        sample_result_t s;
        rc = evaluator_sample(&ev, i, &s, err);
        keep[i] = !rc && s.pred == d->label[i];
        kept += keep[i];
    }
    evaluator_free(&ev);
    if (!rc && !kept)
        rc = upset_fail(err, "none of the %lld samples is classified correctly, and "
                             "correct_only keeps only those",
                        (long long)d->n);
    if (!rc)
        rc = dataset_select(d, keep, err);
    free(keep);
    return rc;
}
