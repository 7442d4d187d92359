/* Sensitivity metrics (docs/sensitivity.md): a differentiable double-precision
 * copy of a model's forward pass, the gradient and Hessian-vector products of the
 * task loss with respect to the faultable kernels (theta), the top-k Hessian
 * eigenpairs, Hutchinson traces, and the per-parameter scores and bit rankings
 * built from them.
 *
 * theta: the kernels of the faultable layers, layers in model order, each kernel
 * flattened in C order of its Keras shape -- the order of bitspace.h, so
 * parameter i owns bits [bit_first + w*bits, bit_first + (w+1)*bits) of its layer.
 * When the model's fault space holds biases (bitspace_include_bias), each layer's
 * quantized bias codes follow its kernel in theta, as their bits do.
 *
 * Derivatives follow QKeras's straight-through estimator: quantized_bits passes
 * the gradient unchanged; quantized_relu passes it where 0 < x <= its largest
 * value (the derivative of QKeras's unquantized surrogate, a relu clipped there).
 * Forward values in SENS_QUANTIZED are those of the fixed-point engine
 * (engine.h), bit for bit. */
#ifndef UPSET_SENSITIVITY_H
#define UPSET_SENSITIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "upset/campaign.h"
#include "upset/dataset.h"
#include "upset/error.h"
#include "upset/model.h"

typedef enum {
    SENS_QUANTIZED,    /* QKeras forward (quantized weights and activations), STE backward */
    SENS_FLOAT_CODES,  /* quantizers off; weights = dequantized codes */
    SENS_FLOAT_SHADOW  /* quantizers off; weights = the float shadow weights */
} sens_mode_t;
/* "Quantizers off" replaces each quantizer by the function its STE differentiates:
 * quantized_bits -> identity, quantized_relu -> relu clipped at its largest value.
 * The network is then smooth almost everywhere, which finite differences need. */

typedef enum {
    SENS_LOSS_TELESCOPE, /* autoencoders: telescope loss of (input cells, output cells) */
    SENS_LOSS_XENT       /* classifiers: cross-entropy of softmax(logits) with the label */
} sens_loss_t;

typedef struct sens_step sens_step_t; /* private: one differentiable step */

typedef struct {
    const model_t *model;
    sens_mode_t mode;
    sens_loss_t loss;
    int n_steps;
    sens_step_t *steps;
    int first_param_step; /* steps before it carry no derivative */
    int out_step;         /* the step whose output is the network's (a classifier's logits:
                             the input of the folded softmax, in a graph not always the last
                             step, since layers nothing reads may follow it) */
    int n_blocks;         /* faultable layers */
    int *block_layer;     /* (n_blocks) model layer index of each */
    int64_t *block_off;   /* (n_blocks + 1) offset of each kernel in theta */
    int64_t n_params;
    int64_t in_size;      /* values per input sample */
    double *scratch;      /* 2 x (most inputs of a step) x scratch_n: derivatives on their
                             way to a tensor several steps read (graph models) */
    int64_t scratch_n;
} sens_net_t;

/* input_frac as for engine_create (the dataset's input_frac). A classifier's final
 * softmax is folded into the loss (logits in, stable log-sum-exp). */
int sens_net_create(sens_net_t *net, const model_t *m, int input_frac, sens_mode_t mode,
                    upset_err_t *err);
void sens_net_free(sens_net_t *net);

/* theta as the forward pass uses it (n_params values) / replace it. Values are used
 * as given in every mode (SENS_QUANTIZED does not re-quantize them), so finite
 * differences belong in the float modes. */
void sens_get_params(const sens_net_t *net, double *theta);
void sens_set_params(sens_net_t *net, const double *theta);

/* One sample x (in_size values) with its target (cells: 48 input cells for the
 * telescope loss; label: class for cross-entropy). Adds the sample's loss to *loss,
 * dloss/dtheta to g and H v to hv; each output may be NULL (hv needs v). */
int sens_sample(sens_net_t *net, const double *x, const double *cells, int label,
                const double *v, double *loss, double *g, double *hv, upset_err_t *err);

/* The network output of the last forward pass (logits for classifiers) and its size. */
const double *sens_output(const sens_net_t *net, int64_t *n);

/* ---- sums over samples, in an order that does not depend on the number of ranks ----
 * The first n samples of a dataset are cut into K = min(n, SENS_MAX_CHUNKS) chunks,
 * chunk c = [c*n/K, (c+1)*n/K). Each chunk's sum is formed sample by sample, the
 * chunk sums are added in chunk order: any split of whole chunks over ranks gives
 * bit-identical totals. A row holds [loss] [g (n_params)] [hv (n_params)], each
 * part present when asked for. */
#define SENS_MAX_CHUNKS 64
enum { SENS_WANT_LOSS = 1u, SENS_WANT_GRAD = 2u, SENS_WANT_HVP = 4u };

int64_t sens_chunk_count(int64_t n);
int64_t sens_chunk_begin(int64_t n, int64_t c); /* c in [0, K]; begin(K) = n */
int64_t sens_row_len(const sens_net_t *net, unsigned want);

/* Rows for chunks [c0, c1) into rows ((c1 - c0) * row_len doubles). */
int sens_chunk_sums(sens_net_t *net, const dataset_t *d, int64_t n, int64_t c0, int64_t c1,
                    unsigned want, const double *v, double *rows, upset_err_t *err);
/* out (row_len) = sum of n_chunks rows in order, divided by n: the means. */
void sens_combine(const double *rows, int64_t n_chunks, int64_t row_len, int64_t n,
                  double *out);

/* Serially: the mean loss, gradient and H v over the first n samples (out: row_len). */
int sens_eval(sens_net_t *net, const dataset_t *d, int64_t n, unsigned want, const double *v,
              double *out, upset_err_t *err);

/* A Hessian-vector product operator: hv = H v (n_params values). */
typedef int (*sens_hvp_fn)(void *ctx, const double *v, double *hv, upset_err_t *err);

/* The serial operator over the first n samples of d; ctx is a sens_serial_t. */
typedef struct {
    sens_net_t *net;
    const dataset_t *data;
    int64_t n;
} sens_serial_t;
int sens_serial_hvp(void *ctx, const double *v, double *hv, upset_err_t *err);

/* ---- eigenpairs and traces ---- */

typedef void (*sens_progress_fn)(void *ctx, const char *what, int index, int64_t iter,
                                 double value, double change);

typedef struct {
    int64_t max_iter; /* HVPs per eigenpair at most */
    double tol;       /* converged when ||H v - lambda v|| <= tol |lambda| */
    uint64_t seed;
    sens_progress_fn progress; /* optional, called once per iteration */
    void *progress_ctx;
} sens_eigen_opts_t;

/* Top-k eigenpairs (largest |lambda| first, as power iteration finds them) by power
 * iteration with deflation: run j starts from a seeded random vector, keeps its
 * iterate orthogonal to the j vectors found, and stops when the residual of the
 * deflated operator, ||(I - P) H v - lambda v|| / |lambda|, is <= tol or after
 * max_iter HVPs (iters[j]). A final Rayleigh-Ritz step on the span of the k vectors
 * (no extra HVPs) undoes the mixing between pairs that deflation leaves behind.
 * vecs: k * n, row j = unit eigenvector j; resid[j] = ||H v - lambda v|| / |lambda|
 * of the returned pair against H itself. Non-convergence is not an error. */
int sens_eigen(sens_hvp_fn hvp, void *ctx, int64_t n, int k, const sens_eigen_opts_t *o,
               double *lambda, double *vecs, double *resid, int64_t *iters, upset_err_t *err);

typedef struct {
    double tol;       /* stop when the running mean of the total changes by < tol relative */
    int64_t max_iter; /* Rademacher vectors at most */
    uint64_t seed;
    sens_progress_fn progress;
    void *progress_ctx;
} sens_trace_opts_t;

/* Hutchinson's estimator E[v.Hv] over Rademacher v, per block of theta
 * (block b = [off[b], off[b+1])): block_trace[b] and the total; *iters vectors. */
int sens_hutchinson(sens_hvp_fn hvp, void *ctx, int64_t n, int n_blocks, const int64_t *off,
                    const sens_trace_opts_t *o, double *block_trace, double *total,
                    int64_t *iters, upset_err_t *err);

/* ---- scores and bit rankings ---- */

/* score_i = |g_i| */
void sens_score_gradient(const double *g, int64_t n, double *score);

/* From k eigenpairs and theta:
 *   RANK_SCORE_FKERAS: sum_k lambda_k^2 |v_k . theta| |v_k,i|   (FKeras's "sum" strategy)
 *   RANK_SCORE_PAPER:  | sum_k lambda_k (v_k . theta) v_k,i |
 * Both are unchanged by the sign of an eigenvector. */
void sens_score_hessian(rank_score_t form, int k, const double *lambda, const double *vecs,
                        const double *theta, int64_t n, double *score);

/* Parameters by descending score (ties: lower index first; NaN last); out: n indices. */
int sens_order_params(const double *score, int64_t n, int64_t *order, upset_err_t *err);

/* Bit ranking (m->n_fault_bits indices): every parameter's MSB in the order of the
 * scores, then every parameter's next bit, ..., down to the LSB; a layer with fewer
 * bits runs out of positions first. score: one per parameter in theta order
 * (sum of the faultable layers' n_weights, plus their bias codes when the fault space
 * holds biases). Global bit = bit_first + w*bits + pos (a bias: after the kernel's). */
int sens_bit_ranking(const model_t *m, const double *score, int64_t n_params, int64_t *bits,
                     upset_err_t *err);

/* A uniformly random order of all m->n_fault_bits bits (Fisher-Yates on the
 * counter-based generator seeded by seed). */
int sens_random_ranking(const model_t *m, uint64_t seed, int64_t *bits, upset_err_t *err);

/* ---- output ---- */

typedef struct {
    const char *metric, *score, *mode;
    const char *model_path, *model_name;
    uint64_t model_checksum, data_checksum;
    const char *campaign_yaml;
    uint64_t seed;
    int64_t n_samples;
    int ranks;
    double elapsed_s;
    double loss; /* mean loss (NaN when not computed) */

    int k; /* eigenpairs (0 when none) */
    const double *eigenvalues, *eigen_residuals, *eigenvectors; /* k, k, k * n_params */
    const int64_t *eigen_iterations;
    double eigen_tol;
    int64_t eigen_max_iter;

    int n_blocks; /* traces (0 when none) */
    const double *traces;
    const char *const *trace_layers;
    double trace_total;
    int64_t trace_iterations;

    int64_t n_params;
    const int32_t *param_layer;
    const int64_t *param_weight;
    const double *param_score;
    const double *param_value;    /* theta, or NULL */
    const double *param_gradient; /* or NULL */

    int64_t n_bits;
    const int64_t *bits;
} sens_report_t;

#define SENS_FORMAT_NAME "upset-ranking"
#define SENS_FORMAT_VERSION 1

/* Serial HDF5: writes `<path>.tmp`, then renames it to path; on failure removes the
 * temporary and leaves path untouched. */
int sens_write_report(const char *path, const sens_report_t *r, upset_err_t *err);

/* The plain-text ranking next to it: `<path minus .h5>.txt` (path + ".txt" when it
 * does not end in .h5). out: at least len bytes. */
int sens_text_path(const char *path, char *out, size_t len, upset_err_t *err);

/* One global bit index per line (what guided.ranking reads), via `<path>.tmp`. */
int sens_write_ranking_text(const char *path, const int64_t *bits, int64_t n,
                            upset_err_t *err);

#endif
