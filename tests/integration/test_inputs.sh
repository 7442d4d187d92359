#!/bin/sh
# Must-show: a campaign's YAML names its guided.ranking and multibit.protect_list by path
# only, so their bytes are checksummed into the checkpoint and the results file. After the
# file changes, --resume refuses the checkpoint (which would mix two rankings or two
# protected sets) and a finished output (which "already complete" would keep), while an
# unchanged file still resumes and is still complete; `upset trial` and `upset protect
# --check`, which rebuild the protection mask from the list, refuse a changed list.
. tests/integration/lib.sh

"$PY" -c "
import sys
t = sys.argv[1]
for name, first in (('a', 0), ('b', 5000)):
    open(f'{t}/rank_{name}.txt', 'w').write(''.join(f'{first + i}\n' for i in range(20)))
" "$T"
cp "$T/rank_a.txt" "$T/rank.txt"
cp "$T/rank_a.txt" "$T/list.txt"
# 2,000 inputs: 16 KB of sample_index in the results, a checkpoint of a few KB
DATA='data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 2000}'
cat >"$T/guided.yaml" <<EOC
name: it-inputs-guided
model: models/econt_medium.h5
$DATA
kind: guided
guided: {order: ranking, ranking: $T/rank.txt}
output: $T/guided_ck.h5
EOC
cat >"$T/mb.yaml" <<EOC
name: it-inputs-multibit
model: models/econt_medium.h5
$DATA
kind: multibit
multibit: {trials: 20, flips: 50, protection: list, protect_list: $T/list.txt}
output: $T/mb_ck.h5
EOC

# One rank; the runs expected to fail start without mpirun, which takes 2 s to report a
# failure. ckpt_only YAML OUT: runs the campaign to the end under a 10 KB file-size limit, so every
# item is in OUT.ckpt and the results write fails (as on a full disk); under mpirun, which
# stays unlimited, and on TCP (shared memory needs larger files)
ckpt_only() {
    OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo timeout 120 \
        mpirun --oversubscribe -np 1 sh -c 'trap "" XFSZ; ulimit -f 20; exec "$@"' x \
        "$UPSET" run "$1" --quiet --output "$2" >"$2.log" 2>&1
}
# refused WHAT LOG PATTERN: the command before it failed, with PATTERN in LOG
refused() {
    grep -q "$3" "$2" && pass "$1: $(grep -o "$3" "$2" | head -n 1)" \
        || { fail "$1: unclear refusal"; cat "$2" >&2; }
}

# (both at once: mpirun takes 2 s to report the failed write)
ckpt_only "$T/guided.yaml" "$T/guided_ck.h5" &
ckpt_only "$T/mb.yaml" "$T/mb_ck.h5"
wait
for k in guided mb; do
    [ $k = guided ] && file=rank.txt key=guided.ranking || file=list.txt key=multibit.protect_list
    [ -s "$T/${k}_ck.h5.ckpt" ] && [ ! -e "$T/${k}_ck.h5" ] \
        || { fail "$k: no checkpoint without results"; cat "$T/${k}_ck.h5.log" >&2; }
    # a checkpoint of every item, then the file changes: the resume must not take it
    cp "$T/rank_b.txt" "$T/$file"
    if "$UPSET" run "$T/$k.yaml" --resume --quiet --output "$T/${k}_ck.h5" >"$T/${k}_ck.log" 2>&1; then
        fail "$key changed: --resume took the checkpoint and wrote $k results from the old file"
    else
        refused "$key changed: checkpoint refused" "$T/${k}_ck.log" "line [0-9]* differs (checkpoint: '$key checksum"
    fi
    # the same file again: the checkpoint is taken
    cp "$T/rank_a.txt" "$T/$file"
    "$UPSET" run "$T/$k.yaml" --resume --output "$T/${k}_ck.h5" >"$T/${k}_ck2.log" 2>&1 \
        && grep -q "20 of 20 items" "$T/${k}_ck2.log" \
        && pass "$key unchanged: --resume finishes from the checkpoint" \
        || { fail "$key unchanged: --resume"; cat "$T/${k}_ck2.log" >&2; }
    # a finished output: unchanged -> already complete; changed -> refused, left alone
    "$UPSET" run "$T/$k.yaml" --resume --output "$T/${k}_ck.h5" >"$T/${k}_done.log" 2>&1 \
        && grep -q "already complete" "$T/${k}_done.log" \
        || { fail "$key unchanged: finished output not complete"; cat "$T/${k}_done.log" >&2; }
    sum=$(sha256sum "$T/${k}_ck.h5")
    cp "$T/rank_b.txt" "$T/$file"
    if "$UPSET" run "$T/$k.yaml" --resume --output "$T/${k}_ck.h5" >"$T/${k}_done.log" 2>&1; then
        fail "$key changed: --resume over the finished output: $(cat "$T/${k}_done.log")"
    else
        refused "$key changed: finished output refused" "$T/${k}_done.log" "whose $key differs"
    fi
    [ "$(sha256sum "$T/${k}_ck.h5")" = "$sum" ] || fail "$key changed: the refused run changed the results"
    cp "$T/rank_a.txt" "$T/$file"
done

# the mask rebuilt from the list: refused once the list changed
"$UPSET" trial "$T/mb_ck.h5" 0 >"$T/trial.log" 2>&1 || { fail "upset trial"; cat "$T/trial.log" >&2; }
"$UPSET" protect --oracle results/oracle_econt_medium.h5 --check "$T/mb_ck.h5" --out "$T/check" \
    >"$T/check.log" 2>&1 || { fail "upset protect --check"; cat "$T/check.log" >&2; }
cp "$T/rank_b.txt" "$T/list.txt"
if "$UPSET" trial "$T/mb_ck.h5" 0 >"$T/trial.log" 2>&1; then
    fail "upset trial rebuilt the mask from a changed protect_list"
else
    refused "upset trial, protect_list changed" "$T/trial.log" "multibit.protect_list .* has changed since the campaign ran"
fi
if "$UPSET" protect --oracle results/oracle_econt_medium.h5 --check "$T/mb_ck.h5" --out "$T/check2" \
    >"$T/check.log" 2>&1; then
    fail "upset protect --check rebuilt the mask from a changed protect_list"
else
    refused "protect --check, protect_list changed" "$T/check.log" "multibit.protect_list .* has changed since the campaign ran"
fi
finish
