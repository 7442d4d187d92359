/* Campaign configuration: YAML -> campaign_t, checks, dump, serialisation.
 *
 * One table (CAMPAIGN_FIELDS) lists every key once: its section, YAML name, type,
 * place in campaign_t and allowed range. Parsing, range checks, the YAML dump,
 * serialisation, comparison and freeing all walk that table, so a new key is one
 * line here (plus its default and its doc). Rules between keys are written out in
 * check_rules().
 *
 * Parsing uses libyaml's document API (the whole tree, with marks), and never
 * stops at the first problem: each one becomes a line "file:line:col: key: what"
 * and all of them are reported together, sorted by position. */
#include "upset/campaign.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

_Static_assert(sizeof(campaign_kind_id_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(protection_t) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(fault_model_t) == sizeof(int), "enums are stored as int");

/* ------------------------------------------------------------------ schema */

typedef enum { T_STR, T_LIST, T_INT, T_U64, T_REAL, T_BOOL, T_ENUM, T_COUNT } ftype_t;

enum {
    SEC_TOP,
    SEC_DATA,
    SEC_ORACLE,
    SEC_GUIDED,
    SEC_MULTIBIT,
    SEC_BINFI,
    SEC_STATFI,
    SEC_RANK,
    SEC_ACTIVATION,
    SEC_COUNT
};

static const char *const sec_names[SEC_COUNT] = {
    "", "data", "oracle", "guided", "multibit", "binfi", "statfi", "rank", "activation",
};
/* The kind a section belongs to; -1: always allowed. */
static const int sec_kind[SEC_COUNT] = {
    -1, -1, CAMPAIGN_ORACLE, CAMPAIGN_GUIDED, CAMPAIGN_MULTIBIT,
    CAMPAIGN_BINFI, CAMPAIGN_STATFI, CAMPAIGN_RANK, CAMPAIGN_ACTIVATION,
};

static const char *const kind_names[] = {"oracle", "guided", "multibit", "binfi", "statfi", "rank",
                                        "activation", NULL};
static const char *const format_names[] = {"hgcal", "cifar10", NULL};
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
    X(MB_MCU_STRIDE, MULTIBIT, "mcu_stride", T_INT, multibit.mcu_stride, NULL, 0, R_GE, 1, 0) \
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

#define X_FIELD(id, sec, key, type, member, names, req, range, lo, hi) \
    {SEC_##sec, key, type, offsetof(campaign_t, member), names, req, range, lo, hi},
static const field_t fields[F_COUNT] = {CAMPAIGN_FIELDS(X_FIELD)};
#undef X_FIELD

/* Typed access to field f of a campaign. */
#define FIELD(c, f, T) ((T *)(void *)((char *)(c) + fields[f].off))
#define CFIELD(c, f, T) ((const T *)(const void *)((const char *)(c) + fields[f].off))

/* "data.count" or "seed". */
static const char *field_path(int f, char *buf, size_t len)
{
    if (fields[f].sec == SEC_TOP)
        snprintf(buf, len, "%s", fields[f].key);
    else
        snprintf(buf, len, "%s.%s", sec_names[fields[f].sec], fields[f].key);
    return buf;
}

static int enum_count(const char *const *names)
{
    int n = 0;
    while (names[n])
        n++;
    return n;
}

static const char *enum_name(const char *const *names, int v)
{
    return v >= 0 && v < enum_count(names) ? names[v] : "?";
}

const char *campaign_kind_name(campaign_kind_id_t k) { return enum_name(kind_names, (int)k); }
const char *campaign_data_format_name(campaign_data_format_t f) { return enum_name(format_names, (int)f); }
const char *campaign_emd_zero_name(campaign_emd_zero_t z) { return enum_name(emd_zero_names, (int)z); }
const char *guided_order_name(guided_order_t o) { return enum_name(order_names, (int)o); }
const char *protection_name(protection_t p) { return enum_name(protection_names, (int)p); }
const char *fault_model_name(fault_model_t f) { return enum_name(fault_model_names, (int)f); }
const char *statfi_mode_name(statfi_mode_t m) { return enum_name(statfi_mode_names, (int)m); }
const char *rank_metric_name(rank_metric_t m) { return enum_name(metric_names, (int)m); }
const char *rank_score_name(rank_score_t s) { return enum_name(score_names, (int)s); }

int campaign_kind_from_name(const char *name)
{
    for (int i = 0; kind_names[i]; i++)
        if (strcmp(kind_names[i], name) == 0)
            return i;
    return -1;
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

static void strlist_free(campaign_strlist_t *l)
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
        if (fields[f].type == T_STR)
            free(*FIELD(c, f, char *));
        else if (fields[f].type == T_LIST)
            strlist_free(FIELD(c, f, campaign_strlist_t));
    }
    free(c->source);
    campaign_defaults(c);
}

/* Resolves the format-dependent default of data.count. */
static void resolve_defaults(campaign_t *c)
{
    if (c->data.count == CAMPAIGN_COUNT_DEFAULT) {
        if (c->data.format == CAMPAIGN_DATA_HGCAL)
            c->data.count = 20000;
        else if (c->data.format == CAMPAIGN_DATA_CIFAR10)
            c->data.count = CAMPAIGN_COUNT_ALL;
    }
}

/* ----------------------------------------------------------- problem lists */

typedef struct {
    int line, col; /* 1-based; 0 when the problem has no position */
    char *text;
} problem_t;

/* Parse/check context. With have_marks the loader knows where each key was
 * written; without (validate, overrides) lines read "source: key: what". */
typedef struct {
    const char *file;
    problem_t *v;
    int n, cap;
    int oom;
    int have_marks;
    yaml_mark_t root_mark;
    int field_seen[F_COUNT];
    yaml_mark_t field_mark[F_COUNT];
    int sec_seen[SEC_COUNT];
    yaml_mark_t sec_mark[SEC_COUNT];
    int kind_read; /* `kind` was read and is valid */
    const char *text; /* the YAML being loaded (for byte offsets -> line:column) */
    size_t text_len;
} ctx_t;

static void ctx_init(ctx_t *x, const char *file)
{
    memset(x, 0, sizeof *x);
    x->file = file;
}

static void ctx_free(ctx_t *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->v[i].text);
    free(x->v);
}

/* Adds "file:line:col: key: what" (or "file: key: what" without a mark). */
static void report(ctx_t *x, const yaml_mark_t *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(ctx_t *x, const yaml_mark_t *m, const char *key, const char *fmt, ...)
{
    char what[1024], pos[64] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    if (m && x->have_marks) {
        line = (int)m->line + 1;
        col = (int)m->column + 1;
        snprintf(pos, sizeof pos, ":%d:%d", line, col);
    }
    size_t len = strlen(x->file) + strlen(pos) + strlen(key) + strlen(what) + 8;
    char *text = malloc(len);
    if (!text) {
        x->oom = 1;
        return;
    }
    if (key[0])
        snprintf(text, len, "%s%s: %s: %s", x->file, pos, key, what);
    else
        snprintf(text, len, "%s%s: %s", x->file, pos, what);
    if (x->n == x->cap) {
        int cap = x->cap ? 2 * x->cap : 16;
        problem_t *v = realloc(x->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(text);
            x->oom = 1;
            return;
        }
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = (problem_t){line, col, text};
}

static int problem_cmp(const void *a, const void *b)
{
    const problem_t *p = a, *q = b;
    if (p->line != q->line)
        return p->line < q->line ? -1 : 1;
    if (p->col != q->col)
        return p->col < q->col ? -1 : 1;
    return 0;
}

/* Sorts the problems by position (keeping the order of equal ones) and writes
 * them into err, one per line. Returns 0 when there are none, else -1. */
static int ctx_finish(ctx_t *x, upset_err_t *err)
{
    if (x->oom && x->n == 0)
        return upset_fail(err, "%s: out of memory while reading the campaign", x->file);
    if (x->n == 0)
        return 0;
    /* Insertion sort: stable, and problem lists are short. */
    for (int i = 1; i < x->n; i++) {
        problem_t p = x->v[i];
        int j = i;
        while (j > 0 && problem_cmp(&x->v[j - 1], &p) > 0) {
            x->v[j] = x->v[j - 1];
            j--;
        }
        x->v[j] = p;
    }
    if (!err)
        return -1;
    err->msg[0] = '\0';
    size_t used = 0;
    const size_t room = sizeof err->msg - 64; /* keeps space for the "more" line */
    int shown = 0;
    for (; shown < x->n; shown++) {
        size_t len = strlen(x->v[shown].text);
        if (used + len + 1 > room)
            break;
        if (used)
            err->msg[used++] = '\n';
        memcpy(err->msg + used, x->v[shown].text, len + 1);
        used += len;
    }
    if (shown < x->n)
        snprintf(err->msg + used, sizeof err->msg - used, "%s... and %d more problem(s)",
                 used ? "\n" : "", x->n - shown);
    return -1;
}

/* ---------------------------------------------------------- scalar parsing */

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a map";
    default: return "a scalar";
    }
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML's null: empty or ~/null written plainly. */
static int is_null(const yaml_node_t *n)
{
    if (!is_plain(n))
        return 0;
    const char *s = scalar(n);
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

/* How a wrongly typed value is described in a message: "a list", "null",
 * "the quoted string '5'", "'abc'". */
static void describe(const yaml_node_t *n, char *buf, size_t len)
{
    if (n->type != YAML_SCALAR_NODE)
        snprintf(buf, len, "%s", node_kind(n));
    else if (is_null(n))
        snprintf(buf, len, "null");
    else if (!is_plain(n))
        snprintf(buf, len, "the quoted string '%.60s'", scalar(n));
    else
        snprintf(buf, len, "'%.60s'", scalar(n));
}

static int parse_i64(const char *s, int64_t *out)
{
    const char *digits = s + (s[0] == '-' || s[0] == '+');
    if (!digits[0]) /* "", "-" and "+" are not numbers */
        return -1;
    for (const char *p = digits; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end)
        return -2;
    *out = (int64_t)v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s[0] == '-') {
        int64_t v;
        return parse_i64(s, &v) == -1 ? -1 : -3; /* a negative number, or not one at all */
    }
    const char *digits = s + (s[0] == '+');
    if (!digits[0])
        return -1;
    for (const char *p = digits; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end || v > INT64_MAX) /* stored as a signed 64-bit attribute */
        return -2;
    *out = (uint64_t)v;
    return 0;
}

static int parse_real(const char *s, double *out)
{
    if (!s[0] || isspace((unsigned char)s[0]))
        return -1;
    /* strtod also takes hex, inf and nan: accept only decimal notation. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s)
        return -1;
    if (errno == ERANGE || !isfinite(v))
        return -2;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Levenshtein distance, for "did you mean". */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int sub = diag + (a[i - 1] != b[j - 1]);
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

/* The candidate nearest to word, or NULL when none is plausibly meant. */
static const char *nearest(const char *word, const char *const *cand, int n)
{
    const char *best = NULL;
    int bd = 1 << 30;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, cand[i]);
        if (d < bd) {
            bd = d;
            best = cand[i];
        }
    }
    int limit = (int)strlen(word) / 2 > 2 ? (int)strlen(word) / 2 : 2;
    return bd <= limit ? best : NULL;
}

/* ----------------------------------------------------------- value setting */

static char *dup_scalar(ctx_t *x, const yaml_node_t *n, const char *key)
{
    if (strlen(scalar(n)) != n->data.scalar.length) {
        report(x, &n->start_mark, key, "string contains a NUL character");
        return NULL;
    }
    char *s = strdup(scalar(n));
    if (!s)
        x->oom = 1;
    return s;
}

static void set_string(ctx_t *x, campaign_t *c, int f, const yaml_node_t *n, const char *key)
{
    char got[128];
    if (n->type != YAML_SCALAR_NODE || (is_null(n) && fields[f].required)) {
        describe(n, got, sizeof got);
        report(x, &n->start_mark, key, "expected a string, got %s", got);
        return;
    }
    if (fields[f].required && !scalar(n)[0]) {
        report(x, &n->start_mark, key, "expected a non-empty string, got ''");
        return;
    }
    char **dst = FIELD(c, f, char *);
    char *s = is_null(n) ? NULL : dup_scalar(x, n, key);
    if (!is_null(n) && !s)
        return;
    free(*dst);
    *dst = s;
}

static void set_list(ctx_t *x, campaign_t *c, int f, yaml_document_t *doc, const yaml_node_t *n,
                     const char *key)
{
    char got[128];
    campaign_strlist_t *dst = FIELD(c, f, campaign_strlist_t);
    if (is_null(n) && !fields[f].required) {
        strlist_free(dst);
        return;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        describe(n, got, sizeof got);
        report(x, &n->start_mark, key, "expected a list, got %s%s", got,
               n->type == YAML_SCALAR_NODE ? " (write it as [item])" : "");
        return;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0) {
        report(x, &n->start_mark, key, "empty list%s",
               fields[f].required ? "; give at least one" : "; leave the key out for all");
        return;
    }
    campaign_strlist_t l = {calloc((size_t)count, sizeof(char *)), 0};
    if (!l.v) {
        x->oom = 1;
        return;
    }
    int bad = 0;
    for (int i = 0; i < count; i++) {
        yaml_node_t *item = yaml_document_get_node(doc, n->data.sequence.items.start[i]);
        char ikey[160];
        snprintf(ikey, sizeof ikey, "%s[%d]", key, i);
        if (!item || item->type != YAML_SCALAR_NODE || is_null(item)) {
            if (item)
                describe(item, got, sizeof got);
            report(x, item ? &item->start_mark : &n->start_mark, ikey,
                   "expected a string, got %s", item ? got : "nothing");
            bad = 1;
            continue;
        }
        char *s = dup_scalar(x, item, ikey);
        if (!s) {
            bad = 1;
            continue;
        }
        l.v[l.n++] = s;
    }
    if (bad) {
        strlist_free(&l);
        return;
    }
    strlist_free(dst);
    *dst = l;
}

static void set_number(ctx_t *x, campaign_t *c, int f, const yaml_node_t *n, const char *key)
{
    char got[128];
    const char *want = fields[f].type == T_REAL  ? "a number"
                       : fields[f].type == T_U64 ? "an unsigned integer"
                       : fields[f].type == T_COUNT ? "an integer or 'all'"
                                                   : "an integer";
    if (fields[f].type == T_COUNT && n->type == YAML_SCALAR_NODE && !strcmp(scalar(n), "all")) {
        *FIELD(c, f, int64_t) = CAMPAIGN_COUNT_ALL;
        return;
    }
    if (!is_plain(n) || is_null(n)) {
        describe(n, got, sizeof got);
        report(x, &n->start_mark, key, "expected %s, got %s", want, got);
        return;
    }
    const char *s = scalar(n);
    int rc;
    if (fields[f].type == T_COUNT) {
        /* Parsed aside: the sentinels -1 (all) and -2 (default) must not be
         * reachable by writing them as numbers. */
        int64_t v = 0;
        rc = parse_i64(s, &v);
        if (!rc && v <= 0) {
            report(x, &n->start_mark, key, "must be > 0 or 'all', got %" PRId64, v);
            return;
        }
        if (!rc)
            *FIELD(c, f, int64_t) = v;
    } else {
        switch (fields[f].type) {
        case T_REAL: rc = parse_real(s, FIELD(c, f, double)); break;
        case T_U64: rc = parse_u64(s, FIELD(c, f, uint64_t)); break;
        default: rc = parse_i64(s, FIELD(c, f, int64_t)); break;
        }
    }
    if (rc == -2)
        report(x, &n->start_mark, key, "'%.60s' is out of range", s);
    else if (rc == -3)
        report(x, &n->start_mark, key, "must be >= 0, got %.60s", s);
    else if (rc)
        report(x, &n->start_mark, key, "expected %s, got '%.60s'", want, s);
}

static void set_bool(ctx_t *x, campaign_t *c, int f, const yaml_node_t *n, const char *key)
{
    char got[128];
    if (!is_plain(n) || parse_bool(scalar(n), FIELD(c, f, int))) {
        describe(n, got, sizeof got);
        report(x, &n->start_mark, key, "expected true or false, got %s", got);
    }
}

static void set_enum(ctx_t *x, campaign_t *c, int f, const yaml_node_t *n, const char *key)
{
    const char *const *names = fields[f].names;
    int k = enum_count(names);
    char got[128], list[256] = "";
    for (int i = 0; i < k; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 names[i]);
    if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        describe(n, got, sizeof got);
        report(x, &n->start_mark, key, "expected one of %s; got %s", list, got);
        return;
    }
    /* results written before the two top_percent policies were named read back */
    if (f == F_MB_PROTECTION && !strcmp(scalar(n), "top_percent")) {
        *FIELD(c, f, int) = PROTECT_TOP_PERCENT_OF_SENSITIVE;
        return;
    }
    for (int i = 0; i < k; i++)
        if (!strcmp(scalar(n), names[i])) {
            *FIELD(c, f, int) = i;
            if (f == F_KIND)
                x->kind_read = 1;
            return;
        }
    const char *near = nearest(scalar(n), names, k);
    char hint[96] = "";
    if (near)
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    report(x, &n->start_mark, key, "unknown value '%.60s'%s; expected one of %s", scalar(n),
           hint, list);
}

static void set_field(ctx_t *x, campaign_t *c, int f, yaml_document_t *doc, const yaml_node_t *n)
{
    char key[128];
    field_path(f, key, sizeof key);
    switch (fields[f].type) {
    case T_STR: set_string(x, c, f, n, key); break;
    case T_LIST: set_list(x, c, f, doc, n, key); break;
    case T_BOOL: set_bool(x, c, f, n, key); break;
    case T_ENUM: set_enum(x, c, f, n, key); break;
    default: set_number(x, c, f, n, key); break;
    }
}

/* ---------------------------------------------------------- tree walking */

static int find_field(int sec, const char *key)
{
    for (int f = 0; f < F_COUNT; f++)
        if (fields[f].sec == sec && !strcmp(fields[f].key, key))
            return f;
    return -1;
}

static int find_section(const char *key)
{
    for (int s = 1; s < SEC_COUNT; s++)
        if (!strcmp(sec_names[s], key))
            return s;
    return -1;
}

static void report_unknown(ctx_t *x, int sec, const yaml_node_t *kn)
{
    const char *key = scalar(kn);
    char path[160];
    if (sec == SEC_TOP)
        snprintf(path, sizeof path, "%.100s", key);
    else
        snprintf(path, sizeof path, "%s.%.100s", sec_names[sec], key);

    const char *cand[F_COUNT + SEC_COUNT];
    int n = 0;
    for (int f = 0; f < F_COUNT; f++)
        if (fields[f].sec == sec)
            cand[n++] = fields[f].key;
    if (sec == SEC_TOP)
        for (int s = 1; s < SEC_COUNT; s++)
            cand[n++] = sec_names[s];
    if (n == 0) {
        report(x, &kn->start_mark, path, "unknown key (section '%s' takes no keys)",
               sec_names[sec]);
        return;
    }
    /* A key written in the wrong section: say where it belongs. */
    for (int f = 0; f < F_COUNT; f++)
        if (fields[f].sec != sec && !strcmp(fields[f].key, key)) {
            char right[128];
            report(x, &kn->start_mark, path, "unknown key here (did you mean '%s'?)",
                   field_path(f, right, sizeof right));
            return;
        }
    const char *near = nearest(key, cand, n);
    if (near) {
        report(x, &kn->start_mark, path, "unknown key (did you mean '%s'?)", near);
        return;
    }
    char list[512] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 cand[i]);
    report(x, &kn->start_mark, path, "unknown key (known keys: %s)", list);
}

static void walk_map(ctx_t *x, campaign_t *c, yaml_document_t *doc, const yaml_node_t *map, int sec);

/* A section key at the top level: a map of its keys, or null for "all defaults". */
static void walk_section(ctx_t *x, campaign_t *c, yaml_document_t *doc, int s,
                         const yaml_node_t *kn, const yaml_node_t *vn)
{
    x->sec_seen[s] = 1;
    x->sec_mark[s] = kn->start_mark;
    if (is_null(vn))
        return;
    if (vn->type != YAML_MAPPING_NODE) {
        char got[128];
        describe(vn, got, sizeof got);
        report(x, &vn->start_mark, sec_names[s], "expected a map of keys, got %s", got);
        return;
    }
    walk_map(x, c, doc, vn, s);
}

static void walk_map(ctx_t *x, campaign_t *c, yaml_document_t *doc, const yaml_node_t *map, int sec)
{
    const yaml_node_pair_t *start = map->data.mapping.pairs.start;
    const yaml_node_pair_t *top = map->data.mapping.pairs.top;
    for (const yaml_node_pair_t *p = start; p < top; p++) {
        const yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        const yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (!kn || !vn)
            continue;
        const char *where = sec == SEC_TOP ? "(top level)" : sec_names[sec];
        if (kn->type != YAML_SCALAR_NODE || is_null(kn)) {
            char got[128];
            describe(kn, got, sizeof got);
            report(x, &kn->start_mark, where, "a key must be a name, got %s", got);
            continue;
        }
        const char *key = scalar(kn);
        int dup = 0;
        for (const yaml_node_pair_t *q = start; q < p && !dup; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp(scalar(k2), key)) {
                char path[160];
                snprintf(path, sizeof path, "%s%s%.100s", sec == SEC_TOP ? "" : sec_names[sec],
                         sec == SEC_TOP ? "" : ".", key);
                report(x, &kn->start_mark, path, "duplicate key (first given at line %d)",
                       (int)k2->start_mark.line + 1);
                dup = 1;
            }
        }
        if (dup)
            continue;
        int s = sec == SEC_TOP ? find_section(key) : -1;
        if (s > 0) {
            walk_section(x, c, doc, s, kn, vn);
            continue;
        }
        int f = find_field(sec, key);
        if (f < 0) {
            report_unknown(x, sec, kn);
            continue;
        }
        x->field_seen[f] = 1;
        x->field_mark[f] = vn->start_mark;
        set_field(x, c, f, doc, vn);
    }
}

/* ---------------------------------------------------------------- checks */

/* Where to point for a problem with field f: the value, else its section, else
 * the top of the file. */
static const yaml_mark_t *mark_of(const ctx_t *x, int f)
{
    if (!x->have_marks)
        return NULL;
    if (x->field_seen[f])
        return &x->field_mark[f];
    if (x->sec_seen[fields[f].sec])
        return &x->sec_mark[fields[f].sec];
    return &x->root_mark;
}

static void fmt_real(double v, char *buf, size_t len);

static void check_range(ctx_t *x, const campaign_t *c, int f)
{
    const field_t *fd = &fields[f];
    if (!fd->range)
        return;
    double v = fd->type == T_REAL ? *CFIELD(c, f, double) : (double)*CFIELD(c, f, int64_t);
    int ok = (!(fd->range & R_GE) || v >= fd->lo) && (!(fd->range & R_GT) || v > fd->lo) &&
             (!(fd->range & R_LE) || v <= fd->hi) && (!(fd->range & R_LT) || v < fd->hi);
    if (ok)
        return;
    char key[128], got[40], lo[40], hi[40], want[128];
    field_path(f, key, sizeof key);
    if (fd->type == T_REAL)
        fmt_real(v, got, sizeof got);
    else
        snprintf(got, sizeof got, "%" PRId64, *CFIELD(c, f, int64_t));
    fmt_real(fd->lo, lo, sizeof lo);
    fmt_real(fd->hi, hi, sizeof hi);
    if (!(fd->range & (R_LE | R_LT)))
        snprintf(want, sizeof want, "must be %s %s", fd->range & R_GT ? ">" : ">=", lo);
    else
        snprintf(want, sizeof want, "must be in %c%s, %s%c", fd->range & R_GT ? '(' : '[', lo,
                 hi, fd->range & R_LT ? ')' : ']');
    report(x, mark_of(x, f), key, "%s, got %s", want, got);
}

static int is_missing(const campaign_t *c, int f)
{
    switch (fields[f].type) {
    case T_STR: return *CFIELD(c, f, char *) == NULL;
    case T_LIST: return CFIELD(c, f, campaign_strlist_t)->n == 0;
    case T_ENUM: return *CFIELD(c, f, int) < 0;
    default: return 0;
    }
}

static void check_required(ctx_t *x, const campaign_t *c)
{
    /* A missing data section is one problem, not one per key in it. */
    int data_absent = x->have_marks && !x->sec_seen[SEC_DATA];
    if (data_absent)
        report(x, &x->root_mark, "data", "required section is missing");
    for (int f = 0; f < F_COUNT; f++) {
        if (!fields[f].required || (x->have_marks && x->field_seen[f]))
            continue; /* given: a bad value has been reported already */
        if (data_absent && fields[f].sec == SEC_DATA)
            continue;
        if (is_missing(c, f)) {
            char key[128];
            report(x, mark_of(x, f), field_path(f, key, sizeof key), "required key is missing");
        }
    }
}

/* Rules between keys. */
static void check_rules(ctx_t *x, const campaign_t *c)
{
    if (c->data.format == CAMPAIGN_DATA_CIFAR10 && c->data.files.n > 1)
        report(x, mark_of(x, F_DATA_FILES), "data.files",
               "format cifar10 takes exactly one file, got %d", c->data.files.n);
    if (c->data.format == CAMPAIGN_DATA_HGCAL && c->data.labels)
        report(x, mark_of(x, F_DATA_LABELS), "data.labels",
               "only used with format cifar10 (HGCal has no labels)");
    if (c->data.count == CAMPAIGN_COUNT_ALL && c->data.format == CAMPAIGN_DATA_HGCAL)
        report(x, mark_of(x, F_DATA_COUNT), "data.count",
               "'all' is only for format cifar10; give a number of samples");
    else if (c->data.count <= 0 && c->data.count != CAMPAIGN_COUNT_ALL &&
             c->data.count != CAMPAIGN_COUNT_DEFAULT)
        report(x, mark_of(x, F_DATA_COUNT), "data.count", "must be > 0 or 'all', got %" PRId64,
               c->data.count);

    if (c->kind == CAMPAIGN_GUIDED && c->guided.order == GUIDED_ORDER_RANKING && !c->guided.ranking)
        report(x, mark_of(x, x->have_marks && x->field_seen[F_GUIDED_ORDER] ? F_GUIDED_ORDER
                                                                           : F_GUIDED_RANKING),
               "guided.ranking", "required when guided.order is 'ranking'");
    if (c->kind == CAMPAIGN_MULTIBIT && c->multibit.cross_section > 0 &&
        !(c->multibit.flux > 0 && c->multibit.exposure > 0))
        report(x, mark_of(x, F_MB_CROSS_SECTION), "multibit.cross_section",
               "needs multibit.flux and multibit.exposure > 0 (the upset rate is their product)");
    if (c->kind == CAMPAIGN_MULTIBIT && c->multibit.cross_section * c->multibit.flux *
                                                c->multibit.exposure > 1.0)
        report(x, mark_of(x, F_MB_CROSS_SECTION), "multibit.cross_section",
               "cross_section * flux * exposure = %g upsets per bit per trial; above 1 every bit "
               "is hit: not a rate this model describes",
               c->multibit.cross_section * c->multibit.flux * c->multibit.exposure);
    if (c->kind == CAMPAIGN_MULTIBIT && c->multibit.protection == PROTECT_LIST &&
        !c->multibit.protect_list)
        report(x, mark_of(x, F_MB_PROTECTION), "multibit.protect_list",
               "required when multibit.protection is 'list'");
    if (c->kind == CAMPAIGN_MULTIBIT && !c->multibit.oracle &&
        c->multibit.protection != PROTECT_NONE && c->multibit.protection != PROTECT_ALL &&
        c->multibit.protection != PROTECT_LIST)
        report(x, mark_of(x, x->have_marks && x->field_seen[F_MB_PROTECTION] ? F_MB_PROTECTION
                                                                            : F_MB_ORACLE),
               "multibit.oracle", "required when multibit.protection is '%s'",
               protection_name(c->multibit.protection));
}

static void check_all(ctx_t *x, const campaign_t *c)
{
    check_required(x, c);
    for (int f = 0; f < F_COUNT; f++)
        check_range(x, c, f);
    check_rules(x, c);
}

/* A section for another kind than `kind`. */
static void check_sections(ctx_t *x, const campaign_t *c)
{
    if (!x->kind_read)
        return;
    for (int s = 1; s < SEC_COUNT; s++)
        if (x->sec_seen[s] && sec_kind[s] >= 0 && sec_kind[s] != (int)c->kind)
            report(x, &x->sec_mark[s], sec_names[s], "section '%s' given but kind is '%s'",
                   sec_names[s], campaign_kind_name(c->kind));
}

/* ---------------------------------------------------------------- loading */

static void report_yaml_error(ctx_t *x, const yaml_parser_t *p)
{
    x->have_marks = 1;
    if (p->error == YAML_MEMORY_ERROR) {
        x->oom = 1;
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* the reader knows only a byte offset: count lines and characters up to it */
        yaml_mark_t m = {p->problem_offset, 0, 0};
        for (size_t i = 0; x->text && i < p->problem_offset && i < x->text_len; i++) {
            if (x->text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else if (((unsigned char)x->text[i] & 0xC0) != 0x80) { /* not a continuation */
                m.column++;
            }
        }
        report(x, x->text ? &m : NULL, "", "YAML: %s (byte %zu)",
               p->problem ? p->problem : "read error", p->problem_offset);
        return;
    }
    char ctx[160] = "";
    if (p->context)
        snprintf(ctx, sizeof ctx, " (%s at line %d, column %d)", p->context,
                 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    report(x, &p->problem_mark, "", "YAML syntax error: %s%s",
           p->problem ? p->problem : "malformed YAML", ctx);
}

/* Parses text into c, recording problems in x. */
static void load_text(ctx_t *x, campaign_t *c, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    x->have_marks = 1;
    x->text = text;
    x->text_len = len;
    if (!yaml_parser_initialize(&parser)) {
        x->oom = 1;
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        report_yaml_error(x, &parser);
        yaml_parser_delete(&parser);
        return;
    }
    /* `!!str 50` loads exactly like `50` (libyaml gives both the default str tag): mark
     * scalars written with an explicit tag as quoted, so they are never read as numbers */
    for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            n->start_mark.index < len && text[n->start_mark.index] == '!')
            n->data.scalar.style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        report(x, NULL, "", "the file is empty; a campaign needs at least name, model, data, "
                            "kind and output");
    } else if (root->type != YAML_MAPPING_NODE) {
        char got[128];
        describe(root, got, sizeof got);
        report(x, &root->start_mark, "(top level)", "expected a map of keys, got %s", got);
    } else {
        x->root_mark = root->start_mark;
        x->sec_seen[SEC_TOP] = 1;
        x->sec_mark[SEC_TOP] = root->start_mark;
        walk_map(x, c, &doc, root, SEC_TOP);
        c->file_sections = 0;
        for (int sec = 1; sec < SEC_COUNT; sec++)
            c->file_sections |= x->sec_seen[sec] ? 1u << sec : 0;
        check_sections(x, c);
        /* data.count's default is resolved by campaign_validate, after the
         * overrides: --set data.format=... must still change it. */
        check_all(x, c);
    }
    yaml_document_delete(&doc);

    /* One campaign per file: a second document is a mistake. */
    if (root && yaml_parser_load(&parser, &doc)) {
        if (yaml_document_get_root_node(&doc))
            report(x, &doc.start_mark, "", "a second YAML document; give one campaign per file");
        yaml_document_delete(&doc);
    } else if (root) {
        report_yaml_error(x, &parser);
    }
    yaml_parser_delete(&parser);
}

int campaign_load_yaml_string(campaign_t *c, const char *yaml, size_t len, const char *name,
                              upset_err_t *err)
{
    ctx_t x;
    ctx_init(&x, name ? name : "campaign");
    char *src = name ? strdup(name) : NULL;
    if (src) {
        free(c->source);
        c->source = src;
    }
    load_text(&x, c, yaml, len);
    int rc = ctx_finish(&x, err);
    ctx_free(&x);
    return rc;
}

#define MAX_CONFIG_BYTES (16u << 20)

/* Reads a whole file; NULL with err on failure. */
static char *read_file(const char *path, size_t *len, upset_err_t *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        upset_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_CONFIG_BYTES) {
                upset_fail(err, "%s: larger than %u bytes; not a campaign file", path,
                           MAX_CONFIG_BYTES);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) {
                upset_fail(err, "%s: cannot read: %s", path, strerror(errno));
                break;
            }
            fclose(fp);
            *len = n;
            return buf;
        }
    }
    if (!buf)
        upset_fail(err, "%s: out of memory reading the file", path);
    free(buf);
    fclose(fp);
    return NULL;
}

int campaign_load_yaml(campaign_t *c, const char *path, upset_err_t *err)
{
    size_t len = 0;
    char *text = read_file(path, &len, err);
    if (!text)
        return -1;
    int rc = campaign_load_yaml_string(c, text, len, path, err);
    free(text);
    return rc;
}

/* ------------------------------------------------------ overrides, validate */

static const char *source_name(const campaign_t *c) { return c->source ? c->source : "campaign"; }

/* One "key=value": the value is parsed as YAML and set like a key in the file. */
static void apply_set(ctx_t *x, campaign_t *c, const char *item)
{
    const char *eq = strchr(item, '=');
    char key[160];
    if (!eq || eq == item || (size_t)(eq - item) >= sizeof key) {
        report(x, NULL, "", "override '%.100s': expected key=value", item);
        return;
    }
    memcpy(key, item, (size_t)(eq - item));
    key[eq - item] = '\0';
    const char *dot = strchr(key, '.');
    int sec = SEC_TOP;
    const char *name = key;
    if (dot) {
        char sname[64];
        snprintf(sname, sizeof sname, "%.*s", (int)(dot - key), key);
        sec = find_section(sname);
        name = dot + 1;
    }
    int f = sec >= 0 ? find_field(sec, name) : -1;
    if (f < 0) {
        char paths[F_COUNT][128];
        const char *cand[F_COUNT];
        for (int i = 0; i < F_COUNT; i++)
            cand[i] = field_path(i, paths[i], sizeof paths[i]);
        const char *near = nearest(key, cand, F_COUNT);
        report(x, NULL, key, "unknown key%s%s%s", near ? " (did you mean '" : "",
               near ? near : "", near ? "'?)" : "");
        return;
    }
    if (sec_kind[sec] >= 0 && sec_kind[sec] != (int)c->kind) {
        report(x, NULL, key, "section '%s' given but kind is '%s'", sec_names[sec],
               campaign_kind_name(c->kind));
        return;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        x->oom = 1;
        return;
    }
    const char *val = eq + 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)val, strlen(val));
    if (!yaml_parser_load(&parser, &doc)) {
        report(x, NULL, key, "cannot read the value '%.100s' as YAML: %s", val,
               parser.problem ? parser.problem : "malformed");
        yaml_parser_delete(&parser);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        set_field(x, c, f, &doc, root);
    } else if (fields[f].type == T_STR && !fields[f].required) {
        free(*FIELD(c, f, char *)); /* "key=" clears an optional path */
        *FIELD(c, f, char *) = NULL;
    } else {
        report(x, NULL, key, "empty value");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}

int campaign_apply_overrides(campaign_t *c, const campaign_overrides_t *o, upset_err_t *err)
{
    ctx_t x;
    ctx_init(&x, "override");
    if (o->output) {
        char *s = strdup(o->output);
        if (!s)
            return upset_fail(err, "out of memory");
        free(c->output);
        c->output = s;
    }
    if (o->quiet >= 0)
        c->quiet = o->quiet != 0;
    for (const char *const *s = o->set; s && *s; s++)
        apply_set(&x, c, *s);
    /* --set kind=...: the file's section of its old kind would be dropped silently */
    for (int sec = 1; sec < SEC_COUNT; sec++)
        if ((c->file_sections >> sec & 1) && sec_kind[sec] >= 0 && sec_kind[sec] != (int)c->kind)
            report(&x, NULL, "kind",
                   "%s has a '%s' section, which kind '%s' does not use; remove the section or "
                   "the override",
                   source_name(c), sec_names[sec], campaign_kind_name(c->kind));
    int rc = ctx_finish(&x, err);
    ctx_free(&x);
    return rc;
}

int campaign_validate(campaign_t *c, upset_err_t *err)
{
    ctx_t x;
    ctx_init(&x, source_name(c));
    resolve_defaults(c);
    check_all(&x, c);
    int rc = ctx_finish(&x, err);
    ctx_free(&x);
    return rc;
}

/* ------------------------------------------------------------------- dump */

/* The shortest decimal that reads back to exactly v. */
static void fmt_real(double v, char *buf, size_t len)
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

typedef struct {
    char *buf;
    size_t len, cap;
} sink_t;

static int sink_write(void *data, unsigned char *bytes, size_t size)
{
    sink_t *s = data;
    if (s->len + size + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (s->len + size + 1 > cap)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, bytes, size);
    s->len += size;
    s->buf[s->len] = '\0';
    return 1;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int ok)
{
    return ok && yaml_emitter_emit(em, ev);
}

/* A scalar; strings that YAML would read as null are quoted so they stay strings. */
static int emit_scalar(yaml_emitter_t *em, const char *s, int is_string)
{
    yaml_event_t ev;
    int nullish = !s[0] || !strcmp(s, "~") || !strcasecmp(s, "null");
    yaml_scalar_style_t style = is_string && nullish ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                : is_string          ? YAML_ANY_SCALAR_STYLE
                                                     : YAML_PLAIN_SCALAR_STYLE;
    return emit(em, &ev,
                yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s,
                                             (int)strlen(s), 1, 1, style));
}

static int emit_map_start(yaml_emitter_t *em)
{
    yaml_event_t ev;
    return emit(em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                             YAML_BLOCK_MAPPING_STYLE));
}

static int emit_map_end(yaml_emitter_t *em)
{
    yaml_event_t ev;
    return emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

/* key: value for field f; optional strings and lists that are unset are left out. */
static int emit_field(yaml_emitter_t *em, const campaign_t *c, int f)
{
    char num[64];
    const char *val = num;
    switch (fields[f].type) {
    case T_STR:
        val = *CFIELD(c, f, char *);
        if (!val)
            return 1;
        return emit_scalar(em, fields[f].key, 0) && emit_scalar(em, val, 1);
    case T_LIST: {
        const campaign_strlist_t *l = CFIELD(c, f, campaign_strlist_t);
        if (l->n == 0)
            return 1;
        yaml_event_t ev;
        int ok = emit_scalar(em, fields[f].key, 0) &&
                 emit(em, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                                    YAML_FLOW_SEQUENCE_STYLE));
        for (int i = 0; ok && i < l->n; i++)
            ok = emit_scalar(em, l->v[i], 1);
        return ok && emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
    }
    case T_INT: snprintf(num, sizeof num, "%" PRId64, *CFIELD(c, f, int64_t)); break;
    case T_COUNT: {
        int64_t v = *CFIELD(c, f, int64_t);
        if (v == CAMPAIGN_COUNT_DEFAULT)
            return 1; /* format unknown: leave the default to the reader */
        if (v == CAMPAIGN_COUNT_ALL)
            val = "all";
        else
            snprintf(num, sizeof num, "%" PRId64, v);
        break;
    }
    case T_U64: snprintf(num, sizeof num, "%" PRIu64, *CFIELD(c, f, uint64_t)); break;
    case T_REAL: fmt_real(*CFIELD(c, f, double), num, sizeof num); break;
    case T_BOOL: val = *CFIELD(c, f, int) ? "true" : "false"; break;
    case T_ENUM: {
        int v = *CFIELD(c, f, int);
        if (v < 0)
            return 1;
        val = enum_name(fields[f].names, v);
        break;
    }
    }
    return emit_scalar(em, fields[f].key, 0) && emit_scalar(em, val, 0);
}

static int emit_section(yaml_emitter_t *em, const campaign_t *c, int sec)
{
    int ok = emit_scalar(em, sec_names[sec], 0) && emit_map_start(em);
    for (int f = 0; ok && f < F_COUNT; f++)
        if (fields[f].sec == sec)
            ok = emit_field(em, c, f);
    return ok && emit_map_end(em);
}

static int emit_campaign(yaml_emitter_t *em, const campaign_t *c)
{
    yaml_event_t ev;
    int ok = emit(em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) &&
             emit(em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) &&
             emit_map_start(em);
    int data_done = 0;
    for (int f = 0; ok && f < F_COUNT; f++) {
        if (fields[f].sec == SEC_TOP) {
            ok = emit_field(em, c, f);
        } else if (fields[f].sec == SEC_DATA && !data_done) {
            ok = emit_section(em, c, SEC_DATA);
            data_done = 1;
        }
    }
    for (int s = 1; ok && s < SEC_COUNT; s++)
        if (sec_kind[s] >= 0 && sec_kind[s] == (int)c->kind)
            ok = emit_section(em, c, s);
    return ok && emit_map_end(em) &&
           emit(em, &ev, yaml_document_end_event_initialize(&ev, 1)) &&
           emit(em, &ev, yaml_stream_end_event_initialize(&ev));
}

int campaign_dump(const campaign_t *c, char **yaml_out)
{
    sink_t s = {NULL, 0, 0};
    const char *head = "# upset campaign, resolved (every default written out)\n";
    yaml_emitter_t em;
    *yaml_out = NULL;
    if (!sink_write(&s, (unsigned char *)head, strlen(head)) || !yaml_emitter_initialize(&em)) {
        free(s.buf);
        return -1;
    }
    yaml_emitter_set_output(&em, sink_write, &s);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* never fold long paths */
    int ok = emit_campaign(&em, c) && yaml_emitter_flush(&em);
    yaml_emitter_delete(&em);
    if (!ok) {
        free(s.buf);
        return -1;
    }
    *yaml_out = s.buf;
    return 0;
}

/* ---------------------------------------------------------- serialisation */

#define SER_MAGIC 0x43505355u /* "USPC" little-endian */
#define SER_VERSION 1u
#define SER_NULL 0xffffffffu

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int oom;
} wbuf_t;

static void put(wbuf_t *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 512;
        while (w->len + n > cap)
            cap *= 2;
        unsigned char *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = 1;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

/* Fixed-width little-endian, so the buffer means the same on every rank. */
static void put_u64(wbuf_t *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 8);
}

static void put_u32(wbuf_t *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 4);
}

static void put_str(wbuf_t *w, const char *s)
{
    if (!s) {
        put_u32(w, SER_NULL);
        return;
    }
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

int campaign_serialize(const campaign_t *c, unsigned char **buf, size_t *len, upset_err_t *err)
{
    wbuf_t w = {NULL, 0, 0, 0};
    put_u32(&w, SER_MAGIC);
    put_u32(&w, SER_VERSION);
    put_u32(&w, F_COUNT);
    for (int f = 0; f < F_COUNT; f++) {
        switch (fields[f].type) {
        case T_STR: put_str(&w, *CFIELD(c, f, char *)); break;
        case T_LIST: {
            const campaign_strlist_t *l = CFIELD(c, f, campaign_strlist_t);
            put_u32(&w, (uint32_t)l->n);
            for (int i = 0; i < l->n; i++)
                put_str(&w, l->v[i]);
            break;
        }
        case T_INT:
        case T_COUNT: put_u64(&w, (uint64_t)*CFIELD(c, f, int64_t)); break;
        case T_U64: put_u64(&w, *CFIELD(c, f, uint64_t)); break;
        case T_REAL: {
            uint64_t bits;
            memcpy(&bits, CFIELD(c, f, double), 8);
            put_u64(&w, bits);
            break;
        }
        case T_BOOL:
        case T_ENUM: put_u32(&w, (uint32_t)*CFIELD(c, f, int)); break;
        }
    }
    put_str(&w, c->source);
    put_u32(&w, (uint32_t)c->quiet);
    if (w.oom) {
        free(w.buf);
        return upset_fail(err, "out of memory serialising the campaign");
    }
    *buf = w.buf;
    *len = w.len;
    return 0;
}

typedef struct {
    const unsigned char *p;
    size_t len, at;
    int bad;
} rbuf_t;

static uint64_t get_le(rbuf_t *r, int bytes)
{
    if (r->bad || r->len - r->at < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->at + i] << (8 * i);
    r->at += (size_t)bytes;
    return v;
}

/* A string or NULL; *ok = 0 on a short buffer or out of memory. */
static char *get_str(rbuf_t *r)
{
    uint32_t n = (uint32_t)get_le(r, 4);
    if (r->bad || n == SER_NULL)
        return NULL;
    if (r->len - r->at < n) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p + r->at, n);
    s[n] = '\0';
    r->at += n;
    return s;
}

static void get_field(rbuf_t *r, campaign_t *c, int f)
{
    switch (fields[f].type) {
    case T_STR: *FIELD(c, f, char *) = get_str(r); break;
    case T_LIST: {
        uint32_t n = (uint32_t)get_le(r, 4);
        if (r->bad || n > (r->len - r->at) / 4) {
            r->bad = 1;
            return;
        }
        campaign_strlist_t *l = FIELD(c, f, campaign_strlist_t);
        l->v = n ? calloc(n, sizeof(char *)) : NULL;
        if (n && !l->v) {
            r->bad = 1;
            return;
        }
        for (uint32_t i = 0; i < n && !r->bad; i++) {
            l->v[i] = get_str(r);
            l->n = (int)i + 1;
            if (!l->v[i])
                r->bad = 1;
        }
        break;
    }
    case T_INT:
    case T_COUNT: *FIELD(c, f, int64_t) = (int64_t)get_le(r, 8); break;
    case T_U64: *FIELD(c, f, uint64_t) = get_le(r, 8); break;
    case T_REAL: {
        uint64_t bits = get_le(r, 8);
        memcpy(FIELD(c, f, double), &bits, 8);
        break;
    }
    case T_BOOL: *FIELD(c, f, int) = (int)(int32_t)get_le(r, 4); break;
    case T_ENUM: {
        int v = (int)(int32_t)get_le(r, 4);
        if (v < -1 || v >= enum_count(fields[f].names))
            r->bad = 1;
        *FIELD(c, f, int) = v;
        break;
    }
    }
}

int campaign_deserialize(campaign_t *c, const unsigned char *buf, size_t len, upset_err_t *err)
{
    rbuf_t r = {buf, len, 0, 0};
    campaign_defaults(c);
    if (get_le(&r, 4) != SER_MAGIC || get_le(&r, 4) != SER_VERSION ||
        get_le(&r, 4) != F_COUNT)
        return upset_fail(err, "campaign buffer: not a serialised campaign of this version");
    for (int f = 0; f < F_COUNT && !r.bad; f++)
        get_field(&r, c, f);
    c->source = get_str(&r);
    c->quiet = (int)(int32_t)get_le(&r, 4);
    if (r.bad || r.at != len) {
        campaign_free(c);
        return upset_fail(err, "campaign buffer: truncated or corrupt (%zu bytes, read %zu)",
                          len, r.at);
    }
    return 0;
}

/* ---------------------------------------------------------------- equality */

static int str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int campaign_equal(const campaign_t *a, const campaign_t *b)
{
    for (int f = 0; f < F_COUNT; f++) {
        int owner = sec_kind[fields[f].sec];
        if (owner >= 0 && owner != (int)a->kind)
            continue; /* F_KIND comes first: a->kind == b->kind here */
        int eq = 1;
        switch (fields[f].type) {
        case T_STR: eq = str_eq(*CFIELD(a, f, char *), *CFIELD(b, f, char *)); break;
        case T_LIST: {
            const campaign_strlist_t *la = CFIELD(a, f, campaign_strlist_t);
            const campaign_strlist_t *lb = CFIELD(b, f, campaign_strlist_t);
            eq = la->n == lb->n;
            for (int i = 0; eq && i < la->n; i++)
                eq = str_eq(la->v[i], lb->v[i]);
            break;
        }
        case T_INT:
        case T_COUNT: eq = *CFIELD(a, f, int64_t) == *CFIELD(b, f, int64_t); break;
        case T_U64: eq = *CFIELD(a, f, uint64_t) == *CFIELD(b, f, uint64_t); break;
        case T_REAL: eq = !memcmp(CFIELD(a, f, double), CFIELD(b, f, double), sizeof(double)); break;
        case T_BOOL: eq = !*CFIELD(a, f, int) == !*CFIELD(b, f, int); break;
        case T_ENUM: eq = *CFIELD(a, f, int) == *CFIELD(b, f, int); break;
        }
        if (!eq)
            return 0;
    }
    return 1;
}
