#!/usr/bin/python3
"""data/digits/digits.csv.gz (scikit-learn's copy of the UCI optical handwritten digits:
1,797 rows of 64 pixel counts 0..16, then the class) -> data/digits/digits.h5, upset's
hdf5 data format (docs/campaign-format.md): /x (1797, 8, 8, 1) float32, the pixel counts
unchanged (as sklearn's load_digits gives them and chisel4ml's digit model reads them),
/y (1797) int32 classes. chisel4ml trains on the first 1,437 rows and tests on the last
360 (train_test_split(test_size=0.2, shuffle=False)): data.offset 1437 selects them.

Usage: tools/make_digits.py [CSV.gz] [-o OUT.h5]"""
import argparse
import gzip
import os

import h5py
import numpy as np


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="?", default=os.path.join(root, "data/digits/digits.csv.gz"))
    ap.add_argument("-o", default=os.path.join(root, "data/digits/digits.h5"))
    a = ap.parse_args()
    with gzip.open(a.csv, "rt") as fh:
        rows = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if rows.shape != (1797, 65) or rows[:, :64].min() < 0 or rows[:, :64].max() > 16 or \
            not set(rows[:, 64]) <= set(range(10)):
        raise SystemExit(f"{a.csv}: expected 1797 rows of 64 counts 0..16 and a class 0..9")
    tmp = a.o + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=rows[:, :64].reshape(-1, 8, 8, 1).astype(np.float32))
        f.create_dataset("y", data=rows[:, 64].astype(np.int32))
        f.attrs["source"] = np.bytes_("scikit-learn 1.2.1 sklearn/datasets/data/digits.csv.gz "
                                      "(UCI optical recognition of handwritten digits)")
        f.attrs["chisel4ml_test_offset"] = np.int32(1437)
    os.replace(tmp, a.o)
    print(f"{a.o}: {len(rows)} digits; chisel4ml's test split is offset 1437, count 360")


if __name__ == "__main__":
    main()
