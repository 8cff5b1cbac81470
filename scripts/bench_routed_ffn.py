#!/usr/bin/env python3
"""Routed FFN vs dense FFN on the CPU, forward + backward, one run.

Shapes (d / F): 384 / 1536 (MiniLM), 576 / 1536 SwiGLU (SmolLM2-135M), 768 / 3072
(BERT-base); 4096 tokens, 8 blocks, 4 per token, fp32, every weight trainable, the
same thread count.
  * spt routed: router GEMM + top-k + grouping + gathered per-block GEMMs, forward
    and backward (`build/spt-bench --ffn`), with the router and grouping shown apart;
  * spt dense: spt's dense FFN (linear, activation, linear), same run;
  * PyTorch dense: nn.functional.linear / gelu / silu forward + backward;
  * PyTorch routed: the same routing written the way a PyTorch user would (top-k
    of the router, then per block: index_select of its tokens, the block's slice
    of the weights, index_add_ of gate-weighted outputs), autograd backward.

  .cache/venv/bin/python scripts/bench_routed_ffn.py [--tokens 4096] [--threads 2]
(needs the reference env: bash scripts/setup_reference_env.sh, and build/spt-bench)
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = [(384, 1536, False), (576, 1536, True), (768, 3072, False)]


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def torch_side(d, F, swiglu, tokens, blocks, active, iters, threads):
    import torch
    import torch.nn.functional as Fn
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)

    def param(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).requires_grad_()

    x = torch.randn(tokens, d, generator=g).requires_grad_()
    dy = torch.randn(tokens, d, generator=g)
    up, down = param(F, d), param(d, F)
    gate = param(F, d) if swiglu else None
    up_b = None if swiglu else param(F)
    down_b = None if swiglu else param(d)
    router = (torch.randn(blocks, d, generator=g) * 0.5).requires_grad_()
    fb = F // blocks

    def hidden(xs, sl):
        pre = Fn.linear(xs, up[sl], None if up_b is None else up_b[sl])
        if swiglu:
            return Fn.silu(Fn.linear(xs, gate[sl])) * pre
        return Fn.gelu(pre)

    def dense():
        return Fn.linear(hidden(x, slice(None)), down, down_b)

    def routed():
        logits = Fn.linear(x, router)
        top, sel = logits.topk(active, dim=-1)
        gates = 2 * torch.sigmoid(top)
        y = torch.zeros_like(x) if down_b is None else down_b.expand_as(x).clone()
        for b in range(blocks):
            tok, slot = (sel == b).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            sl = slice(b * fb, (b + 1) * fb)
            yb = Fn.linear(hidden(x.index_select(0, tok), sl), down[:, sl])
            y = y.index_add(0, tok, yb * gates[tok, slot].unsqueeze(1))
        return y

    out = {}
    for name, fn in (("dense", dense), ("routed", routed)):
        fwd, bwd = [], []
        for i in range(iters + 1):
            t0 = time.perf_counter()
            y = fn()
            t1 = time.perf_counter()
            y.backward(dy)
            t2 = time.perf_counter()
            for p in (x, up, down, gate, up_b, down_b, router):
                if p is not None:
                    p.grad = None
            if i:
                fwd.append((t1 - t0) * 1e3)
                bwd.append((t2 - t1) * 1e3)
        out[name] = (median(fwd), median(bwd))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--active", type=int, default=4)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "spt-bench"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ffn.jsonl")
        shapes = [f"{d}:{F}" + (":swiglu" if s else "") for d, F, s in SHAPES]
        env = dict(os.environ, SPT_NUM_THREADS=str(a.threads))
        subprocess.run([a.bench, "--ffn", *shapes, "--tokens", str(a.tokens), "--blocks", str(a.blocks), "--active",
                        str(a.active), "--iters", str(a.iters), "--json", path], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        spt = [json.loads(line) for line in open(path)]
    print(f"FFN forward + backward, {a.tokens} tokens, {a.active} of {a.blocks} blocks, {a.threads} threads, fp32\n")
    print("| d / F | spt dense ms | spt routed ms (router, grouping) | PyTorch dense ms | PyTorch routed ms | "
          "spt routed / spt dense | spt routed / PyTorch dense | spt routed / PyTorch routed |")
    print("|---|---|---|---|---|---|---|---|")
    for (d, F, swiglu), r in zip(SHAPES, spt):
        t = torch_side(d, F, swiglu, a.tokens, a.blocks, a.active, a.iters, a.threads)
        sd = r["dense_fwd_ms"] + r["dense_bwd_ms"]
        sr = r["routed_fwd_ms"] + r["routed_bwd_ms"]
        td, tr = sum(t["dense"]), sum(t["routed"])
        name = f"{d} / {F}" + (" SwiGLU" if swiglu else "")
        print(f"| {name} | {sd:.1f} | {sr:.1f} ({r['router_ms']:.1f}, {r['group_ms']:.2f}) | {td:.1f} | {tr:.1f} | "
              f"{sr / sd:.2f}x | {sr / td:.2f}x | {sr / tr:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
