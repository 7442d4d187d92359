#!/bin/sh
# Fuzzed shapes: random small QKeras models (seeded) over the layer kinds whose geometry
# can go wrong — convolutions with random kernel sizes, strides and SAME/VALID padding,
# asymmetric ZeroPadding2D, max and average pooling with random windows and strides,
# nearest up-sampling with random factors,
# depthwise convolutions with random multipliers, separable convolutions, and a residual
# Add or a Concatenate over a random branch — are imported; upset's engine agrees with
# tools/qkeras_ref.py (reading the Keras files) on every image's prediction, and random
# single-bit faults give identical records on the stored-input/delta paths and --full.
. tests/integration/lib.sh
N_MODELS=${UPSET_SHAPE_MODELS:-8}

"$PY" - "$T" "$N_MODELS" <<'EOF' || fail "building the random models"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t, n_models = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(2026)
q6, relu = kf.Q6, kf.qrelu

def out_dim(n, k, s, pad):
    return -(-n // s) if pad == "same" else (n - k) // s + 1

for m in range(n_models):
    layers = [kf.input_layer()]
    inbound, weights = {"in": []}, {}
    h, w, c = 32, 32, 3
    prev = "in"
    def add(L, ins=None):
        global prev
        name = L["config"]["name"]
        layers.append(L)
        inbound[name] = ins or [prev]
        prev = name
    def conv(name, f, k, s, pad):
        global h, w, c
        add(kf.qconv2d(name, f, k, s, pad))
        weights[name] = {"kernel": rng.normal(0, 0.4, (k, k, c, f)), "bias": rng.normal(0, 0.2, f)}
        h, w, c = out_dim(h, k, s, pad), out_dim(w, k, s, pad), f
        add(relu(name + "_r"))
    desc = []
    k, s, pad = int(rng.integers(1, 6)), int(rng.integers(1, 4)), str(rng.choice(["same", "valid"]))
    conv("c0", int(rng.integers(2, 7)), k, s, pad)
    desc.append(f"conv{k}x{k}/{s} {pad}")
    if rng.random() < 0.6:
        p = [int(v) for v in rng.integers(0, 3, 4)]
        add({"class_name": "ZeroPadding2D", "config": {"name": "zp", "padding": [[p[0], p[1]], [p[2], p[3]]]}})
        h, w = h + p[0] + p[1], w + p[2] + p[3]
        desc.append(f"zeropad{p}")
    if rng.random() < 0.7:
        kind = str(rng.choice(["MaxPooling2D", "AveragePooling2D"]))
        pk, ps = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        ppad = str(rng.choice(["same", "valid"]))
        if min(h, w) >= pk:
            if kind == "AveragePooling2D" and prev == "zp":  # upset averages quantizer codes only
                add(relu("zp_r"))
            add({"class_name": kind, "config": {"name": "pool", "pool_size": [pk, pk],
                 "strides": [ps, ps], "padding": ppad}})
            h, w = out_dim(h, pk, ps, ppad), out_dim(w, pk, ps, ppad)
            if kind == "AveragePooling2D":
                add(relu("pool_r"))
            desc.append(f"{kind[:3]}{pk}/{ps} {ppad}")
    # nearest up-sampling by random factors (its own stream, so the layers before it are
    # drawn as they were)
    up = np.random.default_rng(100 + m)
    sh, sw = int(up.integers(1, 4)), int(up.integers(1, 4))
    if up.random() < 0.7 and h * w * sh * sw <= 1600:
        add({"class_name": "UpSampling2D", "config": {"name": "up", "size": [sh, sw],
             "interpolation": "nearest"}})
        h, w = h * sh, w * sw
        desc.append(f"up{sh}x{sw}")
    if rng.random() < 0.6:
        dk, ds, dm = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        dpad = str(rng.choice(["same", "valid"]))
        if min(h, w) >= dk:
            sep = rng.random() < 0.5
            if sep:
                f = int(rng.integers(2, 6))
                add({"class_name": "QSeparableConv2D", "config": {"name": "dw", "filters": f,
                     "kernel_size": [dk, dk], "strides": [ds, ds], "padding": dpad,
                     "depth_multiplier": dm, "activation": "linear", "use_bias": True,
                     "depthwise_quantizer": q6, "pointwise_quantizer": q6, "bias_quantizer": q6}})
                weights["dw"] = {"depthwise_kernel": rng.normal(0, 0.4, (dk, dk, c, dm)),
                                 "pointwise_kernel": rng.normal(0, 0.4, (1, 1, c * dm, f)),
                                 "bias": rng.normal(0, 0.2, f)}
                c_out = f
            else:
                add({"class_name": "QDepthwiseConv2D", "config": {"name": "dw", "kernel_size": [dk, dk],
                     "strides": [ds, ds], "padding": dpad, "depth_multiplier": dm,
                     "activation": "linear", "use_bias": True, "depthwise_quantizer": q6,
                     "bias_quantizer": q6}})
                weights["dw"] = {"depthwise_kernel": rng.normal(0, 0.4, (dk, dk, c, dm)),
                                 "bias": rng.normal(0, 0.2, c * dm)}
                c_out = c * dm
            h, w, c = out_dim(h, dk, ds, dpad), out_dim(w, dk, ds, dpad), c_out
            add(relu("dw_r"))
            desc.append(f"{'sep' if sep else 'dw'}{dk}x{dk}/{ds}x{dm} {dpad}")
    # a branch from here: a same-padded conv beside the trunk, merged by Add or Concatenate
    trunk = prev
    merge = str(rng.choice(["Add", "Concatenate"]))
    f = c if merge == "Add" else int(rng.integers(1, 5))
    kb = int(rng.integers(1, 4))
    cin = c
    add(kf.qconv2d("b", f, kb))
    weights["b"] = {"kernel": rng.normal(0, 0.4, (kb, kb, cin, f)), "bias": rng.normal(0, 0.2, f)}
    add(relu("b_r"))
    add({"class_name": merge, "config": {"name": "merge", "axis": -1}}, [trunk, "b_r"])
    c = c + f if merge == "Concatenate" else c
    desc.append(f"{merge} with a {kb}x{kb} branch")
    for L in kf.classifier_head():
        add(L)
    weights["dense"] = {"kernel": rng.normal(0, 1.0 / np.sqrt(h * w * c), (h * w * c, 10)),
                        "bias": rng.normal(0, 0.1, 10)}
    kf.write_keras(f"{t}/m{m}", f"m{m}", layers, weights, inbound)
    kf.label_by_reference(f"{t}/m{m}", f"{t}/m{m}_pred.bin", 120, margin=1e-6)
    open(f"{t}/m{m}.desc", "w").write(", ".join(desc) + f" -> ({h},{w},{c})")
EOF

m=0
while [ $m -lt "$N_MODELS" ]; do
    desc=$(cat "$T/m$m.desc" 2>/dev/null)
    tools/import_qkeras.py "$T/m$m.json" "$T/m$m.h5" --name m$m --task classifier \
        -o "$T/m${m}_native.h5" >"$T/import.log" 2>&1 || { fail "model $m ($desc): import: $(tail -2 "$T/import.log")"; m=$((m + 1)); continue; }
    agrees "$T/m${m}_native.h5" "$T/m${m}_pred.bin" \
        && pass "model $m ($desc): engine == reference on $AGREE_N images" \
        || fail "model $m ($desc): $AGREE_OUT"
    cat >"$T/o.yaml" <<EOC
name: it-shape
model: $T/m${m}_native.h5
data: {format: cifar10, files: [$T/m${m}_pred.bin], count: 10, correct_only: false}
kind: guided
seed: $m
guided: {order: random, budget: 120}
output: $T/o.h5
EOC
    fast_equals_full 2 2 "$T/o.yaml" "$T/o.h5" "$T/of.h5" bits \
        "model $m: 120 random bits identical to --full" --force
    m=$((m + 1))
done
finish
