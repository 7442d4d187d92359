/* Fault injection with three evaluation paths, all giving identical results:
 *   full   - every layer of every sample (the reference, `--full`);
 *   cached - a fault whose first layer is L re-runs layers L.. from the stored input
 *            of L;
 *   delta  - a single flip in a quantized conv/dense layer propagates only what it
 *            changes (engine/delta.c) and hands the rest of the network to the engine
 *            where the change reaches a layer it cannot follow sparsely.
 * Outside `full`, a sample that repeats an earlier one byte for byte takes that one's
 * result for each fault (find_copies). */
#include "upset/inject.h"

#include <stdlib.h>
#include <string.h>

#include "upset/bitspace.h"
#include "upset/econt.h"

static void copy_output(const tensor_t *t, double *dst)
{
    for (int64_t k = 0; k < t->n; k++)
        dst[k] = tensor_value(t, k);
}

/* The largest |x| * 2^input_frac over the data (the first layer's store width). */
static int64_t input_code_max(const dataset_t *d)
{
    if (d->input_frac < 0)
        return -1;
    double most = 0;
    const int64_t n = d->n * shape_size(d->shape);
    for (int64_t k = 0; k < n; k++)
        most = d->x[k] > most ? d->x[k] : (-d->x[k] > most ? -d->x[k] : most);
    most = most * (double)((int64_t)1 << d->input_frac);
    return most < 9e15 ? (int64_t)most : -1;
}

/* Finds the samples that repeat an earlier one and makes room for the results held for
 * them. */
static int find_copies(injector_t *in, upset_err_t *err)
{
    const int64_t n = in->data->n;
    in->first = upset_calloc((size_t)n, sizeof *in->first, err);
    in->held_at = upset_calloc((size_t)n, sizeof *in->held_at, err);
    if (!in->first || !in->held_at ||
        (in->n_copies = dataset_first_copies(in->data, in->first, err)) < 0)
        return -1;
    for (int64_t i = 0; i < n; i++)
        in->held_at[i] = -1;
    for (int64_t i = 0; i < n; i++)
        if (in->first[i] != i && in->held_at[in->first[i]] < 0)
            in->held_at[in->first[i]] = in->n_held++;
    in->held = upset_calloc((size_t)(INJECTOR_BLOCK * in->n_held) + 1, sizeof *in->held, err);
    return in->held ? 0 : -1;
}

int injector_create(injector_t *in, const model_t *m, dataset_t *d, int emd_zero_rule, int full,
                    upset_err_t *err)
{
    memset(in, 0, sizeof *in);
    in->data = d;
    in->full = full;
    if (model_clone(m, &in->model, err))
        return -1;
    if (evaluator_create(&in->ev, &in->model, d, emd_zero_rule, err))
        goto fail;
    const int nl = in->model.n_layers;
    in->out_n = shape_size(in->model.layers[nl - 1].out);
    in->base = upset_calloc((size_t)d->n, sizeof *in->base, err);
    in->base_out = upset_calloc((size_t)(d->n * in->out_n), sizeof *in->base_out, err);
    if (!in->base || !in->base_out)
        goto fail;
    if (!full && (find_copies(in, err) ||
                  delta_create(&in->delta, &in->ev.engine, d->n, input_code_max(d), err)))
        goto fail;
    if (task_scorer_warm_starts(&in->ev.scorer, err)) /* from the fault-free EMD bases */
        goto fail;
    double sum = 0;
    for (int64_t i = 0; i < d->n; i++) {
        double *out = in->base_out + i * in->out_n;
        if (in->first && in->first[i] != i) { /* a copy: nothing of it is ever read but these */
            in->base[i] = in->base[in->first[i]];
            memcpy(out, in->base_out + in->first[i] * in->out_n, (size_t)in->out_n * sizeof *out);
        } else {
            if (evaluator_sample(&in->ev, i, &in->base[i], err))
                goto fail;
            copy_output(engine_output(&in->ev.engine), out);
            if (!full)
                delta_record(&in->delta, i);
        }
        sum += in->base[i].emd;
        in->base_mispredicts += d->label && in->base[i].pred != d->label[i];
    }
    in->base_mean_emd = d->n ? sum / d->n : 0;
    if (!full) {
        in->memo = upset_calloc((size_t)d->n * MEMO_SLOTS, sizeof *in->memo, err);
        if (!in->memo)
            goto fail;
    }
    return 0;
fail:
    injector_free(in);
    return -1;
}

void injector_free(injector_t *in)
{
    evaluator_free(&in->ev);
    delta_free(&in->delta);
    free(in->base);
    free(in->base_out);
    free(in->memo);
    free(in->first);
    free(in->held_at);
    free(in->held);
    free(in->addr);
    model_free(&in->model);
    memset(in, 0, sizeof *in);
}

static int output_changed(const injector_t *in, int64_t i)
{
    const tensor_t *t = engine_output(&in->ev.engine);
    const double *b = in->base_out + i * in->out_n;
    for (int64_t k = 0; k < t->n; k++)
        if (tensor_value(t, k) != b[k])
            return 1;
    return 0;
}

/* Delta path for one sample: *unchanged = 1 when the fault provably leaves the
 * output as it was (the caller then reuses the baseline result). */
static int delta_sample(injector_t *in, bitaddr_t a, int64_t i, int *unchanged, int *changed,
                        sample_result_t *s, upset_err_t *err)
{
    delta_t *d = &in->delta;
    *unchanged = delta_propagate(d, a, i) == DELTA_UNCHANGED;
    if (*unchanged)
        return 0;
    /* One changed value (a dense flip after its quantized activation): the rest of the
     * network is a function of (sample, layer, position, value) alone, and many flips of
     * the same neuron land on the same value, so the result is memoised. */
    memo_entry_t *slot = NULL, *stale = NULL;
    if (d->n_live == 1 && in->memo && d->reached <= INT16_MAX) {
        const int M = d->reached;
        const tensor_t *t = M < in->model.n_layers ? engine_layer_input(&in->ev.engine, M)
                                                   : engine_output(&in->ev.engine);
        int64_t key = d->val[0];
        if (t->kind != TENSOR_FIXED)
            memcpy(&key, &d->rval[0], sizeof key);
        memo_entry_t *row = in->memo + i * MEMO_SLOTS;
        uint64_t h = ((uint64_t)key * 0x9E3779B97F4A7C15ull) ^
                     ((uint64_t)(d->pos[0] * 64 + M) * 0xC2B2AE3D27D4EB4Full);
        unsigned home = (unsigned)(h >> 40) & (MEMO_SLOTS - 1);
        for (unsigned p = 0; p < 4; p++) {
            memo_entry_t *c = &row[(home + p) & (MEMO_SLOTS - 1)];
            if (c->used && c->pos == d->pos[0] && c->value == key && c->layer == M) {
                s->emd = c->emd;
                s->pred = c->pred;
                *changed = c->changed;
                in->memo_hits++;
                return 0;
            }
            if (!c->used && !slot)
                slot = c;
            else if (!stale && c->used && (c->pos != d->pos[0] || c->layer != M))
                stale = c;
        }
        if (!slot) /* evict, another value's entry first (the oracle's work order has left
                    * it behind: kind_oracle.c); a cache, any choice is correct */
            slot = stale ? stale : &row[home];
        slot->pos = (int32_t)d->pos[0];
        slot->layer = (int16_t)M;
        slot->value = key;
        slot->used = 0; /* until the result is in */
    }
    if (delta_finish(d, i, err) || evaluator_score(&in->ev, i, s, err))
        return -1;
    *changed = output_changed(in, i);
    if (slot) {
        slot->emd = s->emd;
        slot->pred = s->pred;
        slot->changed = (int8_t)*changed;
        slot->used = 1;
    }
    return 0;
}

/* Adds sample i's result (a faulty one, or the stored baseline when the fault provably
 * left it unchanged) to the fault's totals. */
static void tally(const injector_t *in, int64_t i, const sample_result_t *s, int changed,
                  fault_result_t *r, double *sum)
{
    *sum += s->emd;
    r->mispredicts += in->data->label && s->pred != in->data->label[i];
    r->n_changed += changed;
}

/* Flip b's result for sample i: held for i's later copies where it has any, then
 * tallied. */
static void tally_first(injector_t *in, int b, int64_t i, const sample_result_t *s, int changed,
                        fault_result_t *r, double *sum)
{
    if (in->held_at && in->held_at[i] >= 0) {
        held_result_t *h = &in->held[b * in->n_held + in->held_at[i]];
        h->s = *s;
        h->changed = changed;
    }
    tally(in, i, s, changed, r, sum);
}

/* Whether sample i repeats an earlier one; if so, flip b's result held for that one is
 * tallied for i (the same bytes in, the same result out). */
static int tally_copy(const injector_t *in, int b, int64_t i, fault_result_t *r, double *sum)
{
    if (!in->first || in->first[i] == i)
        return 0;
    const held_result_t *h = &in->held[b * in->n_held + in->held_at[in->first[i]]];
    tally(in, i, &h->s, h->changed, r, sum);
    return 1;
}

/* Runs sample i through the (flipped) model: from the stored input of the first faulty
 * layer, or of the nearest stored layer before it (cached path), else from the raw input.
 * Unless `full`, it stops as soon as a layer after the last faulty one reads exactly its
 * stored fault-free input (*settled = 1): the rest of the network is fault-free, so the
 * sample's result is the stored baseline, bit for bit. */
static int run_faulty(injector_t *in, int64_t i, int first, int last_fault, int *settled,
                      upset_err_t *err)
{
    engine_t *e = &in->ev.engine;
    const int n = in->model.n_layers;
    *settled = 0;
    while (!in->full && first > 0 && in->delta.in[first].kind == STORE_NONE)
        first--; /* a graph stores inputs at its cuts only: the nearest one before */
    if (in->full || first == 0 || delta_load_input(&in->delta, first, i)) {
        engine_set_input(e, in->data->x + i * shape_size(in->data->shape));
        first = 0;
    }
    for (int l = first; l < n; l++) {
        if (engine_run_layers(e, l, l, err))
            return -1;
        if (!in->full && l >= last_fault && delta_input_matches(&in->delta, l + 1, i)) {
            *settled = 1;
            return 0;
        }
    }
    return 0;
}

/* Whether the single flip at a takes the delta path. */
static int takes_delta(const injector_t *in, bitaddr_t a)
{
    return !in->full && !bitspace_is_bias(&in->model, a) && delta_capable(&in->delta, a.layer);
}

int injector_eval(injector_t *in, const int64_t *bits, int n_bits, fault_result_t *r,
                  upset_err_t *err)
{
    memset(r, 0, sizeof *r);
    if (n_bits == 0 && !in->full) { /* nothing flips: the fault-free result, as stored */
        r->mean_emd = in->base_mean_emd;
        r->mispredicts = in->base_mispredicts;
        return 0;
    }
    if (n_bits > in->addr_cap) { /* heap, not stack: a trial may flip thousands of bits */
        bitaddr_t *a = realloc(in->addr, (size_t)n_bits * sizeof *a);
        if (!a)
            return upset_fail(err, "out of memory for %d bit addresses", n_bits);
        in->addr = a;
        in->addr_cap = n_bits;
    }
    bitaddr_t *addr = in->addr;
    int first_layer = in->model.n_layers, last_layer = 0;
    for (int k = 0; k < n_bits; k++) {
        if (bitspace_locate(&in->model, bits[k], &addr[k]))
            return upset_fail(err, "bit index %lld is outside the fault space [0, %lld)",
                              (long long)bits[k], (long long)in->model.n_fault_bits);
        first_layer = addr[k].layer < first_layer ? addr[k].layer : first_layer;
        last_layer = addr[k].layer > last_layer ? addr[k].layer : last_layer;
    }
    if (n_bits == 0)
        first_layer = 0;
    /* the delta path follows one kernel weight's change; a bias code changes a whole
     * output channel, which the cached path re-runs from the layer's stored input */
    int use_delta = n_bits == 1 && takes_delta(in, addr[0]);
    int rc = 0;
    double sum = 0;
    if (use_delta) {
        for (int64_t i = 0; i < in->data->n && !rc; i++) {
            sample_result_t s;
            int unchanged, changed;
            if (tally_copy(in, 0, i, r, &sum))
                continue;
            rc = delta_sample(in, addr[0], i, &unchanged, &changed, &s, err);
            if (!rc && unchanged)
                tally_first(in, 0, i, &in->base[i], 0, r, &sum);
            else if (!rc)
                tally_first(in, 0, i, &s, changed, r, &sum);
            if (in->poll)
                in->poll();
        }
    } else {
        /* the model is flipped once for all samples and restored after them */
        delta_forget(&in->delta);
        for (int k = 0; k < n_bits; k++)
            bitspace_flip(&in->model, addr[k]);
        for (int64_t i = 0; i < in->data->n && !rc; i++) {
            int settled;
            sample_result_t s;
            if (tally_copy(in, 0, i, r, &sum))
                continue;
            rc = run_faulty(in, i, first_layer, last_layer, &settled, err);
            if (!rc && settled)
                tally_first(in, 0, i, &in->base[i], 0, r, &sum);
            else if (!rc && !(rc = evaluator_score(&in->ev, i, &s, err)))
                tally_first(in, 0, i, &s, output_changed(in, i), r, &sum);
            if (in->poll)
                in->poll();
        }
        for (int k = n_bits - 1; k >= 0; k--) /* restore (flip is an involution) */
            bitspace_flip(&in->model, addr[k]);
    }
    if (rc)
        return -1;
    r->mean_emd = in->data->n ? sum / in->data->n : 0;
    r->delta_emd = r->mean_emd - in->base_mean_emd;
    return 0;
}

/* Single flips taken a block at a time, sample by sample: every flip of the block reads a
 * sample's stored state while it is in cache, where flip by flip each would fetch it from
 * memory again (CIFAR-10 keeps ~180 KB per image). Each flip's totals still add its
 * samples in order, so the results are those of injector_eval. */
static int eval_block(injector_t *in, const bitaddr_t *addr, const int64_t *slot, int nb,
                      fault_result_t *r, upset_err_t *err)
{
    double sum[INJECTOR_BLOCK] = {0};
    for (int b = 0; b < nb; b++)
        memset(&r[slot[b]], 0, sizeof r[slot[b]]);
    for (int64_t i = 0; i < in->data->n; i++) {
        for (int b = 0; b < nb; b++) {
            sample_result_t s;
            int unchanged, changed;
            if (tally_copy(in, b, i, &r[slot[b]], &sum[b]))
                continue;
            if (delta_sample(in, addr[b], i, &unchanged, &changed, &s, err))
                return -1;
            tally_first(in, b, i, unchanged ? &in->base[i] : &s, unchanged ? 0 : changed,
                        &r[slot[b]], &sum[b]);
        }
        if (in->poll) /* a block can take seconds: the scheduler answers meanwhile */
            in->poll();
    }
    for (int b = 0; b < nb; b++) {
        fault_result_t *f = &r[slot[b]];
        f->mean_emd = in->data->n ? sum[b] / in->data->n : 0;
        f->delta_emd = f->mean_emd - in->base_mean_emd;
    }
    return 0;
}

int injector_eval_singles(injector_t *in, const int64_t *bits, int64_t n, fault_result_t *r,
                          upset_err_t *err)
{
    bitaddr_t addr[INJECTOR_BLOCK];
    int64_t slot[INJECTOR_BLOCK];
    int nb = 0;
    for (int64_t k = 0; k < n; k++) {
        bitaddr_t a;
        if (bitspace_locate(&in->model, bits[k], &a))
            return upset_fail(err, "bit index %lld is outside the fault space [0, %lld)",
                              (long long)bits[k], (long long)in->model.n_fault_bits);
        if (!takes_delta(in, a)) { /* the other paths, one flip at a time */
            if (injector_eval(in, &bits[k], 1, &r[k], err))
                return -1;
            continue;
        }
        addr[nb] = a;
        slot[nb++] = k;
        if (nb == INJECTOR_BLOCK) {
            if (eval_block(in, addr, slot, nb, r, err))
                return -1;
            nb = 0;
        }
    }
    return nb ? eval_block(in, addr, slot, nb, r, err) : 0;
}
