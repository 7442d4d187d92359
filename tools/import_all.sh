#!/bin/sh
# Converts every bundled Keras/QKeras model from ../shared/data into models/*.h5
# (upset's native format) and checks the faultable kernel bit counts against the
# FKeras paper. Run from anywhere; paths are relative to the repository root.
# The converted models are committed, so a fresh clone never needs this script.
set -eu

cd "$(dirname "$0")/.."
D=../shared/data
PY=/usr/bin/python3
if [ ! -d "$D" ]; then
    echo "import_all.sh: $D (the shared source data, relative to the repository root) is" \
         "absent; the converted models are already in models/" >&2
    exit 1
fi
mkdir -p models

imp() {
    "$PY" tools/import_qkeras.py --source-root "$D" "$@"
}

# autoencoder NAME DIR STEM: the FKeras/Ecoder layout DIR/{encoder,decoder}_STEM.{json,hdf5}
autoencoder() {
    imp --encoder "$2/encoder_$3.json" --encoder-weights "$2/encoder_$3.hdf5" \
        --decoder "$2/decoder_$3.json" --decoder-weights "$2/decoder_$3.hdf5" \
        --name "$1" --task autoencoder -o "models/$1.h5"
}

E=$D/fkeras_econt_models
autoencoder econt_small   "$E/small_ECONT-small-pareto_hawq"   run3-row27-small-econ
autoencoder econt_medium  "$E/medium_6bit_ECONT-baseline"      8x8_c8_S2_tele_fqK_6bit
autoencoder econt_medium5 "$E/medium_5bit_ECONT-baseline5bit"  8x8_c8_S2_tele_fqK
autoencoder econt_large   "$E/large_ECONT-large-pareto_hawq"   run5-row21-big-econ
imp "$D/fkeras_cifar10_resnet_tiny2/model_best.h5" --name cifar10 --task classifier \
    -o models/cifar10.h5
imp "$D/models/hls4ml_mlperftiny_rn07/model_best.h5" --name rn07 --task classifier \
    -o models/rn07.h5
imp "$E/zcu102_encoder_test_vectors/keras_model.h5" --name zcu102_encoder --task encoder \
    -o models/zcu102_encoder.h5
# third-party models whose Keras files are committed under models/keras (models/SOURCES.md)
"$PY" tools/import_qkeras.py models/keras/resnet_v1_eembc_quantized_baseline.h5 \
    --name cifar10_resnet_baseline --task classifier -o models/cifar10_resnet_baseline.h5
# chisel4ml's digit model: its weights file, and the architecture written out from its Python
"$PY" tools/import_qkeras.py --source-root models/keras \
    models/keras/chisel4ml_digits/sint_digit_model.json \
    models/keras/chisel4ml_digits/sint_digit_model.h5 \
    --name chisel4ml_digits --task classifier -o models/chisel4ml_digits.h5

# Count the fault space again from the written files (not from the importer's summary)
# and compare with the published numbers.
"$PY" - <<'EOF'
import sys
import h5py

EXPECTED = {  # FKeras paper / fastml-science scripts
    "econt_medium": 12720,   # 2,120 weights x 6 bits
    "econt_small": 10240,    # 1,280 weights x 8 bits
    "econt_large": 61344,    # 800 conv x 5 bits + 8,192 dense x 7 bits
    "cifar10": 459520,       # 57,440 weights x 8 bits
    "econt_medium5": 10600,  # 2,120 weights x 5 bits
}
MODELS = ["econt_small", "econt_medium", "econt_medium5", "econt_large", "cifar10", "rn07",
          "zcu102_encoder", "cifar10_resnet_baseline", "chisel4ml_digits"]
bad = 0
print("faultable kernel bits per model:")
for name in MODELS:
    with h5py.File(f"models/{name}.h5", "r") as f:
        bits = 0
        for g in f["layers"].values():
            if g.attrs["faultable"]:
                bits += g["kernel_code"].size * int(g.attrs["kernel_q_bits"])
        stored = int(f.attrs["n_fault_bits"])
    want = EXPECTED.get(name)
    ok = (want is None or bits == want) and bits == stored
    bad += not ok
    print(f"  {name:18s} {bits:8,d}" + (f"  (expected {want:,d})" if want else "")
          + ("" if ok else "  MISMATCH"))
sys.exit(1 if bad else 0)
EOF
echo "import_all.sh: all models converted into models/"
