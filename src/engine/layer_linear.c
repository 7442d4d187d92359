/* What quantized conv2d and dense share: the exact integer output of a pixel, the int64
 * reference sums, and the narrow path (int16 codes, int32 sums: kernels.h), which is
 * taken when every partial sum provably fits int32 for any code of the weight quantizer
 * (flipped ones included). */
#include <string.h>

#include "layer.h"
#include "upset/kernels.h"

void linear_out_type(const layer_t *L, const tensor_kind_t *in_kind, const int *in_frac,
                     int input_exact, tensor_kind_t *kind, int *frac)
{
    if (L->quantized && (in_kind[0] == TENSOR_FIXED || input_exact) &&
        (L->act == ACT_LINEAR || L->act == ACT_RELU)) {
        *kind = TENSOR_FIXED;
        *frac = in_frac[0] + quant_frac(&L->kq);
        if (L->use_bias && quant_frac(&L->bq) > *frac)
            *frac = quant_frac(&L->bq); /* keep the bias exact */
    } else {
        *kind = TENSOR_REAL;
    }
}

int linear_prepare_narrow(layer_t *L, upset_err_t *err)
{
    if (!L->quantized || L->kq.bits + L->max_kernel_shift > 15 || L->kernel_t16)
        return 0;
    const int64_t k = L->n_weights / L->cout;
    L->kernel_kp = (k + KERNEL_K_ALIGN - 1) / KERNEL_K_ALIGN * KERNEL_K_ALIGN;
    L->kernel_t16 = upset_calloc((size_t)(L->kernel_kp * L->cout), sizeof(int16_t), err);
    if (!L->kernel_t16)
        return -1;
    L->kernel_cout8 = (L->cout + 7) / 8 * 8;
    L->kernel_p16 =
        upset_calloc((size_t)(L->kernel_kp * L->kernel_cout8), sizeof(int16_t), err);
    if (!L->kernel_p16)
        return -1;
    for (int64_t w = 0; w < L->n_weights; w++) {
        L->kernel_t16[layer_t16_index(L, w)] = (int16_t)L->kernel_code[w];
        L->kernel_p16[layer_p16_index(L, w)] = (int16_t)L->kernel_code[w];
    }
    return 0;
}

layer_diff_t linear_diff(const layer_t *L)
{
    (void)L;
    return DIFF_LINEAR;
}

fixed_align_t fixed_align(const layer_t *L, const tensor_t *in, const tensor_t *out)
{
    fixed_align_t a;
    a.shift_prod = out->frac - in->frac - quant_frac(&L->kq);
    a.shift_bias = L->use_bias ? out->frac - quant_frac(&L->bq) : 0;
    return a;
}

void fixed_pixel(const layer_t *L, fixed_align_t a, int64_t *out, const int64_t *sum)
{
    for (int c = 0; c < L->cout; c++) {
        int64_t v = (L->use_bias ? (int64_t)L->bias_code[c] * ((int64_t)1 << a.shift_bias) : 0) +
                    sum[c] * ((int64_t)1 << a.shift_prod);
        out[c] = (L->act == ACT_RELU && v < 0) ? 0 : v;
    }
}

/* The int64 reference: sums of x * w over output pixel p's receptive field, channels
 * [c0, c1), before bias and alignment (x: the layer's input). */
void layer_pixel_sums(const layer_t *L, const int64_t *x, int64_t p, int c0, int c1,
                      int64_t *sum)
{
    const int cin = L->cin, cout = L->cout, nc = c1 - c0;
    for (int c = 0; c < nc; c++)
        sum[c] = 0;
    if (L->kind == LAYER_DENSE) {
        for (int i = 0; i < cin; i++) {
            if (!x[i])
                continue;
            const int32_t *w = L->kernel_code + (int64_t)i * cout + c0; /* (cin, cout) */
            for (int c = 0; c < nc; c++)
                sum[c] += x[i] * w[c];
        }
        return;
    }
    int ph, pw;
    conv_padding(L, &ph, &pw);
    const int oh = (int)(p / L->out.w), ow = (int)(p % L->out.w);
    for (int kh = 0; kh < L->kh; kh++) {
        int ih = oh * L->stride_h - ph + kh;
        if (ih < 0 || ih >= L->in.h)
            continue;
        for (int kw = 0; kw < L->kw; kw++) {
            int iw = ow * L->stride_w - pw + kw;
            if (iw < 0 || iw >= L->in.w)
                continue;
            const int64_t *xv = x + ((int64_t)ih * L->in.w + iw) * cin;
            const int32_t *wv = /* (kh,kw,cin,cout) */
                L->kernel_code + ((int64_t)kh * L->kw + kw) * cin * cout + c0;
            for (int ci = 0; ci < cin; ci++) {
                if (!xv[ci])
                    continue;
                const int32_t *w = wv + (int64_t)ci * cout;
                for (int c = 0; c < nc; c++)
                    sum[c] += xv[ci] * w[c];
            }
        }
    }
}

#define MAX_KERNEL_ROWS KERNEL_MAX_SEGMENTS

/* Scratch of the narrow path, grown on demand and kept (ranks are processes). */
static struct {
    int16_t *x, *row;
    int32_t *sum32;
    int64_t *sum, *bias;
    float *chan;
    size_t cap_x, cap_row, cap_sum32, cap_sum, cap_bias, cap_chan;
} scratch;

int64_t layer_weight_bound(const layer_t *L)
{
    return quant_code_bound(&L->kq) << L->max_kernel_shift;
}

/* The int32 bound: the largest input code magnitude for which every partial sum of L
 * fits int32 for any weight code of its quantizer, flipped ones included. */
static int64_t narrow_bound(const layer_t *L)
{
    const int64_t wmax = layer_weight_bound(L);
    const int64_t xmax = (INT64_C(2147483647) / L->kernel_kp) / (wmax ? wmax : 1);
    return xmax > INT16_MAX ? INT16_MAX : xmax;
}

/* Whether every pre-activation of L, from inputs of magnitude at most input_bound (-1:
 * unknown), is an integer below 2^24 in magnitude, as are its int32 sum * 2^shift_prod
 * and its aligned bias (bias: cout values): float32 then holds each exactly
 * (kernel_linear_bnq_row). */
static int row_kernel_exact(const layer_t *L, fixed_align_t a, int64_t input_bound,
                            const int64_t *bias)
{
    const int64_t lim = INT64_C(1) << 24, fan_in = L->n_weights / L->cout, wmax = layer_weight_bound(L);
    if (input_bound < 0 || a.shift_prod < 0 || a.shift_prod > 24 || wmax > lim ||
        (input_bound && fan_in * wmax > lim / input_bound))
        return 0;
    const int64_t sums = (fan_in * wmax * input_bound) << a.shift_prod;
    int64_t most = 0;
    for (int c = 0; c < L->cout; c++) {
        most = bias[c] > most ? bias[c] : (-bias[c] > most ? -bias[c] : most);
        if (most >= lim)
            return 0;
    }
    return sums < lim && sums + most < lim;
}

int narrow_input(const layer_t *L, const int64_t *x, int64_t n, int16_t *x16)
{
    if (!L->kernel_t16 || kernel_mode() == KERNEL_WIDE)
        return -1;
    /* two rows: narrow_linear takes output pixels two at a time */
    if (scratch_grow((void **)&scratch.row, &scratch.cap_row, (size_t)(2 * L->kernel_kp),
                     sizeof(int16_t)) ||
        scratch_grow((void **)&scratch.sum32, &scratch.cap_sum32, (size_t)L->kernel_cout8,
                     sizeof(int32_t)) ||
        scratch_grow((void **)&scratch.sum, &scratch.cap_sum, (size_t)L->cout, sizeof(int64_t)) ||
        scratch_grow((void **)&scratch.bias, &scratch.cap_bias, (size_t)L->cout, sizeof(int64_t)))
        return -1;
    return kernel_narrow16(x, n, narrow_bound(L), x16);
}

/* The whole input's int16 copy in scratch.x for narrow_linear. */
static int narrow_prepare(const layer_t *L, const tensor_t *in)
{
    if (scratch_grow((void **)&scratch.x, &scratch.cap_x, (size_t)in->n, sizeof(int16_t)))
        return -1;
    return narrow_input(L, in->fixed, in->n, scratch.x);
}

/* im2col of output pixel (oh, ow): the receptive field as one zero-padded row of row_len
 * codes in row. */
static void im2col_row(const layer_t *L, const int16_t *x, int oh, int ow, int ph, int pw,
                       int64_t row_len, int16_t *row)
{
    const int64_t k = L->n_weights / L->cout;
    memset(row + k, 0, (size_t)(row_len - k) * sizeof(int16_t));
    const int cin = L->cin;
    const size_t run = (size_t)cin * sizeof(int16_t);
    const int iw0 = ow * L->stride_w - pw;
    for (int kh = 0; kh < L->kh; kh++, row += L->kw * cin) {
        int ih = oh * L->stride_h - ph + kh;
        /* an index, not a pointer: it may lie before the tensor */
        const int64_t at = ((int64_t)ih * L->in.w + iw0) * cin;
        if (ih < 0 || ih >= L->in.h) {
            memset(row, 0, run * (size_t)L->kw);
        } else if (iw0 >= 0 && iw0 + L->kw <= L->in.w) { /* one run (h, w, c) */
            memcpy(row, x + at, run * (size_t)L->kw);
        } else {
            for (int kw = 0; kw < L->kw; kw++) {
                int iw = iw0 + kw;
                if (iw < 0 || iw >= L->in.w)
                    memset(row + kw * cin, 0, run);
                else
                    memcpy(row + kw * cin, x + at + (int64_t)kw * cin, run);
            }
        }
    }
}

/* Output pixel (oh, ow)'s receptive field in L's int16 input x as kh runs of kw * cin
 * codes read in place (runs): 1 when it lies inside the input and a run is whole vectors
 * of 16 codes (the dot-product kernels'), else 0. */
static inline int in_place_runs(const layer_t *L, const int16_t *x, int oh, int ow, int ph,
                                int pw, const int16_t **runs)
{
    const int ih0 = oh * L->stride_h - ph, iw0 = ow * L->stride_w - pw;
    if (L->kh > MAX_KERNEL_ROWS || ((int64_t)L->kw * L->cin) % 16 || ih0 < 0 ||
        ih0 + L->kh > L->in.h || iw0 < 0 || iw0 + L->kw > L->in.w)
        return 0;
    const int16_t *r0 = x + ((int64_t)ih0 * L->in.w + iw0) * L->cin;
    for (int r = 0; r < L->kh; r++)
        runs[r] = r0 + (int64_t)r * L->in.w * L->cin;
    return 1;
}

/* A convolution's input as int16 codes with its padding written out as zeros (and, for a
 * 1x1 kernel over an odd channel count, each pixel's codes followed by one zero): every
 * receptive field then lies inside it as kh runs of kw * cin codes, read in place. */
typedef struct {
    int h, w, c;  /* padded rows, columns, codes per pixel */
    int ph, pw;   /* where the input starts */
    int16_t *x;
} padded_t;

/* Two copies: a layer reads its input from one while its fused quantizer writes the next
 * convolution's into the other (narrow_linear_fused). */
static struct {
    int16_t *x;
    size_t cap;
} padded_scratch[2];
static int padded_in; /* the copy a layer reads */

/* Eight or more output channels: broadcast input pairs against the channels (no horizontal
 * sums, pairs of codes: an even fan-in); fewer: one dot product per channel (whole vectors:
 * kp codes). A dense layer whose channels are not whole vectors of 8 takes the dot products
 * too: its pairs would pad them (CIFAR-10's 10 logits: 16) */
static int uses_pairs(const layer_t *L)
{
    return L->cout >= 8 && (L->kind == LAYER_CONV2D || L->cout % 8 == 0);
}

/* The padded copy's shape for L: 0, or 1 when a run would not be a whole number of the
 * kernel's steps (im2col_row instead). */
static int padded_shape(const layer_t *L, padded_t *P)
{
    const int align = uses_pairs(L) ? 2 : 16, cin = L->cin;
    conv_padding(L, &P->ph, &P->pw);
    P->c = (L->kh == 1 && L->kw == 1 && cin % align) ? (cin + align - 1) / align * align : cin;
    if (L->kind != LAYER_CONV2D || ((int64_t)L->kw * P->c) % align || L->kh > MAX_KERNEL_ROWS)
        return 1;
    const int need_h = (L->out.h - 1) * L->stride_h + L->kh, need_w = (L->out.w - 1) * L->stride_w + L->kw;
    P->h = need_h > P->ph + L->in.h ? need_h : P->ph + L->in.h;
    P->w = need_w > P->pw + L->in.w ? need_w : P->pw + L->in.w;
    return 0;
}

/* padded_shape, the copy in padded_scratch[which] (grown, borders zeroed): as padded_shape,
 * or -1 out of memory. */
static int padded_layout(const layer_t *L, int which, padded_t *P)
{
    if (padded_shape(L, P))
        return 1;
    const int64_t row = (int64_t)P->w * P->c;
    if (scratch_grow((void **)&padded_scratch[which].x, &padded_scratch[which].cap,
                     (size_t)(P->h * row), sizeof(int16_t)))
        return -1;
    P->x = padded_scratch[which].x;
    /* the zero border: whole rows above and below, columns left and right */
    memset(P->x, 0, (size_t)(P->ph * row) * sizeof(int16_t));
    memset(P->x + (P->ph + L->in.h) * row, 0,
           (size_t)((P->h - P->ph - L->in.h) * row) * sizeof(int16_t));
    for (int ih = 0; ih < L->in.h; ih++) {
        int16_t *r = P->x + (ih + P->ph) * row;
        memset(r, 0, (size_t)P->pw * P->c * sizeof(int16_t));
        memset(r + (int64_t)(P->pw + L->in.w) * P->c, 0,
               (size_t)(P->w - P->pw - L->in.w) * P->c * sizeof(int16_t));
    }
    return 0;
}

/* Input row ih of L (src: its in.w * cin codes) into the padded copy: 0, or -1 when a code
 * is beyond L's int16 bound (use the int64 loops). */
static int padded_row(const layer_t *L, const padded_t *P, int ih, const int64_t *src)
{
    const int cin = L->cin;
    const int64_t lim = narrow_bound(L);
    int16_t *r = P->x + ((int64_t)(ih + P->ph) * P->w + P->pw) * P->c;
    if (P->c == cin)
        return kernel_narrow16(src, (int64_t)L->in.w * cin, lim, r);
    for (int iw = 0; iw < L->in.w; iw++) { /* a few channels: inline, no calls */
        int16_t *px = r + (int64_t)iw * P->c;
        const int64_t *sx = src + (int64_t)iw * cin;
        for (int c = 0; c < cin; c++) {
            if (sx[c] > lim || sx[c] < -lim)
                return -1;
            px[c] = (int16_t)sx[c];
        }
        for (int c = cin; c < P->c; c++)
            px[c] = 0;
    }
    return 0;
}

/* L's whole input into padded_scratch[padded_in]: as padded_layout, and -1 also when a
 * code is out of the int16 range. */
static int narrow_padded(const layer_t *L, const tensor_t *in, padded_t *P)
{
    const int rc = padded_layout(L, padded_in, P);
    for (int ih = 0; rc == 0 && ih < L->in.h; ih++)
        if (padded_row(L, P, ih, in->fixed + (int64_t)ih * L->in.w * L->cin))
            return -1;
    return rc;
}

/* The pair planes of a convolution's padded input (kernel_conv_lanes), kept. */
static struct {
    int32_t *x;
    size_t cap;
} planes_scratch;

/* Whether L, reading the padded copy P, takes kernel_conv_lanes: fewer than eight output
 * channels (else the pair kernel's lanes are full: as fast, measured, with no transposes),
 * in fours; a stride of 1 along rows; a whole block of eight output pixels a row; and the
 * copy's pairs of channels in kernel_p16's order (P->c == cin, or a 1x1 kernel whose
 * padding codes meet zero weights). */
static int lanes_fit(const layer_t *L, const padded_t *P)
{
    return L->kind == LAYER_CONV2D && !uses_pairs(L) && L->stride_w == 1 && L->out.w >= 8 &&
           L->cout % 4 == 0 &&
           P->c % 2 == 0 && (P->c == L->cin || (L->kh == 1 && L->kw == 1)) &&
           kernel_conv_lanes_available();
}

/* P as pair planes for kernel_conv_lanes (c: the call's description): 0, or -1 out of
 * memory. Sets *rows, how many output rows one call takes (a whole number of the kernel's
 * passes of KERNEL_LANES_VECTORS eight-pixel vectors). */
static int lanes_prepare(const layer_t *L, const padded_t *P, conv_lanes_t *c, int *rows)
{
    const int vpr = (L->out.w + 7) / 8, np = P->c / 2;
    int64_t pitch = (int64_t)vpr * 8 + L->kw - 1;
    pitch = ((pitch > P->w ? pitch : P->w) + 15) / 16 * 16;
    if (scratch_grow((void **)&planes_scratch.x, &planes_scratch.cap,
                     (size_t)((int64_t)P->h * np * pitch), sizeof(int32_t)))
        return -1;
    kernel_pair_planes(P->x, P->h, P->w, np, pitch, planes_scratch.x);
    *c = (conv_lanes_t){planes_scratch.x, pitch, np, L->kh, L->kw, L->stride_h,
                        L->kernel_p16, L->kernel_cout8, L->cout, L->out.w};
    *rows = 1;
    while ((*rows * vpr) % KERNEL_LANES_VECTORS)
        ++*rows;
    return 0;
}

/* How narrow_run writes a fused layer's rows: by the row kernel (fast) where float32 is
 * exact for it (row_kernel_exact), with the channels' bias, scale and offset along `period`
 * values in scratch.chan; the int16 codes straight into next's copy N (direct16: a whole
 * row of it per output row, every code within next's bound); the outputs that f lets go
 * unwritten left so. */
typedef struct {
    int fast, direct16, skip_out, skip_codes, period;
    float mul;
} fused_rows_t;

static fused_rows_t fused_rows(const layer_t *L, fixed_align_t a, const narrow_fusion_t *f,
                               const padded_t *N)
{
    fused_rows_t r = {0};
    /* whole pixels and whole vectors of 16 (AVX-512) or else 8 */
    const int c = L->cout;
    r.period = c % 16 == 0 ? c : 16 % c == 0 ? 16 : c % 8 == 0 ? c : 8 % c == 0 ? 8 : 0;
    if (!r.period || !row_kernel_exact(L, a, f->input_bound, scratch.bias) ||
        scratch_grow((void **)&scratch.chan, &scratch.cap_chan, (size_t)(3 * r.period),
                     sizeof(float)))
        return r;
    for (int j = 0; j < r.period; j++) {
        scratch.chan[j] = (float)scratch.bias[j % c];
        scratch.chan[r.period + j] = f->bn->bn_scale[j % c];
        scratch.chan[2 * r.period + j] = f->bn->bn_offset[j % c];
    }
    r.fast = 1;
    r.mul = (float)((int64_t)1 << a.shift_prod);
    r.direct16 = N && N->c == f->next->cin && quant_code_bound(&f->q->aq) <= narrow_bound(f->next);
    r.skip_out = f->lean_out;
    r.skip_codes = r.direct16 && f->lean_codes;
    return r;
}

/* narrow_linear with what narrow_linear_fused asks (f: NULL for nothing). */
static int narrow_run(const layer_t *L, const tensor_t *in, tensor_t *out, narrow_fusion_t *f)
{
    if (!L->kernel_t16 || kernel_mode() == KERNEL_WIDE)
        return -1;
    const int pairs = uses_pairs(L);
    /* a convolution reads its receptive fields in place from a padded copy where the runs
     * allow it (written by the layer before when f->input_ready); else each field is copied
     * into a row (im2col) from the plain copy */
    padded_t P = {0};
    int padded_rc = 1;
    if (f && f->input_ready) { /* the copy the layer before wrote, borders and all */
        padded_rc = padded_shape(L, &P) ? -1 : 0;
        P.x = padded_scratch[padded_in].x;
    } else if (L->kind == LAYER_CONV2D)
        padded_rc = narrow_padded(L, in, &P);
    const int padded = padded_rc == 0;
    if (padded_rc < 0 || (!padded && narrow_prepare(L, in)) ||
        scratch_grow((void **)&scratch.sum, &scratch.cap_sum, (size_t)L->cout, sizeof(int64_t)))
        return -1;
    /* the next convolution's padded copy, row by row from the codes (f->next_ready) */
    padded_t N = {0};
    int next = f && f->bn && f->next && f->next->kernel_t16 &&
               padded_layout(f->next, !padded_in, &N) == 0;
    const int64_t kp = L->kernel_kp, k = L->n_weights / L->cout;
    const fixed_align_t a = fixed_align(L, in, out);
    const int64_t row_len = pairs ? (k + 1) / 2 * 2 : kp;
    const int cs = pairs ? L->kernel_cout8 : L->cout; /* sums per output pixel */
    const int ow_n = L->kind == LAYER_CONV2D ? L->out.w : 1;
    /* a row of output pixels' int32 sums, then their outputs by one vector shift with
     * the aligned bias repeated along the row */
    const int vector_out = a.shift_prod >= 0 && a.shift_prod < 32;
    /* pixels across lanes: the sums of lane_rows output rows at a time */
    conv_lanes_t lanes = {0};
    int lane_rows = 0;
    if (padded && lanes_fit(L, &P) && lanes_prepare(L, &P, &lanes, &lane_rows))
        return -1;
    const int64_t row_sums = (int64_t)ow_n * cs;
    if (scratch_grow((void **)&scratch.sum32, &scratch.cap_sum32,
                     (size_t)((lane_rows ? lane_rows : 1) * row_sums), sizeof(int32_t)) ||
        scratch_grow((void **)&scratch.bias, &scratch.cap_bias, (size_t)ow_n * (size_t)L->cout,
                     sizeof(int64_t)))
        return -1;
    for (int c = 0; vector_out && c < L->cout; c++)
        scratch.bias[c] = L->use_bias ? (int64_t)L->bias_code[c] * ((int64_t)1 << a.shift_bias) : 0;
    for (int p = 1; vector_out && p < ow_n; p++)
        memcpy(scratch.bias + (int64_t)p * L->cout, scratch.bias, (size_t)L->cout * sizeof(int64_t));
    fused_rows_t fr = {0};
    if (f && f->bn && vector_out && cs == L->cout)
        fr = fused_rows(L, a, f, next ? &N : NULL);
    int ph = 0, pw = 0;
    const int16_t *runs[MAX_KERNEL_ROWS] = {scratch.row}, *runs_b[MAX_KERNEL_ROWS];
    int64_t seg = row_len;
    int nseg = 1;
    if (L->kind == LAYER_CONV2D) {
        conv_padding(L, &ph, &pw);
    } else { /* dense: the input, zero-padded, is the one row */
        memcpy(scratch.row, scratch.x, (size_t)k * sizeof(int16_t));
        memset(scratch.row + k, 0, (size_t)(row_len - k) * sizeof(int16_t));
    }
    const int64_t prow = (int64_t)P.w * P.c, pstep = (int64_t)L->stride_w * P.c;
    if (padded) {
        seg = (int64_t)L->kw * P.c;
        nseg = L->kh;
    } else {
        runs_b[0] = scratch.row + kp; /* the second pixel's im2col row */
    }
    for (int oh = 0; oh < L->out.h; oh++) {
        const int16_t *prow0 = padded ? P.x + (int64_t)oh * L->stride_h * prow : NULL;
        const int32_t *sums = scratch.sum32; /* this row's */
        if (lane_rows) {
            if (oh % lane_rows == 0)
                kernel_conv_lanes(&lanes, oh, L->out.h - oh < lane_rows ? L->out.h - oh : lane_rows,
                                  scratch.sum32, cs);
            sums += oh % lane_rows * row_sums;
        }
        for (int ow = 0; !lane_rows && ow < ow_n; ow++) {
            int32_t *sum = scratch.sum32 + (int64_t)ow * cs;
            if (padded && pairs && ow + 3 < ow_n) { /* four pixels, read in place */
                for (int r = 0; r < L->kh; r++)
                    runs[r] = prow0 + r * prow + ow * pstep;
                kernel_pairs16_seg4(runs, pstep, nseg, seg / 2, L->kernel_p16, cs, sum);
                ow += 3;
                continue;
            }
            const int two = ow + 1 < ow_n; /* two output pixels in one pass, shared weights */
            if (padded) {
                for (int r = 0; r < L->kh; r++) {
                    runs[r] = prow0 + r * prow + ow * pstep;
                    runs_b[r] = runs[r] + pstep;
                }
            } else if (L->kind == LAYER_CONV2D) { /* a run is not whole vectors: im2col */
                im2col_row(L, scratch.x, oh, ow, ph, pw, row_len, scratch.row);
                if (two)
                    im2col_row(L, scratch.x, oh, ow + 1, ph, pw, row_len, scratch.row + kp);
            }
            if (two && pairs)
                kernel_pairs16_seg2(runs, runs_b, nseg, seg / 2, L->kernel_p16, cs, sum, sum + cs);
            else if (two)
                kernel_dot16_seg2(runs, runs_b, nseg, seg, L->kernel_t16, L->cout, kp, sum,
                                  sum + cs);
            else if (pairs)
                kernel_pairs16_seg(runs, nseg, seg / 2, L->kernel_p16, cs, sum);
            else
                kernel_dot16_seg(runs, nseg, seg, L->kernel_t16, L->cout, kp, sum);
            ow += two;
        }
        const int64_t row = (int64_t)oh * ow_n * L->cout;
        int64_t *o = out->fixed + row;
        if (fr.fast && kernel_linear_bnq_row(
                           sums, scratch.chan, fr.mul, L->act == ACT_RELU, ow_n * L->cout,
                           fr.period, out->scale, scratch.chan + fr.period,
                           scratch.chan + 2 * fr.period, &f->q->aq, fr.skip_out ? NULL : o,
                           fr.skip_codes ? NULL : f->codes->fixed + row,
                           fr.direct16 ? N.x + ((int64_t)(oh + N.ph) * N.w + N.pw) * N.c : NULL) == 0) {
            next = next && (fr.direct16 || padded_row(f->next, &N, oh, f->codes->fixed + row) == 0);
            continue;
        }
        fr.fast = fr.skip_out = fr.skip_codes = 0; /* (only ever at the first row: no kernel) */
        if (vector_out && cs == L->cout) {
            kernel_fixed_out(sums, scratch.bias, a.shift_prod, L->act == ACT_RELU,
                             ow_n * L->cout, o);
        } else {
            for (int ow = 0; ow < ow_n; ow++, o += L->cout) {
                const int32_t *sum = sums + (int64_t)ow * cs;
                if (vector_out) {
                    kernel_fixed_out(sum, scratch.bias, a.shift_prod, L->act == ACT_RELU,
                                     L->cout, o);
                    continue;
                }
                for (int c = 0; c < L->cout; c++)
                    scratch.sum[c] = sum[c];
                fixed_pixel(L, a, o, scratch.sum);
            }
        }
        /* the row is in L1: passes over the whole tensors would not be */
        if (f && f->bn && f->codes_done)
            f->codes_done = batchnorm_quantize_span(f->bn, f->q, out, f->codes, row,
                                                    (int64_t)ow_n * L->cout) == 0;
        next = next && f->codes_done && padded_row(f->next, &N, oh, f->codes->fixed + row) == 0;
    }
    if (f && f->bn && f->codes_done && next) {
        f->next_ready = 1;
        padded_in = !padded_in;
    }
    if (f) {
        f->out_skipped = fr.skip_out;
        f->codes_skipped = fr.skip_codes;
    }
    return 0;
}

int narrow_linear(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    return narrow_run(L, in, out, NULL);
}

int narrow_linear_fused(const layer_t *L, const tensor_t *in, tensor_t *out, narrow_fusion_t *f)
{
    f->codes_done = f->bn != NULL;
    f->next_ready = 0;
    return narrow_run(L, in, out, f);
}

void narrow_pixel_sums(const layer_t *L, const int16_t *x16, int64_t p, int c0, int c1,
                       int64_t *sum)
{
    const int64_t kp = L->kernel_kp, k = L->n_weights / L->cout;
    const int16_t *runs[MAX_KERNEL_ROWS] = {x16}; /* dense: the input is the row */
    int64_t seg = kp;
    int nseg = 1;
    if (L->kind == LAYER_CONV2D) {
        int ph, pw;
        conv_padding(L, &ph, &pw);
        const int oh = (int)(p / L->out.w), ow = (int)(p % L->out.w);
        if (in_place_runs(L, x16, oh, ow, ph, pw, runs)) {
            nseg = L->kh;
            seg = (int64_t)L->kw * L->cin;
        } else {
            im2col_row(L, x16, oh, ow, ph, pw, kp, scratch.row);
            runs[0] = scratch.row;
        }
    } else if (k != kp) { /* pad the dense input to whole vectors */
        memcpy(scratch.row, x16, (size_t)k * sizeof(int16_t));
        memset(scratch.row + k, 0, (size_t)(kp - k) * sizeof(int16_t));
        runs[0] = scratch.row;
    }
    kernel_dot16_seg(runs, nseg, seg, L->kernel_t16 + (int64_t)c0 * kp, c1 - c0, kp,
                     scratch.sum32);
    for (int c = 0; c < c1 - c0; c++)
        sum[c] = scratch.sum32[c];
}

/* Receptive fields handed to kernel_dot16_many at a time. */
enum { CHANNEL_BATCH = 64 };

void narrow_channel_sums(const layer_t *L, const int16_t *x16, int co, const int64_t *pix,
                         int64_t n, int64_t *sum)
{
    const int64_t run = (int64_t)L->kw * L->cin;
    if (L->kind != LAYER_CONV2D) {
        for (int64_t t = 0; t < n; t++)
            narrow_pixel_sums(L, x16, pix[t], co, co + 1, sum + t);
        return;
    }
    const int16_t *runs[CHANNEL_BATCH * MAX_KERNEL_ROWS];
    int64_t at[CHANNEL_BATCH];
    int32_t s32[CHANNEL_BATCH];
    int ph, pw;
    conv_padding(L, &ph, &pw);
    int nb = 0;
    for (int64_t t = 0; t < n; t++) {
        if (in_place_runs(L, x16, (int)(pix[t] / L->out.w), (int)(pix[t] % L->out.w), ph, pw,
                          runs + nb * L->kh))
            at[nb++] = t;
        else
            narrow_pixel_sums(L, x16, pix[t], co, co + 1, sum + t); /* a border pixel */
        if (nb == CHANNEL_BATCH || (t == n - 1 && nb)) {
            kernel_dot16_many(runs, L->kh, run, L->kernel_t16 + (int64_t)co * L->kernel_kp, nb,
                              s32);
            for (int b = 0; b < nb; b++)
                sum[at[b]] = s32[b];
            nb = 0;
        }
    }
}
