#!/usr/bin/env python3
"""Convert the State of the Union archive into train.txt / dev.txt for causal-LM fine-tuning.

Reads the archive (default: $SPT_ASSETS/sotu.tar.xz, SPT_ASSETS defaulting to
<repo>/../shared/data): 233 addresses, 1790-2021, one .txt file each. Writes

    <out>/train.txt   every address before 2001, one per line (oldest first)
    <out>/dev.txt     the addresses of 2001-2021 (held out: later, unseen years)

with newlines and tabs turned into spaces and runs of spaces collapsed. Files
are written atomically (temporary file, then rename). Use them with
"data": {"format": "text", "train": ".../train.txt", "dev": ".../dev.txt"}.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def write_atomic(path: Path, lines: list[str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main() -> int:
    assets = Path(os.environ.get("SPT_ASSETS", REPO_ROOT.parent / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, default=assets / "sotu.tar.xz")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / ".cache" / "data" / "sotu")
    ap.add_argument("--dev-from", type=int, default=2001, help="first year held out (default 2001)")
    args = ap.parse_args()
    if not args.archive.exists():
        print(f"[sotu_to_text] {args.archive} not found; hint: set SPT_ASSETS to the shared data folder",
              file=sys.stderr)
        return 1
    train, dev = [], []
    with tarfile.open(args.archive, "r:xz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".txt")),
                         key=lambda m: os.path.basename(m.name))
        for m in members:
            name = os.path.basename(m.name)
            year = int(name[:4])
            text = tar.extractfile(m).read().decode("utf-8", errors="replace")
            text = re.sub(r"\s+", " ", text).strip()
            if text:
                (dev if year >= args.dev_from else train).append(text)
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "train.txt", train)
    write_atomic(args.out / "dev.txt", dev)
    print(f"[sotu_to_text] {len(train)} addresses -> {args.out / 'train.txt'}, "
          f"{len(dev)} (from {args.dev_from}) -> {args.out / 'dev.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
