/* Error reporting for library code: functions return 0 on success or -1 with a
 * message in an upset_err_t, so library code never exits and Check tests run
 * without MPI. Only the CLI turns a failure into a message and an exit. */
#ifndef UPSET_ERROR_H
#define UPSET_ERROR_H

#include <stddef.h>

#define UPSET_ERR_LEN 4096

typedef struct {
    char msg[UPSET_ERR_LEN];
} upset_err_t;

/* Formats a message into err (when err is not NULL) and returns -1. */
int upset_fail(upset_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends a line to an existing message (rank 0 collects every input problem). */
void upset_err_append(upset_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* malloc/calloc that report failure through err. */
void *upset_calloc(size_t n, size_t size, upset_err_t *err);
/* upset_calloc starting on a 64-byte cache line (freed by free): a 512-bit load from an
 * array of doubles whose rows are whole lines then never spans two lines. */
void *upset_calloc_lines(size_t n, size_t size, upset_err_t *err);

#endif
