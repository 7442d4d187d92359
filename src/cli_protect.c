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
 * ceil(log2(w + 1)) + 1 check bits to every w-bit weight with any protected bit. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upset/bitranking.h"
#include "upset/bitspace.h"
#include "upset/cli_commands.h"
#include "upset/fileutil.h"
#include "upset/model.h"
#include "upset/results.h"

#define MAX_ORDERS 16

static int protect_usage(void)
{
    fprintf(stderr,
            "usage: upset protect --oracle ORACLE.h5 --rate U [--ranking NAME=FILE]...\n"
            "                     [--cost tmr|ecc] [--budget BITS] --out DIR\n"
            "  U: upsets per bit per trial (cross-section x flux x exposure), in (0, 1)\n"
            "  writes DIR/curve.csv (per order: bits protected, area, predicted expected\n"
            "  error and failure probability), and for --budget (default: where the oracle\n"
            "  order's predicted failure probability first falls to 1%% of the unprotected\n"
            "  one) DIR/plan.txt (a protect_list), DIR/plan.csv (layer, weight, bits) and\n"
            "  DIR/plan_layers.csv (the share of each layer's bits protected)\n");
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

/* Per-bit error (task's unit, relative to fault-free) and sensitivity from the oracle. */
static int read_oracle(const char *path, const model_t *m, double *err_b, unsigned char *sens,
                       upset_err_t *err)
{
    void *bits = NULL, *e = NULL, *s = NULL;
    int64_t nb = 0, ne = 0, ns = 0, base = 0;
    const int classifier = m->task == TASK_CLASSIFIER;
    int rc = results_read_column(path, "bits", "bit", RESULTS_INT64, &bits, &nb, err) ||
             results_read_column(path, "bits", classifier ? "mispredicts" : "delta_emd",
                                 RESULTS_FLOAT64, &e, &ne, err) ||
             results_read_column(path, "bits", "sensitive", RESULTS_INT8, &s, &ns, err) ||
             (classifier && results_read_attr_int64(path, "baseline_mispredicts", &base, err));
    unsigned char *seen = rc ? NULL : calloc((size_t)m->n_fault_bits, 1);
    if (!rc && !seen)
        rc = upset_fail(err, "out of memory");
    for (int64_t i = 0; !rc && i < nb; i++) {
        int64_t b = ((int64_t *)bits)[i];
        if (b < 0 || b >= m->n_fault_bits || seen[b])
            rc = upset_fail(err, "%s: bit %lld is out of range or repeated", path, (long long)b);
        else {
            seen[b] = 1;
            err_b[b] = ((double *)e)[i] - (double)base;
            sens[b] = ((int8_t *)s)[i] != 0;
        }
    }
    if (!rc && nb != m->n_fault_bits)
        rc = upset_fail(err, "%s: the oracle covers %lld of the %lld bits; the plan needs all",
                        path, (long long)nb, (long long)m->n_fault_bits);
    free(seen);
    free(bits);
    free(e);
    free(s);
    return rc ? -1 : 0;
}

/* Check bits SEC-DED adds to a w-bit word. */
static int ecc_bits(int w)
{
    int r = 0;
    while ((1 << r) < w + r + 1)
        r++;
    return r + 1;
}

/* Area (bit cells) of protecting the first k bits of order (word_hit: scratch per weight). */
typedef struct {
    const model_t *m;
    int ecc;
    int64_t *word_of; /* global bit -> global weight index */
    int *word_bits;   /* global weight -> its bits */
    int64_t n_words;
} area_t;

/* Writes buf (len bytes) to dir/name through a .tmp file and a rename. */
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

static int write_outputs(const char *dir, const model_t *m, const area_t *ar, order_t *orders,
                         int n_orders, const double *err_b, const unsigned char *sens, double u,
                         int64_t budget, upset_err_t *err)
{
    const int64_t n = m->n_fault_bits;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    unsigned char *hit = calloc((size_t)(ar->n_words > n ? ar->n_words : n), 1);
    if (!f || !hit) {
        if (f)
            fclose(f);
        free(buf);
        free(hit);
        return upset_fail(err, "out of memory");
    }
    fprintf(f, "order,bits_protected,area_bit_cells,predicted_error,predicted_failure\n");
    const int64_t step = n / 200 > 0 ? n / 200 : 1;
    for (int o = 0; o < n_orders; o++) {
        double unprot_err = 0;
        int64_t unprot_sens = 0;
        for (int64_t b = 0; b < n; b++) {
            unprot_err += err_b[b] > 0 ? err_b[b] : 0;
            unprot_sens += sens[b];
        }
        memset(hit, 0, (size_t)ar->n_words);
        int64_t area = n;
        for (int64_t k = 0; k <= n; k++) {
            if (k % step == 0 || k == n || k == budget)
                fprintf(f, "%s,%lld,%lld,%.10g,%.10g\n", orders[o].name, (long long)k,
                        (long long)area, k == n || unprot_err < 0 ? 0.0 : u * unprot_err,
                        -expm1((double)unprot_sens * log1p(-u)));
            if (k == n)
                break;
            const int64_t b = orders[o].order[k];
            unprot_err -= err_b[b] > 0 ? err_b[b] : 0;
            unprot_sens -= sens[b];
            if (!ar->ecc) {
                area += 2; /* two more copies */
            } else if (!hit[ar->word_of[b]]) {
                hit[ar->word_of[b]] = 1;
                area += ecc_bits(ar->word_bits[ar->word_of[b]]);
            }
        }
    }
    fclose(f);
    if (commit(dir, "curve.csv", buf, len, err)) {
        free(hit);
        return -1;
    }

    /* the plan: the oracle order's first `budget` bits, as a protect_list and per weight */
    const int64_t *plan = orders[0].order;
    f = open_memstream(&buf, &len);
    if (!f) {
        free(hit);
        return upset_fail(err, "out of memory");
    }
    fprintf(f, "# upset protect: %lld bits of %s to harden (oracle order, largest error "
               "first); a multibit protect_list\n",
            (long long)budget, m->name);
    for (int64_t k = 0; k < budget; k++)
        fprintf(f, "%lld\n", (long long)plan[k]);
    fclose(f);
    if (commit(dir, "plan.txt", buf, len, err)) {
        free(hit);
        return -1;
    }
    memset(hit, 0, (size_t)n);
    for (int64_t k = 0; k < budget; k++)
        hit[plan[k]] = 1;
    f = open_memstream(&buf, &len);
    if (!f) {
        free(hit);
        return upset_fail(err, "out of memory");
    }
    fprintf(f, "layer,weight,bit_positions\n"); /* positions: 0 = MSB, space-separated */
    for (int64_t b = 0; b < n;) {
        bitaddr_t a;
        bitspace_locate(m, b, &a);
        const int w = m->layers[a.layer].kq.bits;
        int first = 1;
        for (int j = 0; j < w; j++) {
            if (!hit[b + j])
                continue;
            if (first)
                fprintf(f, "%s,%lld,%d", m->layers[a.layer].name, (long long)a.weight, j);
            else
                fprintf(f, " %d", j);
            first = 0;
        }
        if (!first)
            fprintf(f, "\n");
        b += w;
    }
    fclose(f);
    if (commit(dir, "plan.csv", buf, len, err)) {
        free(hit);
        return -1;
    }
    /* per faultable layer: how much of it the plan hardens */
    f = open_memstream(&buf, &len);
    if (!f) {
        free(hit);
        return upset_fail(err, "out of memory");
    }
    fprintf(f, "layer,bits,protected,share\n");
    for (int l = 0; l < m->n_layers; l++) {
        const layer_t *L = &m->layers[l];
        if (!L->faultable)
            continue;
        int64_t p = 0;
        for (int64_t b = L->bit_first; b < L->bit_first + L->n_bits; b++)
            p += hit[b];
        fprintf(f, "%s,%lld,%lld,%.6f\n", L->name, (long long)L->n_bits, (long long)p,
                L->n_bits ? (double)p / (double)L->n_bits : 0.0);
    }
    fclose(f);
    free(hit);
    return commit(dir, "plan_layers.csv", buf, len, err);
}

int cmd_protect(int argc, char **argv)
{
    const char *oracle = NULL, *out = NULL, *cost = "tmr";
    const char *rank_arg[MAX_ORDERS];
    int n_rank = 0;
    double u = -1;
    long long budget = -1;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return protect_usage();
        char *end;
        if (!strcmp(a, "--oracle"))
            oracle = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--cost"))
            cost = v;
        else if (!strcmp(a, "--ranking") && n_rank < MAX_ORDERS - 1)
            rank_arg[n_rank++] = v;
        else if (!strcmp(a, "--rate")) {
            u = strtod(v, &end);
            if (end == v || *end || !(u > 0 && u < 1)) {
                fprintf(stderr, "upset protect: --rate '%s': expected a number in (0, 1)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--budget")) {
            budget = strtoll(v, &end, 10);
            if (end == v || *end || budget < 0) {
                fprintf(stderr, "upset protect: --budget '%s': expected a bit count >= 0\n", v);
                return 2;
            }
        } else
            return protect_usage();
    }
    if (!oracle || !out || u < 0 || (strcmp(cost, "tmr") && strcmp(cost, "ecc")))
        return protect_usage();

    upset_err_t err = {{0}};
    char *model_path = NULL, *stored = NULL;
    model_t m;
    memset(&m, 0, sizeof m);
    double *err_b = NULL;
    unsigned char *sens = NULL;
    order_t orders[MAX_ORDERS];
    int n_orders = 0;
    area_t ar = {&m, !strcmp(cost, "ecc"), NULL, NULL, 0};
    int rc = results_read_attr_string(oracle, "model", &model_path, &err) ||
             results_read_attr_string(oracle, "model_checksum_fnv1a64", &stored, &err) ||
             model_load(model_path, &m, &err);
    if (!rc) {
        char now[32];
        snprintf(now, sizeof now, "%016llx", (unsigned long long)m.checksum);
        if (strcmp(now, stored))
            rc = upset_fail(&err, "%s: the model %s changed since this oracle was run", oracle,
                            model_path);
    }
    const int64_t n = rc ? 0 : m.n_fault_bits;
    if (!rc) {
        err_b = calloc((size_t)n, sizeof *err_b);
        sens = calloc((size_t)n, 1);
        orders[0].name = "oracle";
        orders[0].order = calloc((size_t)n, sizeof *orders[0].order);
        ar.word_of = calloc((size_t)n, sizeof *ar.word_of);
        ar.word_bits = calloc((size_t)n, sizeof *ar.word_bits);
        rc = err_b && sens && orders[0].order && ar.word_of && ar.word_bits
                 ? read_oracle(oracle, &m, err_b, sens, &err)
                 : upset_fail(&err, "out of memory");
        n_orders = 1;
    }
    if (!rc) {
        for (int64_t b = 0; b < n; b++)
            orders[0].order[b] = b;
        sort_err = err_b;
        qsort(orders[0].order, (size_t)n, sizeof *orders[0].order, by_err);
        for (int64_t b = 0; b < n;) { /* weights: consecutive runs of their bits */
            bitaddr_t a;
            bitspace_locate(&m, b, &a);
            const int w = m.layers[a.layer].kq.bits;
            for (int j = 0; j < w; j++)
                ar.word_of[b + j] = ar.n_words;
            ar.word_bits[ar.n_words++] = w;
            b += w;
        }
    }
    for (int i = 0; !rc && i < n_rank; i++) {
        const char *eq = strchr(rank_arg[i], '=');
        if (!eq || eq == rank_arg[i]) {
            rc = upset_fail(&err, "--ranking '%s': expected NAME=FILE", rank_arg[i]);
            break;
        }
        order_t *o = &orders[n_orders];
        int64_t len = 0;
        if (bit_ranking_read(eq + 1, n, &o->order, &len, &err)) {
            rc = -1;
            break;
        }
        n_orders++;
        unsigned char *seen = calloc((size_t)n, 1);
        for (int64_t k = 0; seen && k < len; k++)
            seen[o->order[k]] ^= 1;
        int64_t once = 0;
        for (int64_t b = 0; seen && b < n; b++)
            once += seen[b];
        free(seen);
        if (len != n || once != n)
            rc = upset_fail(&err, "%s: a ranking must list every one of the %lld bits once",
                            eq + 1, (long long)n);
        static char names[MAX_ORDERS][64];
        snprintf(names[i], sizeof names[i], "%.*s", (int)(eq - rank_arg[i]), rank_arg[i]);
        o->name = names[i];
    }
    if (!rc && budget < 0) { /* where the oracle order reaches 1% of the unprotected failure */
        int64_t s = 0;
        for (int64_t b = 0; b < n; b++)
            s += sens[b];
        const double full = -expm1((double)s * log1p(-u));
        budget = n;
        for (int64_t k = 0; k <= n; k++) {
            if (-expm1((double)s * log1p(-u)) <= 0.01 * full) {
                budget = k;
                break;
            }
            if (k < n)
                s -= sens[orders[0].order[k]];
        }
    }
    if (!rc && budget > n)
        rc = upset_fail(&err, "--budget %lld exceeds the model's %lld bits", budget,
                        (long long)n);
    if (!rc)
        rc = file_mkdirs(out, &err);
    if (!rc)
        rc = write_outputs(out, &m, &ar, orders, n_orders, err_b, sens, u, budget, &err);
    if (!rc)
        printf("%s: %lld of %lld bits in the plan (%s area); curve in %s/curve.csv, plan in "
               "%s/plan.txt and %s/plan.csv\n",
               m.name, budget, (long long)n, cost, out, out, out);
    else
        fprintf(stderr, "upset protect: %s\n", err.msg);
    for (int o = 0; o < n_orders; o++)
        free(orders[o].order);
    free(err_b);
    free(sens);
    free(ar.word_of);
    free(ar.word_bits);
    free(model_path);
    free(stored);
    model_free(&m);
    return rc ? 1 : 0;
}
