# Shared by the sbatch scripts (sourced after `cd $SLURM_SUBMIT_DIR`).

# run_campaign CAMPAIGN [upset run options]: mpirun upset run CAMPAIGN --resume, passing
# a SLURM time-limit warning (USR1) or a scancel (TERM) on to every rank as USR1, so the
# run saves its checkpoint and stops (exit status 75) instead of being killed; a stop whose
# checkpoint could not be written exits 1 (upset's message says what was lost). A scancel
# also reaches mpirun and the ranks themselves; mpirun waits 10 s before it kills them.
run_campaign() {
    campaign=$1
    shift
    [ -x build/upset ] || { echo "upset job: build/upset is missing; run make first" >&2; return 1; }
    [ -r "$campaign" ] || { echo "upset job: cannot read $campaign" >&2; return 1; }
    # the output's directory must exist: the campaign's top-level `output:` key, unless the
    # options override it (upset applies --output, then the --set options in order)
    out=$(sed -n 's/^output:[[:space:]]*//p' "$campaign" | tail -n 1 |
        sed "s/[[:space:]]*#.*//; s/^[\"']//; s/[\"']\$//")
    opt_out="" set_out="" prev=""
    for arg in "$@"; do
        case $prev in
        --output) opt_out=$arg ;;
        --set) case $arg in output=*) set_out=$(printf '%s' "${arg#output=}" |
                   sed "s/^[\"']//; s/[\"']\$//") ;; esac ;;
        esac
        prev=$arg
    done
    out=${set_out:-${opt_out:-$out}}
    [ -n "$out" ] && mkdir -p "$(dirname "$out")"
    # a scancel (and the time limit itself) sends TERM to mpirun as well as to the ranks; mpirun
    # then kills its ranks, by default SIGKILL 2 s later, while a rank may need a chunk's time
    # (up to about 2 s) and the checkpoint's to stop: give them 2 x 5 s (SLURM's KillWait is 30)
    mpirun --mca odls_base_sigkill_timeout 5 ./build/upset run "$campaign" --resume "$@" &
    pid=$!
    stopping=""
    trap 'stopping=$(date +%s); echo "upset job: signal received; checkpointing" >&2; kill -USR1 "$pid" 2>/dev/null' USR1 TERM
    wait "$pid"
    rc=$?
    while kill -0 "$pid" 2>/dev/null; do # the trap interrupted wait: wait for the end
        wait "$pid"
        rc=$?
    done
    trap - USR1 TERM
    # after a TERM, mpirun's exit status is its own (1) and the ranks' last words may be lost
    # with it: a checkpoint written since the signal says that the stop saved one
    if [ $rc -ne 0 ] && [ $rc -ne 75 ] && [ -n "$stopping" ] && [ -n "$out" ] &&
        [ "$(stat -c %Y "$out.ckpt" 2>/dev/null || echo 0)" -ge "$stopping" ]; then
        rc=75
    fi
    if [ $rc -eq 75 ]; then
        echo "upset job: $campaign stopped with a checkpoint; resubmit to continue" >&2
    elif [ $rc -ne 0 ] && [ -n "$stopping" ]; then
        echo "upset job: $campaign stopped, but without a new checkpoint (see upset's message)" >&2
    fi
    return $rc
}
