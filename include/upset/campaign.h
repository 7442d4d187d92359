/* A campaign: what to fault, on which model and data, and where the results go,
 * read from a YAML file (docs/campaign-format.md).
 *
 * Lifecycle (rank 0):
 *   campaign_defaults(&c);
 *   campaign_load_yaml(&c, path, &err);      parse + check; every problem at once
 *   campaign_apply_overrides(&c, &ov, &err); command-line changes
 *   campaign_validate(&c, &err);             re-check after the overrides
 *   campaign_dump(&c, &yaml);                resolved YAML, stored with the results
 *   campaign_serialize(&c, &buf, &len, &err) -> MPI_Bcast -> campaign_deserialize on
 *   the other ranks, which never parse YAML.
 *   campaign_free(&c);
 *
 * Problems are reported as one message, one line per problem:
 *   file:line:column: key: what is wrong
 * with keys as dotted paths (data.count, multibit.protect_percent).
 * Paths (model, data files, rankings, output) are kept exactly as written;
 * whether they exist is the runner's business, as is anything that needs the
 * model (flips larger than the fault space, layer names). */
#ifndef UPSET_CAMPAIGN_H
#define UPSET_CAMPAIGN_H

#include <stddef.h>
#include <stdint.h>

#include "upset/error.h"

/* The campaign kind (kinds.def lists them; campaign_kind_ops_t is a kind's ops table). */
typedef enum {
    CAMPAIGN_KIND_UNSET = -1, /* before a file sets `kind` */
#define X(id, name, takes_bias) CAMPAIGN_##id,
#include "upset/kinds.def"
#undef X
    CAMPAIGN_KIND_COUNT
} campaign_kind_id_t;

typedef enum {
    CAMPAIGN_DATA_UNSET = -1, /* before a file sets data.format */
    CAMPAIGN_DATA_HGCAL,
    CAMPAIGN_DATA_CIFAR10,
    CAMPAIGN_DATA_HDF5
} campaign_data_format_t;

/* How EMD scores a sample whose input or output sums to zero (DESIGN.md). */
typedef enum { CAMPAIGN_EMD_ZERO_UNIFORM, CAMPAIGN_EMD_ZERO_REFERENCE } campaign_emd_zero_t;

typedef enum { GUIDED_ORDER_RANKING, GUIDED_ORDER_MSB_LSB, GUIDED_ORDER_RANDOM } guided_order_t;

/* Which bits a multi-bit campaign protects (a protected bit never flips):
 * none; all; every sensitive bit of the oracle; the top protect_percent of the sensitive
 * bits by oracle error; the top protect_percent of all faultable bits by oracle error
 * (the FKeras paper's levels: 0 %, 32 %, 63.5 %, 100 % of all bits). */
typedef enum {
    PROTECT_NONE,
    PROTECT_ALL,
    PROTECT_SENSITIVE,
    PROTECT_TOP_PERCENT_OF_SENSITIVE,
    PROTECT_TOP_PERCENT_OF_ALL,
    PROTECT_LIST /* the bits listed in multibit.protect_list (a designer's hardened set) */
} protection_t;

/* What one drawn cell does in a multi-bit trial: flip; stick at 0 or 1 (a weight changes
 * only where its bit held the other value); or a multiple-cell upset: in one word (the drawn
 * bit and the next mcu_size - 1 bits of the same weight toward the LSB), or across words
 * (the same bit of the drawn weight and of the weights mcu_stride, 2 mcu_stride, ... further
 * in its layer's kernel, in C order: the register layout, docs/campaign-format.md). */
typedef enum {
    FAULT_FLIP,
    FAULT_STUCK_AT_0,
    FAULT_STUCK_AT_1,
    FAULT_MCU_WORD,
    FAULT_MCU_NEIGHBORS
} fault_model_t;

typedef enum { STATFI_DATA_AWARE, STATFI_DATA_UNAWARE } statfi_mode_t;

typedef enum { RANK_HESSIAN, RANK_GRADIENT, RANK_MSB_LSB, RANK_RANDOM } rank_metric_t;
typedef enum { RANK_SCORE_FKERAS, RANK_SCORE_PAPER } rank_score_t;

/* data.count before the format is known: 20000 for hgcal, all for cifar10. */
#define CAMPAIGN_COUNT_DEFAULT (-2)
/* data.count: every sample from data.offset on (YAML: `count: all`). */
#define CAMPAIGN_COUNT_ALL (-1)

/* At least the number of campaign keys (config.c checks it). */
#define CAMPAIGN_MAX_KEYS 64

typedef struct {
    char **v; /* n strings, or NULL when n == 0 */
    int n;
} campaign_strlist_t;

typedef struct {
    char *name;  /* required */
    char *model; /* path, required */
    struct {
        campaign_data_format_t format; /* required */
        campaign_strlist_t files;      /* one or more paths (cifar10: exactly one) */
        char *labels;                  /* cifar10 label file, or NULL */
        int64_t offset;                /* first usable sample, >= 0 */
        int64_t count;                 /* > 0 or CAMPAIGN_COUNT_ALL (cifar10 only) */
        int correct_only;              /* cifar10: keep images the fault-free model gets right */
    } data;
    campaign_kind_id_t kind; /* required */
    uint64_t seed;
    char *output;               /* results path, required */
    double checkpoint_interval; /* seconds, > 0 */
    int64_t chunk_size;         /* items per hand-out, 0 = automatic */
    int include_bias;           /* bias codes join the fault space */
    campaign_emd_zero_t emd_zero_sum;

    struct {
        int64_t first_bit;
        int64_t bit_count;         /* 0 = every bit from first_bit on */
        campaign_strlist_t layers; /* n == 0: every faultable layer */
    } oracle;
    struct {
        guided_order_t order;
        char *ranking;  /* bit ranking file (one global bit index per line); order=ranking */
        int64_t budget; /* bits to inject, 0 = all */
    } guided;
    struct {
        int64_t trials;
        int64_t flips; /* bits flipped per trial */
        protection_t protection;
        double protect_percent; /* [0, 100], for top_percent_of_sensitive/_of_all */
        fault_model_t fault_model;
        int64_t mcu_size;   /* cells per event of the mcu_* fault models */
        int64_t mcu_stride; /* mcu_neighbors: kernel-index distance of neighbouring weights */
        /* a radiation environment: when cross_section > 0, each trial draws a Poisson
         * number of cells with mean cross_section * flux * exposure * n_fault_bits
         * (capped at every bit) instead of `flips` */
        double cross_section; /* cm^2 per bit */
        double flux;          /* particles / cm^2 / s */
        double exposure;      /* s per trial (one inference, or the time between scrubs) */
        char *oracle;           /* oracle results file; sensitive and top_percent */
        char *protect_list;     /* text file of global bit indices; protection list */
    } multibit;
    struct {
        double confidence; /* (0, 1) */
        double margin;     /* (0, 1) */
        double p;          /* (0, 1) */
        statfi_mode_t mode;
    } statfi;
    struct {
        int64_t trials;            /* (sample, activation bit) draws */
        campaign_strlist_t layers; /* n == 0: every quantized activation of the faulted part */
    } activation;
    struct {
        rank_metric_t metric;
        int64_t eigen_k;
        rank_score_t score;
        int64_t samples;
        int trace;
        double trace_tol;
        int64_t trace_max_iter;
    } rank;

    /* Not part of the YAML: set by the loader or the command line. */
    char *source; /* the file it was loaded from, or NULL */
    int quiet;    /* no progress lines */
    unsigned file_sections; /* bit s: section s was written in the file (rank 0 only) */
    /* where each key's value was written in the file, 1-based (0: not written there, or
     * replaced by --set); rank 0 only: read through campaign_key_where */
    int key_line[CAMPAIGN_MAX_KEYS], key_col[CAMPAIGN_MAX_KEYS];
} campaign_t;

/* Command-line changes. Each field left at its "keep" value changes nothing. */
#define CAMPAIGN_MAX_SETS 63 /* --set options one command takes */
typedef struct {
    const char *output;     /* NULL: keep */
    int quiet;              /* -1: keep; 0 or 1 */
    const char *const *set; /* NULL-terminated "key=value" list, or NULL; key is a
                               dotted path, value is YAML (data.files=[a.csv, b.csv]) */
} campaign_overrides_t;

/* Every field at its default; strings NULL. Call before anything else. */
void campaign_defaults(campaign_t *c);

/* Reads path into c (which must hold campaign_defaults or an earlier load) and
 * checks it. On any problem returns -1 with every problem in err, one line each;
 * c then holds what could be read and must still be freed. */
int campaign_load_yaml(campaign_t *c, const char *path, upset_err_t *err);

/* The same from a YAML text in memory; name labels the messages. */
int campaign_load_yaml_string(campaign_t *c, const char *yaml, size_t len, const char *name,
                              upset_err_t *err);

/* Applies the overrides; a "key=value" for a section other than the campaign's
 * kind is an error. Call campaign_validate afterwards. */
int campaign_apply_overrides(campaign_t *c, const campaign_overrides_t *o, upset_err_t *err);

/* Resolves format-dependent defaults (data.count) and checks every rule that does
 * not need the model; all problems at once, as "source: key: what". */
int campaign_validate(campaign_t *c, upset_err_t *err);

/* The resolved campaign as YAML (every key of the top level, data and the kind's
 * section), which campaign_load_yaml_string reads back to an equal campaign.
 * *yaml_out is malloc'ed, NUL-terminated. 0, or -1 with err (out of memory, or a value
 * YAML cannot hold: campaign_apply_overrides refuses an --output that is not UTF-8). */
int campaign_dump(const campaign_t *c, char **yaml_out, upset_err_t *err);

/* A flat byte buffer holding every field (source and quiet included), for
 * MPI_Bcast. *buf is malloc'ed. */
int campaign_serialize(const campaign_t *c, unsigned char **buf, size_t *len, upset_err_t *err);
/* Fills c (campaign_defaults'ed or freed) from a buffer of campaign_serialize. */
int campaign_deserialize(campaign_t *c, const unsigned char *buf, size_t len, upset_err_t *err);

/* 1 when a and b describe the same campaign, else 0: every top-level and data
 * key and the keys of the kind's own section (the sections of other kinds are
 * unused; source and quiet are not part of the description). */
int campaign_equal(const campaign_t *a, const campaign_t *b);

/* Frees the strings and resets c to the defaults. */
void campaign_free(campaign_t *c);

/* For a problem with key (a dotted path, "oracle.first_bit") found after loading (the
 * checks that need the model): "FILE:LINE:COLUMN" where the file gave its value, or "FILE"
 * when it did not (a default, a --set value, a rank other than 0). Returns buf. */
const char *campaign_key_where(const campaign_t *c, const char *key, char *buf, size_t len);

/* YAML spellings of the enums ("oracle", "top_percent", ...); "?" when out of range. */
const char *campaign_kind_name(campaign_kind_id_t k);
/* 1 when campaigns of kind k accept include_bias (kinds.def). */
int campaign_kind_takes_bias(campaign_kind_id_t k);
const char *campaign_data_format_name(campaign_data_format_t f);
const char *campaign_emd_zero_name(campaign_emd_zero_t z);
const char *guided_order_name(guided_order_t o);
const char *protection_name(protection_t p);
const char *fault_model_name(fault_model_t f);
const char *statfi_mode_name(statfi_mode_t m);
const char *rank_metric_name(rank_metric_t m);
const char *rank_score_name(rank_score_t s);

/* The kind, and the data format, whose YAML spelling is name, or -1. */
int campaign_kind_from_name(const char *name);
int campaign_data_format_from_name(const char *name);

/* A file besides the model and the data that a campaign reads: guided.ranking (order
 * ranking), multibit.protect_list (protection list) or multibit.oracle (protection chosen
 * by the oracle). The YAML holds only its path, so `upset run` stores the FNV-1a 64 of its
 * bytes in the results file (attribute attr) and in the checkpoint fingerprint, and a
 * resume, or a tool that rebuilds what the campaign read, refuses a file that changed. */
typedef struct {
    const char *key;  /* "guided.ranking", ... */
    const char *attr; /* the results attribute, "guided_ranking_checksum_fnv1a64", ... */
    const char *path; /* the campaign's string */
} campaign_input_t;

#define CAMPAIGN_MAX_INPUTS 2

/* The input files c's settings make it read, into out (CAMPAIGN_MAX_INPUTS entries); their
 * number. */
int campaign_inputs(const campaign_t *c, campaign_input_t *out);

/* The FNV-1a 64 of in's file bytes now, as 16 hex digits; -1 with err (naming the key) when
 * the file cannot be read. */
int campaign_input_checksum(const campaign_input_t *in, char hex[17], upset_err_t *err);

/* For a tool that rebuilds what a finished campaign c read (results: its results file): -1
 * with err when the results record an input file's checksum and that file's bytes no longer
 * match it; 0 when every one matches, or is not recorded (written before upset stored
 * these checksums). */
int campaign_inputs_verify(const char *results, const campaign_t *c, upset_err_t *err);

#endif
