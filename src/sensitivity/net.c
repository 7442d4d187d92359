/* The differentiable network: the model as steps (linear maps, pointwise activations,
 * quantizers, batchnorm, copies, pooling, padding, add, concatenate), each reading the steps
 * its layer reads (a graph model: a derivative reaching a tensor several steps read is
 * summed over them), each with a forward, an R-forward
 * (directional derivative of its output), and a backward with its R-backward
 * (Pearlmutter's R-operator: forward-mode differentiation of the backward pass),
 * which together give the gradient and exact Hessian-vector products.
 *
 * Each layer's kind (engine/layer_<kind>.c) names the step it becomes (layer_diff) and gives
 * its geometry: a linear map's blocks in the engine's summation order, a window's table.
 * The forward pass follows the engine operation for operation (same summation order, same
 * float32 batchnorm, same float cast before a quantizer that reads a real tensor), so in
 * SENS_QUANTIZED its values equal the engine's. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "upset/bitspace.h"
#include "upset/econt.h"
#include "upset/engine.h"
#include "upset/kernels.h"
#include "upset/sensitivity.h"
#include "upset/task.h"


struct sens_step {
    layer_diff_t kind; /* what its layer's kind names it (a fused activation: DIFF_ACT) */
    const layer_t *L; /* the model layer it comes from */
    int64_t n_in, n_out;
    /* the steps it reads (-1: the model input); a chain step reads the one before it.
     * consumers: how many steps read this one (several: its dz is a sum over them) */
    int n_src, src[UPSET_MAX_INPUTS];
    int consumers;
    int out_real;     /* DIFF_ADD: the engine's sum is a float tensor (float32 arithmetic) */
    act_t act;        /* DIFF_ACT: relu, sigmoid or softmax */
    const quant_t *q; /* DIFF_QUANT */
    int in_real;      /* DIFF_QUANT: the engine reads this input through float */
    double qmax;      /* DIFF_QUANT relu: largest value (end of the STE pass band) */
    int block;        /* DIFF_LINEAR: parameter block, or -1 */
    double *w, *b;    /* DIFF_LINEAR: kernel (n_weights), bias (cout) or NULL */
    int bias_params;  /* DIFF_LINEAR block: 1 when its bias codes are parameters too (they
                         follow the kernel in theta, as their bits follow in the fault space) */
    double *scale, *shift;   /* DIFF_BN (c), float modes */
    float *fscale, *fshift;  /* DIFF_BN (c), SENS_QUANTIZED: the engine's float32 */
    double *z, *rz, *dz, *rdz; /* (n_out) output, R{output}, dloss/doutput, R{dloss/doutput} */
    /* pooling: the input pixel of window position j of output pixel p, win[p * wlen + j]
     * (-1 outside the image); max pooling: the input index each output took (argmax);
     * zero padding: the output index of each input value (in win, wlen = 1) */
    int64_t *win, *arg;
    int wlen;
};

/* ------------------------------------------------------------ linear maps */

enum { LIN_FWD, LIN_BWD_X, LIN_BWD_W };

/* One operand set of a linear map: kernel M, input-side x, output-side d (each
 * NULL where the op does not read it). */
typedef struct {
    const double *M, *x, *d;
} term_t;

static const term_t NONE = {NULL, NULL, NULL};

static int present(term_t a) { return a.M || a.x || a.d; }

static term_t shift(term_t a, int64_t mo, int64_t xo, int64_t oo)
{
    term_t r = {a.M ? a.M + mo : NULL, a.x ? a.x + xo : NULL, a.d ? a.d + oo : NULL};
    return r;
}

/* One tap of a linear map: a cin x cout block M of the kernel (M[ci][co], or
 * M[co][ci] when T, as conv2d_transpose stores it) between an input slice x
 * (cin) and an output slice d (cout); the R-operator's paired terms (b) share the
 * loop.
 *   FWD:   t[co]    += sum_ci a.x[ci] a.M + b.x[ci] b.M     (t: output slice)
 *   BWD_X: t[ci]    += sum_co a.d[co] a.M + b.d[co] b.M     (t: input-gradient slice)
 *   BWD_W: t[ci,co] += a.x[ci] a.d[co] + b.x[ci] b.d[co]    (t: kernel-gradient block) */
static void lin_block(int op, int T, int cin, int cout, term_t a, term_t b, double *t)
{
    const int two = present(b);
    if (!T) {
        for (int ci = 0; ci < cin; ci++) {
            const int64_t r = (int64_t)ci * cout;
            if (op == LIN_FWD) {
                double xa = a.x[ci], xb = two ? b.x[ci] : 0;
                if (xa == 0 && xb == 0) /* as the engine: skipping keeps its summation order */
                    continue;
                if (!two)
                    kernel_axpy_f64(t, xa, a.M + r, cout);
                else
                    kernel_axpy2_f64(t, xa, a.M + r, xb, b.M + r, cout);
            } else if (op == LIN_BWD_X) {
                const double *wa = a.M + r, *wb = two ? b.M + r : NULL;
                double s = 0;
                if (!two)
                    for (int co = 0; co < cout; co++)
                        s += a.d[co] * wa[co];
                else
                    for (int co = 0; co < cout; co++)
                        s += a.d[co] * wa[co] + b.d[co] * wb[co];
                t[ci] += s;
            } else {
                double xa = a.x[ci], xb = two ? b.x[ci] : 0;
                double *g = t + r;
                if (xa == 0 && xb == 0) /* relu outputs are often zero */
                    continue;
                if (!two)
                    kernel_axpy_f64(g, xa, a.d, cout);
                else
                    kernel_axpy2_f64(g, xa, a.d, xb, b.d, cout);
            }
        }
        return;
    }
    for (int co = 0; co < cout; co++) {
        const int64_t r = (int64_t)co * cin;
        if (op == LIN_FWD) {
            const double *wa = a.M + r, *wb = two ? b.M + r : NULL;
            double acc = 0;
            if (!two)
                for (int ci = 0; ci < cin; ci++)
                    acc += a.x[ci] * wa[ci];
            else
                for (int ci = 0; ci < cin; ci++)
                    acc += a.x[ci] * wa[ci] + b.x[ci] * wb[ci];
            t[co] += acc;
        } else if (op == LIN_BWD_X) {
            double da = a.d[co], db = two ? b.d[co] : 0;
            if (!two)
                kernel_axpy_f64(t, da, a.M + r, cin);
            else
                kernel_axpy2_f64(t, da, a.M + r, db, b.M + r, cin);
        } else {
            double da = a.d[co], db = two ? b.d[co] : 0;
            double *g = t + r; /* a.x[ci] * da == da * a.x[ci]: a product commutes exactly */
            if (!two)
                kernel_axpy_f64(g, da, a.x, cin);
            else
                kernel_axpy2_f64(g, da, a.x, db, b.x, cin);
        }
    }
}

/* A depthwise block (layer_linear_blocks): output channel ci * mult + m reads input
 * channel ci through weight ci * mult + m; op and terms as lin_block. */
static void lin_depthwise(int op, int cin, int mult, term_t a, term_t b, double *t)
{
    const int two = present(b);
    for (int ci = 0; ci < cin; ci++)
        for (int m = 0; m < mult; m++) {
            const int64_t o = (int64_t)ci * mult + m, x = ci, w = o;
            if (op == LIN_FWD)
                t[o] += a.x[x] * a.M[w] + (two ? b.x[x] * b.M[w] : 0);
            else if (op == LIN_BWD_X)
                t[x] += a.d[o] * a.M[w] + (two ? b.d[o] * b.M[w] : 0);
            else
                t[w] += a.x[x] * a.d[o] + (two ? b.x[x] * b.d[o] : 0);
        }
}

typedef struct {
    const layer_t *L;
    linear_block_t block;
    int op;
    term_t a, b;
    double *t;
} lin_ctx_t;

/* One block of the layer's weights (layer_linear_blocks' visit). */
static void lin_visit(void *p, int64_t wo, int64_t xo, int64_t oo)
{
    const lin_ctx_t *c = p;
    const int op = c->op;
    const term_t a = shift(c->a, wo, xo, oo), b = present(c->b) ? shift(c->b, wo, xo, oo) : NONE;
    double *t = c->t + (op == LIN_FWD ? oo : op == LIN_BWD_X ? xo : wo);
    if (c->block == BLOCK_DEPTHWISE)
        lin_depthwise(op, c->L->cin, c->L->depth_mult, a, b, t);
    else
        lin_block(op, c->block == BLOCK_CO_CI, c->L->cin, c->L->cout, a, b, t);
}

/* Applies op over every block of the layer, in the engine's order (its kind's geometry),
 * to the terms a and (when present) b; t: target (see lin_block). */
static void lin_run(const layer_t *L, int op, term_t a, term_t b, double *t)
{
    lin_ctx_t c = {L, layer_linear_block(L), op, a, b, t};
    layer_linear_blocks(L, lin_visit, &c);
}

/* ------------------------------------------------------------ pointwise steps */

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

/* A softmax step normalises each position's channels (the engine's kernel_softmax_f64 over
 * runs of its layer's out.c values), so its derivatives are those of one softmax per run. */
static int64_t softmax_group(const sens_step_t *s) { return s->L->out.c; }

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* The STE derivative of a quantizer at input x: quantized_bits passes everything;
 * quantized_relu differentiates QKeras's x_u = relu(x, alpha = negative_slope) clipped at
 * qmax: 1 on 0 < x <= qmax, the slope (0, or 2^-s when leaky) for x <= 0, 0 above qmax. */
static double quant_slope(const sens_step_t *s, double x)
{
    if (s->q->kind != QUANT_RELU)
        return 1;
    return x > s->qmax ? 0 : x > 0 ? 1 : s->q->neg_shift ? ldexp(1.0, -s->q->neg_shift) : 0;
}

/* slope * v, with the slopes 1 and 0 exact as before (no -0 from 0 * negative) */
static double sloped(double slope, double v) { return slope == 1 ? v : slope == 0 ? 0 : slope * v; }

static double quant_forward(const sens_step_t *s, sens_mode_t mode, double x)
{
    if (mode != SENS_QUANTIZED) { /* the surrogate the STE differentiates */
        if (s->q->kind != QUANT_RELU)
            return x;
        /* QKeras's x_u: relu(x, alpha = negative_slope) clipped at qmax */
        return x > s->qmax ? s->qmax : x > 0 ? x : s->q->neg_shift ? ldexp(x, -s->q->neg_shift) : 0;
    }
    double v = s->in_real ? (double)(float)x : x;
    return quant_value(s->q, quant_code_from_double(s->q, v));
}

/* The engine's float32 batchnorm at inference. */
static double bn_forward(const sens_step_t *s, sens_mode_t mode, double x, int k)
{
    if (mode != SENS_QUANTIZED)
        return x * s->scale[k] + s->shift[k];
    float y = (float)x * s->fscale[k];
    return (double)(y + s->fshift[k]);
}

static double bn_slope(const sens_step_t *s, sens_mode_t mode, int k)
{
    return mode == SENS_QUANTIZED ? (double)s->fscale[k] : s->scale[k];
}

/* ------------------------------------------------------------ pooling, padding */

/* Forward as the engine (layer_pool.c): the max over the window's positions inside the
 * image, the first maximum winning (argmax kept for the derivative); the average as
 * TensorFlow's float32 sum divided once by the positions inside (the quantized mode: the
 * engine's float32 quotient; the float modes: the exact mean); zero padding moves. */
static void window_forward(const sens_net_t *net, sens_step_t *s, const double *x)
{
    const int64_t C = s->L->in.c, pixels = s->n_out / C;
    if (s->kind == DIFF_ZEROPAD) {
        memset(s->z, 0, (size_t)s->n_out * sizeof *s->z);
        for (int64_t i = 0; i < s->n_in; i++)
            s->z[s->win[i]] = x[i];
        return;
    }
    for (int64_t p = 0; p < pixels; p++)
        for (int64_t c = 0; c < C; c++) {
            const int64_t o = p * C + c;
            double best = 0, sum = 0;
            int count = 0;
            for (int j = 0; j < s->wlen; j++) {
                const int64_t q = s->win[p * s->wlen + j];
                if (q < 0)
                    continue;
                const double v = x[q * C + c];
                if (s->kind == DIFF_MAXPOOL && (count == 0 || v > best)) {
                    best = v;
                    s->arg[o] = q * C + c;
                }
                sum += v;
                count++;
            }
            if (s->kind == DIFF_MAXPOOL)
                s->z[o] = best;
            else if (net->mode == SENS_QUANTIZED) /* the sum of codes is exact */
                s->z[o] = (double)((float)sum / (float)count);
            else
                s->z[o] = sum / count;
        }
}

/* The windows' linear maps: forward out = J in (R{x} -> R{z}); backward out = J^T in
 * (dz -> dx, which it overwrites). */
static void window_linear(const sens_step_t *s, int forward, const double *in, double *out)
{
    const int64_t C = s->L->in.c;
    if (!forward)
        memset(out, 0, (size_t)s->n_in * sizeof *out);
    if (s->kind == DIFF_ZEROPAD) {
        if (forward)
            memset(out, 0, (size_t)s->n_out * sizeof *out);
        for (int64_t i = 0; i < s->n_in; i++) {
            if (forward)
                out[s->win[i]] = in[i];
            else
                out[i] = in[s->win[i]];
        }
        return;
    }
    for (int64_t o = 0; o < s->n_out; o++) {
        if (s->kind == DIFF_MAXPOOL) {
            if (forward)
                out[o] = in[s->arg[o]];
            else
                out[s->arg[o]] += in[o];
            continue;
        }
        const int64_t p = o / C, c = o % C;
        int count = 0;
        for (int j = 0; j < s->wlen; j++)
            count += s->win[p * s->wlen + j] >= 0;
        double acc = 0;
        for (int j = 0; j < s->wlen; j++) {
            const int64_t q = s->win[p * s->wlen + j];
            if (q < 0)
                continue;
            if (forward)
                acc += in[q * C + c];
            else
                out[q * C + c] += in[o] / count;
        }
        if (forward)
            out[o] = acc / count;
    }
}

/* The window table of a pooling or padding step (see sens_step): its kind's. */
static int window_table(sens_step_t *s, upset_err_t *err)
{
    s->win = layer_window(s->L, &s->wlen, err);
    s->arg = s->kind == DIFF_MAXPOOL ? upset_calloc((size_t)s->n_out, sizeof *s->arg, err) : NULL;
    return !s->win || (s->kind == DIFF_MAXPOOL && !s->arg) ? -1 : 0;
}

/* ------------------------------------------------------------ step passes */

static void step_forward(const sens_net_t *net, sens_step_t *s, const double *x)
{
    const int64_t n = s->n_out;
    double *z = s->z;
    switch (s->kind) {
    case DIFF_LINEAR:
        for (int64_t p = 0; p < n; p += s->L->cout)
            for (int c = 0; c < s->L->cout; c++)
                z[p + c] = s->b ? s->b[c] : 0.0;
        lin_run(s->L, LIN_FWD, (term_t){s->w, x, NULL}, NONE, z);
        return;
    case DIFF_ACT:
        if (s->act == ACT_SOFTMAX) {
            kernel_softmax_f64(x, z, n, softmax_group(s));
        } else if (s->act == ACT_SIGMOID) {
            for (int64_t i = 0; i < n; i++)
                z[i] = sigmoid(x[i]);
        } else { /* relu */
            for (int64_t i = 0; i < n; i++)
                z[i] = x[i] > 0 ? x[i] : 0;
        }
        return;
    case DIFF_BN:
        for (int64_t i = 0; i < n; i++)
            z[i] = bn_forward(s, net->mode, x[i], (int)(i % s->L->out.c));
        return;
    case DIFF_QUANT:
        for (int64_t i = 0; i < n; i++)
            z[i] = quant_forward(s, net->mode, x[i]);
        return;
    case DIFF_COPY:
        memcpy(z, x, (size_t)n * sizeof *z);
        return;
    case DIFF_ADD: /* several inputs: merge_forward */
    case DIFF_CONCAT:
    case DIFF_NONE: /* never a step: build_steps refuses it */
        return;
    case DIFF_MAXPOOL:
    case DIFF_AVGPOOL:
    case DIFF_ZEROPAD:
        window_forward(net, s, x);
        return;
    }
}

/* R{z} from R{x} (rx) and, for a parameter block, the direction V of its kernel. */
static void step_rforward(const sens_net_t *net, sens_step_t *s, const double *x,
                          const double *rx, const double *V)
{
    const int64_t n = s->n_out;
    double *rz = s->rz;
    const double *z = s->z;
    switch (s->kind) {
    case DIFF_LINEAR:
        memset(rz, 0, (size_t)n * sizeof *rz);
        if (V && s->bias_params) /* R{a} += the bias direction */
            for (int64_t p = 0; p < n; p += s->L->cout)
                for (int c = 0; c < s->L->cout; c++)
                    rz[p + c] = V[s->L->n_weights + c];
        if (rx || V) /* R{a} = W R{x} + V x */
            lin_run(s->L, LIN_FWD, rx ? (term_t){s->w, rx, NULL} : (term_t){V, x, NULL},
                    rx && V ? (term_t){V, x, NULL} : NONE, rz);
        return;
    case DIFF_ACT:
        if (s->act == ACT_SOFTMAX) { /* R{z} = z (R{x} - <z, R{x}>) in each run */
            const int64_t g = softmax_group(s);
            for (int64_t p = 0; p < n; p += g) {
                double t = dot(z + p, rx + p, g);
                for (int64_t i = p; i < p + g; i++)
                    rz[i] = z[i] * (rx[i] - t);
            }
        } else if (s->act == ACT_SIGMOID) {
            for (int64_t i = 0; i < n; i++)
                rz[i] = z[i] * (1 - z[i]) * rx[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                rz[i] = x[i] > 0 ? rx[i] : 0;
        }
        return;
    case DIFF_BN:
        for (int64_t i = 0; i < n; i++)
            rz[i] = bn_slope(s, net->mode, (int)(i % s->L->out.c)) * rx[i];
        return;
    case DIFF_QUANT:
        for (int64_t i = 0; i < n; i++)
            rz[i] = sloped(quant_slope(s, x[i]), rx[i]);
        return;
    case DIFF_COPY:
        memcpy(rz, rx, (size_t)n * sizeof *rz);
        return;
    case DIFF_ADD: /* several inputs: merge_linear */
    case DIFF_CONCAT:
    case DIFF_NONE: /* never a step: build_steps refuses it */
        return;
    case DIFF_MAXPOOL:
    case DIFF_AVGPOOL:
    case DIFF_ZEROPAD:
        window_linear(s, 1, rx, rz);
        return;
    }
}

/* From dz (and rdz when r): the input side dx (and rdx), each NULL when not needed;
 * for a parameter block the kernel gradient into g and R{gradient} into hv. */
static void step_backward(const sens_net_t *net, const sens_step_t *s, const double *x,
                          const double *rx, const double *V, double *dx, double *rdx, double *g,
                          double *hv)
{
    const int64_t n = s->n_out;
    const double *z = s->z, *dz = s->dz, *rdz = s->rdz, *rz = s->rz;
    const int r = rdx != NULL || hv != NULL;
    switch (s->kind) {
    case DIFF_LINEAR:
        if (g) /* dL/dW = x (x) dz */
            lin_run(s->L, LIN_BWD_W, (term_t){NULL, x, dz}, NONE, g);
        if (hv) /* R{dL/dW} = R{x} (x) dz + x (x) R{dz} */
            lin_run(s->L, LIN_BWD_W, (term_t){NULL, x, rdz},
                    rx ? (term_t){NULL, rx, dz} : NONE, hv);
        if (s->bias_params) /* dL/db[c] = sum of dz over the positions, R{} likewise */
            for (int64_t p = 0; p < n; p += s->L->cout)
                for (int c = 0; c < s->L->cout; c++) {
                    if (g)
                        g[s->L->n_weights + c] += dz[p + c];
                    if (hv)
                        hv[s->L->n_weights + c] += rdz[p + c];
                }
        if (dx) { /* dL/dx = W^T dz */
            memset(dx, 0, (size_t)s->n_in * sizeof *dx);
            lin_run(s->L, LIN_BWD_X, (term_t){s->w, NULL, dz}, NONE, dx);
        }
        if (rdx) { /* R{dL/dx} = W^T R{dz} + V^T dz */
            memset(rdx, 0, (size_t)s->n_in * sizeof *rdx);
            lin_run(s->L, LIN_BWD_X, (term_t){s->w, NULL, rdz},
                    V ? (term_t){V, NULL, dz} : NONE, rdx);
        }
        return;
    case DIFF_ACT:
        if (!dx)
            return;
        if (s->act == ACT_SOFTMAX) { /* each run: dx = z (dz - <dz, z>), and its R{} */
            const int64_t g = softmax_group(s);
            for (int64_t p = 0; p < n; p += g) {
                double t = dot(dz + p, z + p, g);
                for (int64_t i = p; i < p + g; i++)
                    dx[i] = z[i] * (dz[i] - t);
                if (r) {
                    double rt = dot(rz + p, dz + p, g) + dot(z + p, rdz + p, g);
                    for (int64_t i = p; i < p + g; i++)
                        rdx[i] = rz[i] * (dz[i] - t) + z[i] * (rdz[i] - rt);
                }
            }
        } else if (s->act == ACT_SIGMOID) {
            for (int64_t i = 0; i < n; i++) {
                double d1 = z[i] * (1 - z[i]);
                dx[i] = d1 * dz[i];
                if (r)
                    rdx[i] = d1 * (1 - 2 * z[i]) * rx[i] * dz[i] + d1 * rdz[i];
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                int on = x[i] > 0;
                dx[i] = on ? dz[i] : 0;
                if (r)
                    rdx[i] = on ? rdz[i] : 0;
            }
        }
        return;
    case DIFF_BN:
        if (!dx)
            return;
        for (int64_t i = 0; i < n; i++) {
            double a = bn_slope(s, net->mode, (int)(i % s->L->out.c));
            dx[i] = a * dz[i];
            if (r)
                rdx[i] = a * rdz[i];
        }
        return;
    case DIFF_QUANT:
        if (!dx)
            return;
        for (int64_t i = 0; i < n; i++) {
            const double slope = quant_slope(s, x[i]);
            dx[i] = sloped(slope, dz[i]);
            if (r)
                rdx[i] = sloped(slope, rdz[i]);
        }
        return;
    case DIFF_COPY:
        if (!dx)
            return;
        memcpy(dx, dz, (size_t)n * sizeof *dx);
        if (r)
            memcpy(rdx, rdz, (size_t)n * sizeof *rdx);
        return;
    case DIFF_ADD: /* several inputs: merge_linear */
    case DIFF_CONCAT:
    case DIFF_NONE: /* never a step: build_steps refuses it */
        return;
    case DIFF_MAXPOOL:
    case DIFF_AVGPOOL:
    case DIFF_ZEROPAD:
        if (dx)
            window_linear(s, 0, dz, dx);
        if (rdx)
            window_linear(s, 0, rdz, rdx);
        return;
    }
}

/* ------------------------------------------------------------ merges */

/* add and concatenate, as the engine computes them (layer_merge.c): a fixed-point sum is
 * exact in double; a float one is Keras's float32 sum in input order (the quantized mode
 * only: the float modes differentiate the exact sum). in[k]: the inputs' z. */
static void merge_forward(const sens_net_t *net, sens_step_t *s, const double *const *in)
{
    const int64_t n = s->n_out;
    if (s->kind == DIFF_ADD) {
        const int f32 = net->mode == SENS_QUANTIZED && s->out_real && s->L->part != PART_DECODER;
        for (int64_t i = 0; i < n; i++) {
            double v = f32 ? (double)(float)in[0][i] : in[0][i];
            for (int k = 1; k < s->n_src; k++)
                v = f32 ? (double)(float)(v + (double)(float)in[k][i]) : v + in[k][i];
            s->z[i] = v;
        }
        return;
    }
    const int64_t pixels = (int64_t)s->L->out.h * s->L->out.w;
    int64_t c0 = 0;
    for (int k = 0; k < s->n_src; k++) {
        const int64_t c = net->steps[s->src[k]].n_out / pixels;
        for (int64_t p = 0; p < pixels; p++)
            memcpy(s->z + p * s->L->out.c + c0, in[k] + p * c, (size_t)c * sizeof *s->z);
        c0 += c;
    }
}

/* A merge's derivative is linear. forward: out = R{z} from the inputs' R{x} in[k] (NULL:
 * zero); backward: outs[k] = the part of in[0] (dz or R{dz}) input k receives (NULL: not
 * needed). */
static void merge_linear(const sens_net_t *net, const sens_step_t *s, int forward,
                         const double *const *in, double *out, double *const *outs)
{
    const int64_t n = s->n_out;
    if (s->kind == DIFF_ADD) {
        if (forward) {
            memset(out, 0, (size_t)n * sizeof *out);
            for (int k = 0; k < s->n_src; k++)
                for (int64_t i = 0; in[k] && i < n; i++)
                    out[i] += in[k][i];
        } else {
            for (int k = 0; k < s->n_src; k++)
                if (outs[k])
                    memcpy(outs[k], in[0], (size_t)n * sizeof *in[0]);
        }
        return;
    }
    const int64_t pixels = (int64_t)s->L->out.h * s->L->out.w;
    int64_t c0 = 0;
    for (int k = 0; k < s->n_src; k++) {
        const int64_t c = net->steps[s->src[k]].n_out / pixels;
        for (int64_t p = 0; p < pixels; p++) {
            double *o = forward ? out + p * s->L->out.c + c0 : NULL;
            if (forward && in[k])
                memcpy(o, in[k] + p * c, (size_t)c * sizeof *o);
            else if (forward)
                memset(o, 0, (size_t)c * sizeof *o);
            else if (outs[k])
                memcpy(outs[k] + p * c, in[0] + p * s->L->out.c + c0, (size_t)c * sizeof *o);
        }
        c0 += c;
    }
}

/* ------------------------------------------------------------ the loss */

/* d loss / d output into dz; with r, R{d loss / d output} into rdz from rz. */
static int loss_backward(const sens_net_t *net, const double *cells, int label, int r,
                         double *loss, upset_err_t *err)
{
    sens_step_t *last = &net->steps[net->out_step];
    const int64_t n = last->n_out;
    const double *o = last->z;
    memset(last->dz, 0, (size_t)n * sizeof *last->dz);
    if (r)
        memset(last->rdz, 0, (size_t)n * sizeof *last->rdz);
    if (net->loss == SENS_LOSS_XENT) {
        if (label < 0 || label >= n)
            return upset_fail(err, "label %d is outside the model's %lld classes", label,
                              (long long)n);
        double *p = malloc((size_t)n * sizeof *p); /* classes: never on the stack */
        if (!p)
            return upset_fail(err, "out of memory for %lld class probabilities", (long long)n);
        kernel_softmax_f64(o, p, n, n); /* the classes: one run */
        *loss = -log(p[label]);
        if (!(p[label] >= DBL_MIN)) { /* p subnormal or 0, so inexact: log-sum-exp */
            double mx = -INFINITY, s = 0;
            for (int64_t i = 0; i < n; i++)
                mx = o[i] > mx ? o[i] : mx;
            for (int64_t i = 0; i < n; i++)
                s += exp(o[i] - mx);
            *loss = mx + log(s) - o[label];
        }
        for (int64_t i = 0; i < n; i++)
            last->dz[i] = p[i] - (i == label);
        if (r) {
            double t = dot(p, last->rz, n);
            for (int64_t i = 0; i < n; i++)
                last->rdz[i] = p[i] * (last->rz[i] - t);
        }
        free(p);
        return 0;
    }
    /* telescope loss on the 48 cells read back from the 8x8 output */
    const int *remap = econt_remap_8x8();
    double yh[ECONT_CELLS], g[ECONT_CELLS];
    econt_cells_from_8x8(o, yh);
    *loss = econt_telescope_loss(cells, yh, g);
    for (int i = 0; i < ECONT_CELLS; i++)
        last->dz[remap[i]] += g[i];
    if (!r)
        return 0;
    /* H u of the loss by a central difference of its gradient: the gradient is
     * piecewise quadratic in yhat, so the difference is exact inside a piece, and
     * the loss is C2 across pieces (max(y, yhat) switches where y = yhat, where
     * both sides' second derivatives agree), so a crossing costs only O(h). */
    double u[ECONT_CELLS], umax = 0, ymax = 1;
    for (int i = 0; i < ECONT_CELLS; i++) {
        u[i] = last->rz[remap[i]];
        umax = fabs(u[i]) > umax ? fabs(u[i]) : umax;
        ymax = fabs(yh[i]) > ymax ? fabs(yh[i]) : ymax;
    }
    if (umax == 0)
        return 0;
    const double h = ldexp(ymax, -20) / umax;
    double yp[ECONT_CELLS], ym[ECONT_CELLS], gp[ECONT_CELLS], gm[ECONT_CELLS];
    for (int i = 0; i < ECONT_CELLS; i++) {
        yp[i] = yh[i] + h * u[i];
        ym[i] = yh[i] - h * u[i];
    }
    econt_telescope_loss(cells, yp, gp);
    econt_telescope_loss(cells, ym, gm);
    for (int i = 0; i < ECONT_CELLS; i++)
        last->rdz[remap[i]] += (gp[i] - gm[i]) / (2 * h);
    return 0;
}

/* ------------------------------------------------------------ one sample */

/* Input k of step s: its output z (the model input x for -1) and its R{z} (NULL where
 * no parameter reaches: before the first parameter step, or the model input). */
static const double *src_z(const sens_net_t *net, const sens_step_t *s, int k, const double *x)
{
    return s->src[k] < 0 ? x : net->steps[s->src[k]].z;
}

static const double *src_rz(const sens_net_t *net, const sens_step_t *s, int k)
{
    return s->src[k] >= net->first_param_step ? net->steps[s->src[k]].rz : NULL;
}

int sens_sample(sens_net_t *net, const double *x, const double *cells, int label,
                const double *v, double *loss, double *g, double *hv, upset_err_t *err)
{
    const int r = v && hv;
    sens_step_t *st = net->steps;
    const int f = net->first_param_step;
    for (int i = 0; i < net->n_steps; i++) {
        sens_step_t *s = &st[i];
        if (s->kind == DIFF_ADD || s->kind == DIFF_CONCAT) {
            const double *in[UPSET_MAX_INPUTS];
            for (int k = 0; k < s->n_src; k++)
                in[k] = src_z(net, s, k, x);
            merge_forward(net, s, in);
        } else {
            step_forward(net, s, src_z(net, s, 0, x));
        }
    }
    if (r)
        for (int i = f; i < net->n_steps; i++) {
            sens_step_t *s = &st[i];
            const double *V = s->block >= 0 ? v + net->block_off[s->block] : NULL;
            if (s->kind == DIFF_ADD || s->kind == DIFF_CONCAT) {
                const double *in[UPSET_MAX_INPUTS];
                for (int k = 0; k < s->n_src; k++)
                    in[k] = src_rz(net, s, k);
                merge_linear(net, s, 1, in, s->rz, NULL);
                continue;
            }
            const double *rx = src_rz(net, s, 0);
            if (!rx && !V && i > f) { /* reads only what no parameter reaches */
                memset(s->rz, 0, (size_t)s->n_out * sizeof *s->rz);
                continue;
            }
            step_rforward(net, s, src_z(net, s, 0, x), rx, V);
        }
    if (!loss && !g && !r)
        return 0;
    double l = 0;
    if (loss_backward(net, cells, label, r, &l, err))
        return -1;
    if (loss)
        *loss += l;
    if (!g && !r)
        return 0;
    /* a step several steps read gathers its dz as a sum over them (onto the loss's, for
     * the output step) */
    for (int i = f; i < net->n_steps; i++)
        if (st[i].consumers > 1 && i != net->out_step) {
            memset(st[i].dz, 0, (size_t)st[i].n_out * sizeof *st[i].dz);
            memset(st[i].rdz, 0, (size_t)st[i].n_out * sizeof *st[i].rdz);
        }
    for (int i = net->n_steps - 1; i >= f; i--) {
        const sens_step_t *s = &st[i];
        const int b = s->block;
        /* where the inputs' derivatives go: straight into a producer only this step reads
         * (a chain: as before), else through the scratch and added */
        double *dx[UPSET_MAX_INPUTS], *rdx[UPSET_MAX_INPUTS];
        for (int k = 0; k < s->n_src; k++) {
            const int p = s->src[k];
            const int direct = p >= f && st[p].consumers == 1;
            dx[k] = p < f ? NULL : direct ? st[p].dz : net->scratch + 2 * k * net->scratch_n;
            rdx[k] = !r || p < f ? NULL
                     : direct    ? st[p].rdz
                                 : net->scratch + (2 * k + 1) * net->scratch_n;
        }
        if (s->kind == DIFF_ADD || s->kind == DIFF_CONCAT) {
            const double *d[1] = {s->dz}, *rd[1] = {s->rdz};
            merge_linear(net, s, 0, d, NULL, dx);
            if (r)
                merge_linear(net, s, 0, rd, NULL, rdx);
        } else {
            const double *V = r && b >= 0 ? v + net->block_off[b] : NULL;
            double *gb = g && b >= 0 ? g + net->block_off[b] : NULL;
            double *hb = r && b >= 0 ? hv + net->block_off[b] : NULL;
            step_backward(net, s, src_z(net, s, 0, x), r ? src_rz(net, s, 0) : NULL, V, dx[0],
                          rdx[0], gb, hb);
        }
        for (int k = 0; k < s->n_src; k++) { /* add into a producer several steps read */
            const int p = s->src[k];
            if (p < f || st[p].consumers == 1)
                continue;
            for (int64_t j = 0; j < st[p].n_out; j++) {
                st[p].dz[j] += dx[k][j];
                if (r)
                    st[p].rdz[j] += rdx[k][j];
            }
        }
    }
    return 0;
}

const double *sens_output(const sens_net_t *net, int64_t *n)
{
    const sens_step_t *last = &net->steps[net->out_step];
    if (n)
        *n = last->n_out;
    return last->z;
}

/* ------------------------------------------------------------ building */

static void step_free(sens_step_t *s)
{
    free(s->win);
    free(s->arg);
    free(s->w);
    free(s->b);
    free(s->scale);
    free(s->shift);
    free(s->fscale);
    free(s->fshift);
    free(s->z);
    free(s->rz);
    free(s->dz);
    free(s->rdz);
    memset(s, 0, sizeof *s);
}

/* Appends s with its buffers; the net owns s's arrays from here on, even on failure. */
static int add_step(sens_net_t *net, int *cap, sens_step_t *s, upset_err_t *err)
{
    if (net->n_steps == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        sens_step_t *ns = realloc(net->steps, (size_t)nc * sizeof *ns);
        if (!ns) {
            step_free(s);
            return upset_fail(err, "out of memory");
        }
        net->steps = ns;
        *cap = nc;
    }
    s->z = upset_calloc((size_t)s->n_out, sizeof *s->z, err);
    s->rz = upset_calloc((size_t)s->n_out, sizeof *s->rz, err);
    s->dz = upset_calloc((size_t)s->n_out, sizeof *s->dz, err);
    s->rdz = upset_calloc((size_t)s->n_out, sizeof *s->rdz, err);
    net->steps[net->n_steps++] = *s;
    return s->z && s->rz && s->dz && s->rdz ? 0 : -1;
}

static int linear_weights(sens_step_t *s, sens_mode_t mode, upset_err_t *err)
{
    const layer_t *L = s->L;
    const int codes = L->quantized && mode != SENS_FLOAT_SHADOW;
    s->w = upset_calloc((size_t)L->n_weights, sizeof *s->w, err);
    if (!s->w)
        return -1;
    for (int64_t i = 0; i < L->n_weights; i++)
        s->w[i] = codes ? quant_value(&L->kq, L->kernel_code[i]) : (double)L->kernel[i];
    if (!L->use_bias)
        return 0;
    s->b = upset_calloc((size_t)L->cout, sizeof *s->b, err);
    if (!s->b)
        return -1;
    for (int c = 0; c < L->cout; c++)
        s->b[c] = codes ? quant_value(&L->bq, L->bias_code[c]) : (double)L->bias[c];
    return 0;
}

static int bn_params(sens_step_t *s, upset_err_t *err)
{
    const layer_t *L = s->L;
    const int c = L->out.c;
    s->scale = upset_calloc((size_t)c, sizeof *s->scale, err);
    s->shift = upset_calloc((size_t)c, sizeof *s->shift, err);
    s->fscale = upset_calloc((size_t)c, sizeof *s->fscale, err);
    s->fshift = upset_calloc((size_t)c, sizeof *s->fshift, err);
    if (!s->scale || !s->shift || !s->fscale || !s->fshift)
        return -1;
    for (int k = 0; k < c; k++) {
        s->fscale[k] = L->gamma[k] * (1.0f / sqrtf(L->moving_variance[k] + (float)L->epsilon));
        s->fshift[k] = L->beta[k] - L->moving_mean[k] * s->fscale[k];
        s->scale[k] = (double)L->gamma[k] / sqrt((double)L->moving_variance[k] + L->epsilon);
        s->shift[k] = (double)L->beta[k] - (double)L->moving_mean[k] * s->scale[k];
    }
    return 0;
}

static int build_steps(sens_net_t *net, const engine_t *e, upset_err_t *err)
{
    const model_t *m = net->model;
    int cap = 0, block = 0;
    int *last_step = upset_calloc((size_t)m->n_layers, sizeof *last_step, err);
    if (!last_step)
        return -1;
    for (int l = 0; l < m->n_layers; l++) {
        const layer_t *L = &m->layers[l];
        if (l > 0)
            last_step[l - 1] = net->n_steps - 1;
        sens_step_t s;
        memset(&s, 0, sizeof s);
        s.L = L;
        s.block = -1;
        s.n_in = shape_size(L->in);
        s.n_out = shape_size(L->out);
        s.n_src = L->n_inputs; /* the layer's inputs: the last steps of those layers */
        for (int k = 0; k < L->n_inputs; k++)
            s.src[k] = L->inputs[k] < 0 ? -1 : last_step[L->inputs[k]];
        s.in_real = L->inputs[0] < 0 || e->out[L->inputs[0]].kind == TENSOR_REAL;
        s.kind = layer_diff(L); /* the step its kind names */
        switch (s.kind) {
        case DIFF_LINEAR:
            if (L->faultable) {
                s.block = block++;
                s.bias_params = bitspace_bias_codes(L) > 0; /* the fault space holds its bias */
            }
            if (linear_weights(&s, net->mode, err)) {
                step_free(&s);
                goto fail;
            }
            if (add_step(net, &cap, &s, err))
                goto fail;
            if (L->act == ACT_LINEAR)
                continue;
            memset(&s, 0, sizeof s);
            s.L = L;
            s.block = -1;
            s.n_src = 1; /* the fused activation reads the linear step */
            s.src[0] = net->n_steps - 1;
            s.n_in = s.n_out = shape_size(L->out);
            if (L->act != ACT_RELU && L->act != ACT_SIGMOID && L->act != ACT_SOFTMAX) {
                upset_fail(err, "layer %s: fused activation %s is not differentiable here",
                           L->name, act_name(L->act));
                goto fail;
            }
            s.kind = DIFF_ACT;
            s.act = L->act;
            break;
        case DIFF_BN:
            if (bn_params(&s, err)) {
                step_free(&s);
                goto fail;
            }
            break;
        case DIFF_QUANT:
            s.q = &L->aq;
            break;
        case DIFF_ACT:
            s.act = L->act;
            break;
        case DIFF_COPY:
            break;
        case DIFF_ADD:
        case DIFF_CONCAT:
            s.out_real = e->out[l].kind == TENSOR_REAL;
            break;
        case DIFF_MAXPOOL:
        case DIFF_AVGPOOL:
        case DIFF_ZEROPAD:
            if (window_table(&s, err)) {
                step_free(&s);
                goto fail;
            }
            break;
        case DIFF_NONE:
        default:
            upset_fail(err, "layer %s: %s layers are not differentiated by upset rank yet "
                            "(campaigns run them)",
                       L->name, layer_kind_name(L->kind));
            goto fail;
        }
        if (s.kind == DIFF_QUANT)
            s.qmax = quant_value(s.q, quant_code_max(s.q));
        if (add_step(net, &cap, &s, err))
            goto fail;
    }
    free(last_step);
    return 0;
fail:
    free(last_step);
    return -1;
}

int sens_net_create(sens_net_t *net, const model_t *m, int input_frac, sens_mode_t mode,
                    upset_err_t *err)
{
    memset(net, 0, sizeof *net);
    net->model = m;
    net->mode = mode;
    net->in_size = shape_size(m->input);
    switch (task_ops(m->task)->loss) {
    case TASK_LOSS_TELESCOPE:
        net->loss = SENS_LOSS_TELESCOPE;
        if (m->n_layers == 0 || shape_size(m->layers[m->n_layers - 1].out) != 64)
            return upset_fail(err, "%s: an autoencoder's output must be 8x8 (64 values)",
                              m->name);
        break;
    case TASK_LOSS_XENT: /* one label a sample: over one vector of class scores */
        net->loss = SENS_LOSS_XENT;
        if (task_check_output(m, err))
            return -1;
        break;
    default:
        return upset_fail(err, "%s: no loss is defined for task '%s'", m->name,
                          task_name(m->task));
    }
    /* the engine decides which tensors are real (its float cast before quantizers) */
    engine_t e;
    if (engine_create(&e, m, input_frac, err))
        return -1;
    int rc = build_steps(net, &e, err);
    engine_free(&e);
    if (rc)
        goto fail;
    net->out_step = net->n_steps - 1;
    if (net->loss == SENS_LOSS_XENT) { /* fold the final softmax into the loss */
        sens_step_t *last = &net->steps[net->n_steps - 1];
        if (last->kind == DIFF_ACT && last->act == ACT_SOFTMAX && last->src[0] >= 0) {
            /* the logits are what the softmax reads: in a graph, layers nothing reads
             * may lie between them and the softmax */
            net->out_step = last->src[0];
            step_free(last);
            net->n_steps--;
        }
    }
    int most_src = 1;
    for (int i = 0; i < net->n_steps; i++) { /* who reads whom (after the softmax fold) */
        const sens_step_t *s = &net->steps[i];
        for (int k = 0; k < s->n_src; k++)
            if (s->src[k] >= 0)
                net->steps[s->src[k]].consumers++;
        most_src = s->n_src > most_src ? s->n_src : most_src;
        net->scratch_n = s->n_out > net->scratch_n ? s->n_out : net->scratch_n;
    }
    /* and the loss reads the output step: a layer nothing reads may read it too, whose
     * (zero) derivative must be added to the loss's, not written over it */
    net->steps[net->out_step].consumers++;
    net->scratch = upset_calloc((size_t)(2 * most_src * net->scratch_n), sizeof *net->scratch, err);
    if (!net->scratch)
        goto fail;
    for (int l = 0; l < m->n_layers; l++)
        net->n_blocks += m->layers[l].faultable != 0;
    net->first_param_step = -1;
    for (int i = 0; i < net->n_steps && net->first_param_step < 0; i++)
        if (net->steps[i].block >= 0)
            net->first_param_step = i;
    if (net->first_param_step < 0 || net->n_steps == 0) {
        upset_fail(err, "%s: the model has no faultable kernels", m->name);
        goto fail;
    }
    net->block_layer = upset_calloc((size_t)net->n_blocks, sizeof *net->block_layer, err);
    net->block_off = upset_calloc((size_t)net->n_blocks + 1, sizeof *net->block_off, err);
    if (!net->block_layer || !net->block_off)
        goto fail;
    for (int l = 0, b = 0; l < m->n_layers; l++)
        if (m->layers[l].faultable) {
            const layer_t *L = &m->layers[l];
            if (layer_diff(L) != DIFF_LINEAR) {
                upset_fail(err, "layer %s: faultable but has no kernel", L->name);
                goto fail;
            }
            net->block_layer[b] = l;
            net->block_off[b + 1] = net->block_off[b] + L->n_weights + bitspace_bias_codes(L);
            b++;
        }
    net->n_params = net->block_off[net->n_blocks];
    return 0;
fail:
    sens_net_free(net);
    return -1;
}

void sens_net_free(sens_net_t *net)
{
    for (int i = 0; net->steps && i < net->n_steps; i++)
        step_free(&net->steps[i]);
    free(net->steps);
    free(net->scratch);
    free(net->block_layer);
    free(net->block_off);
    memset(net, 0, sizeof *net);
}

static sens_step_t *block_step(const sens_net_t *net, int b)
{
    for (int i = 0; i < net->n_steps; i++)
        if (net->steps[i].block == b)
            return &net->steps[i];
    return NULL;
}

/* theta block b: the kernel, then (bias_params) the bias */
void sens_get_params(const sens_net_t *net, double *theta)
{
    for (int b = 0; b < net->n_blocks; b++) {
        const sens_step_t *s = block_step(net, b);
        double *t = theta + net->block_off[b];
        memcpy(t, s->w, (size_t)s->L->n_weights * sizeof *theta);
        if (s->bias_params)
            memcpy(t + s->L->n_weights, s->b, (size_t)s->L->cout * sizeof *theta);
    }
}

void sens_set_params(sens_net_t *net, const double *theta)
{
    for (int b = 0; b < net->n_blocks; b++) {
        sens_step_t *s = block_step(net, b);
        const double *t = theta + net->block_off[b];
        memcpy(s->w, t, (size_t)s->L->n_weights * sizeof *theta);
        if (s->bias_params)
            memcpy(s->b, t + s->L->n_weights, (size_t)s->L->cout * sizeof *theta);
    }
}
