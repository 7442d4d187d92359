#!/usr/bin/python3
"""Protection planning (docs/protection.md): predicted failure probability per trial against
the area spent, per protection order, with the paper's four levels (0, 32, 63.5 and 100 % of
all bits) marked on the oracle order; and the share of each layer's bits the plan hardens.
Reads DIR/curve.csv and DIR/plan_layers.csv written by `upset protect --out DIR`, and
DIR/check.csv when present (`upset protect --check`): the failure share measured by
multibit campaigns, drawn at their area with 95 % Wilson intervals (open markers: held-out
inputs), beside the predicted curve, each with its own first-order prediction (a cross at
the same area: a campaign with another upset rate, such as the paper's 960-flip trials, is
predicted off the curve, which is drawn at `upset protect --rate`).

    tools/plot_protection.py PROTECT_DIR [OUT_DIR]   ->  protection.{png,pdf}
"""
import os

import plot_common as pc


def main():
    in_dir, out_dir = pc.args()
    curve = pc.read_table(in_dir, "curve")
    if not curve:
        pc.skip(__file__, "no curve.csv in %s (run upset protect)" % in_dir)
        return
    layers = pc.read_table(in_dir, "plan_layers") or []
    fig, (ax, bx) = pc.plt.subplots(1, 2, figsize=(10, 3.8),
                                    gridspec_kw={"width_ratios": [2.2, 1]})
    n = max(r["bits_protected"] for r in curve)
    base = min(r["area_bit_cells"] for r in curve)
    for order in dict.fromkeys(r["order"] for r in curve):
        rows = [r for r in curve if r["order"] == order]
        ax.plot([r["area_bit_cells"] / base for r in rows],
                [100 * max(r["predicted_failure"], 1e-9) for r in rows],
                label=order, color=pc.colour("oracle_optimal" if order == "oracle" else order))
    oracle = [r for r in curve if r["order"] == "oracle"]
    for level in (0, 32, 63.5, 100):
        k = round(level / 100 * n)
        r = min(oracle, key=lambda r: abs(r["bits_protected"] - k))
        ax.plot([r["area_bit_cells"] / base], [100 * max(r["predicted_failure"], 1e-9)], "o",
                color="black")
        ax.annotate("%g %%" % level, (r["area_bit_cells"] / base,
                                       100 * max(r["predicted_failure"], 1e-9)),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    checks = pc.read_table(in_dir, "check") or []
    labelled = set()
    for r in checks:
        name = os.path.basename(r["results"])
        order = name[len("validate_"):-len(".h5")] if name.startswith("validate_") else "multibit"
        colour = "black" if order in ("unprotected", "multibit") else \
            pc.colour("oracle_optimal" if order == "oracle" else order)
        y = 100 * max(r["measured_failure"], 1e-9)
        lo = 100 * max(r["measured_failure_lo"], 1e-9)
        hi = 100 * r["measured_failure_hi"]
        held = r["inputs"] == "held_out"
        label = None if "measured" in labelled else "measured (95 % Wilson)"
        ax.errorbar([r["area_bit_cells"] / base], [y], yerr=[[y - lo], [hi - y]], fmt="s",
                    ms=4, capsize=2, color=colour, mfc="white" if held else colour,
                    label=label)
        label = None if "measured" in labelled else "that campaign's prediction"
        labelled.add("measured")
        ax.plot([r["area_bit_cells"] / base], [100 * max(r["predicted_failure"], 1e-9)], "x",
                ms=6, color=colour, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("area (bit cells, relative to no protection)")
    ax.set_ylabel("predicted failure probability per trial (%)")
    ax.legend(fontsize=8)
    ax.set_title("cost of protection; the paper's levels on the oracle order"
                 + ("; squares: measured, crosses: predicted" if checks else ""), fontsize=9)
    if layers:
        bx.barh([r["layer"] for r in layers], [100 * r["share"] for r in layers])
        bx.set_xlabel("bits of the layer in the plan (%)")
        bx.set_xlim(0, 100)
        bx.set_title("the plan, per layer", fontsize=9)
        bx.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    pc.save(fig, out_dir, "protection")


if __name__ == "__main__":
    main()
