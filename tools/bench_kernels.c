/* `make bench`: the int16 dot-product kernel's own rate on data that stays in L1 (32 rows
 * of K = 256), the ceiling the engine's convolutions are compared with. */
#include <stdio.h>
#include <time.h>

#include "upset/kernels.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void)
{
    enum { K = 256, ROWS = 32, REPS = 200000 };
    static int16_t x[K], w[ROWS * K];
    int32_t out[ROWS];
    for (int i = 0; i < K; i++)
        x[i] = (int16_t)(i % 255 - 127);
    for (int i = 0; i < ROWS * K; i++)
        w[i] = (int16_t)(i % 253 - 126);
    int64_t check = 0;
    double t0 = cpu_s();
    for (int r = 0; r < REPS; r++) {
        x[r % K] ^= 1; /* keeps the compiler from hoisting the call */
        kernel_dot16(x, w, K, ROWS, K, out);
        check += out[r % ROWS];
    }
    double dt = cpu_s() - t0;
    printf("kernel_dot16 (%s), %d rows x K %d in L1: %.1f GMAC/s (checksum %lld)\n",
           kernel_path(), ROWS, K, (double)K * ROWS * REPS / dt / 1e9, (long long)check);
    return 0;
}
