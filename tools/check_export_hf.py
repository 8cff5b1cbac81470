#!/usr/bin/env python3
"""Checks `spt-convert export-hf` against Hugging Face transformers.

For each fixture model (tests/fixtures/models: BERT with and without a
classifier, GPT-2 LM and base, the sharded GPT-2) it builds an spt checkpoint
with `spt-convert import-hf`, exports it with `spt-convert export-hf`, loads the
original folder, the export and the spt checkpoint folder itself with
transformers' from_pretrained, and requires identical state dicts and identical
logits / hidden states on the same random input (spt has no model forward yet,
so "same logits" is checked between the two transformers models).

    .cache/venv/bin/python tools/check_export_hf.py [--spt-convert build/spt-convert]

Exit status 0 when every model matches (or, with a message, when transformers
is not installed), 1 otherwise.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() not in (_HERE, _HERE / "fixtures")]

try:
    import torch
    import transformers
except ImportError as e:  # pragma: no cover
    print(f"check_export_hf: SKIP, transformers is not installed ({e})")
    sys.exit(0)

MODELS = ["bert_cls", "bert_base", "gpt2_lm", "gpt2_base", "gpt2_sharded"]


def load(folder: Path):
    """The model of `folder`; fails when transformers had to skip or invent weights."""
    config = transformers.AutoConfig.from_pretrained(folder)
    cls = getattr(transformers, config.architectures[0])
    model, info = cls.from_pretrained(folder, output_loading_info=True)
    leftovers = {k: v for k, v in info.items() if k != "error_msgs" and v}
    if leftovers or info.get("error_msgs"):
        raise SystemExit(f"check_export_hf: {folder} did not load cleanly: {info}")
    return model.eval()


def outputs(model, vocab: int):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (2, 7), generator=g)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def check(tool: Path, name: str, tmp: Path) -> list:
    src = ROOT / "tests" / "fixtures" / "models" / name
    ck, hf = tmp / f"{name}.spt", tmp / f"{name}.hf"
    subprocess.run([str(tool), "import-hf", str(src), str(ck)], check=True)
    subprocess.run([str(tool), "export-hf", str(ck), str(hf)], check=True)
    problems = []
    ref = load(src)
    ref_sd = ref.state_dict()
    ref_out = outputs(ref, ref.config.vocab_size)
    for label, folder in (("export", hf), ("spt checkpoint", ck)):
        model = load(folder)
        sd = model.state_dict()
        if sd.keys() != ref_sd.keys():
            problems.append(f"{name} {label}: state dict keys differ: {sorted(set(sd) ^ set(ref_sd))}")
        for k in ref_sd.keys() & sd.keys():
            if not torch.equal(sd[k], ref_sd[k]):
                problems.append(f"{name} {label}: tensor {k} differs")
        if not torch.equal(outputs(model, model.config.vocab_size), ref_out):
            problems.append(f"{name} {label}: logits differ")
    exported = transformers.AutoConfig.from_pretrained(hf).to_dict()
    if "spt" in exported:
        problems.append(f"{name}: exported config.json still has the spt object")
    status = "ok" if not problems else "MISMATCH"
    print(f"{name:14s} {type(ref).__name__:32s} logits {tuple(ref_out.shape)}: {status}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spt-convert", type=Path, default=None, help="the spt-convert binary")
    args = ap.parse_args()
    tool = args.spt_convert
    if tool is None:
        found = [p for p in (ROOT / "build" / "spt-convert", ROOT / "build-io" / "spt-convert") if p.exists()]
        if not found:
            print("check_export_hf: no spt-convert found; build it or pass --spt-convert", file=sys.stderr)
            return 1
        tool = found[0]
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, tool {tool}")
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            problems += check(tool, name, Path(tmp))
    for p in problems:
        print("  " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
