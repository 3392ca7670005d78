#!/usr/bin/env bash
# The GPU check, ready for the first time a GPU is available: one unattended script, under 8 minutes on one GPU,
# that writes one JSON.
#
#   benchmarks/gpu_check.sh [OUT_DIR]        # OUT_DIR: default $OUT, else ./gpu_check_out
#
# Run from a checkout of the repository (any folder: it moves to the repository root). It
#   1. picks a Python that imports torch with CUDA ($PYTHON, python3, python, .venv/bin/python), else makes a venv
#      from requirements.txt (needs the internet); modules the notebooks need that are missing are installed from
#      ./.whl (wheels carried to an offline machine) or from the package index, or reported as missing;
#   2. runs the CUDA-only tests (tests/test_cuda.py: bf16 training, CPU/GPU agreement, resume, S3GAN, Inception,
#      the training entry point on cuda);
#   3. runs every paper preset once at the notebooks' own smoke scale on stand-in data sets in their real formats
#      (python -m gan_helpers.tools.presets --scale notebook: CIFAR-10 pickles for 04, a MouseHead folder and random
#      Inception-v3 weights for 01 and 05, a sorting folder for 03), each notebook at its preset's image size,
#      widths, amp and device: auto;
#   4. runs benchmarks/train_throughput.py --device cuda (every contender that runs on CUDA, torch.compile included
#      while time allows) at 32 and 64 px;
# and writes OUT_DIR/gpu_check.json: the machine, the Python and torch, what was missing, and per step its exit
# code, seconds, parsed JSON result and the end of its output. Each step has its own time limit inside an overall
# budget (GPU_CHECK_BUDGET_S, default 440 s); a failing step does not stop the others.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
OUT_DIR=${1:-${OUT:-gpu_check_out}}
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
STEPS=$WORK/steps
mkdir -p "$STEPS"
T0=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-440}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }

# ---- 1. a Python with CUDA torch, and the modules the notebooks need
# (GPU_CHECK_ALLOW_CPU=1: accept a Python without CUDA, to try this script itself on a machine without a GPU)
has_cuda() { "$1" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() or '${GPU_CHECK_ALLOW_CPU:-0}' == '1' else 1)" \
  >/dev/null 2>&1; }
PY=""
for c in ${PYTHON:-} python3 python .venv/bin/python; do
  if command -v "$c" >/dev/null 2>&1 && has_cuda "$c"; then PY=$(command -v "$c"); break; fi
done
SETUP="found"
if [ -z "$PY" ]; then
  SETUP="venv from requirements.txt"
  python3 -m venv "$WORK/venv" && timeout 300 "$WORK/venv/bin/pip" install -q -r requirements.txt \
    && "$WORK/venv/bin/pip" install -q --no-deps --no-build-isolation -e . && PY=$WORK/venv/bin/python
  [ -n "$PY" ] || PY=python3
fi
# module -> pip name, for what the notebooks and tools import beyond torch
NEEDED="papermill:papermill nbformat:nbformat nbclient:nbclient ipykernel:ipykernel imagehash:ImageHash yaml:PyYAML
sklearn:scikit-learn scipy:scipy pandas:pandas seaborn:seaborn tqdm:tqdm PIL:pillow matplotlib:matplotlib
torchvision:torchvision ipywidgets:ipywidgets pytest:pytest"
missing() { "$PY" -c 'import importlib.util, sys
print(" ".join(p.split(":")[1] for p in sys.argv[1:] if importlib.util.find_spec(p.split(":")[0]) is None))' $NEEDED 2>/dev/null; }
MISSING=$(missing)
if [ -n "$MISSING" ]; then
  SITE=$WORK/site
  if [ -d .whl ]; then
    SETUP="$SETUP; installed from .whl: $MISSING"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl/*.whl >"$WORK/pip.log" 2>&1
  else
    SETUP="$SETUP; pip install $MISSING"
    timeout 180 "$PY" -m pip install -q --target "$SITE" $MISSING >"$WORK/pip.log" 2>&1
  fi
  export PYTHONPATH="$PYTHONPATH:$SITE"
  MISSING=$(missing)
fi

# ---- steps: step NAME LIMIT_S command...  (stdout to $STEPS/NAME.out, exit code and seconds beside it)
step() {
  local name=$1 limit=$2; shift 2
  local l; l=$(left); [ "$limit" -gt "$l" ] && limit=$l
  if [ "$limit" -lt 15 ]; then echo "skipped: the budget ran out" >"$STEPS/$name.out"; echo 125 >"$STEPS/$name.rc"
    echo 0 >"$STEPS/$name.s"; return; fi
  local s; s=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$STEPS/$name.out" 2>"$STEPS/$name.err"
  echo $? >"$STEPS/$name.rc"; echo $(( $(date +%s) - s )) >"$STEPS/$name.s"
  echo "[gpu_check] $name: exit $(cat "$STEPS/$name.rc") after $(cat "$STEPS/$name.s") s ($(left) s of the budget left)" >&2
}

step env 30 "$PY" -c '
import json, platform, subprocess, torch
d = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
     "cuda_available": torch.cuda.is_available(), "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
     "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
try:
    d["nvidia_smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout.strip()
except Exception as e:
    d["nvidia_smi"] = repr(e)
print(json.dumps(d))'
step cuda_tests 120 "$PY" -m pytest tests/test_cuda.py -q -p no:cacheprovider -rs
step presets 240 "$PY" -m gan_helpers.tools.presets "$WORK/presets" --scale notebook --timeout 100 --out "$STEPS/presets.json"
SKIP=""
[ "$(left)" -lt 150 ] && SKIP="--skip trainer_compiled"
step throughput 200 "$PY" benchmarks/train_throughput.py --device cuda --sizes 32 64 --iterations 20 --repeats 3 $SKIP

# ---- one JSON
"$PY" - "$STEPS" "$OUT_DIR/gpu_check.json" "$SETUP" "$MISSING" "$T0" <<'EOF'
import json, sys, time
from pathlib import Path

steps, out, setup, missing, t0 = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4].split(), int(sys.argv[5])
doc = {"what": "benchmarks/gpu_check.sh", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
       "python_setup": setup, "missing_modules": missing, "steps": {}}
for name in ("env", "cuda_tests", "presets", "throughput"):
    read = lambda ext: (steps / f"{name}.{ext}").read_text() if (steps / f"{name}.{ext}").is_file() else ""
    text = read("out")
    result = None
    for candidate in ((steps / f"{name}.json").read_text() if (steps / f"{name}.json").is_file() else "", text):
        try:
            result = json.loads(candidate)
            break
        except ValueError:  # empty, or not JSON
            continue
    if name == "presets" and isinstance(result, dict):  # keep it short: what ran and how it ended
        result = {nn: {k: r[k] for k in ("rc", "seconds", "error", "stand_ins")} for nn, r in result.items()}
    doc["steps"][name] = {"rc": int(read("rc") or -1), "seconds": int(read("s") or 0), "result": result,
                          "output_tail": None if result is not None else text[-3000:], "stderr_tail": read("err")[-3000:]}
doc["total_s"] = int(time.time()) - t0
doc["passed"] = all(s["rc"] == 0 for s in doc["steps"].values())
out.write_text(json.dumps(doc, indent=1) + "\n")
print(f"[gpu_check] wrote {out} after {doc['total_s']} s; passed: {doc['passed']}", file=sys.stderr)
EOF
rm -rf "$WORK"
