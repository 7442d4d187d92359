/* `upset analyze`: scores rankings and fault-injection methods against an
 * oracle and writes the figure tables (docs/analysis.md). Serial; no MPI. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upset/analyze.h"
#include "upset/cli_commands.h"

#define MAX_INPUTS 64

static int usage(void)
{
    fprintf(stderr,
            "usage: upset analyze --oracle ORACLE.h5 [--oracle OTHER.h5]...\n"
            "                     [--ranking [NAME=]FILE]... [--guided [NAME=]G.h5]...\n"
            "                     [--binfi [NAME=]B.h5]... [--statfi [NAME=]S.h5]...\n"
            "                     [--multibit [NAME=]M.h5]... --out DIR [--quiet]\n"
            "  The first --oracle is the reference every method is scored against; further\n"
            "  oracles (other models) only join the sensitive-bits-vs-model-size tables.\n"
            "  A ranking is a text file (one global bit index per line, '#' comments) or an\n"
            "  upset-ranking HDF5 file; it must list every bit of the model once.\n"
            "  Writes DIR/analysis.h5 and one CSV per table (see docs/analysis.md).\n");
    return 2;
}

/* "NAME=PATH" -> label NAME; a PATH alone (or one whose '=' comes after a '/')
 * keeps label NULL, so the label comes from the file. */
static analyze_input_t split_label(char *arg)
{
    char *eq = strchr(arg, '=');
    char *slash = strchr(arg, '/');
    if (eq && eq != arg && (!slash || slash > eq)) {
        *eq = '\0';
        return (analyze_input_t){arg, eq + 1};
    }
    return (analyze_input_t){NULL, arg};
}

static void print_summary(const analyze_summary_t *s, const char *dir)
{
    printf("oracle: %s (%s), %lld of %lld bits flipped, %lld sensitive (%.2f%%)\n", s->model_name,
           s->classifier ? "classifier: error = extra mispredicts" : "autoencoder: error = delta EMD",
           (long long)s->n_bits, (long long)s->n_fault_bits, (long long)s->n_sensitive,
           s->n_bits ? 100.0 * (double)s->n_sensitive / (double)s->n_bits : 0.0);
    printf("%-32s %-8s %10s %9s %12s %12s %14s\n", "method", "source", "flips", "spearman",
           "top50%", "top100%", "cum. error");
    for (int i = 0; i < s->n_methods; i++) {
        const analyze_method_summary_t *m = &s->methods[i];
        char rho[32] = "-", t50[32] = "never", t100[32] = "never";
        if (!isnan(m->spearman))
            snprintf(rho, sizeof rho, "%.4f", m->spearman);
        if (m->needed_top50 >= 0)
            snprintf(t50, sizeof t50, "%lld", (long long)m->needed_top50);
        if (m->needed_top100 >= 0)
            snprintf(t100, sizeof t100, "%lld", (long long)m->needed_top100);
        printf("%-32s %-8s %10lld %9s %12s %12s %14.6g\n", m->label, m->source,
               (long long)m->bits_flipped, rho, t50, t100, m->final_error);
    }
    printf("tables: %s/analysis.h5 and %s/*.csv\n", dir, dir);
}

int cmd_analyze(int argc, char **argv)
{
    const char *oracles[MAX_INPUTS];
    analyze_input_t lists[5][MAX_INPUTS];
    int counts[5] = {0}, n_oracles = 0, quiet = 0;
    static const char *const flags[5] = {"--ranking", "--guided", "--binfi", "--statfi",
                                         "--multibit"};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (i + 1 >= argc)
            return usage();
        char *v = argv[++i];
        int k = -1;
        for (int f = 0; f < 5; f++)
            if (!strcmp(a, flags[f]))
                k = f;
        if (k >= 0 && counts[k] < MAX_INPUTS)
            lists[k][counts[k]++] = split_label(v);
        else if (!strcmp(a, "--oracle") && n_oracles < MAX_INPUTS)
            oracles[n_oracles++] = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else {
            fprintf(stderr, "upset analyze: unknown or repeated-too-often option '%s'\n", a);
            return usage();
        }
    }
    if (!n_oracles || !out) {
        fprintf(stderr, "upset analyze: --oracle and --out are required\n");
        return usage();
    }
    analyze_opts_t o = {oracles,  n_oracles, lists[0],  counts[0], lists[1],
                        counts[1], lists[2],  counts[2], lists[3],  counts[3],
                        lists[4],  counts[4], out};
    analyze_summary_t s;
    upset_err_t err = {{0}};
    if (analyze_run(&o, &s, &err)) {
        fprintf(stderr, "upset analyze: %s\n", err.msg);
        return 1;
    }
    if (s.warnings.msg[0])
        fprintf(stderr, "upset analyze: warning: %s\n", s.warnings.msg);
    if (!quiet)
        print_summary(&s, out);
    analyze_summary_free(&s);
    return 0;
}
