/* `upset trial RESULTS.h5 TRIAL...`: the bits a multibit trial drew and flipped, recomputed
 * from the campaign stored in its results file (a trial's bits depend only on the seed and
 * the trial index, and on the protection mask chosen from the oracle), so that any trial
 * can be replayed, e.g. with `upset eval --flip`, without storing 960 bits per trial. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign/run.h"
#include "upset/cli_commands.h"
#include "upset/faultdraw.h"
#include "upset/fnv.h"

static int trial_usage(void)
{
    fprintf(stderr,
            "usage: upset trial MULTIBIT_RESULTS.h5 TRIAL [TRIAL...]\n"
            "  prints, per trial, the bits it changed under its fault model (comma-separated,\n"
            "  for upset eval --flip, with --include-bias for an include_bias campaign) and the\n"
            "  drawn cells that protection kept\n");
    return 2;
}

/* The campaign of a finished results file, its model and data, and the protect list or oracle
 * it read (checked by checksum). */
static int load_from_results(const char *path, run_ctx_t *r, upset_err_t *err)
{
    char *yaml = NULL, *kind = NULL, *mck = NULL;
    int rc = results_read_attr_string(path, "kind", &kind, err) ||
             results_read_attr_string(path, "campaign_yaml", &yaml, err) ||
             results_read_attr_string(path, "model_checksum_fnv1a64", &mck, err);
    if (!rc && strcmp(kind, "multibit"))
        rc = upset_fail(err, "%s: a %s campaign's results; upset trial reads multibit results",
                        path, kind);
    campaign_defaults(&r->c);
    if (!rc)
        rc = campaign_load_yaml_string(&r->c, yaml, strlen(yaml), path, err) ||
             campaign_validate(&r->c, err) || run_setup(r, err);
    if (!rc && strcmp(fnv_hex(r->model.checksum).s, mck))
        rc = upset_fail(err, "%s: the model %s has changed since the campaign ran", path,
                        r->c.model);
    /* the protect list or oracle the mask is rebuilt from: as the campaign read it */
    rc = rc || campaign_inputs_verify(path, &r->c, err);
    free(yaml);
    free(kind);
    free(mck);
    return rc ? -1 : 0;
}

int cmd_trial(int argc, char **argv)
{
    if (argc < 3 || argv[1][0] == '-')
        return trial_usage();
    run_ctx_t r;
    memset(&r, 0, sizeof r);
    upset_err_t err = {{0}};
    unsigned char *mask = NULL, *mark = NULL;
    int64_t *bits = NULL, n_prot = 0;
    int rc = load_from_results(argv[1], &r, &err);
    const int64_t n = rc ? 0 : r.model.n_fault_bits;
    if (!rc) {
        mask = calloc((size_t)n, 1);
        mark = calloc((size_t)n, 1);
        bits = calloc((size_t)multibit_scratch(&r.c, n), sizeof *bits);
        rc = mask && mark && bits ? multibit_protection(&r, mask, &n_prot, &err)
                                  : upset_fail(&err, "out of memory");
    }
    /* its indices count bias bits: replayed without --include-bias, indices below the kernel
     * bits' end name other weights and eval gives another number without a word */
    if (!rc && r.c.include_bias)
        fprintf(stderr, "upset trial: %s is an include_bias campaign: its bit indices count "
                        "bias bits; replay with upset eval --include-bias --flip\n", argv[1]);
    for (int i = 2; !rc && i < argc; i++) {
        char *end;
        errno = 0;
        long long t = strtoll(argv[i], &end, 10);
        if (end == argv[i] || *end || errno || t < 0 || t >= r.c.multibit.trials) {
            rc = upset_fail(&err, "trial '%s': expected a number in [0, %lld)", argv[i],
                            (long long)r.c.multibit.trials);
            break;
        }
        int64_t k;
        const int64_t *eff;
        const int64_t n_eff = multibit_trial(&r.c, &r.model, mask, t, bits, mark, &k, &eff);
        printf("trial %lld flipped", t);
        for (int64_t j = 0; j < n_eff; j++)
            printf("%s%lld", j ? "," : " ", (long long)eff[j]);
        if (!n_eff)
            printf(" (none)");
        printf("\ntrial %lld protected", t);
        int64_t none = 1;
        for (int64_t j = 0; j < k; j++)
            if (mask[bits[j]])
                printf("%s%lld", none ? " " : ",", (long long)bits[j]), none = 0;
        printf("%s\n", none ? " (none)" : "");
    }
    if (rc)
        fprintf(stderr, "upset trial: %s\n", err.msg);
    free(mask);
    free(mark);
    free(bits);
    dataset_free(&r.data);
    model_free(&r.model);
    campaign_free(&r.c);
    return rc ? 1 : 0;
}
