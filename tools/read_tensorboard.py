#!/usr/bin/env python3
"""Print the scalars of spt's TensorBoard event files, read by TensorBoard's own parser.

Proves that the files spt writes (spt/train/tensorboard.h) are ones TensorBoard reads,
and lets a run's curves be looked at without starting the TensorBoard server.

  read_tensorboard.py RUN_DIR_OR_EVENT_FILE [--tag TAG] [--check-jsonl METRICS.jsonl]

Reads every events.out.tfevents.* file under RUN_DIR (or the one file named) with
tbparse.SummaryReader and prints a table step / tag / value (only TAG with --tag).
Exits 1 when no scalar is found.

--check-jsonl METRICS.jsonl also checks that every {"type": "train"} record of spt's
metrics file has its `loss` at its `step` as tag train/loss, equal within float32
rounding (relative 1e-6; a null loss, spt's JSON for NaN, must be NaN), prints how many
matched, and exits 1 when any did not.

Environment: .cache/venv (pip install tbparse tensorboard; versions in
tools/requirements-reference.txt), e.g.
  .cache/venv/bin/python tools/read_tensorboard.py runs/spam/tensorboard --tag train/loss
"""
import argparse
import json
import math
import os
import sys

from tbparse import SummaryReader

LOSS_TAG = "train/loss"


def read_scalars(path):
    """(step, tag, value) rows of every event file under `path`, sorted by step then tag."""
    df = SummaryReader(path, event_types={"scalars"}).scalars
    if df is None or len(df) == 0:
        return []
    rows = [(int(s), str(t), float(v)) for s, t, v in zip(df["step"], df["tag"], df["value"])]
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def same_loss(tb_value, loss):
    if loss is None:  # spt writes a NaN loss as JSON null
        return math.isnan(tb_value)
    if math.isnan(loss) or math.isinf(loss):
        return tb_value == loss or (math.isnan(loss) and math.isnan(tb_value))
    return math.isclose(tb_value, loss, rel_tol=1e-6, abs_tol=1e-37)


def check_jsonl(rows, jsonl_path):
    """Returns (matched, total, messages) for the train records of `jsonl_path`."""
    by_step = {}
    for step, tag, value in rows:
        if tag == LOSS_TAG:
            by_step.setdefault(step, []).append(value)
    matched, total, problems = 0, 0, []
    with open(jsonl_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"[read_tensorboard] {jsonl_path}:{lineno}: not JSON ({e}); "
                         "hint: pass spt's metrics.jsonl")
            if rec.get("type") != "train":
                continue
            total += 1
            step, loss = rec.get("step"), rec.get("loss")
            found = by_step.get(step, [])
            if any(same_loss(v, loss) for v in found):
                matched += 1
            else:
                problems.append(f"  step {step}: metrics loss {loss}, {LOSS_TAG} "
                                f"{found if found else 'missing'}")
    return matched, total, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a run folder (searched recursively) or one event file")
    ap.add_argument("--tag", help="print only this tag")
    ap.add_argument("--check-jsonl", metavar="METRICS.jsonl",
                    help=f"check every train record's loss against tag {LOSS_TAG}")
    args = ap.parse_args()

    if not os.path.exists(args.path):
        sys.exit(f"[read_tensorboard] {args.path} does not exist; "
                 "hint: pass the run's tensorboard folder or an events.out.tfevents.* file")
    rows = read_scalars(args.path)
    shown = [r for r in rows if args.tag is None or r[1] == args.tag]
    if not shown:
        what = f"tag {args.tag!r}" if args.tag else "scalar"
        tags = sorted({r[1] for r in rows})
        sys.exit(f"[read_tensorboard] no {what} found in {args.path}"
                 + (f" (tags present: {', '.join(tags)})" if tags else "")
                 + "; hint: point at a folder holding events.out.tfevents.* files")

    sw = max(len("step"), *(len(str(r[0])) for r in shown))
    tw = max(len("tag"), *(len(r[1]) for r in shown))
    print(f"{'step':>{sw}}  {'tag':<{tw}}  value")
    for step, tag, value in shown:
        print(f"{step:>{sw}}  {tag:<{tw}}  {value:.9g}")

    if args.check_jsonl:
        matched, total, problems = check_jsonl(rows, args.check_jsonl)
        print(f"{matched} of {total} train records of {args.check_jsonl} match {LOSS_TAG}")
        if problems:
            print("\n".join(problems[:20]), file=sys.stderr)
            sys.exit(1)
        if total == 0:
            sys.exit(f"[read_tensorboard] no {{\"type\": \"train\"}} record in {args.check_jsonl}")


if __name__ == "__main__":
    main()
