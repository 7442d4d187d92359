/* `upset samplesize`: Leveugle et al.'s statistical fault-injection sample size. */
#include <errno.h>
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

/* A population: decimal digits only, a whole number in [1, 1e18] (strtod would take hex
 * and round integers past 2^53 to a neighbour without a word). */
static int parse_population(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : -1;
    if (v < 1 || errno || *end || v > 1000000000000000000LL) {
        fprintf(stderr, "upset samplesize: --population: expected a whole number in [1, 1e18], "
                        "got '%s'\n",
                s);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_samplesize(int argc, char **argv)
{
    double conf = 0.95, margin = 0.01, p = 0.5;
    int64_t pop = -1;
    const char *model_path = NULL;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        int rc;
        if (!strcmp(a, "--population"))
            rc = parse_population(v, &pop);
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
        pop = m.n_fault_bits;
        model_free(&m);
    }
    double n = leveugle_sample_size((double)pop, conf, margin, p);
    /* rounded as a statfi campaign rounds it: a formula value 1e-9 above a whole number is
     * that number (plain ceil printed "2 injections (1.0000 unrounded)") */
    int64_t count = leveugle_sample_count(pop, conf, margin, p);
    printf("population %lld, confidence %g (t = %.6f), margin %g, p %g: %lld injections "
           "(%.4f unrounded, %.2f%% of the population)\n",
           (long long)pop, conf, normal_critical(conf), margin, p, (long long)count, n,
           100.0 * (double)count / (double)pop);
    return 0;
}
