#!/usr/bin/python3
"""Spearman's rho between each bit ranking and the oracle, over all bits and per
bit position (FKeras paper, Fig. 6), from spearman.csv.

    tools/plot_spearman.py ANALYSIS_DIR [OUT_DIR]   ->  spearman.{png,pdf}
"""
import numpy as np

import plot_common as pc


def main():
    in_dir, out_dir = pc.args()
    rows = pc.read_table(in_dir, "spearman")
    if not rows:
        pc.skip(__file__, "no ranking in %s/spearman.csv" % in_dir)
        return
    inf = pc.info(in_dir)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    positions = sorted({r["bit_pos"] for r in rows})  # -1 = all bits
    rho = {(r["method"], r["bit_pos"]): r["rho"] for r in rows}
    fig, ax = pc.plt.subplots(figsize=(max(5, 0.7 * len(positions) + 2), 3.5))
    width = 0.8 / len(methods)
    x = np.arange(len(positions))
    for i, m in enumerate(methods):
        y = [rho.get((m, p), float("nan")) for p in positions]
        ax.bar(x - 0.4 + (i + 0.5) * width, y, width, label=m, color=pc.colour(m))
    ax.set_xticks(x, ["all" if p < 0 else str(p) for p in positions])
    ax.set_xlabel("bit position (0 = MSB / sign)")
    ax.set_ylabel("Spearman ρ vs oracle")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_title("%s: ranking vs oracle %s order" % (inf.get("model_name", "?"),
                                                     pc.error_label(inf)))
    ax.legend(fontsize=8)
    pc.save(fig, out_dir, "spearman")


if __name__ == "__main__":
    main()
