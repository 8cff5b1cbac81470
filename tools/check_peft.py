#!/usr/bin/env python3
"""Check spt's LoRA outputs with Hugging Face PEFT / transformers (used by hand, not by ctest).

  check_peft.py adapter --base BASE_DIR --adapter ADAPTER_DIR --reference REF.safetensors
                        [--logits-key logits] [--tol 1e-4]
      Loads the transformers base model (class from config.json "architectures"), then
      PeftModel.from_pretrained(base, ADAPTER_DIR), runs it in eval mode on the inputs in REF
      (input_ids, attention_mask, token_type_ids when present) and compares its logits with
      REF[logits-key]. Proves that PEFT reads an adapter written by spt the way spt means it.
  check_peft.py merged --model MERGED_DIR --reference REF.safetensors
                       [--logits-key merged_logits] [--tol 1e-4]
      The same with a plain transformers model loaded from MERGED_DIR (e.g. spt's merged export).
  check_peft.py export --base BASE_DIR --adapter ADAPTER_DIR --out OUT_DIR
      Loads base + adapter in PEFT, merge_and_unload(), save_pretrained(OUT_DIR): PEFT's own merge,
      to compare with spt's.

Prints the max |difference| and exits 1 when it is above --tol. Runs in fp32 on the CPU.
Environment: .cache/venv (scripts/setup_reference_env.sh), e.g.
  .cache/venv/bin/python tools/check_peft.py adapter --base tests/fixtures/reference/lora_bert_cls \\
      --adapter tests/fixtures/reference/lora_bert_cls/adapter \\
      --reference tests/fixtures/reference/lora_bert_cls/reference.safetensors
"""
import argparse
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file

INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def load_hf(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    archs = cfg.get("architectures") or []
    if not archs:
        sys.exit(f"{model_dir}/config.json has no \"architectures\"")
    cls = getattr(transformers, archs[0], None)
    if cls is None:
        sys.exit(f"transformers {transformers.__version__} has no class {archs[0]}")
    return cls.from_pretrained(model_dir, torch_dtype=torch.float32).eval()


def load_peft(base_dir, adapter_dir):
    from peft import PeftModel
    return PeftModel.from_pretrained(load_hf(base_dir), adapter_dir).eval()


def compare(model, ref_path, key, tol):
    ref = load_file(ref_path)
    if key not in ref:
        sys.exit(f"{ref_path} has no tensor {key!r} (has: {', '.join(sorted(ref))})")
    inputs = {k: ref[k] for k in INPUT_KEYS if k in ref}
    with torch.no_grad():
        logits = model(**inputs).logits.float()
    want = ref[key].float()
    if logits.shape != want.shape:
        print(f"FAIL: logits shape {tuple(logits.shape)} != {key} shape {tuple(want.shape)}")
        return 1
    diff = (logits - want).abs().max().item()
    ok = diff <= tol
    print(f"{'OK' if ok else 'FAIL'}: max |logits - {key}| = {diff:.3e} (tol {tol:g}, "
          f"shape {tuple(want.shape)})")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("adapter", help="base + PEFT adapter vs reference logits")
    a.add_argument("--base", required=True)
    a.add_argument("--adapter", required=True)
    a.add_argument("--reference", required=True)
    a.add_argument("--logits-key", default="logits")
    a.add_argument("--tol", type=float, default=1e-4)
    m = sub.add_parser("merged", help="plain transformers model vs reference logits")
    m.add_argument("--model", required=True)
    m.add_argument("--reference", required=True)
    m.add_argument("--logits-key", default="merged_logits")
    m.add_argument("--tol", type=float, default=1e-4)
    e = sub.add_parser("export", help="PEFT merge_and_unload of base + adapter, saved")
    e.add_argument("--base", required=True)
    e.add_argument("--adapter", required=True)
    e.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))

    if args.cmd == "adapter":
        return compare(load_peft(args.base, args.adapter), args.reference, args.logits_key, args.tol)
    if args.cmd == "merged":
        return compare(load_hf(args.model), args.reference, args.logits_key, args.tol)
    merged = load_peft(args.base, args.adapter).merge_and_unload()
    os.makedirs(args.out, exist_ok=True)
    merged.save_pretrained(args.out, safe_serialization=True)
    print(f"wrote {args.out}: {', '.join(sorted(os.listdir(args.out)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
