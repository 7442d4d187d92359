/* Fault injection: flip a set of weight bits in a private copy of the model,
 * evaluate every sample, restore the weights, and report the task error.
 *
 * The fault-free run of every sample is done once and its state stored
 * (engine/delta.c), so a fault in layer L re-runs only layers L.. (the layers before
 * it cannot change), and a single flip takes the delta path when the layer allows. `full` forces whole-network re-evaluation
 * (the reference path and the benchmark baseline). */
#ifndef UPSET_INJECT_H
#define UPSET_INJECT_H

#include <stdint.h>

#include "upset/delta.h"
#include "upset/evaluate.h"
#include "upset/task.h"

/* Flips injector_eval_singles takes together over each sample. */
#define INJECTOR_BLOCK 16

/* Memoised tail result of a sample whose fault changed one value (see inject.c). */
#define MEMO_SLOTS 256
typedef struct {
    int64_t value; /* the changed value (fixed code, or the bits of a double) */
    double emd;
    int32_t pos; /* its index in the input tensor of layer `layer` */
    int32_t pred;
    int16_t layer;
    int8_t used, changed;
} memo_entry_t; /* 32 bytes */

/* A result kept for the later copies of a sample (see injector_t.first). */
typedef struct {
    sample_result_t s;
    int changed;
} held_result_t;

typedef struct {
    model_t model; /* private copy: bits are flipped here */
    dataset_t *data;
    evaluator_t ev;
    int full;                /* 1: always re-run the whole network */
    sample_result_t *base;   /* (n) fault-free per-sample results */
    double *base_out;        /* (n, out) fault-free final outputs */
    int64_t out_n;
    double base_mean_emd;
    int64_t base_mispredicts;
    delta_t delta;      /* stored fault-free state; delta and cached paths */
    memo_entry_t *memo; /* (n samples, MEMO_SLOTS), or NULL with `full` */
    int64_t memo_hits;
    /* Samples that repeat an earlier one byte for byte (HGCal rows of a few hit cells
     * often do) are evaluated once: first[i] is the first of sample i's kind, and the
     * results of a first with later copies are held (INJECTOR_BLOCK flips × n_held)
     * for them. NULL / 0 with `full`, the reference path, which evaluates every sample. */
    int64_t *first;
    int64_t *held_at; /* (n) a first's slot in held, or -1 */
    held_result_t *held;
    int64_t n_held, n_copies;
    bitaddr_t *addr; /* scratch: the addresses of one evaluation's bits */
    int addr_cap;
    void (*poll)(void); /* called between samples (sched_poll), or NULL */
} injector_t;

/* Copies the model, runs the fault-free baseline over every sample of d and
 * fills the caches. */
int injector_create(injector_t *in, const model_t *m, dataset_t *d, int emd_zero_rule, int full,
                    upset_err_t *err);
void injector_free(injector_t *in);

/* Flips the given global bit indices (distinct), evaluates, restores. */
int injector_eval(injector_t *in, const int64_t *bits, int n_bits, fault_result_t *r,
                  upset_err_t *err);

/* n single-bit faults, r[k] for bits[k]: injector_eval's results, the delta path's flips
 * taken INJECTOR_BLOCK at a time over each sample. */
int injector_eval_singles(injector_t *in, const int64_t *bits, int64_t n, fault_result_t *r,
                          upset_err_t *err);

#endif
