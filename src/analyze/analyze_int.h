/* Internal to src/analyze: reading the inputs and writing the output tables. */
#ifndef UPSET_ANALYZE_INT_H
#define UPSET_ANALYZE_INT_H

#include <hdf5.h>
#include <stdint.h>

#include "upset/analyze.h"

/* ---- inputs (inputs.c) ---- */

/* What every results file says about itself. */
typedef struct {
    const char *path;
    char *kind;           /* oracle, guided, binfi, statfi, multibit */
    char *name;           /* campaign name */
    char *model_name;
    char *model_path;     /* the model file the campaign ran on, as stored */
    char *model_checksum; /* hex, identifies the model */
    char *data_checksum;  /* hex, identifies the evaluated samples */
    int64_t n_fault_bits;
    int64_t baseline_mispredicts;
    int classifier;       /* 1: error = mispredicts - baseline, 0: delta EMD */
    char *protection;     /* multibit: none, all, sensitive, top_percent */
    double protect_percent;
} an_file_t;

/* Reads the root attributes (and the campaign YAML) of a complete results file
 * and checks its kind; expect_kind NULL accepts any. */
int an_file_open(const char *path, const char *expect_kind, an_file_t *f, upset_err_t *err);
void an_file_free(an_file_t *f);

/* The names of the model's layers (names[i] of layer i, *n of them; free with
 * an_layer_names_free) when its file is still there with the stored checksum; else layer
 * i is named "L<i>" (names NULL, *n 0). */
void an_layer_names(const an_file_t *f, char ***names, int *n);
void an_layer_names_free(char **names, int n);

/* Per-bit records of a "bits" group (oracle, guided, statfi). error is the
 * task error increase; layer/weight/bit_pos/sensitive as stored. */
typedef struct {
    int64_t n;
    int64_t *bit, *weight;
    int32_t *layer, *bit_pos;
    int8_t *sensitive;
    double *error;
} an_bits_t;

int an_bits_read(const an_file_t *f, an_bits_t *b, upset_err_t *err);
void an_bits_free(an_bits_t *b);

/* A bit ranking: text (one bit per line, '#' comments) or upset-ranking HDF5
 * (/ranking/bit). It must hold every bit of [0, n_fault_bits) exactly once.
 * *bits is malloc'd. */
int an_ranking_read(const char *path, int64_t n_fault_bits, const char *model_checksum,
                    int64_t **bits, upset_err_t *err);

/* ---- output tables (output.c) ---- */

typedef enum { AN_I64, AN_F64, AN_STR } an_coltype_t;

/* A table of typed columns, written as NAME.csv and/or the HDF5 group /NAME
 * (one 1-D dataset per column). */
typedef struct {
    char *name;
    int ncols;
    char **cols;
    an_coltype_t *types;
    int64_t nrows, cap;
    void **data; /* per column: int64_t[], double[] or char*[] */
    int csv, h5; /* where it goes */
} an_table_t;

/* spec: "method:s bit_pos:i rho:f" (s string, i int64, f double). */
an_table_t *an_table_new(const char *name, const char *spec, int csv, int h5, upset_err_t *err);
/* One row: per column a const char *, an int64_t or a double, in column order. */
int an_row(an_table_t *t, upset_err_t *err, ...);
/* One row of zeros (NaN in double columns), to be filled through AN_I64 / AN_F64;
 * only for tables without string columns. */
int an_row_blank(an_table_t *t, upset_err_t *err);
#define AN_I64(t, c) ((int64_t *)(t)->data[c])
#define AN_F64(t, c) ((double *)(t)->data[c])
void an_table_free(an_table_t *t);

#define AN_MAX_TABLES 16
#define AN_MAX_ATTRS 16

/* Root attributes of analysis.h5 (strings, int64 or double). */
typedef struct {
    char name[64];
    an_coltype_t type;
    char *s;
    int64_t i;
    double f;
} an_attr_t;

typedef struct {
    an_table_t *tables[AN_MAX_TABLES];
    int n_tables;
    an_attr_t attrs[AN_MAX_ATTRS];
    int n_attrs;
} an_output_t;

int an_output_add(an_output_t *o, an_table_t *t, upset_err_t *err);
int an_attr_str(an_output_t *o, const char *name, const char *v, upset_err_t *err);
int an_attr_i64(an_output_t *o, const char *name, int64_t v, upset_err_t *err);
int an_attr_f64(an_output_t *o, const char *name, double v, upset_err_t *err);
/* Writes every table and analysis.h5 into dir under .tmp names, then renames
 * them all; on failure removes what it wrote. */
int an_output_commit(const an_output_t *o, const char *dir, upset_err_t *err);
void an_output_free(an_output_t *o);

#endif
