/* Campaign files: YAML -> campaign_t, overrides and validation (config_schema.h).
 *
 * Parsing uses libyaml's document API (the whole tree, with marks), and never stops at
 * the first problem: each one becomes a line "file:line:col: key: what" and all of them
 * are reported together, sorted by position. Rules between keys are written out in
 * check_rules(). */
#include "config_schema.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

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

/* Digits with a leading zero ("010", "-07"): decimal here, but octal to a YAML 1.1 reader
 * (PyYAML reads 010 as 8), so the number meant is unclear: refused (-4). */
static int octal_like(const char *s)
{
    s += (s[0] == '-' || s[0] == '+');
    if (s[0] != '0' || !s[1])
        return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static int parse_i64(const char *s, int64_t *out)
{
    const char *digits = s + (s[0] == '-' || s[0] == '+');
    if (!digits[0]) /* "", "-" and "+" are not numbers */
        return -1;
    for (const char *p = digits; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    if (octal_like(s))
        return -4;
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
        int64_t v = 0;
        int rc = parse_i64(s, &v);
        if (rc == 0 && v == 0) { /* -0 is 0, as for the signed keys */
            *out = 0;
            return 0;
        }
        return rc == -1 || rc == -4 ? rc : -3; /* a negative number, or not one at all */
    }
    const char *digits = s + (s[0] == '+');
    if (!digits[0])
        return -1;
    for (const char *p = digits; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    if (octal_like(s))
        return -4;
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
    if (octal_like(s)) /* a YAML 1.1 octal integer; 0.5 and 00.5 are not */
        return -4;
    /* strtod also takes hex, inf and nan: accept only decimal notation. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s)
        return -1;
    /* underflow is not out of range: strtod gives the subnormal (or 0) nearest */
    if ((errno == ERANGE && !(fabs(v) <= DBL_MIN)) || !isfinite(v))
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

/* A scalar holding a NUL ("\0" in a double-quoted string): C would read it as cut there. */
static int has_nul(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && strlen(scalar(n)) != n->data.scalar.length;
}

static char *dup_scalar(ctx_t *x, const yaml_node_t *n, const char *key)
{
    if (has_nul(n)) {
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
    if (n->type != YAML_SCALAR_NODE || (is_null(n) && campaign_fields[f].required)) {
        describe(n, got, sizeof got);
        report(x, &n->start_mark, key, "expected a string, got %s", got);
        return;
    }
    if (campaign_fields[f].required && !scalar(n)[0]) {
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
    if (is_null(n) && !campaign_fields[f].required) {
        config_strlist_free(dst);
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
               campaign_fields[f].required ? "; give at least one" : "; leave the key out for all");
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
        config_strlist_free(&l);
        return;
    }
    config_strlist_free(dst);
    *dst = l;
}

static void set_number(ctx_t *x, campaign_t *c, int f, const yaml_node_t *n, const char *key)
{
    char got[128];
    const char *want = campaign_fields[f].type == T_REAL  ? "a number"
                       : campaign_fields[f].type == T_U64 ? "an unsigned integer"
                       : campaign_fields[f].type == T_COUNT ? "an integer or 'all'"
                                                   : "an integer";
    if (campaign_fields[f].type == T_COUNT && n->type == YAML_SCALAR_NODE &&
        !strcmp(scalar(n), "all")) {
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
    if (campaign_fields[f].type == T_COUNT) {
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
        switch (campaign_fields[f].type) {
        case T_REAL: rc = parse_real(s, FIELD(c, f, double)); break;
        case T_U64: rc = parse_u64(s, FIELD(c, f, uint64_t)); break;
        default: rc = parse_i64(s, FIELD(c, f, int64_t)); break;
        }
    }
    if (rc == -2)
        report(x, &n->start_mark, key, "'%.60s' is out of range", s);
    else if (rc == -4)
        report(x, &n->start_mark, key,
               "'%.60s' has a leading zero, which YAML 1.1 reads as octal; write the decimal "
               "number without it", s);
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
    const char *const *names = campaign_fields[f].names;
    int k = config_enum_count(names);
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
    config_field_path(f, key, sizeof key);
    /* every value, not only strings: "oracle\0x" must not read as the kind oracle */
    if (has_nul(n)) {
        report(x, &n->start_mark, key, "value contains a NUL character");
        return;
    }
    switch (campaign_fields[f].type) {
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
        if (campaign_fields[f].sec == sec && !strcmp(campaign_fields[f].key, key))
            return f;
    return -1;
}

static int find_section(const char *key)
{
    for (int s = 1; s < SEC_COUNT; s++)
        if (!strcmp(campaign_sec_names[s], key))
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
        snprintf(path, sizeof path, "%s.%.100s", campaign_sec_names[sec], key);

    const char *cand[F_COUNT + SEC_COUNT];
    int n = 0;
    for (int f = 0; f < F_COUNT; f++)
        if (campaign_fields[f].sec == sec)
            cand[n++] = campaign_fields[f].key;
    if (sec == SEC_TOP)
        for (int s = 1; s < SEC_COUNT; s++)
            cand[n++] = campaign_sec_names[s];
    if (n == 0) {
        report(x, &kn->start_mark, path, "unknown key (section '%s' takes no keys)",
               campaign_sec_names[sec]);
        return;
    }
    /* A key written in the wrong section: say where it belongs. */
    for (int f = 0; f < F_COUNT; f++)
        if (campaign_fields[f].sec != sec && !strcmp(campaign_fields[f].key, key)) {
            char right[128];
            report(x, &kn->start_mark, path, "unknown key here (did you mean '%s'?)",
                   config_field_path(f, right, sizeof right));
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

static void walk_map(ctx_t *x, campaign_t *c, yaml_document_t *doc, const yaml_node_t *map,
                     int sec);

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
        report(x, &vn->start_mark, campaign_sec_names[s], "expected a map of keys, got %s", got);
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
        const char *where = sec == SEC_TOP ? "(top level)" : campaign_sec_names[sec];
        if (kn->type != YAML_SCALAR_NODE || is_null(kn)) {
            char got[128];
            describe(kn, got, sizeof got);
            report(x, &kn->start_mark, where, "a key must be a name, got %s", got);
            continue;
        }
        if (has_nul(kn)) { /* "seed\0x" must not read as seed */
            report(x, &kn->start_mark, where, "a key must be a name, got one with a NUL "
                                              "character");
            continue;
        }
        const char *key = scalar(kn);
        int dup = 0;
        for (const yaml_node_pair_t *q = start; q < p && !dup; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp(scalar(k2), key)) {
                char path[160];
                snprintf(path, sizeof path, "%s%s%.100s",
                         sec == SEC_TOP ? "" : campaign_sec_names[sec], sec == SEC_TOP ? "" : ".",
                         key);
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
        c->key_line[f] = (int)vn->start_mark.line + 1; /* for campaign_key_where */
        c->key_col[f] = (int)vn->start_mark.column + 1;
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
    if (x->sec_seen[campaign_fields[f].sec])
        return &x->sec_mark[campaign_fields[f].sec];
    return &x->root_mark;
}

static void check_range(ctx_t *x, const campaign_t *c, int f)
{
    const field_t *fd = &campaign_fields[f];
    if (!fd->range)
        return;
    double v = fd->type == T_REAL ? *CFIELD(c, f, double) : (double)*CFIELD(c, f, int64_t);
    int ok = (!(fd->range & R_GE) || v >= fd->lo) && (!(fd->range & R_GT) || v > fd->lo) &&
             (!(fd->range & R_LE) || v <= fd->hi) && (!(fd->range & R_LT) || v < fd->hi);
    if (ok)
        return;
    char key[128], got[40], lo[40], hi[40], want[128];
    config_field_path(f, key, sizeof key);
    if (fd->type == T_REAL)
        config_fmt_real(v, got, sizeof got);
    else
        snprintf(got, sizeof got, "%" PRId64, *CFIELD(c, f, int64_t));
    config_fmt_real(fd->lo, lo, sizeof lo);
    config_fmt_real(fd->hi, hi, sizeof hi);
    if (!(fd->range & (R_LE | R_LT)))
        snprintf(want, sizeof want, "must be %s %s", fd->range & R_GT ? ">" : ">=", lo);
    else
        snprintf(want, sizeof want, "must be in %c%s, %s%c", fd->range & R_GT ? '(' : '[', lo,
                 hi, fd->range & R_LT ? ')' : ']');
    report(x, mark_of(x, f), key, "%s, got %s", want, got);
}

static int is_missing(const campaign_t *c, int f)
{
    switch (campaign_fields[f].type) {
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
        if (!campaign_fields[f].required || (x->have_marks && x->field_seen[f]))
            continue; /* given: a bad value has been reported already */
        if (data_absent && campaign_fields[f].sec == SEC_DATA)
            continue;
        if (is_missing(c, f)) {
            char key[128];
            report(x, mark_of(x, f), config_field_path(f, key, sizeof key),
                   "required key is missing");
        }
    }
}

/* Rules between keys. */
static void check_rules(ctx_t *x, const campaign_t *c)
{
    if (c->data.format != CAMPAIGN_DATA_HGCAL && c->data.files.n > 1)
        report(x, mark_of(x, F_DATA_FILES), "data.files", "format %s takes exactly one file, got %d",
               campaign_data_format_name(c->data.format), c->data.files.n);
    if (c->data.format != CAMPAIGN_DATA_CIFAR10 && c->data.labels)
        report(x, mark_of(x, F_DATA_LABELS), "data.labels",
               "only used with format cifar10 (hdf5 keeps its labels in /y; HGCal has none)");
    if (c->data.count == CAMPAIGN_COUNT_ALL && c->data.format == CAMPAIGN_DATA_HGCAL)
        report(x, mark_of(x, F_DATA_COUNT), "data.count",
               "'all' is only for formats cifar10 and hdf5; give a number of samples");
    else if (c->data.count <= 0 && c->data.count != CAMPAIGN_COUNT_ALL &&
             c->data.count != CAMPAIGN_COUNT_DEFAULT)
        report(x, mark_of(x, F_DATA_COUNT), "data.count", "must be > 0 or 'all', got %" PRId64,
               c->data.count);

    /* needs no model: refused here, where the message can point at the key */
    if (c->include_bias && c->kind != CAMPAIGN_KIND_UNSET && !campaign_kind_takes_bias(c->kind))
        report(x, mark_of(x, F_INCLUDE_BIAS), "include_bias",
               "%s campaigns fault kernels only (oracle, guided, multibit and rank take bias "
               "bits)",
               campaign_kind_name(c->kind));
    if (c->kind == CAMPAIGN_GUIDED && c->guided.order == GUIDED_ORDER_RANKING && !c->guided.ranking)
        report(x, mark_of(x, x->have_marks && x->field_seen[F_GUIDED_ORDER] ? F_GUIDED_ORDER
                                                                           : F_GUIDED_RANKING),
               "guided.ranking", "required when guided.order is 'ranking'");
    /* a ranking under another order would be neither read nor checked: the run would
     * flip bits in MSB->LSB or random order under a YAML that names the ranking */
    if (c->kind == CAMPAIGN_GUIDED && c->guided.order != GUIDED_ORDER_RANKING && c->guided.ranking)
        report(x, mark_of(x, F_GUIDED_RANKING), "guided.ranking",
               "only used with guided.order 'ranking', and order is '%s'",
               guided_order_name(c->guided.order));
    if (c->kind == CAMPAIGN_MULTIBIT && c->multibit.cross_section > 0 &&
        !(c->multibit.flux > 0 && c->multibit.exposure > 0))
        report(x, mark_of(x, F_MB_CROSS_SECTION), "multibit.cross_section",
               "needs multibit.flux and multibit.exposure > 0 (the upset rate is their product)");
    /* an environment without its cross-section would silently draw `flips` cells */
    if (c->kind == CAMPAIGN_MULTIBIT && !(c->multibit.cross_section > 0) &&
        (c->multibit.flux > 0 || c->multibit.exposure > 0))
        report(x, mark_of(x, c->multibit.flux > 0 ? F_MB_FLUX : F_MB_EXPOSURE),
               c->multibit.flux > 0 ? "multibit.flux" : "multibit.exposure",
               "needs multibit.cross_section > 0 (without it each trial draws multibit.flips "
               "cells, not a radiation environment)");
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
    /* a designer's list under another policy would silently protect something else */
    if (c->kind == CAMPAIGN_MULTIBIT && c->multibit.protect_list &&
        c->multibit.protection != PROTECT_LIST)
        report(x, mark_of(x, F_MB_PROTECT_LIST), "multibit.protect_list",
               "only used with multibit.protection 'list', and protection is '%s'",
               protection_name(c->multibit.protection));
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
        if (x->sec_seen[s] && campaign_sec_kind[s] >= 0 && campaign_sec_kind[s] != (int)c->kind)
            report(x, &x->sec_mark[s], campaign_sec_names[s], "section '%s' given but kind is '%s'",
                   campaign_sec_names[s], campaign_kind_name(c->kind));
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

/* `!!str 50` loads exactly like `50` (libyaml gives both the default str tag): marks the
 * scalars of doc (loaded from text) written with an explicit tag as quoted, so they are
 * never read as numbers. A node starts at its first property: a tag may follow an anchor
 * (`&a !!str 50`), past blanks and comments. */
static void mark_tagged(yaml_document_t *doc, const char *text, size_t len)
{
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            continue;
        size_t i = n->start_mark.index;
        if (i < len && text[i] == '&') {
            while (i < len && !strchr(" \t\r\n", text[i]))
                i++;
            while (i < len && strchr(" \t\r\n#", text[i])) {
                if (text[i] == '#')
                    while (i < len && text[i] != '\n')
                        i++;
                else
                    i++;
            }
        }
        if (i < len && text[i] == '!')
            n->data.scalar.style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
    }
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
    mark_tagged(&doc, text, len);
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
        report(x, NULL, "", "'%.100s': expected key=value", item);
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
            cand[i] = config_field_path(i, paths[i], sizeof paths[i]);
        const char *near = nearest(key, cand, F_COUNT);
        report(x, NULL, key, "unknown key%s%s%s", near ? " (did you mean '" : "",
               near ? near : "", near ? "'?)" : "");
        return;
    }
    if (campaign_sec_kind[sec] >= 0 && campaign_sec_kind[sec] != (int)c->kind) {
        report(x, NULL, key, "section '%s' given but kind is '%s'", campaign_sec_names[sec],
               campaign_kind_name(c->kind));
        return;
    }
    c->key_line[f] = c->key_col[f] = 0; /* the file's position no longer holds the value */
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
    yaml_document_t next; /* as in a file, one document: `seed=1\n---\n2` is not 1 */
    const int next_read = yaml_parser_load(&parser, &next);
    const int more = !next_read || yaml_document_get_root_node(&next);
    if (next_read)
        yaml_document_delete(&next);
    if (more) {
        report(x, NULL, key, "the value '%.100s' holds a second YAML document", val);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        return;
    }
    mark_tagged(&doc, val, strlen(val)); /* as in a file: `--set seed='!!str 5'` is a string */
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        set_field(x, c, f, &doc, root);
    } else if (campaign_fields[f].type == T_STR && !campaign_fields[f].required) {
        free(*FIELD(c, f, char *)); /* "key=" clears an optional path */
        *FIELD(c, f, char *) = NULL;
    } else {
        report(x, NULL, key, "empty value");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}

/* Whether YAML can hold s (valid UTF-8), asked of libyaml's own check. */
static int yaml_can_hold(const char *s)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)strlen(s), 1,
                                      1, YAML_ANY_SCALAR_STYLE))
        return 0;
    yaml_event_delete(&ev);
    return 1;
}

int campaign_apply_overrides(campaign_t *c, const campaign_overrides_t *o, upset_err_t *err)
{
    ctx_t x;
    ctx_init(&x, "--set");
    if (o->output && !yaml_can_hold(o->output))
        return upset_fail(err, "--output %s: not valid UTF-8 (the path is stored in the "
                               "results file's campaign YAML, which must be)",
                          o->output);
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
        if ((c->file_sections >> sec & 1) && campaign_sec_kind[sec] >= 0 &&
            campaign_sec_kind[sec] != (int)c->kind)
            report(&x, NULL, "kind",
                   "%s has a '%s' section, which kind '%s' does not use; remove the section or "
                   "the override",
                   source_name(c), campaign_sec_names[sec], campaign_kind_name(c->kind));
    int rc = ctx_finish(&x, err);
    ctx_free(&x);
    return rc;
}

int campaign_validate(campaign_t *c, upset_err_t *err)
{
    ctx_t x;
    ctx_init(&x, source_name(c));
    config_resolve_defaults(c);
    check_all(&x, c);
    int rc = ctx_finish(&x, err);
    ctx_free(&x);
    return rc;
}
