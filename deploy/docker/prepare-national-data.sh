#!/bin/sh
# Fill the national-data volume (JDL_DATA_DIR): generate the synthetic national dataset, train
# the linkage model beside it, then copy both in with the manifest last. The services mount the
# volume read-only, so the model (<dataset>/linkage_model.json) must be trained here, not by
# them. A volume holding a manifest and a model is left alone; one without a manifest is
# incomplete (an interrupted copy) and is filled again. Used by the compose job "dataset" and the
# dev overlay's Job national-data.
set -eu
out="${JDL_DATA_DIR:-/var/lib/jdl/national}"
people="${DATASET_PEOPLE:-200000}"
seed="${DATASET_SEED:-20260101}"

if [ -f "$out/manifest.json" ] && [ -f "$out/linkage_model.json" ]; then
    echo "national dataset and linkage model already in $out"
    exit 0
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/national.XXXXXX")"
trap 'rm -rf "$work"' EXIT

jdl data generate --people "$people" --seed "$seed" --out "$work/national"
python - "$work/national" <<'PY'
import sys

from jdl_core.linkage import load_linkage_model
from jdl_core.national import load_national

load_linkage_model(load_national(sys.argv[1]))   # trains and saves linkage_model.json
PY

mv "$work/national/manifest.json" "$work/manifest.json"
rm -f "$out/manifest.json"
cp -R "$work/national/." "$out/"
cp "$work/manifest.json" "$out/manifest.json"
echo "national dataset ($people people, seed $seed) and linkage model ready in $out"
