/* Internal to the campaign runner: the state every rank shares during a run, and
 * the table of campaign kinds (one file each: kind_oracle.c, kind_multibit.c,
 * kind_binfi.c, kind_statfi.c, kind_activation.c). */
#ifndef UPSET_RUN_H
#define UPSET_RUN_H

#include <mpi.h>

#include "upset/campaign.h"
#include "upset/fileutil.h"
#include "upset/inject.h"
#include "upset/results.h"

/* A fault's task result (fault_result_t) as results columns, in the X(ctype, name, type,
 * unit, description) form of the kinds' record tables: the oracle, multibit and StatFI
 * records all carry it. */
#define FAULT_COLUMNS(X)                                                                      \
    X(double, mean_emd, RESULTS_FLOAT64, "1", "autoencoders: mean EMD with the fault")        \
    X(double, delta_emd, RESULTS_FLOAT64, "1", "autoencoders: mean_emd - fault-free mean EMD") \
    X(int64_t, mispredicts, RESULTS_INT64, "images",                                          \
      "classifiers: evaluated images misclassified with the fault")                           \
    X(int64_t, n_changed, RESULTS_INT64, "samples",                                           \
      "samples whose network output differs from the fault-free output")

typedef struct run_ctx run_ctx_t;

typedef struct {
    campaign_kind_id_t id;
    /* All ranks, after the baseline: decide the items (r->items, r->n_items) and
     * the record layout (r->table). */
    int (*plan)(run_ctx_t *r, upset_err_t *err);
    /* sched_work_fn: ctx is the run_ctx_t. */
    int (*work)(void *ctx, int64_t first, int64_t count, void *records, upset_err_t *err);
    /* Rank 0 after the work: print the headline figures and add root attributes
     * (at most RUN_MAX_EXTRA_ATTRS); may set r->out_table/out_records/out_n to a
     * derived table (BinFI's per-bit view), which rank 0 then writes. */
    int (*finish)(run_ctx_t *r, upset_err_t *err);
    /* Optional: frees what kind_state holds (kind_state itself is freed with free()). */
    void (*release)(run_ctx_t *r);
    /* Items the work does best together (sched_job_t.batch): the kinds whose work takes
     * its bits through injector_eval_singles, which then lets the scheduler poll. */
    int64_t batch;
} campaign_kind_ops_t;

#define RUN_MAX_EXTRA_ATTRS 16

struct run_ctx {
    campaign_t c;
    MPI_Comm comm;
    int rank, size;
    model_t model;
    dataset_t data;
    injector_t inj;
    const campaign_kind_ops_t *kind;

    int64_t *items; /* kind-specific meaning: bit indices, weights, trials */
    int64_t n_items;
    const results_table_t *table;
    void *records; /* rank 0: n_items * record_size */
    uint8_t *done;

    /* what finish() wants written (rank 0); defaults to table/records */
    const results_table_t *out_table;
    void *out_records;
    int64_t out_n;
    results_attr_t extra[RUN_MAX_EXTRA_ATTRS];
    int n_extra;

    /* rank 0: the files besides model and data the campaign reads, with the checksums of
     * their bytes (16 hex digits) taken before the run (campaign_inputs) */
    campaign_input_t inputs[CAMPAIGN_MAX_INPUTS];
    char input_ck[CAMPAIGN_MAX_INPUTS][17];
    int n_inputs;

    int stop_saved; /* every rank: a stop signal ended the scheduled work and its checkpoint
                       was written (sched_job_t.stop_saved): `upset run` exits 75 */

    int64_t *scratch_bits;       /* per-rank work space for multi-bit trials */
    unsigned char *scratch_mark; /* n_fault_bits bytes, zero */
    void *kind_state;            /* a kind's own data, freed with free() */
};

/* The error of a fault result in the task's own unit, and whether it is
 * sensitive (worse than fault-free). */
double run_error(const run_ctx_t *r, const fault_result_t *f);
int run_sensitive(const run_ctx_t *r, const fault_result_t *f);

/* Refuses, naming key, n_items items of record_size bytes (with their item index and done
 * flag) that would not fit this machine's physical memory: calloc alone would not say, as
 * Linux overcommits and the out-of-memory killer ends the run later without a message. */
int run_items_fit(const run_ctx_t *r, const char *key, int64_t n_items, size_t record_size,
                  upset_err_t *err);

/* The single-bit faults r->items[first, first + count) through injector_eval_singles: a
 * heap array of their results (the caller frees it), or NULL with err. */
fault_result_t *run_eval_bits(run_ctx_t *r, int64_t first, int64_t count, upset_err_t *err);


/* The bits a multibit campaign protects (mask: n_fault_bits bytes), from its policy and
 * oracle; r needs c, model and (for the oracle's data check) data. */
int multibit_protection(run_ctx_t *r, unsigned char *mask, int64_t *n_protected,
                        upset_err_t *err);

/* `upset run`'s command line (cli_run.c parses it). */
typedef struct {
    const char *yaml;
    const char *output;
    const char *set[CAMPAIGN_MAX_SETS + 1]; /* NULL-terminated */
    int n_set, resume, force, quiet, full;
} run_args_t;

/* The whole run on every rank: load and check the campaign (rank 0, holding the output's
 * lock), plan, fault-free baseline, scheduled work with checkpoints, results. */
int run_campaign(run_ctx_t *r, const run_args_t *a, file_lock_t *lock, upset_err_t *err);
/* Frees everything r holds. */
void run_free(run_ctx_t *r);

/* Loads the campaign's model and data into r (every rank does this before planning). */
int run_setup(run_ctx_t *r, upset_err_t *err);

extern const campaign_kind_ops_t KIND_ORACLE, KIND_GUIDED, KIND_MULTIBIT, KIND_BINFI,
    KIND_STATFI, KIND_ACTIVATION;

#endif
