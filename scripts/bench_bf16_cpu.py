#!/usr/bin/env python3
"""Is bf16 worth it on this CPU? The measurement behind spt refusing
runtime.precision = bf16 / fp16 on the CPU (docs/PERF.md, "bf16 on the CPU").

It times the best bf16 code a user of this machine could pick, PyTorch's
(oneDNN: AVX512-BF16 dot products, AMX where the processor has it), against its
f32 (MKL / oneDNN):
  1. matrix products at the shapes of a training step of all-MiniLM-L6-v2 and
     SmolLM2-135M (16 x 512 tokens), f32 vs bf16;
  2. with --train: fine-tuning steps of all-MiniLM-L6-v2 (classification,
     batch 8 x 256, AdamW), f32 vs torch.autocast("cpu", torch.bfloat16).
Prints a table and one JSON line per row; ratio > 1 means bf16 is faster.

  .cache/venv/bin/python scripts/bench_bf16_cpu.py [--train] [--threads 2]
"""
import argparse
import json
import os
import platform
import time

import torch


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    fl = line.split(":", 1)[1].split()
                    return [x for x in fl if x in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx2")]
    except OSError:
        pass
    return []


def time_it(fn, reps):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def gemms(reps):
    rows = []
    n = 16 * 512
    # (what, M, K, N): forward products of one layer; backward adds the same shapes transposed.
    shapes = [("MiniLM qkv", n, 384, 1152), ("MiniLM ffn up", n, 384, 1536), ("MiniLM ffn down", n, 1536, 384),
              ("MiniLM dW (ffn)", 1536, n, 384), ("SmolLM2 up/gate", n, 576, 1536),
              ("SmolLM2 down", n, 1536, 576)]
    for what, m, k, nn in shapes:
        a, b = torch.randn(m, k), torch.randn(k, nn)
        t32 = time_it(lambda: a @ b, reps)
        a16, b16 = a.bfloat16(), b.bfloat16()
        t16 = time_it(lambda: a16 @ b16, reps)
        fl = 2.0 * m * k * nn
        rows.append({"row": f"matmul {what} {m}x{k}x{nn}", "f32_gflops": fl / t32 / 1e9,
                     "bf16_gflops": fl / t16 / 1e9, "bf16_speedup": t32 / t16})
    return rows


def train(steps):
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    path = ".cache/models/all-MiniLM-L6-v2"
    rows = []
    B, T = 8, 256
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (B, T), generator=g)
    labels = torch.randint(0, 2, (B,), generator=g)
    times = {}
    for mode in ("f32", "bf16"):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, attn_implementation="sdpa")
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5)

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
        times[mode] = time_it(step, steps)
    rows.append({"row": f"MiniLM fine-tuning step {B}x{T} (autocast)", "f32_tokens_per_s": B * T / times["f32"],
                 "bf16_tokens_per_s": B * T / times["bf16"], "bf16_speedup": times["f32"] / times["bf16"]})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", action="store_true", help="also time MiniLM fine-tuning steps (a few minutes)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"# {cpu_name()}; flags {' '.join(cpu_flags())}; torch {torch.__version__}; {a.threads} threads")
    rows = gemms(a.reps)
    if a.train:
        rows += train(a.reps)
    for r in rows:
        print(f"{r['row']:<48} bf16 / f32 speed {r['bf16_speedup']:.2f}x")
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
