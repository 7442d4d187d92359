#!/usr/bin/python3
"""Multi-bit upsets: the share of trials worse than fault-free, with its 95 %
Wilson interval, per protection level (FKeras paper, Fig. 13), from multibit.csv.
Levels are ordered by the number of protected bits and labelled as the paper does, by the
share of all faultable bits protected (then the share of the sensitive bits).

    tools/plot_multibit.py ANALYSIS_DIR [OUT_DIR]   ->  multibit.{png,pdf}
"""
import plot_common as pc


def main():
    in_dir, out_dir = pc.args()
    rows = pc.read_table(in_dir, "multibit")
    if not rows:
        pc.skip(__file__, "no multibit result in %s/multibit.csv" % in_dir)
        return
    inf = pc.info(in_dir)
    rows = sorted(rows, key=lambda r: r["n_protected"])
    x = range(len(rows))
    y = [100 * r["error_rate"] for r in rows]
    lo = [100 * (r["error_rate"] - r["wilson95_lo"]) for r in rows]
    hi = [100 * (r["wilson95_hi"] - r["error_rate"]) for r in rows]
    fig, ax = pc.plt.subplots(figsize=(max(4, 0.9 * len(rows) + 2), 3.5))
    ax.errorbar(x, y, yerr=[lo, hi], fmt="o", capsize=4)
    labels = []
    for r in rows:
        # the paper's protection level (a share of all bits), then the share of the sensitive
        share_all = r.get("protected_share_of_all", float("nan"))
        share = r["protected_share_of_sensitive"]
        prot = "" if pc.is_nan(share_all) else "\n%.1f%% of all bits" % (100 * share_all)
        prot += "" if pc.is_nan(share) else "\n(%.0f%% of sens.)" % (100 * share)
        labels.append("%s%s" % (r["method"], prot))
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("trials worse than fault-free (%)")
    ax.set_ylim(0, 100)
    # -1: the trials drew different counts (a Poisson number of upsets per trial)
    flips = sorted({"Poisson" if int(r["flips"]) < 0 else str(r["flips"]) for r in rows})
    ax.set_title("%s: %s-bit upsets, 95%% Wilson intervals" %
                 (inf.get("model_name", "?"), "/".join(flips)))
    pc.save(fig, out_dir, "multibit")


if __name__ == "__main__":
    main()
