/* What a model's task measures (docs/results-format.md), in one place for the engine's
 * per-sample scoring, every campaign kind, `upset rank`'s loss, `upset protect` and the
 * analysis.
 *   classifier  - a sample's score is the top-1 prediction (the argmax of its one vector
 *                 of class scores: task_check_output), compared with its label; a
 *                 fault's error is the number of extra mispredicts, and the fault is
 *                 sensitive when it mispredicts more samples than the fault-free model;
 *   autoencoder - a sample's score is the EMD between its input cells and the
 *                 reconstruction (ECON-T); a fault's error is the increase of the mean EMD
 *                 over the samples, sensitive when the mean EMD rises;
 *   encoder     - scored as an autoencoder (no decoder: its EMD fields stay zero). */
#ifndef UPSET_TASK_H
#define UPSET_TASK_H

#include <stdint.h>

#include "upset/dataset.h"
#include "upset/emd.h"
#include "upset/model.h"

/* One sample's score under the model as it currently is. */
typedef struct {
    double emd; /* autoencoder: EMD(input cells, output cells); else 0 */
    int pred;   /* classifier: argmax of the output; else -1 */
} sample_result_t;

/* One fault evaluated over every sample (a single bit, or a multi-bit trial). */
typedef struct {
    double mean_emd;     /* autoencoder: mean EMD over the samples */
    double delta_emd;    /* mean_emd - fault-free mean EMD */
    int64_t mispredicts; /* classifier: samples whose prediction differs from the label */
    int64_t n_changed;   /* samples whose final output differs from the fault-free one */
} fault_result_t;

/* The differentiable loss `upset rank` takes gradients of. */
typedef enum {
    TASK_LOSS_NONE,
    TASK_LOSS_TELESCOPE, /* telescope loss of (input cells, output cells) */
    TASK_LOSS_XENT       /* cross-entropy of softmax(logits) with the label */
} task_loss_t;

/* A per-sample comparison of a faulty score with the fault-free one. */
typedef struct {
    double error; /* classifier: 1 when newly mispredicted; autoencoder: delta EMD */
    int exceeds;  /* the error is worse than fault-free */
    int mispredicted;
} sample_cmp_t;

typedef struct task_scorer task_scorer_t;

typedef struct {
    const char *unit;         /* of the error: "extra mispredicts", "delta EMD" */
    const char *error_column; /* the per-fault results column the error is read from */
    const char *baseline_attr; /* results attribute subtracted from it, or NULL */
    int counts;               /* 1: that column is an int64 count; 0: float64 */
    int labelled;             /* 1: scores are predictions compared with labels */
    task_loss_t loss;
    const char *sample_unit;  /* of one sample's error (sample_cmp_t.error) */
    /* the error of f against the fault-free result (a fault_result_t of the baseline) */
    double (*error)(const fault_result_t *f, const fault_result_t *clean);
    /* 1 when f is worse than fault-free */
    int (*sensitive)(const fault_result_t *f, const fault_result_t *clean);
    /* one line on stdout: the fault-free result over n samples */
    void (*print_clean)(const fault_result_t *clean, int64_t n);
    /* one line on stdout: `upset eval`'s result over n samples */
    void (*print_eval)(const fault_result_t *r, int64_t n);
    /* checks that data d carries what the task scores model m's output against; `what`
     * names the data in the message */
    int (*check)(const model_t *m, const dataset_t *d, const char *what, upset_err_t *err);
    /* one sample's faulty score against its fault-free one (label: the sample's label,
     * or the fault-free prediction for unlabelled data) */
    void (*compare)(const sample_result_t *faulty, const sample_result_t *clean, int label,
                    sample_cmp_t *c);
    /* private: prepares, scores and frees a scorer (task.c) */
    int (*init)(task_scorer_t *s, const model_t *m, upset_err_t *err);
    int (*score)(task_scorer_t *s, const double *out, int64_t i, sample_result_t *r,
                 upset_err_t *err);
} task_ops_t;

/* The row of task t (task_name(t) in model.h names it). */
const task_ops_t *task_ops(task_t t);

/* Checks that model m's output is one its task can score: a classifier's must be one vector
 * of class scores, (1, 1, n), since a sample has one label (a per-position output, such as
 * a per-pixel softmax, has no single prediction: flatten it, or score it as an encoder). */
int task_check_output(const model_t *m, upset_err_t *err);

/* Checks that data d suits model m: its samples' shape, and what the task scores the
 * output against (labels, input cells); `what` names the data in the message. */
int task_check_data(const model_t *m, const dataset_t *d, const char *what, upset_err_t *err);

/* Scores samples of one dataset from a model's output values. */
struct task_scorer {
    const task_ops_t *ops;
    const dataset_t *data;
    int64_t n_out;           /* output values per sample */
    int emd_zero_rule;       /* econt.h's ECONT_ZERO_* */
    struct emd_workspace *emd;
    /* Optional (task_scorer_warm_starts): one EMD basis per sample. An empty basis is
     * filled by the next solve of that sample (the fault-free one); later solves of the
     * sample warm-start from it and leave it unchanged. */
    emd_basis_t **bases;
};

/* Prepares to score m's output on the samples of d (which task.check accepted). */
int task_scorer_create(task_scorer_t *s, const model_t *m, const dataset_t *d,
                       int emd_zero_rule, upset_err_t *err);
/* Keeps a per-sample state that later scores of the same sample start from. */
int task_scorer_warm_starts(task_scorer_t *s, upset_err_t *err);
void task_scorer_free(task_scorer_t *s);
/* The score of sample i from the model's output values out[0..n_out). */
int task_score(task_scorer_t *s, const double *out, int64_t i, sample_result_t *r,
               upset_err_t *err);

#endif
