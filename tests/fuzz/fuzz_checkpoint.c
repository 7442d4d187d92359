/* Checkpoint loader: a campaign of 64 items of 24 bytes with fingerprint "fuzz"
 * (seed: `fuzz_checkpoint -seed_file DIR` writes a valid one into DIR). */
#include <string.h>

#include "fuzz_util.h"
#include "upset/checkpoint.h"

#define N_ITEMS 64
#define RECORD 24

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 1; i < *argc; i++)
        if (!strcmp((*argv)[i], "-seed_file") && i + 1 < *argc) {
            uint8_t done[N_ITEMS], rec[N_ITEMS * RECORD];
            for (int k = 0; k < N_ITEMS; k++)
                done[k] = k % 3 != 0;
            for (int k = 0; k < N_ITEMS * RECORD; k++)
                rec[k] = (uint8_t)(k * 7);
            char path[4096];
            snprintf(path, sizeof path, "%s/valid.ckpt", (*argv)[i + 1]);
            upset_err_t err = {{0}};
            exit(checkpoint_save(path, "fuzz", N_ITEMS, RECORD, done, rec, &err) ? 1 : 0);
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    uint8_t done[N_ITEMS], rec[N_ITEMS * RECORD];
    int64_t n_done = 0;
    upset_err_t err = {{0}};
    if (checkpoint_load(fuzz_file(data, n), "fuzz", N_ITEMS, RECORD, done, rec, &n_done, &err) ==
        0) {
        int64_t count = 0;
        for (int k = 0; k < N_ITEMS; k++)
            count += done[k] == 1;
        if (count != n_done)
            abort();
    }
    return 0;
}
