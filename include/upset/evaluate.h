/* The task metric of one sample under the model as it currently is (flipped
 * weights included): EMD between input and reconstruction for ECON-T
 * autoencoders, the top-1 prediction for classifiers. */
#ifndef UPSET_EVALUATE_H
#define UPSET_EVALUATE_H

#include "upset/dataset.h"
#include "upset/engine.h"
#include "upset/model.h"

#include "upset/task.h"

typedef struct {
    const model_t *model;
    const dataset_t *data;
    engine_t engine;
    task_scorer_t scorer; /* the task's per-sample score (task.h) */
    double *out;          /* the output values of the sample being scored */
    int output_only;      /* the caller reads each sample's output alone: lean runs */
} evaluator_t;

int evaluator_create(evaluator_t *ev, const model_t *m, const dataset_t *d, int emd_zero_rule,
                     upset_err_t *err);
void evaluator_free(evaluator_t *ev);

/* Runs sample i through the whole model. */
int evaluator_sample(evaluator_t *ev, int64_t i, sample_result_t *r, upset_err_t *err);

/* Scores the engine's current output for sample i (after a partial re-run). */
int evaluator_score(evaluator_t *ev, int64_t i, sample_result_t *r, upset_err_t *err);

/* Keeps the samples the (fault-free) classifier m gets right (campaigns' correct_only). */
int dataset_keep_correct(dataset_t *d, const model_t *m, upset_err_t *err);

#endif
