#!/usr/bin/env bash
# Creates the Python environment used to generate reference fixtures from
# Hugging Face transformers (tools/) and to run the PyTorch baseline benchmark.
# Not needed to build or test spt. Location: $SPT_CACHE/venv (default .cache/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${SPT_CACHE:-.cache}
VENV="$CACHE/venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r tools/requirements-reference.txt
"$VENV/bin/python" -c "import torch, transformers, tokenizers; print('reference env:', 'torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__)"
