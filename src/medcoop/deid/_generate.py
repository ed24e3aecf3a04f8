"""Generate the packaged Annex E table from the shared PS3.15 2026c extract.

Run ``python -m medcoop.deid._generate [SOURCE_DIR]`` (default ``../shared/reference/
ps3.15-e1-1``). It writes ``data/table_e1_1.csv`` (the standard's 15 columns plus the
derived ``id``, row for row, nothing edited) and ``data/table_e1_1.json`` (edition and
SHA-256 of the normative source, PS3.15 2026c ``part15.xml``). Never edit the outputs
by hand: regenerate them.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

__all__ = ["COLUMNS", "DATA_DIR", "generate"]

DATA_DIR = Path(__file__).with_name("data")
#: The standard's 15 columns in print order, then the derived tag id.
COLUMNS = (
    "name",
    "tag",
    "retired",
    "stdCompIOD",
    "basicProfile",
    "rtnSafePrivOpt",
    "rtnUIDsOpt",
    "rtnDevIdOpt",
    "rtnInstIdOpt",
    "rtnPatCharsOpt",
    "rtnLongFullDatesOpt",
    "rtnLongModifDatesOpt",
    "cleanDescOpt",
    "cleanStructContOpt",
    "cleanGraphOpt",
    "id",
)


def generate(source_dir: Path, out_dir: Path = DATA_DIR) -> int:
    """Write the packaged table from ``source_dir``; return the number of rows written.

    Parameters
    ----------
    source_dir : Path
        The shared extract (``table_e1_1.csv`` and ``table_e1_1.json``).
    out_dir : Path
        Where to write (the package's ``data`` folder by default).
    """
    meta = json.loads((source_dir / "table_e1_1.json").read_text())
    with (source_dir / "table_e1_1.csv").open(newline="", encoding="utf-8") as handle:
        rows = [{column: row[column] for column in COLUMNS} for row in csv.DictReader(handle)]
    expected = len(meta["rows"])
    if len(rows) != expected:
        raise ValueError(f"source CSV has {len(rows)} rows, its JSON has {expected}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "table_e1_1.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    provenance = {
        "table": "PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes",
        "edition": meta["edition"],
        "source": meta["source"],
        "source_sha256": meta["source_sha256"],
        "rows": len(rows),
        "generated_by": "medcoop.deid._generate",
    }
    (out_dir / "table_e1_1.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return len(rows)


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[4] / "shared" / "reference" / "ps3.15-e1-1"
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    print(f"wrote {generate(source)} rows from {source}")
