/* The task module: per-sample scores (the classifier's argmax against numpy's rule, the
 * autoencoder's EMD, cold and warm-started, against econt_emd's cold solve, itself
 * checked against an LP solver in check_emd), the per-sample comparison, what each task
 * asks of the data, and each task's fault error. */
#include <math.h>
#include <string.h>

#include "check_util.h"
#include "upset/econt.h"
#include "upset/task.h"

/* A classifier model's task row and scorer over a labelled stand-in dataset. */
START_TEST(test_classifier_argmax_first_on_ties)
{
    model_t m;
    upset_err_t err = {{0}};
    ck_assert_msg(model_load("models/cifar10.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.task, TASK_CLASSIFIER);
    dataset_t d = {0};
    task_scorer_t s;
    ck_assert_int_eq(task_scorer_create(&s, &m, &d, ECONT_ZERO_UNIFORM, &err), 0);
    ck_assert_int_eq(s.n_out, 10);
    double out[10] = {0};
    sample_result_t r;
    ck_assert_int_eq(task_score(&s, out, 0, &r, &err), 0);
    ck_assert_int_eq(r.pred, 0); /* all equal: the first */
    out[3] = 2.5, out[7] = 2.5, out[9] = -1;
    ck_assert_int_eq(task_score(&s, out, 0, &r, &err), 0);
    ck_assert_int_eq(r.pred, 3);
    ck_assert(r.emd == 0);
    for (int k = 0; k < 10; k++)
        out[k] = -10 + k * 0.25;
    out[4] = -0.5;
    ck_assert_int_eq(task_score(&s, out, 0, &r, &err), 0);
    ck_assert_int_eq(r.pred, 4);
    task_scorer_free(&s);
    model_free(&m);
}
END_TEST

START_TEST(test_classifier_compare_and_error)
{
    const task_ops_t *t = task_ops(TASK_CLASSIFIER);
    const sample_result_t right = {0, 2}, wrong = {0, 5};
    sample_cmp_t c;
    t->compare(&wrong, &right, 2, &c); /* newly wrong */
    ck_assert(c.mispredicted && c.exceeds && c.error == 1);
    t->compare(&wrong, &wrong, 2, &c); /* wrong before too */
    ck_assert(c.mispredicted && !c.exceeds && c.error == 0);
    t->compare(&right, &wrong, 2, &c); /* repaired */
    ck_assert(!c.mispredicted && !c.exceeds && c.error == 0);
    const fault_result_t clean = {0, 0, 7, 0}, f = {0, 0, 10, 4}, better = {0, 0, 6, 1};
    ck_assert(t->error(&f, &clean) == 3 && t->sensitive(&f, &clean));
    ck_assert(t->error(&better, &clean) == -1 && !t->sensitive(&better, &clean));
    ck_assert_int_eq(t->loss, TASK_LOSS_XENT);
    ck_assert(t->labelled && t->counts);
}
END_TEST

START_TEST(test_autoencoder_score_is_the_emd)
{
    model_t m;
    dataset_t d;
    upset_err_t err = {{0}};
    const char *files[] = {"data/hgcal/ttbar_0PU.csv"};
    ck_assert_msg(model_load("models/econt_medium.h5", &m, &err) == 0, "%s", err.msg);
    ck_assert_msg(dataset_load_hgcal(files, 1, 0, 20, &d, &err) == 0, "%s", err.msg);
    ck_assert_msg(task_check_data(&m, &d, "ttbar", &err) == 0, "%s", err.msg);
    task_scorer_t cold, warm;
    ck_assert_int_eq(task_scorer_create(&cold, &m, &d, ECONT_ZERO_UNIFORM, &err), 0);
    ck_assert_int_eq(task_scorer_create(&warm, &m, &d, ECONT_ZERO_UNIFORM, &err), 0);
    ck_assert_msg(task_scorer_warm_starts(&warm, &err) == 0, "%s", err.msg);
    emd_workspace_t *ws = emd_workspace_create(ECONT_CELLS, ECONT_CELLS, &err);
    ck_assert_ptr_nonnull(ws);
    uint64_t seed = 12345;
    for (int round = 0; round < 3; round++)
        for (int64_t i = 0; i < d.n; i++) {
            double out[64], cells[ECONT_CELLS], want;
            for (int p = 0; p < 64; p++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                out[p] = (double)(seed >> 40) / (double)(1u << 24);
            }
            econt_cells_from_8x8(out, cells);
            ck_assert_int_eq(econt_emd(ws, d.cells + i * ECONT_CELLS, cells,
                                       ECONT_ZERO_UNIFORM, &want, &err),
                             0);
            sample_result_t a, b;
            ck_assert_int_eq(task_score(&cold, out, i, &a, &err), 0);
            ck_assert_int_eq(task_score(&warm, out, i, &b, &err), 0);
            ck_assert_int_eq(a.pred, -1);
            ck_assert_msg(fabs(a.emd - want) <= 1e-12 * want && fabs(b.emd - want) <= 1e-12 * want,
                          "sample %lld: %.17g %.17g vs %.17g", (long long)i, a.emd, b.emd, want);
        }
    emd_workspace_free(ws);
    task_scorer_free(&cold);
    task_scorer_free(&warm);
    const task_ops_t *t = task_ops(TASK_AUTOENCODER);
    sample_cmp_t c;
    const sample_result_t lo = {0.5, -1}, hi = {0.75, -1};
    t->compare(&hi, &lo, 0, &c);
    ck_assert(c.exceeds && c.error == 0.25 && !c.mispredicted);
    t->compare(&lo, &hi, 0, &c);
    ck_assert(!c.exceeds && c.error == -0.25);
    /* a fault's error is its mean EMD's increase, sensitive only when the mean grew:
     * 0.75 over 0.5 -> 0.25, sensitive; an equal mean (a bit that changes no output) and a
     * smaller one are not */
    const fault_result_t clean = {0.5, 0, 0, 0}, worse = {0.75, 0.25, 0, 9},
                         same = {0.5, 0, 0, 0}, better = {0.375, -0.125, 0, 3};
    ck_assert(t->error(&worse, &clean) == 0.25 && t->sensitive(&worse, &clean));
    ck_assert(t->error(&same, &clean) == 0 && !t->sensitive(&same, &clean));
    ck_assert(t->error(&better, &clean) == -0.125 && !t->sensitive(&better, &clean));
    ck_assert_int_eq(t->loss, TASK_LOSS_TELESCOPE);
    ck_assert(!t->labelled && !t->counts);
    dataset_free(&d);
    model_free(&m);
}
END_TEST

START_TEST(test_what_each_task_asks_of_the_data)
{
    model_t cnn, ae;
    dataset_t cifar, hgcal;
    upset_err_t err = {{0}};
    const char *files[] = {"data/hgcal/ttbar_0PU.csv"};
    ck_assert_int_eq(model_load("models/cifar10.h5", &cnn, &err), 0);
    ck_assert_int_eq(model_load("models/econt_medium.h5", &ae, &err), 0);
    ck_assert_int_eq(dataset_load_cifar10("data/cifar10/test_batch_first1017.bin", NULL, 0, 4,
                                          &cifar, &err),
                     0);
    ck_assert_int_eq(dataset_load_hgcal(files, 1, 0, 4, &hgcal, &err), 0);
    ck_assert_msg(task_check_data(&cnn, &cifar, "images", &err) == 0, "%s", err.msg);
    /* the shape is checked first */
    ck_assert_int_ne(task_check_data(&ae, &cifar, "images", &err), 0);
    ck_assert_msg(strstr(err.msg, "images: samples are (32,32,3)"), "%s", err.msg);
    /* a classifier needs labels, and labels its outputs can name */
    int *labels = cifar.label;
    cifar.label = NULL;
    ck_assert_int_ne(task_check_data(&cnn, &cifar, "images", &err), 0);
    ck_assert_msg(strstr(err.msg, "images: classifier model models/cifar10.h5 needs labelled"),
                  "%s", err.msg);
    cifar.label = labels;
    cifar.label[2] = 10;
    ck_assert_int_ne(task_check_data(&cnn, &cifar, "images", &err), 0);
    ck_assert_msg(strstr(err.msg, "labels go up to class 10") && strstr(err.msg, "10 outputs"),
                  "%s", err.msg);
    /* an autoencoder needs the input cells its EMD compares with */
    ck_assert_msg(task_check_data(&ae, &hgcal, "rows", &err) == 0, "%s", err.msg);
    double *cells = hgcal.cells;
    hgcal.cells = NULL;
    ck_assert_int_ne(task_check_data(&ae, &hgcal, "rows", &err), 0);
    ck_assert_msg(strstr(err.msg, "rows: autoencoder model models/econt_medium.h5 needs HGCal"),
                  "%s", err.msg);
    hgcal.cells = cells;
    /* a classifier's output is one vector of class scores: the model cut after its first
     * batch norm ends in a (32,32,32) map (a per-position output), no single prediction */
    const int n_layers = cnn.n_layers;
    cnn.n_layers = 2;
    ck_assert_int_ne(task_check_data(&cnn, &cifar, "images", &err), 0);
    ck_assert_msg(strstr(err.msg, "classifier models/cifar10.h5: its output must be one vector "
                                  "of class scores (1,1,n)") &&
                      strstr(err.msg, "gives (32,32,32)"),
                  "%s", err.msg);
    cnn.n_layers = n_layers;
    dataset_free(&cifar);
    dataset_free(&hgcal);
    model_free(&cnn);
    model_free(&ae);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_classifier_argmax_first_on_ties);
    tcase_add_test(tc, test_classifier_compare_and_error);
    tcase_add_test(tc, test_autoencoder_score_is_the_emd);
    tcase_add_test(tc, test_what_each_task_asks_of_the_data);
    suite_add_tcase(s, tc);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
