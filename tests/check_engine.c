/* The fixed-point engine against the published models' own outputs:
 *  - the hls4ml zcu102 encoder's 10 test vectors (input and expected encoder output
 *    from the fastml-science repository);
 *  - the FKeras CIFAR-10 model's fault-free correctness on the bundled test images
 *    against non_faulty_correct_indices.npy (the images FKeras found it classifies
 *    correctly). */
#include <math.h>
#include <stdio.h>

#include "check_util.h"
#include "npy.h"
#include "upset/dataset.h"
#include "upset/engine.h"

START_TEST(test_zcu102_vectors)
{
    model_t m;
    engine_t e;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load("models/zcu102_encoder.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(engine_create(&e, &m, -1, &err) == 0, "%s", err.msg);
    int64_t nin = 0, nout = 0;
    double *in = npy_read("data/reference/hgcal_test_input.npy", &nin);
    double *want = npy_read("data/reference/hgcal_test_output.npy", &nout);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(want);
    ck_assert_int_eq(nin, 10 * 64);
    ck_assert_int_eq(nout, 10 * 16);
    double worst = 0;
    for (int s = 0; s < 10; s++) {
        ck_assert_msg(engine_run(&e, in + s * 64, &err) == 0, "%s", err.msg);
        const tensor_t *out = engine_output(&e);
        ck_assert_int_eq(out->n, 16);
        for (int k = 0; k < 16; k++) {
            double d = fabs(tensor_value(out, k) - want[s * 16 + k]);
            if (d > worst)
                worst = d;
            if (d != 0)
                printf("zcu102 vector %d output %d: engine %.9g, reference %.9g\n", s, k,
                       tensor_value(out, k), want[s * 16 + k]);
        }
    }
    printf("zcu102: 10 vectors x 16 outputs, largest difference %g\n", worst);
    ck_assert_msg(worst == 0, "zcu102 outputs differ by up to %g", worst);
    free(in);
    free(want);
    engine_free(&e);
    model_free(&m);
}
END_TEST

START_TEST(test_cifar10_correct_indices)
{
    model_t m;
    engine_t e;
    dataset_t d;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load("models/cifar10.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(dataset_load_cifar10("data/cifar10/test_batch_first1017.bin",
                                       "data/cifar10/test_labels_10000.bin", 0, -1, &d, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(d.n, 1017);
    ck_assert_msg(engine_create(&e, &m, d.input_frac, &err) == 0, "%s", err.msg);
    int64_t nidx = 0;
    double *idx = npy_read("data/cifar10/non_faulty_correct_indices.npy", &nidx);
    ck_assert_ptr_nonnull(idx);
    unsigned char listed[1017] = {0};
    for (int64_t i = 0; i < nidx; i++)
        if (idx[i] < 1017)
            listed[(int)idx[i]] = 1;
    int agree = 0, n_listed = 0;
    for (int64_t i = 0; i < d.n; i++) {
        ck_assert_msg(engine_run(&e, d.x + i * 3072, &err) == 0, "%s", err.msg);
        const tensor_t *out = engine_output(&e);
        int best = 0;
        for (int k = 1; k < out->n; k++)
            if (tensor_value(out, k) > tensor_value(out, best))
                best = k;
        int correct = best == d.label[i];
        n_listed += listed[i];
        if (correct == listed[i]) {
            agree++;
            continue;
        }
        printf("cifar10 image %lld: label %d, predicted %d, %s in non_faulty_correct_indices; "
               "outputs:", (long long)i, d.label[i], best, listed[i] ? "listed" : "not listed");
        for (int k = 0; k < out->n; k++)
            printf(" %.6g", tensor_value(out, k));
        printf("\n");
    }
    printf("cifar10: %d of 1017 images agree with non_faulty_correct_indices.npy (%d listed)\n",
           agree, n_listed);
    ck_assert_int_eq(agree, 1017);
    free(idx);
    dataset_free(&d);
    engine_free(&e);
    model_free(&m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_zcu102_vectors);
    tcase_add_test(tc, test_cifar10_correct_indices);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
