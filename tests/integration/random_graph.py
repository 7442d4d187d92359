"""Random small functional (graph) QKeras models from a seed, for tests/integration/
test_random_graphs.sh: random DAGs over the layer kinds upset imports (QConv2D of random
kernels, strides and padding, QDepthwiseConv2D, QDense, BatchNormalization after any layer,
quantized_relu / quantized_bits / leaky quantized_relu / relu activations, MaxPooling2D,
AveragePooling2D right after a quantizer, ZeroPadding2D, UpSampling2D, Add and Concatenate
merges, Flatten, a softmax head), with branches nobody reads, written in a random
topological order so that a layer is often followed in the file by one that reads something
else.

Exactness: the reference (tools/qkeras_ref.py) computes in float32, so a quantized
convolution or dense layer only reads fixed-point tensors made of quantizer codes (through
copies, pads, pools, up-sampling, concatenations and adds of such), whose sums stay below
2^24 units; batch norms, quantizers and adds may read anything.

    random_graph.py OUT_DIR SEED [N_IMAGES]
writes OUT_DIR/g.json, g.h5 (Keras), pred.bin (the first N_IMAGES bundled CIFAR-10 images
labelled by the reference, near ties left out) and desc.txt (one line: the layers)."""
import math
import sys

import numpy as np

sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf  # noqa: E402


class Tensor:
    def __init__(self, name, shape, fixed, bits, quant=False, conv=False):
        self.name, self.shape, self.fixed = name, tuple(shape), fixed
        self.bits = bits      # magnitude in bits of its codes (None: not a small code tensor)
        self.quant = quant    # a quantizer's output (average pooling may read it)
        self.conv = conv      # a quantized conv/dense output (batch norms like to follow)


def generate(seed):
    """(layers, weights, inbound, description) of the model for seed."""
    rng = np.random.default_rng(seed)
    xr = np.random.default_rng(seed + 7919)  # the kinds added later (separable, folded, ...)
    # seeds from 1000 on also draw interleaved convolutions and wide tensors read past
    # unread quantizers (the seeds below keep their models)
    v2 = seed >= 1000
    yr = np.random.default_rng(seed + 104729)
    nodes = []        # (layer config, [input names]) in creation order
    weights = {}
    tensors = []      # readable tensors (every node's output)
    desc = []
    count = {}

    def name_of(kind):
        count[kind] = count.get(kind, 0) + 1
        return f"{kind}{count[kind]}"

    def node(L, ins, t):
        nodes.append((L, ins))
        tensors.append(t)
        return t

    def wq():
        return kf.quantized_bits(int(rng.integers(4, 9)), int(rng.integers(0, 2)))

    def act(x, name=None):
        """A random activation on x."""
        name = name or name_of("a")
        r = rng.random()
        if r < 0.45:
            bits = int(rng.integers(2, 9))
            integer = int(rng.integers(0, min(bits, 3) + 1))  # upset refuses integer > bits
            L = kf.qrelu(name, bits, integer)
            d = f"qrelu({bits},{integer})"
        elif r < 0.75:
            bits, integer = int(rng.integers(3, 9)), int(rng.integers(0, 4))
            L = kf.qactivation(name, kf.quantized_bits(bits, integer))
            d = f"qbits({bits},{integer})"
        elif r < 0.9:
            bits, integer = int(rng.integers(4, 9)), int(rng.integers(1, 3))
            s = int(rng.integers(1, 3))
            L = kf.qrelu(name, bits, integer, negative_slope=2.0 ** -s)
            d = f"leaky({bits},{integer},2^-{s})"
        else:
            if not x.fixed:  # relu of a float stays float: give it a quantizer
                return act(x, name)
            L = {"class_name": "Activation", "config": {"name": name, "activation": "relu"}}
            desc.append(f"{name}=relu({x.name})")
            return node(L, [x.name], Tensor(name, x.shape, True, x.bits, quant=False))
        desc.append(f"{name}={d}({x.name})")
        return node(L, [x.name], Tensor(name, x.shape, True, bits, quant=True))

    def extra_conv(x):
        """A QSeparableConv2D (two upset layers), a QConv2DBatchnorm (folded) or a QConv2D
        with a fused relu, on x; None when its sums could leave float32's exact range."""
        h, w, c = x.shape
        kind = str(xr.choice(["sep", "fold", "relu"]))
        name = name_of(kind)
        k = int(xr.integers(1, min(3, h, w) + 1))
        pad = str(xr.choice(["same", "valid"]))
        f = int(xr.integers(2, 13))
        q, bq = wq(), wq()
        bw = q["config"]["bits"]
        ho = h if pad == "same" else h - k + 1
        wo = w if pad == "same" else w - k + 1
        if kind == "sep":
            m = int(xr.integers(1, 3)) if c <= 8 else 1
            mid = x.bits + bw + math.ceil(math.log2(k * k + 1))
            if mid + bw + math.ceil(math.log2(c * m + 1)) > 23:
                return None
            L = {"class_name": "QSeparableConv2D", "config": {
                "name": name, "filters": f, "kernel_size": [k, k], "strides": [1, 1],
                "padding": pad, "depth_multiplier": m, "activation": "linear", "use_bias": True,
                "depthwise_quantizer": q, "pointwise_quantizer": q, "bias_quantizer": bq}}
            weights[name] = {"depthwise_kernel": xr.normal(0, 0.8 / k, (k, k, c, m)),
                             "pointwise_kernel": xr.normal(0, 0.8 / math.sqrt(c * m), (1, 1, c * m, f)),
                             "bias": xr.normal(0, 0.3, f)}
            desc.append(f"{name}=sep{k}x{k}x{m}{pad[0]}->{f}({x.name})")
            return node(L, [x.name], Tensor(name, (ho, wo, f), True, None, conv=True))
        if x.bits + bw + math.ceil(math.log2(k * k * c + 1)) > 23:
            return None
        L = kf.qconv2d(name, f, k, 1, pad, q)
        L["config"]["bias_quantizer"] = bq
        weights[name] = {"kernel": xr.normal(0, 0.8 / math.sqrt(k * k * c), (k, k, c, f)),
                         "bias": xr.normal(0, 0.3, f)}
        if kind == "fold":
            L["class_name"] = "QConv2DBatchnorm"
            L["config"].update(epsilon=0.001)
            weights[name].update(gamma=1 + xr.normal(0, 0.2, f), beta=xr.normal(0, 0.2, f),
                                 moving_mean=xr.normal(0, 0.2, f),
                                 moving_variance=0.5 + np.abs(xr.normal(0, 0.3, f)))
            desc.append(f"{name}=foldconv{k}x{k}{pad[0]}->{f}({x.name})")
            return node(L, [x.name], Tensor(name, (ho, wo, f), True, None, conv=True))
        L["config"]["activation"] = "relu"
        desc.append(f"{name}=conv{k}x{k}{pad[0]}->{f}+relu({x.name})")
        return node(L, [x.name], Tensor(name, (ho, wo, f), True, None))

    def dropout(x):
        name = name_of("drop")
        L = {"class_name": str(xr.choice(["Dropout", "SpatialDropout2D"])) if len(x.shape) == 3
             else "Dropout", "config": {"name": name, "rate": 0.3}}
        desc.append(f"{name}=dropout({x.name})")
        return node(L, [x.name], Tensor(name, x.shape, x.fixed, x.bits, x.quant, x.conv))

    def conv(x):
        h, w, c = x.shape
        name = name_of("c")
        depthwise = rng.random() < 0.2
        k = int(rng.integers(1, min(4, h, w) + 1))
        s = int(rng.integers(1, 3)) if min(h, w) >= 8 else 1
        pad = str(rng.choice(["same", "valid"]))
        q, bq = wq(), wq()
        bits_w = q["config"]["bits"]
        if depthwise:
            m = int(rng.integers(1, 3)) if c <= 8 else 1
            f = c * m
            fan = k * k
        else:
            f = int(rng.integers(2, 17))
            fan = k * k * c
        if x.bits + bits_w + math.ceil(math.log2(fan + 1)) > 23:
            return None
        ho = -(-h // s) if pad == "same" else (h - k) // s + 1
        wo = -(-w // s) if pad == "same" else (w - k) // s + 1
        if ho < 1 or wo < 1:
            return None
        std = 0.8 / math.sqrt(fan) * (2 ** q["config"]["integer"]) ** 0
        if depthwise:
            L = {"class_name": "QDepthwiseConv2D", "config": {
                "name": name, "kernel_size": [k, k], "strides": [s, s], "padding": pad,
                "depth_multiplier": m, "activation": "linear", "use_bias": True,
                "depthwise_quantizer": q, "bias_quantizer": bq}}
            weights[name] = {"depthwise_kernel": rng.normal(0, std, (k, k, c, m)),
                             "bias": rng.normal(0, 0.3, f)}
            desc.append(f"{name}=dw{k}x{k}/{s}x{m}{pad[0]}({x.name})")
        else:
            L = kf.qconv2d(name, f, k, s, pad, q)
            L["config"]["bias_quantizer"] = bq
            weights[name] = {"kernel": rng.normal(0, std, (k, k, c, f)),
                             "bias": rng.normal(0, 0.3, f)}
            desc.append(f"{name}=conv{k}x{k}/{s}{pad[0]}->{f}({x.name})")
        # seeds from 1000 on: a bound on the output's magnitude in its own units (the sum,
        # and the aligned bias), so a convolution may read it while float32 stays exact
        wide = x.bits + bits_w + math.ceil(math.log2(fan + 1)) + 2 if v2 else 99
        return node(L, [x.name], Tensor(name, (ho, wo, f), True, wide if wide <= 20 else None,
                                        conv=True))

    def dense(x, units, narrow=False):
        name = name_of("d")
        q, bq = wq(), wq()
        n = x.shape[0]
        room = 23 - x.bits - math.ceil(math.log2(n + 1))
        if narrow and q["config"]["bits"] > room >= 3:  # narrower weights fit
            q["config"]["bits"] = room
        if q["config"]["bits"] > room:
            return None
        L = {"class_name": "QDense", "config": {
            "name": name, "units": units, "activation": "linear", "use_bias": True,
            "kernel_quantizer": q, "bias_quantizer": bq}}
        weights[name] = {"kernel": rng.normal(0, 2.5 / math.sqrt(n), (n, units)),
                         "bias": rng.normal(0, 0.05, units)}
        desc.append(f"{name}=dense{units}({x.name})")
        return node(L, [x.name], Tensor(name, (units,), True, None, conv=True))

    def bn(x):
        name = name_of("bn")
        c = x.shape[-1]
        L = {"class_name": "BatchNormalization", "config": {"name": name, "epsilon": 0.001}}
        scale = 1.0 if not x.conv else 1.0
        weights[name] = {"gamma": 1 + rng.normal(0, 0.3, c), "beta": rng.normal(0, 0.3, c),
                         "moving_mean": rng.normal(0, 0.3 * scale, c),
                         "moving_variance": 0.3 + np.abs(rng.normal(0, 0.5, c))}
        desc.append(f"{name}=bn({x.name})")
        return node(L, [x.name], Tensor(name, x.shape, False, None))

    def simple(kind, x):
        h, w, c = x.shape
        name = name_of(kind[:2].lower())
        if kind == "MaxPooling2D" or kind == "AveragePooling2D":
            p = int(rng.integers(1, min(3, h, w) + 1))
            s = int(rng.integers(1, 3))
            pad = str(rng.choice(["same", "valid"]))
            ho = -(-h // s) if pad == "same" else (h - p) // s + 1
            wo = -(-w // s) if pad == "same" else (w - p) // s + 1
            L = {"class_name": kind, "config": {"name": name, "pool_size": [p, p],
                                                "strides": [s, s], "padding": pad}}
            desc.append(f"{name}={kind[:3].lower()}{p}/{s}{pad[0]}({x.name})")
            if kind == "AveragePooling2D":
                return node(L, [x.name], Tensor(name, (ho, wo, c), False, None))
            return node(L, [x.name], Tensor(name, (ho, wo, c), x.fixed, x.bits))
        if kind == "ZeroPadding2D":
            p = [int(v) for v in rng.integers(0, 3, 4)]
            L = {"class_name": kind, "config": {"name": name,
                                                "padding": [[p[0], p[1]], [p[2], p[3]]]}}
            desc.append(f"{name}=zpad{p}({x.name})")
            return node(L, [x.name], Tensor(name, (h + p[0] + p[1], w + p[2] + p[3], c),
                                            x.fixed, x.bits))
        if kind == "UpSampling2D":
            sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
            if h * sh * w * sw > 256:
                return None
            L = {"class_name": kind, "config": {"name": name, "size": [sh, sw],
                                                "interpolation": "nearest"}}
            desc.append(f"{name}=up{sh}x{sw}({x.name})")
            return node(L, [x.name], Tensor(name, (h * sh, w * sw, c), x.fixed, x.bits))
        raise ValueError(kind)

    def merge(xs, kind):
        name = name_of("add" if kind == "Add" else "cat")
        L = {"class_name": kind, "config": {"name": name, "axis": -1}}
        fixed = all(t.fixed for t in xs)
        small = all(t.bits is not None for t in xs)
        if kind == "Add":
            shape = xs[0].shape
            bits = max(t.bits for t in xs) + 1 if small and fixed else None
        else:
            shape = xs[0].shape[:-1] + (sum(t.shape[-1] for t in xs),)
            bits = max(t.bits for t in xs) if small and fixed else None
        desc.append(f"{name}={kind.lower()}({','.join(t.name for t in xs)})")
        return node(L, [t.name for t in xs], Tensor(name, shape, fixed, bits))

    def pick(pred, recent=0.6):
        cand = [t for t in tensors if pred(t)]
        if not cand:
            return None
        if rng.random() < recent:  # mostly the newest few: a deep graph
            return cand[-1 - int(rng.integers(0, min(3, len(cand))))]
        return cand[int(rng.integers(0, len(cand)))]

    # the input, an optional input quantizer, then a strided convolution down to 8..16
    layers_in = kf.input_layer()
    first_in = "in"
    x_bits = 8
    if rng.random() < 0.3:
        bits = int(rng.integers(6, 10))
        node(kf.qactivation("qin", kf.quantized_bits(bits, 1)), ["in"],
             Tensor("qin", (32, 32, 3), True, bits, quant=True))
        desc.append(f"qin=qbits({bits},1)(in)")
        first_in, x_bits = "qin", bits
    k0, s0 = int(rng.integers(1, 5)), int(rng.choice([2, 3, 4]))
    f0 = int(rng.integers(3, 13))
    name = name_of("c")
    q0 = wq()
    weights[name] = {"kernel": rng.normal(0, 0.8 / math.sqrt(k0 * k0 * 3), (k0, k0, 3, f0)),
                     "bias": rng.normal(0, 0.3, f0)}
    L0 = kf.qconv2d(name, f0, k0, s0, "same", q0)
    L0["config"]["bias_quantizer"] = wq()
    h0 = -(-32 // s0)
    node(L0, [first_in], Tensor(name, (h0, h0, f0), True, None, conv=True))
    desc.append(f"{name}=conv{k0}x{k0}/{s0}s->{f0}({first_in})")
    if rng.random() < 0.5:
        bn(tensors[-1])
    act(tensors[-1])

    spatial = lambda t: len(t.shape) == 3
    n_ops = int(rng.integers(4, 13))
    for _ in range(n_ops):
        if v2 and yr.random() < 0.3:
            small = lambda t: spatial(t) and t.fixed and t.bits is not None
            if yr.random() < 0.5:
                # convolutions a and b, then a batch norm and quantizer on a: in the made
                # order the batch norm follows b, which it does not read
                x, y = pick(small, 0.8), pick(small)
                a = conv(x) if x is not None else None
                b = conv(y) if y is not None else None
                if a is not None and b is not None:
                    act(bn(a))
                    if yr.random() < 0.5:
                        act(b)
            else:
                # a wide tensor read past a narrow quantizer nobody reads: a convolution,
                # a 2-bit quantizer on it, and a convolution (or the head) on its output
                x = pick(lambda t: small(t) and t.bits <= 6, 0.8)
                a = conv(x) if x is not None else None
                if a is not None:
                    L = kf.qrelu(name_of("a"), 2, 0)
                    desc.append(f"{L['config']['name']}=qrelu(2,0)({a.name})")
                    node(L, [a.name], Tensor(L["config"]["name"], a.shape, True, 2, quant=True))
                    if a.bits is not None and yr.random() < 0.7:
                        conv(a)
            continue
        r = rng.random()
        e = xr.random()
        if e < 0.12:
            x = pick(lambda t: spatial(t) and t.fixed and t.bits is not None)
            if x is not None:
                extra_conv(x)
        elif e < 0.2:
            dropout(tensors[-1 - int(xr.integers(0, min(3, len(tensors))))])
        elif e < 0.26:  # an add of three
            a = tensors[-1]
            same = [t for t in tensors if t is not a and t.shape == a.shape]
            if len(same) >= 2:
                i, j = xr.choice(len(same), 2, replace=False)
                merge([same[int(i)], a, same[int(j)]], "Add")
        if r < 0.12:
            x = pick(lambda t: spatial(t) and t.fixed and t.bits is not None)
            if x is not None:
                conv(x)
        elif r < 0.25:  # conv, batch norm, quantizer, conv: what the row fusion takes
            x = pick(lambda t: spatial(t) and t.fixed and t.bits is not None, 0.8)
            y = conv(x) if x is not None else None
            if y is not None:
                y = act(bn(y) if rng.random() < 0.7 else y)
                if rng.random() < 0.5 and y.bits is not None:
                    conv(y)
        elif r < 0.40:
            x = pick(lambda t: spatial(t), 0.7)
            bn(x)
        elif r < 0.55:
            x = pick(lambda t: spatial(t))
            act(x)
        elif r < 0.68:
            a = pick(spatial, 0.8)
            same = [t for t in tensors if t is not a and t.shape == a.shape]
            if same:
                b = same[int(rng.integers(0, len(same)))]
                merge([a, b] if rng.random() < 0.5 else [b, a], "Add")
        elif r < 0.78:
            a = pick(spatial, 0.8)
            same = [t for t in tensors if t is not a and spatial(t) and t.shape[:2] == a.shape[:2]]
            if same and a.shape[2] < 16:
                b = same[int(rng.integers(0, len(same)))]
                if a.shape[2] + b.shape[2] <= 24:
                    merge([a, b] if rng.random() < 0.5 else [b, a], "Concatenate")
        else:
            kind = str(rng.choice(["MaxPooling2D", "ZeroPadding2D", "UpSampling2D",
                                   "AveragePooling2D"]))
            if kind == "AveragePooling2D":
                x = pick(lambda t: spatial(t) and t.quant and t.bits <= 12)
            else:
                x = pick(spatial)
            if x is not None and min(x.shape[:2]) >= 2:
                simple(kind, x)

    # the head: a fixed-point code tensor, pooled down if large, flattened, optionally a
    # hidden dense layer with its own batch norm / activation, then 10 outputs and softmax
    x = pick(lambda t: spatial(t) and t.fixed and t.bits is not None, 0.8)
    if x is None or rng.random() < 0.3:
        x = act(pick(spatial, 0.8))
    while x.bits is None:  # a relu of a convolution: wide codes
        x = act(x)
    while x.shape[0] * x.shape[1] * x.shape[2] > 400:
        name = name_of("ma")
        L = {"class_name": "MaxPooling2D", "config": {"name": name, "pool_size": [2, 2],
                                                      "strides": [2, 2], "padding": "same"}}
        desc.append(f"{name}=max2/2s({x.name})")
        x = node(L, [x.name], Tensor(name, (-(-x.shape[0] // 2), -(-x.shape[1] // 2),
                                            x.shape[2]), x.fixed, x.bits))
    name = name_of("flat")
    node({"class_name": "Flatten", "config": {"name": name}}, [x.name],
         Tensor(name, (x.shape[0] * x.shape[1] * x.shape[2],), x.fixed, x.bits))
    desc.append(f"{name}=flatten({x.name})")
    x = tensors[-1]
    if rng.random() < 0.5:
        h = dense(x, int(rng.integers(6, 17)))
        if h is not None:
            y = h
            if rng.random() < 0.5:
                y = bn(h)
            if rng.random() < 0.3:  # a dead batch norm or quantizer on the flatten
                bn(x) if rng.random() < 0.5 else act(x)
            y = act(y)
            while y.bits is None:
                y = act(y)
            if rng.random() < 0.3:
                other = dense(y, y.shape[0])
                if other is not None:
                    y2 = act(bn(other) if rng.random() < 0.5 else other)
                    y = merge([y, y2], "Add") if rng.random() < 0.5 else merge([y, y2], "Concatenate")
                    while not y.fixed or y.bits is None:
                        y = act(y)
            x = y
    out = dense(x, 10, narrow=True)
    while out is None:  # too wide a tensor for exact float32 sums: quantize it first
        x = act(x)
        out = dense(x, 10, narrow=True) if x.bits <= 12 else None
    nodes.append(({"class_name": "Activation",
                   "config": {"name": "softmax", "activation": "softmax"}}, [out.name]))

    # a random topological order (the first node, the only reader of the input, first;
    # the softmax last), or for some seeds the order they were made in (chains kept
    # together, the dead and side branches between them)
    names = [L["config"]["name"] for L, _ in nodes]
    made_order = rng.random() < (0.6 if v2 else 0.4)
    deps = {L["config"]["name"]: set(i for i in ins if i != "in") for L, ins in nodes}
    by_name = {L["config"]["name"]: (L, ins) for L, ins in nodes}
    order, done = [], set()
    pending = names[:-1]
    while pending:
        ready = [n for n in pending if deps[n] <= done]
        n = ready[0] if made_order else ready[int(rng.integers(0, len(ready)))]
        order.append(n)
        done.add(n)
        pending.remove(n)
    order.append(names[-1])
    layers = [layers_in] + [by_name[n][0] for n in order]
    inbound = {"in": []}
    inbound.update({n: by_name[n][1] for n in order})
    desc.append("made order" if made_order else "shuffled order")
    return layers, weights, inbound, "; ".join(desc)


def write(out, seed, n_images=40):
    layers, weights, inbound, desc = generate(seed)
    kf.write_keras(f"{out}/g", f"g{seed}", layers, weights, inbound)
    kept, pred = kf.label_by_reference(f"{out}/g", f"{out}/pred.bin", n_images, margin=1e-5)
    open(f"{out}/desc.txt", "w").write(desc + "\n")
    return desc


def fault_bits(native, ranking, seed, kernel_bits=24, bias_bits=16, window=240):
    """Bits spread over every faultable layer of the native model (include_bias layout):
    up to kernel_bits random kernel bits and bias_bits random bias bits per layer, written
    one per line to ranking; returns (first_bit, bit_count) of an oracle window across a
    random layer's bias codes and the next layer's first kernel bits."""
    import h5py
    rng = np.random.default_rng(seed)
    xr = np.random.default_rng(seed + 7919)  # the kinds added later (separable, folded, ...)
    # seeds from 1000 on also draw interleaved convolutions and wide tensors read past
    # unread quantizers (the seeds below keep their models)
    v2 = seed >= 1000
    yr = np.random.default_rng(seed + 104729)
    picked, spans = [], []
    at = 0
    with h5py.File(native, "r") as f:
        for k in sorted(f["layers"]):
            g = f["layers"][k]
            if not int(g.attrs.get("faultable", 0)):
                continue
            nk = g["kernel_code"].size * int(g.attrs["kernel_q_bits"])
            nb = g["bias_code"].size * int(g.attrs["bias_q_bits"]) if "bias_code" in g else 0
            picked += list(at + rng.choice(nk, min(nk, kernel_bits), replace=False))
            if nb:
                picked += list(at + nk + rng.choice(nb, min(nb, bias_bits), replace=False))
            spans.append((at, at + nk, at + nk + nb))
            at += nk + nb
    rng.shuffle(picked)
    open(ranking, "w").write("".join(f"{int(b)}\n" for b in picked))
    start, kend, end = spans[int(rng.integers(0, len(spans)))]
    first = max(start, kend - window // 3)
    return first, min(window, at - first)


def features(native):
    """What a native model exercises, as a set of words: its kinds, and the orders where a
    layer is followed in the file by one that reads something else."""
    import h5py
    with h5py.File(native, "r") as f:
        L = [f["layers"][k] for k in sorted(f["layers"])]
        kind = [g.attrs["kind"].decode() if isinstance(g.attrs["kind"], bytes) else g.attrs["kind"]
                for g in L]
        ins = [list(g.attrs["inputs"]) if "inputs" in g.attrs else [i - 1] for i, g in enumerate(L)]
        act = [g.attrs.get("activation", b"") for g in L]
        act = [a.decode() if isinstance(a, bytes) else str(a) for a in act]
    n = len(L)
    read = [0] * n
    for i in range(n):
        for s in ins[i]:
            if s >= 0:
                read[s] += 1
    out = set(kind)
    for i in range(n - 1):
        if ins[i + 1] != [i]:
            out.add(f"next-reads-other:{kind[i]}")
        if read[i] == 0:
            out.add(f"dead:{kind[i]}")
    for i in range(n - 3):
        if (kind[i] == "conv2d" and kind[i + 1] == "batchnorm" and ins[i + 1] == [i]
                and kind[i + 2] == "activation" and ins[i + 2] == [i + 1]):
            out.add("conv-bn-q")
            if kind[i + 3] == "conv2d" and ins[i + 3] == [i + 2]:
                out.add("conv-bn-q-conv")
        if kind[i] in ("conv2d", "dense") and kind[i + 1] == "batchnorm" and ins[i + 1] != [i]:
            out.add("bn-after-unread-linear")
    if ins[n - 1] != [n - 2]:
        out.add("softmax-reads-past-dead")
    for i in range(n):
        if len(ins[i]) > 2:
            out.add("merge3")
        if len(set(ins[i])) < len(ins[i]):
            out.add("merge-same-twice")
    return out


def build(t, seeds, n_images=40):
    """For each seed: T/sSEED/ with the Keras files, the labelled images, the native model
    (n.h5, or import.log with the importer's refusal), desc.txt and the bits the campaigns
    flip (bits.txt, window: the oracle's first_bit and bit_count)."""
    import contextlib
    import io
    import os
    import import_qkeras
    for seed in seeds:
        d = f"{t}/s{seed}"
        os.makedirs(d, exist_ok=True)
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            write(d, seed, n_images)
            rc = import_qkeras.main([f"{d}/g.json", f"{d}/g.h5", "--name", f"g{seed}",
                                     "--task", "classifier", "-o", f"{d}/n.h5"])
        open(f"{d}/import.log", "w").write(log.getvalue())
        if rc == 0:
            first, count = fault_bits(f"{d}/n.h5", f"{d}/bits.txt", seed)
            open(f"{d}/window", "w").write(f"{first} {count}\n")


def check_rank(t, seeds, n=8):
    """`upset rank`'s loss for each seed (T/sSEED/rank.h5) equals the reference's
    cross-entropy; returns the seeds that fail, with why."""
    bad = []
    for seed in seeds:
        d = f"{t}/s{seed}"
        try:
            kf.check_rank(f"{d}/rank.h5", f"{d}/g", f"{d}/pred.bin", n)
        except (AssertionError, OSError, KeyError) as e:
            bad.append(f"seed {seed}: {type(e).__name__} {e}")
    return bad


if __name__ == "__main__":
    if sys.argv[1] == "bits":  # random_graph.py bits NATIVE RANKING SEED
        print(*fault_bits(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    elif sys.argv[1] == "features":  # random_graph.py features NATIVE
        print(" ".join(sorted(features(sys.argv[2]))))
    elif sys.argv[1] == "build":  # random_graph.py build T SEED...
        build(sys.argv[2], [int(v) for v in sys.argv[3:]])
    elif sys.argv[1] == "check-rank":  # random_graph.py check-rank T SEED...
        bad = check_rank(sys.argv[2], [int(v) for v in sys.argv[3:]])
        print("\n".join(bad) if bad else f"ok: upset rank's loss == the reference's "
              f"cross-entropy on all {len(sys.argv) - 3} models")
        sys.exit(1 if bad else 0)
    else:
        out, seed = sys.argv[1], int(sys.argv[2])
        n = int(sys.argv[3]) if len(sys.argv) > 3 else 40
        print(write(out, seed, n))
