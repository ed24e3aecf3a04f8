"""The demo's ledger part: patients decide, a witness co-signs, accesses are logged.

After the physicist's benchmarks (whose reads of pooled data are already access entries),
one of St Elsewhere's back-loaded patients denies pooling and another permits it, at the
edge (the code behind the edge's ``POST /consent``). The hub logs both decisions, removes
the denier's pooled studies and logs that removal; a hospital's witness follows the log
and co-signs its checkpoint; the denier's receipt is fetched again with the cosignature
and verified against the log key and the witness. ``medcoop demo --check`` reads what was
seen here (``ledger-demo.json`` in the demo folder) and checks each promise.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console

from medcoop.ledger.entries import AccessEntry, ConsentEntry, Decision, parse_entry
from medcoop.ledger.errors import LedgerError
from medcoop.ledger.note import ALG_COSIGNATURE, Signer, Verifier, generate_signer
from medcoop.ledger.receipt import Receipt, verify_receipt

if TYPE_CHECKING:
    from medcoop.demo.check import CheckResult
    from medcoop.demo.cluster import DemoEdge, Provisioned
    from medcoop.demo.story import DemoOptions

__all__ = ["checks", "hub_options", "run"]

WITNESS_NAME = "st-elsewhere.example/witness"
SITE = "St Elsewhere"
_SEEN = "ledger-demo.json"


def _witness(folder: Path) -> Signer:
    path = folder / "witness.key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(generate_signer(WITNESS_NAME, alg=ALG_COSIGNATURE).to_string() + "\n")
        path.chmod(0o600)
    return Signer.from_string(path.read_text())


def hub_options(folder: Path) -> list[str]:
    """``medcoop hub serve`` options: the demo's log key in its folder, and its witness."""
    vkey = _witness(folder).verifier.to_string()
    return ["--ledger-witness", vkey, "--ledger-key", str(folder / "ledger.key")]


@dataclass
class Seen:
    """What the part saw, for ``--check``."""

    decisions_logged: int = 0
    denier_opted_out: bool = False
    studies_before: int = 0
    studies_after: int = 0
    removed_logged: int = -1
    cosigned: bool = False
    benchmark_accesses: int = 0
    receipt_ok: str = "not tried"


def _patients(options: DemoOptions, n: int) -> list[tuple[str, str]]:
    """The first ``n`` distinct St Elsewhere patients of the archive the demo back-loaded
    (the fleet is deterministic: the same stream as the story's)."""
    from medcoop.demo.story import DEMO_SITES
    from medcoop.sim import Fleet

    fleet = Fleet(seed=options.seed, sites=[s.name for s in DEMO_SITES], start=options.start,
                  utc_offsets_min=(0,))
    found: dict[str, str] = {}
    for study in fleet.studies(options.archive_studies):
        patient = study.truth.patient
        if study.truth.site == SITE and patient.patient_id not in found:
            found[patient.patient_id] = patient.issuer_of_patient_id or ""
            if len(found) == n:
                break
    return list(found.items())


def _entries(client: httpx.Client, start: int) -> list[tuple[int, ConsentEntry | AccessEntry]]:
    size = int(client.get("/log/checkpoint").text.split("\n")[1])
    out = []
    for index in range(start, size):
        raw = client.get(f"/api/v1/ledger/entries/{index}").json()["entry"]
        out.append((index, parse_entry(raw.encode())))
    return out


def run(
    options: DemoOptions,
    hub_folder: Path,
    client: httpx.Client,
    provisioned: Provisioned,
    edges: dict[str, DemoEdge],
    console: Console,
) -> None:
    """Tell the ledger part of the story, and keep what it saw for ``--check``."""
    from datetime import UTC, datetime

    from medcoop.edge.consent import PatientDecision
    from medcoop.edge.consent_web import record_and_submit
    from medcoop.ledger.witness_runner import Witness

    console.rule("[bold]8. Patients decide; the ledger records it and who read pooled data")
    seen = Seen()
    site_id = provisioned.site_ids[SITE]
    node = edges[SITE].node
    assert node is not None and node.pipeline is not None
    pipeline = node.pipeline
    seen.studies_before = _count(client, site_id)
    (denier, issuer), (permitter, issuer2) = _patients(options, 2)
    today = datetime.now(UTC).date()
    receipts: list[Receipt] = []
    for patient, who, choice in ((denier, issuer, Decision.DENY),
                                 (permitter, issuer2, Decision.PERMIT)):
        decision = PatientDecision(patient, who, choice, choice, "pooling", today,
                                   recorded_by="registration-desk")
        entry, receipt = record_and_submit(pipeline, decision)
        receipts.append(receipt)
        console.print(f"{SITE}: a patient's {choice.value} of pooling is entry {receipt.index} "
                      f"(pseudonym {entry.pseudonym[:12]}…; no name or ID leaves the edge)")
    seen.decisions_logged = len(receipts)
    seen.denier_opted_out = pipeline.consent.is_opted_out(pipeline.consent.pseudonym_of(
        denier, issuer))
    seen.studies_after = _count(client, site_id)
    entries = _entries(client, 0)
    removals = [e for _, e in entries if isinstance(e, AccessEntry)
                and e.purpose == "pooling-denied:removal"]
    seen.removed_logged = removals[-1].aggregate.records if removals and removals[-1].aggregate \
        else -1
    seen.benchmark_accesses = sum(1 for _, e in entries if isinstance(e, AccessEntry)
                                  and e.purpose == "peer-benchmark")
    console.print(f"the hub removed the denier's {seen.studies_before - seen.studies_after} "
                  f"pooled studies and logged it; {seen.benchmark_accesses} benchmark reads of "
                  "pooled data are in the log as aggregate accesses")
    witness = Witness.open(str(client.base_url), key_file=hub_folder / "witness.key",
                           state_file=hub_folder / "witness-state.json", name=WITNESS_NAME,
                           log_key=None, out=Console(file=io.StringIO()))
    seen.cosigned = witness.step() == 0
    console.print(f"witness {WITNESS_NAME} checked the log and "
                  f"{'co-signed' if seen.cosigned else 'did NOT co-sign'} its checkpoint")
    fresh = Receipt.from_json(client.get(f"/api/v1/ledger/receipts/{receipts[0].index}").text)
    log_key = Verifier.from_string(client.get("/log/key").text)
    try:
        verified = verify_receipt(fresh, log_key, witnesses=[_witness(hub_folder).verifier],
                                  quorum=1)
        seen.receipt_ok = f"ok: entry {fresh.index} in {verified.checkpoint.size}, cosigned"
    except LedgerError as exc:
        seen.receipt_ok = f"failed: {exc}"
    console.print(f"the denier's receipt: {seen.receipt_ok}; patients check theirs at "
                  f"{client.base_url}/ledger/verify")
    (options.home / _SEEN).write_text(json.dumps(asdict(seen)))


def _count(client: httpx.Client, site_id: Any) -> int:
    from medcoop.demo.story import _studies_at_hub

    return _studies_at_hub(client, site_id)


def checks(options: DemoOptions) -> list[Callable[[], CheckResult]]:
    """The ledger's promises, checked from what the part saw."""
    from medcoop.demo.check import CheckResult

    def seen() -> Seen:
        path = options.home / _SEEN
        return Seen(**json.loads(path.read_text())) if path.exists() else Seen()

    def decisions() -> CheckResult:
        s = seen()
        ok = s.decisions_logged == 2 and s.denier_opted_out
        return CheckResult("consent decisions in the ledger", ok,
                           f"{s.decisions_logged} logged, denial in force at the edge: "
                           f"{s.denier_opted_out}")

    def removal() -> CheckResult:
        s = seen()
        removed = s.studies_before - s.studies_after
        ok = removed > 0 and s.removed_logged == removed
        return CheckResult("a denial removes pooled studies, logged", ok,
                           f"{removed} removed at the hub, {s.removed_logged} in the log")

    def witness() -> CheckResult:
        s = seen()
        return CheckResult("a witness co-signs the log", s.cosigned, WITNESS_NAME)

    def access() -> CheckResult:
        s = seen()
        return CheckResult("reads of pooled data are access entries", s.benchmark_accesses > 0,
                           f"{s.benchmark_accesses} peer-benchmark reads logged")

    def receipt() -> CheckResult:
        s = seen()
        return CheckResult("a patient's receipt verifies", s.receipt_ok.startswith("ok"),
                           s.receipt_ok)

    return [decisions, removal, witness, access, receipt]
