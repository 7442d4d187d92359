/* `make bench`: the int16 dot-product kernel's own rate on data that stays in L1 (32 rows
 * of K = 256), and the core's clock and int16 peak it and the convolutions are compared with:
 * the clock from chains of dependent register adds and multiplies, the peak as two 256-bit
 * multiply-adds of 16 int16 pairs per cycle (AMD Zen 3/4, Intel since Skylake). Where the
 * core has AVX-512 VNNI, also its 512-bit peak: 32 pairs per multiply-add, as many a cycle
 * as twelve independent ones measure (rounded: one or two 512-bit units). Prints
 * "peak_gmacs=X" (and "peak512_gmacs=X") last for tools/bench.sh. */
#include <stdio.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "upset/clock.h"
#include "upset/kernels.h"

#if defined(__x86_64__)
/* Eight times `op %1, %0` on one register, dependent in turn. */
#define CHAIN8(op) op " %1, %0\n\t" op " %1, %0\n\t" op " %1, %0\n\t" op " %1, %0\n\t" \
                   op " %1, %0\n\t" op " %1, %0\n\t" op " %1, %0\n\t" op " %1, %0"

/* Dependent operations per CPU second: register adds, or 64-bit multiplies. */
static double chain_rate(int multiply, long n)
{
    unsigned long x = 1;
    const unsigned long y = multiply ? 3 : 1;
    const double t0 = clock_cpu_s();
    for (long i = 0; i < n; i++)
        if (multiply)
            __asm__ volatile(CHAIN8("imul") : "+r"(x) : "r"(y));
        else
            __asm__ volatile(CHAIN8("add") : "+r"(x) : "r"(y));
    return 8.0 * n / (clock_cpu_s() - t0);
}
#endif

#if defined(__x86_64__)
/* Independent 512-bit vpdpwssd per CPU second: twelve accumulators, more than the latency
 * times two units needs. */
__attribute__((target("avx512f,avx512vnni"))) static double vnni512_rate(long n)
{
    const __m512i x = _mm512_set1_epi16(3), w = _mm512_set1_epi16(5);
    __m512i a0 = _mm512_set1_epi32(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0; /* named: an array would spill */
    const double t0 = clock_cpu_s();
    for (long i = 0; i < n; i++) {
        a0 = _mm512_dpwssd_epi32(a0, x, w), a1 = _mm512_dpwssd_epi32(a1, x, w);
        a2 = _mm512_dpwssd_epi32(a2, x, w), a3 = _mm512_dpwssd_epi32(a3, x, w);
        a4 = _mm512_dpwssd_epi32(a4, x, w), a5 = _mm512_dpwssd_epi32(a5, x, w);
        a6 = _mm512_dpwssd_epi32(a6, x, w), a7 = _mm512_dpwssd_epi32(a7, x, w);
        a8 = _mm512_dpwssd_epi32(a8, x, w), a9 = _mm512_dpwssd_epi32(a9, x, w);
        a10 = _mm512_dpwssd_epi32(a10, x, w), a11 = _mm512_dpwssd_epi32(a11, x, w);
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),
                         "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    return 12.0 * n / (clock_cpu_s() - t0);
}
#endif

/* Cycles per second, from a chain of dependent register adds (one per cycle), checked
 * against a chain of dependent multiplies (three cycles each on every x86 core since
 * Nehalem and Zen); 0 when they disagree by more than 10 %, or off x86. An add of an
 * immediate would not do: recent Intel cores fold chains of them at rename, several per
 * cycle (a probe built that way read 16 GHz on a 3.5 GHz Xeon). */
static double clock_hz(void)
{
#if defined(__x86_64__)
    const long n = 50000000; /* eight per pass: the loop's own work hides */
    const double adds = chain_rate(0, n), muls = 3 * chain_rate(1, n / 3);
    if (adds > 1.1 * muls || muls > 1.1 * adds) {
        printf("clock: dependent adds give %.2f GHz, dependent multiplies %.2f: no peak figure\n",
               adds / 1e9, muls / 1e9);
        return 0;
    }
    return adds;
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
    double t0 = clock_cpu_s();
    for (int r = 0; r < REPS; r++) {
        x[r % K] ^= 1; /* keeps the compiler from hoisting the call */
        kernel_dot16(x, w, K, ROWS, K, out);
        check += out[r % ROWS];
    }
    double dt = clock_cpu_s() - t0;
    const double rate = (double)K * ROWS * REPS / dt / 1e9, hz = clock_hz(), peak = 32 * hz / 1e9;
    printf("kernel_dot16 (%s), %d rows x K %d in L1: %.1f GMAC/s (checksum %lld)\n",
           kernel_path(), ROWS, K, rate, (long long)check);
    if (hz > 0)
        printf("clock %.2f GHz (dependent adds and multiplies): int16 peak 2 x 16 MACs/cycle = %.0f GMAC/s; "
               "the kernel in L1 at %.0f %%\npeak_gmacs=%.1f\n",
               hz / 1e9, peak, 100 * rate / peak, peak);
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (hz > 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni")) {
        const double per_cycle = vnni512_rate(20000000) / hz, units = per_cycle > 1.5 ? 2 : 1;
        printf("512-bit vpdpwssd: %.2f a cycle measured (independent ones): 512-bit int16 peak "
               "%.0f x 32 MACs/cycle = %.0f GMAC/s\npeak512_gmacs=%.1f\n",
               per_cycle, units, units * 32 * hz / 1e9, units * 32 * hz / 1e9);
    }
#endif
    return 0;
}
