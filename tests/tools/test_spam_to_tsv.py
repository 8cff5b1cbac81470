"""Tests of tools/spam_to_tsv.py (standard library only).

Run from the repository root:  python3 -m unittest discover -s tests/tools -v
The synthetic emails in tests/fixtures/emails/<folder>/ are packed into a temporary
tar.xz laid out like the real corpus archive.
"""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "spam_to_tsv.py"
FIXTURES = REPO / "tests" / "fixtures" / "emails"

_spec = importlib.util.spec_from_file_location("spam_to_tsv", TOOL)
s2t = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s2t)


def fixture_bytes(rel: str) -> bytes:
    return (FIXTURES / rel).read_bytes()


def make_archive(path: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> list[str]:
    """Packs every fixture email (and `extra` members) into a tar.xz; returns member names."""
    names = []
    with tarfile.open(path, "w:xz") as tar:
        files = {f.relative_to(FIXTURES).as_posix(): f.read_bytes()
                 for f in sorted(FIXTURES.glob("*/*")) if f.is_file()}
        files.update(extra or {})
        for rel, data in files.items():
            info = tarfile.TarInfo(prefix + rel)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
            names.append(prefix + rel)
    return names


def read_tsv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8")  # raises when not valid UTF-8
    assert text.endswith("\n")
    return [line.split("\t") for line in text[:-1].split("\n")]


class EmailDecoding(unittest.TestCase):
    def test_multipart_alternative_base64_prefers_plain(self):
        text = s2t.email_text(fixture_bytes("spam-1/00001.multipart-alternative.txt"))
        # Subject is an RFC 2047 base64 word; body is base64 UTF-8 with a tab and CRLF.
        self.assertEqual(text, "Café meeting Hello Bob, The café costs 5 €. See you at noon.")
        self.assertNotIn("HTML version", text)
        self.assertNotIn("MIME format", text)  # the preamble is not a text part

    def test_quoted_printable_latin1(self):
        text = s2t.email_text(fixture_bytes("easy-ham-1/00001.quoted-printable-latin1.txt"))
        self.assertTrue(text.startswith("Résumé für heute Grüße aus Köln! Das Café öffnet"), text)
        self.assertIn("schließt spät, sehr spät", text)  # soft line break joined
        self.assertTrue(text.endswith("der Stadt. Nächste Zeile."), text)

    def test_html_only_drops_script_style_and_unescapes(self):
        text = s2t.email_text(fixture_bytes("spam-2/00001.html-only.txt"))
        self.assertEqual(
            text, "WIN a PRIZE Offer Cheap meds & more Only €9.99 — café <today> Click here FREE GIFT")
        for hidden in ("secret", "alert", "hidden too", "color", "comment", "<h1>"):
            self.assertNotIn(hidden, text)

    def test_broken_header_and_control_characters(self):
        text = s2t.email_text(fixture_bytes("hard-ham-1/00001.broken-header.txt"))
        self.assertEqual(
            text,
            "Grüße =?bogus?Q?broken This line is not a header: the body starts here "
            "Body with tabs and a NUL, a form feed, a bell and café.")

    def test_attachments_are_skipped(self):
        text = s2t.email_text(fixture_bytes("easy-ham-2/00001.attachment.txt"))
        self.assertEqual(text, "Report attached Please find the report attached.")

    def test_charsets(self):
        self.assertEqual(s2t.decode_bytes("é".encode("utf-8"), "us-ascii"), "é")
        self.assertEqual(s2t.decode_bytes(b"caf\xe9", "utf-8"), "café")  # latin-1 fallback
        self.assertEqual(s2t.decode_bytes(b"caf\xe9", "no-such-charset"), "café")
        self.assertEqual(s2t.decode_bytes("Köln".encode("cp1252"), "windows-1252"), "Köln")
        self.assertEqual(s2t.decode_bytes(b"\xb0\xa1", "gb2312"), "啊")

    def test_raw_8bit_subject_uses_the_declared_charset(self):
        msg = ("Subject: Gr\xfc\xdfe\nContent-Type: text/plain; charset=iso-8859-1\n\nx\n"
               .encode("latin-1"))
        self.assertEqual(s2t.email_text(msg), "Grüße x")

    def test_undecodable_and_empty_messages(self):
        self.assertEqual(s2t.email_text(b""), s2t.EMPTY_TEXT)
        self.assertEqual(s2t.email_text(b"Subject: \n\n   \n"), s2t.EMPTY_TEXT)
        # Declared base64 that is not base64: kept as whatever the parser recovers, no crash.
        msg = b"Subject: x\nContent-Transfer-Encoding: base64\n\n!!!not base64!!!\n"
        self.assertTrue(s2t.email_text(msg).startswith("x"))

    def test_multipart_without_its_boundary_keeps_the_body(self):
        msg = (b"Subject: lost\nContent-Type: multipart/mixed; boundary=NOPE\n\n"
               b"the body text\n")
        self.assertIn("the body text", s2t.email_text(msg))

    def test_truncation(self):
        body = ("word " * 2000).encode()
        text = s2t.email_text(b"Subject: long\n\n" + body, max_chars=100)
        self.assertLessEqual(len(text), 100)
        self.assertTrue(text.startswith("long word word"))
        self.assertFalse(text.endswith(" "))
        default = s2t.email_text(b"Subject: long\n\n" + body)
        self.assertLessEqual(len(default), s2t.DEFAULT_MAX_CHARS)
        self.assertGreater(len(default), s2t.DEFAULT_MAX_CHARS - 10)  # ends on a word boundary

    def test_clean_text(self):
        self.assertEqual(s2t.clean_text("a\tb\r\nc\u00a0d\u2028e\x00f\u200bg\ufeffh"), "a b c d efgh")
        self.assertEqual(s2t.clean_text("x\udcc3\udca9y"), "xéy")  # surrogateescaped UTF-8
        self.assertEqual(s2t.clean_text("x\udce9y"), "xéy")  # surrogateescaped Latin-1

    def test_html_to_text(self):
        self.assertEqual(s2t.html_to_text("<p>a</p><p>b&amp;c</p><style>x{}</style>d"), "a b&c d")
        self.assertEqual(s2t.html_to_text("<script>never closed"), "")


class Split(unittest.TestCase):
    def test_labels_from_folders(self):
        for folder, label in [("easy-ham-1", "ham"), ("easy-ham-2", "ham"), ("hard-ham-1", "ham"),
                              ("spam-1", "spam"), ("spam-2", "spam"), ("easy_ham", "ham"),
                              ("spam", "spam"), ("other", None), ("hamster", None)]:
            self.assertEqual(s2t.label_of_folder(folder), label, folder)

    def test_split_is_deterministic_and_about_the_fraction(self):
        keys = [f"easy-ham-1/{i:05d}.txt" for i in range(20000)]
        dev = [k for k in keys if s2t.is_dev(k, 0.1)]
        self.assertAlmostEqual(len(dev) / len(keys), 0.1, delta=0.01)
        self.assertEqual(dev, [k for k in keys if s2t.is_dev(k, 0.1)])
        self.assertFalse(any(s2t.is_dev(k, 0.0) for k in keys[:500]))
        self.assertTrue(all(s2t.is_dev(k, 1.0) for k in keys[:500]))
        # dev at 0.1 is a subset of dev at 0.2 (growing the fraction only moves emails to dev)
        self.assertTrue(set(dev) <= {k for k in keys if s2t.is_dev(k, 0.2)})

    def test_split_key_ignores_archive_prefix(self):
        self.assertEqual(s2t.split_key("data/spam-1/00001.txt"), "spam-1/00001.txt")
        self.assertEqual(s2t.split_key("./spam-1/00001.txt"), "spam-1/00001.txt")


class Conversion(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.archive = self.dir / "spamassassin.tar.xz"

    def tearDown(self):
        self.tmp.cleanup()

    def test_convert_all_fixtures(self):
        make_archive(self.archive, extra={"other-folder/x.txt": b"Subject: skip me\n\nx\n",
                                          "spam-1/cmds": b"mv a b\n"})
        out = self.dir / "out"
        counts = s2t.convert(self.archive, out, dev_fraction=0.0)
        self.assertEqual(counts["train"], {"ham": 3, "spam": 2})
        self.assertEqual(counts["dev"], {"ham": 0, "spam": 0})
        train = read_tsv(out / "train.tsv")
        self.assertEqual(train[0], ["text", "label"])
        self.assertEqual(read_tsv(out / "dev.tsv"), [["text", "label"]])
        rows = train[1:]
        self.assertTrue(all(len(r) == 2 for r in rows))
        # member-path order: easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2
        self.assertEqual([r[1] for r in rows], ["ham", "ham", "ham", "spam", "spam"])
        self.assertTrue(rows[0][0].startswith("Résumé für heute"))
        self.assertEqual(rows[1][0], "Report attached Please find the report attached.")
        self.assertTrue(rows[2][0].startswith("Grüße"))
        self.assertTrue(rows[3][0].startswith("Café meeting"))
        self.assertTrue(rows[4][0].startswith("WIN a PRIZE"))
        self.assertEqual(sorted(p.name for p in out.iterdir()), ["dev.tsv", "train.tsv"])

    def test_split_and_determinism(self):
        names = make_archive(self.archive, prefix="data/")
        a, b = self.dir / "a", self.dir / "b"
        ca = s2t.convert(self.archive, a, dev_fraction=0.5)
        cb = s2t.convert(self.archive, b, dev_fraction=0.5)
        self.assertEqual(ca, cb)
        for f in ("train.tsv", "dev.tsv"):
            self.assertEqual((a / f).read_bytes(), (b / f).read_bytes())
        expected_dev = sum(1 for n in names if s2t.is_dev(s2t.split_key(n), 0.5))
        self.assertEqual(sum(ca["dev"].values()), expected_dev)
        self.assertEqual(sum(ca["train"].values()) + sum(ca["dev"].values()), len(names))
        self.assertEqual(len(read_tsv(a / "dev.tsv")) - 1, expected_dev)

    def test_cli(self):
        make_archive(self.archive)
        out = self.dir / "cli"
        r = subprocess.run([sys.executable, str(TOOL), "--archive", str(self.archive), "--out",
                            str(out), "--dev-fraction", "0.2"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("train:", r.stdout)
        self.assertIn("dev:", r.stdout)
        self.assertTrue((out / "train.tsv").is_file() and (out / "dev.tsv").is_file())

    def test_cli_uses_spt_assets(self):
        make_archive(self.archive)
        env = dict(os.environ, SPT_ASSETS=str(self.dir))
        r = subprocess.run([sys.executable, str(TOOL), "--out", str(self.dir / "o")],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ham 3", r.stdout.replace("(", " "))

    def test_missing_archive(self):
        missing = self.dir / "nowhere" / "spamassassin.tar.xz"
        r = subprocess.run([sys.executable, str(TOOL), "--archive", str(missing), "--out",
                            str(self.dir / "o")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(str(missing), r.stderr)
        self.assertIn("SPT_ASSETS", r.stderr)
        self.assertFalse((self.dir / "o").exists())

    def test_not_an_archive(self):
        self.archive.write_bytes(b"this is not a tar file")
        r = subprocess.run([sys.executable, str(TOOL), "--archive", str(self.archive), "--out",
                            str(self.dir / "o")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(str(self.archive), r.stderr)

    def test_existing_output_is_replaced_whole(self):
        make_archive(self.archive)
        out = self.dir / "out"
        out.mkdir()
        (out / "train.tsv").write_text("stale\n")
        s2t.convert(self.archive, out, dev_fraction=0.0)
        self.assertEqual(read_tsv(out / "train.tsv")[0], ["text", "label"])
        self.assertEqual(sorted(p.name for p in out.iterdir()), ["dev.tsv", "train.tsv"])


if __name__ == "__main__":
    unittest.main()
