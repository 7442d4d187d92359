/* Sensitivity metrics against independent truth:
 *  - the quantized forward pass equals the fixed-point engine's output, bit for bit;
 *  - gradients equal central finite differences of the loss, Hessian-vector products
 *    central finite differences of the gradient (quantizers off, where the loss is
 *    smooth), on every bundled model and on a small model with the layer kinds and
 *    options the bundled ones lack (valid padding, fused softmax mid-network, on a
 *    vector and per pixel,
 *    quantized_bits activation, batchnorm before a quantizer);
 *  - on a model small enough to form the whole Hessian by finite differences: the
 *    eigenpairs match a Jacobi eigendecomposition and Hutchinson's trace lies within
 *    4 standard deviations (computed from that Hessian) of the exact trace;
 *  - eigenpairs on a bundled model satisfy ||Hv - lambda v|| <= tol |lambda|;
 *  - scores and the bit ranking on hand-worked cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "upset/bitspace.h"
#include "upset/dataset.h"
#include "upset/engine.h"
#include "upset/sensitivity.h"

static const char *const HGCAL[] = {"data/hgcal/ttbar_0PU.csv"};

static void load(const char *path, model_t *m, dataset_t *d, int64_t n)
{
    upset_err_t err = {{0}};
    ck_assert_msg(model_load(path, m, &err) == 0, "%s", err.msg);
    int rc = m->task == TASK_CLASSIFIER
                 ? dataset_load_cifar10("data/cifar10/test_batch_first1017.bin", NULL, 0, n, d,
                                        &err)
                 : dataset_load_hgcal(HGCAL, 1, 0, n, d, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
}

/* deterministic pseudo-random numbers in [-1, 1) for test inputs and directions */
static double urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2 - 1;
}

static double norm2(const double *a, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

/* ------------------------------------------------------------ forward == engine */

/* The network's output (before a classifier's final softmax, which the loss holds) equals
 * the engine's, bit for bit, on every sample of d. */
static void check_forward_equal(const char *name, const model_t *m, const dataset_t *d)
{
    engine_t e;
    sens_net_t net;
    upset_err_t err = {{0}};
    ck_assert_msg(engine_create(&e, m, d->input_frac, &err) == 0, "%s", err.msg);
    ck_assert_msg(sens_net_create(&net, m, d->input_frac, SENS_QUANTIZED, &err) == 0, "%s",
                  err.msg);
    int last = m->n_layers - 1;
    if (m->task == TASK_CLASSIFIER && m->layers[last].kind == LAYER_ACTIVATION)
        last--;
    for (int64_t s = 0; s < d->n; s++) {
        ck_assert_msg(engine_run(&e, d->x + s * net.in_size, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(sens_sample(&net, d->x + s * net.in_size, NULL, -1, NULL, NULL, NULL,
                                     NULL, &err),
                         0);
        int64_t n;
        const double *o = sens_output(&net, &n);
        ck_assert_int_eq(n, e.out[last].n);
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(o[i] == tensor_value(&e.out[last], i),
                          "%s sample %lld output %lld: %.17g vs engine %.17g", name,
                          (long long)s, (long long)i, o[i], tensor_value(&e.out[last], i));
    }
    sens_net_free(&net);
    engine_free(&e);
}

static void check_forward(const char *path)
{
    model_t m;
    dataset_t d;
    load(path, &m, &d, 6);
    check_forward_equal(path, &m, &d);
    dataset_free(&d);
    model_free(&m);
}

START_TEST(test_forward_econt_small) { check_forward("models/econt_small.h5"); }
END_TEST
START_TEST(test_forward_econt_medium) { check_forward("models/econt_medium.h5"); }
END_TEST
START_TEST(test_forward_econt_large) { check_forward("models/econt_large.h5"); }
END_TEST
START_TEST(test_forward_cifar10) { check_forward("models/cifar10.h5"); }
END_TEST
/* a graph: three residual Adds (fixed-point sums) */
START_TEST(test_forward_resnet) { check_forward("models/cifar10_resnet_baseline.h5"); }
END_TEST

/* ------------------------------------------------------------ finite differences */

static double mean_loss(sens_net_t *net, const dataset_t *d, int64_t n)
{
    double l;
    upset_err_t err = {{0}};
    ck_assert_msg(sens_eval(net, d, n, SENS_WANT_LOSS, NULL, &l, &err) == 0, "%s", err.msg);
    return l;
}

/* Gradient of `per_block` parameters of each block (the largest |g| first, then
 * evenly spread ones) against central differences of the mean loss; Hv for a
 * random v against central differences of the gradient along v. Quantizers off. */
static void check_derivatives(model_t *m, dataset_t *d, int64_t n, int per_block,
                              double grad_tol, double hvp_tol)
{
    sens_net_t net;
    upset_err_t err = {{0}};
    ck_assert_msg(sens_net_create(&net, m, d->input_frac, SENS_FLOAT_SHADOW, &err) == 0, "%s",
                  err.msg);
    const int64_t np = net.n_params;
    double *theta = malloc(np * sizeof *theta), *t2 = malloc(np * sizeof *t2);
    double *row = malloc((1 + np) * sizeof *row), *g = malloc(np * sizeof *g);
    double *v = malloc(np * sizeof *v), *hv = malloc(np * sizeof *hv);
    double *gp = malloc(np * sizeof *gp), *gm = malloc(np * sizeof *gm);
    sens_get_params(&net, theta);
    ck_assert_msg(sens_eval(&net, d, n, SENS_WANT_LOSS | SENS_WANT_GRAD, NULL, row, &err) == 0,
                  "%s", err.msg);
    memcpy(g, row + 1, np * sizeof *g);
    ck_assert(fabs(row[0] - mean_loss(&net, d, n)) <= 1e-15 * fabs(row[0]));

    /* Each difference is tried at three steps and the best kept: a step that carries
     * some sample across a relu kink spoils that one difference, not the derivative. */
    double worst = 0;
    int checked = 0;
    for (int b = 0; b < net.n_blocks; b++) {
        int64_t lo = net.block_off[b], hi = net.block_off[b + 1], big = lo;
        for (int64_t i = lo; i < hi; i++)
            if (fabs(g[i]) > fabs(g[big]))
                big = i;
        const double gmax = fabs(g[big]);
        for (int j = 0; j <= per_block; j++) { /* j == per_block: the block's last (a bias) */
            int64_t i = j == 0 ? big : j == per_block ? hi - 1 : lo + (hi - lo) * j / per_block;
            double best = INFINITY, bestfd = 0;
            for (double rel = 1e-5; rel >= 1e-7; rel /= 10) {
                double h = rel * fmax(fabs(theta[i]), 0.05);
                memcpy(t2, theta, np * sizeof *t2);
                t2[i] = theta[i] + h;
                sens_set_params(&net, t2);
                double lp = mean_loss(&net, d, n);
                t2[i] = theta[i] - h;
                sens_set_params(&net, t2);
                double lm = mean_loss(&net, d, n);
                double fd = (lp - lm) / (2 * h);
                double e = fabs(fd - g[i]) / fmax(fabs(g[i]), 1e-3 * gmax);
                if (e < best) {
                    best = e;
                    bestfd = fd;
                }
            }
            sens_set_params(&net, theta);
            worst = fmax(worst, best);
            checked++;
            ck_assert_msg(best <= grad_tol,
                          "%s param %lld: gradient %.10g, finite difference %.10g", m->name,
                          (long long)i, g[i], bestfd);
        }
    }
    printf("%s: gradient vs central differences, %d params, worst relative error %.2e\n",
           m->name, checked, worst);

    uint64_t seed = 12345;
    for (int64_t i = 0; i < np; i++)
        v[i] = urand(&seed);
    ck_assert_msg(sens_eval(&net, d, n, SENS_WANT_HVP, v, hv, &err) == 0, "%s", err.msg);
    double rel_best = INFINITY;
    for (double rel = 1e-5; rel >= 1e-8; rel /= 10) {
        const double h = rel * norm2(theta, np) / norm2(v, np);
        for (int64_t i = 0; i < np; i++)
            t2[i] = theta[i] + h * v[i];
        sens_set_params(&net, t2);
        ck_assert_int_eq(sens_eval(&net, d, n, SENS_WANT_GRAD, NULL, gp, &err), 0);
        for (int64_t i = 0; i < np; i++)
            t2[i] = theta[i] - h * v[i];
        sens_set_params(&net, t2);
        ck_assert_int_eq(sens_eval(&net, d, n, SENS_WANT_GRAD, NULL, gm, &err), 0);
        double diff = 0;
        for (int64_t i = 0; i < np; i++) {
            double fd = (gp[i] - gm[i]) / (2 * h);
            diff += (fd - hv[i]) * (fd - hv[i]);
        }
        rel_best = fmin(rel_best, sqrt(diff) / norm2(hv, np));
    }
    sens_set_params(&net, theta);
    printf("%s: Hv vs central differences of the gradient, ||fd - Hv|| / ||Hv|| = %.2e\n",
           m->name, rel_best);
    ck_assert_msg(rel_best <= hvp_tol, "%s: Hv relative error %.3g", m->name, rel_best);
    free(theta);
    free(t2);
    free(row);
    free(g);
    free(v);
    free(hv);
    free(gp);
    free(gm);
    sens_net_free(&net);
}

static void check_model_derivatives(const char *path, int64_t n, int per_block)
{
    model_t m;
    dataset_t d;
    load(path, &m, &d, n);
    check_derivatives(&m, &d, n, per_block, 1e-5, 1e-5);
    dataset_free(&d);
    model_free(&m);
}

START_TEST(test_fd_econt_small) { check_model_derivatives("models/econt_small.h5", 24, 12); }
END_TEST
START_TEST(test_fd_econt_medium) { check_model_derivatives("models/econt_medium.h5", 24, 12); }
END_TEST
START_TEST(test_fd_econt_large) { check_model_derivatives("models/econt_large.h5", 24, 12); }
END_TEST
START_TEST(test_fd_cifar10) { check_model_derivatives("models/cifar10.h5", 2, 6); }
END_TEST
/* a graph: the derivative of a residual Add reaches both branches, summed where they meet */
START_TEST(test_fd_resnet) { check_model_derivatives("models/cifar10_resnet_baseline.h5", 1, 2); }
END_TEST

/* With the biases in the fault space, each layer's bias codes are parameters after its
 * kernel: their gradient and Hessian-vector products against central differences. */
static void check_bias_derivatives(const char *path, int64_t n, int per_block)
{
    model_t m;
    dataset_t d;
    load(path, &m, &d, n);
    const int64_t kernel_bits = m.n_fault_bits;
    bitspace_include_bias(&m, 1);
    ck_assert(m.n_fault_bits > kernel_bits);
    sens_net_t net;
    upset_err_t err = {{0}};
    ck_assert_int_eq(sens_net_create(&net, &m, d.input_frac, SENS_FLOAT_SHADOW, &err), 0);
    int64_t want = 0;
    for (int l = 0; l < m.n_layers; l++)
        if (m.layers[l].faultable)
            want += m.layers[l].n_weights + (m.layers[l].n_bias_bits ? m.layers[l].cout : 0);
    ck_assert_int_eq(net.n_params, want);
    sens_net_free(&net);
    check_derivatives(&m, &d, n, per_block, 1e-5, 1e-5);
    dataset_free(&d);
    model_free(&m);
}

START_TEST(test_fd_bias_econt_medium) { check_bias_derivatives("models/econt_medium.h5", 24, 12); }
END_TEST
START_TEST(test_fd_bias_cifar10) { check_bias_derivatives("models/cifar10.h5", 2, 6); }
END_TEST

/* ------------------------------------------------------------ small models in memory */

static layer_t base_layer(layer_kind_t kind, const char *name, shape3_t in, shape3_t out)
{
    layer_t L;
    memset(&L, 0, sizeof L);
    L.kind = kind;
    snprintf(L.name, sizeof L.name, "%s", name);
    L.in = in;
    L.out = out;
    return L;
}

static void linear(layer_t *L, int kh, int kw, int cin, int cout, int stride, int same, act_t act,
                   uint64_t *seed, double scale)
{
    L->kh = kh;
    L->kw = kw;
    L->cin = cin;
    L->cout = cout;
    L->stride_h = L->stride_w = stride;
    L->pad_same = same;
    L->act = act;
    L->use_bias = 1;
    L->faultable = 1;
    L->n_weights = (int64_t)kh * kw * cin * cout;
    L->kernel = malloc(L->n_weights * sizeof *L->kernel);
    L->bias = malloc(cout * sizeof *L->bias);
    for (int64_t i = 0; i < L->n_weights; i++)
        L->kernel[i] = (float)(scale * urand(seed));
    for (int c = 0; c < cout; c++)
        L->bias[c] = (float)(0.1 * urand(seed));
}

static void free_layers(model_t *m)
{
    for (int l = 0; l < m->n_layers; l++) {
        layer_t *L = &m->layers[l];
        free(L->kernel);
        free(L->bias);
        free(L->gamma);
        free(L->beta);
        free(L->moving_mean);
        free(L->moving_variance);
        free(L->bn_scale);
        free(L->bn_offset);
        free(L->convt_w);
        free(L->kernel_t16);
    }
    free(m->layers);
}

/* 8x8x1 -> conv2d 3x3 stride 2 valid + relu (3,3,2) -> batchnorm -> quantized_bits
 * -> flatten (18) -> dense 18->18 + softmax -> reshape (3,3,2) -> conv2d_transpose
 * 4x4 stride 2 valid + sigmoid (8,8,1): an autoencoder on the telescope loss. */
static void tiny_autoencoder(model_t *m)
{
    uint64_t seed = 777;
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "tiny_autoencoder");
    m->task = TASK_AUTOENCODER;
    m->input = (shape3_t){8, 8, 1};
    m->n_layers = 8;
    m->layers = calloc(m->n_layers, sizeof *m->layers);
    layer_t *L = m->layers;
    shape3_t img = {8, 8, 1}, small = {3, 3, 2}, vec = {1, 1, 18};
    L[0] = base_layer(LAYER_CONV2D, "conv", img, small);
    linear(&L[0], 3, 3, 1, 2, 2, 0, ACT_RELU, &seed, 1.0);
    L[1] = base_layer(LAYER_BATCHNORM, "bn", small, small);
    L[1].gamma = malloc(2 * sizeof(float));
    L[1].beta = malloc(2 * sizeof(float));
    L[1].moving_mean = malloc(2 * sizeof(float));
    L[1].moving_variance = malloc(2 * sizeof(float));
    for (int c = 0; c < 2; c++) {
        L[1].gamma[c] = 1.3f - 0.4f * c;
        L[1].beta[c] = 0.1f * c;
        L[1].moving_mean[c] = 0.05f;
        L[1].moving_variance[c] = 0.7f + c;
    }
    L[1].epsilon = 1e-3;
    L[2] = base_layer(LAYER_ACTIVATION, "qbits", small, small);
    L[2].act = ACT_QBITS;
    L[2].aq = (quant_t){QUANT_BITS, 12, 3, 1, 0};
    L[3] = base_layer(LAYER_FLATTEN, "flatten", small, vec);
    L[4] = base_layer(LAYER_DENSE, "dense", vec, vec);
    linear(&L[4], 1, 1, 18, 18, 1, 0, ACT_SOFTMAX, &seed, 1.0);
    L[5] = base_layer(LAYER_RESHAPE, "reshape", vec, small);
    L[6] = base_layer(LAYER_CONV2D_TRANSPOSE, "convt", small, img);
    linear(&L[6], 4, 4, 18 / 9, 1, 2, 0, ACT_LINEAR, &seed, 2.0);
    L[6].cin = 2;
    L[6].cout = 1;
    L[7] = base_layer(LAYER_ACTIVATION, "sigmoid", img, img);
    L[7].act = ACT_SIGMOID;
    upset_err_t err = {{0}};
    ck_assert_msg(model_prepare(m, &err) == 0, "%s", err.msg);
}

START_TEST(test_fd_tiny_autoencoder)
{
    model_t m;
    tiny_autoencoder(&m);
    const char *const files[] = {"data/hgcal/ttbar_0PU.csv"};
    dataset_t d;
    upset_err_t err = {{0}};
    ck_assert_msg(dataset_load_hgcal(files, 1, 100, 12, &d, &err) == 0, "%s", err.msg);
    check_derivatives(&m, &d, 12, 10, 1e-5, 1e-5);
    dataset_free(&d);
    free_layers(&m);
}
END_TEST

/* dense 6->4 + sigmoid, dense 4->3 + softmax: 36 kernel parameters, cross-entropy */
static void tiny_classifier(model_t *m, dataset_t *d)
{
    uint64_t seed = 99;
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "tiny_classifier");
    m->task = TASK_CLASSIFIER;
    m->input = (shape3_t){1, 1, 6};
    m->n_layers = 2;
    m->layers = calloc(2, sizeof *m->layers);
    m->layers[0] = base_layer(LAYER_DENSE, "d1", (shape3_t){1, 1, 6}, (shape3_t){1, 1, 4});
    linear(&m->layers[0], 1, 1, 6, 4, 1, 0, ACT_SIGMOID, &seed, 1.5);
    m->layers[1] = base_layer(LAYER_DENSE, "d2", (shape3_t){1, 1, 4}, (shape3_t){1, 1, 3});
    linear(&m->layers[1], 1, 1, 4, 3, 1, 0, ACT_SOFTMAX, &seed, 2.0);
    upset_err_t err = {{0}};
    ck_assert_msg(model_prepare(m, &err) == 0, "%s", err.msg);
    memset(d, 0, sizeof *d);
    d->n = 5;
    d->shape = m->input;
    d->input_frac = -1;
    d->x = malloc(5 * 6 * sizeof *d->x);
    d->label = malloc(5 * sizeof *d->label);
    for (int i = 0; i < 30; i++)
        d->x[i] = 2 * urand(&seed);
    for (int i = 0; i < 5; i++)
        d->label[i] = i % 3;
}

/* The whole Hessian by central differences of the gradient, symmetrised. */
static double *fd_hessian(sens_net_t *net, const dataset_t *d)
{
    const int64_t n = net->n_params;
    double *H = calloc(n * n, sizeof *H), *theta = malloc(n * sizeof *theta);
    double *t2 = malloc(n * sizeof *t2), *gp = malloc(n * sizeof *gp), *gm = malloc(n * sizeof *gm);
    upset_err_t err = {{0}};
    sens_get_params(net, theta);
    for (int64_t j = 0; j < n; j++) {
        double h = 1e-5;
        memcpy(t2, theta, n * sizeof *t2);
        t2[j] += h;
        sens_set_params(net, t2);
        ck_assert_int_eq(sens_eval(net, d, d->n, SENS_WANT_GRAD, NULL, gp, &err), 0);
        t2[j] = theta[j] - h;
        sens_set_params(net, t2);
        ck_assert_int_eq(sens_eval(net, d, d->n, SENS_WANT_GRAD, NULL, gm, &err), 0);
        for (int64_t i = 0; i < n; i++)
            H[i * n + j] = (gp[i] - gm[i]) / (2 * h);
    }
    sens_set_params(net, theta);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++)
            H[i * n + j] = H[j * n + i] = 0.5 * (H[i * n + j] + H[j * n + i]);
    free(theta);
    free(t2);
    free(gp);
    free(gm);
    return H;
}

/* Cyclic Jacobi eigenvalues of a symmetric n x n matrix (destroys A). */
static void jacobi_eigenvalues(double *A, int n, double *ev)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                off += A[p * n + q] * A[p * n + q];
        if (off < 1e-30)
            break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (apq == 0)
                    continue;
                double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++)
        ev[i] = A[i * n + i];
}

static int by_abs_desc(const void *a, const void *b)
{
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return (x < y) - (x > y);
}

START_TEST(test_tiny_eigen_and_trace)
{
    model_t m;
    dataset_t d;
    sens_net_t net;
    upset_err_t err = {{0}};
    tiny_classifier(&m, &d);
    ck_assert_msg(sens_net_create(&net, &m, -1, SENS_FLOAT_SHADOW, &err) == 0, "%s", err.msg);
    const int n = (int)net.n_params;
    ck_assert_int_eq(n, 36);
    double *H = fd_hessian(&net, &d);

    /* Hutchinson: fixed number of vectors (tol tiny), then a 4-sigma check per block */
    sens_serial_t op = {&net, &d, d.n};
    sens_trace_opts_t to = {1e-12, 4000, 2024, NULL, NULL};
    double tr[2], total;
    int64_t iters;
    ck_assert_msg(sens_hutchinson(sens_serial_hvp, &op, n, 2, net.block_off, &to, tr, &total,
                                  &iters, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(iters, 4000);
    double exact_total = 0, var_total = 0;
    for (int b = 0; b < 2; b++) {
        double exact = 0, var = 0;
        for (int64_t i = net.block_off[b]; i < net.block_off[b + 1]; i++) {
            exact += H[i * n + i];
            for (int j = 0; j < n; j++) {
                int inside = j >= net.block_off[b] && j < net.block_off[b + 1];
                if (j != i)
                    var += (inside ? 2 : 1) * H[i * n + j] * H[i * n + j];
            }
        }
        double sd = sqrt(var / (double)iters);
        printf("tiny: block %d trace %.6g, Hutchinson %.6g (%lld vectors, sd %.2g)\n", b, exact,
               tr[b], (long long)iters, sd);
        ck_assert_msg(fabs(tr[b] - exact) <= 4 * sd + 1e-9 * fabs(exact),
                      "block %d: trace %g, estimate %g, sd %g", b, exact, tr[b], sd);
        exact_total += exact;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                var_total += 2 * H[i * n + j] * H[i * n + j];
    ck_assert(fabs(total - exact_total) <= 4 * sqrt(var_total / (double)iters));

    /* stopping rule: a loose tolerance stops early */
    to.tol = 1e-2;
    to.max_iter = 10000;
    ck_assert_int_eq(sens_hutchinson(sens_serial_hvp, &op, n, 2, net.block_off, &to, tr, &total,
                                     &iters, &err),
                     0);
    ck_assert(iters > 1 && iters < 10000);

    /* eigenpairs against Jacobi on the finite-difference Hessian */
    double ev[36], *A = malloc(n * n * sizeof *A);
    memcpy(A, H, n * n * sizeof *A);
    jacobi_eigenvalues(A, n, ev);
    qsort(ev, n, sizeof *ev, by_abs_desc);
    const int k = 3;
    double lam[3], res[3], *vec = malloc(k * n * sizeof *vec);
    int64_t it[3];
    sens_eigen_opts_t eo = {20000, 1e-9, 7, NULL, NULL};
    ck_assert_msg(sens_eigen(sens_serial_hvp, &op, n, k, &eo, lam, vec, res, it, &err) == 0,
                  "%s", err.msg);
    for (int j = 0; j < k; j++) {
        printf("tiny: eigenvalue %d: power iteration %.10g (%lld HVPs, residual %.1e), "
               "Jacobi %.10g\n",
               j, lam[j], (long long)it[j], res[j], ev[j]);
        ck_assert(res[j] <= 1e-8);
        ck_assert_msg(fabs(lam[j] - ev[j]) <= 1e-6 * fabs(ev[0]), "eigenvalue %d: %g vs %g", j,
                      lam[j], ev[j]);
        /* the pair against the finite-difference Hessian */
        double r2 = 0;
        for (int i = 0; i < n; i++) {
            double hv = 0;
            for (int q = 0; q < n; q++)
                hv += H[i * n + q] * vec[j * n + q];
            r2 += (hv - lam[j] * vec[j * n + i]) * (hv - lam[j] * vec[j * n + i]);
        }
        ck_assert(sqrt(r2) <= 1e-5 * fabs(lam[j]));
    }
    free(A);
    free(vec);
    free(H);
    sens_net_free(&net);
    free(d.x);
    free(d.label);
    free_layers(&m);
}
END_TEST

/* A tiny classifier through the steps beyond the paper's models: conv 3x3 SAME on (6,6,2),
 * relu, a depthwise 3x3 convolution (multiplier 2, SAME), a leaky quantized_relu (slope
 * 2^-2; quantizers off: QKeras's surrogate relu(x, alpha) clipped), zero padding (1,0,0,1),
 * max pooling 2x2 stride 2 (SAME), average pooling 2x2 stride 1 (VALID), dense, softmax:
 * derivatives against central differences (max pooling is smooth away from ties, which
 * random inputs avoid). */
static void tiny_pooled(model_t *m, dataset_t *d)
{
    uint64_t seed = 7;
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "tiny_pooled");
    m->task = TASK_CLASSIFIER;
    m->input = (shape3_t){6, 6, 2};
    m->n_layers = 7;
    m->layers = calloc(7, sizeof *m->layers);
    m->layers[0] = base_layer(LAYER_CONV2D, "c", (shape3_t){6, 6, 2}, (shape3_t){6, 6, 3});
    linear(&m->layers[0], 3, 3, 2, 3, 1, 1, ACT_RELU, &seed, 0.8);
    layer_t *dw = &m->layers[1];
    *dw = base_layer(LAYER_DEPTHWISE_CONV2D, "dw", (shape3_t){6, 6, 3}, (shape3_t){6, 6, 6});
    linear(dw, 3, 3, 3, 2, 1, 1, ACT_LINEAR, &seed, 0.8); /* (3, 3, cin 3, multiplier 2) */
    dw->depth_mult = 2;
    dw->cout = 6;
    free(dw->bias);
    dw->bias = malloc(6 * sizeof *dw->bias);
    for (int c = 0; c < 6; c++)
        dw->bias[c] = (float)(0.1 * urand(&seed));
    layer_t *lk = &m->layers[2];
    *lk = base_layer(LAYER_ACTIVATION, "leaky", (shape3_t){6, 6, 6}, (shape3_t){6, 6, 6});
    lk->act = ACT_QRELU;
    lk->aq = (quant_t){QUANT_RELU, 6, 1, 0, 2};
    layer_t *z = &m->layers[3];
    *z = base_layer(LAYER_ZERO_PADDING2D, "zp", (shape3_t){6, 6, 6}, (shape3_t){7, 7, 6});
    z->pad_top = 1, z->pad_right = 1;
    layer_t *mp = &m->layers[4];
    *mp = base_layer(LAYER_MAX_POOLING2D, "mp", (shape3_t){7, 7, 6}, (shape3_t){4, 4, 6});
    mp->kh = mp->kw = 2, mp->stride_h = mp->stride_w = 2, mp->pad_same = 1;
    layer_t *ap = &m->layers[5];
    *ap = base_layer(LAYER_AVERAGE_POOLING2D, "ap", (shape3_t){4, 4, 6}, (shape3_t){3, 3, 6});
    ap->kh = ap->kw = 2, ap->stride_h = ap->stride_w = 1;
    m->layers[6] = base_layer(LAYER_DENSE, "d", (shape3_t){3, 3, 6}, (shape3_t){1, 1, 4});
    linear(&m->layers[6], 1, 1, 54, 4, 1, 0, ACT_SOFTMAX, &seed, 1.0);
    upset_err_t err = {{0}};
    ck_assert_msg(model_prepare(m, &err) == 0, "%s", err.msg);
    memset(d, 0, sizeof *d);
    d->n = 6;
    d->shape = m->input;
    d->input_frac = -1;
    d->x = malloc(6 * 72 * sizeof *d->x);
    d->label = malloc(6 * sizeof *d->label);
    for (int i = 0; i < 6 * 72; i++)
        d->x[i] = urand(&seed);
    for (int i = 0; i < 6; i++)
        d->label[i] = i % 4;
}

START_TEST(test_fd_tiny_pooled)
{
    model_t m;
    dataset_t d;
    tiny_pooled(&m, &d);
    check_derivatives(&m, &d, d.n, 10, 1e-6, 1e-6);
    free(d.x);
    free(d.label);
    free_layers(&m);
}
END_TEST

/* The same model's forward equals the engine's (its zero padding, pooling windows and
 * depthwise blocks are the kinds' own geometry in both), up to the logits. */
START_TEST(test_forward_tiny_pooled)
{
    model_t m;
    dataset_t d;
    tiny_pooled(&m, &d);
    m.layers[6].act = ACT_LINEAR; /* the logits: the loss holds the softmax */
    check_forward_equal("tiny_pooled", &m, &d);
    free(d.x);
    free(d.label);
    free_layers(&m);
}
END_TEST

/* The same model with a softmax fused into the depthwise convolution: one softmax over
 * each pixel's 6 channels (Keras's last axis), its derivatives and their R{} per pixel,
 * against central differences; and its forward equal to the engine's, whose softmax
 * normalises each pixel too (a softmax over the whole (6,6,6) tensor in either fails). */
START_TEST(test_fd_tiny_pooled_softmax)
{
    model_t m;
    dataset_t d;
    tiny_pooled(&m, &d);
    m.layers[1].act = ACT_SOFTMAX;
    check_derivatives(&m, &d, d.n, 10, 1e-6, 1e-6);
    m.layers[6].act = ACT_LINEAR; /* the logits: the loss holds the softmax */
    check_forward_equal("tiny_pooled_softmax", &m, &d);
    free(d.x);
    free(d.label);
    free_layers(&m);
}
END_TEST

/* A classifier's cross-entropy takes one label a sample over one vector of class scores:
 * a classifier ending in a per-pixel softmax (the depthwise layer's (6,6,6)) is refused by
 * name, not folded into a cross-entropy over all 216 values. */
START_TEST(test_classifier_per_pixel_output_refused)
{
    model_t m;
    dataset_t d;
    tiny_pooled(&m, &d);
    m.layers[1].act = ACT_SOFTMAX;
    m.n_layers = 2;
    sens_net_t net;
    upset_err_t err = {{0}};
    ck_assert_int_ne(sens_net_create(&net, &m, d.input_frac, SENS_FLOAT_SHADOW, &err), 0);
    ck_assert_msg(strstr(err.msg, "classifier tiny_pooled: its output must be one vector of "
                                  "class scores (1,1,n)") &&
                      strstr(err.msg, "its last layer dw gives (6,6,6)"),
                  "%s", err.msg);
    m.n_layers = 7;
    free(d.x);
    free(d.label);
    free_layers(&m);
}
END_TEST

START_TEST(test_fd_tiny_classifier)
{
    model_t m;
    dataset_t d;
    tiny_classifier(&m, &d);
    check_derivatives(&m, &d, d.n, 10, 1e-6, 1e-6);
    free(d.x);
    free(d.label);
    free_layers(&m);
}
END_TEST

/* Cross-entropy where the true class's probability underflows to a subnormal: logits
 * (0, -G, 0) for every input (zero kernel, those biases), label 1, so the loss is
 * G + log(2 + e^-G) = G + ln 2 to double precision. -log(p) of the subnormal p is off
 * by ~2.6e-3 at G = 740. */
START_TEST(test_xent_subnormal_probability)
{
    model_t m;
    dataset_t d;
    tiny_classifier(&m, &d);
    layer_t *L = &m.layers[1];
    for (int64_t i = 0; i < L->n_weights; i++)
        L->kernel[i] = 0;
    for (int i = 0; i < d.n; i++)
        d.label[i] = 1;
    const float gaps[] = {700, 720, 740, 744};
    for (int g = 0; g < 4; g++) {
        L->bias[0] = L->bias[2] = 0;
        L->bias[1] = -gaps[g];
        sens_net_t net;
        upset_err_t err = {{0}};
        ck_assert_msg(sens_net_create(&net, &m, d.input_frac, SENS_FLOAT_SHADOW, &err) == 0,
                      "%s", err.msg);
        const double l = mean_loss(&net, &d, d.n), want = gaps[g] + log(2.0);
        ck_assert_msg(fabs(l - want) <= 1e-12 * want, "gap %g: loss %.17g, want %.17g", gaps[g],
                      l, want);
        sens_net_free(&net);
    }
    free(d.x);
    free(d.label);
    free_layers(&m);
}
END_TEST

/* ------------------------------------------------------------ eigenpairs, bundled model */

START_TEST(test_eigen_econt_small)
{
    model_t m;
    dataset_t d;
    sens_net_t net;
    upset_err_t err = {{0}};
    load("models/econt_small.h5", &m, &d, 32);
    ck_assert_msg(sens_net_create(&net, &m, d.input_frac, SENS_QUANTIZED, &err) == 0, "%s",
                  err.msg);
    const int64_t n = net.n_params;
    const int k = 3;
    const double tol = 1e-4;
    double lam[3], res[3], *vec = malloc(k * n * sizeof *vec), *hv = malloc(n * sizeof *hv);
    int64_t it[3];
    sens_serial_t op = {&net, &d, d.n};
    sens_eigen_opts_t eo = {5000, tol, 1, NULL, NULL};
    ck_assert_msg(sens_eigen(sens_serial_hvp, &op, n, k, &eo, lam, vec, res, it, &err) == 0,
                  "%s", err.msg);
    for (int j = 0; j < k; j++) {
        /* recompute the residual of the returned pair */
        ck_assert_int_eq(sens_serial_hvp(&op, vec + j * n, hv, &err), 0);
        double r2 = 0;
        for (int64_t i = 0; i < n; i++)
            r2 += (hv[i] - lam[j] * vec[j * n + i]) * (hv[i] - lam[j] * vec[j * n + i]);
        printf("econt_small: eigenvalue %d = %.6g, %lld HVPs, ||Hv - lv|| / |l| = %.2e\n", j,
               lam[j], (long long)it[j], sqrt(r2) / fabs(lam[j]));
        ck_assert_msg(sqrt(r2) <= tol * fabs(lam[j]), "pair %d: residual %g", j,
                      sqrt(r2) / fabs(lam[j]));
        ck_assert(fabs(norm2(vec + j * n, n) - 1) < 1e-12);
        for (int q = 0; q < j; q++) {
            double dp = 0;
            for (int64_t i = 0; i < n; i++)
                dp += vec[j * n + i] * vec[q * n + i];
            ck_assert(fabs(dp) < 1e-10);
        }
    }
    ck_assert(fabs(lam[0]) >= fabs(lam[1]) * (1 - 1e-3));
    free(vec);
    free(hv);
    sens_net_free(&net);
    dataset_free(&d);
    model_free(&m);
}
END_TEST

/* Chunk sums split at any point add up to the same bits (what the MPI path relies on). */
START_TEST(test_chunk_split)
{
    model_t m;
    dataset_t d;
    sens_net_t net;
    upset_err_t err = {{0}};
    load("models/econt_medium.h5", &m, &d, 70);
    ck_assert_int_eq(sens_net_create(&net, &m, d.input_frac, SENS_QUANTIZED, &err), 0);
    const int64_t K = sens_chunk_count(d.n), len = sens_row_len(&net, SENS_WANT_GRAD);
    ck_assert_int_eq(K, SENS_MAX_CHUNKS);
    double *rows = malloc(K * len * sizeof *rows), *a = malloc(len * sizeof *a);
    double *b = malloc(len * sizeof *b);
    ck_assert_int_eq(sens_eval(&net, &d, d.n, SENS_WANT_GRAD, NULL, a, &err), 0);
    const int64_t cut[] = {0, 5, 29, 30, K};
    for (int p = 0; p + 1 < 5; p++)
        ck_assert_int_eq(sens_chunk_sums(&net, &d, d.n, cut[p], cut[p + 1], SENS_WANT_GRAD, NULL,
                                         rows + cut[p] * len, &err),
                         0);
    sens_combine(rows, K, len, d.n, b);
    ck_assert(memcmp(a, b, len * sizeof *a) == 0);
    ck_assert_int_eq(sens_chunk_begin(d.n, K), d.n);
    free(rows);
    free(a);
    free(b);
    sens_net_free(&net);
    dataset_free(&d);
    model_free(&m);
}
END_TEST

/* ------------------------------------------------------------ scores and rankings */

START_TEST(test_scores_hand)
{
    /* two eigenpairs over 3 parameters, worked by hand:
     * v1 = (0.6, 0.8, 0), l1 = 2; v2 = (0, 0, -1), l2 = -1; theta = (1, -2, 0.5)
     * v1.theta = -1, v2.theta = -0.5
     * fkeras: 4*1*(0.6, 0.8, 0) + 1*0.5*(0, 0, 1) = (2.4, 3.2, 0.5)
     * paper:  |2*(-1)*(0.6, 0.8, 0) + (-1)(-0.5)(0, 0, -1)| = (1.2, 1.6, 0.5) */
    const double lam[2] = {2, -1}, vec[6] = {0.6, 0.8, 0, 0, 0, -1}, theta[3] = {1, -2, 0.5};
    double s[3];
    sens_score_hessian(RANK_SCORE_FKERAS, 2, lam, vec, theta, 3, s);
    ck_assert(fabs(s[0] - 2.4) < 1e-12 && fabs(s[1] - 3.2) < 1e-12 && fabs(s[2] - 0.5) < 1e-12);
    sens_score_hessian(RANK_SCORE_PAPER, 2, lam, vec, theta, 3, s);
    ck_assert(fabs(s[0] - 1.2) < 1e-12 && fabs(s[1] - 1.6) < 1e-12 && fabs(s[2] - 0.5) < 1e-12);
    const double g[3] = {-3, 0, 2};
    sens_score_gradient(g, 3, s);
    ck_assert(s[0] == 3 && s[1] == 0 && s[2] == 2);
}
END_TEST

/* layer A: 3 weights x 4 bits at bits 0..11; a non-faultable layer; layer B: 2 weights
 * x 2 bits at bits 12..15 */
static void hand_model(model_t *m)
{
    memset(m, 0, sizeof *m);
    m->n_layers = 3;
    m->layers = calloc(3, sizeof *m->layers);
    layer_t *A = &m->layers[0], *B = &m->layers[2];
    A->faultable = B->faultable = 1;
    A->n_weights = 3;
    A->kq = (quant_t){QUANT_BITS, 4, 1, 1, 0};
    A->bit_first = 0;
    A->n_bits = 12;
    B->n_weights = 2;
    B->kq = (quant_t){QUANT_BITS, 2, 0, 1, 0};
    B->bit_first = 12;
    B->n_bits = 4;
    m->n_fault_bits = 16;
}

START_TEST(test_bit_ranking_hand)
{
    model_t m;
    hand_model(&m);
    upset_err_t err = {{0}};
    /* scores: A = (0.5, 2, 0.5), B = (1, 3) -> parameters 4, 1, 3, 0, 2 (0 before 2 on the tie) */
    const double score[5] = {0.5, 2, 0.5, 1, 3};
    const int64_t want[16] = {14, 4, 12, 0, 8, 15, 5, 13, 1, 9, 6, 2, 10, 7, 3, 11};
    int64_t bits[16];
    ck_assert_msg(sens_bit_ranking(&m, score, 5, bits, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 16; i++)
        ck_assert_msg(bits[i] == want[i], "position %d: %lld, want %lld", i, (long long)bits[i],
                      (long long)want[i]);
    /* equal scores: MSB -> LSB in index order */
    const double zero[5] = {0};
    const int64_t msb[16] = {0, 4, 8, 12, 14, 1, 5, 9, 13, 15, 2, 6, 10, 3, 7, 11};
    ck_assert_int_eq(sens_bit_ranking(&m, zero, 5, bits, &err), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(bits[i], msb[i]);
    /* NaN sorts last */
    const double withnan[5] = {NAN, 1, 1, 1, 1};
    int64_t order[5];
    ck_assert_int_eq(sens_order_params(withnan, 5, order, &err), 0);
    ck_assert(order[0] == 1 && order[4] == 0);
    /* a wrong parameter count is refused */
    ck_assert_int_eq(sens_bit_ranking(&m, score, 4, bits, &err), -1);
    /* random: a permutation */
    ck_assert_int_eq(sens_random_ranking(&m, 5, bits, &err), 0);
    int seen[16] = {0};
    for (int i = 0; i < 16; i++)
        seen[bits[i]]++;
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(seen[i], 1);
    free(m.layers);
}
END_TEST

/* Bit ranking on a bundled model: the global indices agree with bitspace_locate. */
START_TEST(test_bit_ranking_bitspace)
{
    model_t m;
    upset_err_t err = {{0}};
    ck_assert_int_eq(model_load("models/econt_large.h5", &m, &err), 0);
    int64_t np = 0;
    for (int l = 0; l < m.n_layers; l++)
        np += m.layers[l].faultable ? m.layers[l].n_weights : 0;
    double *score = malloc(np * sizeof *score);
    int64_t *bits = malloc(m.n_fault_bits * sizeof *bits);
    for (int64_t i = 0; i < np; i++)
        score[i] = (double)((i * 7919) % np);
    ck_assert_int_eq(sens_bit_ranking(&m, score, np, bits, &err), 0);
    /* the first np entries are MSBs of distinct weights, by descending score */
    double prev = INFINITY;
    int64_t conv = m.layers[1].n_weights;
    for (int64_t i = 0; i < np; i++) {
        bitaddr_t a;
        ck_assert_int_eq(bitspace_locate(&m, bits[i], &a), 0);
        ck_assert_int_eq(a.bit, 0);
        int64_t p = (a.layer == 1 ? 0 : conv) + a.weight;
        ck_assert(score[p] <= prev);
        prev = score[p];
    }
    /* 5-bit conv weights run out after position 4, 7-bit dense ones go on */
    int64_t tail = m.n_fault_bits - 2 * m.layers[4].n_weights;
    for (int64_t i = tail; i < m.n_fault_bits; i++) {
        bitaddr_t a;
        ck_assert_int_eq(bitspace_locate(&m, bits[i], &a), 0);
        ck_assert_int_eq(a.layer, 4);
        ck_assert(a.bit >= 5);
    }
    free(score);
    free(bits);
    model_free(&m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("sensitivity");
    TCase *c = tcase_create("core");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, test_forward_econt_small);
    tcase_add_test(c, test_forward_econt_medium);
    tcase_add_test(c, test_forward_econt_large);
    tcase_add_test(c, test_forward_cifar10);
    tcase_add_test(c, test_forward_resnet);
    tcase_add_test(c, test_fd_econt_small);
    tcase_add_test(c, test_fd_econt_medium);
    tcase_add_test(c, test_fd_econt_large);
    tcase_add_test(c, test_fd_cifar10);
    tcase_add_test(c, test_fd_resnet);
    tcase_add_test(c, test_fd_bias_econt_medium);
    tcase_add_test(c, test_fd_bias_cifar10);
    tcase_add_test(c, test_fd_tiny_autoencoder);
    tcase_add_test(c, test_fd_tiny_classifier);
    tcase_add_test(c, test_xent_subnormal_probability);
    tcase_add_test(c, test_fd_tiny_pooled);
    tcase_add_test(c, test_forward_tiny_pooled);
    tcase_add_test(c, test_fd_tiny_pooled_softmax);
    tcase_add_test(c, test_classifier_per_pixel_output_refused);
    tcase_add_test(c, test_tiny_eigen_and_trace);
    tcase_add_test(c, test_eigen_econt_small);
    tcase_add_test(c, test_chunk_split);
    suite_add_tcase(s, c);
    TCase *r = tcase_create("ranking");
    tcase_add_test(r, test_scores_hand);
    tcase_add_test(r, test_bit_ranking_hand);
    tcase_add_test(r, test_bit_ranking_bitspace);
    suite_add_tcase(s, r);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
