/* `upset protect`: which bits to harden, at what cost, for how much reliability.
 *
 * From a single-bit oracle (and optionally bit rankings), for an upset rate U (upsets per
 * bit per trial: cross-section x flux x exposure), each order protects its first k bits and
 * the unprotected bits fail independently with probability U each. To first order in U
 * (single upsets dominate, errors add), a trial's
 *   expected error       = U * sum of the unprotected bits' oracle errors (positive part),
 *   failure probability  = 1 - (1 - U)^(unprotected sensitive bits).
 * Both ignore that many insensitive flips can add up to an error, which a multibit
 * campaign with `protection: list` on the written plan measures (docs/protection.md).
 * Area counts bit cells: TMR keeps three copies of a protected bit; SEC-DED ECC adds
 * ceil(log2(w + 1)) + 1 check bits to every w-bit weight with any protected bit.
 *
 * Besides the curve and the plan, it writes multibit campaigns that measure the plan (and
 * the same budget in every other order, and nothing protected) on inputs the oracle did not
 * see; `--check` then sets their measurements beside the prediction (cli_protect_check.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protect_int.h"
#include "upset/bitranking.h"
#include "upset/bitspace.h"
#include "upset/campaign.h"
#include "upset/cli_commands.h"
#include "upset/fileutil.h"
#include "upset/model.h"
#include "upset/results.h"

#define MAX_ORDERS 16

static int protect_usage(void)
{
    fprintf(stderr,
            "usage: upset protect --oracle ORACLE.h5 --rate U [--ranking NAME=FILE]...\n"
            "                     [--cost tmr|ecc|COSTS.csv] [--budget BITS] [--holdout N]\n"
            "                     [--trials T] --out DIR\n"
            "       upset protect --oracle ORACLE.h5 --check MULTIBIT.h5 [--check ...]\n"
            "                     [--cost tmr|ecc|COSTS.csv] [--out DIR]\n"
            "  U: upsets per bit per trial (cross-section x flux x exposure), in (0, 1)\n"
            "  COSTS.csv: `layer,cost` lines, extra bit cells per protected bit of the\n"
            "  layer (TMR: 2); `*,cost` for the layers not named\n"
            "  writes DIR/curve.csv (per order: bits protected, area, predicted expected\n"
            "  error and failure probability), and for --budget (default: where the oracle\n"
            "  order's predicted failure probability first falls to 1%% of the unprotected\n"
            "  one) DIR/plan.txt (a protect_list), plan.csv (layer, weight, bits), plan.h5\n"
            "  (the per-bit mask), plan_layers.csv (the share of each layer protected),\n"
            "  plan_NAME.txt (the same budget in each ranking's order) and validate_*.yaml:\n"
            "  multibit campaigns at rate U on N held-out inputs (default 2000), T trials\n"
            "  (default 20000) each, for the plan, each ranking's plan and nothing protected.\n"
            "  --check: the prediction beside what multibit campaigns measured\n"
            "  (DIR/check.csv)\n");
    return 2;
}

typedef struct {
    const char *name;
    int64_t *order; /* bits, most important first */
} order_t;

static const double *sort_err;
static int by_err(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (sort_err[x] != sort_err[y])
        return sort_err[x] > sort_err[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* ---------------------------------------------------------------- the oracle -- */

/* Per-bit error (task's unit, relative to fault-free) and sensitivity from the oracle,
 * whose model must not have changed since it ran. */
static int oracle_load(const char *path, protect_oracle_t *o, upset_err_t *err)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    char *model_path = NULL, *stored = NULL;
    void *bits = NULL, *e = NULL, *s = NULL;
    int64_t nb = 0, ne = 0, ns = 0, base = 0;
    unsigned char *seen = NULL;
    int rc = results_read_attr_string(path, "model", &model_path, err) ||
             results_read_attr_string(path, "model_checksum_fnv1a64", &stored, err) ||
             results_read_attr_string(path, "data_checksum_fnv1a64", &o->data_checksum, err) ||
             results_read_attr_string(path, "campaign_yaml", &o->campaign_yaml, err) ||
             model_load(model_path, &o->m, err);
    if (!rc) {
        char now[32];
        snprintf(now, sizeof now, "%016llx", (unsigned long long)o->m.checksum);
        if (strcmp(now, stored))
            rc = upset_fail(err, "%s: the model %s changed since this oracle was run", path,
                            model_path);
    }
    const int classifier = !rc && o->m.task == TASK_CLASSIFIER;
    rc = rc || results_read_column(path, "bits", "bit", RESULTS_INT64, &bits, &nb, err) ||
         results_read_column(path, "bits", classifier ? "mispredicts" : "delta_emd",
                             RESULTS_FLOAT64, &e, &ne, err) ||
         results_read_column(path, "bits", "sensitive", RESULTS_INT8, &s, &ns, err) ||
         (classifier && results_read_attr_int64(path, "baseline_mispredicts", &base, err));
    if (!rc) {
        o->n = o->m.n_fault_bits;
        o->err_b = calloc((size_t)o->n, sizeof *o->err_b);
        o->sens = calloc((size_t)o->n, 1);
        seen = calloc((size_t)o->n, 1);
        if (!o->err_b || !o->sens || !seen)
            rc = upset_fail(err, "out of memory");
    }
    for (int64_t i = 0; !rc && i < nb; i++) {
        int64_t b = ((int64_t *)bits)[i];
        if (b < 0 || b >= o->n || seen[b])
            rc = upset_fail(err, "%s: bit %lld is out of range or repeated", path, (long long)b);
        else {
            seen[b] = 1;
            o->err_b[b] = ((double *)e)[i] - (double)base;
            o->sens[b] = ((int8_t *)s)[i] != 0;
        }
    }
    if (!rc && nb != o->n)
        rc = upset_fail(err, "%s: the oracle covers %lld of the %lld bits; the plan needs all",
                        path, (long long)nb, (long long)o->n);
    free(seen);
    free(bits);
    free(e);
    free(s);
    free(model_path);
    free(stored);
    return rc ? -1 : 0;
}

static void oracle_free(protect_oracle_t *o)
{
    free(o->err_b);
    free(o->sens);
    free(o->data_checksum);
    free(o->campaign_yaml);
    model_free(&o->m);
}

/* ------------------------------------------------------------------- area -- */

int protect_ecc_bits(int w)
{
    int r = 0;
    while ((1 << r) < w + r + 1)
        r++;
    return r + 1;
}

/* A user's cost table: CSV lines `layer,cost` (extra bit cells per protected bit of that
 * layer; `*` for every layer not named), `#` comments, an optional header line. */
static int read_cost_table(const char *path, const model_t *m, double *layer_cost,
                           upset_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return upset_fail(err, "--cost %s: cannot open: %s (give tmr, ecc or a CSV file of "
                               "`layer,cost` lines)",
                          path, strerror(errno));
    double fallback = -1;
    for (int l = 0; l < m->n_layers; l++)
        layer_cost[l] = -1;
    char line[1024];
    int rc = 0, lineno = 0, first = 1;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        char *comma = strchr(p, ',');
        char *end = NULL;
        double v = comma ? strtod(comma + 1, &end) : 0;
        while (end && (*end == ' ' || *end == '\t'))
            end++;
        const int header = first && comma && end == comma + 1; /* `layer,cost` or the like */
        first = 0;
        if (header)
            continue;
        if (!comma || !end || *end || end == comma + 1 || !isfinite(v) || v < 0) {
            rc = upset_fail(err, "%s:%d: expected `layer,cost` with a cost >= 0 (extra bit "
                                 "cells per protected bit), got '%s'",
                            path, lineno, line);
            break;
        }
        *comma = 0;
        int found = !strcmp(p, "*");
        if (found) {
            if (fallback >= 0)
                rc = upset_fail(err, "%s:%d: '*' given twice", path, lineno);
            fallback = v;
        }
        for (int l = 0; !found && l < m->n_layers; l++) {
            if (!m->layers[l].faultable || strcmp(m->layers[l].name, p))
                continue;
            found = 1;
            if (layer_cost[l] >= 0)
                rc = upset_fail(err, "%s:%d: layer '%s' given twice", path, lineno, p);
            layer_cost[l] = v;
        }
        if (!rc && !found)
            rc = upset_fail(err, "%s:%d: '%s' is not a faultable layer of %s (`upset info` "
                                 "lists them)",
                            path, lineno, p, m->name);
    }
    fclose(f);
    for (int l = 0; !rc && l < m->n_layers; l++) {
        if (!m->layers[l].faultable || layer_cost[l] >= 0)
            continue;
        if (fallback < 0)
            rc = upset_fail(err, "%s: no cost for layer '%s' (name it, or give `*,COST`)", path,
                            m->layers[l].name);
        layer_cost[l] = fallback;
    }
    return rc;
}

static int area_init(protect_area_t *ar, const model_t *m, const char *cost, upset_err_t *err)
{
    const int64_t n = m->n_fault_bits;
    ar->ecc = !strcmp(cost, "ecc");
    ar->n_words = 0;
    ar->extra = calloc((size_t)n, sizeof *ar->extra);
    ar->word_of = calloc((size_t)n, sizeof *ar->word_of);
    ar->word_bits = calloc((size_t)n, sizeof *ar->word_bits);
    double *layer_cost = calloc((size_t)m->n_layers, sizeof *layer_cost);
    if (!ar->extra || !ar->word_of || !ar->word_bits || !layer_cost) {
        free(layer_cost);
        return upset_fail(err, "out of memory");
    }
    for (int l = 0; l < m->n_layers; l++)
        layer_cost[l] = 2; /* TMR: two more copies of a protected bit */
    if (!ar->ecc && strcmp(cost, "tmr") && read_cost_table(cost, m, layer_cost, err)) {
        free(layer_cost);
        return -1;
    }
    for (int64_t b = 0; b < n;) { /* weights: consecutive runs of their bits */
        bitaddr_t a;
        bitspace_locate(m, b, &a);
        const int w = m->layers[a.layer].kq.bits;
        for (int j = 0; j < w; j++) {
            ar->word_of[b + j] = ar->n_words;
            ar->extra[b + j] = layer_cost[a.layer];
        }
        ar->word_bits[ar->n_words++] = w;
        b += w;
    }
    free(layer_cost);
    return 0;
}

double protect_area(const protect_area_t *ar, int64_t n, const unsigned char *mask)
{
    double area = (double)n;
    int64_t word = -1;
    for (int64_t b = 0; b < n; b++) {
        if (!mask[b])
            continue;
        if (!ar->ecc) {
            area += ar->extra[b];
        } else if (ar->word_of[b] != word) { /* a word's bits are consecutive: its first
                                                 protected bit pays for its check bits */
            word = ar->word_of[b];
            area += protect_ecc_bits(ar->word_bits[word]);
        }
    }
    return area;
}

/* ---------------------------------------------------------------- outputs -- */

/* Writes buf (len bytes) to dir/name through a .tmp file and a rename; frees buf. */
static int commit(const char *dir, const char *name, char *buf, size_t len, upset_err_t *err)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = file_write_all(tmp, buf, len, err);
    if (!rc && rename(tmp, path) != 0) {
        rc = upset_fail(err, "%s: cannot rename: %s", tmp, strerror(errno));
        unlink(tmp);
    }
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

static double unprotected_failure(int64_t sensitive, double u)
{
    return -expm1((double)sensitive * log1p(-u));
}

static int write_curve(const char *dir, const protect_oracle_t *o, const protect_area_t *ar,
                       const order_t *orders, int n_orders, double u, int64_t budget,
                       upset_err_t *err)
{
    const int64_t n = o->n;
    text_t t;
    unsigned char *hit = calloc((size_t)ar->n_words, 1);
    if (!hit || text_open(&t, err)) {
        free(hit);
        return hit ? -1 : upset_fail(err, "out of memory");
    }
    text_t flat;
    if (text_open(&flat, err)) {
        fclose(t.f);
        free(t.buf);
        free(hit);
        return -1;
    }
    fprintf(t.f, "order,bits_protected,area_bit_cells,predicted_error,predicted_failure\n");
    fprintf(flat.f, "order,flat_bits,flat_area_bit_cells,failure_at_flat,failure_unprotected\n");
    const int64_t step = n / 200 > 0 ? n / 200 : 1;
    for (int i = 0; i < n_orders; i++) {
        double unprot_err = 0;
        int64_t unprot_sens = 0;
        for (int64_t b = 0; b < n; b++) {
            unprot_err += o->err_b[b] > 0 ? o->err_b[b] : 0;
            unprot_sens += o->sens[b];
        }
        memset(hit, 0, (size_t)ar->n_words);
        double area = (double)n;
        const double f0 = unprotected_failure(unprot_sens, u);
        int flat_done = 0;
        for (int64_t k = 0; k <= n; k++) {
            const double fk = unprotected_failure(unprot_sens, u);
            if (k % step == 0 || k == n || k == budget)
                fprintf(t.f, "%s,%lld,%.10g,%.10g,%.10g\n", orders[i].name, (long long)k, area,
                        k == n || unprot_err < 0 ? 0.0 : u * unprot_err, fk);
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
            unprot_err -= o->err_b[b] > 0 ? o->err_b[b] : 0;
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
    if (text_commit(&t, dir, "curve.csv", err)) {
        fclose(flat.f);
        free(flat.buf);
        return -1;
    }
    return text_commit(&flat, dir, "flat.csv", err);
}

/* plan.txt and plan_NAME.txt: the first `budget` bits of each order, as protect_lists. */
static int write_lists(const char *dir, const protect_oracle_t *o, const order_t *orders,
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
static int write_tables(const char *dir, const model_t *m, const unsigned char *hit,
                        upset_err_t *err)
{
    text_t t;
    if (text_open(&t, err))
        return -1;
    fprintf(t.f, "layer,weight,bit_positions\n"); /* positions: 0 = MSB, space-separated */
    for (int64_t b = 0; b < m->n_fault_bits;) {
        bitaddr_t a;
        bitspace_locate(m, b, &a);
        const int w = m->layers[a.layer].kq.bits;
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
static int write_mask(const char *dir, const protect_oracle_t *o, const unsigned char *hit,
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
    char ck[32], path[4200];
    snprintf(ck, sizeof ck, "%016llx", (unsigned long long)o->m.checksum);
    snprintf(path, sizeof path, "%s/plan.h5", dir);
    const results_attr_t attrs[] = {
        RESULTS_ATTR_STR("kind", "protection_plan"),
        RESULTS_ATTR_STR("oracle", o->path),
        RESULTS_ATTR_STR("model", o->m.path),
        RESULTS_ATTR_STR("model_name", o->m.name),
        RESULTS_ATTR_STR("model_checksum_fnv1a64", ck),
        RESULTS_ATTR_STR("cost", cost),
        RESULTS_ATTR_F64("rate", u),
        RESULTS_ATTR_I64("n_fault_bits", o->n),
        RESULTS_ATTR_I64("n_protected", budget),
        RESULTS_ATTR_F64("area_bit_cells", area),
        RESULTS_ATTR_F64("predicted_failure", unprotected_failure(s_left, u)),
        RESULTS_ATTR_F64("unprotected_failure", unprotected_failure(s_all, u)),
    };
    int rc = results_write_serial(path, &MASK_TABLE, rec, o->n, attrs,
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

/* validate_NAME.yaml: multibit campaigns at rate u on `holdout` inputs after the oracle's,
 * one per order (its plan) and one with nothing protected; one seed, so every campaign
 * draws the same cells and only the protection differs. */
static int write_validation(const char *dir, const protect_oracle_t *o, const order_t *orders,
                            int n_orders, double u, int64_t holdout, int64_t trials,
                            upset_err_t *err)
{
    campaign_t oc;
    campaign_defaults(&oc);
    int rc = campaign_load_yaml_string(&oc, o->campaign_yaml, strlen(o->campaign_yaml), o->path,
                                       err);
    if (!rc && oc.data.count < 0) {
        printf("no validation campaigns: the oracle used every sample of its data (count: all), "
               "so none is held out\n");
        campaign_free(&oc);
        return 0;
    }
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
        if (oc.data.format == CAMPAIGN_DATA_CIFAR10)
            fprintf(t.f, "  correct_only: %s\n", oc.data.correct_only ? "true" : "false");
        fprintf(t.f, "kind: multibit\nseed: 1\nemd_zero_sum: %s\noutput: ",
                campaign_emd_zero_name(oc.emd_zero_sum));
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

/* ------------------------------------------------------------------ command -- */

typedef struct {
    const char *oracle, *out, *cost;
    const char *ranking[MAX_ORDERS];
    int n_ranking;
    const char *check[64];
    int n_check;
    double u;
    long long budget, holdout, trials;
} protect_args_t;

static int parse_count(const char *opt, const char *v, long long min, long long *out)
{
    char *end;
    *out = strtoll(v, &end, 10);
    if (end == v || *end || *out < min) {
        fprintf(stderr, "upset protect: %s '%s': expected an integer >= %lld\n", opt, v, min);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, protect_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->cost = "tmr";
    a->u = -1;
    a->budget = -1;
    a->holdout = 2000;
    a->trials = 20000;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return protect_usage();
        char *end;
        if (!strcmp(o, "--oracle"))
            a->oracle = v;
        else if (!strcmp(o, "--out"))
            a->out = v;
        else if (!strcmp(o, "--cost"))
            a->cost = v;
        else if (!strcmp(o, "--ranking") && a->n_ranking < MAX_ORDERS - 1)
            a->ranking[a->n_ranking++] = v;
        else if (!strcmp(o, "--check") && a->n_check < 64)
            a->check[a->n_check++] = v;
        else if (!strcmp(o, "--rate")) {
            a->u = strtod(v, &end);
            if (end == v || *end || !(a->u > 0 && a->u < 1)) {
                fprintf(stderr, "upset protect: --rate '%s': expected a number in (0, 1)\n", v);
                return 2;
            }
        } else if (!strcmp(o, "--budget")) {
            if (parse_count(o, v, 0, &a->budget))
                return 2;
        } else if (!strcmp(o, "--holdout")) {
            if (parse_count(o, v, 1, &a->holdout))
                return 2;
        } else if (!strcmp(o, "--trials")) {
            if (parse_count(o, v, 1, &a->trials))
                return 2;
        } else
            return protect_usage();
    }
    if (!a->oracle || !a->cost[0])
        return protect_usage();
    if (!a->n_check && (!a->out || a->u < 0))
        return protect_usage();
    return 0;
}

/* A ranking given as NAME=FILE, which must order every bit once. */
static int read_order(const char *arg, int64_t n, order_t *o, char *name, size_t name_len,
                      upset_err_t *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return upset_fail(err, "--ranking '%s': expected NAME=FILE", arg);
    snprintf(name, name_len, "%.*s", (int)(eq - arg), arg);
    for (const char *c = name; *c; c++)
        if (!(*c == '_' || *c == '-' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9')))
            return upset_fail(err, "--ranking '%s': NAME may hold letters, digits, _ and - "
                                   "(it names files)",
                              arg);
    o->name = name;
    int64_t len = 0;
    if (bit_ranking_read(eq + 1, n, &o->order, &len, err))
        return -1;
    unsigned char *seen = calloc((size_t)n, 1);
    if (!seen)
        return upset_fail(err, "out of memory");
    int64_t once = 0;
    for (int64_t k = 0; k < len; k++) {
        once += !seen[o->order[k]];
        seen[o->order[k]] = 1;
    }
    free(seen);
    if (len != n || once != n)
        return upset_fail(err, "%s: a ranking must list every one of the %lld bits once",
                          eq + 1, (long long)n);
    return 0;
}

static int plan(const protect_args_t *a, const protect_oracle_t *o, const protect_area_t *ar,
                upset_err_t *err)
{
    const int64_t n = o->n;
    order_t orders[MAX_ORDERS];
    static char names[MAX_ORDERS][64];
    int n_orders = 1;
    memset(orders, 0, sizeof orders);
    orders[0].name = "oracle";
    orders[0].order = calloc((size_t)n, sizeof *orders[0].order);
    int rc = orders[0].order ? 0 : upset_fail(err, "out of memory");
    if (!rc) {
        for (int64_t b = 0; b < n; b++)
            orders[0].order[b] = b;
        sort_err = o->err_b;
        qsort(orders[0].order, (size_t)n, sizeof *orders[0].order, by_err);
    }
    for (int i = 0; !rc && i < a->n_ranking; i++) {
        rc = read_order(a->ranking[i], n, &orders[n_orders], names[n_orders],
                        sizeof names[n_orders], err);
        n_orders++;
        for (int j = 0; !rc && j < n_orders - 1; j++)
            if (!strcmp(orders[j].name, orders[n_orders - 1].name))
                rc = upset_fail(err, "--ranking: the name '%s' is given twice",
                                orders[j].name);
    }
    int64_t budget = a->budget;
    if (!rc && budget < 0) { /* where the oracle order reaches 1% of the unprotected failure */
        int64_t s = 0;
        for (int64_t b = 0; b < n; b++)
            s += o->sens[b];
        const double full = unprotected_failure(s, a->u);
        budget = n;
        for (int64_t k = 0; k <= n; k++) {
            if (unprotected_failure(s, a->u) <= 0.01 * full) {
                budget = k;
                break;
            }
            if (k < n)
                s -= o->sens[orders[0].order[k]];
        }
    }
    if (!rc && budget > n)
        rc = upset_fail(err, "--budget %lld exceeds the model's %lld bits", (long long)budget,
                        (long long)n);
    unsigned char *hit = rc ? NULL : calloc((size_t)n, 1);
    if (!rc && !hit)
        rc = upset_fail(err, "out of memory");
    for (int64_t k = 0; !rc && k < budget; k++)
        hit[orders[0].order[k]] = 1;
    const double area = rc ? 0 : protect_area(ar, n, hit);
    rc = rc || file_mkdirs(a->out, err) ||
         write_curve(a->out, o, ar, orders, n_orders, a->u, budget, err) ||
         write_lists(a->out, o, orders, n_orders, budget, err) ||
         write_tables(a->out, &o->m, hit, err) ||
         write_mask(a->out, o, hit, a->u, a->cost, budget, area, err) ||
         write_validation(a->out, o, orders, n_orders, a->u, a->holdout, a->trials, err);
    if (!rc)
        printf("%s: %lld of %lld bits in the plan (%s area %.10g bit cells); curve in "
               "%s/curve.csv, plan in %s/plan.txt, plan.csv and plan.h5; held-out checks in "
               "%s/validate_*.yaml\n",
               o->m.name, (long long)budget, (long long)n, a->cost, area, a->out,
               a->out, a->out);
    free(hit);
    for (int i = 0; i < n_orders; i++)
        free(orders[i].order);
    return rc;
}

int cmd_protect(int argc, char **argv)
{
    protect_args_t a;
    int usage = parse_args(argc, argv, &a);
    if (usage)
        return usage;
    upset_err_t err = {{0}};
    protect_oracle_t o;
    protect_area_t ar = {0, NULL, NULL, NULL, 0};
    int rc = oracle_load(a.oracle, &o, &err) || area_init(&ar, &o.m, a.cost, &err);
    if (!rc)
        rc = a.n_check ? protect_check(&o, &ar, a.check, a.n_check, a.out, &err)
                       : plan(&a, &o, &ar, &err);
    if (rc)
        fprintf(stderr, "upset protect: %s\n", err.msg);
    oracle_free(&o);
    free(ar.extra);
    free(ar.word_of);
    free(ar.word_bits);
    return rc ? 1 : 0;
}
