/* `upset rank CAMPAIGN.yaml`: sensitivity metrics and the bit ranking they give
 * (docs/sensitivity.md). Rank 0 parses and validates the campaign and broadcasts
 * it; every rank loads the model and data; the samples are cut into chunks that
 * do not depend on the number of ranks, each rank sums its own chunks, and rank 0
 * adds the chunk sums in chunk order and broadcasts the total, so every figure is
 * bit-identical for any number of ranks. Rank 0 writes the ranking file (HDF5)
 * and the plain-text bit ranking that `guided` campaigns read. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upset/bitspace.h"
#include "upset/campaign.h"
#include "upset/cli_commands.h"
#include "upset/dataset.h"
#include "upset/evaluate.h"
#include "upset/campaign_data.h"
#include "upset/collective.h"
#include "upset/fileutil.h"
#include "upset/mpicheck.h"
#include "upset/results.h"
#include "upset/sensitivity.h"

static int rank_usage(void)
{
    fprintf(stderr,
            "usage: [mpirun -np N] upset rank CAMPAIGN.yaml [--force] [--quiet] [--output PATH]\n"
            "                          [--set KEY=VALUE]... [--eigen-tol X] [--eigen-max-iter N]\n"
            "                          [--mode quantized|float-codes|float-shadow]\n"
            "  CAMPAIGN.yaml has kind: rank; writes OUTPUT (HDF5) and OUTPUT minus .h5 plus .txt\n"
            "  --force           overwrite existing output files\n"
            "  --eigen-tol       stop a pair when ||Hv - lv|| <= X |l| (default 1e-3)\n"
            "  --eigen-max-iter  Hessian-vector products per eigenpair at most (default 500)\n"
            "  --mode            network the derivatives are taken of (default quantized:\n"
            "                    QKeras forward, straight-through backward)\n");
    return 2;
}

typedef struct {
    const char *yaml, *output;
    const char *set[CAMPAIGN_MAX_SETS + 1];
    int n_set, quiet, force;
    double eigen_tol;
    long long eigen_max_iter;
    sens_mode_t mode;
} rank_args_t;

static const char *const MODE_NAMES[] = {"quantized", "float-codes", "float-shadow"};

/* A value the option cannot take: say which and why (the bare usage named neither). */
static int bad_value(const char *opt, const char *v, const char *want)
{
    fprintf(stderr, "upset rank: %s '%s': expected %s\n", opt, v, want);
    return 2;
}

/* 0, -1 for the usage, or 2 once a message has been printed. */
static int parse_args(int argc, char **argv, rank_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->quiet = -1;
    a->eigen_tol = 1e-3;
    a->eigen_max_iter = 500;
    a->mode = SENS_QUANTIZED;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--force")) {
            a->force = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            a->quiet = 1;
        } else if (!strcmp(argv[i], "--output") && i + 1 < argc) {
            a->output = argv[++i];
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            if (a->n_set == CAMPAIGN_MAX_SETS) {
                fprintf(stderr, "upset rank: more than %d --set options\n", CAMPAIGN_MAX_SETS);
                return -1;
            }
            a->set[a->n_set++] = argv[++i];
        } else if (!strcmp(argv[i], "--eigen-tol") && i + 1 < argc) {
            const char *v = argv[++i];
            a->eigen_tol = strtod(v, &end);
            if (end == v || *end || !(a->eigen_tol > 0 && a->eigen_tol < 1))
                return bad_value("--eigen-tol", v, "a number in (0, 1)");
        } else if (!strcmp(argv[i], "--eigen-max-iter") && i + 1 < argc) {
            const char *v = argv[++i];
            a->eigen_max_iter = strtoll(v, &end, 10);
            if (end == v || *end || a->eigen_max_iter < 1)
                return bad_value("--eigen-max-iter", v, "a whole number >= 1");
        } else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            int k = 0;
            while (k < 3 && strcmp(m, MODE_NAMES[k]))
                k++;
            if (k == 3)
                return bad_value("--mode", m, "quantized, float-codes or float-shadow");
            a->mode = (sens_mode_t)k;
        } else if (argv[i][0] != '-' && !a->yaml) {
            a->yaml = argv[i];
        } else {
            return -1;
        }
    }
    return a->yaml ? 0 : -1;
}

typedef struct {
    MPI_Comm comm;
    int rank, size;
    campaign_t c;
    model_t model;
    dataset_t data;
    sens_net_t net;
    int have_net;
    int64_t n;      /* samples used */
    int64_t c0, c1; /* this rank's chunks */
    double last_print;
} rank_ctx_t;

/* Rank 0 loads, overrides and validates; the other ranks receive the result. */
static int share_campaign(rank_ctx_t *r, const rank_args_t *a, upset_err_t *err)
{
    int rc = 0;
    if (r->rank == 0) {
        campaign_overrides_t ov = {a->output, a->quiet, a->n_set ? a->set : NULL};
        rc = campaign_load_yaml(&r->c, a->yaml, err) || campaign_apply_overrides(&r->c, &ov, err) ||
             campaign_validate(&r->c, err);
        if (!rc && r->c.kind != CAMPAIGN_RANK)
            rc = upset_fail(err, "%s: kind '%s' is run by `upset run`, not `upset rank`", a->yaml,
                            campaign_kind_name(r->c.kind));
    }
    return campaign_bcast(r->comm, &r->c, rc, err);
}

/* Rank 0, before any work: refuse to overwrite, and fail early on a bad path. */
static int check_outputs(const rank_ctx_t *r, const rank_args_t *a, char *txt, size_t len,
                         file_lock_t *lock, upset_err_t *err)
{
    if (sens_text_path(r->c.output, txt, len, err))
        return -1;
    /* held until both outputs are in place: a second ranking of one output is refused */
    if (results_check_writable(r->c.output, err) || file_lock_output(r->c.output, lock, err))
        return -1;
    const char *there = file_exists(r->c.output) ? r->c.output : file_exists(txt) ? txt : NULL;
    if (there && !a->force)
        return upset_fail(err, "%s: %s exists; use --force to overwrite it",
                          r->c.source ? r->c.source : a->yaml, there);
    return results_check_writable(r->c.output, err) || results_check_writable(txt, err);
}

static int needs_model_math(const campaign_t *c)
{
    return c->rank.metric == RANK_HESSIAN || c->rank.metric == RANK_GRADIENT;
}

static int setup(rank_ctx_t *r, sens_mode_t mode, upset_err_t *err)
{
    const campaign_t *c = &r->c;
    const char *src = c->source ? c->source : "campaign";
    if (model_load(c->model, &r->model, err))
        return -1;
    if (r->model.n_fault_bits == 0)
        return upset_fail(err, "%s: the model has no faultable bits", c->model);
    bitspace_include_bias(&r->model, c->include_bias); /* biases join theta too */
    if (!needs_model_math(c))
        return 0;
    if (campaign_load_dataset(c, &r->model, &r->data, err))
        return -1;
    if (r->data.n == 0)
        return upset_fail(err, "%s: no samples to take the metric on", src);
    r->n = c->rank.samples < r->data.n ? c->rank.samples : r->data.n;
    if (sens_net_create(&r->net, &r->model, r->data.input_frac, mode, err))
        return -1;
    r->have_net = 1;
    int64_t k = sens_chunk_count(r->n);
    r->c0 = k * r->rank / r->size;
    r->c1 = k * (r->rank + 1) / r->size;
    char where[1100];
    if (c->rank.metric == RANK_HESSIAN && c->rank.eigen_k > r->net.n_params)
        return upset_fail(err, "%s: rank.eigen_k = %lld exceeds the %lld parameters",
                          campaign_key_where(c, "rank.eigen_k", where, sizeof where),
                          (long long)c->rank.eigen_k, (long long)r->net.n_params);
    return 0;
}

/* The mean over the samples of what `want` asks for, identical on every rank:
 * chunk sums gathered on rank 0, added in chunk order, broadcast. */
static int mpi_eval(rank_ctx_t *r, unsigned want, const double *v, double *out,
                    upset_err_t *err)
{
    const int64_t len = sens_row_len(&r->net, want), k = sens_chunk_count(r->n);
    if (k * len > 2147483647LL)
        return upset_fail(err, "%lld x %lld values are too many for one gather", (long long)k,
                          (long long)len);
    double *rows = upset_calloc((size_t)((r->c1 - r->c0) * len) + 1, sizeof *rows, err);
    double *all = r->rank == 0 ? upset_calloc((size_t)(k * len), sizeof *all, err) : NULL;
    int *counts = upset_calloc((size_t)r->size, sizeof *counts, err);
    int *displs = upset_calloc((size_t)r->size, sizeof *displs, err);
    int rc = rows && counts && displs && (r->rank || all) ? 0 : -1;
    if (!rc)
        rc = sens_chunk_sums(&r->net, &r->data, r->n, r->c0, r->c1, want, v, rows, err);
    if (!mpi_agree(r->comm, rc, err)) {
        for (int p = 0; p < r->size; p++) {
            int64_t a = k * p / r->size, b = k * (p + 1) / r->size;
            counts[p] = (int)((b - a) * len);
            displs[p] = (int)(a * len);
        }
        rc = MPI_CHECK(MPI_Gatherv(rows, counts[r->rank], MPI_DOUBLE, all, counts, displs,
                                   MPI_DOUBLE, 0, r->comm),
                       err);
        if (!rc && r->rank == 0)
            sens_combine(all, k, len, r->n, out);
        if (!rc)
            rc = MPI_CHECK(MPI_Bcast(out, (int)len, MPI_DOUBLE, 0, r->comm), err);
    } else {
        rc = -1;
    }
    free(rows);
    free(all);
    free(counts);
    free(displs);
    return rc;
}

static int mpi_hvp(void *ctx, const double *v, double *hv, upset_err_t *err)
{
    return mpi_eval(ctx, SENS_WANT_HVP, v, hv, err);
}

/* Progress on rank 0: at most one line a second per phase, plus each phase's end. */
static void progress(void *ctx, const char *what, int index, int64_t iter, double value,
                     double change)
{
    rank_ctx_t *r = ctx;
    double now = MPI_Wtime();
    if (r->rank || r->c.quiet || now - r->last_print < 1.0)
        return;
    r->last_print = now;
    if (!strcmp(what, "eigen"))
        fprintf(stderr, "  eigenpair %d: %lld HVPs, lambda %.6g, residual %.2e\n", index + 1,
                (long long)iter, value, change);
    else
        fprintf(stderr, "  trace: %lld vectors, running mean %.6g, change %.2e\n",
                (long long)iter, value, change);
}

typedef struct {
    double loss;
    double *g, *theta, *score, *lambda, *resid, *vecs, *traces;
    int64_t *iters;
    double trace_total;
    int64_t trace_iters;
} metrics_t;

static void metrics_free(metrics_t *m)
{
    free(m->g);
    free(m->theta);
    free(m->score);
    free(m->lambda);
    free(m->resid);
    free(m->vecs);
    free(m->traces);
    free(m->iters);
    memset(m, 0, sizeof *m);
}

static int compute(rank_ctx_t *r, const rank_args_t *a, metrics_t *mt, upset_err_t *err)
{
    const campaign_t *c = &r->c;
    const int64_t np = r->net.n_params;
    const int k = c->rank.metric == RANK_HESSIAN ? (int)c->rank.eigen_k : 0;
    double *row = upset_calloc((size_t)np + 1, sizeof *row, err);
    mt->g = upset_calloc((size_t)np, sizeof *mt->g, err);
    mt->theta = upset_calloc((size_t)np, sizeof *mt->theta, err);
    mt->score = upset_calloc((size_t)np, sizeof *mt->score, err);
    if (!row || !mt->g || !mt->theta || !mt->score) {
        free(row);
        return -1;
    }
    sens_get_params(&r->net, mt->theta);
    int rc = mpi_eval(r, SENS_WANT_LOSS | SENS_WANT_GRAD, NULL, row, err);
    if (!rc) {
        mt->loss = row[0];
        memcpy(mt->g, row + 1, (size_t)np * sizeof *mt->g);
        double gmax = 0;
        for (int64_t i = 0; i < np; i++)
            gmax = fmax(gmax, fabs(mt->g[i]));
        if (r->rank == 0 && !c->quiet)
            fprintf(stderr, "  mean loss %.6g, max |gradient| %.3g\n", mt->loss, gmax);
    }
    free(row);
    if (!rc && c->rank.metric == RANK_GRADIENT)
        sens_score_gradient(mt->g, np, mt->score);
    if (!rc && k > 0) {
        mt->lambda = upset_calloc((size_t)k, sizeof *mt->lambda, err);
        mt->resid = upset_calloc((size_t)k, sizeof *mt->resid, err);
        mt->iters = upset_calloc((size_t)k, sizeof *mt->iters, err);
        mt->vecs = upset_calloc((size_t)k * (size_t)np, sizeof *mt->vecs, err);
        rc = mt->lambda && mt->resid && mt->iters && mt->vecs ? 0 : -1;
        sens_eigen_opts_t eo = {a->eigen_max_iter, a->eigen_tol, c->seed, progress, r};
        if (!rc)
            rc = sens_eigen(mpi_hvp, r, np, k, &eo, mt->lambda, mt->vecs, mt->resid, mt->iters,
                            err);
        for (int j = 0; !rc && j < k && r->rank == 0 && !c->quiet; j++)
            fprintf(stderr, "  eigenpair %d: lambda %.6g, ||Hv - lv|| / |l| = %.2e (%lld HVPs)\n",
                    j + 1, mt->lambda[j], mt->resid[j], (long long)mt->iters[j]);
        if (!rc)
            sens_score_hessian(c->rank.score, k, mt->lambda, mt->vecs, mt->theta, np, mt->score);
    }
    if (!rc && c->rank.trace) {
        const int nb = r->net.n_blocks;
        mt->traces = upset_calloc((size_t)nb, sizeof *mt->traces, err);
        sens_trace_opts_t to = {c->rank.trace_tol, c->rank.trace_max_iter, c->seed, progress, r};
        rc = mt->traces ? sens_hutchinson(mpi_hvp, r, np, nb, r->net.block_off, &to, mt->traces,
                                          &mt->trace_total, &mt->trace_iters, err)
                        : -1;
        if (!rc && r->rank == 0 && !c->quiet)
            fprintf(stderr, "  Hessian trace %.6g (%lld Rademacher vectors)\n", mt->trace_total,
                    (long long)mt->trace_iters);
    }
    return rc;
}

/* Rank 0: the parameter table, the bit ranking and both files. */
static int write_outputs(rank_ctx_t *r, const rank_args_t *a, const metrics_t *mt,
                         const char *txt, double elapsed, upset_err_t *err)
{
    const model_t *m = &r->model;
    const campaign_t *c = &r->c;
    int64_t np = 0;
    int nb = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].faultable) {
            np += m->layers[l].n_weights + bitspace_bias_codes(&m->layers[l]);
            nb++;
        }
    int32_t *layer = upset_calloc((size_t)np + 1, sizeof *layer, err);
    int64_t *weight = upset_calloc((size_t)np + 1, sizeof *weight, err);
    int64_t *bits = upset_calloc((size_t)m->n_fault_bits, sizeof *bits, err);
    double *zero = mt->score ? NULL : upset_calloc((size_t)np + 1, sizeof *zero, err);
    const char **names = upset_calloc((size_t)nb + 1, sizeof *names, err);
    char *yaml = NULL;
    int rc = layer && weight && bits && names && (mt->score || zero) ? 0 : -1;
    for (int l = 0, p = 0, b = 0; !rc && l < m->n_layers; l++)
        if (m->layers[l].faultable) {
            names[b++] = m->layers[l].name;
            /* a bias is numbered past the kernel, as in campaign results */
            const int64_t n_params = m->layers[l].n_weights + bitspace_bias_codes(&m->layers[l]);
            for (int64_t w = 0; w < n_params; w++, p++) {
                layer[p] = l;
                weight[p] = w;
            }
        }
    const double *score = mt->score ? mt->score : zero;
    if (!rc)
        rc = c->rank.metric == RANK_RANDOM ? sens_random_ranking(m, c->seed, bits, err)
                                           : sens_bit_ranking(m, score, np, bits, err);
    if (!rc)
        rc = campaign_dump(c, &yaml, err);
    if (!rc) {
        sens_report_t rep = {0};
        rep.metric = rank_metric_name(c->rank.metric);
        rep.score = c->rank.metric == RANK_HESSIAN ? rank_score_name(c->rank.score) : "none";
        rep.mode = needs_model_math(c) ? MODE_NAMES[a->mode] : "none";
        rep.model_path = c->model;
        rep.model_name = m->name;
        rep.model_checksum = m->checksum;
        rep.data_checksum = r->data.checksum;
        rep.campaign_yaml = yaml;
        rep.seed = c->seed;
        rep.n_samples = r->n;
        rep.ranks = r->size;
        rep.elapsed_s = elapsed;
        rep.loss = needs_model_math(c) ? mt->loss : NAN;
        rep.k = mt->lambda ? (int)c->rank.eigen_k : 0;
        rep.eigenvalues = mt->lambda;
        rep.eigen_residuals = mt->resid;
        rep.eigen_iterations = mt->iters;
        rep.eigenvectors = mt->vecs;
        rep.eigen_tol = a->eigen_tol;
        rep.eigen_max_iter = a->eigen_max_iter;
        rep.n_blocks = mt->traces ? nb : 0;
        rep.traces = mt->traces;
        rep.trace_layers = names;
        rep.trace_total = mt->traces ? mt->trace_total : NAN;
        rep.trace_iterations = mt->trace_iters;
        rep.n_params = np;
        rep.param_layer = layer;
        rep.param_weight = weight;
        rep.param_score = score;
        rep.param_value = mt->theta;
        rep.param_gradient = mt->g;
        rep.n_bits = m->n_fault_bits;
        rep.bits = bits;
        rc = sens_write_report(c->output, &rep, err);
    }
    if (!rc && sens_write_ranking_text(txt, bits, m->n_fault_bits, err)) {
        /* both files or neither: with --force the text file may still be the previous
         * run's, which a guided campaign would read as this ranking */
        remove(c->output);
        remove(txt);
        rc = -1;
    }
    if (!rc && !c->quiet)
        printf("ranking: %s and %s (%lld bits, %.1f s)\n", c->output, txt,
               (long long)m->n_fault_bits, elapsed);
    free(layer);
    free(weight);
    free(bits);
    free(zero);
    free(names);
    free(yaml);
    return rc;
}

static int run_rank(rank_ctx_t *r, const rank_args_t *a, file_lock_t *lock, upset_err_t *err)
{
    double t0 = MPI_Wtime();
    if (share_campaign(r, a, err))
        return -1;
    char txt[1200];
    int rc = r->rank == 0 ? check_outputs(r, a, txt, sizeof txt, lock, err) : 0;
    if (mpi_agree(r->comm, rc, err))
        return -1;
    if (mpi_agree(r->comm, setup(r, a->mode, err), err))
        return -1;
    const campaign_t *c = &r->c;
    if (r->rank == 0 && !c->quiet) {
        fprintf(stderr, "%s: %s ranking of %s, %lld bits", c->name,
                rank_metric_name(c->rank.metric), r->model.name,
                (long long)r->model.n_fault_bits);
        if (needs_model_math(c))
            fprintf(stderr, ", %lld parameters, %lld samples, %s, %d rank%s",
                    (long long)r->net.n_params, (long long)r->n, MODE_NAMES[a->mode], r->size,
                    r->size > 1 ? "s" : "");
        fprintf(stderr, "\n");
    }
    metrics_t mt = {0};
    rc = needs_model_math(c) ? compute(r, a, &mt, err) : 0;
    if (!mpi_agree(r->comm, rc, err)) {
        rc = r->rank == 0 ? write_outputs(r, a, &mt, txt, MPI_Wtime() - t0, err) : 0;
        rc = mpi_agree(r->comm, rc, err);
    } else {
        rc = -1;
    }
    metrics_free(&mt);
    return rc;
}

int cmd_rank(int argc, char **argv)
{
    rank_args_t a;
    const int bad = parse_args(argc, argv, &a);
    if (bad)
        return bad > 0 ? bad : rank_usage();
    MPI_Init(NULL, NULL);
    rank_ctx_t r;
    memset(&r, 0, sizeof r);
    r.comm = MPI_COMM_WORLD;
    MPI_Comm_rank(r.comm, &r.rank);
    MPI_Comm_size(r.comm, &r.size);
    campaign_defaults(&r.c);
    upset_err_t err = {{0}};
    file_lock_t lock = FILE_LOCK_INIT;
    int rc = run_rank(&r, &a, &lock, &err);
    if (rc && r.rank == 0)
        fprintf(stderr, "upset rank: %s\n", err.msg);
    file_unlock(&lock);
    if (r.have_net)
        sens_net_free(&r.net);
    dataset_free(&r.data);
    model_free(&r.model);
    campaign_free(&r.c);
    MPI_Finalize();
    return rc ? 1 : 0;
}
