/* analyze_run: reads the oracle and every method's file, scores each method
 * with the pure functions of rankcorr.c / curves.c and fills the output tables
 * (docs/analysis.md). Everything is indexed by the oracle's records ("rows");
 * bits the oracle did not flip take no part in any comparison. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze_int.h"
#include "upset/results.h"

typedef struct {
    an_file_t file;
    an_bits_t bits;
    int64_t *row; /* (n_fault_bits) bit -> record, -1: not flipped by the oracle */
    int32_t n_pos, n_layers;
    int64_t n_sensitive;
    double total_error;
} oracle_t;

typedef struct {
    const analyze_opts_t *o;
    oracle_t ref;
    an_output_t out;
    an_table_t *spearman, *curve_csv, *curves, *curve_values, *topk, *by_pos, *by_layer, *size,
        *multibit, *methods;
    analyze_summary_t *sum;
    int64_t *found; /* (ref rows) scratch: when the current method finds each row */
} ctx_t;

static void oracle_free(oracle_t *o)
{
    an_file_free(&o->file);
    an_bits_free(&o->bits);
    free(o->row);
    memset(o, 0, sizeof *o);
}

static int oracle_load(const char *path, oracle_t *o, upset_err_t *err)
{
    memset(o, 0, sizeof *o);
    if (an_file_open(path, "oracle", &o->file, err) || an_bits_read(&o->file, &o->bits, err))
        return -1;
    const an_bits_t *b = &o->bits;
    if (b->n == 0)
        return upset_fail(err, "%s: the oracle has no records", path);
    o->row = upset_calloc((size_t)o->file.n_fault_bits, sizeof *o->row, err);
    if (!o->row)
        return -1;
    for (int64_t k = 0; k < o->file.n_fault_bits; k++)
        o->row[k] = -1;
    for (int64_t i = 0; i < b->n; i++) {
        if (o->row[b->bit[i]] >= 0)
            return upset_fail(err, "%s: bit %lld appears twice", path, (long long)b->bit[i]);
        o->row[b->bit[i]] = i;
        o->n_pos = b->bit_pos[i] + 1 > o->n_pos ? b->bit_pos[i] + 1 : o->n_pos;
        o->n_layers = b->layer[i] + 1 > o->n_layers ? b->layer[i] + 1 : o->n_layers;
        o->n_sensitive += b->sensitive[i] != 0;
        o->total_error += b->error[i];
    }
    return 0;
}

/* A method's file must be about the reference model; other data only warns. */
static int check_same_model(ctx_t *c, const an_file_t *f, upset_err_t *err)
{
    const an_file_t *r = &c->ref.file;
    if (strcmp(f->model_checksum, r->model_checksum) || f->n_fault_bits != r->n_fault_bits)
        return upset_fail(err, "%s: computed on another model (%s, checksum %s, %lld bits) than "
                               "the oracle %s (%s, checksum %s, %lld bits)",
                          f->path, f->model_name, f->model_checksum, (long long)f->n_fault_bits,
                          r->path, r->model_name, r->model_checksum, (long long)r->n_fault_bits);
    if (strcmp(f->data_checksum, r->data_checksum) && c->sum)
        upset_err_append(&c->sum->warnings,
                         "%s: evaluated on other samples than the oracle (data checksum %s vs "
                         "%s); its measured errors are not on the oracle's scale",
                         f->path, f->data_checksum, r->data_checksum);
    return 0;
}

static int label_taken(const ctx_t *c, const char *label)
{
    const an_table_t *t = c->methods;
    for (int64_t r = 0; r < t->nrows; r++)
        if (!strcmp(((char **)t->data[0])[r], label))
            return 1;
    return 0;
}

/* Scores one method: found[] (per reference row) for the top-k table and the
 * events (cost, err) for its cumulative curve of n_cost flips. */
static int add_method(ctx_t *c, const char *label, const char *source, const char *path,
                      const int64_t *cost, const double *ev_err, int64_t n_events,
                      int64_t n_cost, double rho, upset_err_t *err)
{
    if (label_taken(c, label))
        return upset_fail(err, "%s: method label '%s' is used twice; give NAME=FILE", path,
                          label);
    const an_bits_t *b = &c->ref.bits;
    double *curve = upset_calloc((size_t)n_cost, sizeof *curve, err);
    int64_t *needed = curve ? upset_calloc(ANALYZE_TOPK, sizeof *needed, err) : NULL;
    int64_t npts = analyze_curve_points(n_cost, NULL);
    int64_t *xs = needed ? upset_calloc((size_t)npts, sizeof *xs, err) : NULL;
    int rc = xs ? 0 : -1;
    rc = rc || analyze_cumulative(cost, ev_err, n_events, n_cost, curve, err) ||
         analyze_topk(b->error, b->sensitive, c->found, b->n, needed, err);
    if (!rc) {
        analyze_curve_points(n_cost, xs);
        for (int64_t j = 0; j < npts && !rc; j++)
            rc = an_row(c->curve_csv, err, label, xs[j], curve[xs[j] - 1]);
        rc = rc || an_row(c->curves, err, label, source, c->curve_values->nrows, n_cost);
        for (int64_t j = 0; j < n_cost && !rc; j++)
            rc = an_row(c->curve_values, err, curve[j]);
        for (int k = 1; k <= ANALYZE_TOPK && !rc; k++)
            rc = an_row(c->topk, err, label, (int64_t)k,
                        analyze_topk_target(c->ref.n_sensitive, k), needed[k - 1]);
    }
    int64_t found_sens = 0;
    for (int64_t i = 0; i < b->n; i++)
        found_sens += b->sensitive[i] && c->found[i] > 0;
    double final = !rc && n_cost ? curve[n_cost - 1] : 0;
    if (!rc)
        rc = an_row(c->methods, err, label, source, path, n_cost, found_sens, final, rho,
                    needed[49], needed[99]);
    if (!rc && c->sum) {
        analyze_summary_t *s = c->sum;
        analyze_method_summary_t *m = realloc(s->methods, (size_t)(s->n_methods + 1) * sizeof *m);
        if (!m) {
            rc = upset_fail(err, "out of memory");
        } else {
            s->methods = m;
            m += s->n_methods++;
            snprintf(m->label, sizeof m->label, "%s", label);
            snprintf(m->source, sizeof m->source, "%s", source);
            m->bits_flipped = n_cost;
            m->sensitive_found = found_sens;
            m->final_error = final;
            m->spearman = rho;
            m->needed_top50 = needed[49];
            m->needed_top100 = needed[99];
        }
    }
    free(curve);
    free(needed);
    free(xs);
    return rc ? -1 : 0;
}

static void reset_found(ctx_t *c)
{
    for (int64_t i = 0; i < c->ref.bits.n; i++)
        c->found[i] = -1;
}

/* The oracle's own order: the best any method can do. */
static int add_oracle_optimal(ctx_t *c, upset_err_t *err)
{
    const an_bits_t *b = &c->ref.bits;
    int64_t *order = upset_calloc((size_t)b->n, sizeof *order, err);
    int rc = order ? analyze_order_by_error(b->error, b->n, order, err) : -1;
    for (int64_t j = 0; !rc && j < b->n; j++)
        c->found[order[j]] = j + 1;
    rc = rc || add_method(c, "oracle_optimal", "oracle", c->ref.file.path, c->found, b->error,
                          b->n, b->n, NAN, err);
    free(order);
    return rc;
}

static const char *base_name(const char *path, char *buf, size_t len)
{
    const char *s = strrchr(path, '/');
    snprintf(buf, len, "%s", s ? s + 1 : path);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
    return buf;
}

static int add_ranking(ctx_t *c, const analyze_input_t *in, upset_err_t *err)
{
    const oracle_t *o = &c->ref;
    const an_bits_t *b = &o->bits;
    char name[128];
    const char *label = in->label ? in->label : base_name(in->path, name, sizeof name);
    int64_t *rank = NULL;
    if (an_ranking_read(in->path, o->file.n_fault_bits, o->file.model_checksum, &rank, err))
        return -1;
    /* the ranking's order restricted to the bits the oracle flipped */
    int64_t pos = 0;
    for (int64_t j = 0; j < o->file.n_fault_bits; j++)
        if (o->row[rank[j]] >= 0)
            c->found[o->row[rank[j]]] = ++pos;
    free(rank);
    double *x = upset_calloc((size_t)b->n, sizeof *x, err);
    double *rho_pos = x ? upset_calloc((size_t)o->n_pos, sizeof *rho_pos, err) : NULL;
    int64_t *cnt = rho_pos ? upset_calloc((size_t)o->n_pos, sizeof *cnt, err) : NULL;
    int rc = cnt ? 0 : -1;
    double rho = NAN;
    for (int64_t i = 0; !rc && i < b->n; i++)
        x[i] = -(double)c->found[i]; /* earlier in the ranking = predicted more sensitive */
    rc = rc || analyze_spearman(x, b->error, b->n, &rho, err) ||
         analyze_spearman_groups(x, b->error, b->bit_pos, b->n, o->n_pos, rho_pos, cnt, err) ||
         an_row(c->spearman, err, label, (int64_t)-1, b->n, rho);
    for (int32_t p = 0; !rc && p < o->n_pos; p++)
        if (cnt[p])
            rc = an_row(c->spearman, err, label, (int64_t)p, cnt[p], rho_pos[p]);
    rc = rc || add_method(c, label, "ranking", in->path, c->found, b->error, b->n, b->n, rho, err);
    free(x);
    free(rho_pos);
    free(cnt);
    return rc ? -1 : 0;
}

/* Guided and StatFI runs: bits flipped one after another in record order, each
 * with its own measured error. Only the bits the oracle covers count (a partial oracle
 * restricts every method, as it does a ranking): a flip outside them is neither a step of
 * the curve nor part of its error. */
static int add_sequential(ctx_t *c, const analyze_input_t *in, const char *kind,
                          upset_err_t *err)
{
    an_file_t f;
    an_bits_t b = {0};
    if (an_file_open(in->path, kind, &f, err))
        return -1;
    char label[160];
    char *mode = NULL;
    int rc = check_same_model(c, &f, err) || an_bits_read(&f, &b, err);
    if (!rc && in->label)
        snprintf(label, sizeof label, "%s", in->label);
    else if (!rc && !strcmp(kind, "statfi")) {
        rc = results_read_attr_string(in->path, "statfi_mode", &mode, err);
        if (!rc)
            snprintf(label, sizeof label, "statfi_%s", mode);
    } else if (!rc)
        snprintf(label, sizeof label, "%s", f.name);
    int64_t *cost = rc ? NULL : upset_calloc((size_t)b.n + 1, sizeof *cost, err);
    double *ev = cost ? upset_calloc((size_t)b.n + 1, sizeof *ev, err) : NULL;
    if (!rc && !ev)
        rc = -1;
    int64_t m = 0;
    for (int64_t i = 0; !rc && i < b.n; i++) {
        int64_t r = c->ref.row[b.bit[i]];
        if (r < 0)
            continue;
        ev[m] = b.error[i];
        cost[m] = m + 1;
        if (c->found[r] < 0)
            c->found[r] = m + 1;
        m++;
    }
    rc = rc || add_method(c, label, kind, in->path, cost, ev, m, m, NAN, err);
    free(cost);
    free(ev);
    free(mode);
    an_bits_free(&b);
    an_file_free(&f);
    return rc ? -1 : 0;
}

typedef struct {
    int64_t n, *bit, *flip_order, *weight_key, *found;
    int32_t *bit_pos;
    int8_t *flipped, *sensitive;
    double *error;
} binfi_t;

static void binfi_free(binfi_t *b)
{
    free(b->bit);
    free(b->flip_order);
    free(b->weight_key);
    free(b->found);
    free(b->bit_pos);
    free(b->flipped);
    free(b->sensitive);
    free(b->error);
}

static int binfi_col(const char *path, const char *name, results_type_t t, void **out, int64_t n,
                     upset_err_t *err)
{
    int64_t m = 0;
    if (results_read_column(path, "bits", name, t, out, &m, err))
        return -1;
    return m == n ? 0
                  : upset_fail(err, "%s: column bits/%s has %lld rows, expected %lld", path, name,
                               (long long)m, (long long)n);
}

static int binfi_read(const an_file_t *f, binfi_t *b, upset_err_t *err)
{
    void *p = NULL;
    if (results_read_column(f->path, "bits", "bit", RESULTS_INT64, &p, &b->n, err))
        return -1;
    b->bit = p;
    int rc = binfi_col(f->path, "bit_pos", RESULTS_INT32, (void **)&b->bit_pos, b->n, err) ||
             binfi_col(f->path, "flip_order", RESULTS_INT64, (void **)&b->flip_order, b->n, err) ||
             binfi_col(f->path, "flipped", RESULTS_INT8, (void **)&b->flipped, b->n, err) ||
             binfi_col(f->path, "sensitive", RESULTS_INT8, (void **)&b->sensitive, b->n, err) ||
             binfi_col(f->path, "error", RESULTS_FLOAT64, (void **)&b->error, b->n, err);
    if (!rc) {
        b->weight_key = upset_calloc((size_t)b->n, sizeof *b->weight_key, err);
        b->found = upset_calloc((size_t)b->n, sizeof *b->found, err);
        rc = !b->weight_key || !b->found;
    }
    for (int64_t i = 0; !rc && i < b->n; i++) {
        if (b->bit[i] < 0 || b->bit[i] >= f->n_fault_bits || b->bit_pos[i] < 0 ||
            b->bit_pos[i] > b->bit[i])
            rc = upset_fail(err, "%s: record %lld: bit %lld / position %d out of range", f->path,
                            (long long)i, (long long)b->bit[i], b->bit_pos[i]);
        else if (b->flipped[i] && !isfinite(b->error[i]))
            rc = upset_fail(err, "%s: record %lld: flipped but its error is not finite", f->path,
                            (long long)i);
        else
            b->weight_key[i] = b->bit[i] - b->bit_pos[i];
    }
    return rc ? -1 : 0;
}

/* BinFI twice: the bits it flipped ("actual") and those plus the bits it
 * implies sensitive ("actual+implied", credited with the oracle's error, the
 * only measurement of a bit BinFI never flips). As for guided runs, only the oracle's
 * bits count: flips are numbered among the covered ones, and a bit implied by a flip
 * outside them is found with the covered flips made by then (at least the first). */
static int add_binfi(ctx_t *c, const analyze_input_t *in, upset_err_t *err)
{
    an_file_t f;
    binfi_t b = {0};
    if (an_file_open(in->path, "binfi", &f, err))
        return -1;
    int rc = check_same_model(c, &f, err) || binfi_read(&f, &b, err);
    int64_t *cost = rc ? NULL : upset_calloc((size_t)b.n + 1, sizeof *cost, err);
    double *ev = cost ? upset_calloc((size_t)b.n + 1, sizeof *ev, err) : NULL;
    /* covered[f]: covered bits among BinFI's first f flips (flip_order + 1 <= f) */
    int64_t *covered = ev ? upset_calloc((size_t)b.n + 2, sizeof *covered, err) : NULL;
    if (!rc && !covered)
        rc = -1;
    for (int64_t i = 0; !rc && i < b.n; i++)
        if (b.flipped[i] && (b.flip_order[i] < 0 || b.flip_order[i] >= b.n))
            rc = upset_fail(err, "%s: record %lld is flipped but has flip_order %lld, outside "
                                 "[0, %lld)",
                            in->path, (long long)i, (long long)b.flip_order[i], (long long)b.n);
        else if (b.flipped[i] && c->ref.row[b.bit[i]] >= 0)
            covered[b.flip_order[i] + 1]++;
    for (int64_t f = 1; !rc && f <= b.n; f++)
        covered[f] += covered[f - 1];
    for (int implied = 0; implied <= 1 && !rc; implied++) {
        rc = analyze_binfi_found(b.weight_key, b.bit_pos, b.flipped, b.flip_order, b.sensitive,
                                 b.n, !implied, b.found, err);
        reset_found(c);
        int64_t m = 0, n_cost = 0;
        for (int64_t i = 0; !rc && i < b.n; i++) {
            int64_t r = c->ref.row[b.bit[i]];
            if (b.found[i] < 1 || r < 0)
                continue;
            const int64_t at = covered[b.found[i]] > 1 ? covered[b.found[i]] : 1;
            c->found[r] = at;
            n_cost = at > n_cost ? at : n_cost;
            ev[m] = b.flipped[i] ? b.error[i] : c->ref.bits.error[r];
            cost[m++] = at;
        }
        char label[160];
        if (in->label)
            snprintf(label, sizeof label, "%s%s", in->label, implied ? "_implied" : "");
        else
            snprintf(label, sizeof label, "binfi_%s", implied ? "actual_implied" : "actual");
        rc = rc || add_method(c, label, "binfi", in->path, cost, ev, m, n_cost, NAN, err);
    }
    free(cost);
    free(ev);
    free(covered);
    binfi_free(&b);
    an_file_free(&f);
    return rc ? -1 : 0;
}

static int add_multibit(ctx_t *c, const analyze_input_t *in, upset_err_t *err)
{
    an_file_t f;
    if (an_file_open(in->path, "multibit", &f, err))
        return -1;
    int64_t n_prot = 0, n_exc = 0, trials = 0, nd = 0;
    double rate = 0, lo = 0, hi = 0, mean = 0;
    void *trial = NULL, *drawn = NULL;
    int rc = check_same_model(c, &f, err) ||
             results_read_attr_int64(in->path, "n_protected", &n_prot, err) ||
             results_read_attr_int64(in->path, "n_exceeding", &n_exc, err) ||
             results_read_attr_float64(in->path, "error_rate", &rate, err) ||
             results_read_attr_float64(in->path, "error_rate_wilson95_lo", &lo, err) ||
             results_read_attr_float64(in->path, "error_rate_wilson95_hi", &hi, err) ||
             results_read_attr_float64(in->path, "mean_error", &mean, err) ||
             results_read_column(in->path, "trials", "trial", RESULTS_INT64, &trial, &trials,
                                 err) ||
             results_read_column(in->path, "trials", "n_drawn", RESULTS_INT64, &drawn, &nd, err);
    if (!rc) {
        const char *label = in->label ? in->label : f.name;
        double share = c->ref.n_sensitive ? (double)n_prot / (double)c->ref.n_sensitive : NAN;
        /* the paper's protection level: a share of all faultable bits */
        double share_all = f.n_fault_bits ? (double)n_prot / (double)f.n_fault_bits : NAN;
        double pct = strncmp(f.protection, "top_percent", 11) ? NAN : f.protect_percent;
        /* cells drawn per trial: the campaign's `flips`; -1 when the trials drew different
         * counts (a radiation environment draws a Poisson count per trial) */
        int64_t flips = nd ? ((int64_t *)drawn)[0] : 0;
        for (int64_t t = 1; t < nd && flips >= 0; t++)
            if (((int64_t *)drawn)[t] != flips)
                flips = -1;
        for (int64_t r = 0; r < c->multibit->nrows && !rc; r++)
            if (!strcmp(((char **)c->multibit->data[0])[r], label))
                rc = upset_fail(err, "%s: multibit label '%s' is used twice; give NAME=FILE",
                                in->path, label);
        rc = rc || an_row(c->multibit, err, label, f.protection, pct, n_prot, share_all,
                          share, flips, trials, n_exc, rate, lo, hi, mean);
    }
    free(trial);
    free(drawn);
    an_file_free(&f);
    return rc ? -1 : 0;
}

/* Per-position, per-layer and whole-model tallies of one oracle. */
static int add_model_tables(ctx_t *c, const oracle_t *o, const char *model, upset_err_t *err)
{
    const an_bits_t *b = &o->bits;
    int32_t np = o->n_pos, nl = o->n_layers;
    int64_t *nb = upset_calloc((size_t)(np > nl ? np : nl), sizeof *nb, err);
    int64_t *ns = nb ? upset_calloc((size_t)(np > nl ? np : nl), sizeof *ns, err) : NULL;
    double *es = ns ? upset_calloc((size_t)(np > nl ? np : nl), sizeof *es, err) : NULL;
    int64_t *nw = es ? upset_calloc((size_t)nl, sizeof *nw, err) : NULL;
    unsigned char *seen = nw ? upset_calloc((size_t)o->file.n_fault_bits, 1, err) : NULL;
    int rc = seen ? 0 : -1;
    double S = (double)o->n_sensitive;
    int64_t n_weights = 0;
    for (int64_t i = 0; !rc && i < b->n; i++) /* distinct weights: keyed by their MSB's index */
        if (!seen[b->bit[i] - b->bit_pos[i]]++) {
            nw[b->layer[i]]++;
            n_weights++;
        }
    rc = rc || analyze_group_counts(b->bit_pos, b->sensitive, b->error, b->n, np, nb, ns, es, err);
    for (int32_t p = 0; !rc && p < np; p++)
        if (nb[p])
            rc = an_row(c->by_pos, err, model, (int64_t)p, nb[p], ns[p],
                        (double)ns[p] / (double)nb[p], S > 0 ? ns[p] / S : NAN, es[p]);
    rc = rc || analyze_group_counts(b->layer, b->sensitive, b->error, b->n, nl, nb, ns, es, err);
    char **names = NULL;
    int n_names = 0;
    if (!rc)
        an_layer_names(&o->file, &names, &n_names);
    for (int32_t l = 0; !rc && l < nl; l++) {
        char fallback[24];
        snprintf(fallback, sizeof fallback, "L%d", (int)l);
        if (nb[l])
            rc = an_row(c->by_layer, err, model, (int64_t)l,
                        l < n_names && names[l] ? names[l] : fallback,
                        nw[l], nb[l], ns[l], (double)ns[l] / (double)nb[l],
                        S > 0 ? ns[l] / S : NAN, es[l]);
    }
    an_layer_names_free(names, n_names);
    rc = rc || an_row(c->size, err, model, o->file.path, n_weights, o->file.n_fault_bits, b->n,
                      o->n_sensitive, S / (double)b->n, o->total_error);
    free(nb);
    free(ns);
    free(es);
    free(nw);
    free(seen);
    return rc ? -1 : 0;
}

/* Fig. 4: one row per weight of the reference oracle, one column per bit
 * position (NaN where the oracle did not flip that bit). */
static int add_heatmap(ctx_t *c, upset_err_t *err)
{
    const oracle_t *o = &c->ref;
    const an_bits_t *b = &o->bits;
    int64_t nf = o->file.n_fault_bits;
    size_t len = 32 + (size_t)o->n_pos * 24;
    char *spec = malloc(len);
    int64_t *wrow = upset_calloc((size_t)nf, sizeof *wrow, err); /* weight key -> table row */
    if (!spec || !wrow) {
        free(spec);
        free(wrow);
        return upset_fail(err, "out of memory");
    }
    size_t at = (size_t)snprintf(spec, len, "layer:i weight:i");
    for (int32_t p = 0; p < o->n_pos; p++)
        at += (size_t)snprintf(spec + at, len - at, " bit_%d:f", p);
    an_table_t *t = an_table_new("heatmap", spec, 1, 1, err);
    free(spec);
    int rc = an_output_add(&c->out, t, err);
    for (int64_t k = 0; k < nf; k++)
        wrow[k] = -1;
    for (int64_t i = 0; !rc && i < b->n; i++) /* rows in weight order */
        wrow[b->bit[i] - b->bit_pos[i]] = 0;
    for (int64_t k = 0; !rc && k < nf; k++)
        if (wrow[k] == 0) {
            wrow[k] = t->nrows;
            rc = an_row_blank(t, err);
        }
    for (int64_t i = 0; !rc && i < b->n; i++) {
        int64_t r = wrow[b->bit[i] - b->bit_pos[i]];
        AN_I64(t, 0)[r] = b->layer[i];
        AN_I64(t, 1)[r] = b->weight[i];
        AN_F64(t, 2 + b->bit_pos[i])[r] = b->error[i];
    }
    free(wrow);
    return rc;
}

static int make_tables(ctx_t *c, upset_err_t *err)
{
    an_output_t *o = &c->out;
    return an_output_add(o, c->methods = an_table_new("methods",
                                                      "method:s source:s file:s bits_flipped:i "
                                                      "sensitive_found:i final_error:f spearman:f "
                                                      "needed_top50:i needed_top100:i",
                                                      1, 1, err),
                         err) ||
           an_output_add(o, c->spearman = an_table_new("spearman",
                                                       "method:s bit_pos:i n_bits:i rho:f", 1, 1,
                                                       err),
                         err) ||
           an_output_add(o, c->curve_csv = an_table_new("cumulative_error",
                                                        "method:s bits_flipped:i "
                                                        "cumulative_error:f",
                                                        1, 0, err),
                         err) ||
           an_output_add(o, c->curves = an_table_new("curves",
                                                     "method:s source:s offset:i length:i", 0, 1,
                                                     err),
                         err) ||
           an_output_add(o, c->curve_values = an_table_new("curve_values", "cumulative_error:f",
                                                           0, 1, err),
                         err) ||
           an_output_add(o, c->topk = an_table_new("topk",
                                                   "method:s k:i target_bits:i bits_flipped:i", 1,
                                                   1, err),
                         err) ||
           an_output_add(o, c->by_pos = an_table_new("sensitive_by_position",
                                                     "model:s bit_pos:i n_bits:i n_sensitive:i "
                                                     "sensitive_share:f share_of_sensitive:f "
                                                     "error_sum:f",
                                                     1, 1, err),
                         err) ||
           an_output_add(o, c->by_layer = an_table_new("sensitive_by_layer",
                                                       "model:s layer:i layer_name:s "
                                                       "n_weights:i n_bits:i "
                                                       "n_sensitive:i sensitive_share:f "
                                                       "share_of_sensitive:f error_sum:f",
                                                       1, 1, err),
                         err) ||
           an_output_add(o, c->size = an_table_new("sensitive_vs_size",
                                                   "model:s oracle:s n_weights:i n_fault_bits:i "
                                                   "n_bits:i n_sensitive:i sensitive_share:f "
                                                   "error_sum:f",
                                                   1, 1, err),
                         err) ||
           an_output_add(o, c->multibit = an_table_new("multibit",
                                                       "method:s protection:s protect_percent:f "
                                                       "n_protected:i protected_share_of_all:f "
                                                       "protected_share_of_sensitive:f flips:i "
                                                       "trials:i n_exceeding:i error_rate:f "
                                                       "wilson95_lo:f wilson95_hi:f mean_error:f",
                                                       1, 1, err),
                         err);
}

/* The reference's identity: root attributes of analysis.h5 and info.csv. */
static int root_attrs(ctx_t *c, upset_err_t *err)
{
    const oracle_t *o = &c->ref;
    an_output_t *out = &c->out;
    an_table_t *t = an_table_new("info", "key:s value:s", 1, 0, err);
    if (an_output_add(out, t, err))
        return -1;
    const char *keys[] = {"oracle", "model_name", "model_checksum_fnv1a64", "task", "error_unit"};
    const char *vals[] = {o->file.path, o->file.model_name, o->file.model_checksum,
                          o->file.classifier ? "classifier" : "autoencoder",
                          o->file.classifier ? "extra mispredicts" : "delta EMD"};
    int rc = 0;
    for (int i = 0; i < 5 && !rc; i++)
        rc = an_attr_str(out, keys[i], vals[i], err) || an_row(t, err, keys[i], vals[i]);
    const char *nkeys[] = {"n_fault_bits", "n_bits", "n_sensitive"};
    int64_t nvals[] = {o->file.n_fault_bits, o->bits.n, o->n_sensitive};
    char buf[64];
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(buf, sizeof buf, "%lld", (long long)nvals[i]);
        rc = an_attr_i64(out, nkeys[i], nvals[i], err) || an_row(t, err, nkeys[i], buf);
    }
    snprintf(buf, sizeof buf, "%.17g", o->total_error);
    return rc || an_attr_f64(out, "total_error", o->total_error, err) ||
           an_row(t, err, "total_error", buf);
}

/* Every extra oracle under its model name (made unique with #2, #3 ...). */
static int add_models(ctx_t *c, upset_err_t *err)
{
    int rc = add_model_tables(c, &c->ref, c->ref.file.model_name, err);
    for (int i = 1; i < c->o->n_oracles && !rc; i++) {
        oracle_t x;
        rc = oracle_load(c->o->oracles[i], &x, err);
        char model[160];
        snprintf(model, sizeof model, "%s", rc ? "" : x.file.model_name);
        for (int dup = 2; !rc; dup++) {
            int taken = 0;
            for (int64_t r = 0; r < c->size->nrows; r++)
                taken |= !strcmp(((char **)c->size->data[0])[r], model);
            if (!taken)
                break;
            snprintf(model, sizeof model, "%s#%d", x.file.model_name, dup);
        }
        rc = rc || add_model_tables(c, &x, model, err);
        oracle_free(&x);
    }
    return rc;
}

int analyze_run(const analyze_opts_t *o, analyze_summary_t *sum, upset_err_t *err)
{
    if (sum)
        memset(sum, 0, sizeof *sum);
    if (o->n_oracles < 1)
        return upset_fail(err, "analyze: an oracle results file is required");
    ctx_t c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.sum = sum;
    int rc = oracle_load(o->oracles[0], &c.ref, err);
    if (rc)
        upset_err_append(err, "(reading the oracle)");
    c.found = rc ? NULL : upset_calloc((size_t)c.ref.bits.n, sizeof *c.found, err);
    rc = rc || !c.found || make_tables(&c, err) || root_attrs(&c, err);
    if (!rc)
        reset_found(&c);
    rc = rc || add_oracle_optimal(&c, err);
    for (int i = 0; i < o->n_rankings && !rc; i++) {
        reset_found(&c);
        rc = add_ranking(&c, &o->rankings[i], err);
    }
    for (int i = 0; i < o->n_guided && !rc; i++) {
        reset_found(&c);
        rc = add_sequential(&c, &o->guided[i], "guided", err);
    }
    for (int i = 0; i < o->n_binfi && !rc; i++)
        rc = add_binfi(&c, &o->binfi[i], err);
    for (int i = 0; i < o->n_statfi && !rc; i++) {
        reset_found(&c);
        rc = add_sequential(&c, &o->statfi[i], "statfi", err);
    }
    for (int i = 0; i < o->n_multibit && !rc; i++)
        rc = add_multibit(&c, &o->multibit[i], err);
    rc = rc || add_models(&c, err) || add_heatmap(&c, err) ||
         an_output_commit(&c.out, o->out_dir, err);
    if (!rc && sum) {
        snprintf(sum->model_name, sizeof sum->model_name, "%s", c.ref.file.model_name);
        sum->classifier = c.ref.file.classifier;
        sum->n_fault_bits = c.ref.file.n_fault_bits;
        sum->n_bits = c.ref.bits.n;
        sum->n_sensitive = c.ref.n_sensitive;
    }
    free(c.found);
    an_output_free(&c.out);
    oracle_free(&c.ref);
    if (rc && sum)
        analyze_summary_free(sum);
    return rc ? -1 : 0;
}

void analyze_summary_free(analyze_summary_t *sum)
{
    free(sum->methods);
    sum->methods = NULL;
    sum->n_methods = 0;
}
