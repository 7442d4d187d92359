/* Internal to `upset protect` (cli_protect.c, cli_protect_check.c): the single-bit oracle
 * as the planner reads it, and the area of a protected set. */
#ifndef UPSET_PROTECT_INT_H
#define UPSET_PROTECT_INT_H

#include <stdint.h>

#include "upset/error.h"
#include "upset/model.h"

typedef struct {
    const char *path;
    model_t m;
    int64_t n;           /* faultable bits */
    double *err_b;       /* (n) the bit's error relative to fault-free, in the task's unit */
    unsigned char *sens; /* (n) 1: worse than fault-free on the oracle's inputs */
    char *data_checksum; /* of the oracle's inputs */
    char *campaign_yaml; /* the oracle campaign, as stored */
} protect_oracle_t;

/* Bit cells of memory with the bits of mask protected: TMR keeps three copies of a
 * protected bit; SEC-DED ECC adds check bits to every weight with a protected bit; a
 * user's table gives each layer's extra cells per protected bit. */
typedef struct {
    int ecc;          /* 1: SEC-DED per word; 0: extra[b] per protected bit */
    double *extra;    /* (n) cells a protected bit adds: 2 (TMR) or its layer's table cost */
    int64_t *word_of; /* global bit -> global weight index */
    int *word_bits;   /* global weight -> its bits */
    int64_t n_words;
} protect_area_t;

/* Check bits SEC-DED adds to a w-bit word: r Hamming bits with 2^r >= w + r + 1, plus
 * one overall parity bit. */
int protect_ecc_bits(int w);

double protect_area(const protect_area_t *ar, int64_t n, const unsigned char *mask);

/* Prediction beside measurement: for each multibit results file, the first-order
 * prediction from the oracle (the campaign's own cells per trial, protection and fault
 * model) and what the campaign measured, with 95 % intervals; printed, and written to
 * out_dir/check.csv when out_dir is not NULL. */
int protect_check(const protect_oracle_t *o, const protect_area_t *ar,
                  const char *const *results, int n_results, const char *out_dir,
                  upset_err_t *err);

#endif
