/* `upset eval`: fault-free evaluation of a model on a dataset, with throughput. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "upset/bitspace.h"
#include "upset/campaign_data.h"
#include "upset/cli_commands.h"
#include "upset/clock.h"
#include "upset/econt.h"
#include "upset/evaluate.h"
#include "upset/fileutil.h"
#include "upset/kernels.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int eval_usage(void)
{
    fprintf(stderr,
            "usage: upset eval --model MODEL.h5 --data FILE [--data FILE...] [--format hgcal|cifar10|hdf5]\n"
            "                  [--labels LABELS.bin] [--offset K] [--count N] [--emd-zero uniform|reference]\n"
            "                  [--flip BIT[,BIT...]] [--include-bias] [--correct-only] [--layers]\n"
            "                  [--per-sample OUT.csv]\n"
            "  HGCal CSVs default to the first 20000 non-empty rows; CIFAR-10 to every record;\n"
            "  several --data files are read as one table (HGCal only; at most 64);\n"
            "  hdf5 (/x inputs, /y labels; the default for .h5/.hdf5 files) to every sample.\n"
            "  --flip evaluates the model with those global bit indices flipped (whole network,\n"
            "  no caches: the reference path for checking campaign results); with\n"
            "  --include-bias the indices count bias bits too (as include_bias campaigns do).\n"
            "  --correct-only keeps the images the fault-free model classifies correctly\n"
            "  (as campaigns with data.correct_only do), before any flip.\n"
            "  --layers then times every layer alone over the samples: multiply-accumulates,\n"
            "  CPU time per sample and achieved rate; then in place, in the forward pass as\n"
            "  eval runs it (wall time; a convolution holds the batch norm and quantizer fused\n"
            "  into it); its last line names the kernel path timed (UPSET_KERNEL chooses).\n"
            "  --per-sample writes one CSV row per sample (never over an input file): sample, index\n"
            "  (its image, or non-empty HGCal row, in the data), label (-1: none), prediction\n"
            "  (-1: not a classifier), emd (0: no EMD).\n");
    return 2;
}

/* --layers: every layer run alone over every sample (its input left by the layer before),
 * CPU time per sample, multiply-accumulates and the achieved rate; then the same samples
 * through the forward pass as `upset eval` runs it (engine_run_lean), each layer timed in
 * place, where a layer fused with the ones after it (a convolution with its batch norm and
 * quantizer) holds their time. */
static int layer_profile(evaluator_t *ev, const dataset_t *d, upset_err_t *err)
{
    engine_t *e = &ev->engine;
    const model_t *m = e->model;
    double *t = calloc((size_t)m->n_layers, sizeof *t),
           *in_pass = calloc((size_t)m->n_layers, sizeof *in_pass);
    int rc = t && in_pass ? 0 : upset_fail(err, "out of memory");
    for (int64_t i = 0; !rc && i < d->n; i++) {
        memcpy(e->input.real, d->x + i * shape_size(d->shape),
               (size_t)e->input.n * sizeof *e->input.real);
        for (int l = 0; !rc && l < m->n_layers; l++) {
            double t0 = clock_cpu_s();
            rc = engine_run_layers(e, l, l, err);
            t[l] += clock_cpu_s() - t0;
        }
    }
    e->layer_wall = in_pass;
    for (int64_t i = 0; !rc && i < d->n; i++) {
        engine_set_input(e, d->x + i * shape_size(d->shape));
        rc = engine_run_lean(e, 0, err);
    }
    e->layer_wall = NULL;
    if (!rc) {
        printf("%-3s %-22s %-17s %12s %12s %10s %12s %10s\n", "#", "layer", "kind", "MACs/sample",
               "us/sample", "GMAC/s", "in pass us", "GMAC/s");
        double total = 0, total_pass = 0;
        for (int l = 0; l < m->n_layers; l++) {
            const layer_t *L = &m->layers[l];
            const double us = 1e6 * t[l] / d->n, pass = 1e6 * in_pass[l] / d->n,
                         macs = (double)layer_macs(L);
            total += us, total_pass += pass;
            char rate[32] = "-", pass_us[32] = "-", pass_rate[32] = "-";
            if (macs > 0 && us > 0)
                snprintf(rate, sizeof rate, "%.2f", macs / us / 1e3);
            if (in_pass[l] > 0) /* 0: run fused into a layer before it */
                snprintf(pass_us, sizeof pass_us, "%.2f", pass);
            if (macs > 0 && in_pass[l] > 0)
                snprintf(pass_rate, sizeof pass_rate, "%.2f", macs / pass / 1e3);
            printf("%-3d %-22s %-17s %12.0f %12.2f %10s %12s %10s\n", l, L->name,
                   layer_file_kind(L), macs, us, rate, pass_us, pass_rate);
        }
        printf("all layers: %.1f us per sample alone (CPU); %.1f us in the forward pass "
               "(wall; '-': fused into the layer above it); kernels %s\n",
               total, total_pass, kernel_path());
    }
    free(t);
    free(in_pass);
    return rc;
}

/* Flips the comma-separated global bit indices in m; a bit given twice is refused
 * (two flips cancel, and the "faulty" result would silently be the fault-free one). */
static int flip_bits(model_t *m, const char *list, upset_err_t *err)
{
    const char *p = list;
    if (!*p) /* an empty list (an unset shell variable) would report fault-free as faulty */
        return upset_fail(err, "'': no bit index given; expected bit indices in [0, %lld) "
                               "separated by commas", (long long)m->n_fault_bits);
    unsigned char *seen = calloc((size_t)m->n_fault_bits, 1);
    if (!seen)
        return upset_fail(err, "out of memory");
    int rc = 0;
    while (*p && !rc) {
        char *end;
        errno = 0;
        long long b = strtoll(p, &end, 10);
        bitaddr_t a;
        if (end == p || errno || (*end && *end != ',') || (*end == ',' && !end[1]) ||
            bitspace_locate(m, b, &a)) {
            rc = upset_fail(err, "'%.200s': expected bit indices in [0, %lld) separated by commas",
                            list, (long long)m->n_fault_bits);
        } else if (seen[b]) {
            rc = upset_fail(err, "bit %lld is given twice (two flips cancel)", b);
        } else {
            seen[b] = 1;
            bitspace_flip(m, a);
            p = *end ? end + 1 : end;
        }
    }
    free(seen);
    return rc;
}

/* Whether a and b name one existing file: --per-sample over the model or a data file would
 * replace the input with the CSV. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* A whole non-negative number for option opt, or -1 after printing why. */
static long long parse_count(const char *opt, const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || errno || n < 0) {
        fprintf(stderr, "upset eval: %s '%s': expected a whole number >= 0\n", opt, v);
        return -1;
    }
    return n;
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *labels = NULL, *format = NULL, *flips = NULL;
    const char *per_sample = NULL;
    const char *files[64];
    int n_files = 0, zero_rule = ECONT_ZERO_UNIFORM, correct_only = 0, per_layer = 0;
    int include_bias = 0;
    long long offset = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--layers") || !strcmp(a, "--include-bias")) {
            *(a[2] == 'l' ? &per_layer : &include_bias) = 1;
            continue;
        }
        if (!v && strcmp(a, "--correct-only"))
            return eval_usage();
        if (!strcmp(a, "--model"))
            model_path = v;
        else if (!strcmp(a, "--data")) {
            if (n_files == (int)(sizeof files / sizeof *files)) {
                fprintf(stderr, "upset eval: --data: at most %d files\n", n_files);
                return 2;
            }
            files[n_files++] = v;
        }
        else if (!strcmp(a, "--labels"))
            labels = v;
        else if (!strcmp(a, "--format"))
            format = v;
        else if (!strcmp(a, "--offset") || !strcmp(a, "--count")) {
            long long n = parse_count(a, v);
            if (n < 0)
                return 2;
            if (a[2] == 'c' && n == 0) {
                fprintf(stderr, "upset eval: --count 0 evaluates nothing; omit --count for the "
                                "default (20000 HGCal rows, every CIFAR-10 image)\n");
                return 2;
            }
            *(a[2] == 'c' ? &count : &offset) = n;
        }
        else if (!strcmp(a, "--correct-only")) {
            correct_only = 1;
            continue;
        } else if (!strcmp(a, "--flip"))
            flips = v;
        else if (!strcmp(a, "--per-sample"))
            per_sample = v;
        else if (!strcmp(a, "--emd-zero")) {
            if (strcmp(v, "reference") && strcmp(v, "uniform")) {
                fprintf(stderr, "upset eval: --emd-zero '%s': expected uniform or reference\n", v);
                return 2;
            }
            zero_rule = !strcmp(v, "reference") ? ECONT_ZERO_REFERENCE : ECONT_ZERO_UNIFORM;
        }
        else
            return eval_usage();
        i++;
    }
    if (!model_path || !n_files)
        return eval_usage();
    for (int k = -2; per_sample && k < n_files; k++) {
        const char *in = k == -2 ? model_path : k == -1 ? labels : files[k];
        if (same_file(per_sample, in)) {
            fprintf(stderr, "upset eval: --per-sample %s is the input %s; choose another path\n",
                    per_sample, in);
            return 2;
        }
    }
    if (!format)
        format = ends_with(files[0], ".csv")                                ? "hgcal"
                 : ends_with(files[0], ".h5") || ends_with(files[0], ".hdf5") ? "hdf5"
                                                                              : "cifar10";
    upset_err_t err = {{0}};
    model_t m;
    dataset_t d;
    evaluator_t ev;
    const char *stage = ""; /* what failed, before the message */
    int have_model = 0, have_data = 0, have_ev = 0;
    int rc = model_load(model_path, &m, &err);
    have_model = !rc;
    if (!rc) {
        bitspace_include_bias(&m, include_bias);
        const int f = campaign_data_format_from_name(format);
        if (f < 0)
            rc = upset_fail(&err, "--format %s: expected hgcal, cifar10 or hdf5", format);
        else if (labels && f != CAMPAIGN_DATA_CIFAR10) /* as a campaign's data.labels */
            rc = upset_fail(&err, "--labels: only used with --format cifar10 (hdf5 keeps its "
                                  "labels in /y; HGCal has none)");
        else if (n_files > 1 && f != CAMPAIGN_DATA_HGCAL) /* as a campaign's data.files */
            rc = upset_fail(&err, "--data: format %s takes exactly one file, got %d (only "
                                  "HGCal CSVs are read as one table)", format, n_files);
        else
            rc = campaign_data_load(f, files, n_files, labels, offset,
                                    count ? count : f == CAMPAIGN_DATA_HGCAL ? 20000 : -1, &d, &err);
        have_data = !rc;
    }
    rc = rc || task_check_data(&m, &d, files[0], &err);
    if (!rc && correct_only) {
        stage = "--correct-only: ";
        rc = dataset_keep_correct(&d, &m, &err);
    }
    if (!rc && flips) {
        stage = "--flip: ";
        rc = flip_bits(&m, flips, &err);
    }
    if (!rc) {
        stage = "";
        rc = evaluator_create(&ev, &m, &d, zero_rule, &err);
        have_ev = !rc;
        ev.output_only = 1; /* each sample's output alone is read */
    }
    if (rc) {
        fprintf(stderr, "upset eval: %s%s\n", stage, err.msg);
        rc = 1;
        goto done;
    }
    char *rows = NULL;
    size_t rows_len = 0;
    FILE *csv = per_sample ? open_memstream(&rows, &rows_len) : NULL;
    if (per_sample && !csv) {
        fprintf(stderr, "upset eval: --per-sample: out of memory\n");
        rc = 1;
        goto done;
    }
    if (csv)
        fprintf(csv, "sample,index,label,prediction,emd\n");
    double t0 = clock_wall_s(), sum = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < d.n; i++) {
        sample_result_t r;
        if (evaluator_sample(&ev, i, &r, &err)) {
            fprintf(stderr, "upset eval: sample %lld: %s\n", (long long)i, err.msg);
            rc = 1;
            break;
        }
        sum += r.emd;
        correct += d.label && r.pred == d.label[i];
        if (csv)
            fprintf(csv, "%lld,%lld,%d,%d,%.17g\n", (long long)i, (long long)d.index[i],
                    d.label ? d.label[i] : -1, r.pred, r.emd);
    }
    double dt = clock_wall_s() - t0;
    if (csv) {
        if (fclose(csv) != 0 && !rc) {
            fprintf(stderr, "upset eval: --per-sample: out of memory\n");
            rc = 1;
        }
        if (!rc && file_replace(per_sample, rows, rows_len, &err)) {
            fprintf(stderr, "upset eval: --per-sample: %s\n", err.msg);
            rc = 1;
        }
        free(rows);
    }
    if (!rc) {
        printf("model %s (%s) on %lld samples of %s\n", m.name, task_name(m.task),
               (long long)d.n, files[0]);
        if (flips)
            printf("bits flipped: %s\n", flips);
        const fault_result_t total = {.mean_emd = sum / (double)d.n,
                                      .mispredicts = d.n - correct};
        task_ops(m.task)->print_eval(&total, d.n);
        printf("throughput %.0f samples/s (%.3f s, one core)\n", d.n / (dt > 0 ? dt : 1e-9), dt);
    }
    if (!rc && per_layer)
        rc = layer_profile(&ev, &d, &err);
    if (rc && err.msg[0] && per_layer)
        fprintf(stderr, "upset eval: --layers: %s\n", err.msg);
done:
    if (have_ev)
        evaluator_free(&ev);
    if (have_data)
        dataset_free(&d);
    if (have_model)
        model_free(&m);
    return rc;
}
