/* CIFAR-10 binary loader (records and, from the same bytes, a labels file). */
#include "fuzz_util.h"
#include "upset/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *path = fuzz_file(data, n);
    dataset_t d;
    upset_err_t err = {{0}};
    if (dataset_load_cifar10(path, NULL, 0, -1, &d, &err) == 0)
        dataset_free(&d);
    if (dataset_load_cifar10(path, path, 0, -1, &d, &err) == 0)
        dataset_free(&d);
    return 0;
}
