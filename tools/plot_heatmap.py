#!/usr/bin/python3
"""Per-weight x bit-position error of the reference oracle (FKeras paper, Fig. 4),
from heatmap.csv: one panel per layer, weights down, bit positions across.
The colour scale is symmetric-logarithmic around 0 (errors span decades and can
be negative).

    tools/plot_heatmap.py ANALYSIS_DIR [OUT_DIR]   ->  heatmap.{png,pdf}
"""
import numpy as np
from matplotlib.colors import SymLogNorm

import plot_common as pc


def main():
    in_dir, out_dir = pc.args()
    rows = pc.read_table(in_dir, "heatmap")
    if not rows:
        pc.skip(__file__, "no %s/heatmap.csv" % in_dir)
        return
    inf = pc.info(in_dir)
    bit_cols = [c for c in rows[0] if c.startswith("bit_")]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    mats = {l: np.array([[float(r[c]) for c in bit_cols] for r in rows if r["layer"] == l])
            for l in layers}
    allv = np.concatenate([m[np.isfinite(m)] for m in mats.values()])
    # no covered bit with a nonzero error (e.g. an oracle over a few LSBs) still gets a scale:
    # log10(0) below would be -inf
    top = float(np.max(np.abs(allv), initial=0.0)) or 1.0
    nz = np.abs(allv[allv != 0])
    thresh = float(np.quantile(nz, 0.1)) if nz.size else 1e-12
    norm = SymLogNorm(linthresh=max(thresh, top * 1e-9), vmin=-top, vmax=top, base=10)
    # panel heights follow the layers' weight counts, 8 inches in all, 0.5 at least
    total = sum(m.shape[0] for m in mats.values())
    heights = [max(0.5, 8.0 * m.shape[0] / total) for m in mats.values()]
    fig, axes = pc.plt.subplots(len(layers), 1, figsize=(4, sum(heights) + 1.2),
                                gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, l in zip(axes[:, 0], layers):
        # rows are the layer's covered weights, consecutive; label them with their indices
        # (an oracle from oracle.first_bit starts mid-layer, not at weight 0)
        ws = [r["weight"] for r in rows if r["layer"] == l]
        im = ax.imshow(mats[l], aspect="auto", interpolation="nearest", cmap="RdBu_r",
                       norm=norm, extent=(-0.5, len(bit_cols) - 0.5, max(ws) + 0.5,
                                          min(ws) - 0.5))
        ax.set_ylabel("layer %d" % l, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xticks(range(len(bit_cols)), [c[4:] for c in bit_cols] if ax is axes[-1, 0]
                      else [])
    axes[-1, 0].set_xlabel("bit position (0 = MSB / sign); rows: weights")
    axes[0, 0].set_title("%s: %s per bit" % (inf.get("model_name", "?"), pc.error_label(inf)))
    # ticks at whole decades only (the default crowds around the linear part)
    lo_e, hi_e = int(np.ceil(np.log10(norm.linthresh))), int(np.floor(np.log10(top)))
    step = max(1, (hi_e - lo_e + 1) // 3)
    dec = [10.0 ** e for e in range(hi_e, lo_e - 1, -step)]
    ticks = [-d for d in dec] + [0.0] + dec[::-1]
    cbar = fig.colorbar(im, ax=axes[:, 0].tolist(), label=pc.error_label(inf), ticks=ticks)
    cbar.ax.minorticks_off()
    pc.save(fig, out_dir, "heatmap")


if __name__ == "__main__":
    main()
