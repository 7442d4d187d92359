/* The campaign file (docs/campaign-format.md): every key and its default, the
 * messages for malformed YAML, unknown keys, wrong types, out-of-range values and
 * missing keys (each expected message is written out here, with the line and
 * column counted by hand in the YAML text beside it), all problems of a file in
 * one message, the --set overrides, the YAML dump and the MPI byte buffer as
 * round trips, and every bundled configs/ file. */
#include <glob.h>
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "upset/campaign.h"

/* A valid oracle campaign, lines 1-7; tests append their keys from line 8 on. */
#define GOOD                                                                               \
    "name: t\n"                                                                            \
    "model: m.h5\n"                                                                        \
    "data:\n"                                                                              \
    "  format: hgcal\n"                                                                    \
    "  files: [a.csv]\n"                                                                   \
    "kind: oracle\n"                                                                       \
    "output: o.h5\n"

/* The same without `kind`, lines 1-6. */
#define GOOD_NO_KIND                                                                       \
    "name: t\n"                                                                            \
    "model: m.h5\n"                                                                        \
    "data:\n"                                                                              \
    "  format: hgcal\n"                                                                    \
    "  files: [a.csv]\n"                                                                   \
    "output: o.h5\n"

static int load(campaign_t *c, const char *yaml, upset_err_t *err)
{
    campaign_defaults(c);
    err->msg[0] = '\0';
    return campaign_load_yaml_string(c, yaml, strlen(yaml), "t.yaml", err);
}

static void load_ok(campaign_t *c, const char *yaml)
{
    upset_err_t err;
    ck_assert_msg(load(c, yaml, &err) == 0, "load failed:\n%s", err.msg);
    ck_assert_msg(campaign_validate(c, &err) == 0, "validate failed:\n%s", err.msg);
}

/* Loading yaml fails with exactly the message want. */
static void load_fails(const char *yaml, const char *want)
{
    campaign_t c;
    upset_err_t err;
    ck_assert_msg(load(&c, yaml, &err) == -1, "accepted:\n%s", yaml);
    ck_assert_str_eq(err.msg, want);
    campaign_free(&c);
}

/* ------------------------------------------------------------------- defaults */

START_TEST(test_defaults)
{
    campaign_t c;
    load_ok(&c, GOOD);
    ck_assert_str_eq(c.name, "t");
    ck_assert_str_eq(c.model, "m.h5");
    ck_assert_str_eq(c.output, "o.h5");
    ck_assert_str_eq(c.source, "t.yaml");
    ck_assert_int_eq(c.kind, CAMPAIGN_ORACLE);
    ck_assert_int_eq(c.data.format, CAMPAIGN_DATA_HGCAL);
    ck_assert_int_eq(c.data.files.n, 1);
    ck_assert_str_eq(c.data.files.v[0], "a.csv");
    ck_assert_ptr_null(c.data.labels);
    ck_assert_int_eq(c.data.offset, 0);
    ck_assert_int_eq(c.data.count, 20000); /* the FKeras ECON-T evaluation set */
    ck_assert_int_eq(c.data.correct_only, 1);
    ck_assert_uint_eq(c.seed, 1);
    ck_assert_double_eq(c.checkpoint_interval, 60);
    ck_assert_int_eq(c.chunk_size, 0);
    ck_assert_int_eq(c.include_bias, 0);
    ck_assert_int_eq(c.emd_zero_sum, CAMPAIGN_EMD_ZERO_UNIFORM);
    ck_assert_int_eq(c.oracle.first_bit, 0);
    ck_assert_int_eq(c.oracle.bit_count, 0);
    ck_assert_int_eq(c.oracle.layers.n, 0);
    ck_assert_int_eq(c.guided.order, GUIDED_ORDER_RANKING);
    ck_assert_ptr_null(c.guided.ranking);
    ck_assert_int_eq(c.guided.budget, 0);
    ck_assert_int_eq(c.multibit.trials, 14000);
    ck_assert_int_eq(c.multibit.flips, 960);
    ck_assert_int_eq(c.multibit.protection, PROTECT_NONE);
    ck_assert_double_eq(c.multibit.protect_percent, 32);
    ck_assert_ptr_null(c.multibit.oracle);
    ck_assert_double_eq(c.statfi.confidence, 0.95);
    ck_assert_double_eq(c.statfi.margin, 0.05);
    ck_assert_double_eq(c.statfi.p, 0.5);
    ck_assert_int_eq(c.statfi.mode, STATFI_DATA_AWARE);
    ck_assert_int_eq(c.rank.metric, RANK_HESSIAN);
    ck_assert_int_eq(c.rank.eigen_k, 8);
    ck_assert_int_eq(c.rank.score, RANK_SCORE_FKERAS);
    ck_assert_int_eq(c.rank.samples, 256);
    ck_assert_int_eq(c.rank.trace, 1);
    ck_assert_double_eq(c.rank.trace_tol, 1e-3);
    ck_assert_int_eq(c.rank.trace_max_iter, 200);
    ck_assert_int_eq(c.quiet, 0);
    campaign_free(&c);

    /* CIFAR-10's default count is every image. */
    load_ok(&c, "name: t\nmodel: m.h5\ndata: {format: cifar10, files: [b.bin]}\n"
                "kind: oracle\noutput: o.h5\n");
    ck_assert_int_eq(c.data.count, CAMPAIGN_COUNT_ALL);
    campaign_free(&c);

    /* An empty section means "all defaults". */
    load_ok(&c, GOOD "oracle:\n");
    ck_assert_int_eq(c.oracle.bit_count, 0);
    campaign_free(&c);
}
END_TEST

START_TEST(test_every_key_read)
{
    campaign_t c;
    load_ok(&c, "name: every key\n"
                "model: models/x.h5\n"
                "data:\n"
                "  format: cifar10\n"
                "  files: [c.bin]\n"
                "  labels: l.bin\n"
                "  offset: 17\n"
                "  count: 300\n"
                "  correct_only: false\n"
                "kind: multibit\n"
                "seed: 9223372036854775807\n"
                "output: out/r.h5\n"
                "checkpoint_interval: 2.5\n"
                "chunk_size: 64\n"
                "include_bias: true\n"
                "emd_zero_sum: reference\n"
                "multibit:\n"
                "  trials: 7\n"
                "  flips: 3\n"
                "  protection: top_percent\n"
                "  protect_percent: 63.5\n"
                "  oracle: or.h5\n");
    ck_assert_str_eq(c.name, "every key");
    ck_assert_str_eq(c.model, "models/x.h5");
    ck_assert_int_eq(c.data.format, CAMPAIGN_DATA_CIFAR10);
    ck_assert_str_eq(c.data.files.v[0], "c.bin");
    ck_assert_str_eq(c.data.labels, "l.bin");
    ck_assert_int_eq(c.data.offset, 17);
    ck_assert_int_eq(c.data.count, 300);
    ck_assert_int_eq(c.data.correct_only, 0);
    ck_assert_int_eq(c.kind, CAMPAIGN_MULTIBIT);
    ck_assert_uint_eq(c.seed, (uint64_t)INT64_MAX);
    ck_assert_str_eq(c.output, "out/r.h5");
    ck_assert_double_eq(c.checkpoint_interval, 2.5);
    ck_assert_int_eq(c.chunk_size, 64);
    ck_assert_int_eq(c.include_bias, 1);
    ck_assert_int_eq(c.emd_zero_sum, CAMPAIGN_EMD_ZERO_REFERENCE);
    ck_assert_int_eq(c.multibit.trials, 7);
    ck_assert_int_eq(c.multibit.flips, 3);
    ck_assert_int_eq(c.multibit.protection, PROTECT_TOP_PERCENT_OF_SENSITIVE);
    ck_assert_double_eq(c.multibit.protect_percent, 63.5);
    ck_assert_str_eq(c.multibit.oracle, "or.h5");
    campaign_free(&c);

    load_ok(&c, GOOD_NO_KIND "kind: oracle\n"
                             "oracle: {first_bit: 5, bit_count: 10, layers: [conv, dense]}\n");
    ck_assert_int_eq(c.oracle.first_bit, 5);
    ck_assert_int_eq(c.oracle.bit_count, 10);
    ck_assert_int_eq(c.oracle.layers.n, 2);
    ck_assert_str_eq(c.oracle.layers.v[1], "dense");
    campaign_free(&c);

    load_ok(&c, GOOD_NO_KIND "kind: guided\nguided: {order: random, budget: 99}\n");
    ck_assert_int_eq(c.guided.order, GUIDED_ORDER_RANDOM);
    ck_assert_int_eq(c.guided.budget, 99);
    campaign_free(&c);

    load_ok(&c, GOOD_NO_KIND "kind: statfi\n"
                             "statfi: {confidence: 0.99, margin: 0.01, p: 0.25, mode: data_unaware}\n");
    ck_assert_double_eq(c.statfi.confidence, 0.99);
    ck_assert_double_eq(c.statfi.margin, 0.01);
    ck_assert_double_eq(c.statfi.p, 0.25);
    ck_assert_int_eq(c.statfi.mode, STATFI_DATA_UNAWARE);
    campaign_free(&c);

    load_ok(&c, GOOD_NO_KIND "kind: rank\n"
                             "rank: {metric: gradient, eigen_k: 3, score: paper, samples: 64,\n"
                             "       trace: false, trace_tol: 0.01, trace_max_iter: 50}\n");
    ck_assert_int_eq(c.rank.metric, RANK_GRADIENT);
    ck_assert_int_eq(c.rank.eigen_k, 3);
    ck_assert_int_eq(c.rank.score, RANK_SCORE_PAPER);
    ck_assert_int_eq(c.rank.samples, 64);
    ck_assert_int_eq(c.rank.trace, 0);
    ck_assert_double_eq(c.rank.trace_tol, 0.01);
    ck_assert_int_eq(c.rank.trace_max_iter, 50);
    campaign_free(&c);

    load_ok(&c, GOOD_NO_KIND "kind: binfi\nbinfi:\n");
    ck_assert_int_eq(c.kind, CAMPAIGN_BINFI);
    campaign_free(&c);

    /* Several HGCal files, in order. */
    load_ok(&c, "name: t\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv, b.csv, c.csv]}\n"
                "kind: oracle\noutput: o.h5\n");
    ck_assert_int_eq(c.data.files.n, 3);
    ck_assert_str_eq(c.data.files.v[2], "c.csv");
    campaign_free(&c);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(campaign_kind_name(CAMPAIGN_STATFI), "statfi");
    ck_assert_str_eq(campaign_kind_name(CAMPAIGN_KIND_UNSET), "?");
    ck_assert_str_eq(campaign_data_format_name(CAMPAIGN_DATA_CIFAR10), "cifar10");
    ck_assert_str_eq(campaign_emd_zero_name(CAMPAIGN_EMD_ZERO_REFERENCE), "reference");
    ck_assert_str_eq(guided_order_name(GUIDED_ORDER_MSB_LSB), "msb_lsb");
    ck_assert_str_eq(protection_name(PROTECT_TOP_PERCENT_OF_SENSITIVE), "top_percent_of_sensitive");
    ck_assert_str_eq(statfi_mode_name(STATFI_DATA_UNAWARE), "data_unaware");
    ck_assert_str_eq(rank_metric_name(RANK_GRADIENT), "gradient");
    ck_assert_str_eq(rank_score_name(RANK_SCORE_PAPER), "paper");
    ck_assert_int_eq(campaign_kind_from_name("rank"), CAMPAIGN_RANK);
    ck_assert_int_eq(campaign_kind_from_name("Rank"), -1);
    ck_assert_int_eq(campaign_data_format_from_name("hdf5"), CAMPAIGN_DATA_HDF5);
    ck_assert_int_eq(campaign_data_format_from_name("HDF5"), -1);
}
END_TEST

/* ------------------------------------------------------------ bad YAML, keys */

START_TEST(test_malformed_yaml)
{
    /* An indented line continues the plain scalar "m.h5", whose ':' at column 7
     * of line 3 YAML does not allow there. */
    load_fails("name: t\n"
               "model: m.h5\n"
               "  kind: oracle\n",
               "t.yaml:3:7: YAML syntax error: mapping values are not allowed in this context");
    /* A quote opened at line 1, column 7 runs to the end of the text (line 2, column 1). */
    load_fails("name: \"t\n",
               "t.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning a "
               "quoted scalar at line 1, column 7)");
    /* Not a map. */
    load_fails("- name: t\n", "t.yaml:1:1: (top level): expected a map of keys, got a list");
    load_fails("", "t.yaml: the file is empty; a campaign needs at least name, model, data, "
                   "kind and output");
    load_fails("# only a comment\n", "t.yaml: the file is empty; a campaign needs at least name, "
                                     "model, data, kind and output");
    /* Two documents. */
    load_fails(GOOD "---\nname: u\n",
               "t.yaml:8:1: a second YAML document; give one campaign per file");
    /* A missing file. */
    campaign_t c;
    upset_err_t err;
    campaign_defaults(&c);
    ck_assert_int_eq(campaign_load_yaml(&c, "tests/no-such-campaign.yaml", &err), -1);
    ck_assert_str_eq(err.msg, "tests/no-such-campaign.yaml: cannot open: No such file or directory");
    campaign_free(&c);
}
END_TEST

START_TEST(test_unknown_keys)
{
    load_fails(GOOD "colour: blue\n",
               "t.yaml:8:1: colour: unknown key (known keys: name, model, kind, seed, output, "
               "checkpoint_interval, chunk_size, include_bias, emd_zero_sum, data, oracle, "
               "guided, multibit, binfi, statfi, rank, activation)");
    load_fails(GOOD "sede: 3\n", "t.yaml:8:1: sede: unknown key (did you mean 'seed'?)");
    /* In a section: the dotted path and the section's own keys. */
    load_fails("name: t\n"
               "model: m.h5\n"
               "data:\n"
               "  format: hgcal\n"
               "  files: [a.csv]\n"
               "  cuont: 5\n"
               "kind: oracle\n"
               "output: o.h5\n",
               "t.yaml:6:3: data.cuont: unknown key (did you mean 'count'?)");
    /* A key of another section. */
    load_fails(GOOD "trials: 5\n",
               "t.yaml:8:1: trials: unknown key here (did you mean 'multibit.trials'?)");
    load_fails(GOOD_NO_KIND "kind: binfi\nbinfi: {depth: 2}\n",
               "t.yaml:8:9: binfi.depth: unknown key (section 'binfi' takes no keys)");
    /* A section for another kind. */
    /* include_bias with a kind that faults kernels only: at the key, before any model */
    load_fails(GOOD_NO_KIND "kind: binfi\ninclude_bias: true\n",
               "t.yaml:8:15: include_bias: binfi campaigns fault kernels only (oracle, guided, "
               "multibit and rank take bias bits)");
    load_fails(GOOD "multibit: {trials: 5}\n",
               "t.yaml:8:1: multibit: section 'multibit' given but kind is 'oracle'");
    load_fails(GOOD "seed: 2\nseed: 3\n",
               "t.yaml:9:1: seed: duplicate key (first given at line 8)");
}
END_TEST

/* -------------------------------------------------------------- wrong values */

START_TEST(test_wrong_types)
{
    load_fails(GOOD "seed: \"5\"\n",
               "t.yaml:8:7: seed: expected an unsigned integer, got the quoted string '5'");
    load_fails(GOOD "seed: {a: 1}\n", "t.yaml:8:7: seed: expected an unsigned integer, got a map");
    load_fails(GOOD "chunk_size: many\n",
               "t.yaml:8:13: chunk_size: expected an integer, got 'many'");
    load_fails(GOOD "chunk_size: 1.5\n", "t.yaml:8:13: chunk_size: expected an integer, got '1.5'");
    load_fails(GOOD "chunk_size: +\n", "t.yaml:8:13: chunk_size: expected an integer, got '+'");
    load_fails(GOOD "chunk_size: 0x10\n",
               "t.yaml:8:13: chunk_size: expected an integer, got '0x10'");
    /* a leading zero: 10 to a C reader, 8 to a YAML 1.1 reader (PyYAML) */
    load_fails(GOOD "seed: 010\n", "t.yaml:8:7: seed: '010' has a leading zero, which YAML 1.1 "
                                   "reads as octal; write the decimal number without it");
    load_fails(GOOD "chunk_size: -07\n", "t.yaml:8:13: chunk_size: '-07' has a leading zero, "
                                         "which YAML 1.1 reads as octal; write the decimal "
                                         "number without it");
    load_fails(GOOD "checkpoint_interval: 010\n",
               "t.yaml:8:22: checkpoint_interval: '010' has a leading zero, which YAML 1.1 reads "
               "as octal; write the decimal number without it");
    load_fails(GOOD "chunk_size: 99999999999999999999\n",
               "t.yaml:8:13: chunk_size: '99999999999999999999' is out of range");
    load_fails(GOOD "chunk_size:\n", "t.yaml:8:12: chunk_size: expected an integer, got null");
    /* results store the seed as a signed 64-bit attribute: 2^64 - 1 would read back as -1 */
    load_fails(GOOD "seed: 18446744073709551615\n",
               "t.yaml:8:7: seed: '18446744073709551615' is out of range");
    /* an explicit tag makes a string, never a number (libyaml loads `!!str 5` like `5`) */
    load_fails(GOOD "chunk_size: !!str 50\n",
               "t.yaml:8:13: chunk_size: expected an integer, got the quoted string '50'");
    /* also after an anchor, where the node (and its start mark) begins */
    load_fails(GOOD "chunk_size: &a !!str 50\n",
               "t.yaml:8:13: chunk_size: expected an integer, got the quoted string '50'");
    /* a NUL escaped into a key or a value: C's strings would cut the text there and read
     * "seed\0x" as seed, "oracle\0x" as oracle and "all\0x" as all */
    load_fails(GOOD "\"seed\\0x\": 7\n",
               "t.yaml:8:1: (top level): a key must be a name, got one with a NUL character");
    load_fails(GOOD_NO_KIND "kind: \"oracle\\0x\"\n",
               "t.yaml:7:7: kind: value contains a NUL character");
    load_fails("name: t\nmodel: m.h5\ndata: {format: cifar10, files: [a.bin], count: \"all\\0x\"}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:48: data.count: value contains a NUL character");
    /* invalid UTF-8: libyaml gives a byte offset; the message gives line and column */
    load_fails(GOOD "# caf\xc3\xa9 \xff\n",
               "t.yaml:8:8: YAML: invalid leading UTF-8 octet (byte 93)");
    load_fails(GOOD "checkpoint_interval: soon\n",
               "t.yaml:8:22: checkpoint_interval: expected a number, got 'soon'");
    load_fails(GOOD "checkpoint_interval: .inf\n",
               "t.yaml:8:22: checkpoint_interval: expected a number, got '.inf'");
    load_fails(GOOD "include_bias: yes\n",
               "t.yaml:8:15: include_bias: expected true or false, got 'yes'");
    /* A list where a scalar belongs, and the other way round. */
    load_fails("name: [a, b]\n"
               "model: m.h5\n"
               "data: {format: hgcal, files: a.csv}\n"
               "kind: oracle\n"
               "output: o.h5\n",
               "t.yaml:1:7: name: expected a string, got a list\n"
               "t.yaml:3:30: data.files: expected a list, got 'a.csv' (write it as [item])");
    load_fails("name: t\nmodel: m.h5\ndata: {format: hgcal, files: []}\nkind: oracle\noutput: o.h5\n",
               "t.yaml:3:30: data.files: empty list; give at least one");
    load_fails("name: t\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv, [b]]}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:38: data.files[1]: expected a string, got a list");
    load_fails("name: t\nmodel: ''\ndata: {format: hgcal, files: [a.csv]}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:2:8: model: expected a non-empty string, got ''");
    load_fails(GOOD_NO_KIND "kind: oracel\n",
               "t.yaml:7:7: kind: unknown value 'oracel' (did you mean 'oracle'?); expected one "
               "of oracle, guided, multibit, binfi, statfi, rank, activation");
    load_fails(GOOD "data: 5\n", "t.yaml:8:1: data: duplicate key (first given at line 3)");
    load_fails("name: t\nmodel: m.h5\ndata: 5\nkind: oracle\noutput: o.h5\n",
               "t.yaml:3:1: data.format: required key is missing\n"
               "t.yaml:3:1: data.files: required key is missing\n"
               "t.yaml:3:7: data: expected a map of keys, got '5'");
}
END_TEST

START_TEST(test_out_of_range)
{
    /* Counts: zero and negative. */
    load_fails("name: t\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv], count: 0}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:46: data.count: must be > 0 or 'all', got 0");
    /* -1 and -2 are the loader's own markers for 'all' and "default": never as numbers. */
    load_fails("name: t\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv], count: -1}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:46: data.count: must be > 0 or 'all', got -1");
    load_fails("name: t\nmodel: m.h5\ndata: {format: cifar10, files: [a.bin], count: -2}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:48: data.count: must be > 0 or 'all', got -2");
    load_fails("name: t\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv], count: all}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:46: data.count: 'all' is only for formats cifar10 and hdf5; give a number of samples");
    load_fails("name: t\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv], offset: -1}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:47: data.offset: must be >= 0, got -1");
    load_fails(GOOD "seed: -1\n", "t.yaml:8:7: seed: must be >= 0, got -1");
    /* -0 is 0, for the unsigned seed as for every signed key (was "must be >= 0, got -0") */
    {
        campaign_t z;
        load_ok(&z, GOOD "seed: -0\nchunk_size: -0\n");
        ck_assert_uint_eq(z.seed, 0);
        ck_assert_int_eq(z.chunk_size, 0);
        campaign_free(&z);
    }
    load_fails(GOOD "chunk_size: -4\n", "t.yaml:8:13: chunk_size: must be >= 0, got -4");
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {trials: 0, flips: -3}\n",
               "t.yaml:8:20: multibit.trials: must be > 0, got 0\n"
               "t.yaml:8:30: multibit.flips: must be > 0, got -3");
    load_fails(GOOD "oracle: {first_bit: -1, bit_count: -2}\n",
               "t.yaml:8:21: oracle.first_bit: must be >= 0, got -1\n"
               "t.yaml:8:36: oracle.bit_count: must be >= 0, got -2");
    load_fails(GOOD_NO_KIND "kind: rank\nrank: {eigen_k: 0, samples: 0, trace_max_iter: 1000001}\n",
               "t.yaml:8:17: rank.eigen_k: must be in [1, 1024], got 0\n"
               "t.yaml:8:29: rank.samples: must be > 0, got 0\n"
               "t.yaml:8:48: rank.trace_max_iter: must be in [1, 1000000], got 1000001");
    load_fails(GOOD_NO_KIND "kind: rank\nrank: {eigen_k: 1025}\n",
               "t.yaml:8:17: rank.eigen_k: must be in [1, 1024], got 1025");

    /* Reals: open and closed bounds. */
    load_fails(GOOD_NO_KIND "kind: statfi\nstatfi: {confidence: 1.5, margin: 0, p: 1}\n",
               "t.yaml:8:22: statfi.confidence: must be in (0, 1), got 1.5\n"
               "t.yaml:8:35: statfi.margin: must be in (0, 1), got 0\n"
               "t.yaml:8:41: statfi.p: must be in (0, 1), got 1");
    load_fails(GOOD_NO_KIND "kind: statfi\nstatfi: {p: 1e999}\n",
               "t.yaml:8:13: statfi.p: '1e999' is out of range");
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {protect_percent: 100.5}\n",
               "t.yaml:8:29: multibit.protect_percent: must be in [0, 100], got 100.5");
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {protect_percent: -0.5}\n",
               "t.yaml:8:29: multibit.protect_percent: must be in [0, 100], got -0.5");
    load_fails(GOOD "checkpoint_interval: 0\n",
               "t.yaml:8:22: checkpoint_interval: must be in (0, 604800], got 0");
    load_fails(GOOD "checkpoint_interval: 604801\n",
               "t.yaml:8:22: checkpoint_interval: must be in (0, 604800], got 604801");
    load_fails(GOOD_NO_KIND "kind: rank\nrank: {trace_tol: 1}\n",
               "t.yaml:8:19: rank.trace_tol: must be in (0, 1), got 1");

    /* The bounds themselves, where closed, are accepted. */
    campaign_t c;
    load_ok(&c, GOOD_NO_KIND "kind: multibit\nmultibit: {protect_percent: 100, trials: 1, flips: 1}\n"
                             "checkpoint_interval: 604800\n");
    campaign_free(&c);
    load_ok(&c, GOOD_NO_KIND "kind: rank\nrank: {eigen_k: 1024, trace_max_iter: 1}\n");
    /* A subnormal real is in [0, 1], not "out of range" (strtod's ERANGE for underflow). */
    campaign_free(&c);
    load_ok(&c, GOOD_NO_KIND "kind: statfi\nstatfi: {p: 1e-310}\n");
    ck_assert(c.statfi.p == 1e-310);
    campaign_free(&c);
}
END_TEST

START_TEST(test_missing_keys)
{
    /* Everything but the name: one line each, at the top of the file. */
    load_fails("name: t\n", "t.yaml:1:1: data: required section is missing\n"
                            "t.yaml:1:1: model: required key is missing\n"
                            "t.yaml:1:1: kind: required key is missing\n"
                            "t.yaml:1:1: output: required key is missing");
    /* A section without its required keys: at the section's key. */
    load_fails("name: t\nmodel: m.h5\nkind: oracle\noutput: o.h5\ndata:\n  offset: 3\n",
               "t.yaml:5:1: data.format: required key is missing\n"
               "t.yaml:5:1: data.files: required key is missing");
    /* Rules between keys. */
    load_fails(GOOD_NO_KIND "kind: guided\n", "t.yaml:1:1: guided.ranking: required when "
                                              "guided.order is 'ranking'");
    load_fails(GOOD_NO_KIND "kind: guided\nguided: {order: ranking}\n",
               "t.yaml:8:17: guided.ranking: required when guided.order is 'ranking'");
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {protection: sensitive}\n",
               "t.yaml:8:24: multibit.oracle: required when multibit.protection is 'sensitive'");
    /* keys that only act with another: refused alone, not silently ignored */
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {protect_list: plan.txt}\n",
               "t.yaml:8:26: multibit.protect_list: only used with multibit.protection 'list', "
               "and protection is 'none'");
    load_fails(GOOD_NO_KIND "kind: guided\nguided: {order: random, ranking: r.txt}\n",
               "t.yaml:8:34: guided.ranking: only used with guided.order 'ranking', and order "
               "is 'random'");
    load_fails(GOOD_NO_KIND "kind: guided\nguided: {order: msb_lsb, ranking: r.txt}\n",
               "t.yaml:8:35: guided.ranking: only used with guided.order 'ranking', and order "
               "is 'msb_lsb'");
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {flux: 1, exposure: 1}\n",
               "t.yaml:8:18: multibit.flux: needs multibit.cross_section > 0 (without it each "
               "trial draws multibit.flips cells, not a radiation environment)");
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {exposure: 3}\n",
               "t.yaml:8:22: multibit.exposure: needs multibit.cross_section > 0 (without it "
               "each trial draws multibit.flips cells, not a radiation environment)");
    load_fails(GOOD_NO_KIND "kind: multibit\nmultibit: {protection: top_percent}\n",
               "t.yaml:8:24: multibit.oracle: required when multibit.protection is 'top_percent_of_sensitive'");
    load_fails("name: t\nmodel: m.h5\ndata: {format: cifar10, files: [a.bin, b.bin]}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:32: data.files: format cifar10 takes exactly one file, got 2");
    load_fails("name: t\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv], labels: l.bin}\n"
               "kind: oracle\noutput: o.h5\n",
               "t.yaml:3:47: data.labels: only used with format cifar10 (hdf5 keeps its labels in /y; HGCal has none)");
    /* A required string cannot be null. */
    load_fails("name:\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv]}\nkind: oracle\n"
               "output: o.h5\n",
               "t.yaml:1:6: name: expected a string, got null");
}
END_TEST

/* Every problem of a file in one message, sorted by position whatever the order
 * in which they were found (type errors while reading, ranges and rules after). */
START_TEST(test_problems_together)
{
    load_fails("name: t\n"                                      /* 1 */
               "model: m.h5\n"                                  /* 2 */
               "data:\n"                                        /* 3 */
               "  format: hgcal\n"                              /* 4 */
               "  files: [a.csv]\n"                             /* 5 */
               "  count: 0\n"                                   /* 6 */
               "kind: multibit\n"                               /* 7 */
               "multibit:\n"                                    /* 8 */
               "  trials: -1\n"                                 /* 9 */
               "  flips: lots\n"                                /* 10 */
               "  protection: sensitive\n"                      /* 11 */
               "seed: x\n"                                      /* 12 */
               "colour: red\n"                                  /* 13 */
               "statfi: {p: 2}\n",                              /* 14 */
               "t.yaml:1:1: output: required key is missing\n"
               "t.yaml:6:10: data.count: must be > 0 or 'all', got 0\n"
               "t.yaml:9:11: multibit.trials: must be > 0, got -1\n"
               "t.yaml:10:10: multibit.flips: expected an integer, got 'lots'\n"
               "t.yaml:11:15: multibit.oracle: required when multibit.protection is 'sensitive'\n"
               "t.yaml:12:7: seed: expected an unsigned integer, got 'x'\n"
               "t.yaml:13:1: colour: unknown key (known keys: name, model, kind, seed, output, "
               "checkpoint_interval, chunk_size, include_bias, emd_zero_sum, data, oracle, "
               "guided, multibit, binfi, statfi, rank, activation)\n"
               "t.yaml:14:1: statfi: section 'statfi' given but kind is 'multibit'\n"
               "t.yaml:14:13: statfi.p: must be in (0, 1), got 2");
}
END_TEST

/* A long list of problems is cut to fit the message buffer, with a count. */
START_TEST(test_many_problems)
{
    char yaml[32768];
    size_t n = (size_t)snprintf(yaml, sizeof yaml, "%s", GOOD);
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "zz%03d: 1\n", i);
    campaign_t c;
    upset_err_t err;
    ck_assert_int_eq(load(&c, yaml, &err), -1);
    ck_assert_uint_lt(strlen(err.msg), UPSET_ERR_LEN);
    ck_assert_msg(strstr(err.msg, "t.yaml:8:1: zz000: unknown key") == err.msg, "%.200s", err.msg);
    const char *last = strrchr(err.msg, '\n') + 1;
    int more = 0;
    ck_assert_int_eq(sscanf(last, "... and %d more problem(s)", &more), 1);
    int lines = 1;
    for (const char *p = err.msg; (p = strchr(p, '\n')); p++)
        lines++;
    ck_assert_int_eq(lines - 1 + more, 600); /* shown + "more" = every problem */
    campaign_free(&c);
}
END_TEST

/* --------------------------------------------------------------- overrides */

static int apply(campaign_t *c, const char *const *set, upset_err_t *err)
{
    campaign_overrides_t o = {NULL, -1, set};
    err->msg[0] = '\0';
    return campaign_apply_overrides(c, &o, err);
}

START_TEST(test_overrides)
{
    campaign_t c;
    upset_err_t err;
    ck_assert_int_eq(load(&c, GOOD_NO_KIND "kind: multibit\n", &err), 0);
    const char *const set[] = {"multibit.trials=500",
                               "data.files=[x.csv, y.csv]",
                               "seed=42",
                               "multibit.protect_percent=63.5",
                               "data.count=all",
                               "data.format=cifar10",
                               "data.files=[z.bin]",
                               "name=renamed",
                               NULL};
    ck_assert_msg(apply(&c, set, &err) == 0, "%s", err.msg);
    ck_assert_msg(campaign_validate(&c, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.multibit.trials, 500);
    ck_assert_int_eq(c.data.files.n, 1);
    ck_assert_str_eq(c.data.files.v[0], "z.bin");
    ck_assert_uint_eq(c.seed, 42);
    ck_assert_double_eq(c.multibit.protect_percent, 63.5);
    ck_assert_int_eq(c.data.format, CAMPAIGN_DATA_CIFAR10);
    ck_assert_int_eq(c.data.count, CAMPAIGN_COUNT_ALL);
    ck_assert_str_eq(c.name, "renamed");

    /* --output and --quiet. */
    campaign_overrides_t o = {"elsewhere.h5", 1, NULL};
    ck_assert_int_eq(campaign_apply_overrides(&c, &o, &err), 0);
    ck_assert_str_eq(c.output, "elsewhere.h5");
    ck_assert_int_eq(c.quiet, 1);
    campaign_free(&c);

    /* data.count's default follows a format changed on the command line. */
    ck_assert_int_eq(load(&c, GOOD, &err), 0);
    const char *const fmt[] = {"data.format=cifar10", NULL};
    ck_assert_int_eq(apply(&c, fmt, &err), 0);
    ck_assert_int_eq(campaign_validate(&c, &err), 0);
    ck_assert_int_eq(c.data.count, CAMPAIGN_COUNT_ALL);
    campaign_free(&c);

    /* A ranking campaign switched to another order must drop its ranking ("key="). */
    ck_assert_int_eq(load(&c, GOOD_NO_KIND "kind: guided\nguided: {ranking: r.txt}\n", &err), 0);
    const char *const rnd[] = {"guided.order=random", NULL};
    ck_assert_int_eq(apply(&c, rnd, &err), 0);
    ck_assert_int_eq(campaign_validate(&c, &err), -1);
    ck_assert_str_eq(err.msg, "t.yaml: guided.ranking: only used with guided.order "
                              "'ranking', and order is 'random'");
    const char *const rnd_clear[] = {"guided.ranking=", NULL};
    ck_assert_int_eq(apply(&c, rnd_clear, &err), 0);
    ck_assert_msg(campaign_validate(&c, &err) == 0, "%s", err.msg);
    campaign_free(&c);

    /* "key=" clears an optional path. */
    ck_assert_int_eq(load(&c, GOOD_NO_KIND "kind: multibit\nmultibit: {oracle: o.h5}\n", &err), 0);
    const char *const clear[] = {"multibit.oracle=", NULL};
    ck_assert_int_eq(apply(&c, clear, &err), 0);
    ck_assert_ptr_null(c.multibit.oracle);
    campaign_free(&c);
}
END_TEST

START_TEST(test_override_errors)
{
    campaign_t c;
    upset_err_t err;
    ck_assert_int_eq(load(&c, GOOD, &err), 0);

    const char *const wrong_section[] = {"multibit.trials=5", NULL};
    ck_assert_int_eq(apply(&c, wrong_section, &err), -1);
    ck_assert_str_eq(err.msg, "--set: multibit.trials: section 'multibit' given but kind is "
                              "'oracle'");

    const char *const several[] = {"oracle.bit_cuont=5", "seed=-3",       "rank.metric=gradient",
                                   "data.count=-1",      "oracle.first_bit", "output=",
                                   "data.files=[a.csv",  NULL};
    ck_assert_int_eq(apply(&c, several, &err), -1);
    ck_assert_str_eq(err.msg,
                     "--set: oracle.bit_cuont: unknown key (did you mean 'oracle.bit_count'?)\n"
                     "--set: seed: must be >= 0, got -3\n"
                     "--set: rank.metric: section 'rank' given but kind is 'oracle'\n"
                     "--set: data.count: must be > 0 or 'all', got -1\n"
                     "--set: 'oracle.first_bit': expected key=value\n"
                     "--set: output: empty value\n"
                     "--set: data.files: cannot read the value '[a.csv' as YAML: did not find "
                     "expected ',' or ']'");
    /* A value is read as in the file: an explicit tag makes a string, not a number. */
    const char *const tagged[] = {"seed=!!str 5", NULL};
    ck_assert_int_eq(apply(&c, tagged, &err), -1);
    ck_assert_str_eq(err.msg, "--set: seed: expected an unsigned integer, got the quoted "
                              "string '5'");
    /* One document per value, as per file: the 2 after '---' was dropped. */
    const char *const two_docs[] = {"seed=1\n---\n2", NULL};
    ck_assert_int_eq(apply(&c, two_docs, &err), -1);
    ck_assert_str_eq(err.msg, "--set: seed: the value '1\n---\n2' holds a second YAML document");
    /* Where a key was written, for the checks that need the model; a --set value has no
     * place in the file. */
    campaign_t w;
    char where[64];
    ck_assert_int_eq(load(&w, GOOD "oracle: {first_bit: 5}\n", &err), 0);
    ck_assert_str_eq(campaign_key_where(&w, "oracle.first_bit", where, sizeof where), "t.yaml:8:21");
    ck_assert_str_eq(campaign_key_where(&w, "data.files", where, sizeof where), "t.yaml:5:10");
    ck_assert_str_eq(campaign_key_where(&w, "oracle.bit_count", where, sizeof where), "t.yaml");
    const char *const first[] = {"oracle.first_bit=7", NULL};
    ck_assert_int_eq(apply(&w, first, &err), 0);
    ck_assert_str_eq(campaign_key_where(&w, "oracle.first_bit", where, sizeof where), "t.yaml");
    campaign_free(&w);
    /* The campaign keeps its values where an override failed. */
    ck_assert_uint_eq(c.seed, 1);
    ck_assert_str_eq(c.output, "o.h5");
    ck_assert_str_eq(c.data.files.v[0], "a.csv");

    /* Ranges are checked by campaign_validate, after every override. */
    const char *const zero[] = {"oracle.first_bit=-7", "checkpoint_interval=0", NULL};
    ck_assert_int_eq(apply(&c, zero, &err), 0);
    ck_assert_int_eq(campaign_validate(&c, &err), -1);
    ck_assert_str_eq(err.msg, "t.yaml: checkpoint_interval: must be in (0, 604800], got 0\n"
                              "t.yaml: oracle.first_bit: must be >= 0, got -7");
    campaign_free(&c);
}
END_TEST

/* -------------------------------------------------------------- round trips */

/* Campaigns of every kind with values away from the defaults, and strings YAML
 * would misread if written plainly. */
static const char *const ROUND_TRIP[] = {
    "name: 'null'\n"
    "model: \"models/a b: c.h5\"\n"
    "data: {format: hgcal, files: ['#x.csv', ' lead.csv', 'true', '123', '~'], offset: 9, count: 77}\n"
    "kind: oracle\n"
    "seed: 9223372036854775807\n"
    "output: 'o: h5'\n"
    "checkpoint_interval: 0.1\n"
    "chunk_size: 3\n"
    "include_bias: true\n"
    "emd_zero_sum: reference\n"
    "oracle: {first_bit: 12, bit_count: 34, layers: [conv2d_0_m, encoded_vector]}\n",

    "name: g\nmodel: m.h5\ndata: {format: cifar10, files: [b.bin], labels: l.bin, count: all,"
    " correct_only: false}\nkind: guided\noutput: o.h5\n"
    "guided: {order: ranking, ranking: results/r.txt, budget: 1000}\n",

    "name: g\nmodel: m.h5\ndata: {format: cifar10, files: [b.bin], count: 5}\nkind: guided\n"
    "output: o.h5\nguided: {order: msb_lsb}\n",

    "name: m\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv]}\nkind: multibit\noutput: o.h5\n"
    "multibit: {trials: 14000, flips: 960, protection: top_percent, protect_percent: 63.5,"
    " oracle: results/oracle.h5}\n",

    "name: b\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv]}\nkind: binfi\noutput: o.h5\n",

    "name: s\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv]}\nkind: statfi\noutput: o.h5\n"
    "statfi: {confidence: 0.999, margin: 0.0001, p: 0.3333333333333333, mode: data_unaware}\n",

    "name: r\nmodel: m.h5\ndata: {format: hgcal, files: [a.csv]}\nkind: rank\noutput: o.h5\n"
    "rank: {metric: random, eigen_k: 1024, score: paper, samples: 1, trace: false,"
    " trace_tol: 1e-9, trace_max_iter: 1000000}\n",
};
#define N_ROUND_TRIP (int)(sizeof ROUND_TRIP / sizeof *ROUND_TRIP)

START_TEST(test_dump_round_trip)
{
    campaign_t a, b;
    upset_err_t err;
    char *yaml = NULL;
    load_ok(&a, ROUND_TRIP[_i]);
    ck_assert_int_eq(campaign_dump(&a, &yaml, &err), 0);
    ck_assert_msg(load(&b, yaml, &err) == 0, "dump does not load:\n%s\n%s", yaml, err.msg);
    ck_assert_msg(campaign_validate(&b, &err) == 0, "%s", err.msg);
    ck_assert_msg(campaign_equal(&a, &b), "dump round trip differs:\n%s", yaml);
    /* The dump is complete: a second dump is the same text. */
    char *again = NULL;
    ck_assert_int_eq(campaign_dump(&b, &again, &err), 0);
    ck_assert_str_eq(again, yaml);
    free(again);
    free(yaml);
    campaign_free(&a);
    campaign_free(&b);
}
END_TEST

/* The dump writes defaults out, and campaign_equal notices a change in any key
 * that belongs to the campaign (and ignores the sections of other kinds). */
START_TEST(test_dump_content_and_equal)
{
    campaign_t a, b;
    char *yaml = NULL;
    upset_err_t err = {{0}};
    load_ok(&a, GOOD_NO_KIND "kind: multibit\n");
    ck_assert_int_eq(campaign_dump(&a, &yaml, &err), 0);
    ck_assert_ptr_nonnull(strstr(yaml, "\n  count: 20000\n"));
    ck_assert_ptr_nonnull(strstr(yaml, "\nseed: 1\n"));
    ck_assert_ptr_nonnull(strstr(yaml, "\ncheckpoint_interval: 60\n"));
    ck_assert_ptr_nonnull(strstr(yaml, "\n  trials: 14000\n"));
    ck_assert_ptr_nonnull(strstr(yaml, "\n  flips: 960\n"));
    ck_assert_ptr_nonnull(strstr(yaml, "\n  protection: none\n"));
    ck_assert_ptr_null(strstr(yaml, "oracle:")); /* unset optional path, other kinds' sections */
    ck_assert_ptr_null(strstr(yaml, "statfi"));
    free(yaml);

    load_ok(&b, GOOD_NO_KIND "kind: multibit\n");
    ck_assert(campaign_equal(&a, &b));
    b.statfi.p = 0.25; /* not this kind's section */
    b.quiet = 1;
    free(b.source);
    b.source = NULL;
    ck_assert(campaign_equal(&a, &b));
    b.multibit.flips = 961;
    ck_assert(!campaign_equal(&a, &b));
    b.multibit.flips = 960;
    b.data.files.v[0][0] = 'b';
    ck_assert(!campaign_equal(&a, &b));
    b.data.files.v[0][0] = 'a';
    b.checkpoint_interval = 60.000000000000007;
    ck_assert(!campaign_equal(&a, &b));
    b.checkpoint_interval = 60;
    ck_assert(campaign_equal(&a, &b));
    /* every other kind of field: the round trips above compare with campaign_equal, so a
     * type it skipped would let a dump or wire format lose every key of that type */
    b.multibit.protection = PROTECT_TOP_PERCENT_OF_ALL; /* enum */
    ck_assert(!campaign_equal(&a, &b));
    b.multibit.protection = a.multibit.protection;
    b.seed = 2; /* u64 */
    ck_assert(!campaign_equal(&a, &b));
    b.seed = a.seed;
    b.include_bias = 1; /* bool */
    ck_assert(!campaign_equal(&a, &b));
    b.include_bias = 0;
    b.output[0] = 'p'; /* string */
    ck_assert(!campaign_equal(&a, &b));
    b.output[0] = 'o';
    b.data.files.n = 0; /* a shorter list */
    ck_assert(!campaign_equal(&a, &b));
    b.data.files.n = 1;
    ck_assert(campaign_equal(&a, &b));
    campaign_free(&a);
    campaign_free(&b);
}
END_TEST

START_TEST(test_serialize_round_trip)
{
    campaign_t a, b;
    upset_err_t err;
    unsigned char *buf = NULL;
    size_t len = 0;
    load_ok(&a, ROUND_TRIP[_i]);
    a.quiet = 1;
    ck_assert_int_eq(campaign_serialize(&a, &buf, &len, &err), 0);
    campaign_defaults(&b);
    ck_assert_msg(campaign_deserialize(&b, buf, len, &err) == 0, "%s", err.msg);
    ck_assert(campaign_equal(&a, &b));
    ck_assert_str_eq(b.source, "t.yaml");
    ck_assert_int_eq(b.quiet, 1);
    /* Every other kind's section travels too (workers see the whole campaign). */
    ck_assert_int_eq(b.rank.eigen_k, a.rank.eigen_k);
    ck_assert_double_eq(b.statfi.p, a.statfi.p);
    ck_assert_int_eq(b.data.count, a.data.count);
    campaign_free(&b);

    /* Every truncation, and a wrong header, is refused without a leak. */
    for (size_t cut = 0; cut < len; cut++) {
        campaign_defaults(&b);
        ck_assert_msg(campaign_deserialize(&b, buf, cut, &err) == -1, "accepted %zu of %zu bytes",
                      cut, len);
        campaign_free(&b);
    }
    buf[0] ^= 0xff;
    campaign_defaults(&b);
    ck_assert_int_eq(campaign_deserialize(&b, buf, len, &err), -1);
    ck_assert_str_eq(err.msg, "campaign buffer: not a serialised campaign of this version");
    campaign_free(&b);
    free(buf);
    campaign_free(&a);
}
END_TEST

/* ----------------------------------------------------------- bundled configs */

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Every YAML file in configs/ loads and validates, starts with a comment, writes under
 * results/ as <its own name>.h5, and names inputs that exist (results/ inputs
 * are produced by other configs). */
START_TEST(test_bundled_configs)
{
    glob_t g;
    ck_assert_int_eq(glob("configs/*.yaml", 0, NULL, &g), 0);
    ck_assert_uint_ge(g.gl_pathc, 20);
    int saw_demo = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        campaign_t c;
        upset_err_t err;
        campaign_defaults(&c);
        ck_assert_msg(campaign_load_yaml(&c, path, &err) == 0, "%s", err.msg);
        ck_assert_msg(campaign_validate(&c, &err) == 0, "%s", err.msg);

        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_msg(fgetc(f) == '#', "%s: does not start with a comment", path);
        fclose(f);

        char base[256], want[300];
        const char *slash = strrchr(path, '/');
        snprintf(base, sizeof base, "%s", slash ? slash + 1 : path);
        base[strlen(base) - 5] = '\0'; /* drop ".yaml" */
        if (!strcmp(base, "demo")) {
            saw_demo = 1;
            snprintf(want, sizeof want, "results/demo_oracle.h5");
        } else {
            snprintf(want, sizeof want, "results/%s.h5", base);
            ck_assert_str_eq(c.name, base);
        }
        ck_assert_str_eq(c.output, want);

        ck_assert_msg(exists(c.model), "%s: model %s is missing", path, c.model);
        for (int k = 0; k < c.data.files.n; k++)
            ck_assert_msg(exists(c.data.files.v[k]), "%s: %s is missing", path, c.data.files.v[k]);
        if (c.data.labels)
            ck_assert_msg(exists(c.data.labels), "%s: %s is missing", path, c.data.labels);
        if (c.kind == CAMPAIGN_GUIDED && c.guided.ranking)
            ck_assert_msg(!strncmp(c.guided.ranking, "results/", 8) || exists(c.guided.ranking),
                          "%s: %s is missing", path, c.guided.ranking);
        if (c.kind == CAMPAIGN_MULTIBIT && c.multibit.oracle)
            ck_assert_msg(!strncmp(c.multibit.oracle, "results/", 8) || exists(c.multibit.oracle),
                          "%s: %s is missing", path, c.multibit.oracle);
        campaign_free(&c);
    }
    ck_assert(saw_demo);
    globfree(&g);
}
END_TEST

/* The paper's settings in the configs that reproduce its experiments. */
START_TEST(test_paper_settings)
{
    static const struct {
        const char *path;
        protection_t protection;
        double percent;
    } mb[] = {{"configs/multibit_econt_medium_p0.yaml", PROTECT_NONE, 32},
              {"configs/multibit_econt_medium_p32.yaml", PROTECT_TOP_PERCENT_OF_ALL, 32},
              {"configs/multibit_econt_medium_p63_5.yaml", PROTECT_TOP_PERCENT_OF_ALL, 63.5},
              {"configs/multibit_econt_medium_p100.yaml", PROTECT_ALL, 32}};
    campaign_t c;
    upset_err_t err;
    for (size_t i = 0; i < sizeof mb / sizeof *mb; i++) {
        campaign_defaults(&c);
        ck_assert_msg(campaign_load_yaml(&c, mb[i].path, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(c.kind, CAMPAIGN_MULTIBIT);
        ck_assert_int_eq(c.multibit.trials, 14000);
        ck_assert_int_eq(c.multibit.flips, 960);
        ck_assert_int_eq(c.multibit.protection, mb[i].protection);
        ck_assert_double_eq(c.multibit.protect_percent, mb[i].percent);
        /* the paper's levels: shares of all bits, chosen by the 20,000-input oracle and
         * scored on the same 20,000 inputs */
        ck_assert_int_eq(c.data.count, 20000);
        if (mb[i].protection == PROTECT_TOP_PERCENT_OF_ALL)
            ck_assert_str_eq(c.multibit.oracle, "results/oracle_econt_medium.h5");
        campaign_free(&c);
    }

    campaign_defaults(&c);
    ck_assert_int_eq(campaign_load_yaml(&c, "configs/oracle_econt_medium.yaml", &err), 0);
    ck_assert_int_eq(campaign_validate(&c, &err), 0);
    ck_assert_int_eq(c.data.format, CAMPAIGN_DATA_HGCAL);
    ck_assert_str_eq(c.data.files.v[0], "data/hgcal/ttbar_0PU.csv");
    ck_assert_int_eq(c.data.offset, 0);
    ck_assert_int_eq(c.data.count, 20000);
    campaign_free(&c);

    campaign_defaults(&c);
    ck_assert_int_eq(campaign_load_yaml(&c, "configs/guided_econt_medium_hessian.yaml", &err), 0);
    ck_assert_str_eq(c.guided.ranking, "results/rank_econt_medium_hessian.txt");
    campaign_free(&c);

    campaign_defaults(&c);
    ck_assert_int_eq(campaign_load_yaml(&c, "configs/rank_cifar10_hessian.yaml", &err), 0);
    ck_assert_int_eq(c.rank.metric, RANK_HESSIAN);
    ck_assert_int_eq(c.rank.eigen_k, 8);
    ck_assert_int_eq(c.rank.samples, 256);
    campaign_free(&c);

    campaign_defaults(&c);
    ck_assert_int_eq(campaign_load_yaml(&c, "configs/oracle_cifar10.yaml", &err), 0);
    ck_assert_int_eq(c.data.correct_only, 1);
    ck_assert_str_eq(c.data.labels, "data/cifar10/test_labels_10000.bin");
    campaign_free(&c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("campaign");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_defaults);
    tcase_add_test(core, test_every_key_read);
    tcase_add_test(core, test_names);
    tcase_add_test(core, test_overrides);
    tcase_add_loop_test(core, test_dump_round_trip, 0, N_ROUND_TRIP);
    tcase_add_test(core, test_dump_content_and_equal);
    tcase_add_loop_test(core, test_serialize_round_trip, 0, N_ROUND_TRIP);
    tcase_add_test(core, test_bundled_configs);
    tcase_add_test(core, test_paper_settings);
    suite_add_tcase(s, core);

    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_malformed_yaml);
    tcase_add_test(limits, test_unknown_keys);
    tcase_add_test(limits, test_wrong_types);
    tcase_add_test(limits, test_out_of_range);
    tcase_add_test(limits, test_missing_keys);
    tcase_add_test(limits, test_problems_together);
    tcase_add_test(limits, test_many_problems);
    tcase_add_test(limits, test_override_errors);
    suite_add_tcase(s, limits);
    return s;
}

UPSET_CHECK_MAIN(make_suite)
