/* Shared helpers for the Check suites: each tests/check_<module>.c defines
 * `Suite *make_suite(void)` and ends with UPSET_CHECK_MAIN. Tests run from the
 * repository root, so data paths are relative to it. */
#ifndef UPSET_CHECK_UTIL_H
#define UPSET_CHECK_UTIL_H

#include <check.h>
#include <stdlib.h>

#define UPSET_CHECK_MAIN(make_suite_fn)                                                  \
    int main(void)                                                                       \
    {                                                                                    \
        SRunner *sr = srunner_create(make_suite_fn());                                   \
        srunner_run_all(sr, CK_NORMAL);                                                  \
        int failed = srunner_ntests_failed(sr);                                          \
        srunner_free(sr);                                                                \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                \
    }

#endif
