#!/usr/bin/python3
"""Cumulative error vs number of bits flipped (FKeras paper, Figs. 7 and 8), from
cumulative_error.csv and methods.csv.

    tools/plot_cumulative.py ANALYSIS_DIR [OUT_DIR]
      -> cumulative_rankings.{png,pdf}  the oracle-optimal bound, rankings, guided runs
      -> cumulative_fi.{png,pdf}        the bound, the rankings, BinFI and StatFI
                                        (only when a BinFI or StatFI result was analysed)
"""
import plot_common as pc

FIGURES = [
    ("cumulative_rankings", ("oracle", "ranking", "guided"), "rankings and guided injection"),
    ("cumulative_fi", ("oracle", "ranking", "binfi", "statfi"), "rankings vs BinFI and StatFI"),
]


def main():
    in_dir, out_dir = pc.args()
    rows = pc.read_table(in_dir, "cumulative_error")
    if not rows:
        pc.skip(__file__, "no %s/cumulative_error.csv" % in_dir)
        return
    src = pc.sources(in_dir)
    inf = pc.info(in_dir)
    curves = {}
    for r in rows:
        x, y = curves.setdefault(r["method"], ([], []))
        x.append(r["bits_flipped"])
        y.append(r["cumulative_error"])
    for name, kinds, title in FIGURES:
        methods = [m for m in curves if src.get(m) in kinds]
        if name == "cumulative_fi" and not any(src.get(m) in ("binfi", "statfi") for m in methods):
            pc.skip(__file__, "%s: no BinFI or StatFI result" % name)
            continue
        fig, ax = pc.plt.subplots(figsize=(6, 4))
        for m in methods:
            x, y = curves[m]
            style = "--" if src[m] == "oracle" else "-"
            ax.plot(x, y, style, lw=1.2, label=m, color=pc.colour(m))
        ax.set_xlabel("bits flipped")
        ax.set_ylabel("cumulative %s" % pc.error_label(inf))
        ax.set_title("%s: %s" % (inf.get("model_name", "?"), title))
        ax.set_xlim(left=0)
        ax.legend(fontsize=8)
        pc.save(fig, out_dir, name)


if __name__ == "__main__":
    main()
