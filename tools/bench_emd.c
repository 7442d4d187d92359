/* EMD cold vs warm start on the solves an ECON-T Medium oracle makes: for a few encoder
 * bits, the reconstruction of each sample with the bit flipped, solved cold and warm
 * from that sample's fault-free basis. Run by tools/bench.sh (make bench). */
#include <stdio.h>
#include <stdlib.h>

#include "upset/bitspace.h"
#include "upset/clock.h"
#include "upset/dataset.h"
#include "upset/econt.h"
#include "upset/engine.h"

#define SAMPLES 1000
#define BITS 24

static void output_cells(engine_t *e, const double *x, double *cells, upset_err_t *err)
{
    double img[64];
    if (engine_run(e, x, err)) {
        fprintf(stderr, "bench_emd: %s\n", err->msg);
        exit(1);
    }
    for (int p = 0; p < 64; p++)
        img[p] = tensor_value(engine_output(e), p);
    econt_cells_from_8x8(img, cells);
}

int main(void)
{
    upset_err_t err;
    model_t m;
    dataset_t d;
    engine_t e;
    const char *files[] = {"data/hgcal/ttbar_0PU.csv"};
    if (model_load("models/econt_medium.h5", &m, &err) ||
        dataset_load_hgcal(files, 1, 0, SAMPLES, &d, &err) || engine_create(&e, &m, -1, &err)) {
        fprintf(stderr, "bench_emd: %s\n", err.msg);
        return 1;
    }
    emd_workspace_t *ws = emd_workspace_create(48, 48, &err);
    emd_basis_t **basis = calloc(SAMPLES, sizeof *basis);
    double *out = malloc(sizeof(double) * 48 * SAMPLES * BITS), r;
    for (int s = 0; s < SAMPLES; s++) {
        double cells[48];
        basis[s] = emd_basis_create(48, 48, &err);
        output_cells(&e, d.x + s * 64, cells, &err);
        econt_emd_warm(ws, NULL, d.cells + s * 48, cells, ECONT_ZERO_UNIFORM, &r, basis[s], &err);
    }
    /* faulty reconstructions: dense-layer bits spread over positions 0..5 */
    for (int k = 0; k < BITS; k++) {
        bitaddr_t a;
        bitspace_locate(&m, 432 + (int64_t)k * 509 + k % 6, &a);
        bitspace_flip(&m, a);
        for (int s = 0; s < SAMPLES; s++)
            output_cells(&e, d.x + s * 64, out + ((size_t)k * SAMPLES + s) * 48, &err);
        bitspace_flip(&m, a);
    }
    double sum_cold = 0, sum_warm = 0, worst = 0;
    double t0 = clock_cpu_s();
    for (int k = 0; k < BITS; k++)
        for (int s = 0; s < SAMPLES; s++) {
            econt_emd_warm(ws, NULL, d.cells + s * 48, out + ((size_t)k * SAMPLES + s) * 48,
                           ECONT_ZERO_UNIFORM, &r, NULL, &err);
            sum_cold += r;
        }
    double t1 = clock_cpu_s();
    long fallbacks = 0;
    for (int k = 0; k < BITS; k++)
        for (int s = 0; s < SAMPLES; s++) {
            econt_emd_warm(ws, basis[s], d.cells + s * 48, out + ((size_t)k * SAMPLES + s) * 48,
                           ECONT_ZERO_UNIFORM, &r, NULL, &err);
            fallbacks += emd_last_stats(ws).fallback;
            sum_warm += r;
        }
    double t2 = clock_cpu_s(), n = (double)BITS * SAMPLES;
    worst = (sum_cold - sum_warm) / sum_cold;
    printf("ECON-T Medium, %d faulty reconstructions x %d samples: cold %.2f us/solve, warm %.2f "
           "us/solve (CPU time), speed-up %.2fx; warm fell back to cold %ld times; sums differ by %.1e "
           "relative\n",
           BITS, SAMPLES, 1e6 * (t1 - t0) / n, 1e6 * (t2 - t1) / n, (t1 - t0) / (t2 - t1),
           fallbacks, worst);
    return 0;
}
