/* QKeras quantizer semantics on integer codes.
 *
 * quantized_bits(bits, integer, keep_negative=1, alpha=1):
 *   value = k * 2^-f, f = bits - integer - 1, k a two's-complement code of `bits` bits,
 *   quantize(x) = clip(round_half_to_even(x * 2^f), -2^(bits-1), 2^(bits-1) - 1).
 * quantized_bits with keep_negative=0: f = bits - integer, k in [0, 2^bits - 1].
 * quantized_relu(bits, integer): unsigned, f = bits - integer, k in [0, 2^bits - 1]
 *   (QKeras clips to [0, 2^integer - 2^-f]).
 * quantized_relu(bits, integer, negative_slope = 2^-s) (leaky): one bit goes to the sign,
 *   f = bits - 1 - integer; x >= 0: k = clip(round(x * 2^f), 0, 2^(bits-1) - 1); x < 0:
 *   k = clip(round(x * 2^-s * 2^f), -2^(bits-1-s), 0), the slope applied on the same grid
 *   (QKeras's quantized_relu.__call__ with use_sigmoid 0). Codes are two's complement.
 * Bit positions are numbered MSB first: position 0 is the sign bit of a signed code. */
#ifndef UPSET_FIXED_H
#define UPSET_FIXED_H

#include <stdint.h>

typedef enum { QUANT_NONE = 0, QUANT_BITS, QUANT_RELU } quant_kind_t;

typedef struct {
    quant_kind_t kind;
    int bits;
    int integer;
    int keep_negative; /* QUANT_BITS only */
    int neg_shift;     /* QUANT_RELU: 0, or s of a leaky negative_slope 2^-s */
} quant_t;

/* 1 when the codes are two's complement (quantized_bits keep_negative, leaky relu). */
int quant_signed(const quant_t *q);

/* Fractional bits: value = code * 2^-frac. */
int quant_frac(const quant_t *q);
int32_t quant_code_min(const quant_t *q);
int32_t quant_code_max(const quant_t *q);
/* The largest code magnitude. */
int64_t quant_code_bound(const quant_t *q);

/* Round half to even (as tf.round), then clip to the code range. */
int32_t quant_code_from_double(const quant_t *q, double x);

/* The same for n values first rounded to float32 (a quantizer after a float32 layer),
 * as quant_code_from_double(q, (double)(float)x[i]) gives them. */
void quant_codes_from_floats(const quant_t *q, const double *x, int64_t n, int64_t *out);

/* nearbyint(v) in the default rounding mode (half to even), without the libm call. */
double round_half_even(double v);

/* Exactly rescale an integer accumulator holding acc * 2^-acc_frac to the
 * quantizer's code: round half to even, clip. acc_frac may exceed or fall short of
 * the quantizer's frac. */
int32_t quant_code_from_fixed(const quant_t *q, int64_t acc, int acc_frac);
/* The shift (1..61) that turns accumulators at acc_frac into q's codes by one rounding
 * shift and a clip, or 0 where that does not hold (a leaky slope's two scales, or no
 * rounding): the whole-tensor loops below and their vector forms take it. */
int quant_fixed_shift(const quant_t *q, int acc_frac);
/* The same for n accumulators at one frac, with the quantizer's constants computed once. */
void quant_codes_from_fixed(const quant_t *q, const int64_t *acc, int64_t n, int acc_frac,
                            int64_t *out);

double quant_value(const quant_t *q, int32_t code);

/* Flips bit `pos` (0 = MSB) of a `bits`-wide code and sign-extends when signed.
 * Flipping the same bit twice restores the code. */
int32_t code_flip_bit(int32_t code, int bits, int is_signed, int pos);

/* Round half to even of x * 2^-shift for an integer x (shift >= 0). */
int64_t round_shift_half_even(int64_t x, int shift);

/* Parses "quantized_bits"/"quantized_relu" descriptions is the importer's job;
 * this only formats for messages, e.g. "quantized_bits(6,1)". */
const char *quant_describe(const quant_t *q, char *buf, int len);

#endif
