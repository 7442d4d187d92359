/* Evaluation data: HGCal ECON-T trigger-cell CSVs, CIFAR-10 binary records and HDF5 arrays,
 * loaded into model-ready inputs (one sample = (h, w, c), channels last). */
#ifndef UPSET_DATASET_H
#define UPSET_DATASET_H

#include <stdint.h>

#include "upset/error.h"
#include "upset/model.h"

#define HGCAL_CELLS 48

typedef struct {
    int64_t n;         /* samples */
    shape3_t shape;    /* one sample */
    double *x;         /* (n, h, w, c) model inputs */
    int *label;        /* (n) classifier labels, or NULL */
    int64_t *index;    /* (n) the sample's position in its source (image index / data row) */
    double *cells;     /* (n, 48) HGCal normalised charges (the EMD input side), or NULL */
    int input_frac;    /* >= 0: every x is an exact multiple of 2^-input_frac; else -1 */
    /* FNV-1a 64 over the inputs and labels: dataset_checksum() computes it when first
     * asked (hashing a CIFAR-10 set's doubles costs more than a short evaluation) */
    uint64_t checksum;
    int checksum_known;
} dataset_t;

/* The dataset's FNV-1a 64 checksum (computed once, then kept until the samples change). */
uint64_t dataset_checksum(dataset_t *d);

/* HGCal: CALQ_0..CALQ_47 CSVs (concatenated in order) -> drop rows summing to zero ->
 * normalise each row by 2^floor(log2(sum)) -> 8x8x1 arrangement with mask.
 * offset counts non-empty rows; count > 0, or < 0 for every row from offset on. */
int dataset_load_hgcal(const char *const *files, int n_files, int64_t offset, int64_t count,
                       dataset_t *d, upset_err_t *err);

/* CIFAR-10 binary records (1 label byte + 3072 pixel bytes, planes R, G, B);
 * input = pixel / 256 as (32, 32, 3). labels_path (optional) is a file of one label
 * byte per test image that must agree with the records. count < 0 means all. */
int dataset_load_cifar10(const char *path, const char *labels_path, int64_t offset,
                         int64_t count, dataset_t *d, upset_err_t *err);

/* HDF5 arrays: /x, (n, features), (n, length, channels) or (n, h, w, c), read as float32
 * (what Keras feeds a model) and taken as the inputs unchanged; /y (n) integer class labels,
 * optional (classifiers need them). count < 0 means all. */
int dataset_load_hdf5(const char *path, int64_t offset, int64_t count, dataset_t *d,
                      upset_err_t *err);

/* first[i] = the smallest j whose sample is byte for byte sample i's (input, EMD
 * cells and label), so j == i where i is the first of its kind. Every result a model
 * gives a sample is a function of those bytes alone, so later copies can reuse it.
 * Returns how many samples are copies of an earlier one, or -1 (out of memory). */
int64_t dataset_first_copies(const dataset_t *d, int64_t *first, upset_err_t *err);

/* Keeps only the samples whose keep[i] is nonzero (in order). */
int dataset_select(dataset_t *d, const unsigned char *keep, upset_err_t *err);

/* Checks the dataset fits the model's input shape. */
int dataset_check_model(const dataset_t *d, const model_t *m, const char *what,
                        upset_err_t *err);

void dataset_free(dataset_t *d);

#endif
