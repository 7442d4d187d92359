/* The task metrics (task.h): one ops row per task. */
#include "upset/task.h"

#include <stdio.h>

static double classifier_error(const fault_result_t *f, const fault_result_t *clean)
{
    return (double)(f->mispredicts - clean->mispredicts);
}

static int classifier_sensitive(const fault_result_t *f, const fault_result_t *clean)
{
    return f->mispredicts > clean->mispredicts;
}

static double emd_error(const fault_result_t *f, const fault_result_t *clean)
{
    (void)clean; /* delta_emd was taken against the same baseline */
    return f->delta_emd;
}

static int emd_sensitive(const fault_result_t *f, const fault_result_t *clean)
{
    return f->mean_emd > clean->mean_emd;
}

static void classifier_print(const fault_result_t *clean, int64_t n)
{
    printf("fault-free: %lld / %lld evaluated images correct\n",
           (long long)(n - clean->mispredicts), (long long)n);
}

static void emd_print(const fault_result_t *clean, int64_t n)
{
    printf("fault-free mean EMD: %.6f over %lld samples\n", clean->mean_emd, (long long)n);
}

static const task_ops_t TASKS[] = {
    [TASK_CLASSIFIER] = {"extra mispredicts", "mispredicts", "baseline_mispredicts", 1,
                         classifier_error, classifier_sensitive, classifier_print},
    [TASK_AUTOENCODER] = {"delta EMD", "delta_emd", NULL, 0, emd_error, emd_sensitive, emd_print},
    [TASK_ENCODER] = {"delta EMD", "delta_emd", NULL, 0, emd_error, emd_sensitive, emd_print},
};

const task_ops_t *task_ops(task_t t)
{
    return (unsigned)t < sizeof TASKS / sizeof *TASKS ? &TASKS[t] : &TASKS[TASK_AUTOENCODER];
}
