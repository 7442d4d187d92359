#!/bin/sh
# Regenerates every figure from the results present in results/ (file names in
# docs/analysis.md). For each results/oracle_<model>.h5: runs `upset analyze`
# with that model's rankings, guided, BinFI, StatFI and multibit results (found
# by name) into results/figures/<model>/, then every tools/plot_*.py there.
# Missing inputs are skipped with a message; a failing step makes the exit
# status 1 but the other models still run.
# Usage (repository root): sh tools/figures.sh [UPSET]     (default build/upset)
#   RESULTS=DIR reads DIR instead of results/ (figures go to DIR/figures)
UPSET=${1:-build/upset}
RES=${RESULTS:-results}
OUT=$RES/figures
PY=${PYTHON:-/usr/bin/python3}
HERE=$(dirname "$0")
status=0

if [ ! -x "$UPSET" ]; then
    echo "figures: $UPSET not found; build it first (make figures does)" >&2
    exit 1
fi
plots=1
if ! "$PY" -c 'import matplotlib, numpy' 2>/dev/null; then
    echo "figures: $PY lacks matplotlib/numpy; writing the tables only" >&2
    plots=0
fi

# FKeras's published bit rankings (data/rankings/) of the ECON-T models.
published() {
    case $1 in
    econt_small) echo ECONT-small-pareto ;;
    econt_medium) echo ECONT-baseline ;;
    econt_large) echo ECONT-large-pareto ;;
    esac
}

# Every model with an oracle: rank_cifar10_* files of the model cifar10_resnet_baseline are
# not cifar10's.
MODELS=" "
for o in "$RES"/oracle_*.h5; do
    [ -f "$o" ] || continue
    o=$(basename "$o" .h5)
    MODELS="$MODELS${o#oracle_} "
done
# owned MODEL NAME: NAME (what follows KIND_MODEL_ in a file name) is not another model's.
owned() {
    for other in $MODELS; do
        case $other in
        "$1"_*)
            rest=${other#"$1"_}
            case $2 in "$rest" | "$rest"_*) return 1 ;; esac
            ;;
        esac
    done
    return 0
}

# Every tools/plot_*.py but the protection plot, on one model's analysis directory.
plot_all() {
    for script in "$HERE"/plot_*.py; do
        case $script in */plot_protection.py | */plot_common.py) continue ;; esac
        "$PY" "$script" "$1" "$1" || { echo "figures: $script failed" >&2; status=1; }
    done
}

# The analyze arguments for one model, one per line (labels come from the names).
inputs() {
    model=$1
    echo "--oracle"; echo "$RES/oracle_$model.h5"
    case $model in # other sizes of the same network: econt_small, econt_large ...
    econt_*)
        for f in "$RES"/oracle_econt_*.h5; do
            [ -f "$f" ] && [ "$f" != "$RES/oracle_$model.h5" ] && { echo "--oracle"; echo "$f"; }
        done ;;
    esac
    seen=" "
    for f in "$RES"/rank_"$model"_*.txt "$RES"/rank_"$model"_*.h5; do
        [ -f "$f" ] || continue
        name=$(basename "$f"); name=${name#rank_"$model"_}; name=${name%.*}
        owned "$model" "$name" || continue
        case $seen in *" $name "*) continue ;; esac # the .txt twin of a .h5 is enough
        seen="$seen$name "
        echo "--ranking"; echo "$name=$f"
    done
    pub=$(published "$model")
    for metric in hessian gradient; do
        f=data/rankings/${metric}_ranked_model_bits_iccad_2023_$pub.txt
        [ -n "$pub" ] && [ -f "$f" ] && { echo "--ranking"; echo "fkeras_$metric=$f"; }
    done
    for kind in guided binfi statfi multibit; do
        for f in "$RES"/"$kind"_"$model".h5 "$RES"/"$kind"_"$model"_*.h5; do
            [ -f "$f" ] || continue
            name=$(basename "$f" .h5); name=${name#"$kind"_"$model"}; name=${name#_}
            [ -z "$name" ] || owned "$model" "$name" || continue
            if [ -z "$name" ] || [ "$kind" = statfi ]; then
                echo "--$kind"; echo "$f" # label from the file (binfi_*, statfi_<mode>)
            elif [ "$kind" = guided ]; then
                echo "--$kind"; echo "guided_$name=$f" # beside the ranking of the same name
            else
                echo "--$kind"; echo "$name=$f"
            fi
        done
    done
}

found=0
for oracle in "$RES"/oracle_*.h5; do
    [ -f "$oracle" ] || continue
    found=1
    model=$(basename "$oracle" .h5); model=${model#oracle_}
    dir=$OUT/$model
    echo "== $model"
    # one argument per line: paths with spaces survive, newlines in names do not
    set --
    while IFS= read -r arg; do set -- "$@" "$arg"; done <<EOF
$(inputs "$model")
EOF
    mkdir -p "$OUT" || { status=1; continue; }
    if ! "$UPSET" analyze "$@" --out "$dir"; then
        echo "figures: upset analyze failed for $model" >&2
        status=1
        continue
    fi
    # the protection plan at an upset rate of PROTECT_RATE per bit per trial (default 1e-5);
    # it needs every bit's oracle result (an oracle over some layers has no plan)
    if ! "$PY" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); \
sys.exit(int(int(f['bits/bit'].size) != int(f.attrs['n_fault_bits'])))" "$oracle" 2>/dev/null; then
        echo "figures: $oracle covers part of the fault space: no protection plan"
        [ $plots -eq 0 ] || plot_all "$dir"
        continue
    fi
    set -- --oracle "$oracle" --rate "${PROTECT_RATE:-1e-5}" --out "$dir/protect"
    for f in "$RES"/rank_"$model"_*.txt; do
        [ -f "$f" ] || continue
        name=$(basename "$f" .txt); name=${name#rank_"$model"_}
        owned "$model" "$name" || continue
        set -- "$@" --ranking "$name=$f"
    done
    "$UPSET" protect "$@" >/dev/null || { echo "figures: upset protect failed for $model" >&2; status=1; }
    # measured points: the held-out validation campaigns of tools/validate_protection.sh,
    # and the multi-bit study's levels, each beside its first-order prediction
    set -- --oracle "$oracle" --out "$dir/protect"
    for f in "$RES"/protect_"$model"/validate_*.h5 "$RES"/protect_"$model"/k*/validate_*.h5 \
             "$RES"/multibit_"$model"_*.h5; do
        [ -f "$f" ] && set -- "$@" --check "$f"
    done
    if [ $# -gt 4 ]; then
        "$UPSET" protect "$@" >/dev/null || { echo "figures: upset protect --check failed for $model" >&2; status=1; }
    fi
    [ $plots -eq 1 ] || continue
    "$PY" "$HERE/plot_protection.py" "$dir/protect" "$dir" || status=1
    plot_all "$dir"
done
# table SCRIPT NAME: $OUT/NAME.md (and docs/NAME.md from results/) from tools/SCRIPT. A
# table is replaced only when its script succeeded: a failed one (a damaged input, named on
# stderr) leaves $OUT's and docs/'s copies as they were, and no partial file.
table() {
    if "$PY" "$HERE/$1" "$RES" >"$OUT/$2.md.tmp"; then
        mv "$OUT/$2.md.tmp" "$OUT/$2.md"
        if [ "$RES" = results ]; then cp "$OUT/$2.md" "docs/$2.md"; fi
    else
        rm -f "$OUT/$2.md.tmp"
        echo "figures: $1 failed; docs/$2.md left as it was" >&2; status=1
    fi
}
if [ $found -eq 1 ]; then
    table paper_table.py paper    # the paper beside ours
    table upset_table.py upsets   # weight upsets beside activation upsets
fi
if [ $found -eq 0 ]; then
    echo "figures: no $RES/oracle_<model>.h5 yet; run an oracle campaign first," \
        "e.g. mpirun -np 2 build/upset run configs/oracle_econt_medium.yaml (docs/analysis.md)"
fi
exit $status
