#!/usr/bin/python3
"""Convert a Keras/QKeras model into upset's native HDF5 model (docs/model-format.md).

Reads, without TensorFlow/Keras/QKeras, either
  * one .h5 file holding a `model_config` attribute and a `model_weights` group
    (Keras `model.save(..., save_format="h5")`), or
  * a .json architecture plus an .hdf5/.h5 weights file (Keras `save_weights` layout),
and writes the chain of layers with float shadow weights and QKeras quantizer codes.

Usage:
  import_qkeras.py MODEL.h5 --name N --task classifier -o OUT.h5
  import_qkeras.py ARCH.json WEIGHTS.hdf5 --name N --task encoder -o OUT.h5
  import_qkeras.py --encoder ENC.json --encoder-weights ENC.hdf5 \
                   --decoder DEC.json --decoder-weights DEC.hdf5 \
                   --name N --task autoencoder -o OUT.h5

Weights are quantized exactly as QKeras quantized_bits(bits, integer, keep_negative,
alpha=1) does at inference, in float32 like TensorFlow: p = x * 2^(bits-keep_negative)
/ 2^integer, round half to even (tf.round), clip to the code range; with
alpha="auto_po2" as QKeras 0.9.0 does (quantize_auto_po2: codes plus a power-of-two shift
per channel). A float bias on a quantized kernel becomes a bias_add layer after it.
Anything this format cannot represent exactly is refused by name.
"""

import argparse
import hashlib
import json
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # e.g. a python3 from a virtualenv or conda ahead of Debian's on PATH
    sys.exit(f"import_qkeras.py: {e.name} is missing for {sys.executable}; run the script "
             f"directly (tools/import_qkeras.py uses /usr/bin/python3) after "
             f"`sh tools/install-deps.sh`, or install python3-numpy and python3-h5py")

FORMAT_VERSION = 1
F32 = np.float32


class Unsupported(Exception):
    """The Keras model uses something format_version 1 cannot represent."""


# --------------------------------------------------------------------------------------
# Reading Keras files
# --------------------------------------------------------------------------------------

def _as_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def open_keras_h5(path):
    """h5py.File(path) for reading, or Unsupported naming the file and what it is instead."""
    try:
        return h5py.File(path, "r")
    except OSError as e:
        try:
            with open(path, "rb") as fh:
                zipped = fh.read(4) == b"PK\x03\x04"
        except OSError:
            zipped = False
        if zipped:  # Keras's ".keras" format (tf.keras 2.13+ and Keras 3 save to it by default)
            raise Unsupported(f"{path}: a zipped .keras archive, not HDF5; save the model with "
                              f"model.save('MODEL.h5') (or pass ARCH.json WEIGHTS.h5)") from None
        raise Unsupported(f"{path}: cannot open as HDF5 ({e})") from None


def read_config(path):
    """Model architecture dict from a .json file or an .h5 `model_config` attribute."""
    if path.endswith(".json"):
        with open(path) as fh:
            try:
                cfg = json.load(fh)
            except ValueError as e:
                raise Unsupported(f"{path}: not valid JSON ({e})") from None
    else:
        with open_keras_h5(path) as f:
            if "model_config" not in f.attrs:
                raise Unsupported(f"{path}: no 'model_config' attribute; pass ARCH.json WEIGHTS.h5")
            cfg = json.loads(_as_str(f.attrs["model_config"]))
    if not isinstance(cfg, dict):
        raise Unsupported(f"{path}: expected a JSON object (a Keras model config with "
                          f"'class_name' and 'config'), found a {type(cfg).__name__}")
    return cfg


def read_weights(path):
    """{layer name: {short weight name: float array}} from Keras HDF5 weights.

    Handles both a full-model file (weights under /model_weights) and a bare
    save_weights file (layer groups at the root). Short names drop the scope and
    ':0', e.g. 'q_conv2d_batchnorm/batch_normalization/gamma:0' -> 'gamma'."""
    out = {}
    with open_keras_h5(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise Unsupported(f"{path}: no 'layer_names' attribute: not a Keras weights file")
        for lname in root.attrs["layer_names"]:
            lname = _as_str(lname)
            g = root[lname]
            ws = {}
            for wname in g.attrs.get("weight_names", []):
                wname = _as_str(wname)
                short = wname.split("/")[-1].split(":")[0]
                if short in ws:
                    raise Unsupported(f"{path}: layer '{lname}' has two weights named '{short}'")
                ws[short] = np.asarray(g[wname])
            out[lname] = ws
    return out


def keras_major(config, paths):
    """Keras's major version as the files record it (a model config's or an HDF5 root's
    `keras_version`); 2 where none says (QKeras is built on Keras 2's tf.keras)."""
    versions = [config.get("keras_version")]
    for p in paths:
        if not p.endswith(".json"):
            with open_keras_h5(p) as f:
                versions.append(f.attrs.get("keras_version"))
    for v in versions:
        if v is not None and _as_str(v)[:1].isdigit():
            return int(_as_str(v).split(".")[0])
    return 2


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def graph_layers(config, path):
    """[(layer config, names of the layers it reads, or None: the layer before it)] in the
    config's order, which Keras writes so that a layer follows what it reads."""
    cls = config.get("class_name")
    cfg = config["config"]
    if cls == "Sequential":
        layers = cfg["layers"] if isinstance(cfg, dict) else cfg
        return [(L, None) for L in layers]
    if cls not in ("Functional", "Model"):
        raise Unsupported(f"{path}: unsupported model class '{cls}'")
    if len(cfg["input_layers"]) != 1 or len(cfg["output_layers"]) != 1:
        raise Unsupported(f"{path}: the model needs exactly one input and one output")
    seen, out = set(), []
    for L in cfg["layers"]:
        nodes = L.get("inbound_nodes", [])
        if L["class_name"] == "InputLayer":
            ins = []
        elif len(nodes) != 1:
            raise Unsupported(f"{path}: layer '{L['name']}' is shared (called {len(nodes)} "
                              "times)")
        elif not isinstance(nodes[0], list):
            raise Unsupported(f"{path}: layer '{L['name']}': inbound_nodes in a format other "
                              "than Keras 2's")
        else:
            ins = [t[0] for t in nodes[0]]
        missing = [n for n in ins if n not in seen]
        if missing:
            raise Unsupported(f"{path}: layer '{L['name']}' reads {missing} before they are "
                              "defined")
        seen.add(L["name"])
        out.append((L, ins))
    return out


# --------------------------------------------------------------------------------------
# Quantizers
# --------------------------------------------------------------------------------------

_QBITS_ARGS = ("bits", "integer", "symmetric", "keep_negative", "alpha",
               "use_stochastic_rounding")
_QRELU_ARGS = ("bits", "integer", "use_sigmoid", "negative_slope", "use_stochastic_rounding",
               "relu_upper_bound")


def _parse_quantizer_string(s, where):
    """'quantized_bits(6,1,0,alpha=1)' -> ('quantized_bits', {...}); plain literals only."""
    s = s.strip()
    if "(" not in s or not s.endswith(")"):
        return s, None
    name, args = s[:-1].split("(", 1)
    name = name.strip()
    positional = _QBITS_ARGS if name == "quantized_bits" else _QRELU_ARGS
    cfg = {}
    for i, tok in enumerate(a.strip() for a in args.split(",") if a.strip()):
        key, val = (tok.split("=", 1) if "=" in tok else (positional[i] if i < len(positional)
                                                          else f"arg{i}", tok))
        val = val.strip().strip("'\"")
        lit = {"True": True, "False": False, "None": None}
        try:
            cfg[key.strip()] = lit[val] if val in lit else json.loads(val)
        except ValueError:
            cfg[key.strip()] = val
    return name, cfg


def quantizer_spec(q, where):
    """Normalises a serialized quantizer/activation to (class name, config dict or None)."""
    if q is None:
        return None, None
    if isinstance(q, dict):
        return q.get("class_name"), q.get("config", {})
    if isinstance(q, str):
        return _parse_quantizer_string(q, where)
    raise Unsupported(f"{where}: cannot read quantizer {q!r}")


def _is_one(v):
    return v is None or (not isinstance(v, str) and float(v) == 1.0)


def check_qbits(cfg, where, allow_po2=False):
    """(bits, integer, keep_negative) of a quantized_bits config QKeras evaluates exactly;
    with allow_po2 (a weight quantizer) alpha="auto_po2" too (see quantize_auto_po2)."""
    if allow_po2 and cfg.get("alpha") == "auto_po2":
        if not cfg.get("keep_negative", True):
            raise Unsupported(f"{where}: quantized_bits alpha='auto_po2' with keep_negative="
                              "False (QKeras ignores keep_negative there and keeps signs)")
    elif not _is_one(cfg.get("alpha")):
        raise Unsupported(f"{where}: quantized_bits alpha={cfg.get('alpha')!r} (only alpha=1, "
                          "and 'auto_po2' for weights)")
    elif cfg.get("symmetric"):
        raise Unsupported(f"{where}: quantized_bits symmetric=1 is not supported")
    if cfg.get("use_stochastic_rounding"):
        raise Unsupported(f"{where}: quantized_bits stochastic rounding is not supported")
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        raise Unsupported(f"{where}: quantized_bits qnoise_factor != 1 is not supported")
    bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
    keep = 1 if cfg.get("keep_negative", True) else 0
    if bits - keep < 1 or bits > 24:
        raise Unsupported(f"{where}: quantized_bits({bits},{integer}) with keep_negative={keep} "
                          "is outside 2..24 bits")
    if not -24 <= integer <= bits:  # what the model loader takes
        raise Unsupported(f"{where}: quantized_bits({bits},{integer}): integer outside "
                          f"-24..{bits} (the bits)")
    return bits, integer, keep


def check_qrelu(cfg, where):
    """(bits, integer, s) of a quantized_relu config; s > 0: a leaky negative_slope 2^-s."""
    if cfg.get("use_sigmoid"):
        raise Unsupported(f"{where}: quantized_relu use_sigmoid is not supported")
    slope = float(cfg.get("negative_slope", 0.0))
    shift = 0
    if slope != 0.0:
        shift = -int(np.round(np.log2(slope))) if slope > 0 else 0
        if slope < 0 or slope >= 1 or 2.0 ** -shift != slope:
            raise Unsupported(f"{where}: quantized_relu negative_slope {slope} (a power of two "
                              "below 1, as QKeras requires)")
    if cfg.get("relu_upper_bound") is not None:
        raise Unsupported(f"{where}: quantized_relu relu_upper_bound is not supported")
    if not cfg.get("is_quantized_clip", True):
        raise Unsupported(f"{where}: quantized_relu is_quantized_clip=False is not supported")
    if cfg.get("use_stochastic_rounding"):
        raise Unsupported(f"{where}: quantized_relu stochastic rounding is not supported")
    if float(cfg.get("qnoise_factor", 1.0)) != 1.0:
        raise Unsupported(f"{where}: quantized_relu qnoise_factor != 1 is not supported")
    bits, integer = int(cfg.get("bits", 8)), int(cfg.get("integer", 0))
    if not 1 <= bits <= 24:
        raise Unsupported(f"{where}: quantized_relu({bits},{integer}) is outside 1..24 bits")
    if not -24 <= integer <= bits:  # what the model loader takes
        raise Unsupported(f"{where}: quantized_relu({bits},{integer}): integer outside "
                          f"-24..{bits} (the bits)")
    if shift and shift > bits - 1:
        raise Unsupported(f"{where}: quantized_relu({bits},{integer}) with negative_slope "
                          f"2^-{shift}: the slope rounds every negative value to 0")
    return bits, integer, shift


def _po2(scale, n):
    """2^round(log2(scale + eps)) as QKeras 0.9.0 computes it in float32, and its exponent.
    TensorFlow's float32 log and mean (over n values, another summation order) may differ
    from numpy's by a few ulps, which matters only next to k + 1/2: refused there (False)."""
    eps = F32(1e-7)  # K.epsilon()
    e = np.round(np.log(scale + eps) / F32(np.log(2.0)))
    l64 = np.log2(scale.astype(np.float64) + 1e-7)
    margin = 4.0 * (n + 4) * 2.0 ** -24 / np.log(2.0)
    return F32(2.0) ** e, e, bool(np.all(np.abs(l64 - np.floor(l64) - 0.5) > margin))


def quantize_auto_po2(x, bits, integer, where):
    """QKeras 0.9.0 quantized_bits(bits, integer, alpha="auto_po2") of float32 weights x:
    codes z and, per index of the kernel's last axis (QKeras's channel), exponents E with
    weight = z * 2^E. Emulates quantized_bits.__call__: x/2^integer, a first po2 scale
    from the channel's range / (2^bits - 1), then five rounds of z = clip(round(|x|/scale))
    * sign(x) at (2^(bits-1) - 1) and scale = po2(mean(x z) / mean(z z)); the result is
    scale * 2^integer * z (the last scale, from the last z), through the straight-through
    sum, which must give it exactly."""
    x = np.asarray(x, dtype=F32)
    if not np.all(np.isfinite(x)):
        raise Unsupported(f"{where}: non-finite weights")
    axis = tuple(range(x.ndim - 1)) if x.ndim > 1 else (0,)
    m_i = F32(2.0 ** integer)
    xs = x / m_i
    levels = F32(2 ** bits - 1)
    top = (levels - F32(1)) / F32(2)
    n = x.size // (x.shape[-1] if x.ndim > 1 else 1)
    scale, _, ok = _po2((xs.max(axis=axis, keepdims=True) - xs.min(axis=axis, keepdims=True))
                        / levels, 1)
    for _ in range(5):
        v = np.floor(np.abs(xs) / scale + F32(0.5))
        z = np.sign(xs) * np.where(v < top, v, top)
        qx = np.mean(xs * z, axis=axis, keepdims=True, dtype=F32)
        qq = np.mean(z * z, axis=axis, keepdims=True, dtype=F32)
        scale, e, ok_i = _po2(qx / (qq + F32(1e-7)), n)
        ok = ok and ok_i
    if not ok:
        raise Unsupported(f"{where}: auto_po2: a channel's scale lies too close to halfway "
                          "between two powers of two to reproduce QKeras's float32 choice")
    xq = (scale * m_i) * z
    used = (m_i * xs) + (-(m_i * xs) + xq)
    if not np.array_equal(used, xq):
        raise Unsupported(f"{where}: auto_po2: QKeras's straight-through sum is not the "
                          "quantized weight")
    return z.astype(np.int32), (e.reshape(-1) + integer).astype(np.int64)


def quantize_codes(x, bits, integer, keep, where):
    """QKeras quantized_bits codes of float32 weights x (int32, same shape).

    QKeras computes p = x * m / m_i (m = 2^(bits-keep_negative), m_i = 2^integer),
    tf.round (half to even), clips to [-m*keep, m-1] and returns
    x + stop_gradient(-x + m_i*clip/m). We check that this straight-through sum gives
    exactly code * 2^-f in float32, so the codes are the weights the model ran with."""
    x = np.asarray(x, dtype=F32)
    m = F32(2.0 ** (bits - keep))
    m_i = F32(2.0 ** integer)
    with np.errstate(over="ignore"):
        p = (x * m) / m_i
    code = np.clip(np.round(p), -m * keep, m - F32(1))
    xq = (m_i * code) / m
    with np.errstate(over="ignore", invalid="ignore"):
        used = x + (-x + xq)
    bad = np.flatnonzero(used.ravel() != xq.ravel())
    if bad.size:
        i = int(bad[0])
        raise Unsupported(f"{where}: weight {i} = {x.ravel()[i]!r}: QKeras's straight-through "
                          f"sum gives {used.ravel()[i]!r}, not the code value {xq.ravel()[i]!r}")
    if not np.all(np.isfinite(x)):
        raise Unsupported(f"{where}: non-finite weights")
    return code.astype(np.int32)


# --------------------------------------------------------------------------------------
# Layer conversion
# --------------------------------------------------------------------------------------

PLAIN_ACTS = ("linear", "relu", "sigmoid", "softmax")


def need(weights, key, where):
    """A layer's stored weight as float32, or a clear error."""
    if key not in weights:
        raise Unsupported(f"{where}: weight '{key}' is missing from the weights file "
                          f"(has: {', '.join(sorted(weights)) or 'none'})")
    return np.asarray(weights[key], dtype=F32)


def conv_out(n, k, s, padding, where):
    """Output length of a window k with stride s over n; a 'valid' window longer than its
    input has no output (Keras refuses to build such a model)."""
    if k < 1 or s < 1:
        raise Unsupported(f"{where}: window {k} with stride {s}: both must be >= 1")
    if padding == "valid" and k > n:
        raise Unsupported(f"{where}: a 'valid' window of {k} over an input of {n} has no output")
    return -(-n // s) if padding == "same" else (n - k) // s + 1


class Converter:
    """Turns one Keras chain into native layer records (dicts)."""

    def __init__(self, part, faultable_part, model_start, keras=2):
        self.keras = keras  # Keras's major version: batch norm's epsilon depends on it
        self.part = part
        self.faultable_part = faultable_part
        self.model_start = model_start  # a quantized_bits first layer is the input quantizer
        self.records = []
        self.fold_notes = []
        self.pending = None  # (inputs of the next record, their shapes) for merges/graphs

    # -- helpers ----------------------------------------------------------------
    def emit(self, kind, name, cls, in_shape, out_shape, attrs=None, data=None, faultable=0):
        # the first record of a Keras layer reads its inputs; later ones (a split
        # activation, a separable's pointwise half) read the record before them
        inputs = self.pending[0] if self.pending else None
        if self.pending:
            self.pending = (None, None)
        self.records.append(dict(kind=kind, name=name, keras_class=cls, part=self.part,
                                 faultable=faultable, in_shape=tuple(in_shape),
                                 out_shape=tuple(out_shape), attrs=attrs or {}, data=data or {},
                                 inputs=inputs))
        return tuple(out_shape)

    def merge(self, c, name, cls, where):
        """Add (equal shapes) or Concatenate (channels, the last axis) of several layers."""
        inputs, shapes = self.pending
        if inputs is None or len(inputs) < 2:
            raise Unsupported(f"{where}: needs at least two inputs")
        if cls == "Add":
            if any(s != shapes[0] for s in shapes):
                raise Unsupported(f"{where}: inputs of different shapes {shapes}")
            return self.emit("add", name, cls, shapes[0], shapes[0])
        axis = c.get("axis", -1)
        if axis not in (-1, len(shapes[0])):
            raise Unsupported(f"{where}: concatenation over axis {axis} (only the last, the "
                              "channels)")
        if any(len(s) != len(shapes[0]) or s[:-1] != shapes[0][:-1] for s in shapes):
            raise Unsupported(f"{where}: inputs {shapes} differ outside the last axis")
        out = tuple(shapes[0][:-1]) + (sum(s[-1] for s in shapes),)
        return self.emit("concatenate", name, cls, shapes[0], out)

    def activation_layer(self, act, name, cls, shape, where, first):
        """An activation given as a Keras name or a (Q)Keras quantizer; returns out shape."""
        qname, qcfg = quantizer_spec(act, where)
        if qcfg is None:
            if qname not in PLAIN_ACTS:
                raise Unsupported(f"{where}: unsupported activation '{qname}'")
            return self.emit("activation", name, cls, shape, shape, {"activation": qname})
        if qname == "quantized_bits":
            bits, integer, keep = check_qbits(qcfg, where)
            attrs = {"q_bits": bits, "q_integer": integer, "q_keep_negative": keep}
            if first:
                return self.emit("quant_input", name, cls, shape, shape, attrs)
            attrs["activation"] = "quantized_bits"
            return self.emit("activation", name, cls, shape, shape, attrs)
        if qname == "quantized_relu":
            bits, integer, shift = check_qrelu(qcfg, where)
            attrs = {"activation": "quantized_relu", "q_bits": bits, "q_integer": integer}
            if shift:
                attrs["q_negative_slope_shift"] = shift
            return self.emit("activation", name, cls, shape, shape, attrs)
        raise Unsupported(f"{where}: unsupported quantizer class '{qname}'")

    def fused_activation(self, c, name, cls, shape, where):
        """Keras fused activation: a plain one stays an attribute; a quantizer becomes
        its own activation layer after the conv/dense (same computation)."""
        act = c.get("activation", "linear")
        if act is None:
            return "linear", None
        qname, qcfg = quantizer_spec(act, where)
        if qcfg is None:
            if qname not in PLAIN_ACTS:
                raise Unsupported(f"{where}: unsupported activation '{qname}'")
            return qname, None
        return "linear", (act, name + "/activation")

    def weight_quantizers(self, c, where):
        kq = quantizer_spec(c.get("kernel_quantizer"), where + " kernel_quantizer")
        bq = quantizer_spec(c.get("bias_quantizer"), where + " bias_quantizer")
        for (qn, qc), what in ((kq, "kernel"), (bq, "bias")):
            if qn is not None and qn != "quantized_bits":
                raise Unsupported(f"{where}: unsupported {what} quantizer class '{qn}'")
            if qn is not None and qc is None:
                raise Unsupported(f"{where}: {what} quantizer '{qn}' without parameters")
        po2 = kq[0] is not None and kq[1].get("alpha") == "auto_po2"
        kq = check_qbits(kq[1], where + " kernel_quantizer", True) if kq[0] else None
        bq = check_qbits(bq[1], where + " bias_quantizer") if bq[0] else None
        use_bias = bool(c.get("use_bias", True))
        if kq is None and bq is not None:
            raise Unsupported(f"{where}: a bias quantizer without a kernel quantizer")
        return kq, bq, use_bias, po2

    def kernel_codes(self, kernel, kq, po2, attrs, data, where):
        """The kernel's codes and quantizer attributes; with auto_po2 the quantizer is the
        finest channel's grid and kernel_shift lifts each channel onto its own."""
        bits, integer, keep = kq
        if not po2:
            attrs.update(kernel_q_bits=bits, kernel_q_integer=integer, kernel_q_keep_negative=keep)
            data["kernel_code"] = quantize_codes(kernel, bits, integer, keep, where + " kernel")
            return
        codes, exps = quantize_auto_po2(kernel, bits, integer, where + " kernel")
        low = int(exps.min())
        shift = exps - low
        if not -24 <= low + bits - 1 <= bits or bits + int(shift.max()) > 24:
            raise Unsupported(f"{where}: auto_po2 scales 2^{low}..2^{int(exps.max())} do not "
                              f"fit one {bits}-bit grid with shifts up to {24 - bits}")
        attrs.update(kernel_q_bits=bits, kernel_q_integer=low + bits - 1, kernel_q_keep_negative=1)
        data["kernel_code"] = codes
        data["kernel_shift"] = shift.astype(np.int32)

    def weight_record(self, kind, name, cls, in_shape, out_shape, c, kernel, bias, where,
                      extra=None):
        """conv2d/conv2d_transpose/dense record with float and (if quantized) code data."""
        kq, bq, use_bias, po2 = self.weight_quantizers(c, where)
        act, split = self.fused_activation(c, name, cls, out_shape, where)
        # a float bias after a quantized kernel (no bias_quantizer) is TensorFlow's float32
        # add after the sum: its own bias_add record, which also takes the activation
        float_bias = kq is not None and use_bias and bq is None
        if float_bias and act != "linear":
            split, act = (act, name + "/activation"), "linear"
        attrs = {"use_bias": int(use_bias and not float_bias), "activation": act,
                 "quantized": int(kq is not None)}
        attrs.update(extra or {})
        data = {"kernel": np.asarray(kernel, dtype=F32)}
        if use_bias and not float_bias:
            data["bias"] = np.asarray(bias, dtype=F32)
        if kq is not None:
            self.kernel_codes(data["kernel"], kq, po2, attrs, data, where)
            if use_bias and not float_bias:
                attrs.update(bias_q_bits=bq[0], bias_q_integer=bq[1], bias_q_keep_negative=bq[2])
                data["bias_code"] = quantize_codes(data["bias"], *bq, where + " bias")
        faultable = int(kq is not None and self.faultable_part)
        shape = self.emit(kind, name, cls, in_shape, out_shape, attrs, data, faultable)
        if float_bias:
            b = np.asarray(bias, dtype=F32).reshape(-1)
            if not np.all(np.isfinite(b)):
                raise Unsupported(f"{where}: non-finite bias")
            shape = self.emit("bias_add", name + "/bias", cls, shape, shape, {}, {"bias": b})
        if split:
            shape = self.activation_layer(split[0], split[1], cls, shape, where, False)
        return shape

    # -- layer classes --------------------------------------------------------------
    def convert(self, L, weights, shape, path):
        cls, c = L["class_name"], L["config"]
        name = c.get("name", L.get("name"))
        where = f"{path}: layer '{name}' ({cls})"
        w = weights.get(name, {})
        if c.get("data_format", "channels_last") != "channels_last":
            raise Unsupported(f"{where}: data_format '{c['data_format']}' (only channels_last)")
        first = self.model_start and not self.records

        if cls in ("Add", "Concatenate"):
            return self.merge(c, name, cls, where)
        if self.pending and self.pending[0] is not None and len(self.pending[0]) > 1:
            raise Unsupported(f"{where}: reads {len(self.pending[0])} inputs")
        if cls == "QActivation":
            return self.activation_layer(c["activation"], name, cls, shape, where, first)
        if cls == "Activation":
            return self.activation_layer(c["activation"], name, cls, shape, where, False)
        if cls == "Flatten":
            return self.emit("flatten", name, cls, shape, (int(np.prod(shape)),))
        if cls in ("Dropout", "SpatialDropout2D"):
            return shape  # the identity at inference: no layer is written
        if cls == "ZeroPadding2D":
            return self.zero_padding(c, name, cls, shape, where)
        if cls in ("MaxPooling2D", "AveragePooling2D"):
            return self.pooling(c, name, cls, shape, where)
        if cls == "UpSampling2D":
            return self.upsampling(c, name, cls, shape, where)
        if cls == "GlobalAveragePooling2D":
            if len(shape) != 3 or c.get("keepdims", False):
                raise Unsupported(f"{where}: needs an (h, w, c) input and keepdims=False")
            # the average over the whole image: a pool of its size, (1, 1, c) = a vector
            return self.emit("average_pooling2d", name, cls, shape, (shape[2],),
                             {"pool_size": [shape[0], shape[1]],
                              "strides": [shape[0], shape[1]], "padding": "valid"})
        if cls == "Reshape":
            return self.reshape(c, name, cls, shape, where)
        if cls == "BatchNormalization":
            return self.batchnorm(c, w, name, cls, shape, where)
        if cls in ("Conv2D", "QConv2D", "FQConv2D", "QConv2DBatchnorm"):
            return self.conv2d(c, w, name, cls, shape, where)
        if cls in ("Conv1D", "QConv1D"):
            return self.conv1d(c, w, name, cls, shape, where)
        if cls in ("DepthwiseConv2D", "QDepthwiseConv2D"):
            return self.depthwise(c, w, name, cls, shape, where)
        if cls == "QDepthwiseConv2DPermuted":
            # chisel4ml's wrapper: QDepthwiseConv2D, then output channel ci * mult + m moved
            # to m * cin + ci, the identity when cin or mult is 1
            mult = int(c.get("depth_multiplier", 1))
            if len(shape) == 3 and shape[2] > 1 and mult > 1:
                raise Unsupported(f"{where}: the channel permutation of {shape[2]} channels x "
                                  f"multiplier {mult} is not supported (only cin or "
                                  "depth_multiplier 1, where it is the identity)")
            return self.depthwise(c, w, name, cls, shape, where)
        if cls in ("SeparableConv2D", "QSeparableConv2D"):
            return self.separable(c, w, name, cls, shape, where)
        if cls == "Conv2DTranspose":
            return self.conv2d_transpose(c, w, name, cls, shape, where)
        if cls in ("Dense", "QDense", "FQDense"):
            return self.dense(c, w, name, cls, shape, where)
        raise Unsupported(f"{where}: unsupported layer class '{cls}' (supported: InputLayer, "
                          "QActivation, Activation, Add, Concatenate, Flatten, Reshape, Dropout, SpatialDropout2D, "
                          "ZeroPadding2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, "
                          "UpSampling2D, "
                          "BatchNormalization, Conv1D, QConv1D, Conv2D, QConv2D, DepthwiseConv2D, "
                          "QDepthwiseConv2D, QDepthwiseConv2DPermuted, SeparableConv2D, QSeparableConv2D, "
                          "FQConv2D, QConv2DBatchnorm, Conv2DTranspose, Dense, QDense, FQDense)")

    def zero_padding(self, c, name, cls, shape, where):
        p = c.get("padding", 1)
        if isinstance(p, int):
            pads = [p, p, p, p]
        else:
            a, b = p
            a = list(a) if isinstance(a, (list, tuple)) else [a, a]
            b = list(b) if isinstance(b, (list, tuple)) else [b, b]
            pads = [int(v) for v in a + b]
        if len(shape) != 3 or min(pads) < 0:
            raise Unsupported(f"{where}: cannot pad {shape} by {c.get('padding')}")
        out = (shape[0] + pads[0] + pads[1], shape[1] + pads[2] + pads[3], shape[2])
        return self.emit("zero_padding2d", name, cls, shape, out, {"pads": pads})

    def pooling(self, c, name, cls, shape, where):
        pool = [int(v) for v in c.get("pool_size", [2, 2])]
        strides = [int(v) for v in (c.get("strides") or pool)]
        padding = c.get("padding", "valid")
        if padding not in ("same", "valid") or len(shape) != 3:
            raise Unsupported(f"{where}: padding '{padding}' on {shape} (only same/valid, h w c)")
        out = (conv_out(shape[0], pool[0], strides[0], padding, where),
               conv_out(shape[1], pool[1], strides[1], padding, where), shape[2])
        kind = "max_pooling2d" if cls == "MaxPooling2D" else "average_pooling2d"
        return self.emit(kind, name, cls, shape, out,
                         {"pool_size": pool, "strides": strides, "padding": padding})

    def upsampling(self, c, name, cls, shape, where):
        size = c.get("size", [2, 2])
        size = [int(size), int(size)] if isinstance(size, int) else [int(v) for v in size]
        if c.get("interpolation", "nearest") != "nearest":
            raise Unsupported(f"{where}: interpolation '{c.get('interpolation')}' is not "
                              "supported (only nearest)")
        if c.get("data_format") not in (None, "channels_last"):
            raise Unsupported(f"{where}: data_format '{c.get('data_format')}' is not supported")
        if len(shape) != 3 or len(size) != 2 or min(size) < 1:
            raise Unsupported(f"{where}: cannot up-sample {shape} by {c.get('size')}")
        out = (shape[0] * size[0], shape[1] * size[1], shape[2])
        return self.emit("up_sampling2d", name, cls, shape, out, {"size": size})

    def reshape(self, c, name, cls, shape, where):
        target = [int(v) for v in c["target_shape"]]
        n = int(np.prod(shape))
        if target.count(-1) == 1:
            known = int(np.prod([v for v in target if v != -1]))
            target[target.index(-1)] = n // known
        if int(np.prod(target)) != n or not 1 <= len(target) <= 3:
            raise Unsupported(f"{where}: cannot reshape {shape} to {c['target_shape']}")
        return self.emit("reshape", name, cls, shape, target, {"target_shape": target})

    def batchnorm(self, c, w, name, cls, shape, where):
        axis = c.get("axis", -1)
        axis = axis if isinstance(axis, list) else [axis]
        if len(axis) != 1 or axis[0] not in (-1, len(shape)):
            raise Unsupported(f"{where}: batch normalization over axis {axis} (only the last)")
        ch = shape[-1]
        gamma = need(w, "gamma", where) if c.get("scale", True) else np.ones(ch, F32)
        beta = need(w, "beta", where) if c.get("center", True) else np.zeros(ch, F32)
        data = {"gamma": gamma, "beta": beta, "moving_mean": need(w, "moving_mean", where),
                "moving_variance": need(w, "moving_variance", where)}
        data = {k: np.asarray(v, dtype=F32).reshape(ch) for k, v in data.items()}
        eps = float(c.get("epsilon", 1e-3))
        if len(shape) == 3 and self.keras < 3:
            # Keras 2 runs an (h, w, c) batch norm as tf.compat.v1.nn.fused_batch_norm,
            # which raises epsilon to at least 1.001e-5 (cuDNN's minimum); other ranks
            # (tf.nn.batch_normalization) and Keras 3 use it as configured
            eps = max(eps, 1.001e-5)
        return self.emit("batchnorm", name, cls, shape, shape, {"epsilon": eps}, data)

    def conv_common(self, c, where):
        if [int(v) for v in c.get("dilation_rate", [1, 1])] != [1, 1]:
            raise Unsupported(f"{where}: dilation_rate {c['dilation_rate']} (only 1)")
        if int(c.get("groups", 1)) != 1:
            raise Unsupported(f"{where}: groups={c['groups']} (only 1)")
        padding = c.get("padding", "valid")
        if padding not in ("same", "valid"):
            raise Unsupported(f"{where}: padding '{padding}' (only same/valid)")
        return [int(v) for v in c.get("strides", [1, 1])], padding

    def conv2d(self, c, w, name, cls, shape, where):
        strides, padding = self.conv_common(c, where)
        if len(shape) != 3:
            raise Unsupported(f"{where}: input shape {shape} is not (h, w, c)")
        kernel = need(w, "kernel", where)
        bias = need(w, "bias", where) if c.get("use_bias", True) else None
        kh, kw, cin, cout = kernel.shape
        if cin != shape[2]:
            raise Unsupported(f"{where}: kernel expects {cin} channels, input has {shape[2]}")
        extra = {"strides": strides, "padding": padding}
        if cls == "QConv2DBatchnorm":
            kernel, bias = self.fold(c, w, kernel, bias, where)
            extra["folded_batchnorm"] = 1
            c = dict(c, use_bias=True)  # the folded layer always adds a (quantized) bias
        out = (conv_out(shape[0], kh, strides[0], padding, where),
               conv_out(shape[1], kw, strides[1], padding, where), cout)
        return self.weight_record("conv2d", name, cls, shape, out, c, kernel, bias, where, extra)

    def depthwise(self, c, w, name, cls, shape, where):
        """DepthwiseConv2D: kernel (kh, kw, cin, depth_multiplier), faultable like a conv's;
        QKeras names its quantizer depthwise_quantizer."""
        strides, padding = self.conv_common(c, where)
        if len(shape) != 3:
            raise Unsupported(f"{where}: input shape {shape} is not (h, w, c)")
        kernel = need(w, "depthwise_kernel", where)
        bias = need(w, "bias", where) if c.get("use_bias", True) else None
        kh, kw, cin, mult = kernel.shape
        if cin != shape[2]:
            raise Unsupported(f"{where}: kernel expects {cin} channels, input has {shape[2]}")
        c = dict(c, kernel_quantizer=c.get("depthwise_quantizer"))
        out = (conv_out(shape[0], kh, strides[0], padding, where),
               conv_out(shape[1], kw, strides[1], padding, where), cin * mult)
        return self.weight_record("depthwise_conv2d", name, cls, shape, out, c, kernel, bias,
                                  where, {"strides": strides, "padding": padding})

    def separable(self, c, w, name, cls, shape, where):
        """SeparableConv2D as tf.nn.separable_conv2d computes it: a depthwise convolution
        (no bias, no activation; QKeras's depthwise_quantizer), then a 1x1 convolution with
        the pointwise kernel (pointwise_quantizer), the bias and the activation. Written as
        two layers, NAME_depthwise then NAME: the depthwise kernel's bits come first."""
        if int(c.get("depth_multiplier", 1)) < 1:
            raise Unsupported(f"{where}: depth_multiplier {c.get('depth_multiplier')}")
        dw = dict(c, use_bias=False, activation="linear",
                  depthwise_quantizer=c.get("depthwise_quantizer"), bias_quantizer=None)
        mid = self.depthwise(dw, {"depthwise_kernel": need(w, "depthwise_kernel", where)},
                             name + "_depthwise", cls, shape, where + " (depthwise part)")
        pw = dict(c, strides=[1, 1], padding="valid",
                  kernel_quantizer=c.get("pointwise_quantizer"))
        weights = {"kernel": need(w, "pointwise_kernel", where)}
        if c.get("use_bias", True):
            weights["bias"] = need(w, "bias", where)
        return self.conv2d(pw, weights, name, cls, mid, where + " (pointwise part)")

    def conv1d(self, c, w, name, cls, shape, where):
        """Conv1D as TensorFlow runs it: a conv2d over a (1, length, channels) image with a
        (1, k, cin, cout) kernel. The kernel's C order (k, cin, cout) is unchanged, so are
        the bit indices; the (length, channels) shapes are read as (1, length, channels)."""
        if [int(v) for v in c.get("dilation_rate", [1])] != [1]:
            raise Unsupported(f"{where}: dilation_rate {c['dilation_rate']} (only 1)")
        if int(c.get("groups", 1)) != 1:
            raise Unsupported(f"{where}: groups={c['groups']} (only 1)")
        padding = c.get("padding", "valid")
        if padding not in ("same", "valid"):
            raise Unsupported(f"{where}: padding '{padding}' (only same/valid; not causal)")
        if len(shape) != 2:
            raise Unsupported(f"{where}: input shape {shape} is not (length, channels)")
        stride = int(c.get("strides", [1])[0])
        kernel = need(w, "kernel", where)
        bias = need(w, "bias", where) if c.get("use_bias", True) else None
        k, cin, cout = kernel.shape
        if cin != shape[1]:
            raise Unsupported(f"{where}: kernel expects {cin} channels, input has {shape[1]}")
        out = (conv_out(shape[0], k, stride, padding, where), cout)
        return self.weight_record("conv2d", name, cls, shape, out, c,
                                  np.asarray(kernel).reshape(1, k, cin, cout), bias, where,
                                  {"strides": [1, stride], "padding": padding})

    def fold(self, c, w, kernel, bias, where):
        """QConv2DBatchnorm at inference (moving statistics), in float32 as QKeras does:
        inv = rsqrt(var + eps) * gamma; kernel * inv; inv * (bias - mean) + beta."""
        cout = kernel.shape[-1]
        bias = np.asarray(bias, dtype=F32) if bias is not None else np.zeros(cout, F32)
        eps = F32(c.get("epsilon", 1e-3))
        var = need(w, "moving_variance", where)
        mean = need(w, "moving_mean", where)
        inv = F32(1) / np.sqrt(var + eps)
        if c.get("scale", True):
            inv = inv * need(w, "gamma", where)
        folded_bias = inv * (bias - mean)
        if c.get("center", True):
            folded_bias = folded_bias + need(w, "beta", where)
        folded_kernel = kernel * inv
        self.fold_notes.append((where, folded_kernel, c))
        return folded_kernel, folded_bias

    def conv2d_transpose(self, c, w, name, cls, shape, where):
        strides, padding = self.conv_common(c, where)
        if c.get("output_padding") is not None:
            raise Unsupported(f"{where}: output_padding is not supported")
        kernel = need(w, "kernel", where)
        kh, kw, cout, cin = kernel.shape
        if cin != shape[2]:
            raise Unsupported(f"{where}: kernel expects {cin} channels, input has {shape[2]}")
        if padding == "valid" and (kh < strides[0] or kw < strides[1]):
            raise Unsupported(f"{where}: valid transposed conv with kernel < stride")
        if padding == "same":
            out = (shape[0] * strides[0], shape[1] * strides[1], cout)
        else:
            out = ((shape[0] - 1) * strides[0] + kh, (shape[1] - 1) * strides[1] + kw, cout)
        bias = need(w, "bias", where) if c.get("use_bias", True) else None
        return self.weight_record("conv2d_transpose", name, cls, shape, out, c, kernel,
                                  bias, where, {"strides": strides, "padding": padding})

    def dense(self, c, w, name, cls, shape, where):
        if len(shape) != 1:
            raise Unsupported(f"{where}: Dense on a {len(shape)}-D input (flatten first)")
        kernel = need(w, "kernel", where)
        if kernel.shape[0] != shape[0]:
            raise Unsupported(f"{where}: kernel expects {kernel.shape[0]} inputs, got {shape[0]}")
        bias = need(w, "bias", where) if c.get("use_bias", True) else None
        return self.weight_record("dense", name, cls, shape, (kernel.shape[1],), c, kernel,
                                  bias, where)


def input_shape(layers, path):
    L = layers[0]
    shape = L["config"].get("batch_input_shape") or L["config"].get("batch_shape")
    if shape is None:
        raise Unsupported(f"{path}: the first layer has no batch_input_shape")
    shape = tuple(int(v) for v in shape[1:])
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise Unsupported(f"{path}: input shape {shape} is not (h, w, c) or (n)")
    return shape


def convert_model(config_path, weights_path, part, faultable_part, model_start=True):
    """Returns (input shape, converter holding the layer records) for one Keras model.
    A record's "inputs" lists the records it reads (-1: the model input) where that is not
    just the record before it (None)."""
    config = read_config(config_path)
    weights = read_weights(weights_path)
    layers = graph_layers(config, config_path)
    shape = input_shape([L for L, _ in layers], config_path)
    conv = Converter(part, faultable_part, model_start,
                     keras_major(config, [config_path, weights_path]))
    produced, prev = {}, (-1, shape)  # Keras layer name -> (record index, output shape)
    for L, ins in layers:
        name = L["config"].get("name", L.get("name"))
        if L["class_name"] == "InputLayer":
            produced[name] = prev = (-1, shape)
            continue
        srcs = [prev] if ins is None else [produced[n] for n in ins]
        first = len(conv.records)
        idx = [i for i, _ in srcs]
        if -1 in idx and first > 0:
            raise Unsupported(f"{config_path}: layer '{name}' reads the model input: only the "
                              "first layer may")
        conv.pending = (None if idx == [first - 1] else idx, [s for _, s in srcs])
        out_shape = conv.convert(L, weights, srcs[0][1], config_path)
        conv.pending = None
        produced[name] = prev = srcs[0] if len(conv.records) == first else \
            (len(conv.records) - 1, out_shape)
    out_name = name if config.get("class_name") == "Sequential" else \
        config["config"]["output_layers"][0][0]
    if produced[out_name][0] != len(conv.records) - 1:
        raise Unsupported(f"{config_path}: the output layer '{out_name}' must be the last one")
    return shape, conv


# --------------------------------------------------------------------------------------
# Writing the native file
# --------------------------------------------------------------------------------------

def _ascii(s):
    """Strings are stored fixed-length ASCII: every HDF5 reader handles those."""
    try:
        return np.bytes_(s.encode("ascii"))
    except UnicodeEncodeError:
        raise Unsupported(f"non-ASCII text {s!r} cannot be stored") from None


def _attr(v):
    if isinstance(v, str):
        return _ascii(v)
    if isinstance(v, float):
        return np.float64(v)
    if isinstance(v, (list, tuple)):
        return np.asarray(v, dtype=np.int32)
    return np.int32(v)


def write_model(out, name, task, source, in_shape, records):
    """Writes out.tmp.PID, then renames it over out: a failure leaves an existing out intact."""
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        n_bits = _write_model(tmp, name, task, source, in_shape, records)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n_bits


def _write_model(out, name, task, source, in_shape, records):
    n_bits = sum(r["data"]["kernel_code"].size * r["attrs"]["kernel_q_bits"]
                 for r in records if r["faultable"])
    with h5py.File(out, "w") as f:
        f.attrs["upset_format"] = _ascii("upset-model")
        f.attrs["format_version"] = np.int32(FORMAT_VERSION)
        f.attrs["name"] = _ascii(name)
        f.attrs["task"] = _ascii(task)
        f.attrs["source"] = _ascii(source)
        f.attrs["input_shape"] = np.asarray(in_shape, dtype=np.int32)
        f.attrs["n_layers"] = np.int32(len(records))
        f.attrs["n_fault_bits"] = np.int64(n_bits)
        f.attrs["importer"] = _ascii("tools/import_qkeras.py")
        layers = f.create_group("layers")
        for i, r in enumerate(records):
            g = layers.create_group(f"L{i:03d}")
            for key in ("kind", "name", "keras_class", "part"):
                g.attrs[key] = _ascii(r[key])
            g.attrs["faultable"] = np.int32(r["faultable"])
            g.attrs["in_shape"] = np.asarray(r["in_shape"], dtype=np.int32)
            g.attrs["out_shape"] = np.asarray(r["out_shape"], dtype=np.int32)
            if r.get("inputs") is not None:
                g.attrs["inputs"] = np.asarray(r["inputs"], dtype=np.int32)
            for key, v in r["attrs"].items():
                g.attrs[key] = _attr(v)
            for key, arr in r["data"].items():
                kw = {"compression": "gzip", "compression_opts": 9, "shuffle": True} \
                    if arr.size >= 64 else {}
                g.create_dataset(key, data=arr, **kw)
    return n_bits


def describe_source(paths, root):
    lines = []
    for role, p in paths:
        shown = os.path.relpath(p, root) if root else os.path.normpath(p)
        lines.append(f"{role}: {shown} sha256={sha256(p)}")
    return "\n".join(lines)


def fold_margin_report(conv):
    """How close folded weights sit to a rounding boundary, in float32 ulps of p.
    A code within a few ulps could differ under another rsqrt implementation."""
    for where, fk, c in conv.fold_notes:
        _, qc = quantizer_spec(c.get("kernel_quantizer"), where)
        if not qc or qc.get("alpha") == "auto_po2":
            continue
        bits, integer, keep = check_qbits(qc, where)
        p = fk * F32(2.0 ** (bits - keep - integer))
        dist = np.abs(np.abs(p - np.floor(p)) - F32(0.5))
        ulps = dist.astype(np.float64) / np.spacing(np.abs(p)).astype(np.float64)  # p = 0: huge
        inside = np.abs(p) < 2.0 ** (bits - keep)
        close = int(np.sum((ulps <= 4) & inside))
        print(f"  fold {where.split(': ', 1)[1]}: min distance to a rounding tie "
              f"{float(ulps[inside].min()):.1f} ulp; {close} codes within 4 ulp")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="*", help="MODEL.h5, or ARCH.json WEIGHTS.hdf5")
    ap.add_argument("--encoder", help="encoder architecture (.json or .h5)")
    ap.add_argument("--encoder-weights", help="encoder weights (.hdf5)")
    ap.add_argument("--decoder", help="decoder architecture (.json or .h5)")
    ap.add_argument("--decoder-weights", help="decoder weights (.hdf5)")
    ap.add_argument("--name", required=True, help="short model name stored in the file")
    ap.add_argument("--task", required=True, choices=("autoencoder", "classifier", "encoder"))
    ap.add_argument("--source-root", help="record source paths relative to this directory")
    ap.add_argument("-o", "--output", required=True, help="native model file to write")
    a = ap.parse_args(argv)

    try:
        if a.task == "autoencoder":
            if a.model or not (a.encoder and a.decoder):
                ap.error("--task autoencoder takes --encoder [--encoder-weights] "
                         "--decoder [--decoder-weights]")
            ew = a.encoder_weights or a.encoder
            dw = a.decoder_weights or a.decoder
            shape, enc = convert_model(a.encoder, ew, "encoder", True)
            dshape, dec = convert_model(a.decoder, dw, "decoder", False, False)
            enc_out = enc.records[-1]["out_shape"]
            if int(np.prod(enc_out)) != int(np.prod(dshape)):
                raise Unsupported(f"encoder output {enc_out} does not fit decoder input {dshape}")
            for r in dec.records:  # decoder indices follow the encoder's records
                if r["inputs"] is not None:
                    r["inputs"] = [i + len(enc.records) for i in r["inputs"]]
            records = enc.records + dec.records
            files = [("encoder", a.encoder), ("encoder weights", ew),
                     ("decoder", a.decoder), ("decoder weights", dw)]
            folds = [enc, dec]
        else:
            if a.encoder or a.decoder or len(a.model) not in (1, 2):
                ap.error(f"--task {a.task} takes MODEL.h5 or ARCH.json WEIGHTS.hdf5")
            cfg = a.model[0]
            wts = a.model[1] if len(a.model) == 2 else a.model[0]
            shape, conv = convert_model(cfg, wts, "main", True)
            records = conv.records
            files = [("model", cfg)] + ([("weights", wts)] if wts != cfg else [])
            folds = [conv]
        # the same file may appear as both config and weights: hash it once per role
        seen = []
        for role, p in files:
            if (role, p) not in seen:
                seen.append((role, p))
        source = describe_source(seen, a.source_root)
        n_bits = write_model(a.output, a.name, a.task, source, shape, records)
    except (Unsupported, OSError) as e:
        print(f"import_qkeras.py: error: {e}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        print(f"import_qkeras.py: error: malformed Keras model description "
              f"({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    except Exception as e:  # one clear line for any other bad input, never a traceback
        print(f"import_qkeras.py: error: cannot import the model ({type(e).__name__}: {e})",
              file=sys.stderr)
        return 1

    print(f"{a.output}: {a.name} ({a.task}), input {shape}, {len(records)} layers, "
          f"faultable kernel bits = {n_bits}")
    for r in records:
        q = r["attrs"]
        extra = ""
        if "kernel_code" in r["data"]:
            extra = (f" kernel {r['data']['kernel'].shape} "
                     f"quantized_bits({q['kernel_q_bits']},{q['kernel_q_integer']})")
        print(f"  {r['part']:8s} {r['kind']:16s} {r['name']:24s} {r['in_shape']} -> "
              f"{r['out_shape']}{extra}{' faultable' if r['faultable'] else ''}")
    for conv in folds:
        fold_margin_report(conv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
