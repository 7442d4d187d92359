"""Shared helpers of the tools/plot_*.py scripts: read the CSV tables written by
`upset analyze` (docs/analysis.md), keep one colour per method, save PNG + PDF.

Every script is called as   plot_X.py ANALYSIS_DIR [OUT_DIR]   (OUT_DIR defaults
to ANALYSIS_DIR) and prints the files it wrote, or why it wrote none.
"""
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Fixed colours for the methods the paper compares; anything else cycles.
COLOURS = {
    "oracle_optimal": "black",
    "hessian": "tab:blue",
    "gradient": "tab:orange",
    "fkeras_hessian": "tab:cyan",
    "fkeras_gradient": "tab:olive",
    "msb_lsb": "tab:green",
    "random": "tab:gray",
    "binfi_actual": "tab:red",
    "binfi_actual_implied": "tab:pink",
    "statfi_data_aware": "tab:purple",
    "statfi_data_unaware": "tab:brown",
}
_CYCLE = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
          "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]


_assigned = {}


def colour(label):
    """The same colour for a method in every figure."""
    if label in COLOURS:
        return COLOURS[label]
    if label not in _assigned:
        _assigned[label] = _CYCLE[len(_assigned) % len(_CYCLE)]
    return _assigned[label]


def _convert(v):
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)  # "nan" included
    except ValueError:
        return v


def read_table(in_dir, name):
    """Rows of IN_DIR/NAME.csv as dicts with numbers converted; None if absent."""
    path = os.path.join(in_dir, name + ".csv")
    if not os.path.exists(path):
        return None
    rows = []
    with open(path, newline="") as f:
        lines = csv.reader(f)
        header = next(lines, None)
        # a damaged table (cut short, say) is refused by name; csv.DictReader would give a
        # short row None for its missing fields (a TypeError later) and an empty file no rows
        if not header:
            sys.exit("%s: empty file, no header line" % path)
        for fields in lines:
            if not fields:  # a blank line, skipped as csv.DictReader does
                continue
            if len(fields) != len(header):
                sys.exit("%s:%d: %d fields where the header has %d" % (
                    path, lines.line_num, len(fields), len(header)))
            rows.append({k: _convert(v) for k, v in zip(header, fields)})
    return rows


def info(in_dir):
    """info.csv as a dict (model_name, task, error_unit, n_bits, ...)."""
    rows = read_table(in_dir, "info") or []
    return {r["key"]: r["value"] for r in rows}


def error_label(inf):
    return "extra mispredicts" if inf.get("task") == "classifier" else "ΔEMD"


def sources(in_dir):
    """method label -> source (oracle, ranking, guided, binfi, statfi)."""
    return {r["method"]: r["source"] for r in read_table(in_dir, "methods") or []}


def is_nan(v):
    return isinstance(v, float) and math.isnan(v)


def save(fig, out_dir, name):
    os.makedirs(out_dir, exist_ok=True)
    for ext in ("png", "pdf"):
        path = os.path.join(out_dir, name + "." + ext)
        fig.savefig(path, dpi=150, bbox_inches="tight")
        print(path)
    plt.close(fig)


def args():
    if len(sys.argv) not in (2, 3) or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    in_dir = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) == 3 else in_dir
    if not os.path.isdir(in_dir):
        sys.exit("%s: not a directory" % in_dir)
    return in_dir, out_dir


def skip(script, why):
    print("%s: skipped: %s" % (os.path.basename(script), why))
