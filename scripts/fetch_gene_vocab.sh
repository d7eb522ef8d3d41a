#!/usr/bin/env bash
# Extract the human gene vocabulary (NCBI Gene ids, symbols, names, aliases) that
# nlp/linking.py can add to the concept dictionary, from Debian's r-bioc-org.hs.eg.db.
#
# Optional: the dictionary builds without it (genes then come from the corpora only).
# Writes only into the cache dir, never into the repository:
#   $DEST/genes_hs.tsv      gene_id<TAB>symbol<TAB>name<TAB>alias|alias|...
#   $DEST/genes_hs.version  source package version + Entrez source date
#
# Usage: scripts/fetch_gene_vocab.sh [DEST]   (default: ~/.cache/medkg/vocab)
# Needs: apt-get (Debian), dpkg-deb, python3. Runs `apt-get update` if the package is unknown.
set -euo pipefail

DEST="${1:-${HOME}/.cache/medkg/vocab}"
PKG=r-bioc-org.hs.eg.db
mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
if ! apt-get download "$PKG" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get download "$PKG" >/dev/null
fi
DEB="$(ls "$WORK"/${PKG}_*.deb)"
VERSION="$(dpkg-deb -f "$DEB" Version)"

# Only the SQLite file is needed (~340 MB unpacked); stream it out of the .deb.
dpkg-deb --fsys-tarfile "$DEB" \
  | tar -xO ./usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite > "$WORK/hs.sqlite"

python3 - "$WORK/hs.sqlite" "$DEST/genes_hs.tsv.tmp" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
aliases = {}
for _id, alias in con.execute("SELECT _id, alias_symbol FROM alias"):
    aliases.setdefault(_id, []).append(alias)
rows = con.execute(
    "SELECT g._id, g.gene_id, i.symbol, i.gene_name FROM genes g JOIN gene_info i ON i._id = g._id "
    "ORDER BY CAST(g.gene_id AS INTEGER)"
)
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write("gene_id\tsymbol\tname\taliases\n")
    for _id, gene_id, symbol, name in rows:
        clean = lambda s: s.replace("\t", " ").replace("|", "/")
        al = sorted({clean(a) for a in aliases.get(_id, []) if a != symbol})
        out.write(f"{gene_id}\t{clean(symbol)}\t{clean(name)}\t{'|'.join(al)}\n")
PY
mv "$DEST/genes_hs.tsv.tmp" "$DEST/genes_hs.tsv"
SRCDATE="$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT value FROM metadata WHERE name='EGSOURCEDATE'\").fetchone()[0])" "$WORK/hs.sqlite")"
echo "$PKG $VERSION entrez:$SRCDATE" > "$DEST/genes_hs.version"
echo "wrote $DEST/genes_hs.tsv ($(($(wc -l < "$DEST/genes_hs.tsv") - 1)) genes), $PKG $VERSION" >&2
