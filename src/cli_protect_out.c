/* The files `upset protect` writes (docs/protection.md): curve.csv, flat.csv, the plan
 * as protect_lists, per weight, per layer and as a per-bit mask (plan.h5), and the
 * validation campaigns on held-out inputs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protect_int.h"
#include "upset/bitspace.h"
#include "upset/campaign.h"
#include "upset/campaign_data.h"
#include "upset/dataset.h"
#include "upset/fileutil.h"
#include "upset/results.h"
#include "upset/fnv.h"

/* Writes buf (len bytes) to dir/name through a .tmp file and a rename; frees buf. */
static int commit(const char *dir, const char *name, char *buf, size_t len, upset_err_t *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const int rc = file_replace(path, buf, len, err);
    free(buf);
    return rc;
}

/* An in-memory text file: open with text_open, fill with fprintf, hand to commit. */
typedef struct {
    FILE *f;
    char *buf;
    size_t len;
} text_t;

static int text_open(text_t *t, upset_err_t *err)
{
    t->buf = NULL;
    t->len = 0;
    t->f = open_memstream(&t->buf, &t->len);
    return t->f ? 0 : upset_fail(err, "out of memory");
}

static int text_commit(text_t *t, const char *dir, const char *name, upset_err_t *err)
{
    fclose(t->f);
    return commit(dir, name, t->buf, t->len, err);
}

double protect_failure(int64_t sensitive, double u)
{
    return -expm1((double)sensitive * log1p(-u));
}

int protect_write_curve(const char *dir, const protect_oracle_t *o, const protect_area_t *ar,
                       const order_t *orders, int n_orders, double u, int64_t budget,
                       upset_err_t *err)
{
    const int64_t n = o->n;
    text_t t;
    unsigned char *hit = calloc((size_t)ar->n_words, 1);
    /* rest[k]: the positive part of the errors of the bits after the first k, summed from
     * the end (subtracting protected bits from the total cancels: a large error removed
     * took the small ones' sum with it, and rounding left a residue once none was left) */
    double *rest = calloc((size_t)n + 1, sizeof *rest);
    if (!hit || !rest || text_open(&t, err)) {
        free(hit);
        free(rest);
        return hit && rest ? -1 : upset_fail(err, "out of memory");
    }
    text_t flat;
    if (text_open(&flat, err)) {
        fclose(t.f);
        free(t.buf);
        free(hit);
        free(rest);
        return -1;
    }
    fprintf(t.f, "order,bits_protected,area_bit_cells,predicted_error,predicted_failure\n");
    fprintf(flat.f, "order,flat_bits,flat_area_bit_cells,failure_at_flat,failure_unprotected\n");
    const int64_t step = n / 200 > 0 ? n / 200 : 1;
    for (int i = 0; i < n_orders; i++) {
        int64_t unprot_sens = 0;
        for (int64_t b = 0; b < n; b++)
            unprot_sens += o->sens[b];
        rest[n] = 0;
        for (int64_t k = n - 1; k >= 0; k--) {
            const double e = o->err_b[orders[i].order[k]];
            rest[k] = rest[k + 1] + (e > 0 ? e : 0);
        }
        memset(hit, 0, (size_t)ar->n_words);
        double area = (double)n;
        const double f0 = protect_failure(unprot_sens, u);
        int flat_done = 0;
        for (int64_t k = 0; k <= n; k++) {
            const double fk = protect_failure(unprot_sens, u);
            if (k % step == 0 || k == n || k == budget)
                fprintf(t.f, "%s,%lld,%.10g,%.10g,%.10g\n", orders[i].name, (long long)k, area,
                        u * rest[k], fk);
            /* flat from here: what the rest could still remove is below 1 % of f0 */
            if (!flat_done && fk <= 0.01 * f0) {
                fprintf(flat.f, "%s,%lld,%.10g,%.10g,%.10g\n", orders[i].name, (long long)k, area,
                        fk, f0);
                printf("%s order: flat from %lld bits (area %.10g bit cells, %.3gx unprotected): "
                       "the rest removes less than 1%% of the unprotected failure probability\n",
                       orders[i].name, (long long)k, area, area / (double)n);
                flat_done = 1;
            }
            if (k == n)
                break;
            const int64_t b = orders[i].order[k];
            unprot_sens -= o->sens[b];
            if (!ar->ecc) {
                area += ar->extra[b];
            } else if (!hit[ar->word_of[b]]) {
                hit[ar->word_of[b]] = 1;
                area += protect_ecc_bits(ar->word_bits[ar->word_of[b]]);
            }
        }
    }
    free(hit);
    free(rest);
    if (text_commit(&t, dir, "curve.csv", err)) {
        fclose(flat.f);
        free(flat.buf);
        return -1;
    }
    return text_commit(&flat, dir, "flat.csv", err);
}

/* plan.txt and plan_NAME.txt: the first `budget` bits of each order, as protect_lists. */
int protect_write_lists(const char *dir, const protect_oracle_t *o, const order_t *orders,
                       int n_orders, int64_t budget, upset_err_t *err)
{
    for (int i = 0; i < n_orders; i++) {
        text_t t;
        char name[128];
        if (i == 0)
            snprintf(name, sizeof name, "plan.txt");
        else
            snprintf(name, sizeof name, "plan_%s.txt", orders[i].name);
        if (text_open(&t, err))
            return -1;
        fprintf(t.f, "# upset protect: %lld bits of %s to harden (%s order%s); a multibit "
                     "protect_list\n",
                (long long)budget, o->m.name, orders[i].name,
                i == 0 ? ", largest oracle error first" : "");
        for (int64_t k = 0; k < budget; k++)
            fprintf(t.f, "%lld\n", (long long)orders[i].order[k]);
        if (text_commit(&t, dir, name, err))
            return -1;
    }
    return 0;
}

/* plan.csv (per weight) and plan_layers.csv (per layer) from the plan's mask. */
int protect_write_tables(const char *dir, const model_t *m, const unsigned char *hit,
                        upset_err_t *err)
{
    text_t t;
    if (text_open(&t, err))
        return -1;
    /* positions: 0 = MSB, space-separated; a weight index past the kernel is a bias code */
    fprintf(t.f, "layer,weight,bit_positions\n");
    for (int64_t b = 0; b < m->n_fault_bits;) {
        bitaddr_t a;
        bitspace_locate(m, b, &a);
        const int w = bitspace_width(m, a);
        int first = 1;
        for (int j = 0; j < w; j++) {
            if (!hit[b + j])
                continue;
            if (first)
                fprintf(t.f, "%s,%lld,%d", m->layers[a.layer].name, (long long)a.weight, j);
            else
                fprintf(t.f, " %d", j);
            first = 0;
        }
        if (!first)
            fprintf(t.f, "\n");
        b += w;
    }
    if (text_commit(&t, dir, "plan.csv", err) || text_open(&t, err))
        return -1;
    fprintf(t.f, "layer,bits,protected,share\n");
    for (int l = 0; l < m->n_layers; l++) {
        const layer_t *L = &m->layers[l];
        if (!L->faultable)
            continue;
        int64_t p = 0;
        for (int64_t b = L->bit_first; b < L->bit_first + L->n_bits; b++)
            p += hit[b];
        fprintf(t.f, "%s,%lld,%lld,%.6f\n", L->name, (long long)L->n_bits, (long long)p,
                L->n_bits ? (double)p / (double)L->n_bits : 0.0);
    }
    return text_commit(&t, dir, "plan_layers.csv", err);
}

#define MASK_COLUMNS(X)                                                                       \
    X(int64_t, bit, RESULTS_INT64, "1", "global bit index (MSB first, docs/model-format.md)") \
    X(int32_t, layer, RESULTS_INT32, "1", "layer index in the model")                         \
    X(int64_t, weight, RESULTS_INT64, "1", "flat C-order index into the layer's kernel")      \
    X(int32_t, bit_pos, RESULTS_INT32, "1", "bit position in the weight code, 0 = MSB")       \
    X(int8_t, protected_bit, RESULTS_INT8, "1", "1: the plan hardens this bit")               \
    X(int8_t, sensitive, RESULTS_INT8, "1", "1: the oracle found the bit sensitive")          \
    X(double, error, RESULTS_FLOAT64, "task unit",                                            \
      "the oracle's error of the bit relative to fault-free (delta EMD, extra mispredicts)")

#define AS_FIELD(ctype, name, type, unit, desc) ctype name;
#define AS_COLUMN(ctype, name, type, unit, desc)                                              \
    RESULTS_COLUMN(mask_record_t, name, type, unit, desc),
typedef struct {
    MASK_COLUMNS(AS_FIELD)
} mask_record_t;
static const results_column_t MASK_COLUMNS_TABLE[] = {MASK_COLUMNS(AS_COLUMN)};
static const results_table_t MASK_TABLE = {"bits", sizeof(mask_record_t), MASK_COLUMNS_TABLE,
                                           sizeof MASK_COLUMNS_TABLE / sizeof *MASK_COLUMNS_TABLE};

/* plan.h5: the per-bit mask with its layer, weight and position (the results layout). */
int protect_write_mask(const char *dir, const protect_oracle_t *o, const unsigned char *hit,
                      double u, const char *cost, int64_t budget, double area,
                      upset_err_t *err)
{
    mask_record_t *rec = upset_calloc((size_t)o->n, sizeof *rec, err);
    if (!rec)
        return -1;
    int64_t s_all = 0, s_left = 0;
    for (int64_t b = 0; b < o->n; b++) {
        bitaddr_t a;
        bitspace_locate(&o->m, b, &a);
        rec[b] = (mask_record_t){b, a.layer, a.weight, a.bit, (int8_t)hit[b],
                                 (int8_t)o->sens[b], o->err_b[b]};
        s_all += o->sens[b];
        s_left += o->sens[b] && !hit[b];
    }
    char path[4200];
    const fnv_hex_t ck = fnv_hex(o->m.checksum);
    snprintf(path, sizeof path, "%s/plan.h5", dir);
    const results_attr_t attrs[] = {
        RESULTS_ATTR_STR("kind", "protection_plan"),
        RESULTS_ATTR_STR("oracle", o->path),
        RESULTS_ATTR_STR("model", o->m.path),
        RESULTS_ATTR_STR("model_name", o->m.name),
        RESULTS_ATTR_STR("model_checksum_fnv1a64", ck.s),
        RESULTS_ATTR_STR("cost", cost),
        RESULTS_ATTR_F64("rate", u),
        RESULTS_ATTR_I64("n_fault_bits", o->n),
        RESULTS_ATTR_I64("n_protected", budget),
        RESULTS_ATTR_F64("area_bit_cells", area),
        RESULTS_ATTR_F64("predicted_failure", protect_failure(s_left, u)),
        RESULTS_ATTR_F64("unprotected_failure", protect_failure(s_all, u)),
    };
    int rc = results_write(path, &MASK_TABLE, rec, o->n, attrs,
                                  (int)(sizeof attrs / sizeof *attrs), err);
    free(rec);
    return rc;
}

/* A YAML single-quoted scalar (a quote inside doubles). */
static void yaml_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* How many samples the data hold from `first` on, up to `want`: loads at most want + 1 of
 * them (from the sample before first, the oracle's last, which exists). */
static int samples_after(const campaign_t *oc, int64_t first, int64_t want, int64_t *avail,
                         upset_err_t *err)
{
    const char *const *files = (const char *const *)oc->data.files.v;
    dataset_t d;
    upset_err_t ignored = {{0}};
    if (!campaign_data_load(oc->data.format, files, oc->data.files.n, oc->data.labels, first,
                            want, &d, &ignored)) {
        dataset_free(&d);
        *avail = want;
        return 0;
    }
    if (campaign_data_load(oc->data.format, files, oc->data.files.n, oc->data.labels, first - 1,
                           -1, &d, err))
        return -1;
    *avail = d.n - 1;
    dataset_free(&d);
    return 0;
}

int protect_holdout(const protect_oracle_t *o, int64_t want, int given, int64_t *holdout,
                    upset_err_t *err)
{
    campaign_t oc;
    campaign_defaults(&oc);
    int rc = campaign_load_yaml_string(&oc, o->campaign_yaml, strlen(o->campaign_yaml), o->path,
                                       err);
    *holdout = 0;
    if (!rc && oc.data.count < 0) {
        printf("no validation campaigns: the oracle used every sample of its data (count: all), "
               "so none is held out\n");
        campaign_free(&oc);
        return 0;
    }
    const int64_t first = rc ? 0 : oc.data.offset + oc.data.count;
    int64_t avail = 0;
    upset_err_t why = {{0}};
    if (!rc && samples_after(&oc, first, want, &avail, &why)) {
        if (given)
            rc = upset_fail(err, "--holdout %lld: cannot read the oracle's data: %s",
                            (long long)want, why.msg);
        else
            printf("no validation campaigns: cannot read the oracle's data: %s\n", why.msg);
    } else if (!rc && avail < want && given && avail) {
        rc = upset_fail(err, "--holdout %lld: %s holds %lld samples after the oracle's (from "
                             "offset %lld); give --holdout %lld or fewer",
                        (long long)want, oc.data.files.v[0], (long long)avail, (long long)first,
                        (long long)avail);
    } else if (!rc && avail < want && given) {
        rc = upset_fail(err, "--holdout %lld: %s holds no sample after the oracle's (offset "
                             "%lld); leave --holdout out for a plan without validation campaigns",
                        (long long)want, oc.data.files.v[0], (long long)first);
    } else if (!rc && avail == 0) {
        printf("no validation campaigns: %s holds no sample after the oracle's (offset %lld), "
               "so none is held out\n",
               oc.data.files.v[0], (long long)first);
    } else if (!rc) {
        if (avail < want)
            printf("validation campaigns on the %lld samples after the oracle's (all %s holds "
                   "from offset %lld; fewer than --holdout's default %lld)\n",
                   (long long)avail, oc.data.files.v[0], (long long)first, (long long)want);
        *holdout = avail;
    }
    campaign_free(&oc);
    return rc ? -1 : 0;
}

/* validate_NAME.yaml: multibit campaigns at rate u on `holdout` inputs after the oracle's,
 * one per order (its plan) and one with nothing protected; one seed, so every campaign
 * draws the same cells and only the protection differs. None when holdout is 0. */
int protect_write_validation(const char *dir, const protect_oracle_t *o, const order_t *orders,
                            int n_orders, double u, int64_t holdout, int64_t trials,
                            upset_err_t *err)
{
    if (holdout == 0)
        return 0;
    campaign_t oc;
    campaign_defaults(&oc);
    int rc = campaign_load_yaml_string(&oc, o->campaign_yaml, strlen(o->campaign_yaml), o->path,
                                       err);
    for (int i = -1; !rc && i < n_orders; i++) {
        const char *what = i < 0 ? "unprotected" : orders[i].name;
        char name[160];
        snprintf(name, sizeof name, "validate_%s.yaml", what);
        text_t t;
        if ((rc = text_open(&t, err)))
            break;
        fprintf(t.f, "# Written by upset protect from %s: the plan of order '%s' (%s) under\n"
                     "# %g upsets per bit per trial, measured on %lld inputs the oracle did not see.\n"
                     "# Run it, then compare with the prediction:\n"
                     "#   mpirun -np 4 build/upset run %s/%s\n"
                     "#   build/upset protect --oracle %s --check %s/validate_%s.h5\n",
                o->path, what, i < 0 ? "nothing protected" : "its plan file", u,
                (long long)holdout, dir, name, o->path, dir, what);
        fprintf(t.f, "name: validate_%s_%s\nmodel: ", o->m.name, what);
        yaml_quoted(t.f, o->m.path);
        fprintf(t.f, "\ndata:\n  format: %s\n  files: [", campaign_data_format_name(oc.data.format));
        for (int k = 0; k < oc.data.files.n; k++) {
            fprintf(t.f, k ? ", " : "");
            yaml_quoted(t.f, oc.data.files.v[k]);
        }
        fprintf(t.f, "]\n");
        if (oc.data.labels) {
            fprintf(t.f, "  labels: ");
            yaml_quoted(t.f, oc.data.labels);
            fprintf(t.f, "\n");
        }
        fprintf(t.f, "  offset: %lld\n  count: %lld\n",
                (long long)(oc.data.offset + oc.data.count), (long long)holdout);
        if (oc.data.format != CAMPAIGN_DATA_HGCAL)
            fprintf(t.f, "  correct_only: %s\n", oc.data.correct_only ? "true" : "false");
        fprintf(t.f, "kind: multibit\nseed: 1\nemd_zero_sum: %s\n",
                campaign_emd_zero_name(oc.emd_zero_sum));
        if (oc.include_bias)
            fprintf(t.f, "include_bias: true\n");
        fprintf(t.f, "output: ");
        char out[4300];
        snprintf(out, sizeof out, "%s/validate_%s.h5", dir, what);
        yaml_quoted(t.f, out);
        char rate[40]; /* the shortest form that reads back as u */
        snprintf(rate, sizeof rate, "%.15g", u);
        if (strtod(rate, NULL) != u)
            snprintf(rate, sizeof rate, "%.17g", u);
        fprintf(t.f, "\nmultibit:\n  trials: %lld\n  cross_section: %s\n  flux: 1\n"
                     "  exposure: 1\n",
                (long long)trials, rate);
        if (i < 0) {
            fprintf(t.f, "  protection: none\n");
        } else {
            char list[4300];
            if (i == 0)
                snprintf(list, sizeof list, "%s/plan.txt", dir);
            else
                snprintf(list, sizeof list, "%s/plan_%s.txt", dir, orders[i].name);
            fprintf(t.f, "  protection: list\n  protect_list: ");
            yaml_quoted(t.f, list);
            fprintf(t.f, "\n");
        }
        rc = text_commit(&t, dir, name, err);
    }
    campaign_free(&oc);
    return rc;
}

