#include "upset/bitspace.h"

int bitspace_locate(const model_t *m, int64_t index, bitaddr_t *out)
{
    if (index < 0 || index >= m->n_fault_bits)
        return -1;
    for (int i = 0; i < m->n_layers; i++) {
        const layer_t *L = &m->layers[i];
        if (L->faultable && index < L->bit_first + L->n_bits) {
            int64_t local = index - L->bit_first;
            out->layer = i;
            out->weight = local / L->kq.bits;
            out->bit = (int)(local % L->kq.bits);
            return 0;
        }
    }
    return -1;
}

int64_t bitspace_index(const model_t *m, bitaddr_t a)
{
    const layer_t *L = &m->layers[a.layer];
    return L->bit_first + a.weight * L->kq.bits + a.bit;
}

int32_t bitspace_flipped_code(const model_t *m, bitaddr_t a)
{
    const layer_t *L = &m->layers[a.layer];
    return code_flip_bit(L->kernel_code[a.weight], L->kq.bits, L->kq.keep_negative, a.bit);
}

void bitspace_flip(model_t *m, bitaddr_t a)
{
    layer_t *L = &m->layers[a.layer];
    L->kernel_code[a.weight] = bitspace_flipped_code(m, a);
    if (L->kernel_t16) /* the engine's int16 copy (model.h) */
        L->kernel_t16[(a.weight % L->cout) * L->kernel_kp + a.weight / L->cout] =
            (int16_t)L->kernel_code[a.weight];
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
