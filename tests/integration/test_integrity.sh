#!/bin/sh
# Must-show (results integrity): a results write that hits a full disk or a file-size
# limit fails cleanly on every rank, keeps the checkpoint, and --resume finishes once
# there is room; two runs on one output: the second is refused naming the first;
# --resume over a finished campaign says "already complete" and leaves it alone;
# a results file whose columns disagree with their stored checksums is refused; the
# model importer never destroys an existing output.
. tests/integration/lib.sh
trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT

# ~50 KB of results (8 bytes of sample_index per input), a ~9 KB checkpoint
cat > "$T/small.yaml" <<EOC
name: it-integrity
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 4000}
kind: oracle
oracle: {first_bit: 0, bit_count: 100}
output: $T/ref.h5
EOC
mpi 1 run "$T/small.yaml" --quiet || fail "reference run"

# run_limited NP OUT LIMIT_BLOCKS: the campaign's ranks under a file-size limit (512-byte
# blocks), as `ulimit -f` sets it: upset itself ignores SIGXFSZ, so the write that crosses
# it fails with EFBIG as on a full disk (with the signal's default action, rank 0 died
# mid-write). mpirun itself stays unlimited, and the ranks talk over TCP on loopback because
# the shared-memory transport needs files larger than the limit.
run_limited() {
    OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo timeout 120 \
        mpirun --oversubscribe -np "$1" sh -c 'ulimit -f "$0"; exec "$@"' "$3" \
        "$UPSET" run "$T/small.yaml" --quiet --output "$2" >"$2.log" 2>&1
}
# after_full_disk NP OUT RC WHAT: the checks shared by both ways of running out of room
after_full_disk() {
    if [ "$3" -eq 124 ]; then
        fail "$4 -np $1: hung (killed after 120 s)"
    elif [ "$3" -eq 0 ]; then
        fail "$4 -np $1: exit 0 although the results did not fit"
    elif [ "$3" -ge 128 ]; then
        fail "$4 -np $1: crashed (exit $3)"; cat "$2.log" >&2
    else
        pass "$4 -np $1: exit $3"
    fi
    grep -q "upset run: .*write failed" "$2.log" && pass "$4 -np $1: the message names the write" \
        || { fail "$4 -np $1: no clear write error"; cat "$2.log" >&2; }
    [ -e "$2" ] && fail "$4 -np $1: a results file exists after the failed write"
    [ -e "$2.tmp" ] && fail "$4 -np $1: $2.tmp left behind"
    [ -s "$2.ckpt" ] && pass "$4 -np $1: checkpoint kept" || fail "$4 -np $1: checkpoint lost"
}
# resume_after NP OUT WHAT: with room again, --resume finishes from the checkpoint
resume_after() {
    mpi "$1" run "$T/small.yaml" --resume --output "$2" >"$2.resume.log" 2>&1 \
        || { fail "$3 -np $1: --resume after freeing space"; cat "$2.resume.log" >&2; }
    grep -q "100 of 100 items already done" "$2.resume.log" \
        || fail "$3 -np $1: --resume recomputed instead of using the checkpoint"
    same_data "$T/ref.h5" "$2" bits && pass "$3 -np $1: resumed results == reference" \
        || fail "$3 -np $1: resumed results differ"
}

for np in 1 2; do
    out="$T/fsize$np.h5"
    run_limited $np "$out" 60
    after_full_disk $np "$out" $? "file-size limit"
    resume_after $np "$out" "file-size limit"
done

# A real full file system, where it can be mounted (root on Linux; skipped elsewhere)
mkdir -p "$T/small"
if mount -t tmpfs -o size=1500k tmpfs "$T/small" 2>/dev/null; then
    for np in 1 2; do
        rm -rf "$T/small"/*
        avail=$(df -B1 --output=avail "$T/small" | tail -n 1)
        head -c $((avail - 24576)) /dev/zero >"$T/small/filler" 2>/dev/null
        out="$T/small/out.h5"
        timeout 120 mpirun --oversubscribe -np $np "$UPSET" run "$T/small.yaml" --quiet \
            --output "$out" >"$T/tmpfs.log" 2>&1
        rc=$?
        cp "$T/tmpfs.log" "$out.log"
        after_full_disk $np "$out" $rc "full tmpfs"
        rm -f "$T/small/filler" "$out.log"
        resume_after $np "$out" "full tmpfs"
    done
    umount "$T/small"
else
    echo "skip: cannot mount a small tmpfs here (needs root); the file-size limit covers it"
fi

# Two runs on one output: the second is refused, naming the first, even with --force
cat > "$T/slow.yaml" <<EOC
name: it-lock
model: models/econt_medium.h5
data: {format: hgcal, files: [data/hgcal/ttbar_0PU.csv], count: 2000}
kind: oracle
oracle: {first_bit: 0, bit_count: 3000}
output: $T/shared.h5
EOC
mpi 1 run "$T/slow.yaml" --quiet >"$T/a.log" 2>&1 &
a=$!
i=0
holder=""
while [ -z "$holder" ] && [ $i -lt 300 ]; do
    sleep 0.1; i=$((i + 1))
    holder=$(sed -n 's/^pid \([0-9]*\) on .*/\1/p' "$T/shared.h5.lock" 2>/dev/null)
done
[ -n "$holder" ] || fail "the first run never noted itself in its lock"
# the holder (the upset process named in its lock) is paused, so it keeps its lock through
# every attempt below however fast it would otherwise finish
[ -n "$holder" ] && kill -STOP "$holder" 2>/dev/null
for extra in "" "--force" "--resume"; do
    if mpi 2 run "$T/slow.yaml" --quiet $extra >"$T/b.log" 2>&1; then
        fail "a second run on the same output ($extra) was not refused"
    elif grep -q "another run is writing this output (pid [0-9]* on" "$T/b.log"; then
        pass "second run ${extra:-(plain)} refused while the first is paused, naming it"
    else
        fail "second run ($extra): unclear refusal"; cat "$T/b.log" >&2
    fi
done
[ -n "$holder" ] && kill -CONT "$holder" 2>/dev/null
wait $a || fail "the first run failed"; cat "$T/a.log"
[ -e "$T/shared.h5.lock" ] && fail "lock file left after the run"
mpi 2 run "$T/slow.yaml" --quiet --output "$T/shared2.h5" || fail "second output"
same_data "$T/shared.h5" "$T/shared2.h5" bits && pass "the first run's results are whole" \
    || fail "the first run's results differ from a clean run's"

# --resume over a finished campaign (a resubmitted or afterok-chained job)
sum_before=$(sha256sum "$T/ref.h5")
touch "$T/ref.h5.ckpt" # as left by a run killed between its rename and its cleanup
mpi 2 run "$T/small.yaml" --resume >"$T/done.log" 2>&1 || fail "--resume on a finished campaign"
grep -q "already complete" "$T/done.log" && pass "--resume on a finished campaign: already complete" \
    || { fail "--resume on a finished campaign did not say so"; cat "$T/done.log" >&2; }
[ "$(sha256sum "$T/ref.h5")" = "$sum_before" ] || fail "--resume rewrote a finished results file"
[ -e "$T/ref.h5.ckpt" ] && fail "stale checkpoint beside finished results not removed"
if mpi 1 run "$T/small.yaml" --resume --set seed=9 >"$T/diff.log" 2>&1; then
    fail "--resume with a different campaign over finished results"
else
    grep -q "differs" "$T/diff.log" && pass "--resume of another campaign over finished results refused" \
        || fail "unclear refusal: $(cat "$T/diff.log")"
fi
[ "$(sha256sum "$T/ref.h5")" = "$sum_before" ] || fail "a refused run changed the results file"

# An output that is not a regular file: refused, left as it is (with --force, the rename of
# the results replaced a device such as /dev/null, here a copy of it, by a regular file; the
# check whether the output exists opened a FIFO and blocked forever)
mkfifo "$T/fifo.h5"
timeout 30 "$UPSET" run "$T/small.yaml" --quiet --output "$T/fifo.h5" >"$T/fifo.log" 2>&1
rc=$?
if [ $rc -eq 124 ]; then
    fail "a FIFO as the output: hung (killed after 30 s)"
elif [ $rc -ne 0 ] && grep -q "fifo.h5 is not a regular file" "$T/fifo.log" && [ -p "$T/fifo.h5" ]; then
    pass "a FIFO as the output: refused, left alone"
else
    fail "a FIFO as the output: exit $rc"; cat "$T/fifo.log" >&2
fi
if mknod "$T/null" c 1 3 2>/dev/null; then
    if "$UPSET" run "$T/small.yaml" --quiet --force --output "$T/null" >"$T/null.log" 2>&1; then
        fail "a character device as the output accepted with --force"
    else
        grep -q "null is not a regular file" "$T/null.log" && pass "a device as the output (--force): refused" \
            || { fail "a device as the output: unclear refusal"; cat "$T/null.log" >&2; }
    fi
    [ -c "$T/null" ] || fail "a device as the output was replaced by a file"
else
    echo "skip: mknod needs root (a device node as the output)"
fi

# Stored column checksums: an edited (or torn) file is refused by every reader
cp "$T/ref.h5" "$T/edited.h5"
"$PY" - "$T/edited.h5" <<'EOF' || fail "editing the copy"
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    d = f["bits/delta_emd"]
    d[5] = d[5] + 1.0
EOF
mkdir -p "$T/an"
if "$UPSET" analyze --oracle "$T/edited.h5" --out "$T/an" --quiet >"$T/an.log" 2>&1; then
    fail "analyze accepted a file whose column disagrees with its checksum"
else
    grep -q "does not match its stored checksum" "$T/an.log" && pass "analyze refuses an edited file" \
        || { fail "analyze: unclear refusal"; cat "$T/an.log" >&2; }
fi
"$UPSET" analyze --oracle "$T/ref.h5" --out "$T/an" --quiet >"$T/an.log" 2>&1 \
    || { fail "analyze of the intact file"; cat "$T/an.log" >&2; }

# The importer writes a temporary file and renames: a failing import keeps the old output
S=../shared/data/fkeras_econt_models/small_ECONT-small-pareto_hawq
if [ -d "$S" ]; then
    cp models/econt_small.h5 "$T/model.h5"
    sum_before=$(sha256sum "$T/model.h5")
    imp() {
        tools/import_qkeras.py "$@" --task encoder -o "$T/model.h5" >"$T/imp.log" 2>&1
    }
    imp "$S/encoder_run3-row27-small-econ.json" "$S/encoder_run3-row27-small-econ.hdf5" --name "tö" \
        && fail "importer accepted a non-ASCII name"
    [ "$(sha256sum "$T/model.h5")" = "$sum_before" ] && pass "failed import left the old model intact" \
        || fail "failed import changed the existing model"
    echo '[1, 2, 3]' >"$T/list.json"
    imp "$T/list.json" "$S/encoder_run3-row27-small-econ.hdf5" --name x && fail "importer took a JSON list"
    if grep -q Traceback "$T/imp.log" || [ "$(wc -l <"$T/imp.log")" -ne 1 ]; then
        fail "importer on a JSON list: not one clear line"; cat "$T/imp.log" >&2
    else
        pass "importer on a JSON list: $(cat "$T/imp.log")"
    fi
    # a zipped .keras archive (tf.keras 2.13+'s default save) and a file that is not HDF5:
    # one line naming the file and what to do, the old model kept
    printf 'PK\003\004 not really a zip' >"$T/m.keras"
    printf 'plain text' >"$T/text.h5"
    for bad in m.keras text.h5; do
        imp "$T/$bad" --name x && fail "importer took $bad"
        want=$([ $bad = m.keras ] && echo "a zipped .keras archive, not HDF5; save the model with" \
            || echo "cannot open as HDF5")
        if grep -q Traceback "$T/imp.log" || [ "$(wc -l <"$T/imp.log")" -ne 1 ] ||
            ! grep -q "$T/$bad: $want" "$T/imp.log"; then
            fail "importer on $bad: not one line naming the file"; cat "$T/imp.log" >&2
        else
            pass "importer on $bad: $(cat "$T/imp.log")"
        fi
    done
    [ "$(sha256sum "$T/model.h5")" = "$sum_before" ] || fail "failed imports changed the model"
    ls "$T"/model.h5.tmp* >/dev/null 2>&1 && fail "importer left a temporary file"
else
    echo "skip: importer cases need $S"
fi
finish
