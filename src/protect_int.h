/* Internal to `upset protect` (cli_protect.c: the command and the plan;
 * cli_protect_out.c: its files; cli_protect_check.c: --check): the single-bit oracle as
 * the planner reads it, the area of a protected set, the orders. */
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

/* An order of the bits to protect: most important first. */
typedef struct {
    const char *name;
    int64_t *order;
} order_t;

/* 1 - (1 - u)^sensitive: a trial's failure probability when each of `sensitive` bits is
 * upset independently with probability u. */
double protect_failure(int64_t sensitive, double u);

/* The files of a plan in dir (docs/protection.md); orders[0] is the oracle order. */
int protect_write_curve(const char *dir, const protect_oracle_t *o, const protect_area_t *ar,
                        const order_t *orders, int n_orders, double u, int64_t budget,
                        upset_err_t *err);
int protect_write_lists(const char *dir, const protect_oracle_t *o, const order_t *orders,
                        int n_orders, int64_t budget, upset_err_t *err);
int protect_write_tables(const char *dir, const model_t *m, const unsigned char *hit,
                         upset_err_t *err);
int protect_write_mask(const char *dir, const protect_oracle_t *o, const unsigned char *hit,
                       double u, const char *cost, int64_t budget, double area,
                       upset_err_t *err);
/* The held-out samples the validation campaigns take (*holdout): want, or where the data
 * hold fewer after the oracle's, all of them (say so; refused when want was given); 0:
 * none (an oracle over every sample, or nothing after it), said on stdout. */
int protect_holdout(const protect_oracle_t *o, int64_t want, int given, int64_t *holdout,
                    upset_err_t *err);
int protect_write_validation(const char *dir, const protect_oracle_t *o, const order_t *orders,
                             int n_orders, double u, int64_t holdout, int64_t trials,
                             upset_err_t *err);

/* Prediction beside measurement: for each multibit results file, the first-order
 * prediction from the oracle (the campaign's own cells per trial, protection and fault
 * model) and what the campaign measured, with 95 % intervals; printed, and written to
 * out_dir/check.csv when out_dir is not NULL. */
int protect_check(const protect_oracle_t *o, const protect_area_t *ar,
                  const char *const *results, int n_results, const char *out_dir,
                  upset_err_t *err);

#endif
