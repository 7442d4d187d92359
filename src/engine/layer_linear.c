/* What quantized conv2d and dense share: the exact integer output of a pixel, the int64
 * reference sums, and the narrow path (int16 codes, int32 sums: kernels.h), which is
 * taken when every partial sum provably fits int32 for any code of the weight quantizer
 * (flipped ones included). */
#include <string.h>

#include "layer.h"
#include "upset/kernels.h"

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

#define MAX_KERNEL_ROWS 64

/* Scratch of the narrow path, grown on demand and kept (ranks are processes). */
static struct {
    int16_t *x, *row;
    int32_t *sum32;
    int64_t *sum, *bias;
    size_t cap_x, cap_row, cap_sum32, cap_sum, cap_bias;
} scratch;

/* The int32 bound: the largest input code magnitude for which every partial sum of L
 * fits int32 for any weight code of its quantizer, flipped ones included. */
static int64_t narrow_bound(const layer_t *L)
{
    const int64_t wmax = (-(int64_t)quant_code_min(&L->kq) > quant_code_max(&L->kq)
                              ? -(int64_t)quant_code_min(&L->kq)
                              : quant_code_max(&L->kq))
                         << L->max_kernel_shift;
    const int64_t xmax = (INT64_C(2147483647) / L->kernel_kp) / (wmax ? wmax : 1);
    return xmax > INT16_MAX ? INT16_MAX : xmax;
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
    int h, w, c; /* padded rows, columns, codes per pixel */
    int16_t *x;
} padded_t;

static struct {
    int16_t *x;
    size_t cap;
} padded_scratch;

/* 0: filled; 1: a run would not be a multiple of align (im2col_row instead); -1: a code is
 * out of the int16 range (use the int64 loops). */
static int narrow_padded(const layer_t *L, const tensor_t *in, int align, padded_t *P)
{
    int ph, pw;
    conv_padding(L, &ph, &pw);
    const int cin = L->cin;
    P->c = (L->kh == 1 && L->kw == 1 && cin % align) ? (cin + align - 1) / align * align : cin;
    if (((int64_t)L->kw * P->c) % align || L->kh > MAX_KERNEL_ROWS)
        return 1;
    const int need_h = (L->out.h - 1) * L->stride_h + L->kh, need_w = (L->out.w - 1) * L->stride_w + L->kw;
    P->h = need_h > ph + L->in.h ? need_h : ph + L->in.h;
    P->w = need_w > pw + L->in.w ? need_w : pw + L->in.w;
    const int64_t row = (int64_t)P->w * P->c;
    if (scratch_grow((void **)&padded_scratch.x, &padded_scratch.cap, (size_t)(P->h * row),
                     sizeof(int16_t)))
        return -1;
    P->x = padded_scratch.x;
    const int64_t lim = narrow_bound(L);
    /* the zero border: whole rows above and below, columns left and right */
    memset(P->x, 0, (size_t)(ph * row) * sizeof(int16_t));
    memset(P->x + (ph + L->in.h) * row, 0, (size_t)((P->h - ph - L->in.h) * row) * sizeof(int16_t));
    for (int ih = 0; ih < L->in.h; ih++) {
        int16_t *r = P->x + (ih + ph) * row;
        memset(r, 0, (size_t)pw * P->c * sizeof(int16_t));
        memset(r + (int64_t)(pw + L->in.w) * P->c, 0,
               (size_t)(P->w - pw - L->in.w) * P->c * sizeof(int16_t));
        const int64_t *src = in->fixed + (int64_t)ih * L->in.w * cin;
        if (P->c == cin) {
            if (kernel_narrow16(src, (int64_t)L->in.w * cin, lim, r + (int64_t)pw * cin))
                return -1;
            continue;
        }
        for (int iw = 0; iw < L->in.w; iw++) { /* a few channels: inline, no calls */
            int16_t *px = r + (int64_t)(pw + iw) * P->c;
            const int64_t *sx = src + (int64_t)iw * cin;
            for (int c = 0; c < cin; c++) {
                if (sx[c] > lim || sx[c] < -lim)
                    return -1;
                px[c] = (int16_t)sx[c];
            }
            for (int c = cin; c < P->c; c++)
                px[c] = 0;
        }
    }
    return 0;
}

int narrow_linear(const layer_t *L, const tensor_t *in, tensor_t *out)
{
    if (!L->kernel_t16 || kernel_mode() == KERNEL_WIDE)
        return -1;
    /* eight or more output channels: broadcast input pairs against the channels (no
     * horizontal sums, pairs of codes: an even fan-in); fewer: one dot product per channel
     * (whole vectors: kp codes). A dense layer whose channels are not whole vectors of 8
     * takes the dot products too: its pairs would pad them (CIFAR-10's 10 logits: 16) */
    const int pairs = L->cout >= 8 && (L->kind == LAYER_CONV2D || L->cout % 8 == 0);
    /* a convolution reads its receptive fields in place from a padded copy where the runs
     * allow it; else each field is copied into a row (im2col) from the plain copy */
    padded_t P = {0};
    const int padded_rc = L->kind == LAYER_CONV2D ? narrow_padded(L, in, pairs ? 2 : 16, &P) : 1;
    const int padded = padded_rc == 0;
    if (padded_rc < 0 || (!padded && narrow_prepare(L, in)) ||
        scratch_grow((void **)&scratch.sum, &scratch.cap_sum, (size_t)L->cout, sizeof(int64_t)))
        return -1;
    const int64_t kp = L->kernel_kp, k = L->n_weights / L->cout;
    const fixed_align_t a = fixed_align(L, in, out);
    const int64_t row_len = pairs ? (k + 1) / 2 * 2 : kp;
    const int cs = pairs ? L->kernel_cout8 : L->cout; /* sums per output pixel */
    const int ow_n = L->kind == LAYER_CONV2D ? L->out.w : 1;
    /* a row of output pixels' int32 sums, then their outputs by one vector shift with
     * the aligned bias repeated along the row */
    const int vector_out = a.shift_prod >= 0 && a.shift_prod < 32;
    if (scratch_grow((void **)&scratch.sum32, &scratch.cap_sum32, (size_t)ow_n * (size_t)cs,
                     sizeof(int32_t)) ||
        scratch_grow((void **)&scratch.bias, &scratch.cap_bias, (size_t)ow_n * (size_t)L->cout,
                     sizeof(int64_t)))
        return -1;
    for (int c = 0; vector_out && c < L->cout; c++)
        scratch.bias[c] = L->use_bias ? (int64_t)L->bias_code[c] * ((int64_t)1 << a.shift_bias) : 0;
    for (int p = 1; vector_out && p < ow_n; p++)
        memcpy(scratch.bias + (int64_t)p * L->cout, scratch.bias, (size_t)L->cout * sizeof(int64_t));
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
        for (int ow = 0; ow < ow_n; ow++) {
            int32_t *sum = scratch.sum32 + (int64_t)ow * cs;
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
        int64_t *o = out->fixed + (int64_t)oh * ow_n * L->cout;
        if (vector_out && cs == L->cout) {
            kernel_fixed_out(scratch.sum32, scratch.bias, a.shift_prod, L->act == ACT_RELU,
                             ow_n * L->cout, o);
            continue;
        }
        for (int ow = 0; ow < ow_n; ow++, o += L->cout) {
            const int32_t *sum = scratch.sum32 + (int64_t)ow * cs;
            if (vector_out) {
                kernel_fixed_out(sum, scratch.bias, a.shift_prod, L->act == ACT_RELU, L->cout, o);
                continue;
            }
            for (int c = 0; c < L->cout; c++)
                scratch.sum[c] = sum[c];
            fixed_pixel(L, a, o, scratch.sum);
        }
    }
    return 0;
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
