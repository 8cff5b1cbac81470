#!/usr/bin/env python3
"""Convert the SpamAssassin public corpus into train.tsv / dev.tsv for spt-finetune.

Reads the archive (default: $SPT_ASSETS/spamassassin.tar.xz, SPT_ASSETS defaulting
to <repo>/../shared/data), decodes every email (Subject plus the text of the body:
text/plain preferred, else text/html turned into text; base64 / quoted-printable
and the declared charset undone; attachments skipped) and writes two files

    <out>/train.tsv  <out>/dev.tsv      header "text<TAB>label", label ham or spam

The label comes from the email's folder (easy-ham-1, easy-ham-2, hard-ham-1: ham;
spam-1, spam-2: spam). The split is deterministic: an email goes to dev when the
SHA-256 of its path "<folder>/<file>" falls in the first --dev-fraction of the
hash range. Rows are in member-path order. Texts are one line (tabs and newlines
become spaces, control characters are dropped), valid UTF-8, at most --max-chars
characters. Files are written atomically (temporary file, then rename).

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import codecs
import email
import email.header
import email.policy
import hashlib
import html
import html.parser
import os
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ARCHIVE_NAME = "spamassassin.tar.xz"
LABELS = ("ham", "spam")
DEFAULT_MAX_CHARS = 2000
EMPTY_TEXT = "(empty message)"  # spt rejects rows with an empty text column

# Folder name -> label. The names of the shared archive first, then the names the
# original SpamAssassin tarballs use (easy_ham, easy_ham_2, hard_ham, spam, spam_2).
_FOLDER_RE = [
    (re.compile(r"^(easy|hard)[-_]ham([-_]\d+)?$", re.I), "ham"),
    (re.compile(r"^spam([-_]\d+)?$", re.I), "spam"),
]


class ConversionError(Exception):
    """A problem the user must fix (missing archive, unreadable archive, bad output dir)."""


def default_archive() -> Path:
    assets = os.environ.get("SPT_ASSETS")
    base = Path(assets) if assets else REPO_ROOT.parent / "shared" / "data"
    return base / ARCHIVE_NAME


def label_of_folder(folder: str) -> str | None:
    for rx, label in _FOLDER_RE:
        if rx.match(folder):
            return label
    return None


def split_key(member: str) -> str:
    """The path the split hashes: "<folder>/<file>", whatever prefix the archive adds."""
    parts = [p for p in member.replace("\\", "/").split("/") if p and p != "."]
    return "/".join(parts[-2:])


def is_dev(key: str, dev_fraction: float) -> bool:
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return h < dev_fraction * 2.0**64


# ---------------------------------------------------------------- text cleanup

# Dropped: C0/C1 controls and DEL (Cc), format characters (Cf: soft hyphen, zero-width
# and bidi marks, word joiners, BOM, interlinear annotation), lone surrogates, and the
# noncharacters U+FFFE/U+FFFF. Whitespace (incl. NBSP, U+2028/2029) becomes one space.
_DROP_RE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff]")
_WS_RE = re.compile(r"\s+")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTE_RE = re.compile("[\udc80-\udcff]")


def _fix_surrogates(s: str) -> str:
    """Undo surrogateescape'd raw bytes (the email package's way to keep 8-bit header bytes)."""
    if not _SURROGATE_RE.search(s):
        return s
    if len(_SURROGATE_RE.findall(s)) == len(_ESCAPED_BYTE_RE.findall(s)):
        raw = s.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return _SURROGATE_RE.sub("", s)


def clean_text(s: str) -> str:
    """One line of valid UTF-8: whitespace runs -> one space, control/format chars dropped."""
    s = _DROP_RE.sub("", _fix_surrogates(s))
    return _WS_RE.sub(" ", s).strip()


def truncate(s: str, max_chars: int) -> str:
    if max_chars <= 0 or len(s) <= max_chars:
        return s
    cut = s[:max_chars]
    space = cut.rfind(" ")
    if space >= max_chars * 0.8:  # end on a word boundary when one is near
        cut = cut[:space]
    return cut.rstrip()


# ---------------------------------------------------------------- html -> text

_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot "
    "th thead title tr ul".split()
)
_SKIP_TAGS = frozenset(("script", "style", "noscript", "template"))


class _HtmlText(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self.skip_depth:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag, attrs):
        # <script/> opens nothing; only emit what a start tag would.
        if tag in _SKIP_TAGS:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            if self.skip_depth:
                self.skip_depth -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    p = _HtmlText()
    try:
        p.feed(markup)
        p.close()
    except Exception:  # html.parser is lenient; this is a last resort
        stripped = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", markup)
        return " ".join(html.unescape(re.sub(r"(?s)<[^>]*>", " ", stripped)).split())
    return " ".join("".join(p.parts).split())


# ---------------------------------------------------------------- email decoding

_ASCII_CODECS = frozenset(("ascii",))


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """The declared charset, else UTF-8, else Latin-1; never fails."""
    declared = _codec(charset)
    for enc in (declared, "utf-8"):
        if enc:
            try:
                return data.decode(enc)
            except (UnicodeDecodeError, LookupError):
                pass
    if declared and declared not in _ASCII_CODECS and declared != "utf-8":
        try:
            return data.decode(declared, errors="replace")
        except LookupError:
            pass
    return data.decode("latin-1")


def _part_text(part) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw
        return ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload, charset)


def _is_attachment(part) -> bool:
    try:
        if part.get_content_disposition() == "attachment":
            return True
    except Exception:
        pass
    try:
        return bool(part.get_filename()) and part.get_content_disposition() != "inline"
    except Exception:
        return False


def body_text(msg) -> str:
    plain: list[str] = []
    htmls: list[str] = []
    fallback: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            ctype = part.get_content_type()
        except Exception:
            ctype = "text/plain"
        if _is_attachment(part):
            continue
        if ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            htmls.append(html_to_text(_part_text(part)))
        elif ctype.startswith("multipart/"):
            # A multipart whose boundary never appears: the parser leaves the body
            # as one string; keep it in case nothing better is found.
            fallback.append(_part_text(part))
    for group in (plain, htmls, fallback):
        text = " ".join(t for t in group if t and t.strip())
        if text.strip():
            return text
    return ""


def _header_fallback(value) -> str:
    """Decode RFC 2047 encoded words by hand (compat32 headers)."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        chunks = email.header.decode_header(value)
    else:
        try:
            chunks = email.header.decode_header(str(value))
        except Exception:
            return str(value)
    out = []
    for chunk, cs in chunks:
        out.append(decode_bytes(chunk, cs) if isinstance(chunk, bytes) else chunk)
    return " ".join(o.strip() for o in out)


def _charset_hint(msg) -> str | None:
    try:
        for part in msg.walk():
            cs = part.get_content_charset()
            if cs and _codec(cs):
                return cs
    except Exception:
        pass
    return None


def subject_of(msg) -> str:
    """The Subject, RFC 2047 words decoded by email.policy.default's header parser;
    decoded by hand when that parser fails on a broken header."""
    raw = None
    try:
        for name, value in msg.raw_items():
            if name.lower() == "subject":
                raw = value
                break
    except Exception:
        return ""
    if raw is None:
        return ""
    raw = str(raw)
    if _ESCAPED_BYTE_RE.search(raw):
        # Raw 8-bit bytes in the header (no RFC 2047): decode them with the charset the
        # message declares for its text, else UTF-8, else Latin-1.
        try:
            raw = decode_bytes(raw.encode("utf-8", "surrogateescape"), _charset_hint(msg))
        except UnicodeEncodeError:
            pass
    try:
        return str(email.policy.default.header_fetch_parse("Subject", raw))
    except Exception:
        pass
    try:
        return _header_fallback(raw)
    except Exception:
        return str(raw)


def email_text(data: bytes, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Subject + body text of one raw RFC 822 email, cleaned and truncated.

    The MIME structure is parsed with the compat32 policy, which never raises on
    malformed messages (it records defects) and is about four times faster than
    email.policy.default on this corpus; the payloads it decodes are the same (base64,
    quoted-printable, charset), and the Subject goes through policy.default's header
    parser. When even that fails, the raw bytes are decoded and split at the first
    blank line.
    """
    subject, body = "", ""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        subject = subject_of(msg)
        body = body_text(msg)
    except Exception:
        text = decode_bytes(data, None)
        head, _, rest = text.replace("\r\n", "\n").partition("\n\n")
        m = re.search(r"(?im)^subject:[ \t]*(.*)$", head)
        subject, body = (m.group(1) if m else ""), rest
    # Clean a bounded prefix only: whitespace collapsing shrinks text, so keep a margin.
    limit = max_chars * 8 if max_chars > 0 else len(body)
    text = clean_text(f"{subject}\n{body[:limit]}")
    text = truncate(text, max_chars)
    return text or EMPTY_TEXT


# ---------------------------------------------------------------- conversion


def read_archive(archive: Path):
    """Yields (member path, label, bytes) in member-path order."""
    if not archive.is_file():
        raise ConversionError(
            f"archive not found: {archive}\n"
            f"hint: pass --archive PATH, or set SPT_ASSETS to the folder holding "
            f"{ARCHIVE_NAME} (default: <repo>/../shared/data)"
        )
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ConversionError(f"cannot read {archive} as a tar archive: {e}") from e
    with tar:
        try:
            members = [m for m in tar.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ConversionError(f"{archive} is damaged: {e}") from e
        members.sort(key=lambda m: m.name)
        for m in members:
            key = split_key(m.name)
            if "/" not in key:
                continue
            folder, fname = key.split("/", 1)
            if fname.startswith(".") or fname == "cmds":
                continue
            label = label_of_folder(folder)
            if label is None:
                continue
            f = tar.extractfile(m)
            if f is None:
                continue
            yield m.name, label, f.read()


def write_tsv_atomic(path: Path, rows: list[tuple[str, str]]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write("text\tlabel\n")
            for text, label in rows:
                if "\t" in text or "\n" in text or "\r" in text:  # clean_text rules this out
                    raise AssertionError(f"tab or newline in a text field: {text[:80]!r}")
                f.write(f"{text}\t{label}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def convert(archive: Path, out_dir: Path, dev_fraction: float = 0.1,
            max_chars: int = DEFAULT_MAX_CHARS) -> dict:
    """Converts; returns counts {"train": {"ham": n, "spam": n}, "dev": {...}, "empty": n}."""
    rows = {"train": [], "dev": []}
    empty = 0
    for name, label, data in read_archive(archive):
        text = email_text(data, max_chars)
        if text == EMPTY_TEXT:
            empty += 1
        split = "dev" if is_dev(split_key(name), dev_fraction) else "train"
        rows[split].append((text, label))
    if not rows["train"] and not rows["dev"]:
        raise ConversionError(
            f"no emails found in {archive} (expected folders easy-ham-1, easy-ham-2, "
            f"hard-ham-1, spam-1, spam-2)"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConversionError(f"cannot create output folder {out_dir}: {e}") from e
    for split in ("train", "dev"):
        write_tsv_atomic(out_dir / f"{split}.tsv", rows[split])
    counts = {s: {lab: sum(1 for _, l in rows[s] if l == lab) for lab in LABELS} for s in rows}
    counts["empty"] = empty
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Convert the SpamAssassin corpus archive into train.tsv and dev.tsv "
                    "(columns text, label; label ham or spam).")
    ap.add_argument("--archive", type=Path, default=None,
                    help=f"corpus archive (default: $SPT_ASSETS/{ARCHIVE_NAME}, "
                         f"SPT_ASSETS defaulting to <repo>/../shared/data)")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--dev-fraction", type=float, default=0.1,
                    help="fraction of emails for dev.tsv, chosen by hash of the path (default 0.1)")
    ap.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                    help=f"truncate each text to this many characters (0: no limit; "
                         f"default {DEFAULT_MAX_CHARS})")
    args = ap.parse_args(argv)
    if not 0.0 <= args.dev_fraction <= 1.0:
        ap.error("--dev-fraction must be between 0 and 1")
    archive = args.archive if args.archive is not None else default_archive()
    t0 = time.monotonic()
    try:
        counts = convert(archive, args.out, args.dev_fraction, args.max_chars)
    except ConversionError as e:
        print(f"[spam_to_tsv] error: {e}", file=sys.stderr)
        return 1
    for split in ("train", "dev"):
        c = counts[split]
        print(f"[spam_to_tsv] {split}: {c['ham'] + c['spam']} emails "
              f"(ham {c['ham']}, spam {c['spam']}) -> {args.out / (split + '.tsv')}")
    if counts["empty"]:
        print(f"[spam_to_tsv] {counts['empty']} emails had no text; written as \"{EMPTY_TEXT}\"")
    print(f"[spam_to_tsv] done in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
