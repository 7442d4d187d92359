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
 * r + 1 check bits (the least r with 2^r >= w + r + 1, then parity: 5 for w = 6) to every
 * w-bit weight with any protected bit (protect_ecc_bits).
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
#include "upset/oracle.h"
#include "upset/order.h"
#include "upset/results.h"
#include "upset/task.h"
#include "upset/fnv.h"

#define MAX_ORDERS 16 /* the oracle's order and up to 15 rankings */
#define MAX_CHECKS 64

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
            "  error and failure probability), DIR/flat.csv (per order, where its curve\n"
            "  flattens), and for --budget (default: where the oracle\n"
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

/* ---------------------------------------------------------------- the oracle -- */

/* Per-bit error (task's unit, relative to fault-free) and sensitivity from the oracle,
 * whose model must not have changed since it ran. */
static int oracle_load(const char *path, protect_oracle_t *o, upset_err_t *err)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    char *model_path = NULL, *stored = NULL;
    int rc = results_read_attr_string(path, "model", &model_path, err) ||
             results_read_attr_string(path, "model_checksum_fnv1a64", &stored, err) ||
             results_read_attr_string(path, "data_checksum_fnv1a64", &o->data_checksum, err) ||
             results_read_attr_string(path, "campaign_yaml", &o->campaign_yaml, err) ||
             model_load(model_path, &o->m, err);
    if (!rc && strcmp(fnv_hex(o->m.checksum).s, stored))
        rc = upset_fail(err, "%s: the model %s changed since this oracle was run", path,
                        model_path);
    if (!rc) { /* the fault space the oracle used: with or without bias bits */
        campaign_t c;
        campaign_defaults(&c);
        rc = campaign_load_yaml_string(&c, o->campaign_yaml, strlen(o->campaign_yaml), path, err);
        if (!rc)
            bitspace_include_bias(&o->m, c.include_bias);
        campaign_free(&c);
    }
    if (!rc) {
        o->n = o->m.n_fault_bits;
        o->err_b = upset_calloc((size_t)o->n, sizeof *o->err_b, err);
        o->sens = upset_calloc((size_t)o->n, 1, err);
        rc = !o->err_b || !o->sens ||
             oracle_read_bits(path, o->n, task_ops(o->m.task)->error_column,
                              task_ops(o->m.task)->baseline_attr, o->err_b, o->sens, err);
    }
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
        /* `layer,cost` or the like: a first line whose cost is not a number and which
         * names no layer (a layer's bad cost is refused below, not skipped as a header) */
        int header = first && comma && end == comma + 1;
        first = 0;
        if (header) {
            *comma = 0;
            header = strcmp(p, "*") != 0;
            for (int l = 0; header && l < m->n_layers; l++)
                header = !m->layers[l].faultable || strcmp(m->layers[l].name, p);
            *comma = ',';
        }
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
    for (int64_t b = 0; b < n;) { /* weights and biases: consecutive runs of their bits */
        bitaddr_t a;
        bitspace_locate(m, b, &a);
        const int w = bitspace_width(m, a);
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

/* ------------------------------------------------------------------ command -- */

typedef struct {
    const char *oracle, *out, *cost;
    const char *ranking[MAX_ORDERS];
    int n_ranking;
    const char *check[MAX_CHECKS];
    int n_check;
    double u;
    long long budget, holdout, trials;
    int holdout_given;
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
    const char *planning = NULL; /* the first option that only a plan uses */
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return protect_usage();
        if (!planning && (!strcmp(o, "--ranking") || !strcmp(o, "--rate") ||
                          !strcmp(o, "--budget") || !strcmp(o, "--holdout") ||
                          !strcmp(o, "--trials")))
            planning = o;
        char *end;
        if (!strcmp(o, "--oracle"))
            a->oracle = v;
        else if (!strcmp(o, "--out"))
            a->out = v;
        else if (!strcmp(o, "--cost"))
            a->cost = v;
        else if (!strcmp(o, "--ranking") || !strcmp(o, "--check")) {
            const int rank = o[2] == 'r', most = rank ? MAX_ORDERS - 1 : MAX_CHECKS;
            int *n = rank ? &a->n_ranking : &a->n_check;
            if (*n == most) {
                fprintf(stderr, "upset protect: more than %d %s options\n", most, o);
                return 2;
            }
            (rank ? a->ranking : a->check)[(*n)++] = v;
        } else if (!strcmp(o, "--rate")) {
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
            a->holdout_given = 1;
        } else if (!strcmp(o, "--trials")) {
            if (parse_count(o, v, 1, &a->trials))
                return 2;
        } else
            return protect_usage();
    }
    if (!a->oracle || !a->cost[0])
        return protect_usage();
    if (a->n_check && planning) { /* --check reads what the campaigns ran, and plans nothing */
        fprintf(stderr, "upset protect: %s plans, and --check makes no plan: give it to the "
                        "planning command (docs/protection.md)\n",
                planning);
        return 2;
    }
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
    if (len != n) /* each listed once (bit_ranking_read), so every one iff n of them */
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
    int rc = orders[0].order ? order_all_by_key_desc(o->err_b, n, orders[0].order, err)
                             : upset_fail(err, "out of memory");
    for (int i = 0; !rc && i < a->n_ranking; i++) {
        rc = read_order(a->ranking[i], n, &orders[n_orders], names[n_orders],
                        sizeof names[n_orders], err);
        n_orders++;
        if (!rc && !strcmp(orders[n_orders - 1].name, "unprotected")) /* its validate_*.yaml */
            rc = upset_fail(err, "--ranking: the name 'unprotected' is taken by the campaign "
                                 "with nothing protected (validate_unprotected.yaml)");
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
        const double full = protect_failure(s, a->u);
        budget = n;
        for (int64_t k = 0; k <= n; k++) {
            if (protect_failure(s, a->u) <= 0.01 * full) {
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
    /* the held-out inputs that exist, before any file is written */
    int64_t holdout = 0;
    rc = rc || protect_holdout(o, a->holdout, a->holdout_given, &holdout, err);
    unsigned char *hit = rc ? NULL : calloc((size_t)n, 1);
    if (!rc && !hit)
        rc = upset_fail(err, "out of memory");
    for (int64_t k = 0; !rc && k < budget; k++)
        hit[orders[0].order[k]] = 1;
    const double area = rc ? 0 : protect_area(ar, n, hit);
    rc = rc || file_mkdirs(a->out, err) ||
         protect_write_curve(a->out, o, ar, orders, n_orders, a->u, budget, err) ||
         protect_write_lists(a->out, o, orders, n_orders, budget, err) ||
         protect_write_tables(a->out, &o->m, hit, err) ||
         protect_write_mask(a->out, o, hit, a->u, a->cost, budget, area, err) ||
         protect_write_validation(a->out, o, orders, n_orders, a->u, holdout, a->trials, err);
    if (!rc) {
        printf("%s: %lld of %lld bits in the plan (%s area %.10g bit cells); curve in "
               "%s/curve.csv, plan in %s/plan.txt, plan.csv and plan.h5",
               o->m.name, (long long)budget, (long long)n, a->cost, area, a->out, a->out);
        if (holdout)
            printf("; held-out checks in %s/validate_*.yaml", a->out);
        printf("\n");
    }
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
