"""What the layer tests share: the configs of the layers they build models from (quantizers,
QConv2D, quantized ReLU, the classifier head), writing a small Keras model (JSON config +
weights HDF5, as Keras saves them), the bundled CIFAR-10 images as upset reads them, and
labelling them with a reference's predictions (ties left out: they have no single right
answer)."""
import json

import h5py
import numpy as np


def write_keras(stem, name, layers, weights, inbound=None):
    """STEM.json (a Sequential config; with inbound = {layer: [names it reads]}, a
    Functional one, Keras 2's inbound_nodes, the last layer the output) and STEM.h5
    (float32 weights, Keras's layout)."""
    if inbound is None:
        cfg = {"class_name": "Sequential", "config": {"name": name, "layers": layers}}
    else:
        graph = []
        for L in layers:
            n = L["config"]["name"]
            node = [[[src, 0, 0, {}] for src in inbound.get(n, [])]] if n in inbound else []
            graph.append(dict(L, name=n, inbound_nodes=node))
        first, last = layers[0]["config"]["name"], layers[-1]["config"]["name"]
        cfg = {"class_name": "Functional",
               "config": {"name": name, "layers": graph, "input_layers": [[first, 0, 0]],
                          "output_layers": [[last, 0, 0]]}}
    json.dump(cfg, open(stem + ".json", "w"))
    with h5py.File(stem + ".h5", "w") as f:
        names = [L["config"]["name"] for L in layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for n in names:
            g = f.create_group(n)
            ws = weights.get(n, {})
            g.attrs["weight_names"] = np.array([f"{n}/{k}:0".encode() for k in ws])
            for k, v in ws.items():
                g.create_dataset(f"{n}/{k}:0", data=v.astype(np.float32))


def quantized_bits(bits=6, integer=0, alpha=1):
    """A QKeras quantized_bits config (signed, not symmetric)."""
    return {"class_name": "quantized_bits",
            "config": {"bits": bits, "integer": integer, "symmetric": 0, "alpha": alpha,
                       "keep_negative": True}}


Q6 = quantized_bits(6, 0)


def qactivation(name, quantizer):
    """A QActivation layer applying quantizer (a config as quantized_bits gives)."""
    return {"class_name": "QActivation", "config": {"name": name, "activation": quantizer}}


def qrelu(name, bits=6, integer=2, **extra):
    """A QActivation layer with quantized_relu(bits, integer); extra config such as
    negative_slope goes into the quantizer's config."""
    return qactivation(name, {"class_name": "quantized_relu",
                              "config": dict({"bits": bits, "integer": integer}, **extra)})


def input_layer(shape=(32, 32, 3), name="in"):
    return {"class_name": "InputLayer",
            "config": {"name": name, "batch_input_shape": [None, *shape]}}


def qconv2d(name, filters, k=3, strides=1, padding="same", quantizer=Q6):
    """A QConv2D with a k x k kernel and bias, both quantized by quantizer."""
    return {"class_name": "QConv2D", "config": {
        "name": name, "filters": filters, "kernel_size": [k, k], "strides": [strides, strides],
        "padding": padding, "activation": "linear", "use_bias": True,
        "kernel_quantizer": quantizer, "bias_quantizer": quantizer}}


def classifier_head(units=10, quantizer=Q6, flatten="flat"):
    """What ends the layer tests' classifiers: Flatten (unless flatten is None), a QDense
    of units outputs, softmax."""
    head = [{"class_name": "Flatten", "config": {"name": flatten}}] if flatten else []
    return head + [
        {"class_name": "QDense", "config": {
            "name": "dense", "units": units, "activation": "linear", "use_bias": True,
            "kernel_quantizer": quantizer, "bias_quantizer": quantizer}},
        {"class_name": "Activation", "config": {"name": "softmax", "activation": "softmax"}}]


def cifar_images(n):
    """The first n bundled test records (label byte + CHW pixels) and their inputs as upset
    reads them: pixel / 256, (n, 32, 32, 3)."""
    rec = np.fromfile("data/cifar10/test_batch_first1017.bin", dtype=np.uint8)[:n * 3073]
    rec = rec.reshape(n, 3073)
    x = rec[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 256
    return rec, x


def write_labelled(rec, y, path, margin=0.0):
    """The records whose top output beats the second by more than a factor (1 + margin),
    labelled with the reference's prediction, to path; returns (kept, predictions)."""
    pred = np.argmax(y, axis=1)
    top2 = np.sort(y, axis=1)[:, -2:]
    keep = top2[:, 1] > top2[:, 0] * (1 + margin)
    out = rec[keep].copy()
    out[:, 0] = pred[keep]
    out.tofile(path)
    return keep, pred


def label_by_reference(stem, path, n=300, margin=0.0, keep_outputs=False):
    """The first n bundled CIFAR-10 records labelled with the predictions of the Keras model
    STEM.json/STEM.h5 (tools/qkeras_ref.py), written to path as write_labelled does; prints
    how many were kept. Returns (kept, predictions), and the layers' outputs when
    keep_outputs."""
    import qkeras_ref
    rec, x = cifar_images(n)
    y, outs = qkeras_ref.forward(qkeras_ref.load([stem + ".json", stem + ".h5"]), x,
                                 keep_outputs=keep_outputs)
    keep, pred = write_labelled(rec, y, path, margin)
    tie = "a tie" if margin == 0 else "a near tie"
    print(f"reference: {keep.sum()} images without {tie}, {len(set(pred[keep]))} classes")
    return (keep, pred, outs) if keep_outputs else (keep, pred)


def reference_loss(stem, labelled, n):
    """Mean cross-entropy of the Keras model STEM.json/STEM.h5 (tools/qkeras_ref.py) over
    the first n records of the labelled CIFAR file: the loss `upset rank` differentiates."""
    import qkeras_ref
    rec = np.fromfile(labelled, dtype=np.uint8).reshape(-1, 3073)[:n]
    x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 256
    y, _ = qkeras_ref.forward(qkeras_ref.load([stem + ".json", stem + ".h5"]), x)
    p = y[np.arange(len(rec)), rec[:, 0].astype(int)].astype(np.float64)
    return float(np.mean(-np.log(p)))


def check_rank(rank, stem, labelled, n, twin=None):
    """What the `upset rank` tests assert of a ranking file: every bit ranked once, the
    gradient equal to TWIN's (the same ranking at another rank count) when given, and the
    loss equal to the reference's mean cross-entropy over the first n labelled records
    (1e-5 relative). Returns (loss, the reference's loss, bits ranked)."""
    import h5py
    want = reference_loss(stem, labelled, n)
    with h5py.File(rank, "r") as a:
        loss, bits = float(a.attrs["loss"]), a["ranking/bit"][:]
        n_bits = int(a.attrs["n_fault_bits"])
        if twin:
            with h5py.File(twin, "r") as b:
                assert (a["params/gradient"][:] == b["params/gradient"][:]).all(), \
                    f"{rank} and {twin} differ"
    assert sorted(bits) == list(range(n_bits)), "each bit once"
    assert abs(loss - want) <= 1e-5 * want, (loss, want)
    return loss, want, n_bits


def digits_reference():
    """chisel4ml's digit model in tools/qkeras_ref.py (its original Keras files) and the
    bundled digits: (net, x, y)."""
    import qkeras_ref
    net = qkeras_ref.load(["models/keras/chisel4ml_digits/sint_digit_model.json",
                           "models/keras/chisel4ml_digits/sint_digit_model.h5"])
    with h5py.File("data/digits/digits.h5", "r") as f:
        return net, f["x"][:], f["y"][:]
