#!/usr/bin/env python3
"""A causal-LM LoRA run of spt on a decoder, checked in PEFT: same held-out loss.

Exports the checkpoint's adapters with `spt-convert export-peft`, loads the base
model (a Hugging Face folder, or a .gguf file through transformers' GGUF loader)
with PeftModel.from_pretrained, packs the evaluation text the way spt does (the
whole file tokenized without special tokens, cut into blocks of the run's
block_size, the first --blocks blocks) and compares PEFT's mean next-token loss
with spt's (`spt-finetune --eval-only` on the checkpoint, same blocks).
Exit 1 when they differ by more than --tol.

  .cache/venv/bin/python tools/check_decoder_export.py --checkpoint runs/smollm2_sotu_lora/final \\
      --config configs/smollm2_sotu_lora.json [--blocks 8]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--config", required=True, help="the run's config (data.dev, data.block_size)")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()

    import torch
    from peft import PeftModel, __version__ as peft_version
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(os.cpu_count())
    cfg = json.load(open(a.config))
    cfg_dir = os.path.dirname(os.path.abspath(a.config))
    dev = os.path.normpath(os.path.join(cfg_dir, cfg["data"]["dev"]))
    T = cfg["data"].get("block_size", 128)
    base = json.load(open(os.path.join(a.checkpoint, "config.json")))["spt"]["base_model"]

    # spt's loss on the first N blocks of the dev text.
    out = subprocess.run([os.path.join(a.build, "spt-finetune"), "--config", a.config, "--eval-only",
                          "--set", f"model.path={os.path.abspath(a.checkpoint)}",
                          "--set", f"data.max_eval_examples={a.blocks}",
                          "--set", f"output.dir={tempfile.mkdtemp()}"],
                         check=True, capture_output=True, text=True).stdout
    spt_loss = float(re.search(r"^loss\s+([-0-9.e+]+)", out, re.M).group(1))

    with tempfile.TemporaryDirectory() as tmp:
        adapter = os.path.join(tmp, "adapter")
        subprocess.run([os.path.join(a.build, "spt-convert"), "export-peft", a.checkpoint, adapter], check=True,
                       capture_output=True)
        if base.endswith(".gguf"):
            kw = dict(gguf_file=os.path.basename(base))
            src = os.path.dirname(base)
        else:
            kw, src = {}, base
        tok = AutoTokenizer.from_pretrained(src, **kw)
        model = AutoModelForCausalLM.from_pretrained(src, torch_dtype=torch.float32, **kw)
        model = PeftModel.from_pretrained(model, adapter).eval()
        ids = tok(open(dev, encoding="utf-8").read(), add_special_tokens=False)["input_ids"]
        blocks = torch.tensor(ids[:a.blocks * T]).view(a.blocks, T)
        losses = []
        with torch.no_grad():
            for b in blocks.split(4):
                out = model(input_ids=b, labels=b)
                losses.append(out.loss.item() * b.shape[0])
        peft_loss = sum(losses) / a.blocks
    diff = abs(spt_loss - peft_loss)
    print(json.dumps({"spt_loss": spt_loss, "peft_loss": peft_loss, "abs_diff": diff, "blocks": a.blocks,
                      "block_size": T, "peft": peft_version, "torch": torch.__version__}))
    return 0 if diff <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
