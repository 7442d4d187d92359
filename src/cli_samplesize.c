/* `upset samplesize`: Leveugle et al.'s statistical fault-injection sample size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upset/cli_commands.h"
#include "upset/model.h"
#include "upset/stats.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: upset samplesize (--population N | --model MODEL.h5) [--confidence C]\n"
            "                        [--margin E] [--p P]\n"
            "  n = N / (1 + E^2 (N - 1) / (t^2 P (1 - P))), t the two-sided normal critical\n"
            "  value of C. Defaults: C = 0.95, E = 0.01, P = 0.5 (worst case).\n"
            "  --model takes N = the model's faultable bits.\n");
    return 2;
}

/* Parses a number that must lie strictly between lo and hi. */
static int parse_real(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v <= lo || v >= hi) {
        fprintf(stderr, "upset samplesize: %s: expected a number in (%g, %g), got '%s'\n", flag,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_samplesize(int argc, char **argv)
{
    double conf = 0.95, margin = 0.01, p = 0.5, pop = -1;
    const char *model_path = NULL;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        int rc;
        if (!strcmp(a, "--population"))
            rc = parse_real(a, v, 0, 1e18, &pop);
        else if (!strcmp(a, "--confidence"))
            rc = parse_real(a, v, 0, 1, &conf);
        else if (!strcmp(a, "--margin"))
            rc = parse_real(a, v, 0, 1, &margin);
        else if (!strcmp(a, "--p"))
            rc = parse_real(a, v, 0, 1, &p);
        else if (!strcmp(a, "--model"))
            model_path = v, rc = 0;
        else
            return usage();
        if (rc)
            return 2;
    }
    if ((pop < 0) == !model_path)
        return usage();
    if (model_path) {
        model_t m;
        upset_err_t err;
        if (model_load(model_path, &m, &err)) {
            fprintf(stderr, "upset samplesize: %s\n", err.msg);
            return 1;
        }
        pop = (double)m.n_fault_bits;
        model_free(&m);
    }
    if (pop != floor(pop) || pop < 1) {
        fprintf(stderr, "upset samplesize: --population: expected a whole number >= 1\n");
        return 2;
    }
    double n = leveugle_sample_size(pop, conf, margin, p);
    printf("population %.0f, confidence %g (t = %.6f), margin %g, p %g: %.0f injections "
           "(%.4f unrounded, %.2f%% of the population)\n",
           pop, conf, normal_critical(conf), margin, p, ceil(n), n, 100.0 * ceil(n) / pop);
    return 0;
}
