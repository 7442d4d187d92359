/* The two clocks timings use: wall time for what a user waits for, CPU time for
 * comparisons that must hold on a shared, noisy machine. */
#ifndef UPSET_CLOCK_H
#define UPSET_CLOCK_H

/* Seconds on the monotonic clock (a vDSO read, unlike the CPU-time clock's system call:
 * cheap enough to read at every layer). */
double clock_wall_s(void);

/* CPU seconds this process has used, on every thread. */
double clock_cpu_s(void);

#endif
