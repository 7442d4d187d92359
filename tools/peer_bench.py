#!/usr/bin/python3
"""What a user would otherwise run: a per-bit fault-injection loop in PyTorch (CPU, batched over
the whole evaluation set) for an upset model file: a classifier (float32, mispredicts), or an
ECON-T autoencoder (float64, so the float decoder matches upset's double one, and the EMD of
every sample with POT, the Python Optimal Transport library's exact network simplex).

For each bit it flips the weight code, rebuilds that layer's float32 weight, runs every
evaluation image and counts mispredicts; then restores the weight. The model is read from
upset's native format (docs/model-format.md) with h5py and evaluated with QKeras's
inference semantics in float32: conv/dense on code * 2^-f weights, batch norm as
x * scale + offset, quantized_relu as clip(round(x * 2^f)) / 2^f (torch.round rounds half
to even), softmax.

  peer_bench.py --model models/cifar10.h5 --data data/cifar10/test_batch_first1017.bin \
      --labels data/cifar10/test_labels_10000.bin --count 300 --bits-from RESULTS.h5 --threads 1
  peer_bench.py --model models/econt_medium.h5 --data data/hgcal/ttbar_0PU.csv --count 2000 \
      --bits-from RESULTS.h5 --threads 1

--bits-from takes the bit list (and, to compare, the mispredicts) of an upset results file
of the same model and images (correct_only: true). Prints the fault-free accuracy, the
per-bit loop's time and rate, and how many bits give the same mispredicts as upset. Its
exit status is 1, after those lines, unless the fault-free pass evaluates the same inputs
(upset's sample_index) to the same result and every bit's result equals upset's: a
timing on other inputs or with other results is no comparison.
"""
import argparse
import os
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--labels", help="CIFAR-10 labels (classifiers)")
    ap.add_argument("--count", type=int, default=1017)
    ap.add_argument("--bits-from", required=True, help="an upset results file of the same model")
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args()


# The arguments are read before numpy loads: the BLAS numpy uses (OpenBLAS where installed)
# sizes its thread pool from the environment when it loads, and the peer must run on as many
# threads as upset's ranks, not on every core.
ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
    import ot
except ImportError as e:  # pragma: no cover - a message instead of a traceback
    sys.exit(f"peer_bench.py: {e}; install python3-torch, python3-pot, python3-numpy "
             "and python3-h5py (Debian) or run tools/install-deps.sh --bench")


def attr(g, k, default=None):
    v = g.attrs.get(k, default)
    return v.decode() if isinstance(v, bytes) else v


def frac(bits, integer, keep_negative):
    return bits - integer - (1 if keep_negative else 0)


def load_layers(path):
    layers = []
    with h5py.File(path, "r") as f:
        if attr(f, "task") not in ("classifier", "autoencoder"):
            sys.exit(f"peer_bench.py: {path}: only classifiers and autoencoders are supported")
        for name in sorted(f["layers"].keys()):
            g = f["layers"][name]
            L = {"kind": attr(g, "kind"), "name": attr(g, "name"),
                 "faultable": int(attr(g, "faultable", 0)),
                 "in_shape": tuple(int(v) for v in g.attrs["in_shape"]),
                 "out_shape": tuple(int(v) for v in g.attrs["out_shape"])}
            for k in g.attrs:
                if k not in L:
                    L[k] = attr(g, k)
            for k in g.keys():
                L[k] = g[k][()]
            layers.append(L)
    return layers


def weight(L):
    """The layer's float32 weight as torch wants it, from the codes (or floats)."""
    if int(L.get("quantized", 0)):
        f = frac(int(L["kernel_q_bits"]), int(L["kernel_q_integer"]),
                 int(L["kernel_q_keep_negative"]))
        w = (L["kernel_code"].astype(np.float64) * 2.0 ** -f).astype(np.float32)
    else:
        w = L["kernel"].astype(np.float32)
    if L["kind"] == "conv2d":
        w = np.ascontiguousarray(w.transpose(3, 2, 0, 1))  # (cout, cin, kh, kw)
    elif L["kind"] == "conv2d_transpose":  # Keras (kh, kw, cout, cin) -> (cin, cout, kh, kw)
        w = np.ascontiguousarray(w.transpose(3, 2, 0, 1))
    return torch.from_numpy(w.astype(DTYPE))


def bias(L):
    if not int(L.get("use_bias", 0)):
        return None
    if int(L.get("quantized", 0)):
        f = frac(int(L["bias_q_bits"]), int(L["bias_q_integer"]), int(L["bias_q_keep_negative"]))
        return torch.from_numpy((L["bias_code"].astype(np.float64) * 2.0 ** -f).astype(DTYPE))
    return torch.from_numpy(L["bias"].astype(np.float32).astype(DTYPE))


def same_pad(n_in, n_out, k, s):
    total = max((n_out - 1) * s + k - n_in, 0)
    return total // 2, total - total // 2


def forward(layers, params, x):
    """x: (N, h, w, c) float32; returns the (N, classes) outputs."""
    for L, p in zip(layers, params):
        kind = L["kind"]
        if kind == "conv2d":
            kh, kw = L["kernel"].shape[:2]
            sh, sw = (int(v) for v in L["strides"])
            t = x.permute(0, 3, 1, 2)
            if L["padding"] == "same":
                ph = same_pad(L["in_shape"][0], L["out_shape"][0], kh, sh)
                pw = same_pad(L["in_shape"][1], L["out_shape"][1], kw, sw)
                t = F.pad(t, (pw[0], pw[1], ph[0], ph[1]))
            x = F.conv2d(t, p["w"], p["b"], stride=(sh, sw)).permute(0, 2, 3, 1)
        elif kind == "conv2d_transpose":  # TensorFlow's: the full result cropped (SAME)
            kh, kw = L["kernel"].shape[:2]
            sh, sw = (int(v) for v in L["strides"])
            oh, ow = L["out_shape"][0], L["out_shape"][1]
            ph = same_pad(oh, L["in_shape"][0], kh, sh)[0] if L["padding"] == "same" else 0
            pw = same_pad(ow, L["in_shape"][1], kw, sw)[0] if L["padding"] == "same" else 0
            t = F.conv_transpose2d(x.permute(0, 3, 1, 2), p["w"], p["b"], stride=(sh, sw))
            x = t[:, :, ph:ph + oh, pw:pw + ow].permute(0, 2, 3, 1)
        elif kind == "dense":
            x = x.reshape(x.shape[0], -1) @ p["w"]
            if p["b"] is not None:
                x = x + p["b"]
        elif kind == "batchnorm":
            x = x * p["scale"] + p["offset"]
        elif kind in ("flatten", "reshape"):
            x = x.reshape(x.shape[0], *L["out_shape"]) if len(L["out_shape"]) > 1 else \
                x.reshape(x.shape[0], -1)
        elif kind in ("activation", "quant_input"):
            act = L.get("activation", "quantized_bits")
            if act == "quantized_relu":
                f = frac(int(L["q_bits"]), int(L["q_integer"]), 0)
                x = torch.clamp(torch.round(x * 2.0 ** f), 0, 2 ** int(L["q_bits"]) - 1) * 2.0 ** -f
            elif act == "quantized_bits":
                neg = int(L.get("q_keep_negative", 1))
                b = int(L["q_bits"])
                f = frac(b, int(L["q_integer"]), neg)
                lo, hi = (-(2 ** (b - 1)), 2 ** (b - 1) - 1) if neg else (0, 2 ** b - 1)
                x = torch.clamp(torch.round(x * 2.0 ** f), lo, hi) * 2.0 ** -f
            elif act == "relu":
                x = torch.relu(x)
            elif act == "sigmoid":
                x = torch.sigmoid(x)
            elif act == "softmax":
                x = torch.softmax(x, dim=-1)  # Keras's: each position's channels
            elif act != "linear":
                sys.exit(f"peer_bench.py: activation {act} not supported")
        else:
            sys.exit(f"peer_bench.py: layer kind {kind} not supported")
        if L.get("activation") == "relu" and kind in ("conv2d", "dense", "conv2d_transpose"):
            x = torch.relu(x)
    return x.reshape(x.shape[0], -1)


def params_of(layers):
    out = []
    for L in layers:
        p = {}
        if L["kind"] in ("conv2d", "dense", "conv2d_transpose"):
            p = {"w": weight(L), "b": bias(L)}
        elif L["kind"] == "batchnorm":
            g = L["gamma"].astype(np.float32)
            var = L["moving_variance"].astype(np.float32)
            scale = g * (np.float32(1.0) / np.sqrt(var + np.float32(L["epsilon"])))
            offset = L["beta"].astype(np.float32) - L["moving_mean"].astype(np.float32) * scale
            p = {"scale": torch.from_numpy(scale.astype(DTYPE)),
                 "offset": torch.from_numpy(offset.astype(DTYPE))}
        out.append(p)
    return out


DTYPE = np.float32  # float64 for autoencoders (main)


# ---- ECON-T: the data, the 8x8 arrangement and the EMD, from the geometry tables ----

def geometry():
    t = {}
    with open("data/reference/econt_geometry.txt") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            k, *v = line.split()
            t.setdefault(k, []).append([float(a) for a in v])
    hexc = np.array(t["hex_coords"])
    dist = np.sqrt(((hexc[:, None, :] - hexc[None, :, :]) ** 2).sum(-1)) / (0.5 * 2.4168015)
    arrange = np.array(t["arrange_8x8"][0], dtype=int)
    mask = np.array(t["arr_mask_8x8"][0], dtype=int)
    remap = np.array(t["remap_8x8"][0], dtype=int)
    return dist, arrange, mask, remap


def hgcal(path, count):
    """The first count non-empty rows, each normalised by 2^floor(log2(sum)) (upset's)."""
    q = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    q = q[q.sum(1) > 0][:count]
    return q * 2.0 ** -np.floor(np.log2(q.sum(1)))[:, None]


def emd(dist, a, b):
    """EMD of unit-normalised histograms; a zero-sum side is uniform (upset's default)."""
    sa, sb = a.sum(), b.sum()
    if sa == 0 and sb == 0:
        return 0.0
    a = a / sa if sa > 0 else np.full(48, 1 / 48)
    b = b / sb if sb > 0 else np.full(48, 1 / 48)
    return float(ot.emd2(a, b, dist))


def refuse(msg):
    """A difference from upset's run: the timing compares nothing, so no ratio may use it."""
    sys.exit(f"peer_bench.py: {msg}: not upset's computation, no ratio counts")


def same_space(layers, r):
    """The results file's fault space is the one locate() walks (kernel bits only)."""
    mine = sum(L["kernel_code"].size * int(L["kernel_q_bits"]) for L in layers if L["faultable"])
    if int(r.attrs["n_fault_bits"]) != mine:
        refuse(f"{ARGS.bits_from} has {int(r.attrs['n_fault_bits'])} fault bits, the model's "
               f"kernels {mine} (include_bias?)")


def same_inputs(mine, r):
    """The fault-free pass kept the inputs upset evaluated (positions in the source)."""
    theirs = np.asarray(r.attrs["sample_index"]).reshape(-1)
    if len(mine) != len(theirs) or (np.asarray(mine) != theirs).any():
        refuse(f"fault-free: other inputs than {ARGS.bits_from}'s sample_index "
               f"({len(mine)} here, {len(theirs)} there)")


def locate(layers, bit):
    for i, L in enumerate(layers):
        if not L["faultable"]:
            continue
        nb = L["kernel_code"].size * int(L["kernel_q_bits"])
        if bit < nb:
            return i, bit // int(L["kernel_q_bits"]), bit % int(L["kernel_q_bits"])
        bit -= nb
    raise ValueError("bit outside the fault space")


def flip(code, bits, signed, pos):
    mask = (1 << bits) - 1
    u = (int(code) & mask) ^ (1 << (bits - 1 - pos))
    if signed and u & (1 << (bits - 1)):
        u -= 1 << bits
    return u


def per_bit(layers, params, bits, dtype, evaluate):
    """The per-bit loop: flip each bit's code, rebuild its layer's weight, evaluate(), restore.
    Returns the results and the loop's wall and CPU seconds."""
    mine = np.zeros(len(bits), dtype=dtype)
    t0, c0 = time.perf_counter(), time.process_time()
    for k, bit in enumerate(bits):
        li, w, pos = locate(layers, int(bit))
        L = layers[li]
        code = L["kernel_code"].reshape(-1)
        old = code[w]
        code[w] = flip(old, int(L["kernel_q_bits"]), int(L["kernel_q_keep_negative"]), pos)
        params[li]["w"] = weight(L)
        mine[k] = evaluate()
        code[w] = old
        params[li]["w"] = weight(L)
    return mine, time.perf_counter() - t0, time.process_time() - c0


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    layers = load_layers(a.model)
    with h5py.File(a.model, "r") as f:
        task = attr(f, "task")
    if task == "autoencoder":
        return main_autoencoder(a, layers)
    if not a.labels:
        sys.exit("peer_bench.py: a classifier needs --labels")
    raw = np.fromfile(a.data, dtype=np.uint8).reshape(-1, 3073)[: a.count]
    labels = np.fromfile(a.labels, dtype=np.uint8)[: len(raw)]
    img = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 256.0
    x = torch.from_numpy(np.ascontiguousarray(img))
    params = params_of(layers)
    with torch.no_grad():
        pred = forward(layers, params, x).argmax(1).numpy()
        keep = pred == labels
        x, y = x[keep], torch.from_numpy(labels[keep].astype(np.int64))
        with h5py.File(a.bits_from, "r") as r:
            bits = r["bits/bit"][()]
            theirs = r["bits/mispredicts"][()]
            n_ours = int(r.attrs["n_samples"])
            print(f"peer: fault-free {int(keep.sum())} / {len(keep)} correct "
                  f"(upset evaluated {n_ours} images)")
            same_space(layers, r)
            same_inputs(np.flatnonzero(keep), r)
            if int(r.attrs["baseline_mispredicts"]) != 0:
                refuse(f"{a.bits_from}: {int(r.attrs['baseline_mispredicts'])} fault-free "
                       "mispredicts (not correct_only)")
        mine, wall, cpu = per_bit(layers, params, bits, np.int64,
                                  lambda: int((forward(layers, params, x).argmax(1) != y).sum()))
    same = int((mine == theirs).sum())
    report(a, len(bits), len(y), "images", wall, cpu, same,
           f"per-bit mispredicts equal upset's on {same} of {len(bits)} bits")
    if same != len(bits):
        refuse(f"per-bit mispredicts differ from upset's on {len(bits) - same} of {len(bits)} bits")


def main_autoencoder(a, layers):
    """ECON-T: every bit's mean EMD over the inputs, compared with upset's mean_emd."""
    global DTYPE
    DTYPE = np.float64
    dist, arrange, mask, remap = geometry()
    cells = hgcal(a.data, a.count)
    img = np.where(mask[None, :] == 1, cells[:, arrange], 0.0).reshape(-1, 8, 8, 1)
    x = torch.from_numpy(np.ascontiguousarray(img))
    params = params_of(layers)

    def mean_emd():
        out = forward(layers, params, x).numpy().reshape(-1, 64)[:, remap]
        return float(np.mean([emd(dist, cells[i], out[i]) for i in range(len(cells))]))

    with torch.no_grad():
        clean = mean_emd()
        with h5py.File(a.bits_from, "r") as r:
            bits = r["bits/bit"][()]
            theirs = r["bits/mean_emd"][()]
            base = float(r.attrs["baseline_mean_emd"])
            print(f"peer: fault-free mean EMD {clean:.15g} over {len(cells)} inputs "
                  f"(upset {base:.15g})")
            same_space(layers, r)
            same_inputs(np.arange(len(cells)), r)  # the first non-empty rows
            if not abs(clean - base) <= 1e-9 * abs(base):
                refuse(f"fault-free mean EMD {clean:.15g}, upset's {base:.15g}")
        mine, wall, cpu = per_bit(layers, params, bits, np.float64, mean_emd)
    rel = np.abs(mine - theirs) / np.maximum(np.abs(theirs), 1e-300)
    same = int((rel <= 1e-9).sum())
    report(a, len(bits), len(cells), "inputs", wall, cpu, same,
           f"per-bit mean EMD equals upset's to 1e-9 relative on {same} of {len(bits)} bits "
           f"(largest relative difference {rel.max():.2e})")
    if same != len(bits):
        refuse(f"per-bit mean EMD differs from upset's by more than 1e-9 relative on "
               f"{len(bits) - same} of {len(bits)} bits")


def report(a, n_bits, n_samples, what, wall, cpu, same, agreement):
    """The timing and agreement lines, then the shell-readable last line bench.sh evaluates."""
    rate = f"{n_bits * n_samples / wall:,.0f}" if wall > 0 else "inf"
    print(f"peer: {n_bits} bits x {n_samples} {what} in {wall:.2f} s wall, {cpu:.2f} s CPU "
          f"({rate} flip-{what}/s wall, {a.threads} thread(s))")
    print(f"peer: {agreement}")
    print(f"peer_wall_s={wall:.3f} peer_cpu_s={cpu:.3f} peer_same={same} peer_bits={n_bits} "
          f"peer_images={n_samples}")


if __name__ == "__main__":
    main()
