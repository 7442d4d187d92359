/* `make bench`: the int16 dot-product kernel's own rate on data that stays in L1 (32 rows
 * of K = 256), and the core's clock and int16 peak it and the convolutions are compared with:
 * the clock from a chain of dependent adds (one per cycle), the peak as two 256-bit
 * multiply-adds of 16 int16 pairs per cycle (AMD Zen 3/4, Intel since Skylake). Prints
 * "peak_gmacs=X" last for tools/bench.sh. */
#include <stdio.h>
#include <time.h>

#include "upset/kernels.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Cycles per second, from a chain of dependent adds (x86; 0 elsewhere). */
static double clock_hz(void)
{
#if defined(__x86_64__)
    const long n = 50000000; /* eight dependent adds per pass: the loop's own work hides */
    unsigned long x = 0;
    double t0 = cpu_s();
    for (long i = 0; i < n; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                         : "+r"(x));
    double dt = cpu_s() - t0;
    return x == 8 * (unsigned long)n ? 8.0 * n / dt : 0;
#else
    return 0;
#endif
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
    const double rate = (double)K * ROWS * REPS / dt / 1e9, hz = clock_hz(), peak = 32 * hz / 1e9;
    printf("kernel_dot16 (%s), %d rows x K %d in L1: %.1f GMAC/s (checksum %lld)\n",
           kernel_path(), ROWS, K, rate, (long long)check);
    if (hz > 0)
        printf("clock %.2f GHz (dependent adds): int16 peak 2 x 16 MACs/cycle = %.0f GMAC/s; "
               "the kernel in L1 at %.0f %%\npeak_gmacs=%.1f\n",
               hz / 1e9, peak, 100 * rate / peak, peak);
    return 0;
}
