#!/usr/bin/python3
"""Bits a method must flip to find all of the top-k percent of the sensitive bits,
k = 1..100 (FKeras paper, Figs. 9 and 10), from topk.csv and methods.csv.
A method that never finds them (bits_flipped = -1) leaves its line off there.

    tools/plot_topk.py ANALYSIS_DIR [OUT_DIR]
      -> topk_rankings.{png,pdf}  the oracle-optimal bound, rankings, guided runs
      -> topk_fi.{png,pdf}        the bound, the rankings, BinFI and StatFI
                                  (only when a BinFI or StatFI result was analysed)
"""
import plot_common as pc

FIGURES = [
    ("topk_rankings", ("oracle", "ranking", "guided"), "rankings and guided injection"),
    ("topk_fi", ("oracle", "ranking", "binfi", "statfi"), "rankings vs BinFI and StatFI"),
]


def main():
    in_dir, out_dir = pc.args()
    rows = pc.read_table(in_dir, "topk")
    if not rows:
        pc.skip(__file__, "no %s/topk.csv" % in_dir)
        return
    src = pc.sources(in_dir)
    inf = pc.info(in_dir)
    lines = {}
    for r in rows:
        k, y = lines.setdefault(r["method"], ([], []))
        k.append(r["k"])
        y.append(r["bits_flipped"] if r["bits_flipped"] >= 0 else float("nan"))
    for name, kinds, title in FIGURES:
        methods = [m for m in lines if src.get(m) in kinds]
        if name == "topk_fi" and not any(src.get(m) in ("binfi", "statfi") for m in methods):
            pc.skip(__file__, "%s: no BinFI or StatFI result" % name)
            continue
        fig, ax = pc.plt.subplots(figsize=(6, 4))
        for m in methods:
            k, y = lines[m]
            style = "--" if src[m] == "oracle" else "-"
            never = all(v != v for v in y)
            ax.plot(k, y, style, lw=1.2, color=pc.colour(m),
                    label=m + (" (never)" if never else ""))
        ax.set_xlabel("top-k %% of the %s sensitive bits" % inf.get("n_sensitive", "?"))
        ax.set_ylabel("bits flipped to find them")
        ax.set_title("%s: %s" % (inf.get("model_name", "?"), title))
        ax.set_xlim(0, 100)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        pc.save(fig, out_dir, name)


if __name__ == "__main__":
    main()
