/* `multibit`: T trials, each flipping K distinct random bits at once, with a
 * protection policy (none, all, the oracle's sensitive bits, or the top p % of
 * them by error). One record per trial; the summary is the share of trials whose
 * error exceeds the fault-free baseline with its Wilson interval. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "upset/bitranking.h"
#include "upset/faultdraw.h"
#include "upset/oracle.h"
#include "upset/rng.h"
#include "upset/stats.h"
#include "upset/fnv.h"

#define TRIAL_COLUMNS(X)                                                                      \
    X(int64_t, trial, RESULTS_INT64, "1", "trial index (its random stream)")                  \
    X(int64_t, n_drawn, RESULTS_INT64, "bits", "distinct bits drawn for the trial")           \
    X(int64_t, n_flipped, RESULTS_INT64, "bits", "bits the fault model changed, unprotected")  \
    FAULT_COLUMNS(X)                                                                          \
    X(int8_t, exceeds, RESULTS_INT8, "1", "1 when the task error exceeds the fault-free error")

#define AS_FIELD(ctype, name, type, unit, desc) ctype name;
#define AS_COLUMN(ctype, name, type, unit, desc)                                              \
    RESULTS_COLUMN(trial_record_t, name, type, unit, desc),

typedef struct {
    TRIAL_COLUMNS(AS_FIELD)
} trial_record_t;

static const results_column_t TRIAL_COLUMNS_TABLE[] = {TRIAL_COLUMNS(AS_COLUMN)};
static const results_table_t TRIAL_TABLE = {
    "trials", sizeof(trial_record_t), TRIAL_COLUMNS_TABLE,
    sizeof TRIAL_COLUMNS_TABLE / sizeof *TRIAL_COLUMNS_TABLE};

typedef struct {
    unsigned char *protect; /* n_fault_bits bytes, or NULL when nothing is protected */
    int64_t n_protected;
} multibit_state_t;

/* Reads the oracle's per-bit error (relative to fault-free) and sensitive flag, after
 * checking that it was measured on this model and these inputs. */
static int read_oracle(const run_ctx_t *r, double *error, unsigned char *sensitive,
                       upset_err_t *err)
{
    const char *path = r->c.multibit.oracle;
    const task_ops_t *task = task_ops(r->model.task);
    char *ck = NULL;
    fnv_hex_t expect = fnv_hex(r->model.checksum);
    int rc = results_read_attr_string(path, "model_checksum_fnv1a64", &ck, err);
    if (!rc && strcmp(ck, expect.s))
        rc = upset_fail(err, "%s: multibit.oracle was computed on another model (checksum %s, "
                             "%s has %s)", path, ck, r->c.model, expect.s);
    /* "sensitive" means worse than fault-free on the oracle's inputs: trials scored on
     * other inputs would protect bits chosen for another question */
    free(ck);
    ck = NULL;
    expect = fnv_hex(r->data.checksum);
    if (!rc)
        rc = results_read_attr_string(path, "data_checksum_fnv1a64", &ck, err);
    if (!rc && strcmp(ck, expect.s))
        rc = upset_fail(err,
                        "%s: multibit.oracle was measured on other inputs than this campaign's "
                        "data (data checksum %s, here %s); give the campaign the oracle's data "
                        "section so trials are scored on the inputs that chose the protected bits",
                        path, ck, expect.s);
    if (!rc)
        rc = oracle_read_bits(path, r->model.n_fault_bits, task->error_column, task->baseline_attr,
                              error, sensitive, err);
    free(ck);
    return rc ? -1 : 0;
}

static int build_protection(run_ctx_t *r, multibit_state_t *s, upset_err_t *err);

int multibit_protection(run_ctx_t *r, unsigned char *mask, int64_t *n_protected,
                        upset_err_t *err)
{
    memset(mask, 0, (size_t)r->model.n_fault_bits);
    /* build_protection writes the mask right after the state block it is given */
    multibit_state_t *block = calloc(1, sizeof *block + (size_t)r->model.n_fault_bits);
    if (!block)
        return upset_fail(err, "out of memory");
    int rc = build_protection(r, block, err);
    if (!rc && block->protect)
        memcpy(mask, block->protect, (size_t)r->model.n_fault_bits);
    *n_protected = block->n_protected;
    free(block);
    return rc;
}

static int build_protection(run_ctx_t *r, multibit_state_t *s, upset_err_t *err)
{
    int64_t n = r->model.n_fault_bits;
    protection_t p = r->c.multibit.protection;
    if (p == PROTECT_NONE)
        return 0;
    s->protect = (unsigned char *)(s + 1);
    if (p == PROTECT_LIST) { /* a designer's set: a list of global bit indices */
        int64_t *bits = NULL, nb = 0;
        if (bit_ranking_read(r->c.multibit.protect_list, n, &bits, &nb, err))
            return -1;
        memset(s->protect, 0, (size_t)n);
        for (int64_t i = 0; i < nb; i++)
            s->protect[bits[i]] = 1;
        s->n_protected = nb;
        free(bits);
        return 0;
    }
    double *error = NULL;
    unsigned char *sens = NULL;
    if (p != PROTECT_ALL) {
        error = upset_calloc((size_t)n, sizeof *error, err);
        sens = error ? upset_calloc((size_t)n, 1, err) : NULL;
        if (!sens || read_oracle(r, error, sens, err)) {
            free(error);
            free(sens);
            return -1;
        }
    }
    int rc = protection_mask(p, r->c.multibit.protect_percent, n, error, sens, s->protect,
                             &s->n_protected, err);
    free(error);
    free(sens);
    return rc;
}

static int multibit_plan(run_ctx_t *r, upset_err_t *err)
{
    int64_t n = r->model.n_fault_bits;
    const int rate = r->c.multibit.cross_section > 0;
    char where[1100];
    if (!rate && r->c.multibit.flips > n)
        return upset_fail(err, "%s: multibit.flips: %lld exceeds the %lld faultable bits of %s",
                          campaign_key_where(&r->c, "multibit.flips", where, sizeof where),
                          (long long)r->c.multibit.flips, (long long)n, r->c.model);
    /* one block (run_free frees kind_state with free()): the state, then the mask */
    multibit_state_t *s = upset_calloc(1, sizeof *s + (size_t)n, err);
    if (!s)
        return -1;
    r->kind_state = s;
    if (build_protection(r, s, err))
        return -1;
    r->n_items = r->c.multibit.trials;
    if (run_items_fit(r, "multibit.trials", r->n_items, TRIAL_TABLE.record_size, err))
        return -1;
    r->items = calloc((size_t)r->n_items, sizeof *r->items);
    const double per_trial = (double)(sizeof *r->items + TRIAL_TABLE.record_size + 1);
    if (!r->items)
        return upset_fail(err,
                          "%s: multibit.trials = %lld asks for %.1f GiB of trial records: more "
                          "memory than this machine gives",
                          r->c.source, (long long)r->n_items,
                          (double)r->n_items * per_trial / 1073741824.0);
    r->scratch_bits = upset_calloc((size_t)multibit_scratch(&r->c, n), sizeof *r->scratch_bits,
                                   err);
    r->scratch_mark = upset_calloc((size_t)n, 1, err);
    if (!r->items || !r->scratch_bits || !r->scratch_mark)
        return -1;
    for (int64_t t = 0; t < r->n_items; t++)
        r->items[t] = t;
    r->table = &TRIAL_TABLE;
    return 0;
}

static int multibit_work(void *ctx, int64_t first, int64_t count, void *records,
                         upset_err_t *err)
{
    run_ctx_t *r = ctx;
    multibit_state_t *s = r->kind_state;
    trial_record_t *rec = records;
    for (int64_t k = 0; k < count; k++) {
        int64_t t = r->items[first + k];
        int64_t cells;
        const int64_t *bits;
        const int64_t kept = multibit_trial(&r->c, &r->model, s->protect, t, r->scratch_bits,
                                            r->scratch_mark, &cells, &bits);
        fault_result_t f;
        if (injector_eval(&r->inj, bits, (int)kept, &f, err))
            return -1;
        memset(&rec[k], 0, sizeof rec[k]);
        rec[k].trial = t;
        rec[k].n_drawn = cells;
        rec[k].n_flipped = kept;
        rec[k].mean_emd = f.mean_emd;
        rec[k].delta_emd = f.delta_emd;
        rec[k].mispredicts = f.mispredicts;
        rec[k].n_changed = f.n_changed;
        rec[k].exceeds = (int8_t)run_sensitive(r, &f);
    }
    return 0;
}

static int multibit_finish(run_ctx_t *r, upset_err_t *err)
{
    (void)err;
    multibit_state_t *s = r->kind_state;
    const trial_record_t *rec = r->records;
    int64_t exceed = 0;
    double sum = 0;
    for (int64_t i = 0; i < r->n_items; i++) {
        fault_result_t f = {rec[i].mean_emd, rec[i].delta_emd, rec[i].mispredicts,
                            rec[i].n_changed};
        exceed += rec[i].exceeds;
        sum += run_error(r, &f);
    }
    double lo, hi;
    wilson_interval(exceed, r->n_items, 0.95, &lo, &hi);
    double rate = r->n_items ? (double)exceed / r->n_items : 0;
    if (!r->c.quiet) {
        printf("fault model: %s; protection: %s; protected bits: %lld of %lld\n",
               fault_model_name(r->c.multibit.fault_model),
               protection_name(r->c.multibit.protection), (long long)s->n_protected,
               (long long)r->model.n_fault_bits);
        if (r->c.multibit.cross_section > 0)
            printf("radiation: %g upsets per bit per trial, on average %.6g cells per trial "
                   "(Poisson); the error rate below is the failure probability per trial\n",
                   r->c.multibit.cross_section * r->c.multibit.flux * r->c.multibit.exposure,
                   r->c.multibit.cross_section * r->c.multibit.flux * r->c.multibit.exposure *
                       (double)r->model.n_fault_bits);
        char cells[32] = "a Poisson number of";
        if (!(r->c.multibit.cross_section > 0))
            snprintf(cells, sizeof cells, "%lld", (long long)r->c.multibit.flips);
        printf("trials: %lld of %s cells; error above fault-free in %lld (%.2f%%, 95%% Wilson "
               "[%.2f%%, %.2f%%]); mean %s per trial: %.6g\n",
               (long long)r->n_items, cells, (long long)exceed, 100 * rate, 100 * lo, 100 * hi,
               task_ops(r->model.task)->unit,
               r->n_items ? sum / r->n_items : 0.0);
    }
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_protected", s->n_protected);
    r->extra[r->n_extra++] = RESULTS_ATTR_I64("n_exceeding", exceed);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("error_rate", rate);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("error_rate_wilson95_lo", lo);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("error_rate_wilson95_hi", hi);
    r->extra[r->n_extra++] = RESULTS_ATTR_F64("mean_error", r->n_items ? sum / r->n_items : 0);
    return 0;
}

const campaign_kind_ops_t KIND_MULTIBIT = {CAMPAIGN_MULTIBIT, multibit_plan, multibit_work,
                                           multibit_finish, NULL, 0};
