/* `make bench`: OpenBLAS against the engine's own kernels on CIFAR-10's quantized layers,
 * side by side on the same images, one core each (a rank is one process on one core).
 *
 * A quantized convolution is an integer matrix product once its receptive fields are laid
 * out as rows (im2col): codes as doubles make dgemm exact, every sum being an integer far
 * below 2^53 (checked against int64 brute force on the first image). Debian's OpenBLAS is
 * built without its bfloat16 product (sbgemm), so doubles are the exact form it offers.
 * The engine's side is the layer alone (engine_run_layers, as `upset eval --layers`: int16
 * copy of the input, the kernel, int64 outputs); the library's side is im2col from the same
 * int64 input codes, the product, and the sums back to int64. A batch of 16 images in one
 * product is timed too, as a batched engine would run it.
 *
 * usage: bench_blas MODEL.h5 CIFAR10.bin [IMAGES] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "upset/dataset.h"
#include "upset/engine.h"
#include "upset/kernels.h"
#include "upset/model.h"

enum { BATCH = 16, REPS = 3 };

static double median3(const double *t)
{
    const double lo = t[0] < t[1] ? t[0] : t[1], hi = t[0] < t[1] ? t[1] : t[0];
    return t[2] < lo ? lo : t[2] > hi ? hi : t[2];
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A layer as a product: M output pixels, K = kh * kw * cin fan-in, N = cout. */
typedef struct {
    int l, M, K, N, ph, pw;
    double *a, *b, *c; /* im2col rows (BATCH images), weights (K x N), sums */
    int64_t *out;
    double t_engine[3], t_dgemm[3], t_im2col[3], t_batch;
    int exact;
} gemm_layer_t;

/* The receptive fields of layer L's output pixels as rows of a (M x K), from input codes
 * x (h, w, cin), zero outside the image; kernel order (kh, kw, cin) as Keras's. */
static void im2col(const layer_t *L, const gemm_layer_t *g, const int64_t *x, double *a)
{
    const int H = L->in.h, W = L->in.w, C = L->cin;
    for (int oh = 0, p = 0; oh < L->out.h; oh++)
        for (int ow = 0; ow < L->out.w; ow++, p++) {
            double *row = a + (int64_t)p * g->K;
            for (int i = 0; i < L->kh; i++)
                for (int j = 0; j < L->kw; j++, row += C) {
                    const int ih = oh * L->stride_h + i - g->ph, iw = ow * L->stride_w + j - g->pw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                        memset(row, 0, (size_t)C * sizeof *row);
                    else
                        for (int c = 0; c < C; c++)
                            row[c] = (double)x[((int64_t)ih * W + iw) * C + c];
                }
        }
}

static void product(gemm_layer_t *g, int images)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->M * images, g->N, g->K, 1.0,
                g->a, g->K, g->b, g->N, 0.0, g->c, g->N);
    for (int64_t i = 0; i < (int64_t)g->M * images * g->N; i++)
        g->out[i] = (int64_t)g->c[i];
}

/* Whether out (M x N) equals the int64 sums of a x b. */
static int sums_exact(const gemm_layer_t *g, const int64_t *out)
{
    for (int p = 0; p < g->M; p++)
        for (int n = 0; n < g->N; n++) {
            int64_t s = 0;
            for (int k = 0; k < g->K; k++)
                s += (int64_t)g->a[(int64_t)p * g->K + k] * (int64_t)g->b[(int64_t)k * g->N + n];
            if (s != out[(int64_t)p * g->N + n])
                return 0;
        }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_blas MODEL.h5 CIFAR10.bin [IMAGES]\n");
        return 2;
    }
    const int64_t n_img = argc > 3 ? atol(argv[3]) : 200;
    upset_err_t err = {0};
    model_t m;
    dataset_t d;
    engine_t e;
    if (model_load(argv[1], &m, &err) || dataset_load_cifar10(argv[2], NULL, 0, n_img, &d, &err) ||
        engine_create(&e, &m, 8, &err)) {
        fprintf(stderr, "bench_blas: %s\n", err.msg);
        return 1;
    }
    openblas_set_num_threads(1);
    gemm_layer_t g[16];
    int n = 0, bad = 0;
    for (int l = 0; l < m.n_layers && n < 16; l++) {
        const layer_t *L = &m.layers[l];
        if ((L->kind != LAYER_CONV2D && L->kind != LAYER_DENSE) || !L->quantized)
            continue;
        gemm_layer_t *q = &g[n++];
        memset(q, 0, sizeof *q);
        q->l = l, q->M = L->out.h * L->out.w, q->N = L->cout;
        q->K = (int)(L->n_weights / L->cout);
        if (L->kind == LAYER_CONV2D)
            conv_padding(L, &q->ph, &q->pw);
        const size_t mk = (size_t)q->M * q->K * BATCH, mn = (size_t)q->M * q->N * BATCH;
        q->a = malloc(mk * sizeof *q->a), q->b = malloc((size_t)L->n_weights * sizeof *q->b);
        q->c = malloc(mn * sizeof *q->c), q->out = malloc(mn * sizeof *q->out);
        if (!q->a || !q->b || !q->c || !q->out) {
            fprintf(stderr, "bench_blas: out of memory\n");
            return 1;
        }
        for (int64_t w = 0; w < L->n_weights; w++) /* Keras order: (kh, kw, cin) x cout */
            q->b[w] = L->kernel_code[w];
    }
    /* REPS rounds, each the engine's pass over the images, then the library's (each side
     * keeps its own data in cache, as it would alone); per layer the median round */
    for (int rep = 0; rep < REPS; rep++)
        for (int side = 0; side < 2; side++)
            for (int64_t i = 0; i < d.n; i++) {
                if (engine_run(&e, d.x + i * shape_size(d.shape), &err)) {
                    fprintf(stderr, "bench_blas: %s\n", err.msg);
                    return 1;
                }
                for (int k = 0; k < n; k++) {
                    gemm_layer_t *q = &g[k];
                    const layer_t *L = &m.layers[q->l];
                    const tensor_t *in = engine_layer_input(&e, q->l);
                    if (in->kind != TENSOR_FIXED) {
                        fprintf(stderr, "bench_blas: layer %s reads no integer codes\n", L->name);
                        return 1;
                    }
                    double t0 = cpu_s();
                    if (side == 0) {
                        engine_run_layers(&e, q->l, q->l, &err);
                        q->t_engine[rep] += cpu_s() - t0;
                        continue;
                    }
                    im2col(L, q, in->fixed, q->a);
                    const double t1 = cpu_s();
                    product(q, 1);
                    q->t_im2col[rep] += t1 - t0, q->t_dgemm[rep] += cpu_s() - t0;
                    if (rep == 0 && i == 0)
                        q->exact = sums_exact(q, q->out);
                    if (rep == 0 && i < 4) { /* BATCH images in one product (this one BATCH
                                              * times: the time is the same for any codes) */
                        t0 = cpu_s();
                        for (int b = 0; b < BATCH; b++)
                            im2col(L, q, in->fixed, q->a + (int64_t)b * q->M * q->K);
                        product(q, BATCH);
                        q->t_batch += (cpu_s() - t0) / BATCH;
                    }
                }
            }
    printf("%-14s %11s %10s %14s %12s %18s\n", "layer", "MACs/image", "engine us", "dgemm us",
           "its im2col", "dgemm x16 us/img");
    for (int k = 0; k < n; k++) {
        const gemm_layer_t *q = &g[k];
        const double us_e = 1e6 * median3(q->t_engine) / d.n,
                     us_d = 1e6 * median3(q->t_dgemm) / d.n;
        printf("%-14s %11lld %10.1f %7.1f (%4.1fx) %12.1f %10.1f (%4.1fx)%s\n",
               m.layers[q->l].name, (long long)q->M * q->K * q->N, us_e, us_d, us_d / us_e,
               1e6 * median3(q->t_im2col) / d.n, 1e6 * q->t_batch / 4,
               1e6 * q->t_batch / 4 / us_e, q->exact ? "" : "  dgemm NOT EXACT");
        bad |= !q->exact;
    }
    printf("(CPU time per image over %lld images, median of %d rounds, each layer alone on the"
           " forward pass's input; (x): time / the engine's; dgemm's sums checked against int64 sums on the first"
           " image; engine kernels %s; OpenBLAS %s, 1 thread)\n",
           (long long)d.n, REPS, kernel_path(), openblas_get_config());
    return bad;
}
