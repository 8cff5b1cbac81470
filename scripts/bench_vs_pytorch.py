#!/usr/bin/env python3
"""spt vs PyTorch + transformers: fine-tuning throughput and peak memory, one run.

Same model (all-MiniLM-L6-v2 + a 2-label classifier; or, with --model FILE.gguf,
a LLaMA-family decoder such as SmolLM2-135M as a causal LM on its own ids),
batch 16, sequence 128, random token ids (every token real), dropout on, AdamW
with gradient clipping, fp32 on the CPU, the same thread count; 1 warm-up step,
then N timed steps.
Each side runs in its own process; peak memory is that process's peak resident
set size (ru_maxrss). Prints a table and the ratios spt / PyTorch.

  .cache/venv/bin/python scripts/bench_vs_pytorch.py [--steps 30] [--threads 2] [--seq 128] [--lora 8]
  .cache/venv/bin/python scripts/bench_vs_pytorch.py --model .cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
      --batch 4 --seq 512 --steps 3 --lora 8
With --lora R: spt LoRA vs PyTorch + transformers + PEFT LoRA (same adapters), and
spt full fine-tuning on the same shapes.
(needs the reference env: bash scripts/setup_reference_env.sh; the build: build/spt-bench;
 the model: bash scripts/fetch_minilm.sh)
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_side(model_dir, batch, seq, steps, threads, lora):
    import torch
    from transformers import AutoModelForCausalLM, BertForSequenceClassification
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    causal = model_dir.endswith(".gguf")
    if causal:
        model = AutoModelForCausalLM.from_pretrained(os.path.dirname(model_dir), gguf_file=os.path.basename(model_dir),
                                                     torch_dtype=torch.float32)
    else:
        model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    impl = "pytorch"
    if lora > 0:
        # What a PEFT user writes for the same adapters: every attention and FFN
        # linear layer ("output.dense" matches attention.output.dense too), the
        # classifier trained in full (SEQ_CLS), the rest frozen.
        from peft import LoraConfig, get_peft_model, __version__ as peft_version
        targets = (["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] if causal
                   else ["query", "key", "value", "intermediate.dense", "output.dense"])
        cfg = LoraConfig(task_type="CAUSAL_LM" if causal else "SEQ_CLS", r=lora, lora_alpha=2 * lora,
                         lora_dropout=0.05, target_modules=targets)
        model = get_peft_model(model, cfg)
        impl = f"pytorch+peft {peft_version}"
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 21000, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    labels = ids.clone() if causal else torch.randint(0, 2, (batch,), generator=g)

    def step():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sec = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": impl, "tokens_per_s": batch * seq * steps / sec,
                      "step_ms": 1000 * sec / steps, "peak_rss_mib": rss, "steps": steps,
                      "batch": batch, "seq": seq, "torch": torch.__version__}))


def run(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(os.environ.get("SPT_CACHE", os.path.join(ROOT, ".cache")),
                                                    "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--spt-bench", default=os.path.join(ROOT, "build", "spt-bench"))
    ap.add_argument("--lora", type=int, default=0,
                    help="LoRA rank (alpha 2r, dropout 0.05, all attention and FFN linear layers): spt LoRA "
                         "vs PyTorch + PEFT LoRA, plus spt full fine-tuning on the same shapes")
    ap.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_only:
        torch_side(a.model, a.batch, a.seq, a.steps, a.threads, a.lora)
        return
    env = dict(os.environ, SPT_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))

    def spt_run(lora):
        r = run([a.spt_bench, "--train-model", a.model, "--batch", str(a.batch), "--seq", str(a.seq),
                 "--steps", str(a.steps), "--lora", str(lora)], env)
        r["impl"] = f"spt LoRA r={lora}" if lora else "spt full fine-tuning"
        return r

    spt = spt_run(a.lora)
    pt = run([sys.executable, os.path.abspath(__file__), "--torch-only", "--model", a.model,
              "--batch", str(a.batch), "--seq", str(a.seq), "--steps", str(a.steps),
              "--threads", str(a.threads), "--lora", str(a.lora)], env)
    rows = [spt, pt]
    if a.lora:
        rows.append(spt_run(0))
    what = (os.path.basename(a.model) + " causal LM" if a.model.endswith(".gguf") else "MiniLM-L6 + classifier")
    print(f"{what}, batch {a.batch}, seq {a.seq}, {a.steps} steps, fp32 CPU, {a.threads} threads")
    print("| impl | tokens/s | ms/step | peak RSS (MiB) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['impl']} | {r['tokens_per_s']:.0f} | {r['step_ms']:.0f} | {r['peak_rss_mib']:.0f} |")
    print(f"| spt / {pt['impl']} | {spt['tokens_per_s'] / pt['tokens_per_s']:.2f}x | | "
          f"{spt['peak_rss_mib'] / pt['peak_rss_mib']:.2f}x |")
    if a.lora:
        full = rows[2]
        print(f"| spt LoRA / spt full | {spt['tokens_per_s'] / full['tokens_per_s']:.2f}x | | "
              f"{spt['peak_rss_mib'] / full['peak_rss_mib']:.2f}x |")
        print(f"(torch {pt.get('torch')}; goal: >= 1.5x PyTorch + PEFT throughput at <= 0.6x its memory)")
    else:
        print(f"(torch {pt.get('torch')}; goal: throughput >= 1.0x, memory <= 0.8x)")


if __name__ == "__main__":
    main()
