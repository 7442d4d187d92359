/* Campaign configuration: the schema's tables (config_schema.h), the names of the enums,
 * defaults and freeing. Loading is config_load.c, the dump config_dump.c, the wire format
 * and equality config_wire.c. */
#include "config_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(campaign_kind_id_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(protection_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(fault_model_t) == sizeof(int), "enums are stored as int");

/* ------------------------------------------------------------------ schema */

static const char *const kind_names[] = {
#define X(id, name, takes_bias) #name,
#include "upset/kinds.def"
#undef X
    NULL};
static const char *const format_names[] = {"hgcal", "cifar10", "hdf5", NULL};
static const char *const emd_zero_names[] = {"uniform", "reference", NULL};
static const char *const order_names[] = {"ranking", "msb_lsb", "random", NULL};
static const char *const protection_names[] = {"none", "all", "sensitive",
                                               "top_percent_of_sensitive", "top_percent_of_all",
                                               "list", NULL};
static const char *const statfi_mode_names[] = {"data_aware", "data_unaware", NULL};
static const char *const fault_model_names[] = {"flip",     "stuck_at_0",    "stuck_at_1",
                                                "mcu_word", "mcu_neighbors", NULL};
static const char *const metric_names[] = {"hessian", "gradient", "msb_lsb", "random", NULL};
static const char *const score_names[] = {"fkeras", "paper", NULL};

const char *const campaign_sec_names[SEC_COUNT] = {
    "", "data",
#define X(id, name, takes_bias) #name,
#include "upset/kinds.def"
#undef X
};
const int campaign_sec_kind[SEC_COUNT] = {
    -1, -1,
#define X(id, name, takes_bias) CAMPAIGN_##id,
#include "upset/kinds.def"
#undef X
};

int campaign_kind_takes_bias(campaign_kind_id_t k)
{
    static const int takes[] = {
#define X(id, name, takes_bias) takes_bias,
#include "upset/kinds.def"
#undef X
    };
    return (unsigned)k < sizeof takes / sizeof *takes && takes[k];
}

_Static_assert(F_COUNT <= CAMPAIGN_MAX_KEYS, "campaign_t holds a position per key");

#define X_FIELD(id, sec, key, type, member, names, req, range, lo, hi) \
    {SEC_##sec, key, type, offsetof(campaign_t, member), names, req, range, lo, hi},
const field_t campaign_fields[F_COUNT] = {CAMPAIGN_FIELDS(X_FIELD)};
#undef X_FIELD

/* "data.count" or "seed". */
const char *config_field_path(int f, char *buf, size_t len)
{
    if (campaign_fields[f].sec == SEC_TOP)
        snprintf(buf, len, "%s", campaign_fields[f].key);
    else
        snprintf(buf, len, "%s.%s", campaign_sec_names[campaign_fields[f].sec],
                 campaign_fields[f].key);
    return buf;
}

const char *campaign_key_where(const campaign_t *c, const char *key, char *buf, size_t len)
{
    const char *src = c->source ? c->source : "campaign";
    char path[128];
    for (int f = 0; f < F_COUNT; f++)
        if (c->key_line[f] && !strcmp(config_field_path(f, path, sizeof path), key)) {
            snprintf(buf, len, "%s:%d:%d", src, c->key_line[f], c->key_col[f]);
            return buf;
        }
    snprintf(buf, len, "%s", src);
    return buf;
}

int config_enum_count(const char *const *names)
{
    int n = 0;
    while (names[n])
        n++;
    return n;
}

const char *config_enum_name(const char *const *names, int v)
{
    return v >= 0 && v < config_enum_count(names) ? names[v] : "?";
}

const char *campaign_kind_name(campaign_kind_id_t k) { return config_enum_name(kind_names, (int)k); }
const char *campaign_data_format_name(campaign_data_format_t f) { return config_enum_name(format_names, (int)f); }
const char *campaign_emd_zero_name(campaign_emd_zero_t z) { return config_enum_name(emd_zero_names, (int)z); }
const char *guided_order_name(guided_order_t o) { return config_enum_name(order_names, (int)o); }
const char *protection_name(protection_t p) { return config_enum_name(protection_names, (int)p); }
const char *fault_model_name(fault_model_t f) { return config_enum_name(fault_model_names, (int)f); }
const char *statfi_mode_name(statfi_mode_t m) { return config_enum_name(statfi_mode_names, (int)m); }
const char *rank_metric_name(rank_metric_t m) { return config_enum_name(metric_names, (int)m); }
const char *rank_score_name(rank_score_t s) { return config_enum_name(score_names, (int)s); }

/* The index of name in names, or -1. */
static int enum_value(const char *const *names, const char *name)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int campaign_kind_from_name(const char *name) { return enum_value(kind_names, name); }
int campaign_data_format_from_name(const char *name) { return enum_value(format_names, name); }

/* The shortest decimal that reads back to exactly v. */
void config_fmt_real(double v, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* %g writes 60 as 6e+01; an exponent with |v| >= 1 means v is a whole number. */
    if (strchr(buf, 'e') && fabs(v) >= 1 && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
}

/* ---------------------------------------------------------------- lifecycle */

void campaign_defaults(campaign_t *c)
{
    memset(c, 0, sizeof *c);
    c->data.format = CAMPAIGN_DATA_UNSET;
    c->data.offset = 0;
    c->data.count = CAMPAIGN_COUNT_DEFAULT;
    c->data.correct_only = 1;
    c->kind = CAMPAIGN_KIND_UNSET;
    c->seed = 1;
    c->checkpoint_interval = 60;
    c->chunk_size = 0;
    c->include_bias = 0;
    c->emd_zero_sum = CAMPAIGN_EMD_ZERO_UNIFORM;
    c->oracle.first_bit = 0;
    c->oracle.bit_count = 0;
    c->guided.order = GUIDED_ORDER_RANKING;
    c->guided.budget = 0;
    c->multibit.trials = 14000;
    c->multibit.flips = 960;
    c->multibit.protection = PROTECT_NONE;
    c->multibit.protect_percent = 32;
    c->multibit.fault_model = FAULT_FLIP;
    c->multibit.mcu_size = 2;
    c->multibit.mcu_stride = 1;
    c->activation.trials = 10000;
    c->statfi.confidence = 0.95;
    c->statfi.margin = 0.05;
    c->statfi.p = 0.5;
    c->statfi.mode = STATFI_DATA_AWARE;
    c->rank.metric = RANK_HESSIAN;
    c->rank.eigen_k = 8;
    c->rank.score = RANK_SCORE_FKERAS;
    c->rank.samples = 256;
    c->rank.trace = 1;
    c->rank.trace_tol = 1e-3;
    c->rank.trace_max_iter = 200;
    c->source = NULL;
    c->quiet = 0;
}

void config_strlist_free(campaign_strlist_t *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void campaign_free(campaign_t *c)
{
    for (int f = 0; f < F_COUNT; f++) {
        if (campaign_fields[f].type == T_STR)
            free(*FIELD(c, f, char *));
        else if (campaign_fields[f].type == T_LIST)
            config_strlist_free(FIELD(c, f, campaign_strlist_t));
    }
    free(c->source);
    campaign_defaults(c);
}

/* Resolves the format-dependent default of data.count. */
void config_resolve_defaults(campaign_t *c)
{
    if (c->data.count == CAMPAIGN_COUNT_DEFAULT) {
        if (c->data.format == CAMPAIGN_DATA_HGCAL)
            c->data.count = 20000;
        else if (c->data.format == CAMPAIGN_DATA_CIFAR10 || c->data.format == CAMPAIGN_DATA_HDF5)
            c->data.count = CAMPAIGN_COUNT_ALL;
    }
}
