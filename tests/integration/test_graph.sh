#!/bin/sh
# Must-show (graph models): a functional Keras/QKeras CNN with two residual Adds (a float
# batch-norm output plus a quantized shortcut, and two quantized_bits branches, one through
# a 1x1 shortcut convolution) and a Concatenate of two quantizers with different precisions
# is imported with each layer's inputs; upset's engine agrees with tools/qkeras_ref.py (numpy,
# reading the Keras files, executing the graph by layer names) on every image's prediction;
# single flips (oracle) and multi-bit trials on the stored-input path equal the whole
# network (--full) bit for bit, and several oracle bits equal the reference run with the
# flipped code written into the Keras weights. A layer that reads past a quantizer read by
# nobody stores its input as wide as its real producer needs, so flips there equal --full
# too. A batch norm right after a convolution it does not read is not fused into that
# convolution. Malformed graphs are refused by name.
. tests/integration/lib.sh

"$PY" - "$T" <<'EOF' || fail "building the Keras model and its reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
conv, relu = kf.qconv2d, kf.qrelu
q62 = lambda n: kf.qactivation(n, kf.quantized_bits(6, 2))
layers = [
    kf.input_layer(),
    conv("c1", 8), relu("r1"),
    conv("c2", 8),
    {"class_name": "BatchNormalization", "config": {"name": "bn2", "epsilon": 0.001}},
    {"class_name": "Add", "config": {"name": "add1"}},              # float32 + fixed
    relu("r2"),
    conv("c3", 8), q62("q3"),
    conv("c4", 8, k=1), q62("q4"),                                  # the shortcut branch
    {"class_name": "Add", "config": {"name": "add2"}},              # fixed + fixed
    relu("r3"),
    conv("c5", 4, k=1), relu("r5", integer=1),                      # frac 5 beside r3's 4
    {"class_name": "Concatenate", "config": {"name": "cat", "axis": -1}},
    {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": [4, 4],
                                               "strides": [4, 4], "padding": "valid"}},
    *kf.classifier_head(),
]
inbound = {"c1": ["in"], "r1": ["c1"], "c2": ["r1"], "bn2": ["c2"], "add1": ["bn2", "r1"],
           "r2": ["add1"], "c3": ["r2"], "q3": ["c3"], "c4": ["r2"], "q4": ["c4"],
           "add2": ["q3", "q4"], "r3": ["add2"], "c5": ["r3"], "r5": ["c5"],
           "cat": ["r5", "r3"], "pool": ["cat"], "flat": ["pool"], "dense": ["flat"],
           "softmax": ["dense"], "in": []}
rng = np.random.default_rng(5)
W = lambda *s: rng.normal(0, 0.3, s)
weights = {"c1": {"kernel": W(3, 3, 3, 8), "bias": W(8) / 3},
           "c2": {"kernel": W(3, 3, 8, 8), "bias": W(8) / 3},
           "bn2": {"gamma": 1 + W(8) / 3, "beta": W(8) / 3, "moving_mean": W(8),
                   "moving_variance": 0.5 + np.abs(W(8))},
           "c3": {"kernel": W(3, 3, 8, 8), "bias": W(8) / 3},
           "c4": {"kernel": W(1, 1, 8, 8), "bias": W(8) / 3},
           "c5": {"kernel": W(1, 1, 8, 4), "bias": W(4) / 3},
           "dense": {"kernel": rng.normal(0, 0.1, (8 * 8 * 12, 10)), "bias": W(10) / 3}}
kf.write_keras(f"{t}/g", "g", layers, weights, inbound)
kf.label_by_reference(f"{t}/g", f"{t}/pred.bin", margin=1e-6)
EOF

tools/import_qkeras.py "$T/g.json" "$T/g.h5" --name g --task classifier -o "$T/native.h5" \
    >"$T/import.log" 2>&1 || { fail "import"; cat "$T/import.log" >&2; }
"$PY" - "$T/native.h5" <<'EOP' || fail "the layers' inputs in the native file"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    L = [f["layers"][k] for k in sorted(f["layers"])]
    name = [g.attrs["name"].decode() if isinstance(g.attrs["name"], bytes) else g.attrs["name"] for g in L]
    idx = {n: i for i, n in enumerate(name)}
    ins = {n: list(g.attrs["inputs"]) for n, g in zip(name, L) if "inputs" in g.attrs}
want = {"add1": [idx["bn2"], idx["r1"]], "c4": [idx["r2"]], "add2": [idx["q3"], idx["q4"]],
        "cat": [idx["r5"], idx["r3"]]}
assert ins == want, (ins, want)
print("ok: add/concatenate and the branch starts list their inputs; every other layer reads the one before it")
EOP
"$UPSET" info "$T/native.h5" >"$T/info.txt" || fail "upset info"
grep -Eq "add2 +add .* <- q3, q4" "$T/info.txt" && grep -Eq "cat +concatenate .*\(32,32,4\) +\(32,32,12\) .* <- r5, r3" "$T/info.txt" \
    && pass "upset info lists a merge's inputs and the concatenated shape" \
    || fail "upset info: $(cat "$T/info.txt")"

agrees "$T/native.h5" "$T/pred.bin" \
    && pass "engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "engine disagrees with the reference: $AGREE_OUT"

# single flips over every faultable layer: the stored-input path (cuts of the graph) and
# the whole network agree; then the reference with the flipped code in the Keras file
cat >"$T/oracle.yaml" <<EOC
name: it-graph
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 40, correct_only: false}
kind: guided
guided: {order: random, budget: 400}
output: $T/oracle.h5
EOC
fast_equals_full 2 2 "$T/oracle.yaml" "$T/oracle.h5" "$T/full.h5" bits \
    "400 random bits over every layer: stored-input path == whole network"
cat >"$T/mb.yaml" <<EOC
name: it-graph-mb
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 40, correct_only: false}
kind: multibit
multibit: {trials: 16, flips: 3, protection: none}
output: $T/mb.h5
EOC
fast_equals_full 2 2 "$T/mb.yaml" "$T/mb.h5" "$T/mb_full.h5" trials \
    "multi-bit trials: stored-input path == whole network"

"$PY" - "$T" <<'EOP' || fail "oracle bits against the numpy reference"
import json, shutil, sys
import h5py
import numpy as np
sys.path.insert(0, "tools")
import qkeras_ref

t = sys.argv[1]
rec = np.fromfile(f"{t}/pred.bin", dtype=np.uint8).reshape(-1, 3073)[:40]
x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 256
label = rec[:, 0].astype(int)
with h5py.File(f"{t}/oracle.h5", "r") as f:
    b = f["bits"]
    rows = list(zip(b["layer"][:], b["weight"][:], b["bit_pos"][:], b["mispredicts"][:]))
with h5py.File(f"{t}/native.h5", "r") as f:
    L = [f["layers"][k] for k in sorted(f["layers"])]
    names = [g.attrs["name"].decode() if isinstance(g.attrs["name"], bytes) else g.attrs["name"] for g in L]
# the flips that changed something, and a few that did not, in every faultable layer
rng = np.random.default_rng(1)
pick = [r for r in rows if r[3] > 0][:6] + [r for r in rows if r[3] == 0][:3]
for layer in set(int(r[0]) for r in rows):
    pick += [r for r in rows if int(r[0]) == layer][:1]
checked = 0
for layer, w, pos, mis in pick:
    name = names[int(layer)]
    shutil.copy(f"{t}/g.h5", f"{t}/flip.h5")
    with h5py.File(f"{t}/flip.h5", "r+") as f:
        d = f[name][f"{name}/kernel:0"]
        k = d[:].astype(np.float32)
        flat = k.reshape(-1)
        # quantized_bits(6, 0): code = round(w * 32) clipped to [-32, 31], two's complement
        code = int(np.clip(np.rint(flat[w] * 32), -32, 31)) & 63
        code ^= 1 << (5 - int(pos))
        flat[w] = (code - 64 if code >= 32 else code) / 32
        d[...] = k
    net = qkeras_ref.load([f"{t}/g.json", f"{t}/flip.h5"])
    y, _ = qkeras_ref.forward(net, x)
    want = int((np.argmax(y, axis=1) != label).sum())
    assert want == int(mis), f"{name} weight {w} bit {pos}: reference {want}, upset {mis}"
    checked += 1
print(f"ok: {checked} oracle bits (every faultable layer) equal the reference's mispredicts with the flipped code")
EOP

# upset rank on the graph: every bit ranked once, the same at -np 1 and 2, and the loss it
# differentiates (the quantized forward, as the engine runs it) equals the reference's mean
# cross-entropy over the same images
cat >"$T/rank.yaml" <<EOC
name: it-graph-rank
model: $T/native.h5
data: {format: cifar10, files: [$T/pred.bin], count: 8, correct_only: false}
kind: rank
rank: {metric: gradient, samples: 8}
output: $T/rank.h5
EOC
for np in 1 2; do
    mpi $np rank "$T/rank.yaml" --quiet --force --output "$T/rank_$np.h5" || fail "upset rank -np $np on a graph"
done
"$PY" - "$T" <<'EOP' || fail "graph ranking"
import sys
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture
t = sys.argv[1]
loss, want, n = keras_fixture.check_rank(f"{t}/rank_1.h5", f"{t}/g", f"{t}/pred.bin", 8,
                                         f"{t}/rank_2.h5")
print(f"ok: upset rank on a graph: {n} bits ranked once, -np 1 == -np 2; loss {loss:.8f} == "
      f"the reference's cross-entropy {want:.8f}")
EOP

# malformed graphs in the native file, each refused naming the layer and the field
"$PY" - "$T" <<'EOP' || fail "writing malformed graphs"
import shutil, sys, h5py, numpy as np
t = sys.argv[1]
def variant(tag, edit):
    shutil.copy(f"{t}/native.h5", f"{t}/bad_{tag}.h5")
    with h5py.File(f"{t}/bad_{tag}.h5", "r+") as f:
        L = [f["layers"][k] for k in sorted(f["layers"])]
        by = {(g.attrs["name"].decode() if isinstance(g.attrs["name"], bytes) else g.attrs["name"]): g for g in L}
        edit(by)
variant("later", lambda by: by["add2"].attrs.__setitem__("inputs", np.array([9, 30], np.int32)))
variant("one", lambda by: by["add2"].attrs.__setitem__("inputs", np.array([9], np.int32)))
variant("two", lambda by: by["c3"].attrs.__setitem__("inputs", np.array([4, 5], np.int32)))
variant("shape", lambda by: by["cat"].attrs.__setitem__("out_shape", np.array([32, 32, 11], np.int32)))
variant("input", lambda by: by["c3"].attrs.__setitem__("inputs", np.array([-1], np.int32)))
EOP
for case in "later:inputs\[1\] = 30 is not an earlier layer" "one:add needs at least two layers in 'inputs'" \
            "two:a conv2d layer reads one input, 'inputs' lists 2" \
            "shape:the inputs have 12 channels in all, out_shape has 11" \
            "input:inputs\[0\] = -1 is not an earlier layer"; do
    tag=${case%%:*} msg=${case#*:}
    "$UPSET" info "$T/bad_$tag.h5" >"$T/bad.log" 2>&1 && fail "$tag: accepted"
    grep -q "bad_$tag.h5: layer /layers/L[0-9]* (.*): $msg" "$T/bad.log" \
        && pass "refused ($tag): $msg" || fail "$tag: $(cat "$T/bad.log")"
done

# the importer refuses what the engine cannot follow, by layer
"$PY" - "$T" <<'EOP' || fail "importer refusals"
import json, subprocess, sys
t = sys.argv[1]
cfg = json.load(open(f"{t}/g.json"))
def refused(tag, edit, msg):
    c = json.loads(json.dumps(cfg))
    edit({L["name"]: L for L in c["config"]["layers"]})
    json.dump(c, open(f"{t}/{tag}.json", "w"))
    r = subprocess.run(["tools/import_qkeras.py", f"{t}/{tag}.json", f"{t}/g.h5", "--name", "x",
                        "--task", "classifier", "-o", f"{t}/{tag}.h5"], capture_output=True, text=True)
    assert r.returncode != 0 and msg in r.stderr, (tag, r.returncode, r.stderr)
    print(f"ok: importer refuses {tag}: {msg}")
def axis(by): by["cat"]["config"]["axis"] = 1
def from_input(by): by["add2"]["inbound_nodes"] = [[["in", 0, 0, {}], ["q4", 0, 0, {}]]]
def later(by): by["add1"]["inbound_nodes"] = [[["bn2", 0, 0, {}], ["r3", 0, 0, {}]]]
refused("axis", axis, "concatenation over axis 1 (only the last, the channels)")
refused("from_input", from_input, "layer 'add2' reads the model input: only the first layer may")
refused("later", later, "layer 'add1' reads ['r3'] before they are defined")
def wide_integer(by): by["r1"]["config"]["activation"]["config"]["integer"] = 7
refused("wide_integer", wide_integer, "quantized_relu(6,7): integer outside -24..6")
EOP
# A cut layer whose input is not the layer before it: quantizers read by nobody (2-bit, so
# a store sized from them would be int16) sit between conv c1 and the 1x1 conv c2 that
# reads it, and between c2 and the flatten that reads it; the stored inputs of c2 and of
# the dense layer after the flatten hold c1's and c2's wide pre-activations, and single
# flips on those paths (c1's bias bits, all of c2's, the first 720 of the dense layer's)
# equal the whole network
"$PY" - "$T" <<'EOF' || fail "building the model with unread quantizers"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf

t = sys.argv[1]
dead = lambda n: kf.qrelu(n, bits=2, integer=0)
layers = [kf.input_layer(), kf.qconv2d("c1", 8, strides=2), dead("dead1"),
          kf.qconv2d("c2", 8, k=1), dead("dead2"), *kf.classifier_head()]
inbound = {"in": [], "c1": ["in"], "dead1": ["c1"], "c2": ["c1"], "dead2": ["c2"],
           "flat": ["c2"], "dense": ["flat"], "softmax": ["dense"]}
rng = np.random.default_rng(9)
W = lambda *s: rng.normal(0, 0.6, s)
weights = {"c1": {"kernel": W(3, 3, 3, 8), "bias": W(8) / 3},
           "c2": {"kernel": W(1, 1, 8, 8), "bias": W(8) / 3},
           "dense": {"kernel": rng.normal(0, 0.1, (16 * 16 * 8, 10)), "bias": W(10) / 3}}
kf.write_keras(f"{t}/cut", "cut", layers, weights, inbound)
kf.label_by_reference(f"{t}/cut", f"{t}/cut_pred.bin", 60, margin=1e-6)
EOF
tools/import_qkeras.py "$T/cut.json" "$T/cut.h5" --name cut --task classifier -o "$T/cut_native.h5" \
    >"$T/cut_import.log" 2>&1 || { fail "import (unread quantizers)"; cat "$T/cut_import.log" >&2; }
"$UPSET" info "$T/cut_native.h5" >"$T/cut_info.txt" || fail "upset info (unread quantizers)"
grep -Eq "^ +2 +c2 +conv2d .* <- c1$" "$T/cut_info.txt" && grep -Eq "^ +4 +flat +flatten .* <- c2$" "$T/cut_info.txt" \
    && pass "c2 reads c1 and the flatten reads c2 past a quantizer read by nobody" \
    || fail "the layers' inputs: $(cat "$T/cut_info.txt")"
agrees "$T/cut_native.h5" "$T/cut_pred.bin" \
    && pass "unread quantizers: engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "unread quantizers: engine disagrees with the reference: $AGREE_OUT"
cat >"$T/cut.yaml" <<EOC
name: it-graph-cut
model: $T/cut_native.h5
data: {format: cifar10, files: [$T/cut_pred.bin], count: 40, correct_only: false}
kind: oracle
include_bias: true
oracle: {first_bit: 1296, bit_count: 1200}
output: $T/cut_oracle.h5
EOC
fast_equals_full 2 2 "$T/cut.yaml" "$T/cut_oracle.h5" "$T/cut_full.h5" bits \
    "c2's bits and dense bits, inputs stored past unread quantizers: == whole network"
flips_mispredict "$T/cut_oracle.h5"
# A batch norm placed right after a convolution it does not read (bn reads cm, the layer
# before cs): the convolution's row-fused batch norm and quantizer must not take it, so the
# default kernels agree with the reference (they applied bn to cs's output: 69 of 100)
"$PY" - "$T" <<'EOF' || fail "building the model with a batch norm after a layer it does not read"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture as kf
t = sys.argv[1]
layers = [kf.input_layer(), kf.qconv2d("c1", 8), kf.qrelu("r1"),
          kf.qconv2d("cm", 8), kf.qconv2d("cs", 8, k=1),
          {"class_name": "BatchNormalization", "config": {"name": "bn", "epsilon": 0.001}},
          kf.qrelu("q"), kf.qactivation("qs", kf.quantized_bits(6, 2)),
          {"class_name": "Add", "config": {"name": "add"}}, kf.qrelu("r3"),
          {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": [4, 4],
                                                     "strides": [4, 4], "padding": "valid"}},
          *kf.classifier_head()]
inbound = {"in": [], "c1": ["in"], "r1": ["c1"], "cm": ["r1"], "cs": ["r1"], "bn": ["cm"],
           "q": ["bn"], "qs": ["cs"], "add": ["q", "qs"], "r3": ["add"], "pool": ["r3"],
           "flat": ["pool"], "dense": ["flat"], "softmax": ["dense"]}
rng = np.random.default_rng(5)
W = lambda *s: rng.normal(0, 0.3, s)
weights = {"c1": {"kernel": W(3, 3, 3, 8), "bias": W(8) / 3},
           "cm": {"kernel": W(3, 3, 8, 8), "bias": W(8) / 3},
           "cs": {"kernel": W(1, 1, 8, 8), "bias": W(8) / 3},
           "bn": {"gamma": 1 + W(8) / 3, "beta": W(8) / 3, "moving_mean": W(8),
                  "moving_variance": 0.5 + np.abs(W(8))},
           "dense": {"kernel": rng.normal(0, 0.1, (8 * 8 * 8, 10)), "bias": W(10) / 3}}
kf.write_keras(f"{t}/bnx", "bnx", layers, weights, inbound)
kf.label_by_reference(f"{t}/bnx", f"{t}/bnx_pred.bin", 100, margin=1e-6)
EOF
tools/import_qkeras.py "$T/bnx.json" "$T/bnx.h5" --name bnx --task classifier -o "$T/bnx_native.h5" \
    >"$T/bnx_import.log" 2>&1 || { fail "import (batch norm after a layer it does not read)"; cat "$T/bnx_import.log" >&2; }
for kernels in auto wide; do
    UPSET_KERNEL=$kernels agrees "$T/bnx_native.h5" "$T/bnx_pred.bin" \
        && pass "batch norm after a layer it does not read, $kernels kernels: engine == numpy reference ($AGREE_N images)" \
        || fail "batch norm after a layer it does not read, $kernels kernels: $AGREE_OUT"
done
# The bundled QKeras ResNet with skip connections (models/SOURCES.md): re-importing the
# committed Keras file gives the committed model; upset agrees with the reference on every
# bundled image's prediction; single flips in a shortcut convolution (stored input at a cut,
# settling at the next), in the last dense layer (delta path in the chain after the last
# Add) and multi-bit trials equal the whole network
tools/import_qkeras.py models/keras/resnet_v1_eembc_quantized_baseline.h5 --name cifar10_resnet_baseline \
    --task classifier -o "$T/resnet.h5" >"$T/import.log" 2>&1 || fail "import of the bundled ResNet"
same_data "$T/resnet.h5" models/cifar10_resnet_baseline.h5 "" \
    && pass "re-import of models/keras/resnet_v1_eembc_quantized_baseline.h5 == models/cifar10_resnet_baseline.h5" \
    || fail "the bundled ResNet differs from its re-import"
"$PY" - "$T" <<'EOP' || fail "ResNet reference predictions"
import sys
import numpy as np
sys.path[:0] = ["tools", "tests/integration"]
import keras_fixture, qkeras_ref
rec, x = keras_fixture.cifar_images(1017)
y, _ = qkeras_ref.forward(qkeras_ref.load(["models/keras/resnet_v1_eembc_quantized_baseline.h5"]), x)
acc = (np.argmax(y, axis=1) == rec[:, 0]).mean()
keep, _ = keras_fixture.write_labelled(rec, y, f"{sys.argv[1]}/resnet_pred.bin", margin=1e-6)
print(f"reference: accuracy {acc:.4f} on the 1,017 bundled test images; {keep.sum()} without a near tie")
EOP
agrees models/cifar10_resnet_baseline.h5 "$T/resnet_pred.bin" \
    && pass "ResNet: engine == numpy reference on every prediction ($AGREE_N images)" \
    || fail "ResNet: engine disagrees with the reference: $AGREE_OUT"
C10='data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], labels: data/cifar10/test_labels_10000.bin, count: 12}'
for spec in "q_conv2d:oracle:{first_bit: 77184, bit_count: 64}" "q_dense:oracle:{first_bit: 613760, bit_count: 400}" \
            "trials:multibit:{trials: 6, flips: 4, protection: none}"; do
    tag=${spec%%:*} rest=${spec#*:}
    kind=${rest%%:*} set=${rest#*:}
    cat >"$T/rn.yaml" <<EOC
name: it-resnet-$tag
model: models/cifar10_resnet_baseline.h5
$C10
kind: $kind
$kind: $set
output: $T/rn.h5
EOC
    group=bits; [ "$kind" = multibit ] && group=trials
    fast_equals_full 2 2 "$T/rn.yaml" "$T/rn.h5" "$T/rn_full.h5" $group \
        "ResNet $tag: identical to the whole network" --force
done
finish
