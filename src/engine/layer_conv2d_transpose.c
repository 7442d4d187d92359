/* Transposed convolution as TensorFlow defines it, in double (the float decoder). */
#include <string.h>

#include "layer.h"
#include "upset/kernels.h"

/* Each of n rows of out = the bias (cout values): the first row, then the filled part
 * copied after itself, doubling (a few calls, whatever cout is). */
static void fill_rows(double *out, const layer_t *L, int64_t n)
{
    const int64_t total = n * L->cout;
    for (int c = 0; c < L->cout; c++)
        out[c] = bias_value(L, c);
    for (int64_t done = L->cout; done < total; done *= 2)
        memcpy(out + done, out, (size_t)(done < total - done ? done : total - done) * sizeof *out);
}

/* The input positions i (0 <= i < n_in) whose tap at offset `off` (kernel index less
 * padding) lands inside the output: 0 <= i * stride + off < n_out; empty when lo > hi. */
static inline void feeding_range(int off, int stride, int n_in, int n_out, int *lo, int *hi)
{
    *lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    const int top = n_out - 1 - off; /* i * stride <= top */
    *hi = top < 0 ? -1 : top / stride < n_in - 1 ? top / stride : n_in - 1;
}

/* The taps of input pixel p that land inside the output: kernel rows kh0..kh1 and
 * columns kw0..kw1 (none when kh0 > kh1 or kw0 > kw1); tap (kh, kw) feeds output pixel
 * (oh0 + kh, ow0 + kw). Inline, as add_pixel: a call per pixel cost ECON-T Medium's
 * oracle 12 %. */
typedef struct {
    int kh0, kh1, kw0, kw1, oh0, ow0;
} tap_window_t;

static inline tap_window_t tap_window(const layer_t *L, int64_t p, int ph, int pw)
{
    tap_window_t t;
    t.oh0 = (int)(p / L->in.w) * L->stride_h - ph;
    t.ow0 = (int)(p % L->in.w) * L->stride_w - pw;
    feeding_range(t.oh0, 1, L->kh, L->out.h, &t.kh0, &t.kh1); /* kernel rows, columns */
    feeding_range(t.ow0, 1, L->kw, L->out.w, &t.kw0, &t.kw1);
    return t;
}

/* Scratch of the fast paths (grown on demand, kept). */
static struct {
    double *x, *acc, *w, *val;
    int32_t *idx;
    int *nnz;
    size_t cap_x, cap_acc, cap_w, cap_val, cap_idx, cap_nnz;
} scratch;

/* Adds input pixel p's sums (acc: one per tap and output channel) to the outputs its
 * taps inside the image feed, in the reference order; the taps of one kernel row feed
 * consecutive output columns, so one contiguous add per kernel row. */
static inline void add_pixel(const layer_t *L, tap_window_t t, const double *acc, double *out)
{
    const int cout = L->cout;
    if (t.kw0 > t.kw1)
        return;
    const int64_t len = (int64_t)(t.kw1 - t.kw0 + 1) * cout;
    for (int kh = t.kh0; kh <= t.kh1; kh++) {
        double *o = out + ((int64_t)(t.oh0 + kh) * L->out.w + t.ow0 + t.kw0) * cout;
        const double *a = acc + ((int64_t)kh * L->kw + t.kw0) * cout;
        if (len >= 8)
            kernel_add_f64(o, a, len);
        else /* a few values (one output channel): no call */
            for (int64_t i = 0; i < len; i++)
                o[i] += a[i];
    }
}

/* Input pixels handed to the dense kernel at a time (they share its weight loads). */
enum { CONVT_BLOCK = 4 };

/* Dense sums: every input channel of CONVT_BLOCK pixels against all the weights. */
static void convt_dense(const layer_t *L, const double *x, int ph, int pw, double *out)
{
    const int64_t nacc = L->convt_cols, n_pix = (int64_t)L->in.h * L->in.w;
    for (int64_t p0 = 0; p0 < n_pix; p0 += CONVT_BLOCK) {
        const int nb = (int)(n_pix - p0 < CONVT_BLOCK ? n_pix - p0 : CONVT_BLOCK);
        kernel_sum_rows_f64(x + p0 * L->cin, L->cin, nb, L->convt_w, nacc, scratch.acc, nacc);
        for (int b = 0; b < nb; b++)
            add_pixel(L, tap_window(L, p0 + b, ph, pw), scratch.acc + b * nacc, out);
    }
}

/* Output channels per sparse kernel call (kernels.h: up to 4 panels of 8), and input
 * pixels listed at once. */
enum { CONVT_GROUP = 32, CONVT_CHUNK = 64 };

/* Which pixels each tap feeds and where, for one geometry: it depends on the shapes
 * alone, so it is worked out once and kept (the oracle runs one decoder layer millions of
 * times). Calls are in the order they run: chunk by chunk, and in each the taps from the
 * last kernel row and column to the first; call k covers entries first[k] .. first[k+1]-1
 * of set (a pixel's index within its chunk) and off (its tap's output offset). */
static struct {
    int key[11], valid;
    int n_calls;
    int32_t *set, *tap, *chunk;
    int64_t *off, *first;
    size_t cap_set, cap_tap, cap_chunk, cap_off, cap_first;
} plan;

static int plan_for(const layer_t *L, int ph, int pw)
{
    const int key[11] = {L->in.h, L->in.w, L->out.h, L->out.w, L->kh, L->kw, L->stride_h,
                         L->stride_w, ph, pw, L->cout};
    if (plan.valid && !memcmp(plan.key, key, sizeof key))
        return 0;
    const int64_t n_pix = (int64_t)L->in.h * L->in.w, taps = (int64_t)L->kh * L->kw;
    const int64_t n_chunks = (n_pix + CONVT_CHUNK - 1) / CONVT_CHUNK;
    plan.valid = 0; /* until complete */
    if (scratch_grow((void **)&plan.set, &plan.cap_set, (size_t)(n_pix * taps), sizeof(int32_t)) ||
        scratch_grow((void **)&plan.off, &plan.cap_off, (size_t)(n_pix * taps), sizeof(int64_t)) ||
        scratch_grow((void **)&plan.tap, &plan.cap_tap, (size_t)(n_chunks * taps), sizeof(int32_t)) ||
        scratch_grow((void **)&plan.chunk, &plan.cap_chunk, (size_t)(n_chunks * taps),
                     sizeof(int32_t)) ||
        scratch_grow((void **)&plan.first, &plan.cap_first, (size_t)(n_chunks * taps + 1),
                     sizeof(int64_t)))
        return -1;
    int64_t n = 0;
    int k = 0;
    for (int64_t p0 = 0; p0 < n_pix; p0 += CONVT_CHUNK) {
        const int64_t p1 = p0 + CONVT_CHUNK < n_pix ? p0 + CONVT_CHUNK : n_pix;
        for (int kh = L->kh - 1; kh >= 0; kh--)
            for (int kw = L->kw - 1; kw >= 0; kw--) {
                /* the pixels whose tap lands inside: a rectangle, rows then columns */
                int ih0, ih1, iw0, iw1;
                feeding_range(kh - ph, L->stride_h, L->in.h, L->out.h, &ih0, &ih1);
                feeding_range(kw - pw, L->stride_w, L->in.w, L->out.w, &iw0, &iw1);
                const int64_t first = n;
                for (int ih = ih0; ih <= ih1; ih++)
                    for (int iw = iw0; iw <= iw1; iw++) {
                        const int64_t p = (int64_t)ih * L->in.w + iw;
                        if (p < p0 || p >= p1)
                            continue;
                        plan.set[n] = (int32_t)(p - p0);
                        plan.off[n++] = ((int64_t)(ih * L->stride_h + kh - ph) * L->out.w +
                                         iw * L->stride_w + kw - pw) *
                                        L->cout;
                    }
                if (n == first)
                    continue;
                plan.first[k] = first;
                plan.tap[k] = kh * L->kw + kw;
                plan.chunk[k++] = (int32_t)(p0 / CONVT_CHUNK);
            }
    }
    plan.first[k] = n;
    plan.n_calls = k;
    memcpy(plan.key, key, sizeof key);
    plan.valid = 1;
    return 0;
}

/* Sparse sums (cout a multiple of 8): per pixel, its nonzero inputs only, and only its
 * taps inside the image, each sum added to its output as soon as it is made. Taps go
 * from the last kernel row and column to the first: an output's addends then come in the
 * order of the input pixels that feed it (row, then column), which is the reference
 * order; within a tap every pixel feeds its own output. Chunks of pixels keep that order,
 * as every addend from an earlier chunk comes from an earlier pixel. */
static int convt_sparse(const layer_t *L, const double *x, int ph, int pw, double *out)
{
    const int cin = L->cin, cout = L->cout;
    const int64_t n_pix = (int64_t)L->in.h * L->in.w;
    const size_t chunk = (size_t)(n_pix < CONVT_CHUNK ? n_pix : CONVT_CHUNK);
    if (scratch_grow((void **)&scratch.val, &scratch.cap_val, chunk * (size_t)cin,
                     sizeof(double)) ||
        scratch_grow((void **)&scratch.idx, &scratch.cap_idx, chunk * (size_t)cin,
                     sizeof(int32_t)) ||
        scratch_grow((void **)&scratch.nnz, &scratch.cap_nnz, chunk, sizeof(int)) ||
        plan_for(L, ph, pw))
        return -1; /* the caller takes the dense way, which needs less */
    const sparse_rows_t rows = {scratch.val, scratch.idx, scratch.nnz, cin};
    int listed = -1; /* the chunk whose nonzero lists are made */
    for (int k = 0; k < plan.n_calls; k++) {
        if (plan.chunk[k] != listed) {
            listed = plan.chunk[k];
            const int64_t p0 = (int64_t)listed * CONVT_CHUNK;
            const int nb = (int)(n_pix - p0 < CONVT_CHUNK ? n_pix - p0 : CONVT_CHUNK);
            for (int b = 0; b < nb; b++)
                scratch.nnz[b] = kernel_nonzero_f64(x + (p0 + b) * cin, cin,
                                                    scratch.val + b * cin, scratch.idx + b * cin);
        }
        const int64_t first = plan.first[k];
        const int n_sets = (int)(plan.first[k + 1] - first);
        const double *w = L->convt_w + (int64_t)plan.tap[k] * cout * cin;
        for (int c = 0; c < cout; c += CONVT_GROUP) {
            const int panels = (cout - c < CONVT_GROUP ? cout - c : CONVT_GROUP) / 8;
            kernel_add_sums_f64(&rows, plan.set + first, out + c, plan.off + first, n_sets,
                                w + c * cin, cin, panels);
        }
    }
    return 0;
}

/* One output channel: the panels [j0, j1) (column offsets) holding the taps of the kernel
 * rows that input row ih lands inside the image with; empty (j0 == j1) when none does. */
static void convt_row_panels(const layer_t *L, int ih, int ph, int64_t *j0, int64_t *j1)
{
    int kh0, kh1;
    feeding_range(ih * L->stride_h - ph, 1, L->kh, L->out.h, &kh0, &kh1);
    *j0 = *j1 = 0;
    if (kh0 <= kh1) {
        *j0 = (int64_t)kh0 * L->kw / 8 * 8;
        *j1 = ((int64_t)(kh1 + 1) * L->kw + 7) / 8 * 8;
    }
}

/* One output channel (both ECON-T decoders' last layer): a pixel's taps would each add a
 * single value, so the per-pixel adds are mostly bookkeeping. Instead the sums of every
 * pixel are computed at once and each output takes its addends tap by tap, kernel rows and
 * columns from last to first: for one output, that is the order of the input pixels that
 * feed it, the reference order. Only the taps inside the image are added. */
static int convt_one_channel(const layer_t *L, const double *x, int ph, int pw, double *out)
{
    const int64_t nacc = L->convt_cols, n_pix = (int64_t)L->in.h * L->in.w;
    if (scratch_grow((void **)&scratch.acc, &scratch.cap_acc, (size_t)(n_pix * nacc),
                     sizeof(double)))
        return -1;
    const double *acc = scratch.acc;
    const int sh = L->stride_h, sw = L->stride_w, W = L->in.w, Wo = L->out.w;
    /* per run of input rows, only the panels that hold the kernel rows landing inside the
     * image (the sums of the others are never read) */
    for (int ih = 0, run; ih < L->in.h; ih += run) {
        int64_t j0, j1;
        convt_row_panels(L, ih, ph, &j0, &j1);
        for (run = 1; ih + run < L->in.h; run++) {
            int64_t k0, k1;
            convt_row_panels(L, ih + run, ph, &k0, &k1);
            if (k0 != j0 || k1 != j1)
                break;
        }
        if (j0 < j1)
            kernel_sum_rows_f64(x + (int64_t)ih * W * L->cin, L->cin, run * W,
                                L->convt_w + j0 * L->cin, j1 - j0,
                                scratch.acc + (int64_t)ih * W * nacc + j0, nacc);
    }
    for (int kh = L->kh - 1; kh >= 0; kh--)
        for (int kw = L->kw - 1; kw >= 0; kw--) {
            /* the input rows and columns whose tap (kh, kw) lands inside (no division per
             * row: this loop runs for every decoder evaluation) */
            int ih0, ih1, iw0, iw1;
            feeding_range(kh - ph, sh, L->in.h, L->out.h, &ih0, &ih1);
            feeding_range(kw - pw, sw, W, Wo, &iw0, &iw1);
            for (int ih = ih0; ih <= ih1; ih++) {
                const double *ai = acc + ((int64_t)ih * W + iw0) * nacc + (int64_t)kh * L->kw + kw;
                double *o = out + (int64_t)(ih * sh + kh - ph) * Wo + iw0 * sw + kw - pw;
                for (int iw = iw0; iw <= iw1; iw++, ai += nacc, o += sw)
                    *o += *ai;
            }
        }
    return 0;
}

/* What the two ways cost, measured on the development machine on ECON-T Large's
 * decoder (ns): dense, per input channel, panel of 8 columns and pixel; sparse, per
 * nonzero input and tap's group of up to 32 output channels, and per pixel (its list,
 * its taps, its calls). */
#define DENSE_NS 0.45
#define SPARSE_NS 3.5
#define SPARSE_PIXEL_NS 58.0

/* Whether the sparse sums are the cheaper way for this input: they pay where a ReLU left
 * many zeros and a pixel has many output columns (ECON-T Large's first transposed
 * convolution), not where a layer has few input channels or few columns. A tap's output
 * channels must fill whole panels of 8 (the sparse kernel's unit). */
static int sparse_pays(const layer_t *L, const double *x, int64_t n)
{
    const double n_pix = (double)L->in.h * L->in.w, panels = (double)(L->convt_cols / 8);
    const double dense = DENSE_NS * L->cin * panels * n_pix;
    if (L->cout % 8 || dense <= SPARSE_PIXEL_NS * n_pix)
        return 0;
    const int64_t nonzero = kernel_count_nonzero_f64(x, n);
    const double groups = (double)L->kh * L->kw * ((L->cout + CONVT_GROUP - 1) / CONVT_GROUP);
    return SPARSE_NS * (double)nonzero * groups + SPARSE_PIXEL_NS * n_pix < dense;
}

/* The fast transposed convolution. Per input pixel, the partial sums of every (tap,
 * output channel) are independent accumulations over the input channels (each from
 * 0.0 in channel order, as the reference loop below), so they are computed apart, by
 * whichever of two kernels costs less, and then added to the outputs pixel by pixel in
 * the reference order. The sparse kernel leaves out two kinds of work, neither changing
 * a bit: a tap whose output lies outside the image (its sum is never added), and a zero
 * input (a ReLU's output; kernels.h says why its term can go). No reassociation, no
 * contraction: both ways give the reference loop's bits. */
static int convt_fast(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    if (!L->convt_w ||
        scratch_grow((void **)&scratch.x, &scratch.cap_x, (size_t)in->n, sizeof(double)) ||
        scratch_grow((void **)&scratch.acc, &scratch.cap_acc, (size_t)(CONVT_BLOCK * L->convt_cols),
                     sizeof(double)))
        return -1;
    const double *x = in->real;
    if (in->kind != TENSOR_REAL) {
        for (int64_t i = 0; i < in->n; i++)
            scratch.x[i] = tensor_value(in, i);
        x = scratch.x;
    }
    int ph, pw;
    convt_padding(L, &ph, &pw);
    fill_rows(out->real, L, out->n / L->cout);
    const int one_channel = L->cout == 1 && convt_one_channel(L, x, ph, pw, out->real) == 0;
    if (!one_channel && (!sparse_pays(L, x, in->n) || convt_sparse(L, x, ph, pw, out->real)))
        convt_dense(L, x, ph, pw, out->real);
    apply_real_activation(L->act, out->real, out->n, L->cout);
    return 0;
}

/* Transposed convolution as TensorFlow defines it (the gradient of conv2d with
 * respect to its input): out[ih*s + k - pad] += in[ih] * w[k], kernel (kh,kw,cout,cin).
 * The loops below are the reference (UPSET_KERNEL=wide); convt_fast is the default. */
static int fwd_conv2d_transpose(const layer_t *L, const tensor_t *in, tensor_t *out,
                                upset_err_t *err)
{
    (void)err;
    if (out->kind != TENSOR_REAL)
        return upset_fail(err, "layer %s: quantized conv2d_transpose is not supported", L->name);
    if (kernel_mode() != KERNEL_WIDE && convt_fast(L, in, out) == 0)
        return 0;
    int ph, pw;
    convt_padding(L, &ph, &pw);
    const int cin = L->cin, cout = L->cout;
    /* plain double copies of input and kernel so the inner loop is a straight dot product
     * (heap scratch: a model's sizes must never decide the stack's) */
    if (scratch_grow((void **)&scratch.x, &scratch.cap_x, (size_t)in->n, sizeof(double)) ||
        scratch_grow((void **)&scratch.w, &scratch.cap_w, (size_t)L->n_weights, sizeof(double)))
        return upset_fail(err, "layer %s: out of memory", L->name);
    double *x = scratch.x, *w = scratch.w;
    for (int64_t i = 0; i < in->n; i++)
        x[i] = tensor_value(in, i);
    for (int64_t i = 0; i < L->n_weights; i++)
        w[i] = weight_value(L, i);
    for (int64_t p = 0; p < (int64_t)L->out.h * L->out.w; p++)
        for (int c = 0; c < cout; c++)
            out->real[p * cout + c] = bias_value(L, c);
    for (int ih = 0; ih < L->in.h; ih++)
        for (int iw = 0; iw < L->in.w; iw++)
            for (int kh = 0; kh < L->kh; kh++) {
                int oh = ih * L->stride_h + kh - ph;
                if (oh < 0 || oh >= L->out.h)
                    continue;
                for (int kw = 0; kw < L->kw; kw++) {
                    int ow = iw * L->stride_w + kw - pw;
                    if (ow < 0 || ow >= L->out.w)
                        continue;
                    double *o = out->real + ((int64_t)oh * L->out.w + ow) * cout;
                    const double *xv = x + ((int64_t)ih * L->in.w + iw) * cin;
                    const double *wv = w + ((int64_t)kh * L->kw + kw) * cout * cin;
                    for (int c = 0; c < cout; c++) {
                        double acc = 0;
                        for (int ci = 0; ci < cin; ci++)
                            acc += xv[ci] * wv[(int64_t)c * cin + ci];
                        o[c] += acc;
                    }
                }
            }
    apply_real_activation(L->act, out->real, out->n, L->cout);
    return 0;
}

static int load_conv2d_transpose(h5ctx_t *c, hid_t g, layer_t *L)
{
    if (load_kernel_dims(c, g, L, 1) || load_strides_padding(c, g, L))
        return -1;
    /* in int64: in_shape up to 2^20 times a stride up to 4096 overflows int */
    const int64_t sh = L->stride_h, sw = L->stride_w;
    const int64_t eh = L->pad_same ? L->in.h * sh : (L->in.h - 1) * sh + L->kh;
    const int64_t ew = L->pad_same ? L->in.w * sw : (L->in.w - 1) * sw + L->kw;
    return load_check_conv_shape(c, L, eh, ew) ||
                   load_weights(c, g, L, (h5_shape_t){4, {L->kh, L->kw, L->cout, L->cin}})
               ? -1
               : 0;
}

/* A float kernel (kh, kw, cout, cin) as panels of (cin, kh * kw * cout) doubles, in the
 * order the fast loop reads them (float layers are never faulted, so it stays valid). */
static int prepare_convt(layer_t *L, upset_err_t *err)
{
    if (L->quantized || L->convt_w)
        return 0;
    const int taps = L->kh * L->kw;
    L->convt_cols = ((int64_t)taps * L->cout + 7) / 8 * 8;
    L->convt_w = upset_calloc_lines((size_t)(L->convt_cols * L->cin), sizeof *L->convt_w, err);
    if (!L->convt_w)
        return -1;
    for (int t = 0; t < taps; t++)
        for (int c = 0; c < L->cout; c++)
            for (int ci = 0; ci < L->cin; ci++) {
                const int64_t j = (int64_t)t * L->cout + c;
                L->convt_w[((j / 8) * L->cin + ci) * 8 + j % 8] =
                    (double)L->kernel[((int64_t)t * L->cout + c) * L->cin + ci];
            }
    return 0;
}

static int64_t convt_macs(const layer_t *L)
{
    return (int64_t)L->in.h * L->in.w * L->kh * L->kw * L->cin * L->cout;
}

/* A block per (input pixel, tap landing inside the output), in the forward's order. */
static void convt_blocks(const layer_t *L, linear_visit_t visit, void *ctx)
{
    const int64_t tap = (int64_t)L->cin * L->cout;
    int ph, pw;
    convt_padding(L, &ph, &pw);
    for (int ih = 0; ih < L->in.h; ih++)
        for (int iw = 0; iw < L->in.w; iw++) {
            const int64_t xo = ((int64_t)ih * L->in.w + iw) * L->cin;
            for (int kh = 0; kh < L->kh; kh++) {
                const int oh = ih * L->stride_h + kh - ph;
                if (oh < 0 || oh >= L->out.h)
                    continue;
                for (int kw = 0; kw < L->kw; kw++) {
                    const int ow = iw * L->stride_w + kw - pw;
                    if (ow < 0 || ow >= L->out.w)
                        continue;
                    visit(ctx, ((int64_t)kh * L->kw + kw) * tap, xo,
                          ((int64_t)oh * L->out.w + ow) * L->cout);
                }
            }
        }
}

const layer_ops_t LAYER_OPS_CONV2D_TRANSPOSE = {
    .name = "conv2d_transpose", .load = load_conv2d_transpose, .prepare = prepare_convt,
    .out_type = linear_out_type,
    .macs = convt_macs, .forward = fwd_conv2d_transpose, .diff = linear_diff,
    .block = BLOCK_CO_CI, .blocks = convt_blocks};
