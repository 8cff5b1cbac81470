#!/usr/bin/env python3
"""Unpacks a Debian package's files (like `dpkg-deb -x DEB DIR`) where dpkg is
missing: a .deb is an ar archive whose data.tar.{xz,zst,gz} member holds the files.
Used by scripts/gpu_check.sh on GPU machines without dpkg. Standard library only."""
import io
import sys
import tarfile


def members(path):
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            sys.exit(f"{path}: not an ar archive (.deb)")
        while True:
            header = f.read(60)
            if len(header) < 60:
                return
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            data = f.read(size)
            if size % 2:
                f.read(1)
            yield name, data


def main(deb, out):
    for name, data in members(deb):
        if name.startswith("data.tar"):
            if name.endswith(".zst"):
                sys.exit(f"{deb}: {name} is zstd-compressed; install dpkg or zstd")
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(out, filter="tar" if hasattr(tarfile, "data_filter") else None)
            return
    sys.exit(f"{deb}: no data.tar member")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: unpack_deb.py DEB DIR")
    main(sys.argv[1], sys.argv[2])
