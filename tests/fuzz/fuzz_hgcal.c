/* HGCal CSV loader. */
#include "fuzz_util.h"
#include "upset/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *files[1] = {fuzz_file(data, n)};
    dataset_t d;
    upset_err_t err = {{0}};
    if (dataset_load_hgcal(files, 1, 0, 3, &d, &err) == 0)
        dataset_free(&d);
    return 0;
}
