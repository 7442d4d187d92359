#!/usr/bin/python3
"""Compare an `upset rank` result with a published ranking (data/rankings/).

    tools/compare_rankings.py OURS.h5 THEIRS.txt [--params]

THEIRS.txt holds one index per line, most sensitive first: global bit indices
(FKeras's ECON-T bit rankings) or, with --params, kernel parameter indices
(FKeras's CIFAR-10 parameter ranking). Printed:
  - Spearman's rho between the two orders (bits, or parameters with --params);
  - for bit rankings also rho between the parameter orders they imply (the order of
    the parameters' MSBs, which carries all the information of an MSB-first ranking);
  - overlap of the top 1% and 10%;
  - for Hessian results, rho against THEIRS for the other score formulas, recomputed
    from the stored eigenpairs (/eigen/vectors, /params/value):
      fkeras     sum_k lambda_k^2 |v_k . theta| |v_k,i|   (FKeras hessian_ranking, "sum")
      paper      |sum_k lambda_k (v_k . theta) v_k,i|
      eigvec     sum_k |lambda_k v_k,i|                  (earlier FKeras: no v . theta factor)
      top1       |v_1,i|
A file that is missing, empty or damaged (THEIRS not a permutation of 0..n-1 included)
stops it with one line naming the file, before anything is printed.
"""
import argparse
import sys
import warnings

import numpy as np

import plot_common as pc


def spearman(order_a, order_b):
    """Spearman's rho of two orders (permutations of the same items)."""
    n = len(order_a)
    ra = np.empty(n)
    rb = np.empty(n)
    ra[order_a] = np.arange(n)
    rb[order_b] = np.arange(n)
    return float(np.corrcoef(ra, rb)[0, 1])


def overlap(order_a, order_b, frac):
    k = max(1, int(round(frac * len(order_a))))
    return len(np.intersect1d(order_a[:k], order_b[:k])) / k


def order_by_score(score):
    """Descending score, ties by ascending index (as upset orders parameters)."""
    return np.lexsort((np.arange(len(score)), -score))


def bit_layout(model_path):
    """Per parameter: its first global bit and width (faultable kernels, model order)."""
    first, width = [], []
    bit = 0
    with pc.open_h5(model_path) as f:
        for name in sorted(f["layers"]):
            g = f["layers"][name]
            if not int(g.attrs.get("faultable", 0)):
                continue
            bits = int(g.attrs["kernel_q_bits"])
            n = g["kernel_code"].size
            first.append(bit + bits * np.arange(n))
            width.append(np.full(n, bits))
            bit += bits * n
    return np.concatenate(first), np.concatenate(width)


def params_from_bits(bits, first, width):
    """The parameter order an MSB-first bit ranking implies (first appearance)."""
    owner = np.empty(int(first[-1] + width[-1]), dtype=np.int64)
    for p, (b, w) in enumerate(zip(first, width)):
        owner[b:b + w] = p
    seen = np.zeros(len(first), dtype=bool)
    out = []
    for b in bits:
        p = owner[b]
        if not seen[p]:
            seen[p] = True
            out.append(p)
    return np.array(out)


def alt_scores(f):
    lam = np.asarray(f.attrs["eigenvalues"], dtype=float)
    vec = f["eigen/vectors"][...]
    theta = f["params/value"][...]
    vt = vec @ theta
    return {
        "fkeras": ((lam**2 * np.abs(vt))[:, None] * np.abs(vec)).sum(0),
        "paper": np.abs(((lam * vt)[:, None] * vec).sum(0)),
        "eigvec": (np.abs(lam)[:, None] * np.abs(vec)).sum(0),
        "top1": np.abs(vec[0]),
    }


def read_ranking(path):
    """The indices in PATH, one per line ('#' comments); stops the script if it has none or
    a line that is not an integer."""
    pc.need_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": refused below
            out = np.loadtxt(path, dtype=np.int64, comments="#").reshape(-1)
    except (OSError, ValueError) as e:  # UnicodeDecodeError included
        pc.fail(path, "not one integer per line (%s)" % e)
    if out.size == 0:
        pc.fail(path, "no index in it")
    return out


def check_permutation(path, order):
    """ORDER (the indices read from PATH) holds each of 0..n-1 once."""
    if not np.array_equal(np.sort(order), np.arange(len(order))):
        pc.fail(path, "not a permutation of 0..%d (an index repeated or out of range)"
                % (len(order) - 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("ours")
    ap.add_argument("theirs")
    ap.add_argument("--params", action="store_true", help="THEIRS is a parameter ranking")
    a = ap.parse_args()

    theirs = read_ranking(a.theirs)
    with pc.open_h5(a.ours) as f:
        if f.attrs.get("format") not in ("upset-ranking", b"upset-ranking"):
            sys.exit(f"{a.ours}: not an upset-ranking file")
        metric = f.attrs["metric"]
        model = f.attrs["model"]
        score = f["params/score"][...]
        bits = f["ranking/bit"][...]
        alts = alt_scores(f) if "eigen" in f else {}
        n_samples = int(f.attrs["n_samples"])
    ours_params = order_by_score(score)
    print(f"{a.ours}: {metric} ranking of {model} on {n_samples} samples vs {a.theirs}")

    if a.params:
        if len(theirs) != len(ours_params):
            sys.exit(f"{len(theirs)} parameters in {a.theirs}, {len(ours_params)} in {a.ours}")
        check_permutation(a.theirs, theirs)
        print(f"  parameters: rho = {spearman(ours_params, theirs):.4f}, "
              f"top 1% overlap {overlap(ours_params, theirs, 0.01):.3f}, "
              f"top 10% {overlap(ours_params, theirs, 0.10):.3f}")
        for name, s in alts.items():
            print(f"    score {name:7s}: rho = {spearman(order_by_score(s), theirs):.4f}")
        return

    if len(theirs) != len(bits):
        sys.exit(f"{len(theirs)} bits in {a.theirs}, {len(bits)} in {a.ours}")
    check_permutation(a.theirs, theirs)
    first, width = bit_layout(model)
    theirs_params = params_from_bits(theirs, first, width)
    print(f"  bits:       rho = {spearman(bits, theirs):.4f}, "
          f"top 1% overlap {overlap(bits, theirs, 0.01):.3f}, "
          f"top 10% {overlap(bits, theirs, 0.10):.3f}")
    print(f"  parameters: rho = {spearman(params_from_bits(bits, first, width), theirs_params):.4f}, "
          f"top 1% overlap {overlap(ours_params, theirs_params, 0.01):.3f}, "
          f"top 10% {overlap(ours_params, theirs_params, 0.10):.3f}")
    for name, s in alts.items():
        print(f"    score {name:7s}: parameter rho = "
              f"{spearman(order_by_score(s), theirs_params):.4f}")


if __name__ == "__main__":
    pc.whole(main)
