/* Reading the analysis inputs: results files (their identity and per-bit
 * records) and bit rankings (text or upset-ranking HDF5). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze_int.h"
#include "upset/campaign.h"
#include "upset/bitranking.h"
#include "upset/fnv.h"
#include "upset/h5attr.h"
#include "upset/model.h"
#include "upset/mpicheck.h"
#include "upset/results.h"

void an_file_free(an_file_t *f)
{
    free(f->kind);
    free(f->name);
    free(f->model_name);
    free(f->model_path);
    free(f->model_checksum);
    free(f->data_checksum);
    free(f->protection);
    memset(f, 0, sizeof *f);
}

void an_layer_names(const an_file_t *f, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    model_t m;
    upset_err_t err = {{0}};
    if (!f->model_path || model_load(f->model_path, &m, &err))
        return; /* moved or gone: indices it is */
    if (!strcmp(fnv_hex(m.checksum).s, f->model_checksum) &&
        (*names = calloc((size_t)m.n_layers, sizeof **names))) {
        for (int i = 0; i < m.n_layers; i++)
            (*names)[i] = strdup(m.layers[i].name);
        *n = m.n_layers;
    }
    model_free(&m);
}

void an_layer_names_free(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static char *dup_or_fail(const char *s, upset_err_t *err)
{
    char *d = malloc(strlen(s) + 1);
    if (!d)
        upset_fail(err, "out of memory");
    else
        strcpy(d, s);
    return d;
}

/* The task and the campaign's own settings, from the stored campaign YAML. */
static int read_campaign(an_file_t *f, upset_err_t *err)
{
    char *yaml = NULL;
    if (results_read_attr_string(f->path, "campaign_yaml", &yaml, err))
        return -1;
    campaign_t c;
    campaign_defaults(&c);
    upset_err_t perr = {{0}};
    int rc = campaign_load_yaml_string(&c, yaml, strlen(yaml), f->path, &perr);
    free(yaml);
    if (rc) {
        campaign_free(&c);
        return upset_fail(err, "%s: the stored campaign_yaml does not parse:\n%s", f->path,
                          perr.msg);
    }
    /* the task metric the file was scored with; files written before the `task`
     * attribute existed say it through their data (CIFAR-10 <=> classifier) */
    char *task = NULL;
    upset_err_t terr = {{0}};
    f->classifier = results_read_attr_string(f->path, "task", &task, &terr)
                        ? c.data.format == CAMPAIGN_DATA_CIFAR10
                        : !strcmp(task, "classifier");
    free(task);
    f->name = dup_or_fail(c.name ? c.name : "", err);
    f->protection = dup_or_fail(protection_name(c.multibit.protection), err);
    f->protect_percent = c.multibit.protect_percent;
    campaign_free(&c);
    return f->name && f->protection ? 0 : -1;
}

int an_file_open(const char *path, const char *expect_kind, an_file_t *f, upset_err_t *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    int rc = results_read_attr_string(path, "kind", &f->kind, err);
    if (!rc && expect_kind && strcmp(f->kind, expect_kind))
        rc = upset_fail(err, "%s: results of kind '%s', expected kind '%s'", path, f->kind,
                        expect_kind);
    rc = rc || results_read_attr_string(path, "model_name", &f->model_name, err) ||
         results_read_attr_string(path, "model_checksum_fnv1a64", &f->model_checksum, err) ||
         results_read_attr_string(path, "data_checksum_fnv1a64", &f->data_checksum, err) ||
         results_read_attr_int64(path, "n_fault_bits", &f->n_fault_bits, err) ||
         results_read_attr_int64(path, "baseline_mispredicts", &f->baseline_mispredicts, err) ||
         read_campaign(f, err);
    upset_err_t optional = {{0}}; /* the model's path only names layers: may be absent */
    if (!rc && results_read_attr_string(path, "model", &f->model_path, &optional))
        f->model_path = NULL;
    if (!rc && f->n_fault_bits < 1)
        rc = upset_fail(err, "%s: n_fault_bits is %lld", path, (long long)f->n_fault_bits);
    if (rc)
        an_file_free(f);
    return rc ? -1 : 0;
}

void an_bits_free(an_bits_t *b)
{
    free(b->bit);
    free(b->weight);
    free(b->layer);
    free(b->bit_pos);
    free(b->sensitive);
    free(b->error);
    memset(b, 0, sizeof *b);
}

static int read_col(const an_file_t *f, const char *name, results_type_t type, void **out,
                    int64_t want, upset_err_t *err)
{
    int64_t n = 0;
    if (results_read_column(f->path, "bits", name, type, out, &n, err))
        return -1;
    if (n != want)
        return upset_fail(err, "%s: column bits/%s has %lld rows, bits/bit has %lld", f->path,
                          name, (long long)n, (long long)want);
    return 0;
}

int an_bits_read(const an_file_t *f, an_bits_t *b, upset_err_t *err)
{
    memset(b, 0, sizeof *b);
    void *p = NULL;
    if (results_read_column(f->path, "bits", "bit", RESULTS_INT64, &p, &b->n, err))
        return -1;
    b->bit = p;
    void *mis = NULL;
    int rc = read_col(f, "weight", RESULTS_INT64, (void **)&b->weight, b->n, err) ||
             read_col(f, "layer", RESULTS_INT32, (void **)&b->layer, b->n, err) ||
             read_col(f, "bit_pos", RESULTS_INT32, (void **)&b->bit_pos, b->n, err) ||
             read_col(f, "sensitive", RESULTS_INT8, (void **)&b->sensitive, b->n, err) ||
             read_col(f, f->classifier ? "mispredicts" : "delta_emd",
                      f->classifier ? RESULTS_INT64 : RESULTS_FLOAT64,
                      f->classifier ? &mis : (void **)&b->error, b->n, err);
    if (!rc && f->classifier) {
        b->error = upset_calloc((size_t)b->n, sizeof *b->error, err);
        rc = !b->error;
        for (int64_t i = 0; !rc && i < b->n; i++)
            b->error[i] = (double)(((int64_t *)mis)[i] - f->baseline_mispredicts);
    }
    free(mis);
    for (int64_t i = 0; !rc && i < b->n; i++) {
        if (b->bit[i] < 0 || b->bit[i] >= f->n_fault_bits)
            rc = upset_fail(err, "%s: record %lld: bit %lld outside [0, %lld)", f->path,
                            (long long)i, (long long)b->bit[i], (long long)f->n_fault_bits);
        else if (b->bit_pos[i] < 0 || b->bit_pos[i] > b->bit[i] ||
                 b->bit_pos[i] >= UPSET_MAX_CODE_BITS || b->layer[i] < 0 ||
                 b->layer[i] >= UPSET_MAX_LAYERS) /* they size the analysis's tables */
            rc = upset_fail(err, "%s: record %lld: bad layer %d or bit position %d", f->path,
                            (long long)i, b->layer[i], b->bit_pos[i]);
        else if (!isfinite(b->error[i]))
            rc = upset_fail(err, "%s: record %lld (bit %lld): the error is not finite", f->path,
                            (long long)i, (long long)b->bit[i]);
    }
    if (rc)
        an_bits_free(b);
    return rc ? -1 : 0;
}

/* ---- rankings ---- */

static int is_hdf5(const char *path)
{
    static const unsigned char magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return got == sizeof head && !memcmp(head, magic, sizeof magic);
}

/* Root string attribute `name` of an open file into buf; 1 if absent. */
static int h5_root_string(hid_t f, const char *name, char *buf, size_t len)
{
    if (H5Aexists(f, name) <= 0)
        return 1;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    char *s = NULL;
    const int rc = a >= 0 && h5attr_read_string(a, &s) == H5ATTR_OK ? 0 : -1;
    if (rc == 0)
        snprintf(buf, len, "%s", s);
    free(s);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

static int read_h5_ranking(const char *path, const char *model_checksum, int64_t **bits,
                           int64_t *n, upset_err_t *err)
{
    h5_quiet_t q = h5_quiet_begin();
    hid_t f = -1, ds = -1, sp = -1;
    char fmt[64] = "", ck[64] = "";
    int rc = H5_CHECK(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), err);
    if (rc)
        upset_err_append(err, "cannot open ranking %s", path);
    if (!rc && (h5_root_string(f, "format", fmt, sizeof fmt) || strcmp(fmt, "upset-ranking")))
        rc = upset_fail(err, "%s: not an upset-ranking file (root attribute format = '%s')", path,
                        fmt);
    if (!rc && model_checksum && h5_root_string(f, "model_checksum_fnv1a64", ck, sizeof ck) == 0 &&
        strcmp(ck, model_checksum))
        rc = upset_fail(err, "%s: ranking of another model (checksum %s, the oracle's is %s)",
                        path, ck, model_checksum);
    if (!rc && H5Lexists(f, "ranking", H5P_DEFAULT) <= 0)
        rc = upset_fail(err, "%s: no group /ranking", path);
    if (!rc && H5Lexists(f, "ranking/bit", H5P_DEFAULT) <= 0)
        rc = upset_fail(err, "%s: no dataset /ranking/bit", path);
    rc = rc || H5_CHECK(ds = H5Dopen2(f, "ranking/bit", H5P_DEFAULT), err) ||
         H5_CHECK(sp = H5Dget_space(ds), err);
    if (!rc && H5Sget_simple_extent_ndims(sp) != 1)
        rc = upset_fail(err, "%s: /ranking/bit is not 1-D", path);
    hssize_t len = rc ? 0 : H5Sget_simple_extent_npoints(sp);
    *bits = rc ? NULL : malloc(len > 0 ? (size_t)len * sizeof **bits : 1);
    if (!rc && !*bits)
        rc = upset_fail(err, "out of memory reading %s", path);
    if (!rc && len > 0)
        rc = H5_CHECK(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *bits), err);
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
    if (f >= 0)
        H5Fclose(f);
    h5_quiet_end(&q);
    if (rc) {
        free(*bits);
        *bits = NULL;
        return -1;
    }
    *n = (int64_t)len;
    return 0;
}

int an_ranking_read(const char *path, int64_t n_fault_bits, const char *model_checksum,
                    int64_t **bits, upset_err_t *err)
{
    int64_t n = 0, *v = NULL;
    int rc = is_hdf5(path) ? read_h5_ranking(path, model_checksum, &v, &n, err)
                           : bit_ranking_read(path, n_fault_bits, &v, &n, err);
    if (rc)
        return -1;
    if (n != n_fault_bits)
        rc = upset_fail(err, "%s: the ranking has %lld bits, the oracle's model %lld (each bit "
                             "must appear once)",
                        path, (long long)n, (long long)n_fault_bits);
    unsigned char *seen = rc ? NULL : upset_calloc((size_t)n_fault_bits, 1, err);
    if (!rc && !seen)
        rc = -1;
    for (int64_t i = 0; !rc && i < n; i++) {
        if (v[i] < 0 || v[i] >= n_fault_bits)
            rc = upset_fail(err, "%s: position %lld: bit %lld is outside [0, %lld)", path,
                            (long long)i, (long long)v[i], (long long)n_fault_bits);
        else if (seen[v[i]]++)
            rc = upset_fail(err, "%s: position %lld: bit %lld appears twice", path, (long long)i,
                            (long long)v[i]);
    }
    free(seen);
    if (rc) {
        free(v);
        return -1;
    }
    *bits = v;
    return 0;
}
