#!/usr/bin/env python3
"""End-to-end check of a LoRA model trained by spt, in PEFT and transformers.

Exports the checkpoint with `spt-convert export-peft` and `merge-lora`, runs
`spt-predict` on the first N rows of a TSV, then loads the base model + exported
adapter with PeftModel.from_pretrained, and the merged folder with transformers,
on the same texts (the tokenizer of the checkpoint, the checkpoint's max length),
and compares every logit with spt's. Exit 1 when a difference exceeds --tol.

  .cache/venv/bin/python tools/check_lora_export.py --checkpoint runs/demo_spam_lora/final \\
      --data .cache/data/spam/dev.tsv [--n 64] [--build build]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

csv.field_size_limit(1 << 30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="TSV with a text column")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--build", default="build")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()

    import torch
    from peft import PeftModel, __version__ as peft_version
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    spt_cfg = json.load(open(os.path.join(a.checkpoint, "config.json")))["spt"]
    base, max_len = spt_cfg["base_model"], spt_cfg.get("max_length", 128)
    with open(a.data, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[: a.n]
    texts = [r[a.text_column] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        sample = os.path.join(tmp, "sample.tsv")
        with open(sample, "w") as f:
            f.write("text\n" + "".join(t + "\n" for t in texts))
        conv = os.path.join(a.build, "spt-convert")
        subprocess.run([conv, "export-peft", a.checkpoint, os.path.join(tmp, "peft")], check=True)
        subprocess.run([conv, "merge-lora", a.checkpoint, os.path.join(tmp, "merged")], check=True)
        pred = os.path.join(tmp, "pred.jsonl")
        subprocess.run([os.path.join(a.build, "spt-predict"), "--model", a.checkpoint, "--data", sample,
                        "--output", pred, "--max-length", str(max_len)], check=True)
        spt_logits = torch.tensor([json.loads(l)["logits"] for l in open(pred)], dtype=torch.float64)

        tok = AutoTokenizer.from_pretrained(a.checkpoint)
        enc = tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        num_labels = spt_logits.shape[1]
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=num_labels)
        peft_model = PeftModel.from_pretrained(model, os.path.join(tmp, "peft")).eval()
        merged = AutoModelForSequenceClassification.from_pretrained(os.path.join(tmp, "merged")).eval()
        with torch.no_grad():
            results = {f"PEFT {peft_version} adapter": peft_model(**enc).logits.double(),
                       "merge-lora in transformers": merged(**enc).logits.double()}
    ok = True
    for name, logits in results.items():
        diff = (logits - spt_logits).abs().max().item()
        agree = (logits.argmax(-1) == spt_logits.argmax(-1)).float().mean().item()
        good = diff <= a.tol
        ok &= good
        print(f"{'OK' if good else 'FAIL'}: {name}: max |logits - spt| = {diff:.3e} over {len(texts)} texts "
              f"(tol {a.tol}); same prediction on {100 * agree:.1f}%")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
