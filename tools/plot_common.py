"""Shared helpers of the tools/plot_*.py scripts: read the CSV tables written by
`upset analyze` (docs/analysis.md), keep one colour per method, save PNG + PDF.

Every script is called as   plot_X.py ANALYSIS_DIR [OUT_DIR]   (OUT_DIR defaults
to ANALYSIS_DIR) and prints the files it wrote, or why it wrote none.

The table scripts (paper_table.py, upset_table.py, compare_rankings.py) share its way of
reading inputs and of failing: a missing or damaged input stops the script with one line
naming the file (fail), and nothing on standard output (whole). They run without
matplotlib: pc.plt imports it on first use.
"""
import contextlib
import csv
import io
import math
import os
import sys

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


def pyplot():
    """matplotlib.pyplot on the Agg backend, imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot
    return matplotlib.pyplot


def __getattr__(name):  # pc.plt
    if name == "plt":
        return pyplot()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def fail(path, why):
    """Stops the script with one line, PATH: WHY, on standard error (exit status 1)."""
    sys.exit("%s: %s" % (path, " ".join(str(why).split())))


def whole(main):
    """Runs main() with its standard output held back until it returns: a script that
    fails part way prints its message and no partial table (--help still prints)."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            main()
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    sys.stdout.write(out.getvalue())


def need_dir(path):
    """Stops the script unless PATH is a directory."""
    if not os.path.isdir(path):
        fail(path, "not a directory" if os.path.exists(path) else "no such directory")


def need_file(path):
    """Stops the script unless PATH is a file."""
    if not os.path.exists(path):
        fail(path, "no such file")
    if not os.path.isfile(path):
        fail(path, "not a file")


@contextlib.contextmanager
def open_h5(path):
    """with open_h5(PATH) as f: the HDF5 file PATH, read-only. A file that is missing, not
    HDF5, cut short, or lacks what the block reads stops the script naming it."""
    import h5py
    need_file(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        fail(path, "not a readable HDF5 file (%s)" % e)
    try:
        with f:
            yield f
    except (KeyError, OSError, ValueError, TypeError) as e:
        fail(path, "damaged, or not the file expected here (%s)" % (
            e.args[0] if isinstance(e, KeyError) and e.args else e))


def read_table(in_dir, name, columns=(), numbers=(), strings=False):
    """Rows of IN_DIR/NAME.csv as dicts with numbers converted (strings: as read); None if
    absent. The header must name COLUMNS; the columns NUMBERS, where the header has them,
    must hold numbers ("nan" included) in every row."""
    path = os.path.join(in_dir, name + ".csv")
    if not os.path.exists(path):
        return None
    rows = []
    try:
        with open(path, newline="") as f:
            lines = csv.reader(f)
            header = next(lines, None)
            # a damaged table (cut short, say) is refused by name; csv.DictReader would give
            # a short row None for its missing fields (a TypeError later), an empty file no rows
            if not header:
                fail(path, "empty file, no header line")
            for c in columns:
                if c not in header:
                    fail(path, "no column '%s' in the header" % c)
            for fields in lines:
                if not fields:  # a blank line, skipped as csv.DictReader does
                    continue
                where = "%s:%d" % (path, lines.line_num)
                if len(fields) != len(header):
                    fail(where, "%d fields where the header has %d" % (len(fields), len(header)))
                row = dict(zip(header, fields))
                for c in numbers:
                    if c in row and not isinstance(_convert(row[c]), (int, float)):
                        fail(where, "%s '%s' is not a number" % (c, row[c]))
                rows.append(row if strings else {k: _convert(v) for k, v in row.items()})
    except (OSError, UnicodeDecodeError, csv.Error) as e:  # a directory, binary junk, a NUL
        fail(path, "unreadable (%s)" % e)
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
    pyplot().close(fig)


def args():
    if len(sys.argv) not in (2, 3) or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    in_dir = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) == 3 else in_dir
    need_dir(in_dir)
    return in_dir, out_dir


def skip(script, why):
    print("%s: skipped: %s" % (os.path.basename(script), why))
