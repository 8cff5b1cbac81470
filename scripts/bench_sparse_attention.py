#!/usr/bin/env python3
"""Sparse attention vs dense attention on the CPU, forward + backward, one run.

Shapes: batch 4, 12 heads of 64, T = 512 ... 4096, L = T / 8, bidirectional and
causal, attention dropout 0.1 (BERT's), fp32, the same thread count.
  * spt sparse: sparse_select (PQ, codebooks by k-means on the keys) + forward +
    backward, from `build/spt-bench --attention`;
  * spt dense: spt's dense attention (GEMMs + softmax), same run;
  * PyTorch: torch.nn.functional.scaled_dot_product_attention forward + backward
    with dropout 0.1 (what a transformers user trains with), and with dropout 0
    (PyTorch's fused flash-attention CPU kernel, which saves no probabilities).
Saved bytes: what each keeps for backward (spt: the probabilities, or idx + lse;
PyTorch: the tensors autograd saves, counted with saved_tensors_hooks, inputs
excluded).

  .cache/venv/bin/python scripts/bench_sparse_attention.py [--seqs 512,1024,2048,4096] [--threads 2]
(needs the reference env: bash scripts/setup_reference_env.sh, and build/spt-bench)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_side(T, batch, heads, dim, causal, dropout, iters, threads):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, heads, T, dim, generator=g).requires_grad_() for _ in range(3))
    dout = torch.randn(batch, heads, T, dim, generator=g)
    inputs = {q.data_ptr(), k.data_ptr(), v.data_ptr()}
    saved = {}

    def pack(t):
        if t.data_ptr() not in inputs:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    def once():
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            t0 = time.perf_counter()
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal)
            t1 = time.perf_counter()
        out.backward(dout)
        t2 = time.perf_counter()
        q.grad = k.grad = v.grad = None
        return (t1 - t0) * 1e3, (t2 - t1) * 1e3

    once()
    runs = sorted((once() for _ in range(iters)), key=lambda r: r[0] + r[1])
    fwd, bwd = runs[len(runs) // 2]
    return fwd, bwd, sum(saved.values())


def spt_side(seqs, batch, causal, iters, threads):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.jsonl")
        cmd = [os.path.join(ROOT, "build", "spt-bench"), "--attention", ",".join(map(str, seqs)),
               "--batch", str(batch), "--iters", str(iters), "--json", out] + (["--causal"] if causal else [])
        env = dict(os.environ, SPT_NUM_THREADS=str(threads))
        subprocess.run(cmd, check=True, env=env, stdout=sys.stderr)
        with open(out) as f:
            return {r["T"]: r for r in map(json.loads, f)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seqs", default="512,1024,2048,4096")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--modes", default="bidirectional,causal")
    args = ap.parse_args()
    seqs = [int(s) for s in args.seqs.split(",")]
    import torch
    print(f"sparse attention fwd+bwd, CPU, {args.threads} threads: B={args.batch} H=12 D=64, L = T/8, "
          f"dropout 0.1; torch {torch.__version__}\n")
    print("| mode | T | PyTorch SDPA ms (saved MiB) | PyTorch SDPA p=0 ms (saved MiB) | spt dense ms (saved MiB) | "
          "spt sparse ms: select + fwd + bwd (saved MiB) | sparse vs spt dense | vs PyTorch | vs PyTorch p=0 | "
          "saved bytes vs dense |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        causal = mode == "causal"
        spt = spt_side(seqs, args.batch, causal, args.iters, args.threads)
        for T in seqs:
            tf, tb, ts = torch_side(T, args.batch, 12, 64, causal, 0.1, args.iters, args.threads)
            zf, zb, zs = torch_side(T, args.batch, 12, 64, causal, 0.0, args.iters, args.threads)
            r = spt[T]
            dense = r["dense_fwd_ms"] + r["dense_bwd_ms"]
            sparse = r["sparse_select_ms"] + r["sparse_fwd_ms"] + r["sparse_bwd_ms"]
            mib = 1 / 1048576
            print(f"| {mode} | {T} | {tf + tb:.0f} ({ts * mib:.0f}) | {zf + zb:.0f} ({zs * mib:.0f}) | "
                  f"{dense:.0f} ({r['dense_saved_bytes'] * mib:.0f}) | "
                  f"{sparse:.0f}: {r['sparse_select_ms']:.0f} + {r['sparse_fwd_ms']:.0f} + {r['sparse_bwd_ms']:.0f} "
                  f"({r['sparse_saved_bytes'] * mib:.1f}) | {dense / sparse:.2f}x | {(tf + tb) / sparse:.2f}x | "
                  f"{(zf + zb) / sparse:.2f}x | {r['sparse_saved_bytes'] / r['dense_saved_bytes']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
