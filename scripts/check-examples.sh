#!/usr/bin/env bash
# Offline checks of the orchestrator examples (no cluster, no Airflow needed):
# - examples/kubernetes/*.yaml against Kubernetes 1.37's schemas, strictly (unknown keys fail),
#   with PyPI's kubernetes-validate in a virtualenv under ${SLUICE_CACHE_DIR}/venvs;
# - the pipeline file inside the ConfigMap is valid TOML;
# - examples/airflow/*.py compile (syntax only: Airflow itself is not installed).
# Called by scripts/test.sh; logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
KV_VERSION="1.37.0"
CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
VENV="$CACHE_DIR/venvs/kubernetes-validate"
log() { echo "check-examples: $*" >&2; }

if ! "$VENV/bin/python" - "$KV_VERSION" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(0 if version("kubernetes-validate") == sys.argv[1] else 1)
PY
    log "installing kubernetes-validate==$KV_VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet "kubernetes-validate==$KV_VERSION" >&2
fi

log "validating examples/kubernetes against Kubernetes 1.37"
"$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version 1.37.0 examples/kubernetes/*.yaml >&2

"$VENV/bin/python" - examples/kubernetes/pipeline-configmap.yaml <<'PY' >&2
import sys, tomllib, yaml
doc = yaml.safe_load(open(sys.argv[1]))
pipeline = tomllib.loads(doc["data"]["pipeline.toml"])
assert pipeline["source"]["type"] == "rest_api", pipeline["source"]
print("check-examples: the ConfigMap's pipeline.toml is valid TOML")
PY

log "compiling examples/airflow"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PYTHONPYCACHEPREFIX="$tmp" python3 -m py_compile examples/airflow/*.py
log "ok"
