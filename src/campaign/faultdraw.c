/* How the sampling campaigns choose bits (include/upset/faultdraw.h): multi-bit draws
 * reproducible from (seed, trial) alone, and the protection masks chosen from an oracle. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "upset/bitspace.h"
#include "upset/faultdraw.h"
#include "upset/order.h"
#include "upset/rng.h"

int64_t multibit_draw(uint64_t seed, int64_t trial, int64_t n_bits, int64_t k,
                      const unsigned char *protect, int64_t *out, unsigned char *mark)
{
    rng_t g = rng_make(seed, (uint64_t)trial);
    rng_distinct(&g, n_bits, k, out, mark);
    int64_t kept = 0;
    for (int64_t i = 0; i < k; i++)
        if (!protect || !protect[out[i]])
            out[kept++] = out[i];
    return kept;
}

int protection_mask(protection_t policy, double percent, int64_t n, const double *error,
                    const unsigned char *sensitive, unsigned char *mask, int64_t *n_protected,
                    upset_err_t *err)
{
    memset(mask, policy == PROTECT_ALL, (size_t)n);
    *n_protected = policy == PROTECT_ALL ? n : 0;
    if (policy == PROTECT_NONE || policy == PROTECT_ALL)
        return 0;
    int64_t *order = upset_calloc((size_t)n, sizeof *order, err);
    if (!order)
        return -1;
    int64_t n_sens = 0;
    for (int64_t b = 0; b < n; b++)
        if (sensitive[b])
            order[n_sens++] = b;
    int64_t keep = n_sens, pool = n_sens;
    if (policy == PROTECT_TOP_PERCENT_OF_ALL) { /* every bit is a candidate */
        for (int64_t b = 0; b < n; b++)
            order[b] = b;
        pool = n;
    }
    if (policy == PROTECT_TOP_PERCENT_OF_SENSITIVE || policy == PROTECT_TOP_PERCENT_OF_ALL) {
        /* round to nearest, so 63.5 % of a count is what the paper means */
        keep = (int64_t)llround(percent / 100.0 * (double)pool);
        if (order_by_key_desc(error, order, pool, err)) {
            free(order);
            return -1;
        }
    }
    for (int64_t i = 0; i < keep; i++)
        mask[order[i]] = 1;
    *n_protected = keep;
    free(order);
    return 0;
}

int64_t fault_effective(fault_model_t fm, int mcu_size, int64_t mcu_stride, const model_t *m,
                        const unsigned char *protect, const int64_t *drawn, int64_t n_drawn,
                        int64_t *out, unsigned char *mark)
{
    int64_t n = 0;
    for (int64_t i = 0; i < n_drawn; i++) {
        const int64_t b = drawn[i];
        bitaddr_t a;
        if (bitspace_locate(m, b, &a))
            continue;
        const layer_t *L = &m->layers[a.layer];
        const int word = fm == FAULT_MCU_WORD, across = fm == FAULT_MCU_NEIGHBORS;
        const int span = word || across ? mcu_size : 1;
        const int width = bitspace_width(m, a);
        /* neighbours stay among the kernel's weights, or among the bias codes */
        const int64_t end = bitspace_is_bias(m, a) ? L->n_weights + L->cout : L->n_weights;
        for (int j = 0; j < span; j++) {
            /* the upset ends at the word's LSB, or at the layer's last weight (j * stride
             * compared by division: a huge stride must not wrap past it) */
            if ((word && a.bit + j >= width) ||
                (across && j > 0 && mcu_stride > (end - 1 - a.weight) / j))
                break;
            const int64_t step = (int64_t)j * mcu_stride; /* kernel indices to the j-th neighbour */
            /* a weight's bits are consecutive, MSB first; the same bit of the weight `step`
             * indices on is step words further */
            const int64_t g = across ? b + step * width : b + j;
            if (protect && protect[g])
                continue;
            if (fm == FAULT_STUCK_AT_0 || fm == FAULT_STUCK_AT_1) {
                bitaddr_t at = a; /* the stored bit of the cell itself */
                at.weight += across ? step : 0;
                at.bit += word ? j : 0;
                int want = fm == FAULT_STUCK_AT_1;
                if (bitspace_bit_value(m, at) == want)
                    continue; /* already holds the stuck value: no change */
            }
            if (!(mark[g] & 2)) { /* first touch: remember the order */
                mark[g] |= 2;
                out[n++] = g;
            }
            mark[g] ^= 1; /* a second hit on one cell undoes the first */
        }
    }
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) { /* each touched bit appears once: clear its mark */
        const int64_t g = out[i];
        const int odd = mark[g] & 1;
        mark[g] = 0;
        if (odd)
            out[kept++] = g;
    }
    return kept;
}

int64_t multibit_cells(const campaign_t *c, int64_t n_bits, int64_t trial)
{
    if (!(c->multibit.cross_section > 0))
        return c->multibit.flips;
    const double lambda =
        c->multibit.cross_section * c->multibit.flux * c->multibit.exposure * (double)n_bits;
    /* the count's stream differs from the cells' (rng_make(seed, trial)) in its seed */
    rng_t g = rng_make(c->seed ^ UINT64_C(0x9e3779b97f4a7c15), (uint64_t)trial);
    const int64_t k = rng_poisson(&g, lambda);
    return k < n_bits ? k : n_bits;
}

int64_t multibit_scratch(const campaign_t *c, int64_t n_bits)
{
    const int64_t cells = c->multibit.cross_section > 0 ? n_bits : c->multibit.flips;
    const int mcu = c->multibit.fault_model == FAULT_MCU_WORD ||
                    c->multibit.fault_model == FAULT_MCU_NEIGHBORS;
    return cells * (1 + (mcu ? c->multibit.mcu_size : 1));
}

int64_t multibit_trial(const campaign_t *c, const model_t *m, const unsigned char *protect,
                       int64_t t, int64_t *scratch, unsigned char *mark, int64_t *cells,
                       const int64_t **bits)
{
    const int64_t n = m->n_fault_bits;
    *cells = multibit_cells(c, n, t);
    multibit_draw(c->seed, t, n, *cells, NULL, scratch, mark);
    *bits = scratch + *cells;
    return fault_effective(c->multibit.fault_model, (int)c->multibit.mcu_size,
                           c->multibit.mcu_stride, m, protect,
                           scratch, *cells, scratch + *cells, mark);
}
