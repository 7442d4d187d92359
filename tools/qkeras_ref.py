#!/usr/bin/python3
"""Independent numpy reference forward pass of Keras/QKeras models.

Reads the ORIGINAL Keras files (never upset's native format) and emulates what
TensorFlow/QKeras computes at inference, in float32:

  * weights: QKeras quantized_bits(bits, integer, keep_negative, alpha=1 or "auto_po2"
    as QKeras 0.9.0 computes it) applied on the fly: p = x*m/m_i (m = 2^(bits-keep_negative), m_i = 2^integer), tf.round
    (round half to even), clip to [-m*keep_negative, m-1], xq = m_i*clip/m, then the
    straight-through sum x + (-x + xq), all in float32;
  * QConv2DBatchnorm folded with moving statistics exactly as QKeras's call():
    inv = rsqrt(var + eps) * gamma, kernel*inv and inv*(bias - mean) + beta, then
    quantized with the layer's quantizers;
  * BatchNormalization on 4-D tensors as TF's fused CPU kernel
    (FusedBatchNormV3, is_training=False): y = (x - mean) * (rsqrt(var + eps) * gamma)
    + beta; on other ranks as tf.nn.batch_normalization: y = x*inv + (beta - mean*inv);
  * quantized_relu / quantized_bits activations with QKeras's straight-through sums;
  * relu, sigmoid, softmax, linear;
  * Conv1D/QConv1D (one tap at a time), DepthwiseConv2D/QDepthwiseConv2D (one channel at a
    time), SeparableConv2D/QSeparableConv2D (depthwise, then a 1x1 conv, then the bias);
  * MaxPooling2D, AveragePooling2D (sum, then one division by the positions inside the
    input), GlobalAveragePooling2D (reduce_mean: sum, then divide), ZeroPadding2D,
    UpSampling2D (nearest).

Conv/dense products are summed in float32 by numpy (BLAS sgemm); TensorFlow's
summation order differs, so a non-exact float32 sum may differ from TF's in the last
ulp (which can move a value across a quantizer's rounding tie). With quantized inputs
and weights most sums here are exact dyadic numbers, for which order does not matter;
--dtype float64 runs the same graph in float64 to show where float32 rounding matters.

CLI:
  qkeras_ref.py MODEL... --input X.npy --output Y.npy [--layer-outputs]
MODEL is a Keras .h5 holding model_config + weights, or an ARCH.json followed by its
weights file. Several models run one after the other (e.g. encoder then decoder).
--layer-outputs also writes every layer's output to Y.layers.npz.

Module use:
  import qkeras_ref
  net = qkeras_ref.load(["enc.json", "enc.hdf5", "dec.json", "dec.hdf5"])
  y, layer_outputs = qkeras_ref.forward(net, x)
"""

import argparse
import json
import sys

import h5py
import numpy as np


class RefError(Exception):
    pass


# --------------------------------------------------------------------------------------
# Keras file reading (kept separate from tools/import_qkeras.py on purpose)
# --------------------------------------------------------------------------------------

def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def _config(path):
    if path.endswith(".json"):
        with open(path) as fh:
            return json.load(fh)
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise RefError(f"{path}: no model_config; give the .json and weights files")
        return json.loads(_text(f.attrs["model_config"]))


def _weights(path):
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        out = {}
        for lname in g.attrs["layer_names"]:
            lname = _text(lname)
            lw = {}
            for wn in g[lname].attrs.get("weight_names", []):
                wn = _text(wn)
                lw[wn.split("/")[-1].split(":")[0]] = np.array(g[lname][wn])
            out[lname] = lw
        return out


def _inbound_names(L, path):
    """The names of the layers a functional-model layer reads (Keras 2 inbound_nodes)."""
    nodes = L.get("inbound_nodes", [])
    if not nodes:
        return []
    if len(nodes) != 1:
        raise RefError(f"{path}: layer {L['name']} is shared (called {len(nodes)} times)")
    return [t[0] for t in nodes[0]]


def _ordered_layers(cfg, path):
    """[(layer config, names of the layers it reads, or None: the previous layer)], in an
    order where every layer comes after what it reads; the model output last."""
    c = cfg["config"]
    if cfg["class_name"] == "Sequential":
        return [(L, None) for L in (c["layers"] if isinstance(c, dict) else c)]
    if len(c["input_layers"]) != 1 or len(c["output_layers"]) != 1:
        raise RefError(f"{path}: one input and one output only")
    done, order = set(), []
    for L in c["layers"]:
        ins = _inbound_names(L, path)
        missing = [n for n in ins if n not in done]
        if missing:
            raise RefError(f"{path}: layer {L['name']} reads {missing} before they are defined")
        done.add(L["name"])
        order.append((L, ins))
    if order[-1][0]["name"] != c["output_layers"][0][0]:
        raise RefError(f"{path}: the output layer is not the last one")
    return order


# --------------------------------------------------------------------------------------
# QKeras quantizers (float32 or float64 emulation)
# --------------------------------------------------------------------------------------

def _qspec(q):
    if q is None:
        return None, {}
    if isinstance(q, dict):
        return q["class_name"], q.get("config", {})
    q = str(q)
    if "(" not in q:
        return q, {}
    name, args = q[:-1].split("(", 1)
    keys = ["bits", "integer", "symmetric" if name == "quantized_bits" else "use_sigmoid"]
    cfg = {}
    for i, a in enumerate(x for x in args.split(",") if x.strip()):
        k, v = a.split("=") if "=" in a else (keys[i], a)
        cfg[k.strip()] = float(v) if "." in v else int(v)
    return name.strip(), cfg


def _auto_po2(x, cfg):
    """QKeras 0.9.0 quantized_bits.__call__ with alpha="auto_po2", line by line, in float32:
    the scale per index of the last axis (K.image_data_format() channels_last)."""
    f32 = np.float32
    eps = f32(1e-7)                                        # K.epsilon()
    x = np.asarray(x, dtype=f32)
    keep = 1 if cfg.get("keep_negative", True) else 0
    bits, integer = int(cfg["bits"]), int(cfg.get("integer", 0))
    m = f32(2.0 ** (bits - keep))
    m_i = f32(2.0 ** integer)
    axis = tuple(range(x.ndim - 1)) if x.ndim > 1 else (0,)
    x0 = x
    x = x / m_i
    levels = f32(2 ** bits - 1)
    scale = (x.max(axis=axis, keepdims=True) - x.min(axis=axis, keepdims=True)) / levels
    scale = f32(2.0) ** np.round(np.log(scale + eps) / f32(np.log(2.0)))
    for _ in range(5):
        v = np.floor(np.abs(x) / scale + f32(0.5))
        mask = v < (levels - f32(1)) / f32(2)
        z = np.sign(x) * np.where(mask, v, np.ones_like(v) * (levels - f32(1)) / f32(2))
        qx = np.mean(x * z, axis=axis, keepdims=True, dtype=f32)   # _get_scale
        qq = np.mean(z * z, axis=axis, keepdims=True, dtype=f32)
        scale = qx / (qq + eps)
        scale = f32(2.0) ** np.round(np.log(scale + eps) / f32(np.log(2.0)))
    scale = scale * m
    x = m_i * x
    xq = m_i * z / m
    xq = scale * xq
    if not np.array_equal(x, x0):
        raise RefError("auto_po2: x / 2^integer * 2^integer is not x (subnormal weights)")
    return x + (-x + xq)


def quantized_bits(x, cfg, dt):
    """QKeras quantized_bits.__call__ (alpha None/1 or "auto_po2", no stochastic rounding)."""
    if cfg.get("alpha") == "auto_po2" and not cfg.get("use_stochastic_rounding"):
        return _auto_po2(x, cfg).astype(dt)
    if cfg.get("alpha") not in (None, 1, 1.0) or cfg.get("symmetric") or \
            cfg.get("use_stochastic_rounding"):
        raise RefError(f"quantized_bits config {cfg} is outside what this reference emulates")
    x = np.asarray(x, dtype=dt)
    keep = 1 if cfg.get("keep_negative", True) else 0
    m = dt(2.0 ** (int(cfg["bits"]) - keep))
    m_i = dt(2.0 ** int(cfg.get("integer", 0)))
    with np.errstate(over="ignore", invalid="ignore"):
        p = x * m / m_i
        r = p + (-p + np.round(p))          # _round_through (straight-through estimator)
        xq = m_i * np.clip(r, keep * (-m), m - dt(1)) / m
        return x + (-x + xq)                # x + stop_gradient(-x + xq)


def quantized_relu(x, cfg, dt):
    """QKeras quantized_relu.__call__ (use_sigmoid 0; negative_slope 0 or a power of two:
    one bit then goes to the sign and negative values are slope * x on the same grid)."""
    if cfg.get("use_sigmoid") or cfg.get("use_stochastic_rounding") or \
            cfg.get("relu_upper_bound") is not None:
        raise RefError(f"quantized_relu config {cfg} is outside what this reference emulates")
    x = np.asarray(x, dtype=dt)
    bits, integer = int(cfg["bits"]), int(cfg.get("integer", 0))
    slope = dt(float(cfg.get("negative_slope", 0.0)))
    non_sign_bits = bits - (1 if slope != 0 else 0)
    m = dt(2.0 ** non_sign_bits)
    m_i = dt(2.0 ** integer)
    m_f = dt(2.0 ** (integer - non_sign_bits))
    with np.errstate(over="ignore", invalid="ignore"):
        leaky = np.where(x > 0, x, slope * x).astype(dt)  # K.relu(x, alpha=slope)
        x_u = np.where(x <= m_i - m_f, leaky, m_i - m_f).astype(dt)
        p = x * m / m_i
        r = p + (-p + np.round(p))
        xq = m_i * np.clip(r / m, dt(0), dt(1) - dt(1) / m)
        if slope > 0:
            neg_factor = dt(1) / (slope * m)
            ps = p * slope
            rs = ps + (-ps + np.round(ps))
            xq = xq + m_i * slope * np.clip(rs * neg_factor, dt(-1), dt(0))
        return x_u + (-x_u + xq)


def activation(x, spec, dt):
    name, cfg = _qspec(spec)
    if name in (None, "linear"):
        return x
    if name == "relu":
        return np.maximum(x, dt(0))
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return (dt(1) / (dt(1) + np.exp(-x))).astype(dt)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(dt)
    if name == "quantized_bits":
        return quantized_bits(x, cfg, dt)
    if name == "quantized_relu":
        return quantized_relu(x, cfg, dt)
    raise RefError(f"activation {name} is not emulated")


# --------------------------------------------------------------------------------------
# Tensor operations (batch first, channels last)
# --------------------------------------------------------------------------------------

def _same_pad(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def conv2d(x, w, strides, padding, dt, batch=32):
    """x (n, h, w, cin), w (kh, kw, cin, cout) -> (n, oh, ow, cout); im2col + sgemm."""
    n, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    sh, sw = strides
    if padding == "same":
        oh, pt, pb = _same_pad(h, kh, sh)
        ow, pl, pr = _same_pad(wd, kw, sw)
    else:
        oh, ow, pt, pb, pl, pr = (h - kh) // sh + 1, (wd - kw) // sw + 1, 0, 0, 0, 0
    wm = w.reshape(kh * kw * cin, cout).astype(dt)
    out = np.empty((n, oh, ow, cout), dtype=dt)
    for b0 in range(0, n, batch):
        xb = np.pad(x[b0:b0 + batch], ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        cols = np.empty((xb.shape[0], oh, ow, kh, kw, cin), dtype=dt)
        for a in range(kh):
            for c in range(kw):
                cols[:, :, :, a, c, :] = xb[:, a:a + sh * oh:sh, c:c + sw * ow:sw, :]
        out[b0:b0 + batch] = (cols.reshape(-1, kh * kw * cin) @ wm).reshape(-1, oh, ow, cout)
    return out


def conv1d(x, w, stride, padding, dt):
    """Keras Conv1D: x (n, length, cin), w (k, cin, cout) -> (n, out, cout); tap by tap."""
    n, length, cin = x.shape
    k, _, cout = w.shape
    if padding == "same":
        out, before, after = _same_pad(length, k, stride)
    else:
        out, before, after = (length - k) // stride + 1, 0, 0
    xp = np.pad(x, ((0, 0), (before, after), (0, 0))).astype(dt)
    cols = np.stack([xp[:, j:j + stride * out:stride, :] for j in range(k)], axis=2)
    return (cols.reshape(n * out, k * cin) @ w.reshape(k * cin, cout).astype(dt)).reshape(
        n, out, cout)


def depthwise_conv2d(x, w, strides, padding, dt):
    """Keras DepthwiseConv2D: w (kh, kw, cin, mult); output channel ci * mult + m is input
    channel ci convolved with w[..., ci, m] (tf.nn.depthwise_conv2d)."""
    n, h, wd, cin = x.shape
    kh, kw, _, mult = w.shape
    sh, sw = strides
    if padding == "same":
        oh, pt, pb = _same_pad(h, kh, sh)
        ow, pl, pr = _same_pad(wd, kw, sw)
    else:
        oh, ow, pt, pb, pl, pr = (h - kh) // sh + 1, (wd - kw) // sw + 1, 0, 0, 0, 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0))).astype(dt)
    out = np.empty((n, oh, ow, cin * mult), dtype=dt)
    for ci in range(cin):  # one input channel at a time: (taps) @ (taps, mult)
        cols = np.stack([xp[:, a:a + sh * oh:sh, c:c + sw * ow:sw, ci]
                         for a in range(kh) for c in range(kw)], axis=-1)
        taps = w[:, :, ci, :].reshape(kh * kw, mult).astype(dt)
        out[..., ci * mult:(ci + 1) * mult] = cols @ taps
    return out


def conv2d_transpose(x, w, strides, padding, dt):
    """Keras Conv2DTranspose (tf conv2d_backprop_input): w (kh, kw, cout, cin)."""
    n, h, wd, cin = x.shape
    kh, kw, cout, _ = w.shape
    sh, sw = strides
    if padding == "same":
        oh, ow = h * sh, wd * sw
        pt = max((h - 1) * sh + kh - oh, 0) // 2
        pl = max((wd - 1) * sw + kw - ow, 0) // 2
    else:
        oh, ow, pt, pl = (h - 1) * sh + kh, (wd - 1) * sw + kw, 0, 0
    full = np.zeros((n, max((h - 1) * sh + kh, oh + pt), max((wd - 1) * sw + kw, ow + pl), cout),
                    dtype=dt)
    for a in range(kh):
        for c in range(kw):
            contrib = x @ w[a, c].astype(dt).T            # (n, h, wd, cout)
            full[:, a:a + sh * h:sh, c:c + sw * wd:sw, :] += contrib
    return full[:, pt:pt + oh, pl:pl + ow, :]


def _pad_pairs(p):
    """Keras ZeroPadding2D padding: n, (h, w) or ((top, bottom), (left, right))."""
    if isinstance(p, int):
        return (p, p), (p, p)
    a, b = p
    return (tuple(a) if isinstance(a, (list, tuple)) else (a, a),
            tuple(b) if isinstance(b, (list, tuple)) else (b, b))


def max_pool(x, pool, strides, padding):
    """tf.nn.max_pool: windows over (h, w) per channel; SAME pads with -inf (never wins)."""
    n, h, wd, ch = x.shape
    (kh, kw), (sh, sw) = pool, strides
    if padding == "same":
        oh, pt, pb = _same_pad(h, kh, sh)
        ow, pl, pr = _same_pad(wd, kw, sw)
    else:
        oh, ow, pt, pb, pl, pr = (h - kh) // sh + 1, (wd - kw) // sw + 1, 0, 0, 0, 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-np.inf)
    out = np.full((n, oh, ow, ch), -np.inf, dtype=x.dtype)
    for a in range(kh):
        for c in range(kw):
            out = np.maximum(out, xp[:, a:a + sh * oh:sh, c:c + sw * ow:sw, :])
    return out


def avg_pool(x, pool, strides, padding):
    """tf.nn.avg_pool: the window summed, then divided by the positions inside the input
    (SAME leaves padding out of both), in the input's dtype."""
    n, h, wd, ch = x.shape
    (kh, kw), (sh, sw) = pool, strides
    if padding == "same":
        oh, pt, pb = _same_pad(h, kh, sh)
        ow, pl, pr = _same_pad(wd, kw, sw)
    else:
        oh, ow, pt, pb, pl, pr = (h - kh) // sh + 1, (wd - kw) // sw + 1, 0, 0, 0, 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    inside = np.pad(np.ones((1, h, wd, 1), x.dtype), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    total = np.zeros((n, oh, ow, ch), dtype=x.dtype)
    count = np.zeros((1, oh, ow, 1), dtype=x.dtype)
    for a in range(kh):  # row by row of the window, as TF's CPU kernel adds them
        for c in range(kw):
            total = total + xp[:, a:a + sh * oh:sh, c:c + sw * ow:sw, :]
            count = count + inside[:, a:a + sh * oh:sh, c:c + sw * ow:sw, :]
    return total / count


def batchnorm(x, gamma, beta, mean, var, eps, dt, formula):
    if formula == "auto":
        formula = "fused" if x.ndim == 4 else "nn"
    if formula == "fused":  # tf.compat.v1.nn.fused_batch_norm raises epsilon to 1.001e-5
        eps = max(eps, 1.001e-5)
    eps = dt(eps)
    inv = dt(1) / np.sqrt(var.astype(dt) + eps)
    inv = (inv * gamma.astype(dt)).astype(dt)
    if formula == "fused":
        return ((x - mean.astype(dt)) * inv + beta.astype(dt)).astype(dt)
    return (x * inv + (beta.astype(dt) - mean.astype(dt) * inv)).astype(dt)


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------

class Layer:
    def __init__(self, L, weights, path, inputs=None):
        self.inputs = inputs  # names of the layers it reads; None: the previous layer
        self.cls = L["class_name"]
        self.cfg = L["config"]
        self.name = self.cfg.get("name", L.get("name"))
        self.w = weights.get(self.name, {})
        self.path = path

    def _qweights(self, dt):
        """(kernel, bias) as the layer uses them, quantized when it has quantizers."""
        c = self.cfg
        depthwise = self.cls in ("DepthwiseConv2D", "QDepthwiseConv2D", "QDepthwiseConv2DPermuted")
        k = self.w["depthwise_kernel" if depthwise else "kernel"].astype(np.float32)
        b = self.w["bias"].astype(np.float32) if c.get("use_bias", True) else None
        if self.cls == "QConv2DBatchnorm":
            k, b = self._fold(k, b)
        kq, kc = _qspec(c.get("depthwise_quantizer" if depthwise else "kernel_quantizer"))
        bq, bc = _qspec(c.get("bias_quantizer"))
        # weights are quantized in float32 as TF does, whatever the compute dtype
        if kq == "quantized_bits":
            k = quantized_bits(k, kc, np.float32)
        elif kq is not None:
            raise RefError(f"{self.name}: kernel quantizer {kq} not emulated")
        if b is not None and bq == "quantized_bits":
            b = quantized_bits(b, bc, np.float32)
        elif b is not None and bq is not None:
            raise RefError(f"{self.name}: bias quantizer {bq} not emulated")
        return k.astype(dt), None if b is None else b.astype(dt)

    def _fold(self, k, b):
        c, w = self.cfg, self.w
        f32 = np.float32
        cout = k.shape[-1]
        b = b if b is not None else np.zeros(cout, f32)
        inv = f32(1) / np.sqrt(w["moving_variance"].astype(f32) + f32(c.get("epsilon", 1e-3)))
        if c.get("scale", True):
            inv = inv * w["gamma"].astype(f32)
        fb = inv * (b - w["moving_mean"].astype(f32))
        if c.get("center", True):
            fb = fb + w["beta"].astype(f32)
        return k * inv, fb

    def __call__(self, x, dt, bn_formula):
        c, cls = self.cfg, self.cls
        if cls == "Add":  # keras.layers.Add: out = x0, then out += x_k in input order
            y = x[0].astype(dt)
            for t in x[1:]:
                y = (y + t.astype(dt)).astype(dt)
            return y
        if cls == "Concatenate":
            axis = c.get("axis", -1)
            if axis not in (-1, x[0].ndim - 1):
                raise RefError(f"{self.name}: Concatenate over axis {axis} not emulated")
            return np.concatenate([t.astype(dt) for t in x], axis=-1)
        if cls in ("QActivation", "Activation"):
            return activation(x, c["activation"], dt)
        if cls == "Flatten":
            return x.reshape(x.shape[0], -1)
        if cls in ("Dropout", "SpatialDropout2D"):
            return x  # identity at inference
        if cls == "ZeroPadding2D":
            (t, b), (l, r) = _pad_pairs(c["padding"])
            return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
        if cls == "UpSampling2D":  # nearest: each pixel repeated size times along h and w
            if c.get("interpolation", "nearest") != "nearest":
                raise RefError(f"{self.name}: UpSampling2D interpolation not emulated")
            s = c.get("size", [2, 2])
            sh, sw = (s, s) if isinstance(s, int) else s
            return np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)
        if cls == "MaxPooling2D":
            return max_pool(x, c["pool_size"], c.get("strides") or c["pool_size"],
                            c.get("padding", "valid"))
        if cls == "AveragePooling2D":
            return avg_pool(x, c["pool_size"], c.get("strides") or c["pool_size"],
                            c.get("padding", "valid"))
        if cls == "GlobalAveragePooling2D":  # tf.reduce_mean over (h, w): sum, then divide
            return x.sum(axis=(1, 2), dtype=x.dtype) / x.dtype.type(x.shape[1] * x.shape[2])
        if cls == "Reshape":
            return x.reshape((x.shape[0],) + tuple(c["target_shape"]))
        if cls == "BatchNormalization":
            ch = x.shape[-1]
            g = self.w["gamma"] if c.get("scale", True) else np.ones(ch)
            b = self.w["beta"] if c.get("center", True) else np.zeros(ch)
            return batchnorm(x, g, b, self.w["moving_mean"], self.w["moving_variance"],
                             c.get("epsilon", 1e-3), dt, bn_formula)
        if cls in ("Conv2D", "QConv2D", "FQConv2D", "QConv2DBatchnorm"):
            if c.get("dilation_rate", [1, 1]) != [1, 1] or c.get("groups", 1) != 1:
                raise RefError(f"{self.name}: dilation/groups not emulated")
            k, b = self._qweights(dt)
            y = conv2d(x, k, c.get("strides", [1, 1]), c.get("padding", "valid"), dt)
        elif cls in ("Conv1D", "QConv1D"):
            if c.get("dilation_rate", [1]) not in ([1], 1) or c.get("padding") == "causal":
                raise RefError(f"{self.name}: dilation/causal padding not emulated")
            k, b = self._qweights(dt)
            y = conv1d(x, k, int(c.get("strides", [1])[0]), c.get("padding", "valid"), dt)
        elif cls == "Conv2DTranspose":
            k, b = self._qweights(dt)
            y = conv2d_transpose(x, k, c.get("strides", [1, 1]), c.get("padding", "valid"), dt)
        elif cls in ("DepthwiseConv2D", "QDepthwiseConv2D", "QDepthwiseConv2DPermuted"):
            if c.get("dilation_rate", [1, 1]) != [1, 1]:
                raise RefError(f"{self.name}: dilation not emulated")
            k, b = self._qweights(dt)
            y = depthwise_conv2d(x, k, c.get("strides", [1, 1]), c.get("padding", "valid"), dt)
            if b is not None:
                y, b = y + b, None
            if cls == "QDepthwiseConv2DPermuted":  # chisel4ml: tf.gather of the channels
                cin, mult = k.shape[2], k.shape[3]
                y = y[..., np.arange(cin * mult).reshape(cin, mult).T.reshape(-1)]
        elif cls in ("SeparableConv2D", "QSeparableConv2D"):
            # tf.nn.separable_conv2d: the depthwise result (float32) feeds a 1x1 convolution
            dk = self.w["depthwise_kernel"].astype(np.float32)
            pk = self.w["pointwise_kernel"].astype(np.float32)
            for q, name in (("depthwise_quantizer", "dk"), ("pointwise_quantizer", "pk")):
                qn, qc = _qspec(c.get(q))
                if qn == "quantized_bits":
                    if name == "dk":
                        dk = quantized_bits(dk, qc, np.float32)
                    else:
                        pk = quantized_bits(pk, qc, np.float32)
                elif qn is not None:
                    raise RefError(f"{self.name}: {q} {qn} not emulated")
            b = self.w["bias"].astype(np.float32) if c.get("use_bias", True) else None
            bq, bc = _qspec(c.get("bias_quantizer"))
            if b is not None and bq == "quantized_bits":
                b = quantized_bits(b, bc, np.float32)
            b = None if b is None else b.astype(dt)
            mid = depthwise_conv2d(x, dk.astype(dt), c.get("strides", [1, 1]),
                                   c.get("padding", "valid"), dt)
            y = conv2d(mid, pk.astype(dt), [1, 1], "valid", dt)
        elif cls in ("Dense", "QDense", "FQDense"):
            k, b = self._qweights(dt)
            y = x @ k
        else:
            raise RefError(f"{self.path}: layer {self.name}: class {cls} not emulated")
        if b is not None:
            y = y + b
        return activation(y.astype(dt), c.get("activation", "linear"), dt)


def load(paths):
    """Layers of one or more chained Keras models; paths: MODEL.h5 or ARCH.json WEIGHTS."""
    layers, i = [], 0
    while i < len(paths):
        cfg_path = paths[i]
        if cfg_path.endswith(".json"):
            if i + 1 >= len(paths):
                raise RefError(f"{cfg_path}: needs a weights file after it")
            w_path, i = paths[i + 1], i + 2
        else:
            w_path, i = cfg_path, i + 1
        cfg, weights = _config(cfg_path), _weights(w_path)
        first = len(layers)
        ordered = _ordered_layers(cfg, cfg_path)
        inputs = {x.get("name", x["config"].get("name")) for x, _ in ordered
                  if x["class_name"] == "InputLayer"}
        for L, ins in ordered:
            if L["class_name"] in ("InputLayer",):
                continue
            if L["class_name"] in ("Functional", "Model", "Sequential"):
                raise RefError(f"{cfg_path}: nested model {L['name']}: pass its parts")
            if ins is not None and len(layers) == first and ins == sorted(inputs)[:1]:
                ins = None  # the model's first layer reads what the model is given
            elif ins is not None:
                if inputs & set(ins) and first:
                    raise RefError(f"{cfg_path}: layer {L['name']} reads the input of a model "
                                   "after the first")
                ins = [None if n in inputs else n for n in ins]  # None: the model input
            layers.append(Layer(L, weights, cfg_path, ins))
    return layers


def forward(layers, x, dtype=np.float32, bn_formula="auto", keep_outputs=False):
    """Runs x (batch first) through the layers; returns (y, [(name, output), ...])."""
    dt = np.dtype(dtype).type
    x = np.asarray(x).astype(np.float32).astype(dt)  # Keras casts inputs to float32
    outs, by_name, given = [], {}, x
    for L in layers:
        if L.inputs is not None:  # graph layers read named outputs (None: the model input)
            ins = [given if n is None else by_name[n] for n in L.inputs]
            x = ins if L.cls in ("Add", "Concatenate") else ins[0]
        x = L(x, dt, bn_formula)
        by_name[L.name] = x
        if keep_outputs:
            outs.append((L.name, x))
    return x, outs


def main(argv=None):
    ap = argparse.ArgumentParser(description="numpy reference forward pass of QKeras models")
    ap.add_argument("model", nargs="+", help="MODEL.h5 | ARCH.json WEIGHTS.hdf5 (repeatable)")
    ap.add_argument("--input", required=True, help="input batch .npy (batch first, NHWC)")
    ap.add_argument("--output", required=True, help="output .npy")
    ap.add_argument("--layer-outputs", action="store_true",
                    help="also write every layer's output to OUTPUT.layers.npz")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--bn", choices=("auto", "fused", "nn"), default="auto",
                    help="BatchNormalization formula (auto: fused on 4-D, as Keras)")
    a = ap.parse_args(argv)
    try:
        net = load(a.model)
        y, outs = forward(net, np.load(a.input), np.dtype(a.dtype), a.bn, a.layer_outputs)
    except (RefError, KeyError, OSError) as e:
        print(f"qkeras_ref.py: error: {e}", file=sys.stderr)
        return 1
    np.save(a.output, y)
    if a.layer_outputs:
        stem = a.output[:-4] if a.output.endswith(".npy") else a.output
        np.savez(stem + ".layers.npz",
                 **{f"L{i:03d}_{n}": v for i, (n, v) in enumerate(outs)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
