/* Internal to the campaign configuration (config.c: the schema, names and lifecycle;
 * config_load.c: YAML -> campaign_t with every problem reported; config_dump.c: the
 * resolved YAML; config_wire.c: the wire format and equality). One table
 * (CAMPAIGN_FIELDS) lists every key once: its section, YAML name, type, place in
 * campaign_t and allowed range; every part walks that table, so a new key is one line
 * here (plus its default in config.c and its doc). */
#ifndef UPSET_CONFIG_SCHEMA_H
#define UPSET_CONFIG_SCHEMA_H

#include <stddef.h>

#include "upset/campaign.h"

typedef enum { T_STR, T_LIST, T_INT, T_U64, T_REAL, T_BOOL, T_ENUM, T_COUNT } ftype_t;

enum {
    SEC_TOP,
    SEC_DATA,
#define X(id, name, takes_bias) SEC_##id,
#include "upset/kinds.def"
#undef X
    SEC_COUNT
};

/* Range flags: which bounds apply and whether they are strict. */
#define R_GE 1u /* >= lo */
#define R_GT 2u /* >  lo */
#define R_LE 4u /* <= hi */
#define R_LT 8u /* <  hi */

/* X(id, section, key, type, member, enum names, required, range, lo, hi), in dump order. */
#define CAMPAIGN_FIELDS(X)                                                                   \
    X(NAME, TOP, "name", T_STR, name, NULL, 1, 0, 0, 0)                                      \
    X(MODEL, TOP, "model", T_STR, model, NULL, 1, 0, 0, 0)                                   \
    X(DATA_FORMAT, DATA, "format", T_ENUM, data.format, format_names, 1, 0, 0, 0)            \
    X(DATA_FILES, DATA, "files", T_LIST, data.files, NULL, 1, 0, 0, 0)                       \
    X(DATA_LABELS, DATA, "labels", T_STR, data.labels, NULL, 0, 0, 0, 0)                     \
    X(DATA_OFFSET, DATA, "offset", T_INT, data.offset, NULL, 0, R_GE, 0, 0)                  \
    X(DATA_COUNT, DATA, "count", T_COUNT, data.count, NULL, 0, 0, 0, 0)                      \
    X(DATA_CORRECT_ONLY, DATA, "correct_only", T_BOOL, data.correct_only, NULL, 0, 0, 0, 0)  \
    X(KIND, TOP, "kind", T_ENUM, kind, kind_names, 1, 0, 0, 0)                               \
    X(SEED, TOP, "seed", T_U64, seed, NULL, 0, 0, 0, 0)                                      \
    X(OUTPUT, TOP, "output", T_STR, output, NULL, 1, 0, 0, 0)                                \
    X(CHECKPOINT_INTERVAL, TOP, "checkpoint_interval", T_REAL, checkpoint_interval, NULL, 0, \
      R_GT | R_LE, 0, 604800)                                                                \
    X(CHUNK_SIZE, TOP, "chunk_size", T_INT, chunk_size, NULL, 0, R_GE, 0, 0)                 \
    X(INCLUDE_BIAS, TOP, "include_bias", T_BOOL, include_bias, NULL, 0, 0, 0, 0)             \
    X(EMD_ZERO_SUM, TOP, "emd_zero_sum", T_ENUM, emd_zero_sum, emd_zero_names, 0, 0, 0, 0)   \
    X(ORACLE_FIRST_BIT, ORACLE, "first_bit", T_INT, oracle.first_bit, NULL, 0, R_GE, 0, 0)   \
    X(ORACLE_BIT_COUNT, ORACLE, "bit_count", T_INT, oracle.bit_count, NULL, 0, R_GE, 0, 0)   \
    X(ORACLE_LAYERS, ORACLE, "layers", T_LIST, oracle.layers, NULL, 0, 0, 0, 0)              \
    X(GUIDED_ORDER, GUIDED, "order", T_ENUM, guided.order, order_names, 0, 0, 0, 0)          \
    X(GUIDED_RANKING, GUIDED, "ranking", T_STR, guided.ranking, NULL, 0, 0, 0, 0)            \
    X(GUIDED_BUDGET, GUIDED, "budget", T_INT, guided.budget, NULL, 0, R_GE, 0, 0)            \
    X(MB_TRIALS, MULTIBIT, "trials", T_INT, multibit.trials, NULL, 0, R_GT, 0, 0)            \
    X(MB_FLIPS, MULTIBIT, "flips", T_INT, multibit.flips, NULL, 0, R_GT, 0, 0)               \
    X(MB_PROTECTION, MULTIBIT, "protection", T_ENUM, multibit.protection, protection_names,  \
      0, 0, 0, 0)                                                                            \
    X(MB_PROTECT_PERCENT, MULTIBIT, "protect_percent", T_REAL, multibit.protect_percent,    \
      NULL, 0, R_GE | R_LE, 0, 100)                                                          \
    X(MB_ORACLE, MULTIBIT, "oracle", T_STR, multibit.oracle, NULL, 0, 0, 0, 0)               \
    X(MB_PROTECT_LIST, MULTIBIT, "protect_list", T_STR, multibit.protect_list, NULL, 0, 0, 0, 0) \
    X(MB_FAULT_MODEL, MULTIBIT, "fault_model", T_ENUM, multibit.fault_model, fault_model_names, \
      0, 0, 0, 0)                                                                            \
    X(MB_MCU_SIZE, MULTIBIT, "mcu_size", T_INT, multibit.mcu_size, NULL, 0, R_GE | R_LE, 2, 32) \
    X(MB_MCU_STRIDE, MULTIBIT, "mcu_stride", T_INT, multibit.mcu_stride, NULL, 0, R_GE | R_LE, 1, INT32_MAX) \
    X(MB_CROSS_SECTION, MULTIBIT, "cross_section", T_REAL, multibit.cross_section, NULL, 0,  \
      R_GE | R_LE, 0, 1)                                                                     \
    X(MB_FLUX, MULTIBIT, "flux", T_REAL, multibit.flux, NULL, 0, R_GE | R_LE, 0, 1e20)        \
    X(MB_EXPOSURE, MULTIBIT, "exposure", T_REAL, multibit.exposure, NULL, 0, R_GE | R_LE, 0,  \
      1e12)                                                                                  \
    X(STATFI_CONFIDENCE, STATFI, "confidence", T_REAL, statfi.confidence, NULL, 0,           \
      R_GT | R_LT, 0, 1)                                                                     \
    X(STATFI_MARGIN, STATFI, "margin", T_REAL, statfi.margin, NULL, 0, R_GT | R_LT, 0, 1)    \
    X(STATFI_P, STATFI, "p", T_REAL, statfi.p, NULL, 0, R_GT | R_LT, 0, 1)                   \
    X(STATFI_MODE, STATFI, "mode", T_ENUM, statfi.mode, statfi_mode_names, 0, 0, 0, 0)       \
    X(RANK_METRIC, RANK, "metric", T_ENUM, rank.metric, metric_names, 0, 0, 0, 0)            \
    X(RANK_EIGEN_K, RANK, "eigen_k", T_INT, rank.eigen_k, NULL, 0, R_GE | R_LE, 1, 1024)     \
    X(RANK_SCORE, RANK, "score", T_ENUM, rank.score, score_names, 0, 0, 0, 0)                \
    X(RANK_SAMPLES, RANK, "samples", T_INT, rank.samples, NULL, 0, R_GT, 0, 0)               \
    X(RANK_TRACE, RANK, "trace", T_BOOL, rank.trace, NULL, 0, 0, 0, 0)                       \
    X(RANK_TRACE_TOL, RANK, "trace_tol", T_REAL, rank.trace_tol, NULL, 0, R_GT | R_LT, 0, 1) \
    X(RANK_TRACE_MAX_ITER, RANK, "trace_max_iter", T_INT, rank.trace_max_iter, NULL, 0,      \
      R_GE | R_LE, 1, 1000000)                                                               \
    X(ACT_TRIALS, ACTIVATION, "trials", T_INT, activation.trials, NULL, 0, R_GT, 0, 0)       \
    X(ACT_LAYERS, ACTIVATION, "layers", T_LIST, activation.layers, NULL, 0, 0, 0, 0)

#define X_ID(id, ...) F_##id,
enum { CAMPAIGN_FIELDS(X_ID) F_COUNT };
#undef X_ID

typedef struct {
    int sec;
    const char *key;
    ftype_t type;
    size_t off;
    const char *const *names; /* T_ENUM */
    int required;
    unsigned range;
    double lo, hi;
} field_t;

extern const field_t campaign_fields[F_COUNT];
extern const char *const campaign_sec_names[SEC_COUNT];
/* The kind a section belongs to; -1: always allowed. */
extern const int campaign_sec_kind[SEC_COUNT];

/* Typed access to field f of a campaign. */
#define FIELD(c, f, T) ((T *)(void *)((char *)(c) + campaign_fields[f].off))
#define CFIELD(c, f, T) ((const T *)(const void *)((const char *)(c) + campaign_fields[f].off))

/* "data.count" or "seed". */
const char *config_field_path(int f, char *buf, size_t len);
int config_enum_count(const char *const *names);
/* names[v], or "?" out of range. */
const char *config_enum_name(const char *const *names, int v);
/* A real as the dump writes it: the shortest form that reads back exactly. */
void config_fmt_real(double v, char *buf, size_t len);
/* Resolves the format-dependent default of data.count. */
void config_resolve_defaults(campaign_t *c);
void config_strlist_free(campaign_strlist_t *l);

#endif
