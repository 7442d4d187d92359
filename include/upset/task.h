/* What a model's task measures (docs/results-format.md): how a fault's result compares
 * with the fault-free one, in one place for every campaign kind, `upset protect` and the
 * analysis.
 *   classifier  - the error is the number of extra mispredicts; a fault is sensitive when
 *                 it mispredicts more samples than the fault-free model;
 *   autoencoder - the error is the increase of the mean EMD over the samples; sensitive
 *                 when the mean EMD rises;
 *   encoder     - scored as an autoencoder (no decoder: its EMD fields stay zero). */
#ifndef UPSET_TASK_H
#define UPSET_TASK_H

#include <stdint.h>

#include "upset/model.h"

/* One fault evaluated over every sample (a single bit, or a multi-bit trial). */
typedef struct {
    double mean_emd;     /* autoencoder: mean EMD over the samples */
    double delta_emd;    /* mean_emd - fault-free mean EMD */
    int64_t mispredicts; /* classifier: samples whose prediction differs from the label */
    int64_t n_changed;   /* samples whose final output differs from the fault-free one */
} fault_result_t;

typedef struct {
    const char *unit;         /* of the error: "extra mispredicts", "delta EMD" */
    const char *error_column; /* the per-fault results column the error is read from */
    const char *baseline_attr; /* results attribute subtracted from it, or NULL */
    int counts;               /* 1: that column is an int64 count; 0: float64 */
    /* the error of f against the fault-free result (a fault_result_t of the baseline) */
    double (*error)(const fault_result_t *f, const fault_result_t *clean);
    /* 1 when f is worse than fault-free */
    int (*sensitive)(const fault_result_t *f, const fault_result_t *clean);
    /* one line on stdout: the fault-free result over n samples */
    void (*print_clean)(const fault_result_t *clean, int64_t n);
} task_ops_t;

/* The row of task t (task_name(t) in model.h names it). */
const task_ops_t *task_ops(task_t t);

#endif
