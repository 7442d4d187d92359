/* The analysis output: typed tables written as CSV and as groups of one 1-D
 * dataset per column in analysis.h5 (the layout of the results files), all
 * under temporary names first, renamed together at the end. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze_int.h"
#include "upset/h5mem.h"
#include "upset/mpicheck.h"

#define AN_FORMAT_NAME "upset-analysis"
#define AN_FORMAT_VERSION 1

static char *dup_str(const char *s, upset_err_t *err)
{
    char *d = malloc(strlen(s) + 1);
    if (!d)
        upset_fail(err, "out of memory");
    else
        strcpy(d, s);
    return d;
}

an_table_t *an_table_new(const char *name, const char *spec, int csv, int h5, upset_err_t *err)
{
    an_table_t *t = upset_calloc(1, sizeof *t, err);
    if (!t)
        return NULL;
    t->csv = csv;
    t->h5 = h5;
    int n = 0;
    for (const char *p = spec; *p; p++)
        n += *p == ':';
    t->name = dup_str(name, err);
    t->cols = upset_calloc((size_t)n, sizeof *t->cols, err);
    t->types = upset_calloc((size_t)n, sizeof *t->types, err);
    t->data = upset_calloc((size_t)n, sizeof *t->data, err);
    if (!t->name || !t->cols || !t->types || !t->data) {
        an_table_free(t);
        return NULL;
    }
    const char *p = spec;
    while (t->ncols < n) {
        while (*p == ' ')
            p++;
        const char *colon = strchr(p, ':');
        size_t len = (size_t)(colon - p);
        char *c = malloc(len + 1);
        if (!c) {
            an_table_free(t);
            upset_fail(err, "out of memory");
            return NULL;
        }
        memcpy(c, p, len);
        c[len] = '\0';
        t->cols[t->ncols] = c;
        t->types[t->ncols++] = colon[1] == 's' ? AN_STR : colon[1] == 'i' ? AN_I64 : AN_F64;
        p = colon + 2;
    }
    return t;
}

static int grow(an_table_t *t, upset_err_t *err)
{
    int64_t cap = t->cap ? 2 * t->cap : 64;
    for (int c = 0; c < t->ncols; c++) {
        size_t sz = t->types[c] == AN_STR ? sizeof(char *) : 8;
        void *d = realloc(t->data[c], (size_t)cap * sz);
        if (!d)
            return upset_fail(err, "out of memory growing table %s", t->name);
        t->data[c] = d;
    }
    t->cap = cap;
    return 0;
}

int an_row(an_table_t *t, upset_err_t *err, ...)
{
    if (t->nrows == t->cap && grow(t, err))
        return -1;
    va_list ap;
    va_start(ap, err);
    int rc = 0;
    for (int c = 0; c < t->ncols; c++) {
        if (t->types[c] == AN_I64) {
            ((int64_t *)t->data[c])[t->nrows] = va_arg(ap, int64_t);
        } else if (t->types[c] == AN_F64) {
            ((double *)t->data[c])[t->nrows] = va_arg(ap, double);
        } else {
            const char *s = va_arg(ap, const char *);
            char *d = rc ? NULL : dup_str(s ? s : "", err);
            rc |= d == NULL;
            ((char **)t->data[c])[t->nrows] = d;
        }
    }
    va_end(ap);
    t->nrows++; /* even on failure, so an_table_free sees every string slot */
    return rc ? -1 : 0;
}

int an_row_blank(an_table_t *t, upset_err_t *err)
{
    if (t->nrows == t->cap && grow(t, err))
        return -1;
    for (int c = 0; c < t->ncols; c++) {
        if (t->types[c] == AN_STR)
            return upset_fail(err, "table %s: a blank row needs numeric columns", t->name);
        if (t->types[c] == AN_I64)
            AN_I64(t, c)[t->nrows] = 0;
        else
            AN_F64(t, c)[t->nrows] = NAN;
    }
    t->nrows++;
    return 0;
}

void an_table_free(an_table_t *t)
{
    if (!t)
        return;
    for (int c = 0; c < t->ncols; c++) {
        if (t->types && t->types[c] == AN_STR && t->data[c])
            for (int64_t r = 0; r < t->nrows; r++)
                free(((char **)t->data[c])[r]);
        if (t->data)
            free(t->data[c]);
        if (t->cols)
            free(t->cols[c]);
    }
    free(t->data);
    free(t->cols);
    free(t->types);
    free(t->name);
    free(t);
}

int an_output_add(an_output_t *o, an_table_t *t, upset_err_t *err)
{
    if (!t)
        return -1;
    if (o->n_tables == AN_MAX_TABLES) {
        an_table_free(t);
        return upset_fail(err, "analysis: too many tables");
    }
    o->tables[o->n_tables++] = t;
    return 0;
}

static an_attr_t *new_attr(an_output_t *o, const char *name, an_coltype_t type, upset_err_t *err)
{
    if (o->n_attrs == AN_MAX_ATTRS) {
        upset_fail(err, "analysis: too many attributes");
        return NULL;
    }
    an_attr_t *a = &o->attrs[o->n_attrs++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = type;
    return a;
}

int an_attr_str(an_output_t *o, const char *name, const char *v, upset_err_t *err)
{
    an_attr_t *a = new_attr(o, name, AN_STR, err);
    return a && (a->s = dup_str(v, err)) ? 0 : -1;
}

int an_attr_i64(an_output_t *o, const char *name, int64_t v, upset_err_t *err)
{
    an_attr_t *a = new_attr(o, name, AN_I64, err);
    return a ? (a->i = v, 0) : -1;
}

int an_attr_f64(an_output_t *o, const char *name, double v, upset_err_t *err)
{
    an_attr_t *a = new_attr(o, name, AN_F64, err);
    return a ? (a->f = v, 0) : -1;
}

void an_output_free(an_output_t *o)
{
    for (int i = 0; i < o->n_tables; i++)
        an_table_free(o->tables[i]);
    for (int i = 0; i < o->n_attrs; i++)
        free(o->attrs[i].s);
    memset(o, 0, sizeof *o);
}

/* ---- CSV ---- */

static void csv_string(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_csv(const an_table_t *t, const char *path, upset_err_t *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return upset_fail(err, "%s: cannot create: %s", path, strerror(errno));
    for (int c = 0; c < t->ncols; c++)
        fprintf(f, "%s%s", c ? "," : "", t->cols[c]);
    fputc('\n', f);
    for (int64_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            if (c)
                fputc(',', f);
            if (t->types[c] == AN_I64)
                fprintf(f, "%lld", (long long)((int64_t *)t->data[c])[r]);
            else if (t->types[c] == AN_STR)
                csv_string(f, ((char **)t->data[c])[r]);
            else if (isnan(((double *)t->data[c])[r]))
                fputs("nan", f);
            else
                fprintf(f, "%.17g", ((double *)t->data[c])[r]);
        }
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) || bad)
        return upset_fail(err, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* ---- HDF5 ---- */

static int write_group(hid_t file, const an_table_t *t, upset_err_t *err)
{
    hid_t g = -1;
    if (H5_CHECK(g = H5Gcreate2(file, t->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), err))
        return -1;
    int rc = 0;
    for (int c = 0; c < t->ncols && !rc; c++) {
        const int str = t->types[c] == AN_STR;
        hid_t st = str ? h5mem_string_type(err) : -1;
        hid_t ft = str ? st : t->types[c] == AN_I64 ? H5T_STD_I64LE : H5T_IEEE_F64LE;
        hid_t mt = str ? st : t->types[c] == AN_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
        hid_t ds = str && st < 0 ? -1
                                 : h5mem_dataset(g, t->cols[c], ft, mt, t->nrows, 0, t->data[c],
                                                 err);
        rc = ds < 0;
        if (ds >= 0)
            H5Dclose(ds);
        if (st >= 0)
            H5Tclose(st);
    }
    rc = rc || h5mem_attr_i64(g, "n_rows", &t->nrows, -1, err);
    H5Gclose(g);
    return rc ? -1 : 0;
}

static int write_h5(const an_output_t *o, const char *path, upset_err_t *err)
{
    h5_quiet_t q = h5_quiet_begin();
    hid_t f = -1;
    int rc = (f = h5mem_create(err)) < 0 ? -1 : 0;
    int64_t version = AN_FORMAT_VERSION;
    rc = rc || h5mem_attr_string(f, "format", AN_FORMAT_NAME, err) ||
         h5mem_attr_i64(f, "format_version", &version, -1, err);
    for (int i = 0; i < o->n_attrs && !rc; i++) {
        const an_attr_t *a = &o->attrs[i];
        rc = a->type == AN_STR   ? h5mem_attr_string(f, a->name, a->s, err)
             : a->type == AN_F64 ? h5mem_attr_f64(f, a->name, &a->f, -1, err)
                                 : h5mem_attr_i64(f, a->name, &a->i, -1, err);
    }
    for (int i = 0; i < o->n_tables && !rc; i++)
        if (o->tables[i]->h5)
            rc = write_group(f, o->tables[i], err);
    if (f >= 0 && !rc)
        rc = h5mem_save(f, path, err);
    else if (f >= 0)
        H5Fclose(f);
    h5_quiet_end(&q);
    return rc ? -1 : 0;
}

/* ---- commit ---- */

static int ensure_dir(const char *dir, upset_err_t *err)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : upset_fail(err, "%s: exists and is not a directory", dir);
    if (mkdir(dir, 0777) && errno != EEXIST)
        return upset_fail(err, "%s: cannot create the output directory: %s", dir,
                          strerror(errno));
    return 0;
}

int an_output_commit(const an_output_t *o, const char *dir, upset_err_t *err)
{
    if (ensure_dir(dir, err))
        return -1;
    int n = o->n_tables + 1; /* the CSVs, then analysis.h5 */
    char(*final)[1024] = upset_calloc((size_t)n, sizeof *final, err);
    char(*tmp)[1100] = final ? upset_calloc((size_t)n, sizeof *tmp, err) : NULL;
    if (!tmp) {
        free(final);
        return -1;
    }
    int rc = 0, written = 0;
    for (int i = 0; i < n && !rc; i++) {
        int is_h5 = i == o->n_tables;
        if (!is_h5 && !o->tables[i]->csv) {
            final[i][0] = '\0';
            written++;
            continue;
        }
        int len = is_h5 ? snprintf(final[i], sizeof final[i], "%s/analysis.h5", dir)
                        : snprintf(final[i], sizeof final[i], "%s/%s.csv", dir, o->tables[i]->name);
        if (len < 0 || (size_t)len >= sizeof final[i]) {
            rc = upset_fail(err, "%s: output path too long", dir);
            break;
        }
        snprintf(tmp[i], sizeof tmp[i], "%s.tmp", final[i]);
        rc = is_h5 ? write_h5(o, tmp[i], err) : write_csv(o->tables[i], tmp[i], err);
        written++;
    }
    for (int i = 0; i < n && !rc; i++)
        if (final[i][0] && rename(tmp[i], final[i]))
            rc = upset_fail(err, "%s: cannot rename to %s: %s", tmp[i], final[i],
                            strerror(errno));
    if (rc)
        for (int i = 0; i < written; i++)
            if (final[i][0])
                unlink(tmp[i]);
    free(final);
    free(tmp);
    return rc ? -1 : 0;
}
