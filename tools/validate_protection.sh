#!/bin/sh
# Measures protection plans on inputs the oracle did not see (docs/protection.md). For
# MODEL: `upset protect` from results/oracle_MODEL.h5, with the model's rankings
# (results/rank_MODEL_*.txt, not another model's rank_MODEL_OTHER_*), at upset rate RATE into results/protect_MODEL/ (the default
# plan, the same budget in every ranking's order, nothing protected), and the oracle order
# at each of BUDGETS into results/protect_MODEL/k<BUDGET>/; then every validation campaign
# with mpirun (each resumes if interrupted, and a finished one is not re-run), and
# `upset protect --check` over all of them into results/protect_MODEL/check.csv.
# Usage (repository root): sh tools/validate_protection.sh MODEL [RATE] [UPSET]
#   RATE default 1e-5; NP=2 ranks; BUDGETS="1000 2000 4000 6000"; HOLDOUT=2000 inputs;
#   TRIALS=20000 per campaign. ECON-T Medium: about 5 minutes on 2 cores.
set -eu
MODEL=${1:?usage: validate_protection.sh MODEL [RATE] [UPSET]}
RATE=${2:-1e-5}
UPSET=${3:-build/upset}
NP=${NP:-2}
BUDGETS=${BUDGETS:-1000 2000 4000 6000}
ORACLE=results/oracle_$MODEL.h5
DIR=results/protect_$MODEL
[ -f "$ORACLE" ] || { echo "validate_protection: no $ORACLE (run the model's oracle first)" >&2; exit 1; }
[ -x "$UPSET" ] || { echo "validate_protection: $UPSET is not built (make)" >&2; exit 1; }

# owned NAME: NAME (what follows rank_MODEL_ in a file name) is not another model's:
# rank_cifar10_resnet_baseline_gradient.txt ranks cifar10_resnet_baseline, not cifar10
owned() {
    for o in results/oracle_"$MODEL"_*.h5; do
        [ -f "$o" ] || continue
        rest=$(basename "$o" .h5); rest=${rest#oracle_"$MODEL"_}
        case $1 in "$rest" | "$rest"_*) return 1 ;; esac
    done
    return 0
}

set -- --oracle "$ORACLE" --rate "$RATE" --holdout "${HOLDOUT:-2000}" --trials "${TRIALS:-20000}"
for f in results/rank_"$MODEL"_*.txt; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .txt); name=${name#rank_"$MODEL"_}
    owned "$name" || continue
    set -- "$@" --ranking "$name=$f"
done
"$UPSET" protect "$@" --out "$DIR"
for k in $BUDGETS; do
    "$UPSET" protect --oracle "$ORACLE" --rate "$RATE" --holdout "${HOLDOUT:-2000}" \
        --trials "${TRIALS:-20000}" --budget "$k" --out "$DIR/k$k" >/dev/null
    # only the oracle order's plan is measured at the extra budgets: keep what that needs
    (cd "$DIR/k$k" && rm -f validate_unprotected.yaml curve.csv flat.csv plan.csv plan.h5 plan_layers.csv)
done

mpirun --oversubscribe -np "$NP" true 2>/dev/null || ALLOW=--allow-run-as-root
checks=""
for y in "$DIR"/validate_*.yaml "$DIR"/k*/validate_oracle.yaml; do
    [ -f "$y" ] || continue # an oracle over every sample (count: all) holds none out
    out=${y%.yaml}.h5
    echo "validate_protection: $y"
    mpirun ${ALLOW:-} --oversubscribe -np "$NP" "$UPSET" run "$y" --resume --quiet
    checks="$checks --check $out"
done
if [ -z "$checks" ]; then
    echo "validate_protection: $ORACLE used every sample of its data: no held-out inputs, nothing to check"
    exit 0
fi
# shellcheck disable=SC2086 # one word per option
"$UPSET" protect --oracle "$ORACLE" $checks --out "$DIR"
