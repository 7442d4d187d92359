#include "upset/bitspace.h"

/* A layer's kernel bits come first, then (with include_bias) its bias bits. */
static int64_t kernel_bits(const layer_t *L)
{
    return L->n_weights * L->kq.bits;
}

int bitspace_has_bias(const layer_t *L)
{
    return L->faultable && L->use_bias && L->bias_code && L->bq.kind == QUANT_BITS &&
           L->bq.bits > 0;
}

int64_t bitspace_bias_codes(const layer_t *L)
{
    return L->n_bias_bits ? L->cout : 0;
}

void bitspace_include_bias(model_t *m, int include)
{
    int64_t next = 0;
    m->include_bias = include;
    for (int i = 0; i < m->n_layers; i++) {
        layer_t *L = &m->layers[i];
        if (!L->faultable)
            continue;
        L->n_bias_bits = include && bitspace_has_bias(L) ? (int64_t)L->cout * L->bq.bits : 0;
        L->bit_first = next;
        L->n_bits = kernel_bits(L) + L->n_bias_bits;
        next += L->n_bits;
    }
    m->n_fault_bits = next;
}

int bitspace_locate(const model_t *m, int64_t index, bitaddr_t *out)
{
    if (index < 0 || index >= m->n_fault_bits)
        return -1;
    for (int i = 0; i < m->n_layers; i++) {
        const layer_t *L = &m->layers[i];
        if (L->faultable && index < L->bit_first + L->n_bits) {
            int64_t local = index - L->bit_first;
            out->layer = i;
            if (local < kernel_bits(L)) {
                out->weight = local / L->kq.bits;
                out->bit = (int)(local % L->kq.bits);
            } else { /* a bias code: indices past the kernel */
                local -= kernel_bits(L);
                out->weight = L->n_weights + local / L->bq.bits;
                out->bit = (int)(local % L->bq.bits);
            }
            return 0;
        }
    }
    return -1;
}

int64_t bitspace_index(const model_t *m, bitaddr_t a)
{
    const layer_t *L = &m->layers[a.layer];
    if (a.weight < L->n_weights)
        return L->bit_first + a.weight * L->kq.bits + a.bit;
    return L->bit_first + kernel_bits(L) + (a.weight - L->n_weights) * L->bq.bits + a.bit;
}

int bitspace_is_bias(const model_t *m, bitaddr_t a)
{
    return a.weight >= m->layers[a.layer].n_weights;
}

int bitspace_width(const model_t *m, bitaddr_t a)
{
    const layer_t *L = &m->layers[a.layer];
    return a.weight < L->n_weights ? L->kq.bits : L->bq.bits;
}

int32_t bitspace_code(const model_t *m, bitaddr_t a)
{
    const layer_t *L = &m->layers[a.layer];
    if (a.weight >= L->n_weights)
        return L->bias_code[a.weight - L->n_weights];
    return layer_weight_code(L, a.weight);
}

int bitspace_bit_value(const model_t *m, bitaddr_t a)
{
    return (int)(((uint32_t)bitspace_code(m, a) >> (bitspace_width(m, a) - 1 - a.bit)) & 1u);
}

int32_t bitspace_flipped_code(const model_t *m, bitaddr_t a)
{
    const layer_t *L = &m->layers[a.layer];
    const quant_t *q = a.weight < L->n_weights ? &L->kq : &L->bq;
    return code_flip_bit(bitspace_code(m, a), q->bits, q->keep_negative, a.bit);
}

void bitspace_flip(model_t *m, bitaddr_t a)
{
    layer_t *L = &m->layers[a.layer];
    const int32_t code = bitspace_flipped_code(m, a);
    if (a.weight >= L->n_weights) { /* the engine reads bias codes at run time */
        L->bias_code[a.weight - L->n_weights] = code;
        return;
    }
    const int32_t v = layer_weight_int(L, a.weight, code);
    L->kernel_code[a.weight] = v;
    if (L->kernel_t16) { /* the engine's int16 copies (model.h) */
        L->kernel_t16[layer_t16_index(L, a.weight)] = (int16_t)v;
        L->kernel_p16[layer_p16_index(L, a.weight)] = (int16_t)v;
    }
}

int bitspace_layers(const model_t *m, int *idx, int max)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].faultable) {
            if (n < max)
                idx[n] = i;
            n++;
        }
    return n;
}
