#!/bin/sh
# Must-show (hostile model files): a model file whose numbers would be read wrongly is
# refused with a message naming the file, layer and dataset, never evaluated. Each case
# is a bundled model edited with h5py as a careless converter or bit rot would.
. tests/integration/lib.sh

# make NAME SOURCE PYTHON: copies SOURCE to $T/NAME.h5 and applies the edit (f = the file)
make_model() {
    cp "$2" "$T/$1.h5"
    "$PY" - "$T/$1.h5" "$3" <<'EOF' || fail "building $1"
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    def layer(name):
        for g in f["layers"].values():
            n = g.attrs["name"]
            if (n.decode() if isinstance(n, bytes) else n) == name:
                return g
        raise KeyError(name)
    def replace(g, key, data, **kw):
        del g[key]
        g.create_dataset(key, data=data, **kw)
    exec(sys.argv[2])
EOF
}
# refused NAME PATTERN CMD...: CMD fails and its message matches PATTERN
refused() {
    name=$1 pattern=$2; shift 2
    if "$@" >"$T/$name.log" 2>&1; then
        fail "$name: accepted"
    elif grep -q -- "$pattern" "$T/$name.log"; then
        pass "$name: $(head -c 200 "$T/$name.log" | head -n 1)"
    else
        fail "$name: unclear message: $(cat "$T/$name.log")"
    fi
}
HG="--data data/hgcal/ttbar_0PU.csv --count 50"
CF="--data data/cifar10/test_batch_first1017.bin --format cifar10 --count 50"
M=models/econt_medium.h5
C=models/cifar10.h5

# A dense kernel stored transposed: same element count, wrong numbers
make_model transposed $M "g = layer('encoded_vector'); k = g['kernel'][:]; c = g['kernel_code'][:]
replace(g, 'kernel', k.T.copy()); replace(g, 'kernel_code', c.T.copy())"
refused transposed "dataset 'kernel' has shape (16, 128) but the layer needs (128, 16)" \
    "$UPSET" eval --model "$T/transposed.h5" $HG

# Codes in a float dataset, one not an integer (would be truncated)
make_model float_codes $M "g = layer('encoded_vector'); c = g['kernel_code'][:].astype(np.float64)
c.flat[3] += 0.5; replace(g, 'kernel_code', c)"
refused float_codes "'kernel_code' must hold integers" "$UPSET" info "$T/float_codes.h5"

# A NaN weight in the float decoder
make_model nan_decoder $M "g = [g for g in f['layers'].values() if g.attrs['part'] in (b'decoder', 'decoder') and 'kernel' in g][0]
k = g['kernel'][:]; k.flat[7] = np.nan; replace(g, 'kernel', k)"
refused nan_decoder "dataset 'kernel' holds NaN at flat index 7" "$UPSET" info "$T/nan_decoder.h5"

# A negative batch-norm variance
make_model negative_variance $C "g = [g for g in f['layers'].values() if 'moving_variance' in g][0]
v = g['moving_variance'][:]; v[2] = -0.5; replace(g, 'moving_variance', v)"
refused negative_variance "moving_variance\[2\] = -0.5 is negative" "$UPSET" info "$T/negative_variance.h5"

# A classifier with 5 outputs evaluated on 10-class labels
make_model five_classes $C "g = list(f['layers'].values())[-1]
while g.attrs['kind'] not in (b'dense', 'dense'):
    g = list(f['layers'].values())[list(f['layers'].values()).index(g) - 1]
for key in ('kernel', 'kernel_code'):
    replace(g, key, g[key][:, :5].copy())
for key in ('bias', 'bias_code'):
    replace(g, key, g[key][:5].copy())
for h in f['layers'].values():
    if list(h.attrs['out_shape']) == [10]: h.attrs['out_shape'] = np.array([5], np.int32)
    if list(h.attrs['in_shape']) == [10]: h.attrs['in_shape'] = np.array([5], np.int32)"
"$UPSET" info "$T/five_classes.h5" >/dev/null 2>&1 || fail "five_classes: the edited model itself should load"
refused five_classes "labels go up to class 9 but classifier .* has 5 outputs" \
    "$UPSET" eval --model "$T/five_classes.h5" $CF
cat > "$T/five.yaml" <<EOC
name: five
model: $T/five_classes.h5
data: {format: cifar10, files: [data/cifar10/test_batch_first1017.bin], count: 20}
kind: oracle
oracle: {first_bit: 0, bit_count: 10}
output: $T/five_out.h5
EOC
refused five_classes_run "has 5 outputs" mpi 1 run "$T/five.yaml" --quiet
[ -e "$T/five_out.h5" ] && fail "five_classes_run: a results file was written"

# A root input_shape contradicting the layers (same element count)
make_model input_shape $M "f.attrs['input_shape'] = np.array([4, 16, 1], np.int32)"
refused input_shape "in_shape (8, 8, 1) is not what the model's input_shape gives (4, 16, 1)" \
    "$UPSET" info "$T/input_shape.h5"

# Variable-length UTF-8 strings (h5py's default for a Python str) are read, so the real
# problem is reported rather than "missing or unreadable"
make_model vlen_ok $M "g = list(f['layers'].values())[0]; del g.attrs['name']; g.attrs['name'] = 'input_é'"
"$UPSET" info "$T/vlen_ok.h5" >"$T/vlen_ok.log" 2>&1 && grep -q "input_é" "$T/vlen_ok.log" \
    && pass "vlen UTF-8 layer name read" || fail "vlen UTF-8 name: $(cat "$T/vlen_ok.log")"
make_model vlen_kind $M "g = list(f['layers'].values())[1]; del g.attrs['kind']; g.attrs['kind'] = 'separable_conv2d'"
refused vlen_kind "unsupported layer kind 'separable_conv2d' (supported: quant_input, conv2d" "$UPSET" info "$T/vlen_kind.h5"

# Corrupt chunk dimensions (libhdf5 itself crashes reading them): refused before reading.
# The dataset is written with a chunk shape found nowhere else, whose bytes are then patched.
make_model chunks $M "g = layer('encoded_vector'); c = g['kernel_code'][:]
replace(g, 'kernel_code', c, chunks=(113, 13))"
"$PY" - "$T/chunks.h5" <<'EOF' || fail "patching the chunk dimensions"
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
pat = struct.pack("<III", 113, 13, 4)  # layout message: chunk dims then the element size
i = b.find(pat)
assert i >= 0 and b.find(pat, i + 1) < 0, "chunk dims not found once"
b[i:i + 8] = struct.pack("<II", 113, 60000)
open(sys.argv[1], "wb").write(b)
EOF
refused chunks "corrupt chunk dimensions" "$UPSET" info "$T/chunks.h5"

# An elementwise layer whose out_shape differs from its in_shape (found by fuzz_model:
# the engine read past its buffer); tests/fuzz/regressions/model-activation-out-shape
make_model activation_shape $M "g = layer('decoder_output'); g.attrs['out_shape'] = np.array([1, 97], np.int32)"
refused activation_shape "activation layers keep their shape, but in_shape (8, 8, 1) and out_shape (1, 1, 97) differ" \
    "$UPSET" info "$T/activation_shape.h5"

# Shape attributes asking for a huge kernel (found by fuzz_model: 62 GB were allocated
# before the dataset was looked at); tests/fuzz/regressions/model-huge-out-shape
make_model huge_shape $C "g = list(f['layers'].values())[16]; g.attrs['out_shape'] = np.array([1000000], np.int32)
f['layers/L017'].attrs['in_shape'] = np.array([1000000], np.int32); f['layers/L017'].attrs['out_shape'] = np.array([1000000], np.int32)"
refused huge_shape "dataset 'kernel' has shape (2048, 10) but the layer needs (2048, 1000000)" \
    "$UPSET" info "$T/huge_shape.h5"

# A string attribute holding an array (a converter storing a list): reading it as one string
# wrote every element into one string's room
make_model name_list $M "g = layer('encoded_vector'); del g.attrs['name']; g.attrs['name'] = ['encoded_vector'] * 4"
refused name_list "attribute 'name' holds 4 strings, expected one" "$UPSET" info "$T/name_list.h5"
make_model name_fixed_list $M "g = layer('encoded_vector'); del g.attrs['name']; g.attrs['name'] = np.array([b'ab', b'cd'])"
refused name_fixed_list "attribute 'name' holds 2 strings, expected one" "$UPSET" info "$T/name_fixed_list.h5"

# An integer field stored as a fractional float (HDF5 would truncate 6.5 to 6)
# A signed 1-bit weight quantizer: QKeras makes it a sign function, not codes {-1, 0}
make_model signed_1bit $M "g = layer('encoded_vector'); g.attrs['kernel_q_bits'] = 1
replace(g, 'kernel_code', np.where(g['kernel_code'][:] < 0, -1, 0).astype(np.int32))"
refused signed_1bit "(encoded_vector): quantizer kernel_q_bits=1 with kernel_q_keep_negative=1 is not supported" \
    "$UPSET" info "$T/signed_1bit.h5"

make_model bits_float $M "g = layer('encoded_vector'); g.attrs['kernel_q_bits'] = np.float64(6.5)"
refused bits_float "attribute 'kernel_q_bits' must hold integers, has 6.5" "$UPSET" info "$T/bits_float.h5"

# Kernel axes of zero entries (a division by zero in eval) or of 2^31 (wrapped int)
make_model kernel_empty $M "g = layer('conv2d_0_m'); replace(g, 'kernel', np.zeros((0, 3, 1, 8), np.float32))
replace(g, 'kernel_code', np.zeros((0, 3, 1, 8), np.int32))"
refused kernel_empty "kernel axis 0 has 0 entries, expected 1..4096" "$UPSET" info "$T/kernel_empty.h5"
make_model kernel_huge $M "g = layer('conv2d_0_m'); del g['kernel']
g.create_dataset('kernel', shape=(2**31, 3, 1, 8), dtype='f4', chunks=(1, 3, 1, 8))"
refused kernel_huge "kernel axis 0 has 2147483648 entries" "$UPSET" info "$T/kernel_huge.h5"

# A transposed convolution whose output height (2^20 rows x stride 4096) passes int's range:
# it wrapped to 0 (and with other sizes to an accepted wrong shape)
make_model convt_wide $M "
for k in list(f['layers']): del f['layers'][k]
f.attrs['n_layers'] = np.int32(1); f.attrs['task'] = np.bytes_('encoder')
f.attrs['input_shape'] = np.array([1048576, 1, 1], np.int32)
g = f['layers'].create_group('L000')
for k, v in dict(kind='conv2d_transpose', name='wide', part='main', padding='same', activation='linear').items():
    g.attrs[k] = np.bytes_(v)
for k in ('faultable', 'use_bias', 'quantized'): g.attrs[k] = np.int32(0)
g.attrs['in_shape'] = np.array([1048576, 1, 1], np.int32); g.attrs['out_shape'] = np.array([1, 1, 1], np.int32)
g.attrs['strides'] = np.array([4096, 1], np.int32)
g.create_dataset('kernel', data=np.zeros((1, 1, 1, 1), np.float32))"
refused convt_wide "stride 4096 gives (4294967296,1,1)" "$UPSET" info "$T/convt_wide.h5"

# Quantizers whose grids lie so far apart that aligning a sum to the bias's grid passes
# int64 (24-bit inputs and weights, a bias on a 2^-47 grid): eval gave -48,576 for
# 1,000 x 1,000. And a precision past 60 bits, which leaked the engine's buffers.
make_model align_overflow $M "
for k in list(f['layers']): del f['layers'][k]
f.attrs['n_layers'] = np.int32(2); f.attrs['task'] = np.bytes_('encoder')
f.attrs['input_shape'] = np.array([1], np.int32)
def group(i, kind, **attrs):
    g = f['layers'].create_group('L%03d' % i)
    for k, v in dict(kind=kind, name='l%d' % i, part='main', activation='linear').items():
        g.attrs[k] = np.bytes_(v)
    g.attrs['faultable'] = np.int32(i == 1)
    g.attrs['in_shape'] = g.attrs['out_shape'] = np.array([1], np.int32)
    for k, v in attrs.items(): g.attrs[k] = np.int32(v)
    return g
group(0, 'quant_input', q_bits=24, q_integer=23, q_keep_negative=1)
g = group(1, 'dense', use_bias=1, quantized=1, kernel_q_bits=24, kernel_q_integer=23,
          kernel_q_keep_negative=1, bias_q_bits=24, bias_q_integer=-24, bias_q_keep_negative=1)
g.create_dataset('kernel', data=np.array([[1000]], np.float32))
g.create_dataset('kernel_code', data=np.array([[1000]], np.int32))
g.create_dataset('bias', data=np.array([2.0 ** -47], np.float32))
g.create_dataset('bias_code', data=np.array([1], np.int32))"
refused align_overflow "layer l1: its fixed-point values may reach 2^97, beyond int64" \
    "$UPSET" info "$T/align_overflow.h5"
cp "$T/align_overflow.h5" "$T/frac_wide.h5"
"$PY" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f['layers/L000'].attrs['q_integer'] = -24; f['layers/L001'].attrs['kernel_q_integer'] = -24" "$T/frac_wide.h5"
refused frac_wide "layer l1: fixed-point precision 94 bits is outside -60..60" "$UPSET" info "$T/frac_wide.h5"

# And the unedited models still load
for m in models/*.h5; do "$UPSET" info "$m" >/dev/null 2>&1 || fail "bundled $m refused"; done
# auto_po2 shifts: negative, too wide for the codes, one per channel missing; a bias_add
# without its bias (chisel4ml's digit model, whose dense layer has shifts)
D=models/chisel4ml_digits.h5
DG="--data data/digits/digits.h5"
make_model shift_negative $D "g = layer('q_dense'); s = g['kernel_shift'][:]; s[3] = -1; replace(g, 'kernel_shift', s)"
refused shift_negative "q_dense.*kernel_shift\[3\] = -1 is outside 0..20" "$UPSET" eval --model "$T/shift_negative.h5" $DG
make_model shift_wide $D "g = layer('q_dense'); s = g['kernel_shift'][:]; s[9] = 21; replace(g, 'kernel_shift', s)"
refused shift_wide "kernel_shift\[9\] = 21 is outside 0..20 (the shifted 4-bit codes must fit 24 bits)" \
    "$UPSET" info "$T/shift_wide.h5"
make_model shift_short $D "g = layer('q_dense'); replace(g, 'kernel_shift', g['kernel_shift'][:9].copy())"
refused shift_short "dataset 'kernel_shift' has shape (9,) but the layer needs (10,)" "$UPSET" info "$T/shift_short.h5"
make_model bias_add_missing $D "del layer('q_depthwise_conv2d_permuted/bias')['bias']"
refused bias_add_missing "q_depthwise_conv2d_permuted/bias.*bias" "$UPSET" info "$T/bias_add_missing.h5"

finish
