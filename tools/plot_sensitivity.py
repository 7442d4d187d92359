#!/usr/bin/python3
"""Where the sensitive bits are (FKeras paper, Figs. 11 and 12): the share of
sensitive bits per bit position and per layer, and the sensitive-bit count
against model size when several oracles were analysed. From
sensitive_by_position.csv, sensitive_by_layer.csv and sensitive_vs_size.csv.

    tools/plot_sensitivity.py ANALYSIS_DIR [OUT_DIR]
      -> sensitive_by_position.{png,pdf}, sensitive_by_layer.{png,pdf},
         sensitive_vs_size.{png,pdf} (two models or more)
"""
import numpy as np

import plot_common as pc


def grouped_bars(rows, key, xlabel, name, out_dir, label_key=None):
    models = list(dict.fromkeys(r["model"] for r in rows))
    groups = sorted({r[key] for r in rows})
    share = {(r["model"], r[key]): 100 * r["sensitive_share"] for r in rows}
    x = np.arange(len(groups))
    width = 0.8 / len(models)
    fig, ax = pc.plt.subplots(figsize=(max(5, 0.6 * len(groups) + 2), 3.5))
    for i, m in enumerate(models):
        y = [share.get((m, g), float("nan")) for g in groups]
        ax.bar(x - 0.4 + (i + 0.5) * width, y, width, label=m, color=pc.colour(m))
    if label_key:  # layer names; models of one family may name one index differently
        names = {g: list(dict.fromkeys(str(r[label_key]) for r in rows if r[key] == g))
                 for g in groups}
        ax.set_xticks(x, ["\n".join(names[g]) for g in groups], fontsize=7)
    else:
        ax.set_xticks(x, [str(g) for g in groups])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("sensitive bits (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    pc.save(fig, out_dir, name)


def main():
    in_dir, out_dir = pc.args()
    by_pos = pc.read_table(in_dir, "sensitive_by_position")
    by_layer = pc.read_table(in_dir, "sensitive_by_layer")
    size = pc.read_table(in_dir, "sensitive_vs_size")
    if not by_pos:
        pc.skip(__file__, "no %s/sensitive_by_position.csv" % in_dir)
        return
    grouped_bars(by_pos, "bit_pos", "bit position (0 = MSB / sign)", "sensitive_by_position",
                 out_dir)
    if by_layer:
        named = "layer_name" in by_layer[0]
        grouped_bars(by_layer, "layer", "layer" if named else "layer (index in the model)",
                     "sensitive_by_layer", out_dir, "layer_name" if named else None)
    if not size or len(size) < 2:
        pc.skip(__file__, "sensitive_vs_size: one model only (give more --oracle files)")
        return
    size = sorted(size, key=lambda r: r["n_fault_bits"])
    fig, ax = pc.plt.subplots(figsize=(max(4, 1.2 * len(size) + 1.5), 3.5))
    x = np.arange(len(size))
    ax.bar(x, [r["n_bits"] for r in size], 0.6, color="lightgray", label="bits flipped")
    ax.bar(x, [r["n_sensitive"] for r in size], 0.6, color="tab:red", label="sensitive")
    for i, r in enumerate(size):
        ax.annotate("%.1f%%" % (100 * r["sensitive_share"]), (i, r["n_sensitive"]),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, ["%s\n%d bits" % (r["model"], r["n_fault_bits"]) for r in size],
                  fontsize=8)
    ax.set_ylabel("bits")
    ax.set_title("sensitive bits vs model size")
    ax.legend(fontsize=8)
    pc.save(fig, out_dir, "sensitive_vs_size")


if __name__ == "__main__":
    main()
