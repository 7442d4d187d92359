/* The injector without MPI: every evaluation path (delta for one kernel bit, the cached
 * re-run from a layer's stored input for bias bits and bit sets, the stored fault-free
 * result for an empty set, and the whole network with `full`) against brute force: a
 * fresh copy of the model with the bits flipped by bitspace_flip, every sample run
 * through a fresh evaluator. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "upset/bitspace.h"
#include "upset/econt.h"
#include "upset/evaluate.h"
#include "upset/inject.h"

/* Brute force: mean EMD, mispredicts and changed outputs with the bits flipped. */
static fault_result_t brute(const model_t *m, const dataset_t *d, const int64_t *bits, int n)
{
    upset_err_t err = {{0}};
    model_t c;
    ck_assert_msg(model_clone(m, &c, &err) == 0, "%s", err.msg);
    evaluator_t clean, faulty;
    ck_assert_msg(evaluator_create(&clean, m, d, ECONT_ZERO_UNIFORM, &err) == 0, "%s", err.msg);
    for (int k = 0; k < n; k++) {
        bitaddr_t a;
        ck_assert_int_eq(bitspace_locate(&c, bits[k], &a), 0);
        bitspace_flip(&c, a);
    }
    ck_assert_msg(evaluator_create(&faulty, &c, d, ECONT_ZERO_UNIFORM, &err) == 0, "%s",
                  err.msg);
    fault_result_t r = {0, 0, 0, 0};
    double sum = 0;
    for (int64_t i = 0; i < d->n; i++) {
        sample_result_t s0, s1;
        ck_assert(evaluator_sample(&clean, i, &s0, &err) == 0);
        ck_assert(evaluator_sample(&faulty, i, &s1, &err) == 0);
        sum += s1.emd;
        r.mispredicts += d->label && s1.pred != d->label[i];
        const tensor_t *o0 = engine_output(&clean.engine), *o1 = engine_output(&faulty.engine);
        int changed = 0;
        for (int64_t k = 0; k < o0->n && !changed; k++)
            changed = tensor_value(o0, k) != tensor_value(o1, k);
        r.n_changed += changed;
    }
    r.mean_emd = sum / (double)d->n;
    evaluator_free(&clean);
    evaluator_free(&faulty);
    model_free(&c);
    return r;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

/* Random single bits (kernel and bias) and random sets of 3, on both paths of the injector. */
static void against_brute_force(model_t *m, dataset_t *d, int n_single, int n_sets)
{
    upset_err_t err = {{0}};
    bitspace_include_bias(m, 1);
    injector_t fast, full;
    ck_assert_msg(injector_create(&fast, m, d, ECONT_ZERO_UNIFORM, 0, &err) == 0, "%s", err.msg);
    ck_assert_msg(injector_create(&full, m, d, ECONT_ZERO_UNIFORM, 1, &err) == 0, "%s", err.msg);
    ck_assert_int_ge(fast.n_copies, 2); /* the appended copies are found and reused */
    ck_assert_int_eq(full.n_copies, 0);
    uint64_t seed = 12345;
    int bias_seen = 0;
    enum { MAX_SINGLE = 64 };
    int64_t singles[MAX_SINGLE];
    fault_result_t single_want[MAX_SINGLE], single_got[MAX_SINGLE];
    ck_assert_int_le(n_single, MAX_SINGLE);
    for (int t = 0; t < n_single + n_sets + 1; t++) {
        int64_t bits[3];
        int n = t < n_single ? 1 : t < n_single + n_sets ? 3 : 0; /* the last: no bit */
        for (int k = 0; k < n; k++) {
            /* every third single bit is a bias bit of a random faultable layer */
            bits[k] = (int64_t)(lcg(&seed) % (uint64_t)m->n_fault_bits);
            if (n == 1 && t % 3 == 0) {
                int l;
                do
                    l = (int)(lcg(&seed) % (uint64_t)m->n_layers);
                while (!m->layers[l].faultable || !m->layers[l].n_bias_bits);
                const layer_t *L = &m->layers[l];
                bits[k] = L->bit_first + L->n_bits - L->n_bias_bits +
                          (int64_t)(lcg(&seed) % (uint64_t)L->n_bias_bits);
            }
            for (int j = 0; j < k; j++)
                if (bits[j] == bits[k])
                    bits[k] = (bits[k] + 1) % m->n_fault_bits;
        }
        bitaddr_t a;
        if (n == 1 && bitspace_locate(m, bits[0], &a) == 0)
            bias_seen += bitspace_is_bias(m, a);
        fault_result_t f1, f2, want = brute(m, d, bits, n);
        ck_assert_msg(injector_eval(&fast, bits, n, &f1, &err) == 0, "%s", err.msg);
        ck_assert_msg(injector_eval(&full, bits, n, &f2, &err) == 0, "%s", err.msg);
        for (int p = 0; p < 2; p++) {
            const fault_result_t *f = p ? &f2 : &f1;
            ck_assert_msg(fabs(f->mean_emd - want.mean_emd) <= 1e-12 * fmax(1, want.mean_emd),
                          "%s path, %d bits from %lld: mean EMD %.17g, brute force %.17g",
                          p ? "full" : "fast", n, (long long)(n ? bits[0] : -1), f->mean_emd,
                          want.mean_emd);
            ck_assert_int_eq(f->mispredicts, want.mispredicts);
            ck_assert_int_eq(f->n_changed, want.n_changed);
        }
        if (n == 1) {
            singles[t] = bits[0];
            single_want[t] = f1;
        }
    }
    ck_assert_int_gt(bias_seen, 0);
    /* the same single bits in blocks, sample by sample (kernel bits in blocks, bias bits
     * between them one at a time): the very same results, bit for bit */
    ck_assert_msg(injector_eval_singles(&fast, singles, n_single, single_got, &err) == 0, "%s",
                  err.msg);
    for (int t = 0; t < n_single; t++) {
        ck_assert_msg(!memcmp(&single_got[t].mean_emd, &single_want[t].mean_emd, sizeof(double)),
                      "bit %lld in a block: mean EMD %.17g, alone %.17g", (long long)singles[t],
                      single_got[t].mean_emd, single_want[t].mean_emd);
        ck_assert_int_eq(single_got[t].mispredicts, single_want[t].mispredicts);
        ck_assert_int_eq(single_got[t].n_changed, single_want[t].n_changed);
    }
    /* every bit of one random kernel weight per faultable layer, in one call: the bits of a
     * weight share what their origin computes (delta.h: fed), which must not leak into the
     * next weight or sample */
    int64_t wbits[8 * 16];
    fault_result_t wgot[8 * 16];
    int nw = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const layer_t *L = &m->layers[l];
        if (!L->faultable)
            continue;
        bitaddr_t a = {l, (int64_t)(lcg(&seed) % (uint64_t)L->n_weights), 0};
        for (int b = 0; b < bitspace_width(m, a) && nw < 8 * 16; b++) {
            a.bit = b;
            wbits[nw++] = bitspace_index(m, a);
        }
    }
    ck_assert_msg(injector_eval_singles(&fast, wbits, nw, wgot, &err) == 0, "%s", err.msg);
    for (int t = 0; t < nw; t++) {
        const fault_result_t want = brute(m, d, &wbits[t], 1);
        ck_assert_msg(fabs(wgot[t].mean_emd - want.mean_emd) <= 1e-12 * fmax(1, want.mean_emd),
                      "bit %lld with its weight's other bits: mean EMD %.17g, brute force %.17g",
                      (long long)wbits[t], wgot[t].mean_emd, want.mean_emd);
        ck_assert_int_eq(wgot[t].mispredicts, want.mispredicts);
        ck_assert_int_eq(wgot[t].n_changed, want.n_changed);
    }
    printf("%s: %d single bits (%d bias) and %d sets of 3 on %lld samples (%lld copies): "
           "injector == brute force on both paths\n",
           m->name, n_single, bias_seen, n_sets, (long long)d->n, (long long)fast.n_copies);
    injector_free(&fast);
    injector_free(&full);
}

/* Appends copies of the samples listed in from (their label moved by relabel[k], 0:
 * kept), so the injector's reuse of a first copy's results meets brute force. */
static void append_copies(dataset_t *d, const int64_t *from, const int *relabel, int n)
{
    const int64_t per = shape_size(d->shape), m = d->n + n;
    d->x = realloc(d->x, (size_t)(m * per) * sizeof *d->x);
    d->index = realloc(d->index, (size_t)m * sizeof *d->index);
    if (d->label)
        d->label = realloc(d->label, (size_t)m * sizeof *d->label);
    if (d->cells)
        d->cells = realloc(d->cells, (size_t)m * HGCAL_CELLS * sizeof *d->cells);
    for (int k = 0; k < n; k++) {
        const int64_t i = d->n + k, j = from[k];
        memcpy(d->x + i * per, d->x + j * per, (size_t)per * sizeof *d->x);
        d->index[i] = d->index[j];
        if (d->label)
            d->label[i] = (d->label[j] + relabel[k]) % 10;
        if (d->cells)
            memcpy(d->cells + i * HGCAL_CELLS, d->cells + j * HGCAL_CELLS,
                   HGCAL_CELLS * sizeof *d->cells);
    }
    d->n = m;
    d->checksum_known = 0;
}

START_TEST(test_econt_medium)
{
    upset_err_t err = {{0}};
    model_t m;
    dataset_t d;
    const char *files[] = {"data/hgcal/ttbar_0PU.csv"};
    ck_assert_msg(model_load("models/econt_medium.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 40, &d, &err) == 0, "%s", err.msg);
    const int64_t from[] = {0, 5, 17, 5, 39};
    const int relabel[] = {0, 0, 0, 0, 0};
    append_copies(&d, from, relabel, 5);
    against_brute_force(&m, &d, 30, 10);
    dataset_free(&d);
    model_free(&m);
}
END_TEST

START_TEST(test_cifar10)
{
    upset_err_t err = {{0}};
    model_t m;
    dataset_t d;
    ck_assert_msg(model_load("models/cifar10.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(dataset_load_cifar10("data/cifar10/test_batch_first1017.bin",
                                       "data/cifar10/test_labels_10000.bin", 0, 12, &d,
                                       &err) == 0,
                  "%s", err.msg);
    const int64_t from[] = {3, 3, 8};
    const int relabel[] = {0, 1, 0}; /* the second: the same image under another label */
    append_copies(&d, from, relabel, 3);
    against_brute_force(&m, &d, 12, 4);
    dataset_free(&d);
    model_free(&m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("inject");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_econt_medium);
    tcase_add_test(tc, test_cifar10);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
