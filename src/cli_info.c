/* `upset info FILE`: describe a model (layers, shapes, quantizers, fault space). */
#include <stdio.h>

#include "upset/bitspace.h"
#include "upset/cli_commands.h"
#include "upset/engine.h"
#include "upset/model.h"

static void print_shape(shape3_t s)
{
    if (s.h == 1 && s.w == 1)
        printf("(%d)", s.c);
    else
        printf("(%d,%d,%d)", s.h, s.w, s.c);
}

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: upset info MODEL.h5\n");
        return 2;
    }
    model_t m;
    upset_err_t err = {{0}};
    if (model_load(argv[1], &m, &err)) {
        fprintf(stderr, "upset info: %s\n", err.msg);
        return 1;
    }
    engine_t e; /* what the engine refuses (fixed-point ranges), eval and run would too */
    if (engine_create(&e, &m, -1, &err)) {
        fprintf(stderr, "upset info: %s: %s\n", argv[1], err.msg);
        model_free(&m);
        return 1;
    }
    engine_free(&e);
    printf("model %s (%s), input ", m.name, task_name(m.task));
    print_shape(m.input);
    printf(", %d layers\n", m.n_layers);
    printf("  %-3s %-18s %-16s %-8s %-12s %-12s %-30s %s\n", "#", "name", "kind", "part", "in",
           "out", "quantizer", "faultable bits");
    int64_t weights = 0;
    const int64_t bits_without = m.n_fault_bits;
    for (int i = 0; i < m.n_layers; i++) {
        const layer_t *L = &m.layers[i];
        char q[64] = "", in[32], out[32];
        if (layer_is_quantizer(L))
            quant_describe(&L->aq, q, sizeof q);
        else if (L->quantized)
            quant_describe(&L->kq, q, sizeof q);
        else if (L->kind == LAYER_ACTIVATION || L->n_weights)
            snprintf(q, sizeof q, "%s", L->kind == LAYER_ACTIVATION ? act_name(L->act) : "float");
        snprintf(in, sizeof in, "(%d,%d,%d)", L->in.h, L->in.w, L->in.c);
        snprintf(out, sizeof out, "(%d,%d,%d)", L->out.h, L->out.w, L->out.c);
        printf("  %-3d %-18s %-16s %-8s %-12s %-12s %-30s", i, L->name, layer_file_kind(L),
               L->part == PART_ENCODER ? "encoder" : L->part == PART_DECODER ? "decoder" : "main",
               in, out, q);
        if (L->faultable) {
            printf(" %lld (%lld weights, bits %lld..%lld)", (long long)L->n_bits,
                   (long long)L->n_weights, (long long)L->bit_first,
                   (long long)(L->bit_first + L->n_bits - 1));
            weights += L->n_weights;
        }
        if (L->kernel_shift) { /* auto_po2: kq is the finest channel's grid */
            int lo = L->max_kernel_shift;
            for (int k = 0; k < L->n_kernel_shift; k++)
                lo = L->kernel_shift[k] < lo ? L->kernel_shift[k] : lo;
            printf(" auto_po2: %d channel scales, shifts %d..%d", L->n_kernel_shift, lo,
                   L->max_kernel_shift);
        }
        if (L->n_inputs != 1 || L->inputs[0] != i - 1) /* a graph: what it reads */
            for (int k = 0; k < L->n_inputs; k++)
                printf("%s%s", k ? ", " : " <- ",
                       L->inputs[k] < 0 ? "input" : m.layers[L->inputs[k]].name);
        printf("\n");
    }
    printf("faultable: %lld weights, %lld bits (MSB-first global bit index)\n", (long long)weights,
           (long long)m.n_fault_bits);
    /* the fault space of include_bias campaigns: each layer's bias bits after its kernel's */
    bitspace_include_bias(&m, 1);
    if (m.n_fault_bits > bits_without) {
        printf("with include_bias: %lld bits; bias bits per layer:", (long long)m.n_fault_bits);
        for (int i = 0; i < m.n_layers; i++) {
            const layer_t *L = &m.layers[i];
            if (L->faultable && L->n_bias_bits)
                printf(" %s %lld..%lld (%d codes x %d bits)", L->name,
                       (long long)(L->bit_first + L->n_bits - L->n_bias_bits),
                       (long long)(L->bit_first + L->n_bits - 1), L->cout, L->bq.bits);
        }
        printf("\n");
    }
    bitspace_include_bias(&m, 0);
    /* What a flip costs to evaluate, per sample: re-running the network from its layer on
     * (the bound; the delta path usually prunes most of it), beside a whole forward pass. */
    int64_t total = 0;
    for (int i = 0; i < m.n_layers; i++)
        total += layer_macs(&m.layers[i]);

    printf("cost of one faulty evaluation per sample (multiply-accumulates from the flipped "
           "layer on; whole forward pass %lld):\n",
           (long long)total);
    int64_t after = total;
    for (int i = 0; i < m.n_layers; i++) {
        const layer_t *L = &m.layers[i];
        if (L->faultable)
            printf("  %-18s %12lld MACs (%5.1f%% of a forward pass) x %lld bits\n", L->name,
                   (long long)after, total ? 100.0 * (double)after / (double)total : 0.0,
                   (long long)L->n_bits);
        after -= layer_macs(L);
    }
    model_free(&m);
    return 0;
}
