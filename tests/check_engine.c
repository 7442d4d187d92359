/* The fixed-point engine against the published models' own outputs:
 *  - the hls4ml zcu102 encoder's 10 test vectors (input and expected encoder output
 *    from the fastml-science repository);
 *  - the FKeras CIFAR-10 model's fault-free correctness on the bundled test images
 *    against non_faulty_correct_indices.npy (the images FKeras found it classifies
 *    correctly);
 *  - the int16 dot-product kernels (AVX2 and portable) against brute force, and the
 *    engine's three integer paths (avx2, portable, the int64 reference loops) giving
 *    identical outputs on every bundled model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "npy.h"
#include "upset/bitspace.h"
#include "upset/dataset.h"
#include "upset/engine.h"
#include "upset/kernels.h"

START_TEST(test_zcu102_vectors)
{
    model_t m;
    engine_t e;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load("models/zcu102_encoder.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(engine_create(&e, &m, -1, &err) == 0, "%s", err.msg);
    int64_t nin = 0, nout = 0;
    double *in = npy_read("data/reference/hgcal_test_input.npy", &nin);
    double *want = npy_read("data/reference/hgcal_test_output.npy", &nout);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(want);
    ck_assert_int_eq(nin, 10 * 64);
    ck_assert_int_eq(nout, 10 * 16);
    double worst = 0;
    for (int s = 0; s < 10; s++) {
        ck_assert_msg(engine_run(&e, in + s * 64, &err) == 0, "%s", err.msg);
        const tensor_t *out = engine_output(&e);
        ck_assert_int_eq(out->n, 16);
        for (int k = 0; k < 16; k++) {
            double d = fabs(tensor_value(out, k) - want[s * 16 + k]);
            if (d > worst)
                worst = d;
            if (d != 0)
                printf("zcu102 vector %d output %d: engine %.9g, reference %.9g\n", s, k,
                       tensor_value(out, k), want[s * 16 + k]);
        }
    }
    printf("zcu102: 10 vectors x 16 outputs, largest difference %g\n", worst);
    ck_assert_msg(worst == 0, "zcu102 outputs differ by up to %g", worst);
    free(in);
    free(want);
    engine_free(&e);
    model_free(&m);
}
END_TEST

START_TEST(test_cifar10_correct_indices)
{
    model_t m;
    engine_t e;
    dataset_t d;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load("models/cifar10.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(dataset_load_cifar10("data/cifar10/test_batch_first1017.bin",
                                       "data/cifar10/test_labels_10000.bin", 0, -1, &d, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(d.n, 1017);
    ck_assert_msg(engine_create(&e, &m, d.input_frac, &err) == 0, "%s", err.msg);
    int64_t nidx = 0;
    double *idx = npy_read("data/cifar10/non_faulty_correct_indices.npy", &nidx);
    ck_assert_ptr_nonnull(idx);
    unsigned char listed[1017] = {0};
    for (int64_t i = 0; i < nidx; i++)
        if (idx[i] < 1017)
            listed[(int)idx[i]] = 1;
    int agree = 0, n_listed = 0;
    for (int64_t i = 0; i < d.n; i++) {
        ck_assert_msg(engine_run(&e, d.x + i * 3072, &err) == 0, "%s", err.msg);
        const tensor_t *out = engine_output(&e);
        int best = 0;
        for (int k = 1; k < out->n; k++)
            if (tensor_value(out, k) > tensor_value(out, best))
                best = k;
        int correct = best == d.label[i];
        n_listed += listed[i];
        if (correct == listed[i]) {
            agree++;
            continue;
        }
        printf("cifar10 image %lld: label %d, predicted %d, %s in non_faulty_correct_indices; "
               "outputs:", (long long)i, d.label[i], best, listed[i] ? "listed" : "not listed");
        for (int k = 0; k < out->n; k++)
            printf(" %.6g", tensor_value(out, k));
        printf("\n");
    }
    printf("cifar10: %d of 1017 images agree with non_faulty_correct_indices.npy (%d listed)\n",
           agree, n_listed);
    ck_assert_int_eq(agree, 1017);
    free(idx);
    dataset_free(&d);
    engine_free(&e);
    model_free(&m);
}
END_TEST

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* The int16 kernels' paths: VNNI where the processor has it (else the same as AVX2),
 * AVX2 alone, plain C. */
static const kernel_mode_t int16_modes[3] = {KERNEL_AUTO, KERNEL_AVX2, KERNEL_PORTABLE};

START_TEST(test_dot16_brute_force)
{
    uint64_t seed = 99;
    static int16_t x[1024], w[9 * 1024];
    const int64_t ks[] = {32, 64, 512, 1024}; /* halves: whole vectors */
    for (int t = 0; t < 4; t++) {
        const int64_t k = ks[t];
        /* the largest magnitude whose sums provably fit int32 at this k */
        int64_t lim = 1;
        while ((lim + 1) * (lim + 1) * k < INT64_C(2147483647) && lim < 32767)
            lim++;
        for (int rows = 1; rows <= 9; rows++) {
            for (int64_t j = 0; j < k; j++)
                x[j] = (int16_t)((int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim);
            for (int64_t j = 0; j < rows * k; j++)
                w[j] = (int16_t)((int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim);
            x[0] = (int16_t)lim; /* extremes too */
            w[0] = (int16_t)-lim;
            for (int mode = 0; mode < 3; mode++) {
                kernel_set_mode(int16_modes[mode]);
                int32_t out[9], seg[9];
                kernel_dot16(x, w, k, rows, k, out);
                /* the same fan-in in two pieces, the second read from a copy elsewhere */
                static int16_t tail[512];
                memcpy(tail, x + k / 2, (size_t)(k / 2) * sizeof *x);
                const int16_t *pieces[2] = {x, tail};
                kernel_dot16_seg(pieces, 2, k / 2, w, rows, k, seg);
                /* two fan-ins at once: the pieces and the fan-in read whole as two halves */
                int32_t two_a[9], two_b[9];
                const int16_t *halves[2] = {x, x + k / 2};
                kernel_dot16_seg2(halves, pieces, 2, k / 2, w, rows, k, two_a, two_b);
                /* one row against several fan-ins (kernel_dot16_many): item t reads
                 * its pieces in the order t % 2 (swapped: a different sum) */
                int32_t many[3];
                const int16_t *items[6] = {x, tail, tail, x, x, tail};
                kernel_dot16_many(items, 2, k / 2, w + (rows - 1) * k, 3, many);
                for (int t = 0; t < 3; t++) {
                    int64_t want = 0;
                    for (int64_t j = 0; j < k; j++)
                        want += (int64_t)items[2 * t + j / (k / 2)][j % (k / 2)] *
                                w[(rows - 1) * k + j];
                    ck_assert_msg(many[t] == want, "k %lld item %d (%s): %d != %lld",
                                  (long long)k, t, kernel_path(), many[t], (long long)want);
                }
                for (int r = 0; r < rows; r++) {
                    int64_t want = 0;
                    for (int64_t j = 0; j < k; j++)
                        want += (int64_t)x[j] * w[r * k + j];
                    ck_assert_msg(out[r] == want, "k %lld row %d (%s): %d != %lld", (long long)k,
                                  r, kernel_path(), out[r], (long long)want);
                    ck_assert_msg(seg[r] == want, "k %lld row %d in two pieces (%s)", (long long)k,
                                  r, kernel_path());
                    ck_assert_msg(two_a[r] == want && two_b[r] == want,
                                  "k %lld row %d, two at once (%s)", (long long)k, r, kernel_path());
                }
            }
        }
    }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* The pair-broadcast kernel against int64 brute force at the int32 bound, for odd and
 * even fan-ins and channel counts of one, two, four and more vectors. */
START_TEST(test_pairs16_brute_force)
{
    uint64_t seed = 7;
    static int16_t x[1026], wp[514 * 2 * 72];
    static int64_t w[1025 * 72];
    const int64_t ks[] = {1, 3, 17, 64, 513, 1024};
    const int ns[] = {8, 16, 24, 32, 40, 72};
    for (int t = 0; t < 6; t++)
        for (int u = 0; u < 6; u++) {
            const int64_t k = ks[t], pairs = (k + 1) / 2;
            const int n = ns[u];
            int64_t lim = 1;
            while ((lim + 1) * (lim + 1) * k < INT64_C(2147483647) && lim < 32767)
                lim++;
            memset(x, 0, sizeof x);
            memset(wp, 0, sizeof wp);
            for (int64_t j = 0; j < k; j++) {
                x[j] = (int16_t)((int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim);
                for (int c = 0; c < n; c++) {
                    w[j * n + c] = (int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim;
                    wp[((j / 2) * n + c) * 2 + j % 2] = (int16_t)w[j * n + c];
                }
            }
            x[0] = (int16_t)-lim; /* extremes too */
            w[0] = -lim;
            wp[0] = (int16_t)-lim;
            for (int mode = 0; mode < 3; mode++) {
                kernel_set_mode(int16_modes[mode]);
                int32_t out[72], seg[72];
                kernel_pairs16(x, wp, pairs, n, out);
                /* three pieces of pairs / 3 pairs, the last two copied elsewhere */
                static int16_t rest[1026];
                const int64_t third = pairs / 3;
                memcpy(rest, x + 2 * third, (size_t)(4 * third) * sizeof *x);
                const int16_t *pieces[3] = {x, rest, rest + 2 * third};
                if (third)
                    kernel_pairs16_seg(pieces, 3, third, wp, n, seg);
                /* two fan-ins at once (kernel_pairs16_seg2): the whole one and the pieces */
                int32_t two_a[72], two_b[72];
                const int16_t *whole[3] = {x, x + 2 * third, x + 4 * third};
                if (third)
                    kernel_pairs16_seg2(whole, pieces, 3, third, wp, n, two_a, two_b);
                /* four fan-ins at once (kernel_pairs16_seg4): fan-in q is the three pieces
                 * of `shifted`, q codes on, a sliding window as four output pixels read */
                static int16_t shifted[1026 + 8];
                static int32_t four[4 * 72];
                const int16_t *win[3] = {shifted, shifted + 2 * third, shifted + 4 * third};
                for (int64_t j = 0; j < 6 * third + 8; j++)
                    shifted[j] = (int16_t)((int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim);
                if (third)
                    kernel_pairs16_seg4(win, 2, 3, third, wp, n, four);
                for (int q = 0; third && q < 4; q++)
                    for (int c = 0; c < n; c++) {
                        int64_t want4 = 0;
                        for (int64_t j = 0; j < 6 * third; j++)
                            want4 += j < k ? (int64_t)shifted[2 * q + j] * w[j * n + c] : 0;
                        ck_assert_msg(four[q * n + c] == want4,
                                      "k %lld n %d channel %d, fan-in %d of four (%s): %d != %lld",
                                      (long long)k, n, c, q, kernel_path(), four[q * n + c],
                                      (long long)want4);
                    }
                for (int c = 0; c < n; c++) {
                    int64_t want = 0, want3 = 0;
                    for (int64_t j = 0; j < k; j++) {
                        want += (int64_t)x[j] * w[j * n + c];
                        want3 += j < 6 * third ? (int64_t)x[j] * w[j * n + c] : 0;
                    }
                    ck_assert_msg(out[c] == want, "k %lld n %d channel %d (%s): %d != %lld",
                                  (long long)k, n, c, kernel_path(), out[c], (long long)want);
                    ck_assert_msg(!third || seg[c] == want3, "k %lld n %d channel %d in pieces",
                                  (long long)k, n, c);
                    ck_assert_msg(!third || (two_a[c] == want3 && two_b[c] == want3),
                                  "k %lld n %d channel %d, two at once (%s)", (long long)k, n, c,
                                  kernel_path());
                }
            }
        }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* The convolution with pixels across lanes against int64 brute force at the int32 bound:
 * pair planes of 1, 2, 3, 16 and 32 pairs (each plane path), kernels of 1 to 4 taps a side,
 * row strides 1 and 2, rows of whole and partial sixteen-pixel blocks, 4 to 32 channels,
 * groups of rows not a multiple of four vectors; VNNI where the processor has it, and the
 * plain loops. */
START_TEST(test_conv_lanes_brute_force)
{
    uint64_t seed = 11;
    const int nps[] = {1, 2, 3, 16, 32}, ks[] = {1, 3, 4}, ows[] = {5, 16, 20, 32, 35},
              couts[] = {4, 12, 32};
    int cases = 0;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 3; b++)
            for (int d = 0; d < 5; d++)
                for (int e = 0; e < 3; e++) {
                    const int np = nps[a], kh = ks[b], kw = ks[(b + d) % 3], out_w = ows[d],
                              cout = couts[e], cout8 = (cout + 7) / 8 * 8, stride = 1 + (a + d) % 2,
                              out_h = 3;
                    const int h = (out_h - 1) * stride + kh, w = out_w + kw - 1;
                    const int64_t fan = (int64_t)kh * kw * np * 2,
                                  pitch = ((out_w + 15) / 16 * 16 + kw - 1 + 15) / 16 * 16;
                    int64_t lim = 1;
                    while ((lim + 1) * (lim + 1) * fan < INT64_C(2147483647) && lim < 32767)
                        lim++;
                    int16_t *x = malloc((size_t)(h * w * np * 2) * sizeof *x),
                            *wp = calloc((size_t)(fan / 2 * cout8 * 2), sizeof *wp);
                    int32_t *planes = malloc((size_t)(h * np * pitch) * sizeof *planes),
                            *sum = malloc((size_t)(out_h * out_w * (cout + 3)) * sizeof *sum);
                    ck_assert(x && wp && planes && sum);
                    for (int64_t i = 0; i < (int64_t)h * w * np * 2; i++)
                        x[i] = (int16_t)((int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim);
                    for (int64_t t = 0; t < fan / 2; t++)
                        for (int c = 0; c < cout; c++)
                            for (int hf = 0; hf < 2; hf++)
                                wp[(t * cout8 + c) * 2 + hf] =
                                    (int16_t)((int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim);
                    x[0] = (int16_t)lim, wp[0] = (int16_t)-lim; /* extremes too */
                    for (int mode = 0; mode < 2; mode++) {
                        kernel_set_mode(mode ? KERNEL_PORTABLE : KERNEL_AUTO);
                        memset(planes, 0x5a, (size_t)(h * np * pitch) * sizeof *planes);
                        kernel_pair_planes(x, h, w, np, pitch, planes);
                        for (int r = 0; r < h; r++)
                            for (int j = 0; j < np; j++)
                                for (int64_t p = 0; p < pitch; p++) {
                                    const int32_t got = planes[((int64_t)r * np + j) * pitch + p];
                                    int32_t want = 0;
                                    if (p < w)
                                        memcpy(&want, x + (((int64_t)r * w + p) * np + j) * 2,
                                               sizeof want);
                                    ck_assert_msg(got == want, "planes np %d: row %d pair %d pixel %lld",
                                                  np, r, j, (long long)p);
                                }
                        const conv_lanes_t c = {planes, pitch, np, kh, kw, stride, wp, cout8, cout, out_w};
                        const int cs = cout + 3 * (e == 1); /* a stride beyond cout too */
                        /* row 0 alone, then rows 1 and 2 in one call */
                        kernel_conv_lanes(&c, 0, 1, sum, cs);
                        kernel_conv_lanes(&c, 1, 2, sum + (int64_t)out_w * cs, cs);
                        for (int oh = 0; oh < out_h; oh++)
                            for (int ow = 0; ow < out_w; ow++)
                                for (int co = 0; co < cout; co++) {
                                    int64_t want = 0, t = 0;
                                    for (int r = 0; r < kh; r++)
                                        for (int k = 0; k < kw; k++)
                                            for (int j = 0; j < np; j++, t++)
                                                for (int hf = 0; hf < 2; hf++)
                                                    want += (int64_t)x[(((int64_t)(oh * stride + r) * w +
                                                                          ow + k) * np + j) * 2 + hf] *
                                                            wp[(t * cout8 + co) * 2 + hf];
                                    const int32_t got = sum[((int64_t)oh * out_w + ow) * cs + co];
                                    ck_assert_msg(got == want,
                                                  "np %d k %dx%d stride %d out_w %d cout %d (%s): "
                                                  "pixel (%d, %d) channel %d: %d != %lld",
                                                  np, kh, kw, stride, out_w, cout,
                                                  mode ? "portable" : "auto", oh, ow, co, got,
                                                  (long long)want);
                                }
                    }
                    cases++;
                    free(x), free(wp), free(planes), free(sum);
                }
    kernel_set_mode(KERNEL_AUTO);
    printf("conv with pixels across lanes: %d shapes equal to brute force (vector path: %s)\n",
           cases, kernel_conv_lanes_available() ? "AVX-512 VNNI" : "none here");
}
END_TEST

/* int32 sums to int64 outputs: shift, bias, optional ReLU, against int64 arithmetic. */
START_TEST(test_fixed_out_brute_force)
{
    uint64_t seed = 11;
    int32_t sum[37];
    int64_t bias[37], out[37];
    for (int shift = 0; shift < 32; shift++)
        for (int relu = 0; relu < 2; relu++)
            for (int mode = 0; mode < 2; mode++) {
                for (int c = 0; c < 37; c++) {
                    sum[c] = (int32_t)(lcg(&seed) ^ (lcg(&seed) << 31));
                    bias[c] = ((int64_t)lcg(&seed) << 20) - ((int64_t)lcg(&seed) << 20);
                }
                sum[0] = INT32_MIN, sum[1] = INT32_MAX, sum[2] = 0, bias[2] = 0;
                kernel_set_mode(mode ? KERNEL_PORTABLE : KERNEL_AUTO);
                kernel_fixed_out(sum, bias, shift, relu, 37, out);
                for (int c = 0; c < 37; c++) {
                    int64_t want = bias[c] + (int64_t)sum[c] * ((int64_t)1 << shift);
                    if (relu && want < 0)
                        want = 0;
                    ck_assert_msg(out[c] == want, "shift %d relu %d channel %d (%s)", shift, relu,
                                  c, kernel_path());
                }
            }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* int64 -> int16 with its range test, against the plain loop: in range, and one value
 * just out of range at every position (vector body and tail). */
START_TEST(test_narrow16_range)
{
    uint64_t seed = 5;
    int64_t x[23];
    int16_t out[23];
    for (int trial = 0; trial < 24; trial++) {
        const int64_t lim = trial % 2 ? 32767 : 100 + trial;
        for (int i = 0; i < 23; i++)
            x[i] = (int64_t)(lcg(&seed) % (uint64_t)(2 * lim + 1)) - lim;
        for (int mode = 0; mode < 2; mode++) {
            kernel_set_mode(mode ? KERNEL_PORTABLE : KERNEL_AUTO);
            ck_assert_int_eq(kernel_narrow16(x, 23, lim, out), 0);
            for (int i = 0; i < 23; i++)
                ck_assert_int_eq(out[i], x[i]);
            if (trial < 23) {
                const int64_t keep = x[trial];
                x[trial] = trial % 3 ? lim + 1 : -lim - 1 - (int64_t)1e12;
                ck_assert_msg(kernel_narrow16(x, 23, lim, out) == -1, "position %d (%s)", trial,
                              kernel_path());
                x[trial] = keep;
            }
        }
    }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* The vector batch norm against TensorFlow's float32 formula, on integer and real inputs,
 * and its refusal of integers too large for the exact conversion. */
START_TEST(test_batchnorm_kernel)
{
    uint64_t seed = 3;
    enum { C = 12, N = C * 50 };
    static int64_t xi[N];
    static double xr[N], out[N];
    float scale[C], offset[C];
    for (int k = 0; k < C; k++) {
        scale[k] = (float)((double)lcg(&seed) / 2147483648.0 * 3 - 1.5);
        offset[k] = (float)((double)lcg(&seed) / 2147483648.0 - 0.5);
    }
    for (int i = 0; i < N; i++) {
        xi[i] = (int64_t)(lcg(&seed) % 2000000) - 1000000;
        xr[i] = ((double)lcg(&seed) - 1073741824.0) / 3e6;
    }
    xi[0] = (INT64_C(1) << 50), xi[1] = -(INT64_C(1) << 50);
    const double in_scale = 1.0 / 4096;
    const int vec = !strncmp(kernel_path(), "avx2", 4); /* elsewhere it declines (-1) */
    ck_assert_int_eq(kernel_batchnorm(xi, NULL, in_scale, N, C, scale, offset, out), vec ? 0 : -1);
    if (vec)
        for (int i = 0; i < N; i++) {
            float y = (float)((double)xi[i] * in_scale) * scale[i % C];
            ck_assert_msg(out[i] == (double)(y + offset[i % C]), "integer input %d", i);
        }
    ck_assert_int_eq(kernel_batchnorm(NULL, xr, 1.0, N, C, scale, offset, out), vec ? 0 : -1);
    if (vec)
        for (int i = 0; i < N; i++) {
            float y = (float)xr[i] * scale[i % C];
            ck_assert_msg(out[i] == (double)(y + offset[i % C]), "real input %d", i);
        }
    /* batch norm then a quantizer in one pass: the codes of the two steps (ties, clipping
     * at both ends, NaN from an infinite input), on 12 channels (the double path) and 16
     * (the float32 path for integer inputs within int32; beyond it, the double path) */
    const quant_t qs[] = {{QUANT_RELU, 8, 2, 0, 0},   {QUANT_BITS, 10, 3, 1, 0},
                          {QUANT_BITS, 24, 12, 1, 0}, {QUANT_BITS, 24, 0, 1, 0},
                          {QUANT_RELU, 16, 16, 0, 0}, {QUANT_BITS, 30, 10, 1, 0}};
    static int64_t codes[N], want[N], xs[N];
    xr[5] = INFINITY, xr[6] = -INFINITY, xr[7] = NAN, xr[8] = 0.375 / 1.0;
    for (int i = 0; i < N; i++) /* within int32, the extremes too */
        xs[i] = i == 0 ? INT32_MAX : i == 1 ? INT32_MIN : i % 5 ? xi[i] : xi[i] * 1000;
    float scale16[16], offset16[16];
    for (int k = 0; k < 16; k++)
        scale16[k] = scale[k % C] * 7, offset16[k] = offset[k % C] * 100;
    for (size_t t = 0; t < sizeof qs / sizeof *qs; t++)
        for (int input = 0; input < 4; input++) {
            const int real = input == 0, c = input < 2 ? C : 16;
            const int64_t *x = input == 3 ? xi : xs; /* 3: beyond int32 */
            const float *sc = c == C ? scale : scale16, *of = c == C ? offset : offset16;
            const int n = N / c * c;
            const int rc = kernel_batchnorm_quantize(real ? NULL : x, real ? xr : NULL,
                                                     real ? 1.0 : in_scale, n, c, sc, of, &qs[t],
                                                     codes);
            ck_assert_int_eq(rc, vec ? 0 : -1);
            if (!vec)
                continue;
            kernel_batchnorm(real ? NULL : x, real ? xr : NULL, real ? 1.0 : in_scale, n, c, sc,
                             of, out);
            quant_codes_from_floats(&qs[t], out, n, want);
            ck_assert_msg(!memcmp(codes, want, (size_t)n * sizeof *codes),
                          "bn+quantizer %zu, input %d", t, input);
        }
    xi[N - 1] = (INT64_C(1) << 50) + 1;
    ck_assert_int_eq(kernel_batchnorm_quantize(xi, NULL, in_scale, N, C, scale, offset, &qs[0],
                                               codes), -1);
    ck_assert_int_eq(kernel_batchnorm(xi, NULL, in_scale, N, C, scale, offset, out), -1);
    ck_assert_int_eq(kernel_batchnorm(xi, NULL, in_scale, N - C + 2, C - 2, scale, offset, out),
                     -1); /* channels not a multiple of 4 */
}
END_TEST

/* The fused row kernel (a linear layer's sums through bias, relu, batch norm and quantizer
 * in float32) against the int64 outputs of plain loops, TensorFlow's float32 batch norm
 * and the scalar quantizer: sums up to the 2^24 bound, both signs, ties, clipping at both
 * ends and beyond float32's range; channel counts of 4 and 8 (repeated to periods of 8 and
 * 16), 24 and 32, shifts 0 and 3, with and without relu; under the default kernels (AVX-512
 * where the processor has it, for periods of 16 and 32) and AVX2. */
START_TEST(test_linear_bnq_row_kernel)
{
    uint64_t seed = 11;
    enum { N = 32 * 24 * 2 };
    static int32_t sum[N];
    static int64_t out64[N], codes64[N], want_out[N], want_codes[N];
    static int16_t codes16[N];
    static double bn[N];
    const quant_t qs[] = {{QUANT_RELU, 8, 2, 0, 0}, {QUANT_BITS, 10, 3, 1, 0},
                          {QUANT_BITS, 24, 12, 1, 0}, {QUANT_BITS, 16, 0, 1, 0}};
    const int channels[][2] = {{4, 8}, {4, 16}, {8, 8}, {8, 16}, {24, 24}, {32, 32}};
    const int vec = !strncmp(kernel_path(), "avx2", 4); /* elsewhere it declines (-1) */
    for (int mode = 0; mode < 2; mode++)
    for (size_t t = 0; t < sizeof qs / sizeof *qs; t++)
        for (size_t ci = 0; ci < 6; ci++)
            for (int shift = 0; shift <= 3; shift += 3)
                for (int relu = 0; relu < 2; relu++) {
                    kernel_set_mode(mode ? KERNEL_AVX2 : KERNEL_AUTO);
                    const int c = channels[ci][0], period = channels[ci][1];
                    const int64_t lim = (INT64_C(1) << 24) - 1;
                    float bias[32], scale[32], offset[32];
                    for (int k = 0; k < period; k++) { /* per channel, repeated along the period */
                        const int ch = k % c;
                        uint64_t g = seed + (uint64_t)ch * 7919;
                        bias[k] = (float)((int64_t)(lcg(&g) % 20001) - 10000);
                        scale[k] = (float)((double)lcg(&g) / 2147483648.0 * 4 - 2) *
                                   (ch == 1 ? 1e30f : 1.0f); /* channel 1 overflows float32 */
                        offset[k] = (float)((double)lcg(&g) / 2147483648.0 * 8 - 4);
                    }
                    for (int i = 0; i < N; i++) {
                        const int64_t room = (lim - 10000) >> shift;
                        int64_t v = (int64_t)(lcg(&seed) % (uint64_t)(2 * room + 1)) - room;
                        if (i % 97 == 0)
                            v = i % 2 ? room : -room; /* the bound, both signs */
                        if (i % 89 == 0)
                            v = (i % 3) - 1; /* near zero: relu's ties */
                        sum[i] = (int32_t)v;
                    }
                    const double in_scale = 1.0 / 1024;
                    const float mul = (float)(1 << shift);
                    const int fits16 = qs[t].bits <= 16; /* the int16 codes' precondition */
                    const int rc = kernel_linear_bnq_row(sum, bias, mul, relu, N, period, in_scale,
                                                         scale, offset, &qs[t], out64, codes64,
                                                         fits16 ? codes16 : NULL);
                    ck_assert_int_eq(rc, vec ? 0 : -1);
                    if (!vec)
                        continue;
                    for (int i = 0; i < N; i++) { /* plain loops: int64, then float32 */
                        int64_t v = (int64_t)sum[i] * (1 << shift) + (int64_t)bias[i % period];
                        want_out[i] = relu && v < 0 ? 0 : v;
                        const float y = (float)((double)want_out[i] * in_scale) * scale[i % period];
                        bn[i] = (double)(y + offset[i % period]);
                    }
                    quant_codes_from_floats(&qs[t], bn, N, want_codes);
                    for (int i = 0; i < N; i++) {
                        ck_assert_msg(out64[i] == want_out[i], "q %zu c %d: output %d", t, c, i);
                        ck_assert_msg(codes64[i] == want_codes[i] &&
                                          (!fits16 || codes16[i] == want_codes[i]),
                                      "q %zu c %d shift %d relu %d: code %d: %lld/%d, want %lld",
                                      t, c, shift, relu, i, (long long)codes64[i], codes16[i],
                                      (long long)want_codes[i]);
                    }
                    if (!fits16)
                        continue;
                    /* the int16 codes asked for alone: the same */
                    memset(codes16, 0, sizeof codes16);
                    ck_assert_int_eq(kernel_linear_bnq_row(sum, bias, mul, relu, N, period,
                                                           in_scale, scale, offset, &qs[t], NULL,
                                                           NULL, codes16), 0);
                    for (int i = 0; i < N; i++)
                        ck_assert_int_eq(codes16[i], want_codes[i]);
                }
    kernel_set_mode(KERNEL_AUTO);
    /* a period that is not whole vectors, a row that is not whole periods: declined */
    static float any[32];
    ck_assert_int_eq(kernel_linear_bnq_row(sum, any, 1, 0, 24, 12, 1, any, any, &qs[0], out64,
                                           NULL, NULL), -1);
    ck_assert_int_eq(kernel_linear_bnq_row(sum, any, 1, 0, 20, 8, 1, any, any, &qs[0], out64,
                                           NULL, NULL), -1);
}
END_TEST

/* The delta path's int64 scatter and its stores' widening against plain loops: changes inside and beyond the
 * vector path's 32-bit range, weights at the int32 extremes, tails not a whole vector. */
START_TEST(test_axpy_kernel)
{
    uint64_t seed = 5;
    const int64_t dxs[] = {0, 1, -1, INT32_MAX, -INT32_MAX, INT64_C(1) << 31, -(INT64_C(1) << 31),
                           123456789, -(INT64_C(1) << 40)};
    for (int mode = 0; mode < 2; mode++) {
        kernel_set_mode(mode ? KERNEL_PORTABLE : KERNEL_AUTO);
        for (size_t t = 0; t < sizeof dxs / sizeof *dxs; t++)
            for (int n = 0; n <= 13; n++) {
                int32_t w[13];
                int64_t acc[13], want[13];
                for (int c = 0; c < n; c++) {
                    w[c] = c == 0 ? INT32_MIN + 1 : c == 1 ? INT32_MAX
                                                           : (int32_t)(lcg(&seed) - (1u << 30));
                    if (dxs[t] > INT32_MAX || dxs[t] < -INT32_MAX)
                        w[c] /= 1 << 20; /* keep the products within int64 */
                    acc[c] = want[c] = (int64_t)lcg(&seed) - (INT64_C(1) << 30);
                    want[c] += dxs[t] * w[c];
                }
                kernel_axpy_i64(acc, dxs[t], w, n);
                ck_assert_msg(!memcmp(acc, want, (size_t)n * sizeof *acc),
                              "axpy dx %lld n %d (%s)", (long long)dxs[t], n, kernel_path());
                /* the stores' widening, extremes included */
                int16_t h[13];
                for (int c = 0; c < n; c++)
                    h[c] = (int16_t)(c == 0 ? INT16_MIN : c == 1 ? INT16_MAX : w[c] >> 16);
                kernel_widen16(h, n, acc);
                for (int c = 0; c < n; c++)
                    ck_assert_int_eq(acc[c], h[c]);
                kernel_widen32(w, n, acc);
                for (int c = 0; c < n; c++)
                    ck_assert_int_eq(acc[c], w[c]);
            }
    }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* The scatter's fold of its accumulators into the pre-activations, and its count of the
 * nonzero ones, against plain loops: negative values, zeros in every lane position, shifts
 * 0 to 31, tails not a whole vector. */
START_TEST(test_fold_kernels)
{
    uint64_t seed = 23;
    for (int mode = 0; mode < 2; mode++) {
        kernel_set_mode(mode ? KERNEL_PORTABLE : KERNEL_AUTO);
        for (int shift = 0; shift < 32; shift += 3)
            for (int n = 0; n <= 19; n++) {
                int64_t o[19], a[19], want[19], nonzero = 0;
                for (int c = 0; c < n; c++) {
                    const uint32_t r = lcg(&seed);
                    a[c] = r % 3 == 0 ? 0 : (int64_t)(r >> 4) - (INT64_C(1) << 26);
                    o[c] = (int64_t)lcg(&seed) - (INT64_C(1) << 30);
                    want[c] = o[c] + a[c] * (INT64_C(1) << shift);
                    nonzero += a[c] != 0;
                }
                ck_assert_int_eq(kernel_count_nonzero_i64(a, n), nonzero);
                kernel_add_shifted_clear_i64(o, a, shift, n);
                ck_assert_msg(!memcmp(o, want, (size_t)n * sizeof *o), "fold shift %d n %d (%s)",
                              shift, n, kernel_path());
                for (int c = 0; c < n; c++)
                    ck_assert_int_eq(a[c], 0);
            }
    }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* The scatter's int32 accumulators (delta.c, where scatter_fits_int32 holds): axpy, count
 * and the shifted fold into int64 against int64 arithmetic, sums up to the int32 limits, zeros in every lane
 * position, shifts 0 to 31, tails not a whole vector. */
START_TEST(test_scatter_i32_kernels)
{
    uint64_t seed = 29;
    for (int mode = 0; mode < 2; mode++) {
        kernel_set_mode(mode ? KERNEL_PORTABLE : KERNEL_AUTO);
        for (int shift = 0; shift < 32; shift += 5)
            for (int n = 0; n <= 19; n++) {
                int32_t acc[19], w[19];
                int64_t want[19], o[19], want_o[19], nonzero = 0;
                const int32_t dx = (int32_t)(lcg(&seed) % 4001) - 2000;
                for (int c = 0; c < n; c++) {
                    w[c] = (int32_t)(lcg(&seed) % 20001) - 10000;
                    /* an accumulator whose sum lands at the int32 limits for c 0 and 1 */
                    acc[c] = c == 0 ? INT32_MAX - dx * w[c] * (dx * w[c] > 0)
                             : c == 1 ? INT32_MIN - dx * w[c] * (dx * w[c] < 0)
                             : c % 3 == 2 ? -dx * w[c]
                                          : (int32_t)(lcg(&seed) % 2000001) - 1000000;
                    want[c] = (int64_t)acc[c] + (int64_t)dx * w[c];
                    nonzero += want[c] != 0;
                    o[c] = (int64_t)lcg(&seed) - (INT64_C(1) << 30);
                    want_o[c] = o[c] + want[c] * (INT64_C(1) << shift);
                }
                kernel_axpy_i32(acc, dx, w, n);
                for (int c = 0; c < n; c++)
                    ck_assert_msg(acc[c] == want[c], "axpy_i32 dx %d n %d lane %d (%s)", dx, n, c,
                                  kernel_path());
                ck_assert_int_eq(kernel_count_nonzero_i32(acc, n), nonzero);
                kernel_add_shifted_clear_i32(o, acc, shift, n);
                ck_assert_msg(!memcmp(o, want_o, (size_t)n * sizeof *o),
                              "add_shifted_clear_i32 shift %d n %d (%s)", shift, n, kernel_path());
                for (int c = 0; c < n; c++)
                    ck_assert_int_eq(acc[c], 0);
            }
    }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* The float decoder's kernels against the plain loops they replace, bit for bit (memcmp:
 * signs of zero and NaN included), on 512-bit vectors where the processor has them, on
 * 256-bit ones and in plain C: the panel layout, one to six input vectors (the
 * four-at-a-time body and its remainder), three panels (a pass of two and one alone),
 * products and sums that round; the sparse sums over listed rows, one to four panels, for
 * a list of inputs; the nonzero lists. */
START_TEST(test_sum_rows_kernel)
{
    uint64_t seed = 17;
    enum { NX = 19, N = 24, NP = 32 };
    static double x[6 * NX], w[NX * N], acc[6 * N], want[6 * N], wp[NX * NP], sacc[3 * NP],
        swant[3 * NP], val[3 * NX];
    static int32_t idx[3 * NX];
    for (int i = 0; i < 6 * NX; i++)
        x[i] = ((double)lcg(&seed) - 1073741824.0) / 3e7;
    for (int i = 0; i < NX * N; i++)
        w[i] = ((double)lcg(&seed) - 1073741824.0) / 7e9;
    for (int i = 0; i < NX * NP; i++)
        wp[i] = ((double)lcg(&seed) - 1073741824.0) / 7e9;
    x[3] = -0.0, x[5] = NAN, w[7] = INFINITY, w[9] = -0.0, wp[12] = -0.0;
    const kernel_mode_t modes[3] = {KERNEL_AUTO, KERNEL_AVX2, KERNEL_PORTABLE};
    for (int mode = 0; mode < 3; mode++) {
        kernel_set_mode(modes[mode]);
        for (int sets = 1; sets <= 6; sets++) {
            for (int s = 0; s < sets; s++)
                for (int j = 0; j < N; j++) {
                    double a = 0;
                    for (int i = 0; i < NX; i++)
                        a += x[s * NX + i] * w[((j / 8) * NX + i) * 8 + j % 8];
                    want[s * N + j] = a;
                }
            kernel_sum_rows_f64(x, NX, sets, w, N, acc, N);
            ck_assert_msg(!memcmp(acc, want, (size_t)(sets * N) * sizeof *acc),
                          "sum_rows, %d sets (%s)", sets, kernel_path());
            /* the last two panels only, into rows of N: the first panel's columns untouched */
            for (int k = 0; k < 6 * N; k++)
                acc[k] = 5.0;
            kernel_sum_rows_f64(x, NX, sets, w + 8 * NX, N - 8, acc + 8, N);
            for (int s = 0; s < sets; s++)
                for (int j = 0; j < N; j++)
                    ck_assert_msg(j < 8 ? acc[s * N + j] == 5.0
                                        : !memcmp(&acc[s * N + j], &want[s * N + j], sizeof *acc),
                                  "sum_rows into a strided block, set %d column %d (%s)", s, j,
                                  kernel_path());
        }
        /* three sparse inputs: every row, some rows (zeros and NaN among the values), none */
        int n[3] = {0, 0, 0};
        const double *xs[3] = {x, x + NX, x + 2 * NX};
        for (int i = 0; i < NX; i++) {
            val[n[0]] = xs[0][i], idx[n[0]++] = i;
            if (i % 3 != 1 || i == 4)
                val[NX + n[1]] = xs[1][i], idx[NX + n[1]++] = i;
        }
        const sparse_rows_t rows = {val, idx, n, NX};
        const int32_t sets[3] = {2, 0, 1};
        const int64_t off[3] = {2 * NP, 0, NP};
        for (int panels = 1; panels <= 4; panels++) {
            for (int k = 0; k < 3 * NP; k++) /* beyond 8 * panels: left as it was */
                sacc[k] = swant[k] = k == 5 ? -0.0 : k == 9 ? NAN : x[k % NX] * 3;
            for (int s = 0; s < 3; s++)
                for (int t = 0; t < 8 * panels; t++) {
                    double a = 0;
                    for (int k = 0; k < n[s]; k++)
                        a += val[s * NX + k] * wp[((t / 8) * NX + idx[s * NX + k]) * 8 + t % 8];
                    swant[s * NP + t] += a;
                }
            kernel_add_sums_f64(&rows, sets, sacc, off, 3, wp, NX, panels);
            ck_assert_msg(!memcmp(sacc, swant, sizeof sacc), "add_sums, %d panels (%s)", panels,
                          kernel_path());
        }
        /* nonzero lists: zeros of both signs, NaN, a tail that is not a whole vector */
        double z[23];
        for (int i = 0; i < 23; i++)
            z[i] = i % 3 == 0 ? 0.0 : i % 5 == 0 ? -0.0 : x[i];
        z[7] = NAN;
        double zv[23];
        int32_t zi[23];
        const int nz = kernel_nonzero_f64(z, 23, zv, zi);
        int k = 0;
        for (int i = 0; i < 23; i++)
            if (z[i] != 0 || isnan(z[i])) {
                ck_assert_msg(k < nz && zi[k] == i && !memcmp(&zv[k], &z[i], sizeof *z),
                              "nonzero %d (%s)", i, kernel_path());
                k++;
            }
        ck_assert_int_eq(nz, k);
        ck_assert_int_eq(kernel_count_nonzero_f64(z, 23), k); /* the same rule, counted */
        double o[11], o2[11];
        for (int i = 0; i < 11; i++)
            o[i] = o2[i] = x[i + 20];
        kernel_add_f64(o, w + 30, 11);
        for (int i = 0; i < 11; i++)
            o2[i] += w[30 + i];
        ck_assert_msg(!memcmp(o, o2, sizeof o), "add_f64 (%s)", kernel_path());
        /* the float dense layer's and the sensitivity network's updates */
        kernel_axpy_f64(o, x[7], w + 50, 11);
        for (int i = 0; i < 11; i++)
            o2[i] += x[7] * w[50 + i];
        ck_assert_msg(!memcmp(o, o2, sizeof o), "axpy_f64 (%s)", kernel_path());
        /* several rows in turn (the float dense layer): 32-column blocks, a 4-column block
         * and a scalar tail (101 columns), rows listed out of order and repeated */
        {
            enum { RC = 101, LD = 104 };
            static double rw[10 * LD];
            double ro[RC], rwant[RC];
            const int32_t ridx[5] = {4, 0, 9, 4, 2};
            for (int i = 0; i < 10 * LD; i++)
                rw[i] = w[i % (NX * N)] * (1 + i / (NX * N));
            for (int j = 0; j < RC; j++)
                ro[j] = rwant[j] = j == 3 ? -0.0 : x[j % (6 * NX)];
            for (int j = 0; j < RC; j++)
                for (int k = 0; k < 5; k++)
                    rwant[j] += x[k + 60] * rw[ridx[k] * LD + j];
            kernel_axpy_rows_f64(ro, x + 60, ridx, 5, rw, LD, RC);
            ck_assert_msg(!memcmp(ro, rwant, sizeof ro), "axpy_rows_f64 (%s)", kernel_path());
        }
        kernel_axpy2_f64(o, x[8], w + 70, x[9], x + 40, 11);
        for (int i = 0; i < 11; i++)
            o2[i] += x[8] * w[70 + i] + x[9] * x[40 + i];
        ck_assert_msg(!memcmp(o, o2, sizeof o), "axpy2_f64 (%s)", kernel_path());
    }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* One transposed convolution (random weights, a share of zero inputs) under the four
 * kernel modes (512-bit vectors where the processor has them, 256-bit, plain C, the
 * reference loops), bit for bit (memcmp); returns how often the sparse sums ran in auto mode. */
static int64_t convt_case(int ih, int iw, int cin, int cout, int k, int stride, int same,
                          double zeros, uint64_t *seed)
{
    upset_err_t err = {{0}};
    model_t m;
    memset(&m, 0, sizeof m);
    m.n_layers = 1;
    m.layers = calloc(1, sizeof *m.layers);
    ck_assert_ptr_nonnull(m.layers);
    layer_t *L = &m.layers[0];
    L->kind = LAYER_CONV2D_TRANSPOSE;
    L->part = PART_DECODER;
    L->kh = L->kw = k;
    L->cin = cin;
    L->cout = cout;
    L->stride_h = L->stride_w = stride;
    L->pad_same = same;
    L->in = (shape3_t){ih, iw, cin};
    L->out = same ? (shape3_t){ih * stride, iw * stride, cout}
                  : (shape3_t){(ih - 1) * stride + k, (iw - 1) * stride + k, cout};
    L->use_bias = 1;
    L->act = ACT_RELU;
    L->n_weights = (int64_t)k * k * cin * cout;
    L->kernel = malloc((size_t)L->n_weights * sizeof *L->kernel);
    L->bias = malloc((size_t)cout * sizeof *L->bias);
    ck_assert(L->kernel && L->bias);
    for (int64_t i = 0; i < L->n_weights; i++)
        L->kernel[i] = (float)(((double)lcg(seed) - 1073741824.0) / 3e9);
    for (int c = 0; c < cout; c++)
        L->bias[c] = c == 0 ? -0.0f : (float)(((double)lcg(seed) - 1073741824.0) / 1e10);
    ck_assert_msg(model_prepare(&m, &err) == 0, "%s", err.msg);
    const int64_t n_in = shape_size(L->in), n_out = shape_size(L->out);
    double *x = malloc((size_t)n_in * sizeof *x), *y[4];
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < n_in; i++) {
        const double u = (double)lcg(seed) / 2147483648.0;
        x[i] = u < zeros ? (i % 2 ? -0.0 : 0.0) : ((double)lcg(seed) - 1073741824.0) / 1e9;
    }
    const tensor_t in = {TENSOR_REAL, 0, 1, n_in, NULL, x};
    const kernel_mode_t modes[4] = {KERNEL_AUTO, KERNEL_AVX2, KERNEL_PORTABLE, KERNEL_WIDE};
    int64_t sparse = 0;
    for (int r = 0; r < 4; r++) {
        y[r] = malloc((size_t)n_out * sizeof *y[r]);
        ck_assert_ptr_nonnull(y[r]);
        tensor_t out = {TENSOR_REAL, 0, 1, n_out, NULL, y[r]};
        kernel_set_mode(modes[r]);
        const int64_t before = kernel_add_sums_calls();
        ck_assert_msg(layer_forward(L, &in, &out, &err) == 0, "%s", err.msg);
        if (r == 0)
            sparse = kernel_add_sums_calls() - before;
    }
    kernel_set_mode(KERNEL_AUTO);
    ck_assert_msg(!memcmp(y[0], y[3], (size_t)n_out * sizeof *x) &&
                      !memcmp(y[1], y[3], (size_t)n_out * sizeof *x) &&
                      !memcmp(y[2], y[3], (size_t)n_out * sizeof *x),
                  "conv2d_transpose %dx%dx%d -> %d, %dx%d stride %d %s, %.0f%% zeros: the fast "
                  "ways differ from the reference", ih, iw, cin, cout, k, k, stride,
                  same ? "same" : "valid", 100 * zeros);
    for (int r = 0; r < 4; r++)
        free(y[r]);
    free(x);
    model_free(&m);
    return sparse;
}

/* The transposed convolution's dense and sparse sums against the reference loops, on
 * shapes where each is chosen: ECON-T Large's (32 channels, 800 columns), one output
 * channel (4 panels; its tap-by-tap adds, strides 1 to 3), 9 columns (2 panels, a partial
 * group), a valid padding with an odd channel count, two layers of more than one chunk
 * of pixels, and inputs from no zeros to all zeros. */
START_TEST(test_convt_paths)
{
    uint64_t seed = 29;
    int64_t sparse = 0;
    const double zeros[] = {0.0, 0.6, 0.95, 1.0};
    for (int z = 0; z < 4; z++) {
        int64_t s = convt_case(4, 4, 32, 32, 5, 2, 1, zeros[z], &seed);
        s += convt_case(8, 8, 64, 1, 5, 1, 1, zeros[z], &seed);
        s += convt_case(8, 8, 128, 1, 3, 1, 1, zeros[z], &seed);
        s += convt_case(3, 5, 40, 3, 3, 2, 0, zeros[z], &seed);
        /* more pixels than one chunk of the sparse way (64): outputs fed from both */
        s += convt_case(9, 9, 32, 32, 3, 2, 1, zeros[z], &seed);
        s += convt_case(10, 7, 32, 16, 4, 1, 0, zeros[z], &seed);
        /* one output channel with strides 2 and 3, both paddings (the tap-by-tap adds) */
        s += convt_case(3, 5, 7, 1, 3, 2, 0, zeros[z], &seed);
        s += convt_case(4, 4, 9, 1, 4, 2, 1, zeros[z], &seed);
        s += convt_case(3, 4, 5, 1, 5, 3, 1, zeros[z], &seed);
        sparse += s;
        if (z == 0)
            ck_assert_msg(s == 0, "the sparse sums ran on an input without zeros");
    }
    ck_assert_msg(sparse > 0, "the sparse sums never ran");
}
END_TEST

/* Layer L's output on x with L's activation softmax against softmax over each position's
 * channels (Keras's last axis) of its output with activation linear, z: y = exp(z - the
 * position's largest z) / the position's sum of those, and each position's y summing to 1
 * (a softmax over the whole tensor fails both). modes: kernel modes to run it under. */
static void softmax_case(layer_t *L, const double *x, const kernel_mode_t *modes, int n_modes)
{
    upset_err_t err = {{0}};
    const int64_t n_in = shape_size(L->in), n_out = shape_size(L->out), c = L->out.c;
    double *z = malloc((size_t)n_out * sizeof *z), *y = malloc((size_t)n_out * sizeof *y);
    ck_assert(z && y);
    const tensor_t in = {TENSOR_REAL, 0, 1, n_in, NULL, (double *)x};
    tensor_t zt = {TENSOR_REAL, 0, 1, n_out, NULL, z}, yt = {TENSOR_REAL, 0, 1, n_out, NULL, y};
    for (int r = 0; r < n_modes; r++) {
        kernel_set_mode(modes[r]);
        L->act = ACT_LINEAR;
        ck_assert_msg(layer_forward(L, &in, &zt, &err) == 0, "%s", err.msg);
        L->act = ACT_SOFTMAX;
        ck_assert_msg(layer_forward(L, &in, &yt, &err) == 0, "%s", err.msg);
        for (int64_t p = 0; p < n_out; p += c) {
            double mx = -INFINITY, sum = 0, total = 0;
            for (int64_t k = p; k < p + c; k++)
                mx = fmax(mx, z[k]);
            for (int64_t k = p; k < p + c; k++)
                sum += exp(z[k] - mx);
            for (int64_t k = p; k < p + c; k++) {
                const double want = exp(z[k] - mx) / sum;
                ck_assert_msg(fabs(y[k] - want) <= 1e-15,
                              "%s (%d,%d,%d) mode %d: softmax output %lld is %.17g, the "
                              "softmax over its position's %lld channels %.17g",
                              L->name, L->out.h, L->out.w, L->out.c, (int)modes[r],
                              (long long)k, y[k], (long long)c, want);
                total += y[k];
            }
            ck_assert_msg(fabs(total - 1) <= 1e-14, "%s: position %lld sums to %.17g",
                          L->name, (long long)(p / c), total);
        }
    }
    kernel_set_mode(KERNEL_AUTO);
    free(z);
    free(y);
}

/* One layer in a model of its own (prepared: the dense and transposed kernels' copies),
 * random weights and bias, input and output shapes in, out. */
static void softmax_layer(model_t *m, layer_kind_t kind, const char *name, shape3_t in,
                          shape3_t out, int k, int stride, int same, uint64_t *seed)
{
    upset_err_t err = {{0}};
    memset(m, 0, sizeof *m);
    m->n_layers = 1;
    m->layers = calloc(1, sizeof *m->layers);
    ck_assert_ptr_nonnull(m->layers);
    layer_t *L = &m->layers[0];
    L->kind = kind;
    snprintf(L->name, sizeof L->name, "%s", name);
    L->in = in;
    L->out = out;
    if (kind != LAYER_ACTIVATION) {
        L->kh = L->kw = k;
        L->stride_h = L->stride_w = stride;
        L->pad_same = same;
        L->cin = kind == LAYER_DENSE ? (int)shape_size(in) : in.c;
        L->cout = kind == LAYER_DENSE ? (int)shape_size(out) : out.c;
        L->depth_mult = kind == LAYER_DEPTHWISE_CONV2D ? out.c / in.c : 0;
        L->n_weights = (int64_t)k * k * L->cin *
                       (kind == LAYER_DEPTHWISE_CONV2D ? L->depth_mult : L->cout);
        L->use_bias = 1;
        L->kernel = malloc((size_t)L->n_weights * sizeof *L->kernel);
        L->bias = malloc((size_t)L->cout * sizeof *L->bias);
        ck_assert(L->kernel && L->bias);
        for (int64_t i = 0; i < L->n_weights; i++)
            L->kernel[i] = (float)(((double)lcg(seed) - 1073741824.0) / 4e8);
        for (int c = 0; c < L->cout; c++)
            L->bias[c] = (float)(((double)lcg(seed) - 1073741824.0) / 1e9);
    }
    ck_assert_msg(model_prepare(m, &err) == 0, "%s", err.msg);
}

/* Softmax, fused or a layer of its own, normalises each position's channels (Keras's
 * softmax over the last axis): conv2d, depthwise_conv2d, conv2d_transpose (its fast
 * ways and its reference loops), an activation on an (h, w, c) tensor and on a vector,
 * and dense (a vector: the whole output). */
START_TEST(test_softmax_per_position)
{
    uint64_t seed = 41;
    const kernel_mode_t auto_only[1] = {KERNEL_AUTO};
    const kernel_mode_t convt_modes[4] = {KERNEL_AUTO, KERNEL_AVX2, KERNEL_PORTABLE,
                                          KERNEL_WIDE};
    double x[5 * 5 * 4];
    for (int i = 0; i < 5 * 5 * 4; i++)
        x[i] = ((double)lcg(&seed) - 1073741824.0) / 3e8;
    model_t m;
    softmax_layer(&m, LAYER_CONV2D, "conv2d", (shape3_t){5, 5, 4}, (shape3_t){3, 3, 3}, 3, 2, 1,
                  &seed);
    softmax_case(&m.layers[0], x, auto_only, 1);
    model_free(&m);
    softmax_layer(&m, LAYER_DEPTHWISE_CONV2D, "depthwise", (shape3_t){5, 5, 4},
                  (shape3_t){5, 5, 8}, 3, 1, 1, &seed);
    softmax_case(&m.layers[0], x, auto_only, 1);
    model_free(&m);
    softmax_layer(&m, LAYER_CONV2D_TRANSPOSE, "conv2d_transpose", (shape3_t){5, 5, 4},
                  (shape3_t){10, 10, 3}, 3, 2, 1, &seed);
    softmax_case(&m.layers[0], x, convt_modes, 4);
    model_free(&m);
    softmax_layer(&m, LAYER_ACTIVATION, "activation", (shape3_t){5, 5, 4}, (shape3_t){5, 5, 4},
                  0, 0, 0, &seed);
    softmax_case(&m.layers[0], x, auto_only, 1);
    model_free(&m);
    softmax_layer(&m, LAYER_ACTIVATION, "activation_vector", (shape3_t){1, 1, 100},
                  (shape3_t){1, 1, 100}, 0, 0, 0, &seed);
    softmax_case(&m.layers[0], x, auto_only, 1);
    model_free(&m);
    softmax_layer(&m, LAYER_DENSE, "dense", (shape3_t){1, 1, 100}, (shape3_t){1, 1, 7}, 1, 1, 0,
                  &seed);
    softmax_case(&m.layers[0], x, auto_only, 1);
    model_free(&m);
}
END_TEST

/* The vector ReLU against the comparison it replaces, bit for bit: signs of zero, NaN,
 * infinities, subnormals, and a tail that is not a whole vector. */
START_TEST(test_relu_kernel)
{
    double v[23], want[23];
    const double special[] = {-0.0, 0.0, NAN, -NAN, INFINITY, -INFINITY, 4.9e-324, -4.9e-324,
                              1e-310, -1e-310, 1.0, -1.0};
    uint64_t seed = 13;
    for (int mode = 0; mode < 2; mode++) {
        kernel_set_mode(mode ? KERNEL_PORTABLE : KERNEL_AUTO);
        for (int i = 0; i < 23; i++) {
            v[i] = i < 12 ? special[i] : ((double)lcg(&seed) - 1073741824.0) / 1e5;
            want[i] = v[i] > 0 ? v[i] : 0;
        }
        kernel_relu_f64(v, 23);
        ck_assert_msg(!memcmp(v, want, sizeof v), "relu differs (%s)", kernel_path());
    }
    kernel_set_mode(KERNEL_AUTO);
}
END_TEST

/* The vectorised quantizer equals the per-value one on ties, near-ties, clipping,
 * infinities, NaN and float32 rounding, for signed and unsigned quantizers. */
START_TEST(test_quantize_paths)
{
    const quant_t qs[] = {{QUANT_RELU, 8, 2, 0, 0},  {QUANT_BITS, 10, 3, 1, 0},
                          {QUANT_RELU, 13, 3, 0, 0}, {QUANT_RELU, 8, 2, 0, 3},
                          {QUANT_RELU, 6, 0, 0, 1},
                          {QUANT_BITS, 16, 0, 1, 0}, {QUANT_BITS, 31, 30, 1, 0}};
    enum { N = 4099 };
    static double x[N];
    static int64_t got[N], want[N];
    uint64_t seed = 5;
    for (size_t qi = 0; qi < sizeof qs / sizeof *qs; qi++) {
        const quant_t *q = &qs[qi];
        const double step = ldexp(1.0, -quant_frac(q));
        for (int i = 0; i < N; i++) {
            uint64_t r = lcg(&seed);
            double base = ((double)(int64_t)(r % 4096) - 2048) * step * (1 << (r % 5));
            switch (i % 6) {
            case 0: x[i] = base + 0.5 * step; break;                      /* a tie */
            case 1: x[i] = nextafter(base + 0.5 * step, INFINITY); break; /* near a tie */
            case 2: x[i] = base * 1e3; break;                             /* clipping */
            case 3: x[i] = base + 1e-9 * (double)(r % 97); break;          /* float32 rounding */
            default: x[i] = base;
            }
        }
        x[0] = NAN;
        x[1] = INFINITY;
        x[2] = -INFINITY;
        x[3] = -0.0;
        x[4] = 1e300;
        quant_codes_from_floats(q, x, N, want);
        kernel_set_mode(KERNEL_AUTO);
        kernel_quantize(q, x, N, got);
        for (int i = 0; i < N; i++)
            ck_assert_msg(got[i] == want[i], "%s: x = %.17g: %lld != %lld", kernel_path(), x[i],
                          (long long)got[i], (long long)want[i]);
    }
}
END_TEST

/* The vectorised rescale of integer accumulators equals the per-value quant_code_from_fixed
 * on ties, near-ties (both sides), clipping, signs, zero and the int64 extremes, for
 * shifts that round (1 .. 61) and ones that do not, signed, unsigned and leaky. */
START_TEST(test_quantize_fixed_paths)
{
    const quant_t qs[] = {{QUANT_RELU, 8, 2, 0, 0}, {QUANT_BITS, 8, 2, 1, 0},
                          {QUANT_BITS, 16, 0, 1, 0}, {QUANT_RELU, 8, 2, 0, 3},
                          {QUANT_BITS, 31, 30, 1, 0}, {QUANT_RELU, 1, 1, 0, 0}};
    const int shifts[] = {1, 2, 5, 13, 31, 47, 61, 0, -3, 62, 70};
    enum { N = 4099 };
    static int64_t x[N], got[N];
    uint64_t seed = 11;
    for (size_t qi = 0; qi < sizeof qs / sizeof *qs; qi++)
        for (size_t si = 0; si < sizeof shifts / sizeof *shifts; si++) {
            const quant_t *q = &qs[qi];
            const int s = shifts[si], acc_frac = quant_frac(q) + s;
            const int e = s > 0 && s < 62 ? s : 1;
            for (int i = 0; i < N; i++) {
                /* a multiple of 2^e, code-sized but now and then scaled up to clip, and
                 * below 2^61 in magnitude (no overflow at the ties below) */
                const int64_t top = e <= 48 ? 4096 : INT64_C(1) << (61 - e);
                const int64_t m = ((int64_t)(lcg(&seed) % 1024) - 512) *
                                  (INT64_C(1) << (lcg(&seed) % 4)) % top;
                const int64_t base = m * (INT64_C(1) << e);
                const int64_t r = (int64_t)lcg(&seed) << 31 | (int64_t)lcg(&seed);
                switch (i % 7) {
                case 0: x[i] = base + (INT64_C(1) << (e - 1)); break;     /* a tie */
                case 1: x[i] = base + (INT64_C(1) << (e - 1)) + 1; break; /* just above */
                case 2: x[i] = base + (INT64_C(1) << (e - 1)) - 1; break; /* just below */
                case 3: /* anything within 2^10 steps of zero */
                    x[i] = r % (INT64_C(1) << (e < 52 ? e + 10 : 61)) -
                           (INT64_C(1) << (e < 52 ? e + 9 : 60));
                    break;
                case 4: x[i] = (int64_t)((uint64_t)r << 2) ^ (int64_t)lcg(&seed); break; /* any */
                default: x[i] = base;
                }
            }
            const int64_t special[] = {0, -1, 1, INT64_MIN, INT64_MAX, INT64_MIN + 1,
                                       INT64_C(1) << 62, -(INT64_C(1) << 62)};
            for (size_t k = 0; k < sizeof special / sizeof *special; k++)
                x[N - 1 - k] = special[k];
            kernel_set_mode(KERNEL_AUTO);
            kernel_quantize_fixed(q, x, N, acc_frac, got);
            for (int i = 0; i < N; i++)
                ck_assert_msg(got[i] == quant_code_from_fixed(q, x[i], acc_frac),
                              "%s, quantizer %zu, shift %d: x = %lld: %lld != %d", kernel_path(),
                              qi, s, (long long)x[i], (long long)got[i],
                              quant_code_from_fixed(q, x[i], acc_frac));
        }
}
END_TEST

/* Every output of every layer, for n samples, under one kernel mode. */
static int64_t n_unwritten; /* batch norms left unwritten by a fused pass (run_all) */

static double *run_all(const model_t *m, const dataset_t *d, int64_t n, kernel_mode_t mode,
                       int64_t *len)
{
    upset_err_t err = {{0}};
    engine_t e;
    kernel_set_mode(mode);
    ck_assert_msg(engine_create(&e, m, d->input_frac, &err) == 0, "%s", err.msg);
    int64_t per = 0;
    for (int l = 0; l < m->n_layers; l++)
        per += e.out[l].n;
    double *v = malloc((size_t)(n * per) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(engine_run(&e, d->x + i * shape_size(d->shape), &err) == 0, "%s", err.msg);
        for (int l = 0; l < m->n_layers; l++) {
            /* a batch norm fused with its quantizer (whose codes are compared) is not
             * written: its output alone, for the comparison */
            n_unwritten += e.unwritten[l];
            if (e.unwritten[l])
                ck_assert_int_eq(layer_forward(&m->layers[l], engine_layer_input(&e, l), &e.out[l],
                                               &err), 0);
        }
        for (int l = 0; l < m->n_layers; l++)
            for (int64_t k = 0; k < e.out[l].n; k++)
                v[at++] = tensor_value(&e.out[l], k);
    }
    engine_free(&e);
    kernel_set_mode(KERNEL_AUTO);
    *len = at;
    return v;
}

/* Lean runs (engine_run_lean) give every sample the output of a full run, and leave
 * unwritten only what they flag; a later run starting at any layer, as the delta and
 * cached paths start them, recomputes what it needs: the same output. Returns how many
 * outputs the lean runs left unwritten beyond the fused batch norms. */
static int64_t lean_identical(const char *model, const dataset_t *d, int64_t n)
{
    model_t m;
    engine_t e;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load(model, &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(engine_create(&e, &m, d->input_frac, &err) == 0, "%s", err.msg);
    const int last = m.n_layers - 1;
    const int64_t n_out = e.out[last].n;
    double *want = malloc((size_t)n_out * sizeof *want);
    ck_assert_ptr_nonnull(want);
    int64_t skipped = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *x = d->x + i * shape_size(d->shape);
        ck_assert_int_eq(engine_run(&e, x, &err), 0);
        for (int64_t k = 0; k < n_out; k++)
            want[k] = tensor_value(&e.out[last], k);
        for (int start = 0; start <= last; start++) {
            /* another sample's full run (what a lean run leaves unwritten then holds its
             * values), a lean run of this one, then a plain run from layer `start` */
            ck_assert_int_eq(engine_run(&e, d->x + (i + 1) % n * shape_size(d->shape), &err), 0);
            engine_set_input(&e, x);
            ck_assert_int_eq(engine_run_lean(&e, 0, &err), 0);
            for (int l = 0; start == 0 && l <= last; l++)
                skipped += e.unwritten[l] && !(m.layers[l].kind == LAYER_BATCHNORM);
            for (int64_t k = 0; start == 0 && k < n_out; k++)
                ck_assert_msg(tensor_value(&e.out[last], k) == want[k], "%s: sample %lld lean",
                              model, (long long)i);
            ck_assert_int_eq(engine_run_layers(&e, start, last, &err), 0);
            for (int64_t k = 0; k < n_out; k++)
                ck_assert_msg(tensor_value(&e.out[last], k) == want[k],
                              "%s: sample %lld, a run from layer %d after a lean one", model,
                              (long long)i, start);
        }
    }
    free(want);
    engine_free(&e);
    model_free(&m);
    printf("%s: %lld samples: lean runs == full runs, and runs from every layer after them "
           "(%lld outputs left unwritten)\n",
           model, (long long)n, (long long)skipped);
    return skipped;
}

static void paths_identical(const char *model, const dataset_t *d, int64_t n)
{
    model_t m;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load(model, &m, &err) == 0, "%s", err.msg);
    int64_t la, lv, lp, lw, calls = kernel_dot16_calls(), sparse = kernel_add_sums_calls();
    n_unwritten = 0;
    double *a = run_all(&m, d, n, KERNEL_AUTO, &la);
    ck_assert_msg(kernel_dot16_calls() > calls, "%s: the narrow kernels were not used", model);
    if (!strcmp(model, "models/econt_large.h5")) /* its decoder's ReLU leaves many zeros */
        ck_assert_msg(kernel_add_sums_calls() > sparse, "%s: the sparse sums were not used",
                      model);
    const int64_t fused = n_unwritten;
    kernel_set_mode(KERNEL_AUTO);
    const char *path = kernel_path(); /* avx2+vnni where the processor has VNNI */
    double *v = run_all(&m, d, n, KERNEL_AVX2, &lv);
    double *p = run_all(&m, d, n, KERNEL_PORTABLE, &lp);
    double *w = run_all(&m, d, n, KERNEL_WIDE, &lw);
    ck_assert_int_eq(la, lw);
    ck_assert_int_eq(lv, lw);
    ck_assert_int_eq(lp, lw);
    int64_t diff = 0;
    for (int64_t k = 0; k < la; k++)
        diff += memcmp(&a[k], &w[k], sizeof *a) != 0 || memcmp(&v[k], &w[k], sizeof *a) != 0 ||
                memcmp(&p[k], &w[k], sizeof *a) != 0;
    printf("%s: %lld samples, %lld layer outputs: %s/avx2/portable/wide differ in %lld (%lld "
           "batch norm + quantizer passes fused)\n",
           model, (long long)n, (long long)la, path, (long long)diff, (long long)fused);
    if (!strcmp(model, "models/cifar10.h5") && !strncmp(path, "avx2", 4))
        ck_assert_msg(fused > 0, "cifar10: the fused batch norm + quantizer was not taken");
    ck_assert_int_eq(diff, 0);
    free(a);
    free(v);
    free(p);
    free(w);
    model_free(&m);
}

/* add / concatenate against C's own float32 arithmetic (SSE: FLT_EVAL_METHOD 0) and
 * brute-force integer sums, on random values and on sums float32 must round */
START_TEST(test_merge_layers)
{
    upset_err_t err = {0};
    enum { N = 4096 };
    static double ra[N], rb[N], rout[N];
    static int64_t fa[N], fb[N], fout[N], cat[2 * N];
    srand(7);
    for (int i = 0; i < N; i++) {
        /* float32 values, some far apart in magnitude (the sum must round) */
        ra[i] = (float)ldexp((double)rand() / RAND_MAX - 0.5, rand() % 40 - 20);
        rb[i] = (float)ldexp((double)rand() / RAND_MAX - 0.5, rand() % 40 - 20);
        fa[i] = rand() % 4001 - 2000;
        fb[i] = rand() % 4001 - 2000;
    }
    ra[0] = 1.0, rb[0] = ldexp(1.0, -30); /* float32: 1 + 2^-30 rounds to 1 */
    tensor_t a_real = {TENSOR_REAL, 0, 1, N, NULL, ra}, b_real = {TENSOR_REAL, 0, 1, N, NULL, rb};
    tensor_t a_fix = {TENSOR_FIXED, 3, 0.125, N, fa, NULL}, b_fix = {TENSOR_FIXED, 5, 1.0 / 32, N, fb, NULL};
    layer_t L;
    memset(&L, 0, sizeof L);
    L.kind = LAYER_ADD;
    L.n_inputs = 2;
    L.out = (shape3_t){1, 1, N};
    tensor_t out_real = {TENSOR_REAL, 0, 1, N, NULL, rout};
    const tensor_t *real_fixed[2] = {&a_real, &b_fix};
    ck_assert_int_eq(layer_merge(&L, real_fixed, &out_real, &err), 0);
    for (int i = 0; i < N; i++) {
        const float want = (float)ra[i] + (float)((double)fb[i] / 32);
        ck_assert_msg(rout[i] == (double)want, "add %d: %.17g, float32 %.17g", i, rout[i], want);
    }
    const tensor_t *real_real[2] = {&a_real, &b_real};
    ck_assert_int_eq(layer_merge(&L, real_real, &out_real, &err), 0);
    ck_assert(rout[0] == 1.0);
    for (int i = 0; i < N; i++)
        ck_assert(rout[i] == (double)((float)ra[i] + (float)rb[i]));
    L.part = PART_DECODER; /* the decoder runs in double */
    ck_assert_int_eq(layer_merge(&L, real_real, &out_real, &err), 0);
    ck_assert(rout[0] == 1.0 + ldexp(1.0, -30));
    L.part = PART_MAIN;
    /* fixed + fixed at the finer frac (5): a * 4 + b */
    tensor_t out_fix = {TENSOR_FIXED, 5, 1.0 / 32, N, fout, NULL};
    const tensor_t *fixed[2] = {&a_fix, &b_fix};
    ck_assert_int_eq(layer_merge(&L, fixed, &out_fix, &err), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(fout[i], fa[i] * 4 + fb[i]);
    /* concatenate (h, w) = (1, N / 2): per pixel 2 channels of a, then 2 of b */
    L.kind = LAYER_CONCATENATE;
    L.out = (shape3_t){1, N / 2, 4};
    tensor_t out_cat = {TENSOR_FIXED, 5, 1.0 / 32, 2 * N, cat, NULL};
    ck_assert_int_eq(layer_merge(&L, fixed, &out_cat, &err), 0);
    for (int p = 0; p < N / 2; p++)
        for (int c = 0; c < 2; c++) {
            ck_assert_int_eq(cat[p * 4 + c], fa[p * 2 + c] * 4);
            ck_assert_int_eq(cat[p * 4 + 2 + c], fb[p * 2 + c]);
        }
}
END_TEST

/* The first n_c10 bundled CIFAR-10 test images and the first n_hg HGCal inputs. */
static void load_bundled(dataset_t *c10, int64_t n_c10, dataset_t *hg, int64_t n_hg)
{
    upset_err_t err = {{0}};
    ck_assert_msg(dataset_load_cifar10("data/cifar10/test_batch_first1017.bin",
                                       "data/cifar10/test_labels_10000.bin", 0, n_c10, c10,
                                       &err) == 0,
                  "%s", err.msg);
    const char *const files[] = {"data/hgcal/ttbar_0PU.csv"};
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, n_hg, hg, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(hg->n, n_hg);
}

START_TEST(test_kernel_paths_identical)
{
    dataset_t c10, hg;
    load_bundled(&c10, 40, &hg, 300);
    paths_identical("models/cifar10.h5", &c10, 40);
    paths_identical("models/rn07.h5", &c10, 40);
    paths_identical("models/econt_small.h5", &hg, 300);
    paths_identical("models/econt_medium.h5", &hg, 300);
    paths_identical("models/econt_medium5.h5", &hg, 300);
    paths_identical("models/econt_large.h5", &hg, 300);
    const int64_t lean = lean_identical("models/cifar10.h5", &c10, 12);
    if (!strncmp(kernel_path(), "avx2", 4)) /* the fused row kernel leaves them */
        ck_assert_msg(lean > 0, "cifar10: lean runs wrote everything");
    lean_identical("models/rn07.h5", &c10, 12);
    lean_identical("models/econt_medium.h5", &hg, 40);
    lean_identical("models/econt_large.h5", &hg, 40);
    dataset_free(&c10);
    dataset_free(&hg);
}
END_TEST

/* layer_feeds against the forward pass: flipping bits of sampled weights of every layer the
 * delta path scatters through (on real inputs), the outputs that change are exactly the fed
 * ones whose input is nonzero, and each changes by (new weight - old weight) x that input. */
static void feeds_match_forward(const char *path, const dataset_t *d)
{
    model_t m;
    engine_t e;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load(path, &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(engine_create(&e, &m, d->input_frac, &err) == 0, "%s", err.msg);
    ck_assert_msg(engine_run(&e, d->x, &err) == 0, "%s", err.msg);
    int checked = 0;
    for (int l = 0; l < m.n_layers; l++) {
        layer_t *L = &m.layers[l];
        if (!L->faultable || !layer_has_feeds(L) || L->act != ACT_LINEAR ||
            e.out[l].kind != TENSOR_FIXED)
            continue;
        const tensor_t *x = engine_layer_input(&e, l), *y = &e.out[l];
        double *base = malloc((size_t)y->n * sizeof *base);
        int64_t *op = malloc((size_t)y->n * sizeof *op), *ip = malloc((size_t)y->n * sizeof *ip);
        unsigned char *fed = calloc((size_t)y->n, 1);
        ck_assert(base && op && ip && fed);
        for (int64_t k = 0; k < y->n; k++)
            base[k] = tensor_value(y, k);
        for (int t = 0; t < 24; t++) {
            const int64_t w = (int64_t)(((uint64_t)t * 2654435761u + 17) % (uint64_t)L->n_weights);
            const bitaddr_t a = {l, w, t % L->kq.bits};
            const int32_t flipped = layer_weight_int(L, w, bitspace_flipped_code(&m, a));
            const double dw =
                quant_value(&L->kq, flipped) - quant_value(&L->kq, layer_weight_code(L, w));
            const int64_t n = layer_feeds(L, w, op, ip);
            bitspace_flip(&m, a);
            ck_assert_msg(engine_run_layers(&e, l, l, &err) == 0, "%s", err.msg);
            for (int64_t k = 0; k < n; k++) {
                fed[op[k]] = 1;
                ck_assert_msg(tensor_value(y, op[k]) - base[op[k]] == dw * tensor_value(x, ip[k]),
                              "%s layer %s weight %lld: output %lld changed by %g, not %g x %g",
                              path, L->name, (long long)w, (long long)op[k],
                              tensor_value(y, op[k]) - base[op[k]], dw, tensor_value(x, ip[k]));
            }
            for (int64_t k = 0; k < y->n; k++) {
                ck_assert_msg(fed[k] || tensor_value(y, k) == base[k],
                              "%s layer %s weight %lld: output %lld changed but is not fed",
                              path, L->name, (long long)w, (long long)k);
                fed[k] = 0;
            }
            bitspace_flip(&m, a);
            checked++;
        }
        ck_assert_msg(engine_run_layers(&e, l, l, &err) == 0, "%s", err.msg);
        for (int64_t k = 0; k < y->n; k++)
            ck_assert(tensor_value(y, k) == base[k]);
        free(base), free(op), free(ip), free(fed);
    }
    ck_assert_msg(checked > 0, "%s: no layer the delta path scatters through", path);
    engine_free(&e);
    model_free(&m);
}

/* Every kind's registry row is whole (a row missing a function would crash, not fail). */
START_TEST(test_registry_whole)
{
    const char *gap = layer_registry_gap();
    ck_assert_msg(gap == NULL, "%s", gap);
}
END_TEST

START_TEST(test_feeds_brute_force)
{
    dataset_t c10, hg;
    load_bundled(&c10, 1, &hg, 1);
    feeds_match_forward("models/cifar10.h5", &c10);
    feeds_match_forward("models/rn07.h5", &c10);
    feeds_match_forward("models/econt_large.h5", &hg);
    feeds_match_forward("models/econt_medium.h5", &hg);
    dataset_free(&c10);
    dataset_free(&hg);
}
END_TEST

/* The float decoder's weight panels and rows, their model copies and every tensor start on
 * a 64-byte line (upset_calloc_lines), so its 512-bit loads and adds never span two lines
 * (rows that did cost ECON-T Large's first transposed convolution a fifth of its time);
 * the allocator zeroes what it gives and refuses a size that overflows, by message. */
static int on_line(const void *p) { return (uintptr_t)p % 64 == 0; }

START_TEST(test_cache_line_arrays)
{
    upset_err_t err = {{0}};
    double *p = upset_calloc_lines(1001, sizeof *p, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert(on_line(p));
    for (int i = 0; i < 1001; i++)
        ck_assert(p[i] == 0);
    free(p);
    ck_assert_ptr_null(upset_calloc_lines(SIZE_MAX / 4, 8, &err));
    ck_assert_msg(strstr(err.msg, "out of memory"), "%s", err.msg);
    upset_err_t zero = {{0}}; /* a zero size counts as 1 byte, so SIZE_MAX of them overflow too */
    ck_assert_ptr_null(upset_calloc_lines(SIZE_MAX, 0, &zero));
    ck_assert_msg(strstr(zero.msg, "out of memory"), "%s", zero.msg);
    upset_err_t ok = {{0}};
    model_t m, copy;
    engine_t e;
    ck_assert_msg(model_load("models/econt_large.h5", &m, &ok) == 0, "%s", ok.msg);
    ck_assert_msg(model_clone(&m, &copy, &ok) == 0, "%s", ok.msg);
    ck_assert_msg(engine_create(&e, &m, -1, &ok) == 0, "%s", ok.msg);
    int weights = 0;
    for (int i = 0; i < m.n_layers; i++) {
        const layer_t *L = &m.layers[i], *C = &copy.layers[i];
        if (L->convt_w || L->dense_w) {
            ck_assert_msg(on_line(L->convt_w ? L->convt_w : L->dense_w) &&
                              on_line(C->convt_w ? C->convt_w : C->dense_w),
                          "layer %s: decoder weights off a cache line", L->name);
            weights++;
        }
        ck_assert_msg(on_line(e.out[i].real ? (void *)e.out[i].real : (void *)e.out[i].fixed),
                      "layer %s: output tensor off a cache line", L->name);
    }
    ck_assert_int_eq(weights, 3); /* de_dense_final and both transposed convolutions */
    engine_free(&e);
    model_free(&copy);
    model_free(&m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_zcu102_vectors);
    tcase_add_test(tc, test_cifar10_correct_indices);
    tcase_add_test(tc, test_dot16_brute_force);
    tcase_add_test(tc, test_pairs16_brute_force);
    tcase_add_test(tc, test_conv_lanes_brute_force);
    tcase_add_test(tc, test_fixed_out_brute_force);
    tcase_add_test(tc, test_narrow16_range);
    tcase_add_test(tc, test_batchnorm_kernel);
    tcase_add_test(tc, test_linear_bnq_row_kernel);
    tcase_add_test(tc, test_relu_kernel);
    tcase_add_test(tc, test_axpy_kernel);
    tcase_add_test(tc, test_fold_kernels);
    tcase_add_test(tc, test_scatter_i32_kernels);
    tcase_add_test(tc, test_sum_rows_kernel);
    tcase_add_test(tc, test_convt_paths);
    tcase_add_test(tc, test_softmax_per_position);
    tcase_add_test(tc, test_quantize_paths);
    tcase_add_test(tc, test_quantize_fixed_paths);
    tcase_add_test(tc, test_kernel_paths_identical);
    tcase_add_test(tc, test_merge_layers);
    tcase_add_test(tc, test_feeds_brute_force);
    tcase_add_test(tc, test_registry_whole);
    tcase_add_test(tc, test_cache_line_arrays);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
