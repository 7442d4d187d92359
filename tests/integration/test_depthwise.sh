#!/bin/sh
# Must-show (depthwise convolutions): a MobileNet-style Keras/QKeras block (QConv2D,
# QDepthwiseConv2D with depth_multiplier 2 and stride 2, a 1x1 pointwise QConv2D), written
# here as Keras files with random quantized weights, is imported with the depthwise kernel
# faultable in Keras's (kh, kw, cin, multiplier) C order; upset's engine agrees with
# tools/qkeras_ref.py (tf.nn.depthwise_conv2d in numpy, one channel at a time, reading the
# Keras files) on every image's prediction; the oracle over the depthwise kernel and bias
# bits is identical on the cached path and the whole-network path. A QSeparableConv2D is
# imported as its depthwise part then a 1x1 convolution (both faultable, depthwise bits
# first) and agrees with the reference's tf.nn.separable_conv2d.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras model and its reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
q6 = kf.Q6
layers = [
    kf.input_layer(), kf.qconv2d("conv", 8), kf.qrelu("r1"),
    {"class_name": "QDepthwiseConv2D", "config": {"name": "dw", "kernel_size": [3, 3],
        "strides": [2, 2], "padding": "same", "depth_multiplier": 2, "activation": "linear",
        "use_bias": True, "depthwise_quantizer": q6, "bias_quantizer": q6}},
    kf.qrelu("r2"), kf.qconv2d("pw", 8, k=1), kf.qrelu("r3"),
    *kf.classifier_head(),
]
rng = np.random.default_rng(9)
weights = {"conv": {"kernel": rng.normal(0, 0.3, (3, 3, 3, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dw": {"depthwise_kernel": rng.normal(0, 0.3, (3, 3, 8, 2)),
                  "bias": rng.normal(0, 0.1, 16)},
           "pw": {"kernel": rng.normal(0, 0.3, (1, 1, 16, 8)), "bias": rng.normal(0, 0.1, 8)},
           "dense": {"kernel": rng.normal(0, 0.05, (16 * 16 * 8, 10)),
                     "bias": rng.normal(0, 0.1, 10)}}
kf.write_keras(f"{t}/dw", "dw", layers, weights)
kf.label_by_reference(f"{t}/dw", f"{t}/pred.bin")

# a separable convolution: depthwise (multiplier 2) then pointwise, one Keras layer
sep = layers[:3] + [
    {"class_name": "QSeparableConv2D", "config": {"name": "sep", "filters": 8,
        "kernel_size": [3, 3], "strides": [2, 2], "padding": "same", "depth_multiplier": 2,
        "activation": "linear", "use_bias": True, "depthwise_quantizer": q6,
        "pointwise_quantizer": q6, "bias_quantizer": q6}},
    kf.qrelu("r3")] + layers[7:]
weights["sep"] = {"depthwise_kernel": rng.normal(0, 0.3, (3, 3, 8, 2)),
                  "pointwise_kernel": rng.normal(0, 0.3, (1, 1, 16, 8)),
                  "bias": rng.normal(0, 0.1, 8)}
kf.write_keras(f"{t}/sep", "sep", sep, weights)
kf.label_by_reference(f"{t}/sep", f"{t}/sep_pred.bin")
EOF

tools/import_qkeras.py "$T/dw.json" "$T/dw.h5" --name dw --task classifier \
    -o "$T/native.h5" >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
"$UPSET" info "$T/native.h5" >"$T/info.txt" || fail "upset info"
# conv: 216 weights (bits 0..1295); dw: 3*3*8*2 = 144 weights (bits 1296..2159), 16 outputs
grep -Eq "dw +depthwise_conv2d .*\(32,32,8\) +\(16,16,16\) .* 864 \(144 weights, bits 1296\.\.2159\)" "$T/info.txt" \
    && pass "depthwise layer: (16,16,16) from (32,32,8), 144 faultable weights after the conv's" \
    || fail "layout: $(cat "$T/info.txt")"
"$PY" - "$T" <<'EOP' || fail "depthwise kernel codes in Keras's C order"
import sys, h5py, numpy as np
t = sys.argv[1]
with h5py.File(f"{t}/dw.h5", "r") as k, h5py.File(f"{t}/native.h5", "r") as n:
    w = k["dw"]["dw/depthwise_kernel:0"][:]
    g = [n["layers"][x] for x in n["layers"] if n["layers"][x].attrs["name"] in (b"dw", "dw")][0]
    codes = g["kernel_code"][:]
    want = np.clip(np.rint(w * 32), -32, 31)
    ok = codes.shape == w.shape and (codes == want).all() and int(g.attrs["faultable"]) == 1
print(("ok" if ok else "FAIL") + ": the depthwise codes keep Keras's (kh, kw, cin, multiplier) C order")
sys.exit(0 if ok else 1)
EOP

agrees "$T/native.h5" "$T/pred.bin" \
    && pass "engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "engine disagrees with the reference: $AGREE_OUT"

cat >"$T/oracle.yaml" <<EOC
name: it-dw
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 12, correct_only: false}
kind: oracle
oracle: {layers: [dw]}
include_bias: true
output: $T/delta.h5
EOC
fast_equals_full 2 2 "$T/oracle.yaml" "$T/delta.h5" "$T/full.h5" bits \
    "oracle over the depthwise kernel and bias bits: cached == whole network"
"$PY" -c "
import h5py, sys
f = h5py.File('$T/delta.h5')
m, b = f['bits/mispredicts'][:], f['bits/bit'].size
sys.exit(0 if (m > 0).any() and b == 144 * 6 + 16 * 6 else 1)" \
    && pass "960 depthwise bits (kernel and bias), some flips change predictions" \
    || fail "depthwise oracle: wrong bit count or no flip changed anything"

tools/import_qkeras.py "$T/sep.json" "$T/sep.h5" --name sep --task classifier \
    -o "$T/sep_native.h5" >"$T/sep_import.log" 2>&1 || { fail "separable import"; cat "$T/sep_import.log" >&2; }
"$UPSET" info "$T/sep_native.h5" >"$T/sep_info.txt" || fail "upset info (separable)"
# sep_depthwise: 3*3*8*2 = 144 weights (bits 1296..2159), then sep: 16*8 = 128 (2160..2927)
grep -Eq "sep_depthwise +depthwise_conv2d .* 864 \(144 weights, bits 1296\.\.2159\)" "$T/sep_info.txt" \
    && grep -Eq " sep +conv2d .*\(16,16,16\) +\(16,16,8\) .* 768 \(128 weights, bits 2160\.\.2927\)" "$T/sep_info.txt" \
    && pass "QSeparableConv2D: its depthwise then its pointwise layer, both faultable" \
    || fail "separable layout: $(cat "$T/sep_info.txt")"
agrees "$T/sep_native.h5" "$T/sep_pred.bin" \
    && pass "separable: engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "separable: engine disagrees with the reference: $AGREE_OUT"
sed -e "s#$T/native.h5#$T/sep_native.h5#" -e "s#$T/pred.bin#$T/sep_pred.bin#" \
    -e 's/layers: \[dw\]/layers: [sep_depthwise, sep]/' -e 's/^include_bias: true$/include_bias: false/' \
    -e "s#$T/delta.h5#$T/sep_delta.h5#" "$T/oracle.yaml" >"$T/sep.yaml"
fast_equals_full 2 2 "$T/sep.yaml" "$T/sep_delta.h5" "$T/sep_full.h5" bits \
    "separable: oracle over its 1,632 bits identical on the fast and whole-network paths"
# upset rank through depthwise and separable convolutions (their kernels and biases are
# parameters): the loss it differentiates equals the reference's cross-entropy, and every
# bit of the fault space with biases is ranked once
for m in dw:native:pred sep:sep_native:sep_pred; do
    stem=${m%%:*} rest=${m#*:}
    native=${rest%%:*} pred=${rest#*:}
    cat >"$T/rank_$stem.yaml" <<EOC
name: it-dw-rank
model: $T/$native.h5
data: {format: cifar10, files: [$T/$pred.bin], count: 10}
kind: rank
include_bias: true
rank: {metric: hessian, eigen_k: 2, samples: 10}
output: $T/rank_$stem.h5
EOC
    mpi 2 rank "$T/rank_$stem.yaml" --quiet || fail "upset rank ($stem)"
    "$PY" - "$T" $stem $pred <<'EOP' || fail "rank through $stem"
import sys
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture
t, stem, pred = sys.argv[1:4]
loss, want, n = keras_fixture.check_rank(f"{t}/rank_{stem}.h5", f"{t}/{stem}", f"{t}/{pred}.bin", 10)
print(f"ok: upset rank ({stem}, Hessian, with biases): loss {loss:.8f} == the reference's "
      f"{want:.8f}; {n} bits ranked once")
EOP
done
finish
