/* The ranking file (serial HDF5, layout in docs/sensitivity.md) and the plain-text
 * bit ranking next to it. Both are written to `<path>.tmp` and renamed, so a file
 * under its final name is always complete. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upset/fileutil.h"
#include "upset/h5mem.h"
#include "upset/mpicheck.h"
#include "upset/sensitivity.h"
#include "upset/fnv.h"

/* A writer that stops at the first failure: every helper is a no-op once rc != 0. */
typedef struct {
    int rc;
    upset_err_t *err;
} h5w_t;

/* The file's pieces through io/h5mem, each a no-op once the writer has failed. */
static void attr_str(h5w_t *w, hid_t obj, const char *name, const char *s)
{
    w->rc = w->rc || h5mem_attr_string(obj, name, s, w->err);
}

static void attr_i64(h5w_t *w, hid_t obj, const char *name, int64_t v)
{
    w->rc = w->rc || h5mem_attr_i64(obj, name, &v, -1, w->err);
}

static void attr_f64(h5w_t *w, hid_t obj, const char *name, double v)
{
    w->rc = w->rc || h5mem_attr_f64(obj, name, &v, -1, w->err);
}

/* 1-D array attributes; an empty array is stored with length 0 */
static void attr_f64v(h5w_t *w, hid_t obj, const char *name, const double *v, int64_t n)
{
    w->rc = w->rc || h5mem_attr_f64(obj, name, v, n, w->err);
}

static void attr_i64v(h5w_t *w, hid_t obj, const char *name, const int64_t *v, int64_t n)
{
    w->rc = w->rc || h5mem_attr_i64(obj, name, v, n, w->err);
}

/* A dataset of rank 1 (cols == 0) or 2 (rows x cols) with a description. */
static void dataset(h5w_t *w, hid_t grp, const char *name, hid_t ftype, hid_t mtype,
                    int64_t rows, int64_t cols, const void *data, const char *desc)
{
    if (w->rc)
        return;
    hid_t ds = h5mem_dataset(grp, name, ftype, mtype, rows, cols, data, w->err);
    w->rc = ds < 0 || h5mem_attr_string(ds, "description", desc, w->err);
    if (ds >= 0)
        H5Dclose(ds);
}

static hid_t group(h5w_t *w, hid_t f, const char *name)
{
    hid_t g = -1;
    if (!w->rc)
        w->rc = H5_CHECK(g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), w->err);
    return g;
}

static void write_all(h5w_t *w, hid_t f, const sens_report_t *r)
{
    attr_str(w, f, "format", SENS_FORMAT_NAME);
    attr_i64(w, f, "format_version", SENS_FORMAT_VERSION);
    attr_str(w, f, "metric", r->metric);
    attr_str(w, f, "score", r->score);
    attr_str(w, f, "mode", r->mode);
    attr_str(w, f, "model", r->model_path);
    attr_str(w, f, "model_name", r->model_name);
    attr_str(w, f, "model_checksum_fnv1a64", fnv_hex(r->model_checksum).s);
    attr_str(w, f, "data_checksum_fnv1a64", fnv_hex(r->data_checksum).s);
    attr_str(w, f, "campaign_yaml", r->campaign_yaml);
    attr_i64(w, f, "seed", (int64_t)r->seed);
    attr_i64(w, f, "n_samples", r->n_samples);
    attr_i64(w, f, "ranks", r->ranks);
    attr_f64(w, f, "elapsed_s", r->elapsed_s);
    attr_f64(w, f, "loss", r->loss);
    attr_i64(w, f, "n_params", r->n_params);
    attr_i64(w, f, "n_fault_bits", r->n_bits);
    attr_f64v(w, f, "eigenvalues", r->eigenvalues, r->k);
    attr_f64v(w, f, "eigen_residuals", r->eigen_residuals, r->k);
    attr_i64v(w, f, "eigen_iterations", r->eigen_iterations, r->k);
    attr_f64(w, f, "eigen_tol", r->eigen_tol);
    attr_i64(w, f, "eigen_max_iter", r->eigen_max_iter);
    attr_f64v(w, f, "traces", r->traces, r->n_blocks);
    attr_f64(w, f, "trace_total", r->trace_total);
    attr_i64(w, f, "trace_iterations", r->trace_iterations);
    if (!w->rc && r->n_blocks) { /* layer names of the traces, one string */
        size_t len = 1;
        for (int b = 0; b < r->n_blocks; b++)
            len += strlen(r->trace_layers[b]) + 1;
        char *s = calloc(len, 1);
        if (!s) {
            w->rc = upset_fail(w->err, "out of memory");
            return;
        }
        for (int b = 0; b < r->n_blocks; b++) {
            strcat(s, r->trace_layers[b]);
            if (b + 1 < r->n_blocks)
                strcat(s, ",");
        }
        attr_str(w, f, "trace_layers", s);
        free(s);
    }

    hid_t g = group(w, f, "params");
    dataset(w, g, "layer", H5T_STD_I32LE, H5T_NATIVE_INT32, r->n_params, 0, r->param_layer,
            "model layer index of the parameter");
    dataset(w, g, "weight", H5T_STD_I64LE, H5T_NATIVE_INT64, r->n_params, 0, r->param_weight,
            "flat C-order index into the layer's kernel");
    dataset(w, g, "score", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, r->n_params, 0, r->param_score,
            "sensitivity score (larger = more sensitive)");
    if (r->param_value)
        dataset(w, g, "value", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, r->n_params, 0,
                r->param_value, "parameter value theta at which the metric was taken");
    if (r->param_gradient)
        dataset(w, g, "gradient", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, r->n_params, 0,
                r->param_gradient, "mean d loss / d theta");
    if (g >= 0)
        H5Gclose(g);
    if (r->k && r->eigenvectors) {
        g = group(w, f, "eigen");
        dataset(w, g, "vectors", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, r->k, r->n_params,
                r->eigenvectors, "unit eigenvectors of the Hessian, one per row");
        if (g >= 0)
            H5Gclose(g);
    }
    g = group(w, f, "ranking");
    dataset(w, g, "bit", H5T_STD_I64LE, H5T_NATIVE_INT64, r->n_bits, 0, r->bits,
            "global bit indices, most sensitive first");
    if (g >= 0)
        H5Gclose(g);
    attr_i64(w, f, "complete", 1);
}

int sens_write_report(const char *path, const sens_report_t *r, upset_err_t *err)
{
    h5_quiet_t q = h5_quiet_begin();
    h5w_t w = {0, err};
    hid_t f = -1;
    w.rc = (f = h5mem_create(err)) < 0 ? -1 : 0;
    if (!w.rc)
        write_all(&w, f, r);
    if (f >= 0 && !w.rc)
        w.rc = h5mem_replace(f, path, err);
    else if (f >= 0)
        H5Fclose(f);
    h5_quiet_end(&q);
    if (w.rc) {
        upset_err_t e = *err;
        upset_fail(err, "%s: %.3900s", path, e.msg);
    }
    return w.rc ? -1 : 0;
}

int sens_text_path(const char *path, char *out, size_t len, upset_err_t *err)
{
    size_t n = strlen(path);
    int w = n > 3 && !strcmp(path + n - 3, ".h5")
                ? snprintf(out, len, "%.*s.txt", (int)(n - 3), path)
                : snprintf(out, len, "%s.txt", path);
    if (w < 0 || (size_t)w >= len)
        return upset_fail(err, "%s: path too long", path);
    return 0;
}

int sens_write_ranking_text(const char *path, const int64_t *bits, int64_t n, upset_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return upset_fail(err, "%s: out of memory", path);
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "%" PRId64 "\n", bits[i]);
    int rc = fclose(f) != 0 ? upset_fail(err, "%s: out of memory", path)
                            : file_replace(path, buf, len, err);
    free(buf);
    return rc;
}
