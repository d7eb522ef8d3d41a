"""Streaming readers: PubMed/MEDLINE XML, PubTator, BioC XML, JSONL and plain-text notes.

Every reader yields :class:`~nlp.extraction.Document` objects one at a time (XML is parsed
with ``iterparse`` and cleared as it goes, so memory stays flat on PubMed baseline files).
A record that cannot be read is yielded as a :class:`Rejected` naming the file, the record
(id or line) and the reason; reading then goes on with the next record, so one bad record
never stops a batch.

Entry point: :func:`read_documents`.
"""
from __future__ import annotations

import glob
import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator
from xml.etree import ElementTree as ET

from nlp.errors import InputError
from nlp.extraction import Document

FORMATS = ("pubmed", "pubtator", "bioc", "jsonl", "text")

# Clinical-note section headers: a line of capitals (optionally ending in ':'), e.g.
# "HISTORY OF PRESENT ILLNESS", "ASSESSMENT AND PLAN:", "Chief Complaint:" at line start.
_SECTION_RE = re.compile(
    r"^(?P<h>(?:[A-Z][A-Z/&,\- ]{2,60}[A-Z])|(?:[A-Z][a-z]+(?: [A-Za-z]+){0,4}):)[ \t]*:?[ \t]*$|"
    r"^(?P<h2>[A-Z][A-Z/&\- ]{2,40}):[ \t]+\S",
    re.M,
)
_PUBTATOR_HEAD = re.compile(r"^([^|\t\s]+)\|([ta])\|(.*)$")
_MAX_FIELD = 5_000_000  # characters: a larger title/abstract is a corrupt record, not a document


@dataclass
class Rejected:
    """A record (or whole file) that could not be read, and why."""

    source: str
    record: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}" + (f" [{self.record}]" if self.record else "")
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict:
        return {"source": self.source, "record": self.record, "reason": self.reason}


Item = Document | Rejected


# ---------------------------------------------------------------------------- discovery
def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path | Rejected]:
    """Files named by paths, directories (recursively, sorted) and glob patterns."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
                yield f
        elif p.is_file():
            yield p
        elif any(c in str(raw) for c in "*?["):
            matches = sorted(glob.glob(str(raw), recursive=True))
            if not matches:
                yield Rejected(str(raw), None, "glob pattern matches no file")
            for m in matches:
                if Path(m).is_file():
                    yield Path(m)
        else:
            yield Rejected(str(raw), None, "no such file or directory")


def _base_suffix(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    return (name.rsplit(".", 1)[-1] if "." in name else ""), gz


def _open_binary(path: Path) -> IO[bytes]:
    _, gz = _base_suffix(path)
    return gzip.open(path, "rb") if gz else open(path, "rb")


def detect_format(path: Path) -> str:
    """Guess a file's format from its extension, then its first bytes.

    Raises:
        InputError: the file cannot be opened or its format cannot be told.
    """
    ext, _ = _base_suffix(path)
    if ext in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if ext in ("pubtator", "pubtator3"):
        return "pubtator"
    try:
        with _open_binary(path) as f:
            head = f.read(4096)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise InputError(f"{path}: truncated or corrupt gzip ({e})", path=str(path)) from e
    except OSError as e:
        raise InputError(f"{path}: cannot read file ({e})", path=str(path)) from e
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if ext in ("xml", "nxml") or text.startswith("<"):
        if "<PubmedArticleSet" in text or "<PubmedArticle" in text or "<MedlineCitationSet" in text:
            return "pubmed"
        if "<collection" in text:
            return "bioc"
        if ext in ("xml", "nxml"):
            return "pubmed"  # let the PubMed reader report what is wrong with it
    first = text.splitlines()[0] if text else ""
    if _PUBTATOR_HEAD.match(first):
        return "pubtator"
    if first.startswith("{"):
        return "jsonl"
    return "text"


def read_documents(paths: Iterable[str | Path], fmt: str | None = None) -> Iterator[Item]:
    """Yield every document (or rejection) from files, directories and globs.

    Args:
        paths: files, directories (read recursively) or glob patterns.
        fmt: force a format (one of :data:`FORMATS`); detected per file when None.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"Unknown input format {fmt!r}. Available: {', '.join(FORMATS)}")
    for path in expand_paths(paths):
        if isinstance(path, Rejected):
            yield path
            continue
        yield from read_file(path, fmt)


def read_file(path: Path, fmt: str | None = None) -> Iterator[Item]:
    """Yield the documents of one file; errors become :class:`Rejected` items."""
    src = str(path)
    try:
        if path.stat().st_size == 0:
            yield Rejected(src, None, "empty file")
            return
        fmt = fmt or detect_format(path)
    except InputError as e:
        yield Rejected(src, None, str(e).split(": ", 1)[-1])
        return
    except OSError as e:
        yield Rejected(src, None, f"cannot read file ({e.strerror or e})")
        return
    reader = _READERS[fmt]
    try:
        yield from reader(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        yield Rejected(src, None, f"truncated or corrupt gzip ({e})")
        return
    except OSError as e:
        yield Rejected(src, None, f"cannot read file ({e})")
        return
    except UnicodeDecodeError as e:
        yield Rejected(src, None, f"not valid UTF-8 (byte {e.start}: {e.reason})")
        return


# ---------------------------------------------------------------------------- PubMed XML
def _text_of(el: ET.Element | None) -> str:
    """All text inside an element (inline markup such as <i>, <sup> flattened)."""
    if el is None:
        return ""
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def _pubmed_year(article: ET.Element) -> int | None:
    for path in (".//JournalIssue/PubDate/Year", ".//ArticleDate/Year", ".//DateCompleted/Year",
                 ".//PubMedPubDate/Year"):
        y = article.findtext(path)
        if y and y.strip().isdigit():
            return int(y.strip())
    md = article.findtext(".//JournalIssue/PubDate/MedlineDate") or ""
    m = re.search(r"\b(1[89]\d\d|20\d\d)\b", md)
    return int(m.group(1)) if m else None


def _pubmed_document(el: ET.Element, src: str) -> Item:
    pmid = (el.findtext(".//MedlineCitation/PMID") or el.findtext(".//BookDocument/PMID")
            or el.findtext(".//PMID") or "").strip()
    if not pmid:
        return Rejected(src, None, "PubmedArticle without a PMID")
    title = _text_of(el.find(".//ArticleTitle")) or _text_of(el.find(".//BookTitle"))
    parts = []
    for ab in el.findall(".//Abstract/AbstractText"):
        t = _text_of(ab)
        label = ab.get("Label")
        if t:
            parts.append(f"{label.capitalize() if label.isupper() else label}: {t}" if label else t)
    text = " ".join(parts)
    if not title and not text:
        return Rejected(src, f"PMID {pmid}", "no title and no abstract")
    meta = {"pmid": pmid, "year": _pubmed_year(el)}
    journal = el.findtext(".//Journal/Title") or el.findtext(".//MedlineJournalInfo/MedlineTA")
    if journal:
        meta["journal"] = journal.strip()
    mesh = [_text_of(d) for d in el.findall(".//MeshHeading/DescriptorName")]
    if mesh:
        meta["mesh_terms"] = mesh
    return Document(id=pmid, title=title, text=text, source=src, kind="article", metadata=meta)


def read_pubmed_xml(path: Path) -> Iterator[Item]:
    src = str(path)
    with _open_binary(path) as f:
        context = ET.iterparse(f, events=("start", "end"))
        root = None
        try:
            for event, el in context:
                if root is None and event == "start":
                    root = el
                    if el.tag not in ("PubmedArticleSet", "MedlineCitationSet", "PubmedArticle"):
                        yield Rejected(src, None, f"not PubMed XML (root element <{el.tag}>)")
                        return
                if event == "end" and el.tag in ("PubmedArticle", "PubmedBookArticle", "MedlineCitation"):
                    if el.tag == "MedlineCitation" and root.tag != "MedlineCitationSet":
                        continue  # nested inside a PubmedArticle: handled at the article's end
                    item = _pubmed_document(el, src)
                    if isinstance(item, Document) and (len(item.text) > _MAX_FIELD or len(item.title) > _MAX_FIELD):
                        item = Rejected(src, f"PMID {item.id}", f"field longer than {_MAX_FIELD} characters")
                    yield item
                    el.clear()
                    if root is not None:
                        root.clear()
        except ET.ParseError as e:
            line, col = e.position
            yield Rejected(src, f"line {line}", f"invalid XML ({e.msg if hasattr(e, 'msg') else e}); "
                           f"records before line {line} were read")


# ---------------------------------------------------------------------------- BioC XML
def read_bioc_xml(path: Path) -> Iterator[Item]:
    src = str(path)
    with _open_binary(path) as f:
        try:
            for _, el in ET.iterparse(f, events=("end",)):
                if el.tag != "document":
                    continue
                doc_id = (el.findtext("id") or "").strip()
                if not doc_id:
                    yield Rejected(src, None, "BioC document without <id>")
                    el.clear()
                    continue
                title, texts = "", []
                for p in el.findall("passage"):
                    infons = {i.get("key"): (i.text or "") for i in p.findall("infon")}
                    ptype = (infons.get("type") or infons.get("section_type") or "").lower()
                    t = _text_of(p.find("text"))
                    if not t:
                        continue
                    if ptype in ("title", "front") and not title:
                        title = t
                    else:
                        texts.append(t)
                if not title and not texts:
                    yield Rejected(src, doc_id, "BioC document with no passage text")
                else:
                    meta = {"pmid": doc_id} if doc_id.isdigit() else {}
                    yield Document(id=doc_id, title=title, text=" ".join(texts), source=src, metadata=meta)
                el.clear()
        except ET.ParseError as e:
            yield Rejected(src, f"line {e.position[0]}", f"invalid XML ({e})")


# ---------------------------------------------------------------------------- PubTator
def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    with _open_binary(path) as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline=None)
        for lineno, line in enumerate(stream, 1):
            yield lineno, line.rstrip("\n")


def read_pubtator(path: Path) -> Iterator[Item]:
    """PubTator: ``PMID|t|title``, ``PMID|a|abstract``, then annotation lines; blank line between documents.

    Gold annotation lines are kept in ``metadata["annotations"]`` / ``metadata["relations"]``
    (used by evaluation), not used by ingest.
    """
    src = str(path)
    cur: dict | None = None

    def finish(d: dict) -> Item:
        if d["title"] is None and d["text"] is None:
            return Rejected(src, d["id"], "PubTator record without |t| or |a| line")
        meta = {"pmid": d["id"]} if d["id"].isdigit() else {}
        if d["ann"]:
            meta["annotations"] = d["ann"]
        if d["rel"]:
            meta["relations"] = d["rel"]
        return Document(id=d["id"], title=d["title"] or "", text=d["text"] or "", source=src, metadata=meta)

    for lineno, line in _text_lines(path):
        if not line.strip():
            if cur:
                yield finish(cur)
                cur = None
            continue
        m = _PUBTATOR_HEAD.match(line)
        if m:
            doc_id, kind, body = m.groups()
            if cur and cur["id"] != doc_id:
                yield finish(cur)
                cur = None
            if cur is None:
                cur = {"id": doc_id, "title": None, "text": None, "ann": [], "rel": []}
            cur["title" if kind == "t" else "text"] = body
            continue
        cols = line.split("\t")
        if cur is None or cols[0] != cur["id"]:
            yield Rejected(src, f"line {lineno}", "annotation line outside a PubTator record")
            continue
        if len(cols) >= 6 and cols[1].isdigit() and cols[2].isdigit():
            cur["ann"].append({"start": int(cols[1]), "end": int(cols[2]), "text": cols[3], "type": cols[4],
                               "id": cols[5]})
        elif len(cols) >= 4:
            cur["rel"].append({"type": cols[1], "id1": cols[2], "id2": cols[3]})
        elif len(cols) == 5 and cols[1].isdigit():
            cur["ann"].append({"start": int(cols[1]), "end": int(cols[2]), "text": cols[3], "type": cols[4],
                               "id": ""})
        else:
            yield Rejected(src, f"line {lineno}", "malformed PubTator annotation line")
    if cur:
        yield finish(cur)


# ---------------------------------------------------------------------------- JSONL
def read_jsonl(path: Path) -> Iterator[Item]:
    """One JSON object per line: ``{"id"|"pmid"|"_id", "title", "text"|"abstract", "year", "journal", ...}``.

    BEIR corpora (``_id``, ``title``, ``text``) read as they are.
    """
    src = str(path)
    with _open_binary(path) as raw:
        for lineno, bline in enumerate(raw, 1):
            if not bline.strip():
                continue
            rec_name = f"line {lineno}"
            try:
                line = bline.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Rejected(src, rec_name, f"not valid UTF-8 (byte {e.start}: {e.reason})")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield Rejected(src, rec_name, f"invalid JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(obj, dict):
                yield Rejected(src, rec_name, f"expected a JSON object, got {type(obj).__name__}")
                continue
            doc_id = obj.get("id", obj.get("pmid", obj.get("_id")))
            if doc_id is None or str(doc_id).strip() == "":
                yield Rejected(src, rec_name, 'record has no "id", "pmid" or "_id"')
                continue
            doc_id = str(doc_id).strip()
            title = obj.get("title") or ""
            text = obj.get("text", obj.get("abstract")) or ""
            if not isinstance(title, str) or not isinstance(text, str):
                yield Rejected(src, f"{rec_name} (id {doc_id})", "title/text must be strings")
                continue
            if not title.strip() and not text.strip():
                yield Rejected(src, f"{rec_name} (id {doc_id})", "record has no title and no text")
                continue
            if len(text) > _MAX_FIELD or len(title) > _MAX_FIELD:
                yield Rejected(src, f"{rec_name} (id {doc_id})", f"field longer than {_MAX_FIELD} characters")
                continue
            meta = {k: v for k, v in obj.items()
                    if k not in ("id", "_id", "title", "text", "abstract") and isinstance(v, (str, int, float, list))}
            if "pmid" in obj:
                meta["pmid"] = str(obj["pmid"])
            kind = "note" if obj.get("kind") == "note" else "article"
            yield Document(id=doc_id, title=title.strip(), text=text.strip(), source=src, kind=kind, metadata=meta)


# ---------------------------------------------------------------------------- plain text notes
def note_sections(text: str) -> list[dict]:
    """Section headers of a clinical note with their character offsets."""
    out = []
    for m in _SECTION_RE.finditer(text):
        header = (m.group("h") or m.group("h2") or "").strip().rstrip(":").strip()
        if header:
            out.append({"header": header.upper(), "start": m.start()})
    return out


def read_text(path: Path) -> Iterator[Item]:
    """One clinical note (or any plain text) per file; section headers kept in the text and in metadata."""
    src = str(path)
    with _open_binary(path) as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        yield Rejected(src, None, f"not valid UTF-8 (byte {e.start}: {e.reason})")
        return
    text = text.replace("\r\n", "\n").lstrip("\ufeff").strip()
    if not text:
        yield Rejected(src, None, "file has no text")
        return
    if "\x00" in text:
        yield Rejected(src, None, "binary file (NUL bytes), not text")
        return
    stem = path.name
    for suffix in (".gz", ".txt", ".text", ".note"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    yield Document(id=stem, title="", text=text, source=src, kind="note",
                   metadata={"sections": note_sections(text)})


_READERS = {
    "pubmed": read_pubmed_xml,
    "bioc": read_bioc_xml,
    "pubtator": read_pubtator,
    "jsonl": read_jsonl,
    "text": read_text,
}
