/* The task metrics (task.h): one ops row per task. */
#include "upset/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upset/econt.h"

/* ------------------------------------------------------------ classifier */

static double classifier_error(const fault_result_t *f, const fault_result_t *clean)
{
    return (double)(f->mispredicts - clean->mispredicts);
}

static int classifier_sensitive(const fault_result_t *f, const fault_result_t *clean)
{
    return f->mispredicts > clean->mispredicts;
}

static void classifier_print(const fault_result_t *clean, int64_t n)
{
    printf("fault-free: %lld / %lld evaluated images correct\n",
           (long long)(n - clean->mispredicts), (long long)n);
}

static void classifier_print_eval(const fault_result_t *r, int64_t n)
{
    const int64_t correct = n - r->mispredicts;
    printf("accuracy %.4f (%lld / %lld correct, %lld mispredicts)\n",
           (double)correct / (double)n, (long long)correct, (long long)n,
           (long long)r->mispredicts);
}

int task_check_output(const model_t *m, upset_err_t *err)
{
    if (m->task != TASK_CLASSIFIER)
        return 0;
    const char *who = m->path[0] ? m->path : m->name; /* a model built in memory: its name */
    if (m->n_layers == 0)
        return upset_fail(err, "classifier %s has no layers", who);
    const layer_t *L = &m->layers[m->n_layers - 1];
    if (L->out.h != 1 || L->out.w != 1)
        return upset_fail(err,
                          "classifier %s: its output must be one vector of class scores "
                          "(1,1,n), one label a sample, but its last layer %s gives "
                          "(%d,%d,%d); a per-position output has no single prediction",
                          who, L->name, L->out.h, L->out.w, L->out.c);
    return 0;
}

static int classifier_check(const model_t *m, const dataset_t *d, const char *what,
                            upset_err_t *err)
{
    if (task_check_output(m, err))
        return -1;
    if (!d->label)
        return upset_fail(err, "%s: classifier model %s needs labelled data", what, m->path);
    const int64_t n_out = shape_size(m->layers[m->n_layers - 1].out);
    int64_t top = -1;
    for (int64_t i = 0; i < d->n; i++)
        top = d->label[i] > top ? d->label[i] : top;
    if (top >= n_out)
        return upset_fail(err,
                          "%s: the labels go up to class %lld but classifier %s has %lld "
                          "outputs",
                          what, (long long)top, m->path, (long long)n_out);
    return 0;
}

static void classifier_compare(const sample_result_t *f, const sample_result_t *clean,
                               int label, sample_cmp_t *c)
{
    c->mispredicted = f->pred != label;
    c->exceeds = c->mispredicted && clean->pred == label;
    c->error = c->exceeds;
}

/* the index of the largest value, the first on ties (as numpy's argmax) */
static int classifier_score(task_scorer_t *s, const double *out, int64_t i, sample_result_t *r,
                            upset_err_t *err)
{
    (void)i;
    (void)err;
    int best = 0;
    for (int64_t k = 1; k < s->n_out; k++)
        if (out[k] > out[best])
            best = (int)k;
    r->pred = best;
    return 0;
}

/* ------------------------------------------------------------ autoencoder (and encoder) */

static double emd_error(const fault_result_t *f, const fault_result_t *clean)
{
    (void)clean; /* delta_emd was taken against the same baseline */
    return f->delta_emd;
}

static int emd_sensitive(const fault_result_t *f, const fault_result_t *clean)
{
    return f->mean_emd > clean->mean_emd;
}

static void emd_print(const fault_result_t *clean, int64_t n)
{
    printf("fault-free mean EMD: %.6f over %lld samples\n", clean->mean_emd, (long long)n);
}

static void emd_print_eval(const fault_result_t *r, int64_t n)
{
    (void)n;
    printf("mean EMD %.17g\n", r->mean_emd);
}

static int autoencoder_check(const model_t *m, const dataset_t *d, const char *what,
                             upset_err_t *err)
{
    if (!d->cells)
        return upset_fail(err, "%s: autoencoder model %s needs HGCal data", what, m->path);
    if (shape_size(m->layers[m->n_layers - 1].out) != 64)
        return upset_fail(err, "%s: an ECON-T autoencoder must output 8x8 (64) values",
                          m->path);
    return 0;
}

static void emd_compare(const sample_result_t *f, const sample_result_t *clean, int label,
                        sample_cmp_t *c)
{
    (void)label;
    c->mispredicted = 0;
    c->error = f->emd - clean->emd;
    c->exceeds = f->emd > clean->emd;
}

static int autoencoder_init(task_scorer_t *s, const model_t *m, upset_err_t *err)
{
    (void)m;
    s->emd = emd_workspace_create(ECONT_CELLS, ECONT_CELLS, err);
    return s->emd ? 0 : upset_fail(err, "out of memory for the EMD workspace");
}

static int autoencoder_score(task_scorer_t *s, const double *out, int64_t i, sample_result_t *r,
                             upset_err_t *err)
{
    double cells[ECONT_CELLS];
    econt_cells_from_8x8(out, cells);
    emd_basis_t *b = s->bases ? s->bases[i] : NULL;
    const double *in = s->data->cells + i * ECONT_CELLS;
    /* first solve of a sample with a basis slot: cold, saving the basis; the value
     * reported is then the warm solve from it, exactly what a later solve of the same
     * output gives, so an unchanged sample scores the same on every path */
    if (b && b->n == 0 &&
        econt_emd_warm(s->emd, NULL, in, cells, s->emd_zero_rule, &r->emd, b, err))
        return -1;
    return econt_emd_warm(s->emd, b, in, cells, s->emd_zero_rule, &r->emd, NULL, err);
}

static int encoder_score(task_scorer_t *s, const double *out, int64_t i, sample_result_t *r,
                         upset_err_t *err)
{
    (void)s, (void)out, (void)i, (void)r, (void)err;
    return 0;
}

static int no_check(const model_t *m, const dataset_t *d, const char *what, upset_err_t *err)
{
    (void)m, (void)d, (void)what, (void)err;
    return 0;
}

static void no_print(const fault_result_t *r, int64_t n)
{
    (void)r, (void)n;
}

static const task_ops_t TASKS[] = {
    [TASK_CLASSIFIER] = {"extra mispredicts", "mispredicts", "baseline_mispredicts", 1, 1,
                         TASK_LOSS_XENT, "newly mispredicted samples", classifier_error,
                         classifier_sensitive, classifier_print, classifier_print_eval,
                         classifier_check, classifier_compare, NULL, classifier_score},
    [TASK_AUTOENCODER] = {"delta EMD", "delta_emd", NULL, 0, 0, TASK_LOSS_TELESCOPE,
                          "delta EMD", emd_error, emd_sensitive, emd_print, emd_print_eval,
                          autoencoder_check, emd_compare, autoencoder_init, autoencoder_score},
    [TASK_ENCODER] = {"delta EMD", "delta_emd", NULL, 0, 0, TASK_LOSS_NONE, "delta EMD",
                      emd_error, emd_sensitive, emd_print, no_print, no_check, emd_compare,
                      NULL, encoder_score},
};

const task_ops_t *task_ops(task_t t)
{
    return (unsigned)t < sizeof TASKS / sizeof *TASKS ? &TASKS[t] : &TASKS[TASK_AUTOENCODER];
}

int task_check_data(const model_t *m, const dataset_t *d, const char *what, upset_err_t *err)
{
    return dataset_check_model(d, m, what, err) || task_ops(m->task)->check(m, d, what, err)
               ? -1
               : 0;
}

/* ------------------------------------------------------------ scorer */

int task_scorer_create(task_scorer_t *s, const model_t *m, const dataset_t *d,
                       int emd_zero_rule, upset_err_t *err)
{
    memset(s, 0, sizeof *s);
    s->ops = task_ops(m->task);
    s->data = d;
    s->n_out = shape_size(m->layers[m->n_layers - 1].out);
    s->emd_zero_rule = emd_zero_rule;
    return s->ops->init ? s->ops->init(s, m, err) : 0;
}

int task_scorer_warm_starts(task_scorer_t *s, upset_err_t *err)
{
    if (!s->emd || s->bases)
        return 0; /* only the EMD keeps a per-sample state */
    s->bases = upset_calloc((size_t)s->data->n, sizeof *s->bases, err);
    if (!s->bases)
        return -1;
    for (int64_t i = 0; i < s->data->n; i++)
        if (!(s->bases[i] = emd_basis_create(ECONT_CELLS, ECONT_CELLS, err)))
            return -1; /* task_scorer_free releases what was made */
    return 0;
}

void task_scorer_free(task_scorer_t *s)
{
    for (int64_t i = 0; s->bases && i < s->data->n; i++)
        emd_basis_free(s->bases[i]);
    free(s->bases);
    s->bases = NULL;
    emd_workspace_free(s->emd);
    s->emd = NULL;
}

int task_score(task_scorer_t *s, const double *out, int64_t i, sample_result_t *r,
               upset_err_t *err)
{
    r->emd = 0;
    r->pred = -1;
    return s->ops->score(s, out, i, r, err);
}
