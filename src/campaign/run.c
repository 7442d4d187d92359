/* A campaign run (the `upset run` command is cli_run.c): rank 0 parses and validates the
 * campaign and broadcasts it; every rank loads the model and data and runs the fault-free
 * baseline; the scheduler hands out items (bits, trials, weights) in chunks;
 * rank 0 checkpoints and writes the results file. Rank 0 holds a lock on the
 * output for the whole run, so two runs never write one output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "upset/bitspace.h"
#include "upset/campaign_data.h"
#include "upset/checkpoint.h"
#include "upset/collective.h"
#include "upset/fileutil.h"
#include "upset/results.h"
#include "upset/econt.h"
#include "upset/sched.h"
#include "upset/fnv.h"

#ifndef UPSET_VERSION
#define UPSET_VERSION "0.1.0"
#endif

static const campaign_kind_ops_t *const KINDS[] = {
    &KIND_ORACLE, &KIND_GUIDED, &KIND_MULTIBIT, &KIND_BINFI, &KIND_STATFI, &KIND_ACTIVATION};

/* The fault-free result the task metric compares with. */
static fault_result_t clean_result(const run_ctx_t *r)
{
    fault_result_t f = {r->inj.base_mean_emd, 0, r->inj.base_mispredicts, 0};
    return f;
}

double run_error(const run_ctx_t *r, const fault_result_t *f)
{
    const fault_result_t clean = clean_result(r);
    return task_ops(r->model.task)->error(f, &clean);
}

int run_sensitive(const run_ctx_t *r, const fault_result_t *f)
{
    const fault_result_t clean = clean_result(r);
    return task_ops(r->model.task)->sensitive(f, &clean);
}

fault_result_t *run_eval_bits(run_ctx_t *r, int64_t first, int64_t count, upset_err_t *err)
{
    fault_result_t *res = upset_calloc((size_t)count, sizeof *res, err);
    if (res && injector_eval_singles(&r->inj, r->items + first, count, res, err)) {
        free(res);
        return NULL;
    }
    return res;
}

/* ---- setup ---- */

/* Rank 0: load, override, validate. */
static int load_campaign(const run_args_t *a, campaign_t *c, upset_err_t *err)
{
    campaign_defaults(c);
    if (campaign_load_yaml(c, a->yaml, err))
        return -1;
    campaign_overrides_t ov = {a->output, a->quiet, a->n_set ? a->set : NULL};
    if (campaign_apply_overrides(c, &ov, err) || campaign_validate(c, err))
        return -1;
    return 0;
}

int run_setup(run_ctx_t *r, upset_err_t *err)
{
    /* include_bias with a kernel-only kind: refused by campaign_validate */
    if (model_load(r->c.model, &r->model, err))
        return -1;
    bitspace_include_bias(&r->model, r->c.include_bias);
    if (r->model.n_fault_bits == 0)
        return upset_fail(err, "%s: the model has no faultable bits", r->c.model);
    return campaign_load_dataset(&r->c, &r->model, &r->data, err);
}

/* The fault-free baseline and caches (after the plan, so a bad plan fails fast). */
static int start_injector(run_ctx_t *r, int full, upset_err_t *err)
{
    int zero = r->c.emd_zero_sum == CAMPAIGN_EMD_ZERO_REFERENCE ? ECONT_ZERO_REFERENCE
                                                                : ECONT_ZERO_UNIFORM;
    return injector_create(&r->inj, &r->model, &r->data, zero, full, err);
}

void run_free(run_ctx_t *r)
{
    injector_free(&r->inj);
    dataset_free(&r->data);
    model_free(&r->model);
    free(r->items);
    free(r->records);
    free(r->done);
    if (r->out_records != r->records)
        free(r->out_records);
    free(r->scratch_bits);
    free(r->scratch_mark);
    if (r->kind && r->kind->release)
        r->kind->release(r);
    free(r->kind_state);
    campaign_free(&r->c);
}

/* How the delta path fared per faultable layer, summed over the ranks (collective), on
 * stdout unless quiet: the pruning rate (samples a flip provably leaves unchanged). */
static void report_delta(run_ctx_t *r)
{
    const delta_t *d = &r->inj.delta;
    const int n = r->model.n_layers;
    if (r->inj.full || !d->n_evals)
        return;
    int64_t *sum = calloc((size_t)n * 3, sizeof *sum), hits = 0, reached = 0;
    if (!sum) /* every rank takes part or none: a collective cannot be skipped by one */
        MPI_Abort(r->comm, 1);
    MPI_Reduce(d->n_evals, sum, n * 3, MPI_INT64_T, MPI_SUM, 0, r->comm);
    MPI_Reduce(&r->inj.memo_hits, &hits, 1, MPI_INT64_T, MPI_SUM, 0, r->comm);
    for (int l = 0; r->rank == 0 && !r->c.quiet && l < n; l++) {
        const int64_t ev = sum[l], un = sum[n + l], wide = sum[2 * n + l];
        reached += ev - un;
        if (ev)
            printf("delta %-22s %12lld flip-samples: %5.1f%% proved unchanged, %5.1f%% run whole "
                   "from a later layer\n",
                   r->model.layers[l].name, (long long)ev, 100.0 * un / ev, 100.0 * wide / ev);
    }
    if (r->rank == 0 && !r->c.quiet && hits)
        printf("memo: %lld of the %lld flip-samples not proved unchanged (%.1f%%) took the "
               "result of an earlier flip that left the same single value\n",
               (long long)hits, (long long)reached, 100.0 * hits / reached);
    free(sum);
    if (r->rank == 0 && !r->c.quiet && r->inj.n_copies)
        printf("copies: %lld of %lld samples repeat an earlier one byte for byte and take "
               "its results\n",
               (long long)r->inj.n_copies, (long long)r->data.n);
}

/* Rank 0: the checksums of the files the campaign reads besides model and data (their
 * paths are in the YAML, their contents are not). */
static int input_checksums(run_ctx_t *r, upset_err_t *err)
{
    r->n_inputs = campaign_inputs(&r->c, r->inputs);
    for (int i = 0; i < r->n_inputs; i++)
        if (campaign_input_checksum(&r->inputs[i], r->input_ck[i], err))
            return -1;
    return 0;
}

/* The checkpoint fingerprint: what must match for a resume to be valid (rank 0). */
static char *fingerprint(const run_ctx_t *r, const char *yaml)
{
    size_t len = strlen(yaml) + 256 + (size_t)r->n_inputs * 64, at;
    char *s = malloc(len);
    if (!s)
        return NULL;
    at = (size_t)snprintf(s, len, "%smodel_checksum: %s\ndata_checksum: %s\n", yaml,
                          fnv_hex(r->model.checksum).s, fnv_hex(r->data.checksum).s);
    /* a changed ranking, protect list or oracle is another campaign under the same YAML */
    for (int i = 0; i < r->n_inputs; i++)
        at += (size_t)snprintf(s + at, len - at, "%s checksum: %s\n", r->inputs[i].key,
                               r->input_ck[i]);
    snprintf(s + at, len - at, "items: %lld\n%s", (long long)r->n_items,
             /* the oracle's items are no longer in bit order: an older checkpoint's
              * records would land on the wrong bits */
             r->c.kind == CAMPAIGN_ORACLE ? "item_order: by output\n" : "");
    return s;
}

static int write_results(run_ctx_t *r, const char *yaml, const sched_job_t *job,
                         upset_err_t *err)
{
    const fnv_hex_t model_ck = fnv_hex(r->model.checksum), data_ck = fnv_hex(r->data.checksum);
    results_attr_t attrs[17 + CAMPAIGN_MAX_INPUTS + RUN_MAX_EXTRA_ATTRS];
    int n = 0;
    attrs[n++] = RESULTS_ATTR_STR("campaign_yaml", yaml);
    attrs[n++] = RESULTS_ATTR_STR("kind", campaign_kind_name(r->c.kind));
    attrs[n++] = RESULTS_ATTR_STR("model", r->c.model);
    attrs[n++] = RESULTS_ATTR_STR("model_name", r->model.name);
    attrs[n++] = RESULTS_ATTR_STR("task", task_name(r->model.task));
    attrs[n++] = RESULTS_ATTR_STR("model_checksum_fnv1a64", model_ck.s);
    attrs[n++] = RESULTS_ATTR_STR("data_checksum_fnv1a64", data_ck.s);
    for (int i = 0; i < r->n_inputs; i++)
        attrs[n++] = RESULTS_ATTR_STR(r->inputs[i].attr, r->input_ck[i]);
    attrs[n++] = RESULTS_ATTR_STR("upset_version", UPSET_VERSION);
    attrs[n++] = RESULTS_ATTR_I64("seed", (int64_t)r->c.seed);
    attrs[n++] = RESULTS_ATTR_I64("n_samples", r->data.n);
    attrs[n++] = RESULTS_ATTR_I64("n_fault_bits", r->model.n_fault_bits);
    attrs[n++] = RESULTS_ATTR_F64("baseline_mean_emd", r->inj.base_mean_emd);
    attrs[n++] = RESULTS_ATTR_I64("baseline_mispredicts", r->inj.base_mispredicts);
    attrs[n++] = RESULTS_ATTR_I64V("sample_index", r->data.index, r->data.n);
    attrs[n++] = RESULTS_ATTR_I64("ranks", r->size);
    attrs[n++] = RESULTS_ATTR_F64("elapsed_s", job->elapsed_s);
    for (int i = 0; i < r->n_extra; i++)
        attrs[n++] = r->extra[i];
    const results_table_t *t = r->out_table ? r->out_table : r->table;
    const void *rec = r->out_records ? r->out_records : r->records;
    int64_t nrec = r->out_table ? r->out_n : r->n_items;
    /* rank 0 alone writes the file (docs/results-format.md); every rank learns the outcome */
    int rc = r->rank == 0 ? results_write(r->c.output, t, rec, nrec, attrs, n, err) : 0;
    return mpi_agree(r->comm, rc, err);
}

/* The campaign's YAML with the keys that cannot change a result (how often rank 0
 * checkpoints, how many items one hand-out holds) at their defaults: what a checkpoint and a
 * finished file are matched on, so a resubmitted job may retune them. Checkpoints and files
 * written with the defaults (or before this) still match. */
static int match_yaml(campaign_t *c, char **out, upset_err_t *err)
{
    campaign_t d;
    campaign_defaults(&d);
    const double interval = c->checkpoint_interval;
    const int64_t chunk = c->chunk_size;
    c->checkpoint_interval = d.checkpoint_interval;
    c->chunk_size = d.chunk_size;
    const int rc = campaign_dump(c, out, err);
    c->checkpoint_interval = interval;
    c->chunk_size = chunk;
    return rc;
}

/* A finished file's campaign_yaml as match_yaml gives it (as stored where it does not
 * load: then only the same text matches). */
static char *stored_match_yaml(const char *stored)
{
    campaign_t s;
    upset_err_t ignored = {""};
    char *out = NULL;
    campaign_defaults(&s);
    if (campaign_load_yaml_string(&s, stored, strlen(stored), "stored", &ignored) ||
        match_yaml(&s, &out, &ignored))
        out = strdup(stored);
    campaign_free(&s);
    return out;
}

/* Rank 0, --resume over an existing results file (a resubmitted or chained job):
 * the same campaign, model and data -> *finished = 1; anything else is refused. */
static int previous_results(const run_ctx_t *r, const char *yaml, int *finished,
                            upset_err_t *err)
{
    const char *out = r->c.output;
    char *stored = NULL, *mck = NULL, *dck = NULL;
    upset_err_t rerr = {""};
    int rc = results_read_attr_string(out, "campaign_yaml", &stored, &rerr) ||
             results_read_attr_string(out, "model_checksum_fnv1a64", &mck, &rerr) ||
             results_read_attr_string(out, "data_checksum_fnv1a64", &dck, &rerr);
    if (rc) {
        rc = upset_fail(err, "%s exists but is not a finished campaign's results (%s); use "
                             "--force to overwrite it",
                        out, rerr.msg);
    } else {
        const fnv_hex_t m = fnv_hex(r->model.checksum), d = fnv_hex(r->data.checksum);
        char *then = stored_match_yaml(stored);
        const char *what = !then || strcmp(then, yaml) ? "campaign"
                           : strcmp(mck, m.s)   ? "model file"
                           : strcmp(dck, d.s)   ? "data"
                                                : NULL;
        free(then);
        if (what)
            rc = upset_fail(err,
                            "%s holds a finished campaign whose %s differs from this one; use "
                            "--force to overwrite it or choose another output",
                            out, what);
        /* the same YAML names the same ranking, protect list or oracle file: its bytes
         * must be the same too */
        for (int i = 0; !rc && i < r->n_inputs; i++) {
            const campaign_input_t *in = &r->inputs[i];
            char *ck = NULL;
            if (results_read_attr_string(out, in->attr, &ck, &rerr))
                /* written before upset stored these checksums: taken as before, unchecked
                 * (as columns without a stored checksum are read) */
                fprintf(stderr,
                        "note: %s records no checksum of its %s (written before upset stored "
                        "one): %s is not compared with what the campaign read\n",
                        out, in->key, in->path);
            else if (strcmp(ck, r->input_ck[i]))
                rc = upset_fail(err,
                                "%s holds a finished campaign whose %s differs from this one "
                                "(%s has changed since: checksum %s then, %s now); use --force "
                                "to overwrite it or choose another output",
                                out, in->key, in->path, ck, r->input_ck[i]);
            free(ck);
        }
        if (!rc)
            *finished = 1;
    }
    free(stored);
    free(mck);
    free(dck);
    return rc ? -1 : 0;
}

static const campaign_kind_ops_t *run_kind(campaign_kind_id_t id)
{
    for (size_t k = 0; k < sizeof KINDS / sizeof *KINDS; k++)
        if (KINDS[k]->id == id)
            return KINDS[k];
    return NULL;
}

int run_items_fit(const run_ctx_t *r, const char *key, int64_t n_items, size_t record_size,
                  upset_err_t *err)
{
    const double need = (double)n_items * (double)(record_size + sizeof *r->items + 1);
    const double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && need > have)
        return upset_fail(err, "%s: %s = %lld needs %.1f GiB of records on rank 0, more than "
                               "this machine's %.1f GiB of memory",
                          r->c.source ? r->c.source : "campaign", key, (long long)n_items,
                          need / 1073741824.0, have / 1073741824.0);
    return 0;
}

int run_campaign(run_ctx_t *r, const run_args_t *a, file_lock_t *lock, upset_err_t *err)
{
    int rc = 0;
    char *yaml = NULL, *match = NULL; /* the YAML as stored, and as matched */
    if (r->rank == 0) {
        rc = load_campaign(a, &r->c, err);
        /* before the output is looked at: a rank campaign is not this command's at all */
        if (!rc && !run_kind(r->c.kind))
            rc = upset_fail(err, "%s: kind '%s' is not run by `upset run` (see `upset rank`)",
                            r->c.source ? r->c.source : a->yaml, campaign_kind_name(r->c.kind));
        if (!rc)
            rc = results_check_writable(r->c.output, err);
        /* held until the results are renamed into place: a second run is refused */
        if (!rc)
            rc = file_lock_output(r->c.output, lock, err);
        if (!rc && file_exists(r->c.output) && !a->force && !a->resume)
            rc = upset_fail(err, "%s: results file exists; use --force to overwrite it, or "
                                 "--resume to confirm it is complete",
                            r->c.output);
        /* a run without --resume overwrites the checkpoint at its first save: the work of
         * an interrupted run would be thrown away unasked */
        char ck[1200];
        if (!rc && !a->force && !a->resume &&
            !checkpoint_path(r->c.output, ck, sizeof ck, NULL) && checkpoint_exists(ck))
            rc = upset_fail(err, "%s: an interrupted run's checkpoint exists; use --resume to "
                                 "continue it, or --force to start over (discarding it)",
                            ck);
    }
    if (campaign_bcast(r->comm, &r->c, rc, err))
        return -1;

    r->kind = run_kind(r->c.kind); /* rank 0 refused the kinds without one */

    if (campaign_dump(&r->c, &yaml, err) || match_yaml(&r->c, &match, err)) {
        free(yaml);
        return -1;
    }
    int finished = 0;
    rc = run_setup(r, err);
    if (!rc && r->rank == 0)
        rc = input_checksums(r, err);
    if (!rc && r->rank == 0 && a->resume && !a->force && file_exists(r->c.output))
        rc = previous_results(r, match, &finished, err);
    if (mpi_agree(r->comm, rc, err) || MPI_Bcast(&finished, 1, MPI_INT, 0, r->comm)) {
        free(yaml);
        free(match);
        return -1;
    }
    if (finished) {
        char ckpt[1200];
        if (r->rank == 0 && !checkpoint_path(r->c.output, ckpt, sizeof ckpt, NULL))
            checkpoint_remove(ckpt, NULL); /* a leftover of a run killed after its rename */
        if (r->rank == 0)
            printf("%s: already complete (same campaign, model and data); nothing to do\n",
                   r->c.output);
        free(yaml);
        free(match);
        return 0;
    }
    rc = r->kind->plan(r, err);
    if (!rc)
        rc = start_injector(r, a->full, err);
    if (mpi_agree(r->comm, rc, err)) {
        free(yaml);
        free(match);
        return -1;
    }

    char ckpt[1200];
    char *fp = fingerprint(r, match);
    rc = fp ? checkpoint_path(r->c.output, ckpt, sizeof ckpt, err) : upset_fail(err, "oom");
    if (!rc && r->rank == 0) {
        r->records = calloc((size_t)r->n_items, r->table->record_size);
        r->done = calloc((size_t)r->n_items, 1);
        rc = r->records && r->done
                 ? 0
                 : upset_fail(err, "%s: %lld %s items need %.1f GiB of records on rank 0: out of "
                                   "memory",
                              r->c.source ? r->c.source : a->yaml, (long long)r->n_items,
                              campaign_kind_name(r->c.kind),
                              (double)r->n_items * (double)(r->table->record_size + 1) /
                                  1073741824.0);
        if (!rc && a->resume && checkpoint_exists(ckpt)) {
            int64_t n_done = 0;
            rc = checkpoint_load(ckpt, fp, r->n_items, r->table->record_size, r->done,
                                 r->records, &n_done, err);
            if (!rc && !r->c.quiet)
                fprintf(stderr, "resuming %s: %lld of %lld items already done\n", ckpt,
                        (long long)n_done, (long long)r->n_items);
        } else if (!rc && a->resume && !r->c.quiet) {
            fprintf(stderr, "no checkpoint %s; starting from the beginning\n", ckpt);
        }
    }
    if (mpi_agree(r->comm, rc, err)) {
        free(fp);
        free(yaml);
        free(match);
        return -1;
    }
    if (r->rank == 0 && !r->c.quiet)
        fprintf(stderr, "%s: %s on %s, %lld samples, %lld items, %d rank%s\n", r->c.name,
                campaign_kind_name(r->c.kind), r->model.name, (long long)r->data.n,
                (long long)r->n_items, r->size, r->size > 1 ? "s" : "");

    checkpoint_hook_t hook = {ckpt, fp, 0};
    sched_job_t job = {0};
    job.label = campaign_kind_name(r->c.kind);
    job.n_items = r->n_items;
    job.record_size = r->table->record_size;
    job.work = r->kind->work;
    job.ctx = r;
    job.chunk = r->c.chunk_size;
    job.batch = r->kind->batch;
    if (job.batch > 1)
        r->inj.poll = sched_poll;
    job.records = r->records;
    job.done = r->done;
    job.quiet = r->c.quiet;
    job.checkpoint = checkpoint_sched_hook;
    job.checkpoint_ctx = &hook;
    job.checkpoint_interval = r->c.checkpoint_interval;
    rc = sched_run(r->comm, &job, err);
    r->stop_saved = job.stop_saved;
    if (!rc && r->rank == 0)
        rc = r->kind->finish(r, err);
    double write_s = 0;
    if (!mpi_agree(r->comm, rc, err)) {
        report_delta(r);
        const double t0 = MPI_Wtime();
        rc = write_results(r, yaml, &job, err);
        write_s = MPI_Wtime() - t0;
    }
    else
        rc = -1;
    if (!rc && r->rank == 0) {
        checkpoint_remove(ckpt, NULL);
        if (!r->c.quiet)
            printf("results: %s (%lld records, %.1f s; file written in %.3f s)\n", r->c.output,
                   (long long)(r->out_table ? r->out_n : r->n_items), job.elapsed_s, write_s);
    }
    free(fp);
    free(yaml);
    free(match);
    return rc;
}
