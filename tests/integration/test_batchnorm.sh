#!/bin/sh
# Must-show (BatchNormalization's epsilon): Keras 2 runs a batch norm on an (h, w, c) tensor
# as tf.compat.v1.nn.fused_batch_norm, which raises an epsilon below 1.001e-5 to 1.001e-5;
# on a vector (tf.nn.batch_normalization) and in Keras 3 the configured epsilon stays.
# A CNN with epsilon 1e-6 on both kinds and variances near 1e-5 (where the two epsilons
# scale the outputs by up to 1.7x) is imported; upset and tools/qkeras_ref.py predict every
# image as the formulas written out here do; the stored epsilons are the ones each path uses.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras models and their predictions"
import sys
import h5py
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
f32 = np.float32
rng = np.random.default_rng(5)
bn = lambda name: {"class_name": "BatchNormalization", "config": {"name": name, "epsilon": 1e-6}}
layers = [kf.input_layer(), bn("bn_image"), kf.qactivation("q", kf.quantized_bits(6, 2)),
          {"class_name": "Flatten", "config": {"name": "flat"}},
          {"class_name": "QDense", "config": {
              "name": "dense", "units": 10, "activation": "linear", "use_bias": True,
              "kernel_quantizer": kf.Q6, "bias_quantizer": kf.Q6}},
          bn("bn_vector"), {"class_name": "Activation", "config": {"name": "sm", "activation": "softmax"}}]
def stats(n, mean):  # gamma ~ sqrt(variance): outputs of order 1 under either epsilon
    return {"gamma": rng.uniform(0.002, 0.006, n), "beta": rng.normal(0, 0.3, n),
            "moving_mean": rng.normal(mean, 0.02, n), "moving_variance": rng.uniform(2e-6, 2e-5, n)}
w = {"bn_image": stats(3, 0.45), "bn_vector": stats(10, 0.0),
     "dense": {"kernel": rng.normal(0, 0.1, (3072, 10)), "bias": rng.normal(0, 0.1, 10)}}
kf.write_keras(f"{t}/bn", "bn", layers, w)
kf.write_keras(f"{t}/bn3", "bn", layers, w)
with h5py.File(f"{t}/bn3.h5", "a") as f:  # the same model saved by Keras 3
    f.attrs["keras_version"] = "3.3.3"

def qbits(x, bits, integer):  # quantized_bits, keep_negative
    m, mi = f32(2.0 ** (bits - 1)), f32(2.0 ** integer)
    return (mi * np.clip(np.round(x * m / mi), -m, m - 1) / m).astype(f32)
def norm(x, s, eps):  # y = (x - mean) * gamma * rsqrt(var + eps) + beta in float32
    inv = (f32(1) / np.sqrt(s["moving_variance"].astype(f32) + f32(eps))
           * s["gamma"].astype(f32)).astype(f32)
    return ((x - s["moving_mean"].astype(f32)) * inv + s["beta"].astype(f32)).astype(f32)
rec, x = kf.cifar_images(300)
def predict(eps_image):
    a = qbits(norm(x, w["bn_image"], eps_image), 6, 2).reshape(len(x), -1)
    k, b = qbits(w["dense"]["kernel"].astype(f32), 6, 0), qbits(w["dense"]["bias"].astype(f32), 6, 0)
    return norm((a.astype(np.float64) @ k + b).astype(f32), w["bn_vector"], 1e-6)
y2, y3 = predict(1.001e-5), predict(1e-6)
kf.write_labelled(rec, y2, f"{t}/pred2.bin", margin=1e-4)
kf.write_labelled(rec, y3, f"{t}/pred3.bin", margin=1e-4)
differ = int(np.sum(y2.argmax(1) != y3.argmax(1)))
print(f"the two epsilons disagree on {differ} of 300 predictions")
if differ < 30:
    sys.exit("the two epsilons barely differ here: this test could not tell them apart")
import qkeras_ref  # tools/: its Keras 2 emulation must raise the epsilon too
yr, _ = qkeras_ref.forward(qkeras_ref.load([f"{t}/bn.json", f"{t}/bn.h5"]), x)
bad = int(np.sum(yr.argmax(1) != y2.argmax(1)))
print(f"tools/qkeras_ref.py disagrees with the fused batch norm on {bad} of 300 predictions")
sys.exit(1 if bad else 0)
EOF

for v in 2 3; do
    stem=$([ $v = 2 ] && echo bn || echo bn3)
    tools/import_qkeras.py "$T/$stem.json" "$T/$stem.h5" --name bn --task classifier \
        -o "$T/native$v.h5" >"$T/import$v.log" 2>&1 || { fail "import (Keras $v)"; cat "$T/import$v.log" >&2; }
done
eps=$("$PY" -c "
import h5py, sys
for p in sys.argv[1:]:
    L = h5py.File(p, 'r')['layers']
    print(*[L[k].attrs['epsilon'] for k in L if L[k].attrs['kind'] in (b'batchnorm', 'batchnorm')])
" "$T/native2.h5" "$T/native3.h5" | tr '\n' ' ')
[ "$eps" = "1.001e-05 1e-06 1e-06 1e-06 " ] \
    && pass "stored epsilons: Keras 2 image 1.001e-5, vector 1e-6; Keras 3 both 1e-6" \
    || fail "stored epsilons (Keras 2 image, vector; Keras 3 image, vector): $eps"

agrees "$T/native2.h5" "$T/pred2.bin" \
    && pass "Keras 2: engine == fused batch norm (epsilon 1.001e-5) on every prediction ($AGREE_N images)" \
    || fail "Keras 2: engine disagrees with the fused batch norm: $AGREE_OUT"
agrees "$T/native3.h5" "$T/pred3.bin" \
    && pass "Keras 3: engine == batch norm with epsilon 1e-6 on every prediction ($AGREE_N images)" \
    || fail "Keras 3: engine disagrees with epsilon 1e-6: $AGREE_OUT"
finish
