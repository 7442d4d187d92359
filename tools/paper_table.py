#!/usr/bin/python3
"""docs/paper.md: the FKeras paper's headline numbers beside ours, per model, from the
analysis tables `make figures` writes (results/figures/<model>/*.csv).

    tools/paper_table.py [RESULTS_DIR] > docs/paper.md      (default results)

Only what is measured appears as ours; a model without an oracle yet is listed as such.
The paper's column holds the numbers transcribed so far (PAPER below); the others read
"not transcribed". A missing RESULTS_DIR or a damaged table stops it with one line naming
the file, before anything is printed.
"""
import os
import sys

import plot_common as pc

MODELS = [("econt_small", "ECON-T Small"), ("econt_medium", "ECON-T Medium"),
          ("econt_large", "ECON-T Large"), ("cifar10", "CIFAR-10 CNN")]

# The paper's numbers on its own data (sensitive bits: share of all faultable bits).
PAPER = {
    "econt_small": {"sensitive": "100 %"},
    "econt_medium": {"sensitive": "63.5 %"},
    "econt_large": {"sensitive": "6.55 %"},
    "cifar10": {"sensitive": "82.72 %"},
}
PAPER_MULTIBIT = ("without protection, 13.4 % of the multi-bit errors are prevented; with "
                  "every sensitive bit protected, none remain (ECON-T Medium)")
WHY = {
    "econt": "ours is the public HGCal ttbar set (first 20,000 non-empty rows of "
             "data/hgcal/ttbar_0PU.csv), not the paper's evaluation data",
    "cifar10": "ours is evaluated on the 839 of the first 1,017 CIFAR-10 test images the model "
               "classifies correctly (the bundled ones), the paper on its 8,313 correctly "
               "classified test images; a bit is sensitive when it mispredicts any evaluated "
               "image, so ten times fewer images find fewer sensitive bits",
}


def table(d, name, columns=(), numbers=()):
    """Rows of D/NAME.csv as strings ([] if absent); the header must have COLUMNS and the
    rows numbers in NUMBERS (else the script stops naming the file and line)."""
    return pc.read_table(d, name, columns, numbers, strings=True) or []


def info_value(d, info, key, kind):
    """info.csv's KEY as KIND (int or float); a missing or damaged row stops the script."""
    path = os.path.join(d, "info.csv")
    if key not in info:
        pc.fail(path, "no '%s' row" % key)
    try:
        return kind(info[key])
    except ValueError:
        pc.fail(path, "%s '%s' is not %s" % (key, info[key],
                                             "an integer" if kind is int else "a number"))


def pct(x):
    return "%.2f %%" % (100 * x)


def rows_for(d):
    info = {r["key"]: r["value"] for r in table(d, "info", ("key", "value"))}
    n_bits, n_sens = info_value(d, info, "n_bits", int), info_value(d, info, "n_sensitive", int)
    total = info_value(d, info, "total_error", float)
    info_value(d, info, "model_name", str)  # compared with sensitive_by_position's below
    if n_bits <= 0:
        pc.fail(os.path.join(d, "info.csv"), "n_bits is %d" % n_bits)
    out = [("sensitive bits (share of all)", "sensitive", pct(n_sens / n_bits) +
            " (%d of %d)" % (n_sens, n_bits))]
    pos = table(d, "sensitive_by_position", ("model", "bit_pos", "error_sum"), ("error_sum",))
    msb = [float(r["error_sum"]) for r in pos
           if r["bit_pos"] == "0" and r["model"] == info["model_name"]]
    if msb and total > 0:
        out.append(("share of the total error in the MSBs", "msb", pct(sum(msb) / total)))
    methods = table(d, "methods", ("method", "source", "spearman", "bits_flipped",
                                   "sensitive_found", "final_error"), ("final_error", "spearman"))
    for m in methods:
        if m["source"] == "ranking" and m["spearman"] not in ("nan", ""):
            out.append(("Spearman ρ, %s ranking vs oracle" % m["method"], "rho_" + m["method"],
                        "%.3f" % float(m["spearman"])))
    topk = table(d, "topk", ("method", "k", "bits_flipped", "target_bits"))
    for k in ("1", "5", "10"):
        for m in ("oracle_optimal", "hessian", "gradient", "msb_lsb", "random"):
            hit = [r for r in topk if r["method"] == m and r["k"] == k]
            if hit:
                out.append(("bits flipped to find the top %s %% sensitive bits, %s" % (k, m),
                            "top%s_%s" % (k, m),
                            "%s (target %s)" % (hit[0]["bits_flipped"], hit[0]["target_bits"])))
    for m in methods:
        if m["source"] in ("binfi", "statfi"):
            out.append(("%s: bits flipped / sensitive found / error found" % m["method"],
                        m["method"], "%s / %s / %s of %s" % (
                            m["bits_flipped"], m["sensitive_found"],
                            "%.1f" % float(m["final_error"]), "%.1f" % total)))
    mb = ("error_rate", "wilson95_lo", "wilson95_hi")
    for r in table(d, "multibit", ("method", "protection", "trials") + mb,
                   mb + ("protected_share_of_all",)):
        share = r.get("protected_share_of_all", "nan")
        out.append(("multi-bit %s (%s%s): trials worse than fault-free" % (
            r["method"], r["protection"],
            "" if share == "nan" else ", %.1f %% of all bits" % (100 * float(share))),
            "mb_" + r["method"], "%s (Wilson 95 %%: %s–%s), %s trials" % (
                pct(float(r["error_rate"])), pct(float(r["wilson95_lo"])),
                pct(float(r["wilson95_hi"])), r["trials"])))
    return out


def main():
    res = sys.argv[1] if len(sys.argv) > 1 else "results"
    pc.need_dir(res)
    print("# The FKeras paper's numbers beside ours\n")
    print("Generated by `tools/paper_table.py %s > docs/paper.md` from the analysis tables of"
          % res)
    print("`make figures` (results/figures/<model>/*.csv); every number of ours comes from a"
          " committed")
    print("results file. The paper measured on its own data; ours uses the public HGCal")
    print("ttbar set (first 20,000 non-empty rows of data/hgcal/ttbar_0PU.csv) and the 1,017")
    print("bundled CIFAR-10 test images, so shares may differ: the comparison is the point.\n")
    for key, title in MODELS:
        d = os.path.join(res, "figures", key)
        print("## %s\n" % title)
        if not os.path.exists(os.path.join(d, "info.csv")):
            print("No oracle yet (configs/oracle_%s.yaml; results/README.md says where it "
                  "stands).\n" % key)
            if key in PAPER:
                print("Paper: %s of the bits sensitive.\n" % PAPER[key]["sensitive"])
            continue
        print("| headline | paper | ours |")
        print("|---|---|---|")
        for label, k, ours in rows_for(d):
            paper = PAPER.get(key, {}).get(k, "not transcribed")
            print("| %s | %s | %s |" % (label, paper, ours))
        print()
        print("Differences: %s.\n" % WHY["cifar10" if key == "cifar10" else "econt"])
    print("## Multi-bit study (ECON-T Medium)\n")
    print("Paper: %s. Ours at the paper's levels (shares of all bits, scored on the oracle's"
          " inputs; configs/multibit_econt_medium_{p0,p32,p63_5,p100}.yaml), each beside the"
          " first-order prediction from the single-bit oracle (`upset protect --check`,"
          " docs/protection.md: a trial fails when one of its flips lands on an unprotected"
          " sensitive bit, and its error is the sum of its flips' single-bit errors):\n"
          % PAPER_MULTIBIT)
    nums = ("predicted_failure", "measured_failure", "measured_failure_lo",
            "measured_failure_hi", "predicted_error", "measured_error", "measured_error_lo",
            "measured_error_hi")
    check = [r for r in table(os.path.join(res, "figures", "econt_medium", "protect"), "check",
                              ("results", "trials") + nums, nums)
             if "multibit_econt_medium_p" in r["results"]]
    if not check:
        print("No level has run yet.")
        return
    print("| level | trials | trials worse than fault-free, measured (Wilson 95 %) | predicted |"
          " mean ΔEMD per trial, measured (95 %) | predicted |")
    print("|---|---|---|---|---|---|")
    def level(r):
        name = os.path.basename(r["results"]).replace("multibit_econt_medium_p", "")
        return float(name.replace(".h5", "").replace("_", "."))
    for r in sorted(check, key=level):
        print("| %s | %s | %s (%s–%s) | %s | %.4g (%.4g – %.4g) | %.4g |" % (
            "%g %%" % level(r), r["trials"], pct(float(r["measured_failure"])),
            pct(float(r["measured_failure_lo"])), pct(float(r["measured_failure_hi"])),
            pct(float(r["predicted_failure"])), float(r["measured_error"]),
            float(r["measured_error_lo"]), float(r["measured_error_hi"]),
            float(r["predicted_error"])))
    for r in check:
        if level(r) == 0:
            print("\nSide by side: the paper reports that without protection 13.4 %% of the"
                  " multi-bit errors are prevented; here %s of the trials stay at or below the"
                  " fault-free EMD (%s trials)." % (
                      pct(1 - float(r["measured_failure"])), r["trials"]))
        if level(r) == 63.5:
            print("\nSide by side: the paper reports that with every sensitive bit protected no"
                  " error remains; here %s of the trials are worse than fault-free (%s trials),"
                  " though no flip lands on a sensitive bit." % (pct(float(r["measured_failure"])), r["trials"]))
    print("\nWhere the measurement leaves the prediction, many flips at once interact: the first"
          " order adds single-bit errors, so it overstates the error of flips that saturate the"
          " output together and misses insensitive bits whose changes add up to a worse"
          " reconstruction.\n")


if __name__ == "__main__":
    pc.whole(main)
