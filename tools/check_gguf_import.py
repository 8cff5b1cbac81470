#!/usr/bin/env python3
"""Checks `spt-convert import-gguf` on a real GGUF file against transformers' own GGUF loader.

  .cache/venv/bin/python tools/check_gguf_import.py [--gguf FILE] [--out DIR] [--sotu-lines N]

(needs scripts/setup_reference_env.sh, `pip install gguf==0.19.0` in that venv,
scripts/fetch_smollm2.sh and build/spt-convert, build/spt-tokenize)

1. runs `spt-convert import-gguf FILE DIR` (unless DIR exists);
2. tokenizers: transformers loading the GGUF file, transformers loading DIR, and
   spt-tokenize on DIR, on the tokenizer stress corpus of tools/fixtures/tokenizer_refs.py
   (the synthetic lines plus the first SOTU sentences of every speech), special tokens
   added: ids must be equal on every line;
3. logits: LlamaForCausalLM from the GGUF file vs from DIR (fp32) on a batch of SOTU
   text (4 x 256 tokens): max abs difference and argmax agreement.
Prints one JSON line with the figures; exit status 1 when a check fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "fixtures"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.path.join(ROOT, ".cache", "models", "smollm2",
                                                   "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".cache", "models", "smollm2-hf"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--sotu-lines", type=int, default=0, help="limit the SOTU part of the corpus (0: all)")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import tokenizer_refs as tr

    torch.set_num_threads(2)
    if not os.path.isdir(args.out):
        subprocess.run([os.path.join(args.build, "spt-convert"), "import-gguf", args.gguf, args.out], check=True)
    gdir, gname = os.path.dirname(args.gguf), os.path.basename(args.gguf)

    # ---- tokenizers
    sotu = [s for sp in tr.sotu_speeches() for s in tr.split_sentences(sp)[:tr.SOTU_PER_FILE]]
    if args.sotu_lines:
        sotu = sotu[:args.sotu_lines]
    lines = [ln.replace("\t", " ").replace("\n", " ") for ln in tr.synthetic_corpus() + sotu]
    tok_g = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
    tok_h = AutoTokenizer.from_pretrained(args.out)
    ids_g = [tok_g(x)["input_ids"] for x in lines]
    ids_h = [tok_h(x)["input_ids"] for x in lines]
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "lines.txt")
        with open(inp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        out = subprocess.run([os.path.join(args.build, "spt-tokenize"), "--tokenizer", args.out, "--input", inp],
                             check=True, capture_output=True, text=True).stdout
    ids_s = [json.loads(r)["ids"] for r in out.splitlines() if r.strip()]
    mism_h = sum(a != b for a, b in zip(ids_g, ids_h))
    mism_s = sum(a != b for a, b in zip(ids_g, ids_s)) + abs(len(ids_s) - len(ids_g))

    # ---- logits
    text = " ".join(sotu[:400])
    enc = tok_g(text, return_tensors="pt")["input_ids"][0]
    T, B = 256, 4
    batch = torch.stack([enc[i * T:(i + 1) * T] for i in range(B)])
    m_g = AutoModelForCausalLM.from_pretrained(gdir, gguf_file=gname, dtype=torch.float32).eval()
    m_h = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32).eval()
    with torch.no_grad():
        lg = m_g(input_ids=batch).logits
        lh = m_h(input_ids=batch).logits
        loss = torch.nn.functional.cross_entropy(lh[:, :-1].reshape(-1, lh.shape[-1]), batch[:, 1:].reshape(-1))
    max_diff = (lg - lh).abs().max().item()
    argmax = (lg.argmax(-1) == lh.argmax(-1)).float().mean().item()
    res = {"gguf": gname, "corpus_lines": len(lines), "tokenizer_mismatches_hf_folder": mism_h,
           "tokenizer_mismatches_spt": mism_s, "logits_max_abs_diff": max_diff, "argmax_agreement": argmax,
           "loss_on_sotu": round(loss.item(), 4), "batch": [B, T]}
    print(json.dumps(res))
    ok = mism_h == 0 and mism_s == 0 and max_diff <= 1e-3 and argmax >= 0.999
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
