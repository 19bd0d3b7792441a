#!/usr/bin/env bash
# Mutation testing of the modules whose bugs the suite must catch (not run in CI: slow).
#
#   bash tools/analysis_tools/mutation_test.sh [MODULE ...]
#
# MODULE is one of: metric grefer_metric geometry letterbox converter aligner dataset
# (default: all).
# Each module (a file, or a glob such as the converter package's) is mutated by mutmut (pinned
# in requirements/tests.txt) against the tests that own it, in a scratch copy of the repository (mutmut writes a mutants/ tree next to the
# sources, and never touches this checkout). Results go to $MUTATION_OUT (default
# work_dirs/mutation/): per module, <module>.txt lists every mutant's status, <module>.diff
# shows the surviving ones. The rate of surviving mutants is printed at the end; see
# docs/mutation_testing.md for the figures and for the survivors that cannot be killed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${MMREFSEG_VENV:-$ROOT/.venv}"
OUT="${MUTATION_OUT:-$ROOT/work_dirs/mutation}"
JOBS="${MUTATION_JOBS:-1}"

# module -> "source file|tests that own it (space separated)"
declare -A MODULES=(
    [metric]="mmrefseg/evaluation/metrics/refer_metric.py|tests/test_evaluation/test_metrics/test_refer_metric.py tests/test_evaluation/test_metrics/test_refer_metric_edges.py"
    [grefer_metric]="mmrefseg/evaluation/metrics/grefer_metric.py|tests/test_evaluation/test_metrics/test_grefer_metric.py tests/test_evaluation/test_metrics/test_grefer_metric_edges.py tests/test_evaluation/test_metrics/test_grefer_metric_rela.py"
    [geometry]="mmrefseg/utils/geometry.py|tests/test_utils/test_geometry.py tests/test_utils/test_geometry_edges.py tests/test_apis/test_inference_geometry.py"
    [letterbox]="mmrefseg/datasets/transforms/letterbox.py|tests/test_datasets/test_transforms/test_letterbox.py tests/test_datasets/test_transforms/test_letterbox_edges.py tests/test_apis/test_inference_geometry.py"
    [converter]="mmrefseg/utils/checkpoint_conversion/*|tests/test_utils/test_checkpoint_conversion tests/test_tools/test_cris2mmrefseg.py tests/test_tools/test_lavt2mmrefseg.py"
    [aligner]="mmrefseg/models/decode_heads/vision_language_aligner_head.py|tests/test_models/test_heads/test_vision_language_aligner_head.py tests/test_models/test_heads/test_aligner_reference.py"
    [dataset]="mmrefseg/datasets/refer_dataset.py|tests/test_datasets/test_refer_dataset.py tests/test_datasets/test_bad_samples.py tests/test_datasets/test_grefer_dataset.py"
)
ORDER=(metric grefer_metric geometry letterbox converter aligner dataset)

if [[ $# -gt 0 ]]; then
    selected=("$@")
else
    selected=("${ORDER[@]}")
fi
for name in "${selected[@]}"; do
    if [[ -z "${MODULES[$name]+x}" ]]; then
        echo "unknown module '$name'; choose from: ${ORDER[*]}" >&2
        exit 2
    fi
done
if ! "$VENV/bin/python" -c 'import mutmut' 2>/dev/null; then
    echo "mutmut is not installed in $VENV: pip install -r requirements/tests.txt" >&2
    exit 2
fi

mkdir -p "$OUT"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
summary=()
for name in "${selected[@]}"; do
    source_file="${MODULES[$name]%%|*}"
    tests="${MODULES[$name]#*|}"
    copy="$SCRATCH/$name"
    mkdir -p "$copy"
    # The sources, tests, configs and tools; not the venv, data or outputs.
    (cd "$ROOT" && tar --exclude=./.venv --exclude=./data --exclude=./work_dirs \
        --exclude=./.git --exclude='__pycache__' --exclude=./mutants -cf - .) | tar -xf - -C "$copy"
    {
        echo '[mutmut]'
        echo "source_paths = ${source_file%%/*}"
        echo "only_mutate = $source_file"
        echo 'pytest_add_cli_args_test_selection ='
        for test in $tests; do echo "    $test"; done
        echo 'pytest_add_cli_args = -p no:cacheprovider'
        # mutmut runs the tests inside mutants/: the configs and tools they read
        echo 'also_copy ='
        echo '    configs'
        echo '    tools'
        # torch is not fork-safe once it has run: fork workers from a clean server.
        echo 'process_isolation = forkserver'
    } > "$copy/setup.cfg"
    echo "== $name: $source_file against $tests"
    start=$(date +%s)
    (cd "$copy" && OMP_NUM_THREADS=1 \
        "$VENV/bin/mutmut" run --max-children "$JOBS" > "$OUT/$name.log" 2>&1) || true
    (cd "$copy" && "$VENV/bin/mutmut" results --all true > "$OUT/$name.txt" 2>&1) || true
    : > "$OUT/$name.diff"
    for mutant in $(awk -F': ' '/: survived$/ {gsub(/ /, "", $1); print $1}' "$OUT/$name.txt"); do
        (cd "$copy" && "$VENV/bin/mutmut" show "$mutant" >> "$OUT/$name.diff" 2>&1) || true
    done
    if grep -q 'failed to collect stats' "$OUT/$name.log"; then
        echo "$name: the tests failed before any mutant ran (see $OUT/$name.log)" >&2
        summary+=("$name: NOT RUN, its tests fail unmutated")
        continue
    fi
    total=$(grep -c ': ' "$OUT/$name.txt" || true)
    survived=$(grep -c ': survived$' "$OUT/$name.txt" || true)
    killed=$(grep -c ': killed$' "$OUT/$name.txt" || true)
    line="$name: $survived of $total mutants survived ($killed killed), $(( $(date +%s) - start )) s"
    echo "$line"
    summary+=("$line")
done
echo "== summary (details in $OUT)"
printf '%s\n' "${summary[@]}"
