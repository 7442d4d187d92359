/* The upset binary: everything lives in libupset.a; see src/cli.c. */
#include "upset/cli.h"

int main(int argc, char **argv)
{
    return upset_main(argc, argv);
}
