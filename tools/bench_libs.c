/* `make bench`: two libraries against the engine's own kernels on CIFAR-10's quantized
 * layers, side by side on the same images, one core each (a rank is one process on one core):
 * OpenBLAS's dgemm and oneDNN's int8 convolution.
 *
 * A quantized convolution is an integer matrix product once its receptive fields are laid
 * out as rows (im2col): codes as doubles make dgemm exact, every sum being an integer far
 * below 2^53 (checked against int64 brute force on the first image). Debian's OpenBLAS is
 * built without its bfloat16 product (sbgemm), so doubles are the exact form it offers.
 * oneDNN convolves unsigned 8-bit inputs with signed 8-bit weights into int32 sums, exact
 * where the codes fit those types (this model's do) and the sums int32, on processors with
 * VNNI or AMX; without them its kernels may saturate 16-bit intermediates, so its sums are
 * checked against the exact ones on the first image as well.
 * The engine's side is the layer alone (engine_run_layers, as `upset eval --layers`: int16
 * copy of the input, the kernel, int64 outputs); the library's side is im2col from the same
 * int64 input codes, the product, and the sums back to int64. A batch of 16 images in one
 * product is timed too, as a batched engine would run it.
 *
 * usage: bench_libs MODEL.h5 CIFAR10.bin [IMAGES] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include "upset/clock.h"
#include "upset/dataset.h"
#include "upset/engine.h"
#include "upset/kernels.h"
#include "upset/model.h"

/* REPS rounds (a median of three); batched products of BATCH images, timed on the first
 * BATCHED images */
enum { BATCH = 16, REPS = 3, BATCHED = 4 };

_Static_assert(REPS == 3, "median3 takes the rounds' times");

static double median3(const double *t)
{
    const double lo = t[0] < t[1] ? t[0] : t[1], hi = t[0] < t[1] ? t[1] : t[0];
    return t[2] < lo ? lo : t[2] > hi ? hi : t[2];
}

/* A layer as a product: M output pixels, K = kh * kw * cin fan-in, N = cout. */
typedef struct {
    int l, M, K, N, ph, pw;
    double *a, *b, *c; /* im2col rows (BATCH images), weights (K x N), sums */
    int64_t *out;
    double t_engine[REPS], t_dgemm[REPS], t_im2col[REPS], t_batch, t_dnnl[REPS];
    int exact, dnnl_ok, dnnl_exact;
    /* oneDNN: the convolution (u8 x s8 -> s32, nhwc), its buffers and implementation */
    dnnl_primitive_t conv;
    dnnl_memory_t src, wei, dst;
    uint8_t *src_u8;
    int32_t *dst_s32;
    const char *impl;
} gemm_layer_t;

static dnnl_engine_t dn_engine;
static dnnl_stream_t dn_stream;

static void dnnl_check(dnnl_status_t st, const char *what)
{
    if (st != dnnl_success) {
        fprintf(stderr, "bench_libs: oneDNN %s failed (status %d)\n", what, (int)st);
        exit(1);
    }
}

/* Layer L as a oneDNN convolution (a dense layer: a 1x1 one on a 1x1 image), its weights
 * reordered once into the layout oneDNN picks; dnnl_ok 0 where a weight code is not int8. */
static void dnnl_setup(const layer_t *L, gemm_layer_t *g)
{
    for (int64_t w = 0; w < L->n_weights; w++)
        if (L->kernel_code[w] < -128 || L->kernel_code[w] > 127)
            return;
    const int H = L->in.h, W = L->in.w, OH = L->out.h, OW = L->out.w;
    const int sh = L->kind == LAYER_CONV2D ? L->stride_h : 1, sw = L->kind == LAYER_CONV2D ? L->stride_w : 1;
    const dnnl_dims_t src_dims = {1, L->cin, H, W}, wei_dims = {L->cout, L->cin, L->kh, L->kw},
                      dst_dims = {1, L->cout, OH, OW}, strides = {sh, sw},
                      pad_l = {g->ph, g->pw},
                      pad_r = {(OH - 1) * sh + L->kh - H - g->ph, (OW - 1) * sw + L->kw - W - g->pw};
    dnnl_memory_desc_t src_md, wei_md, dst_md, user_wei_md;
    dnnl_check(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_u8, dnnl_nhwc), "src");
    dnnl_check(dnnl_memory_desc_init_by_tag(&wei_md, 4, wei_dims, dnnl_s8, dnnl_format_tag_any), "wei");
    dnnl_check(dnnl_memory_desc_init_by_tag(&user_wei_md, 4, wei_dims, dnnl_s8, dnnl_hwio), "hwio");
    dnnl_check(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_s32, dnnl_nhwc), "dst");
    dnnl_convolution_desc_t cd;
    dnnl_check(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                  dnnl_convolution_direct, &src_md, &wei_md, NULL,
                                                  &dst_md, strides, pad_l, pad_r), "conv desc");
    dnnl_primitive_desc_t pd;
    dnnl_check(dnnl_primitive_desc_create(&pd, &cd, NULL, dn_engine, NULL), "conv pd");
    dnnl_check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &g->impl), "impl");
    const dnnl_memory_desc_t *picked = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    int8_t *codes = malloc((size_t)L->n_weights);
    g->src_u8 = malloc((size_t)H * W * L->cin);
    g->dst_s32 = malloc((size_t)OH * OW * L->cout * sizeof *g->dst_s32);
    if (!codes || !g->src_u8 || !g->dst_s32) {
        fprintf(stderr, "bench_libs: out of memory\n");
        exit(1);
    }
    for (int64_t w = 0; w < L->n_weights; w++) /* Keras's (kh, kw, cin, cout): hwio */
        codes[w] = (int8_t)L->kernel_code[w];
    dnnl_memory_t user;
    dnnl_check(dnnl_memory_create(&user, &user_wei_md, dn_engine, codes), "user weights");
    dnnl_check(dnnl_memory_create(&g->wei, picked, dn_engine, DNNL_MEMORY_ALLOCATE), "weights");
    dnnl_check(dnnl_memory_create(&g->src, &src_md, dn_engine, g->src_u8), "src mem");
    dnnl_check(dnnl_memory_create(&g->dst, &dst_md, dn_engine, g->dst_s32), "dst mem");
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    dnnl_check(dnnl_reorder_primitive_desc_create(&rpd, &user_wei_md, dn_engine, picked, dn_engine,
                                                  NULL), "reorder pd");
    dnnl_check(dnnl_primitive_create(&reorder, rpd), "reorder");
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, g->wei}};
    dnnl_check(dnnl_primitive_execute(reorder, dn_stream, 2, rargs), "reorder run");
    dnnl_check(dnnl_stream_wait(dn_stream), "wait");
    dnnl_check(dnnl_primitive_create(&g->conv, pd), "conv");
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    free(codes);
    g->dnnl_ok = 1;
}

/* oneDNN on input codes x (h, w, cin): as the engine, from int64 codes to int64 sums.
 * Returns -1 when an input code is not uint8. */
static int dnnl_conv(const layer_t *L, gemm_layer_t *g, const int64_t *x)
{
    const int64_t n_in = shape_size(L->in), n_out = shape_size(L->out);
    int bad = 0;
    for (int64_t i = 0; i < n_in; i++) {
        bad |= x[i] < 0 || x[i] > 255;
        g->src_u8[i] = (uint8_t)x[i];
    }
    if (bad)
        return -1;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, g->src}, {DNNL_ARG_WEIGHTS, g->wei},
                               {DNNL_ARG_DST, g->dst}};
    dnnl_check(dnnl_primitive_execute(g->conv, dn_stream, 3, args), "conv run");
    dnnl_check(dnnl_stream_wait(dn_stream), "wait");
    for (int64_t i = 0; i < n_out; i++)
        g->out[i] = g->dst_s32[i];
    return 0;
}

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
        fprintf(stderr, "usage: bench_libs MODEL.h5 CIFAR10.bin [IMAGES]\n");
        return 2;
    }
    const int64_t n_img = argc > 3 ? atol(argv[3]) : 200;
    upset_err_t err = {0};
    model_t m;
    dataset_t d;
    engine_t e;
    if (model_load(argv[1], &m, &err) || dataset_load_cifar10(argv[2], NULL, 0, n_img, &d, &err) ||
        engine_create(&e, &m, 8, &err)) {
        fprintf(stderr, "bench_libs: %s\n", err.msg);
        return 1;
    }
    openblas_set_num_threads(1);
    dnnl_check(dnnl_engine_create(&dn_engine, dnnl_cpu, 0), "engine");
    dnnl_check(dnnl_stream_create(&dn_stream, dn_engine, dnnl_stream_default_flags), "stream");
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
            fprintf(stderr, "bench_libs: out of memory\n");
            return 1;
        }
        for (int64_t w = 0; w < L->n_weights; w++) /* Keras order: (kh, kw, cin) x cout */
            q->b[w] = L->kernel_code[w];
        dnnl_setup(L, q);
    }
    /* REPS rounds, each the engine's pass over the images, then each library's (each side
     * keeps its own data in cache, as it would alone); per layer the median round */
    for (int rep = 0; rep < REPS; rep++)
        for (int side = 0; side < 3; side++)
            for (int64_t i = 0; i < d.n; i++) {
                if (engine_run(&e, d.x + i * shape_size(d.shape), &err)) {
                    fprintf(stderr, "bench_libs: %s\n", err.msg);
                    return 1;
                }
                for (int k = 0; k < n; k++) {
                    gemm_layer_t *q = &g[k];
                    const layer_t *L = &m.layers[q->l];
                    const tensor_t *in = engine_layer_input(&e, q->l);
                    if (in->kind != TENSOR_FIXED) {
                        fprintf(stderr, "bench_libs: layer %s reads no integer codes\n", L->name);
                        return 1;
                    }
                    double t0 = clock_cpu_s();
                    if (side == 0) {
                        if (engine_run_layers(&e, q->l, q->l, &err)) {
                            fprintf(stderr, "bench_libs: %s\n", err.msg);
                            return 1;
                        }
                        q->t_engine[rep] += clock_cpu_s() - t0;
                        continue;
                    }
                    if (side == 2) {
                        if (!q->dnnl_ok)
                            continue;
                        if (dnnl_conv(L, q, in->fixed)) {
                            q->dnnl_ok = 0; /* an input code outside uint8 */
                            continue;
                        }
                        q->t_dnnl[rep] += clock_cpu_s() - t0;
                        if (rep == 0 && i == 0) {
                            im2col(L, q, in->fixed, q->a);
                            q->dnnl_exact = sums_exact(q, q->out);
                        }
                        continue;
                    }
                    im2col(L, q, in->fixed, q->a);
                    const double t1 = clock_cpu_s();
                    product(q, 1);
                    q->t_im2col[rep] += t1 - t0, q->t_dgemm[rep] += clock_cpu_s() - t0;
                    if (rep == 0 && i == 0)
                        q->exact = sums_exact(q, q->out);
                    if (rep == 0 && i < BATCHED) { /* BATCH images in one product (this one BATCH
                                              * times: the time is the same for any codes) */
                        t0 = clock_cpu_s();
                        for (int b = 0; b < BATCH; b++)
                            im2col(L, q, in->fixed, q->a + (int64_t)b * q->M * q->K);
                        product(q, BATCH);
                        q->t_batch += (clock_cpu_s() - t0) / BATCH;
                    }
                }
            }
    printf("%-14s %11s %10s %14s %12s %18s %16s\n", "layer", "MACs/image", "engine us", "dgemm us",
           "its im2col", "dgemm x16 us/img", "oneDNN int8 us");
    for (int k = 0; k < n; k++) {
        const gemm_layer_t *q = &g[k];
        const double us_e = 1e6 * median3(q->t_engine) / d.n,
                     us_d = 1e6 * median3(q->t_dgemm) / d.n;
        char dn[64] = "(codes not 8-bit)";
        if (q->dnnl_ok) {
            const double us_n = 1e6 * median3(q->t_dnnl) / d.n;
            snprintf(dn, sizeof dn, "%7.1f (%4.2fx)%s", us_n, us_n / us_e,
                     q->dnnl_exact ? "" : " NOT EXACT");
        }
        printf("%-14s %11lld %10.1f %7.1f (%4.1fx) %12.1f %10.1f (%4.1fx) %s%s\n",
               m.layers[q->l].name, (long long)q->M * q->K * q->N, us_e, us_d, us_d / us_e,
               1e6 * median3(q->t_im2col) / d.n, 1e6 * q->t_batch / BATCHED,
               1e6 * q->t_batch / BATCHED / us_e, dn, q->exact ? "" : "  dgemm NOT EXACT");
        bad |= !q->exact;
    }
    const dnnl_version_t *v = dnnl_version();
    printf("(CPU time per image over %lld images, median of %d rounds, each layer alone on the"
           " forward pass's input; (x): time / the engine's; both libraries' sums checked"
           " against int64 sums on the first image; engine kernels %s; %s, 1 thread; oneDNN"
           " %d.%d.%d, OMP_NUM_THREADS=%s, convolutions:",
           (long long)d.n, REPS, kernel_path(), openblas_get_config(), v->major, v->minor,
           v->patch, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "unset");
    for (int k = 0; k < n; k++)
        printf(" %s", g[k].dnnl_ok ? g[k].impl : "-");
    printf(")\n");
    return bad;
}
