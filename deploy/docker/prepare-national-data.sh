#!/bin/sh
# Fill the national-data volume (JDL_DATA_DIR) and make sure the linkage model beside the data is
# trained on it. The services mount the volume read-only, so they cannot train the model
# (<dataset>/linkage_model.json) themselves: this script, with the volume writable, does.
#   - a dataset is present (manifest.json): keep it; train the model if it is missing or was
#     trained on other data (a real national extract copied in arrives without one);
#   - no manifest: generate the synthetic dataset elsewhere, train its model, copy both in with
#     the manifest last, so an interrupted copy (no manifest) is simply done again.
# Used by the compose job "dataset" and the Kubernetes Job national-data (deploy/k8s/jobs).
set -eu
out="${JDL_DATA_DIR:-/var/lib/jdl/national}"
people="${DATASET_PEOPLE:-200000}"
seed="${DATASET_SEED:-20260101}"

train() {
    python - "$1" <<'PY'
import sys

from jdl_core.linkage import load_linkage_model
from jdl_core.national import load_national

# returns at once when the saved model matches the dataset; otherwise trains and saves it
load_linkage_model(load_national(sys.argv[1]))
PY
}

if [ -f "$out/manifest.json" ]; then
    train "$out"
    echo "national dataset in $out kept; linkage model matches it"
    exit 0
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/national.XXXXXX")"
trap 'rm -rf "$work"' EXIT

jdl data generate --people "$people" --seed "$seed" --out "$work/national"
train "$work/national"
mv "$work/national/manifest.json" "$work/manifest.json"
cp -R "$work/national/." "$out/"
cp "$work/manifest.json" "$out/manifest.json"
echo "national dataset ($people people, seed $seed) and linkage model ready in $out"
