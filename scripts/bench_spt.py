#!/usr/bin/env python3
"""The SPT side-by-side benchmark (issue 15): one run, one table, one plot.

Rows: spt dense full fine-tuning, spt dense LoRA, spt LoRA + sparse attention,
spt LoRA + routed FFN, spt SPT (both: "spt": true), and PyTorch + transformers
(+ PEFT) dense full and dense LoRA (SDPA attention). Columns: training tokens/s
(real tokens, padding excluded; the mean of the logged intervals after the first),
peak memory (the process's peak RSS), and the dev metric after the same number
of steps (accuracy, or perplexity for the causal LM).

Workloads:
  spam     all-MiniLM-L6-v2 classification on SpamAssassin, max length 512, batch 16
  smollm2  SmolLM2-135M-Instruct (GGUF) causal LM on State of the Union text,
           blocks of 1024 tokens, batch 2

Every row trains from the same weights on the same data for the same number of
steps (--steps; by default 40 for spam and 20 for smollm2, whose rows are ~4x
slower per step; AdamW, linear schedule with 10% warm-up, clipping at 1.0, dropout as the model
config says), then evaluates on the first --eval-examples dev examples (by default
all 597 dev emails for spam: the dev file is sorted by label, its first 417 are
ham, so a prefix of it measures nothing; the first 32 blocks of 1024 tokens for
smollm2: the whole SOTU dev set is ~185 blocks, and evaluating it in full
dominated each row's time). LoRA
rows: r = 8, alpha 16, dropout 0.05 on every attention and FFN linear layer
(PEFT's target_modules the same; a routed FFN runs its adapters inside the
chosen blocks, and its routers train). Learning rates: full fine-tuning 1e-4, LoRA 1e-3 (spam), 5e-4
(smollm2).

  .cache/venv/bin/python scripts/bench_spt.py [--workload spam|smollm2|all] [--steps N]
      [--eval-examples N] [--threads 2] [--rows spt_dense_full,...] [--json F] [--plot F]

Prints a markdown table per workload, the targets of issue 15 as met / not met
with the measured ratios, and writes the results (--json) and a bar chart
(--plot, needs matplotlib). Needs the reference env (scripts/setup_reference_env.sh),
build/spt-finetune, the models (scripts/fetch_minilm.sh, scripts/fetch_smollm2.sh)
and the data the demos use (.cache/data/spam, .cache/data/sotu).
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

WORKLOADS = {
    "spam": {
        "config": "configs/demo_spam_spt.json",
        "model": ".cache/models/all-MiniLM-L6-v2",
        "train": ".cache/data/spam/train.tsv",
        "dev": ".cache/data/spam/dev.tsv",
        "seq": 512, "batch": 16, "lr_full": 1e-4, "lr_lora": 1e-3,
        "metric": "accuracy", "eval_examples": 0, "steps": 40,
    },
    "smollm2": {
        "config": "configs/smollm2_sotu_spt.json",
        "model": ".cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "train": ".cache/data/sotu/train.txt",
        "dev": ".cache/data/sotu/dev.txt",
        "seq": 1024, "batch": 2, "lr_full": 1e-4, "lr_lora": 5e-4,
        "metric": "perplexity", "eval_examples": 32, "steps": 20,
    },
}

ROWS = ["spt_dense_full", "spt_dense_lora", "spt_lora_sparse", "spt_lora_routed", "spt_spt",
        "torch_dense_full", "torch_dense_lora"]
LABELS = {
    "spt_dense_full": "spt dense full fine-tuning",
    "spt_dense_lora": "spt dense LoRA",
    "spt_lora_sparse": "spt LoRA + sparse attention",
    "spt_lora_routed": "spt LoRA + routed FFN",
    "spt_spt": "spt SPT (sparse attention + routed FFN + LoRA)",
    "torch_dense_full": "PyTorch + transformers dense full",
    "torch_dense_lora": "PyTorch + transformers + PEFT dense LoRA",
}


def eval_examples(w, args):
    """Dev examples a row evaluates on (0: all)."""
    return w["eval_examples"] if args.eval_examples is None else args.eval_examples


def steps_of(w, args):
    """Training steps of every row of a workload (--steps overrides the workload's own)."""
    return args.steps if args.steps else w["steps"]


def spt_overrides(row, w, steps, n_eval, threads):
    lora_all = ["lora.enabled=true", "lora.rank=8", "lora.alpha=16", "lora.dropout=0.05",
                'lora.targets=["all-linear"]', f"train.learning_rate={w['lr_lora']}"]
    sparse = ["attention.type=sparse", "attention.top_ratio=0.125", "attention.keep_first=1",
              "attention.pq.rerank=2"]
    routed = ["ffn.type=routed", "ffn.active=0"]
    rows = {
        "spt_dense_full": ["lora.enabled=false", f"train.learning_rate={w['lr_full']}"],
        "spt_dense_lora": lora_all,
        "spt_lora_sparse": lora_all + sparse,
        "spt_lora_routed": lora_all + routed,
        "spt_spt": lora_all + sparse + routed,
    }
    common = ["spt=false", "attention.type=dense", "ffn.type=dense", f"train.max_steps={steps}",
              "train.warmup_ratio=0.1", "train.max_grad_norm=1.0", "tokenizer.group_by_length=false",
              f"data.max_eval_examples={n_eval}", "eval.every_epoch=false", "eval.every_steps=0",
              "output.save_final=false", "output.save_best=false", "logging.every_steps=5",
              f"runtime.threads={threads}"]
    return common + rows[row]


def run_spt(row, w, args, tmp):
    out = os.path.join(tmp, row)
    cmd = [os.path.join(ROOT, args.build_dir, "spt-finetune"), "--config", os.path.join(ROOT, w["config"]),
           "--set", f"output.dir={out}"]
    for o in spt_overrides(row, w, steps_of(w, args), eval_examples(w, args), args.threads):
        cmd += ["--set", o]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"[bench_spt] {row} failed (exit {p.returncode}):\n{p.stderr[-3000:]}\n{p.stdout[-2000:]}")
    recs = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl")) if line.strip()]
    train = [r for r in recs if r["type"] == "train"]
    evals = [r for r in recs if r["type"] == "eval"]
    summary = [r for r in recs if r["type"] == "summary"][-1]
    tps = [r["tokens_per_second"] for r in train[1:]] or [train[0]["tokens_per_second"]]
    return {"tokens_per_s": sum(tps) / len(tps), "peak_rss_mib": summary["peak_rss_mib"],
            "peak_tensor_mib": summary["peak_tensor_mib"], "metric": evals[-1][w["metric"]],
            "train_seconds": summary["seconds"], "wall_seconds": wall,
            "trainable": summary["trainable_params"]}


# ---- PyTorch side (run in a child process: its own peak RSS) ----

def torch_child(row, wname, args):
    import torch
    w = WORKLOADS[wname]
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    lora = row == "torch_dense_lora"
    causal = wname == "smollm2"
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup
    model_path = os.path.join(ROOT, w["model"])
    if causal:
        from transformers import AutoModelForCausalLM
        d, f = os.path.dirname(model_path), os.path.basename(model_path)
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32,
                                                     attn_implementation="sdpa")
    else:
        from transformers import AutoModelForSequenceClassification
        tok = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2,
                                                                   attn_implementation="sdpa")
    if lora:
        from peft import LoraConfig, get_peft_model
        targets = (["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] if causal
                   else ["query", "key", "value", "intermediate.dense", "output.dense"])
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM" if causal else "SEQ_CLS", r=8,
                                                 lora_alpha=16, lora_dropout=0.05, target_modules=targets))
    lr = w["lr_lora"] if lora else w["lr_full"]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0 if causal else 0.01)
    sched = get_linear_schedule_with_warmup(opt, int(math.ceil(0.1 * args.steps)), args.steps)
    g = torch.Generator().manual_seed(42)

    if causal:
        def blocks(path, limit):
            ids = tok(open(path, encoding="utf-8").read(), add_special_tokens=False)["input_ids"]
            n = len(ids) // w["seq"]
            out = [ids[i * w["seq"]:(i + 1) * w["seq"]] for i in range(n)]
            return out[:limit] if limit else out
        train_blocks = blocks(os.path.join(ROOT, w["train"]), 0)
        dev_blocks = blocks(os.path.join(ROOT, w["dev"]), eval_examples(w, args))
        order = torch.randperm(len(train_blocks), generator=g).tolist()

        def batch(i):
            rows = [train_blocks[order[(i * w["batch"] + k) % len(order)]] for k in range(w["batch"])]
            ids = torch.tensor(rows)
            return {"input_ids": ids, "labels": ids.clone()}, ids.numel()
    else:
        import csv
        def read(path, limit=0):
            with open(path, encoding="utf-8") as f:
                rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
            rows = [(r["text"], 1 if r["label"] == "spam" else 0) for r in rows]
            return rows[:limit] if limit else rows
        csv.field_size_limit(1 << 30)
        train_rows = read(os.path.join(ROOT, w["train"]))
        dev_rows = read(os.path.join(ROOT, w["dev"]), eval_examples(w, args))
        order = torch.randperm(len(train_rows), generator=g).tolist()

        def encode(rows):
            enc = tok([r[0] for r in rows], truncation=True, max_length=w["seq"], padding="longest",
                      return_tensors="pt")
            enc["labels"] = torch.tensor([r[1] for r in rows])
            return enc

        def batch(i):
            rows = [train_rows[order[(i * w["batch"] + k) % len(order)]] for k in range(w["batch"])]
            enc = encode(rows)
            return enc, int(enc["attention_mask"].sum())

    model.train()
    intervals, t_last, tokens = [], None, 0
    t_start = time.time()
    for step in range(args.steps):
        b, n = batch(step)
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += n
        if step == 0 or (step + 1) % 5 == 0 or step + 1 == args.steps:
            now = time.time()
            if t_last is not None:
                intervals.append(tokens / (now - t_last))
            t_last, tokens = now, 0
    train_seconds = time.time() - t_start
    model.eval()
    with torch.no_grad():
        if causal:
            losses = [model(input_ids=torch.tensor([blk]), labels=torch.tensor([blk])).loss.item() for blk in dev_blocks]
            metric = math.exp(sum(losses) / len(losses))
        else:
            correct = 0
            for i in range(0, len(dev_rows), 16):
                enc = encode(dev_rows[i:i + 16])
                labels = enc.pop("labels")
                correct += int((model(**enc).logits.argmax(-1) == labels).sum())
            metric = correct / len(dev_rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"tokens_per_s": sum(intervals) / max(len(intervals), 1), "peak_rss_mib": peak,
                      "metric": metric, "train_seconds": train_seconds,
                      "trainable": sum(p.numel() for p in params),
                      "torch": torch.__version__}))


def run_torch(row, wname, args):
    cmd = [PY, os.path.abspath(__file__), "--torch-child", row, "--workload", wname, "--steps", str(steps_of(WORKLOADS[wname], args)),
           "--eval-examples", str(eval_examples(WORKLOADS[wname], args)), "--threads", str(args.threads)]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    if p.returncode != 0:
        sys.exit(f"[bench_spt] {row} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["wall_seconds"] = time.time() - t0
    return r


def targets(res, metric):
    """Issue 15's targets as (text, met) from one workload's results."""
    out = []
    s, tl, sl = res.get("spt_spt"), res.get("torch_dense_lora"), res.get("spt_dense_lora")
    if s and tl:
        a, m = s["tokens_per_s"] / tl["tokens_per_s"], s["peak_rss_mib"] / tl["peak_rss_mib"]
        out.append((f"SPT >= 2.5x the tokens/s of PyTorch + PEFT dense LoRA: {a:.2f}x", a >= 2.5))
        out.append((f"SPT <= 0.45x its peak memory: {m:.2f}x", m <= 0.45))
    if s and sl:
        a, m = s["tokens_per_s"] / sl["tokens_per_s"], s["peak_rss_mib"] / sl["peak_rss_mib"]
        out.append((f"SPT >= 1.6x spt's dense LoRA tokens/s: {a:.2f}x", a >= 1.6))
        out.append((f"SPT <= 0.6x spt's dense LoRA peak memory: {m:.2f}x", m <= 0.6))
        if metric == "accuracy":
            d = 100 * (s["metric"] - sl["metric"])
            out.append((f"accuracy within 1 point of dense LoRA: {d:+.2f} points", d >= -1.0))
        else:
            r = s["metric"] / sl["metric"] - 1
            out.append((f"perplexity within 3% of dense LoRA: {100 * r:+.1f}%", r <= 0.03))
    return out


def table(wname, res):
    w = WORKLOADS[wname]
    base = res.get("torch_dense_lora") or res.get("spt_dense_lora")
    lines = [f"| row | tokens/s | vs PyTorch+PEFT LoRA | peak RSS MiB | vs | dev {w['metric']} | trainable |",
             "|---|---|---|---|---|---|---|"]
    for row in ROWS:
        if row not in res:
            continue
        r = res[row]
        m = f"{100 * r['metric']:.2f}%" if w["metric"] == "accuracy" else f"{r['metric']:.3f}"
        vs_t = f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base else "-"
        vs_m = f"{r['peak_rss_mib'] / base['peak_rss_mib']:.2f}x" if base else "-"
        lines.append(f"| {LABELS[row]} | {r['tokens_per_s']:.0f} | {vs_t} | {r['peak_rss_mib']:.0f} | {vs_m} | {m} | "
                     f"{r['trainable']:,} |")
    return "\n".join(lines)


def save_json(args, commit, results, partial):
    with open(args.json, "w") as f:
        json.dump({"commit": commit, "steps": {n: steps_of(WORKLOADS[n], args) for n in results}, "threads": args.threads, "partial": partial,
                   "eval_examples": {n: eval_examples(WORKLOADS[n], args) for n in results},
                   "results": results}, f, indent=1)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [n for n in results if results[n]]
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 3.2 * len(names)), squeeze=False)
    for i, wname in enumerate(names):
        res = results[wname]
        rows = [r for r in ROWS if r in res]
        labels = [LABELS[r].replace("PyTorch + transformers", "PyTorch").replace(" (sparse attention + routed FFN + LoRA)", "")
                  for r in rows]
        colors = ["#1f77b4" if r.startswith("spt_") else "#ff7f0e" for r in rows]
        colors = ["#2ca02c" if r == "spt_spt" else c for r, c in zip(rows, colors)]
        for j, (key, title) in enumerate([("tokens_per_s", "training tokens/s (higher is better)"),
                                          ("peak_rss_mib", "peak memory, MiB RSS (lower is better)")]):
            ax = axes[i][j]
            ax.barh(labels, [res[r][key] for r in rows], color=colors)
            ax.invert_yaxis()
            ax.set_title(f"{wname}: {title}", fontsize=10)
            ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", default="all", choices=["spam", "smollm2", "all"])
    ap.add_argument("--steps", type=int, default=0,
                    help="training steps of every row (default: the workload's, spam 40, smollm2 20)")
    ap.add_argument("--eval-examples", type=int, default=None,
                    help="dev examples to evaluate on, 0 for all (default: spam all, smollm2 32)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--json", default="")
    ap.add_argument("--plot", default="")
    ap.add_argument("--torch-child", default="")
    args = ap.parse_args()
    if args.torch_child:
        torch_child(args.torch_child, args.workload, args)
        return
    rows = [r for r in args.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            sys.exit(f"[bench_spt] unknown row {r}; rows: {', '.join(ROWS)}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_spt_") as tmp:
        for wname in (["spam", "smollm2"] if args.workload == "all" else [args.workload]):
            w = WORKLOADS[wname]
            results[wname] = {}
            for row in rows:
                print(f"[bench_spt] {wname}: {LABELS[row]} ...", file=sys.stderr, flush=True)
                r = run_spt(row, w, args, tmp) if row.startswith("spt_") else run_torch(row, wname, args)
                results[wname][row] = r
                print(f"[bench_spt]   {r['tokens_per_s']:.0f} tokens/s, peak RSS {r['peak_rss_mib']:.0f} MiB, "
                      f"{w['metric']} {r['metric']:.4f} ({r['wall_seconds']:.0f} s)", file=sys.stderr, flush=True)
                if args.json:  # after every row: a run cut short keeps what it measured
                    save_json(args, commit, results, partial=True)
    print(f"spt {commit}, {args.threads} threads\n")
    for wname, res in results.items():
        w = WORKLOADS[wname]
        n_eval = eval_examples(w, args)
        print(f"### {wname} ({steps_of(w, args)} steps of batch {w['batch']} x {w['seq']} tokens; dev {w['metric']} on "
              f"{f'the first {n_eval}' if n_eval else 'all'} dev examples)\n")
        print(table(wname, res) + "\n")
        for text, met in targets(res, w["metric"]):
            print(f"* {'**met**' if met else '**not met**'}: {text}")
        print()
    if args.json:
        save_json(args, commit, results, partial=False)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
