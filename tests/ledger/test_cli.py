"""``medcoop ledger`` against a real hub: verify, witness, prove, receipts, forks refused."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medcoop.cli import app as cli
from medcoop.ledger.checkpoint import verify_cosignatures
from medcoop.ledger.entries import canonical_json
from medcoop.ledger.note import ALG_COSIGNATURE, generate_signer
from tests.ledger.conftest import LedgerHub
from tests.ledger.factories import consent

WITNESS = generate_signer("hospital.test/witness", alg=ALG_COSIGNATURE)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["ledger", *args])
    return result.exit_code, result.output


def _append(hub: LedgerHub, start: int, n: int) -> None:
    hub.ledger.append([canonical_json(consent(i)) for i in range(start, start + n)])


def test_verify_witness_prove_and_receipts(tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    wkey = tmp_path / "w.key"
    wkey.write_text(WITNESS.to_string())
    with LedgerHub(tmp_path / "hub", (WITNESS.verifier.to_string(),), key) as hub:
        _append(hub, 0, 300)
        log_key = hub.ledger.verifier().to_string()
        common = ["--hub", hub.url, "--log-key", log_key]
        witness = ["witness", *common, "--key", str(wkey), "--state", str(tmp_path / "w.json"),
                   "--name", WITNESS.name, "--once"]
        code, out = _run(*witness)
        assert code == 0, out
        note = hub.ledger.checkpoint()
        assert verify_cosignatures(note, [WITNESS.verifier], quorum=1)
        _append(hub, 300, 700)
        code, out = _run(*witness)  # consistency 300 -> 1000 computed from the tiles
        assert code == 0 and "size 1000" in out, out
        state = ["--state", str(tmp_path / "v.checkpoint")]
        vw = ["--witness", WITNESS.verifier.to_string(), "--quorum", "1"]
        code, out = _run("verify", *common, *state, *vw)
        assert code == 0 and "1000 entries" in out, out
        _append(hub, 1000, 30)
        code, out = _run("verify", *common, *state)
        assert code == 0 and "consistent with the last verified checkpoint (size 1000)" in out
        receipt = tmp_path / "receipt.json"
        code, out = _run("prove", "777", *common, "--receipt", str(receipt))
        assert code == 0, out
        assert json.loads(receipt.read_text())["index"] == 777
        _append(hub, 2000, 10)
        code, out = _run("receipt-check", str(receipt), "--log-key", log_key, "--hub", hub.url)
        assert code == 0 and "still included at the log's current size 1040" in out, out
        tampered = json.loads(receipt.read_text())
        tampered["entry"] = tampered["entry"].replace('"deny"', '"permit"', 1)
        receipt.write_text(json.dumps(tampered))
        code, out = _run("receipt-check", str(receipt), "--log-key", log_key)
        assert code == 1 and "FAILED" in out


def test_a_forked_log_is_refused_by_the_witness_and_by_verify(tmp_path: Path) -> None:
    key = tmp_path / "log.key"  # both hubs sign with the same key: one log, two histories
    wkey = tmp_path / "w.key"
    wkey.write_text(WITNESS.to_string())
    wstate = tmp_path / "w.json"
    vstate = tmp_path / "v.checkpoint"
    with LedgerHub(tmp_path / "honest", (WITNESS.verifier.to_string(),), key) as hub:
        _append(hub, 0, 40)
        log_key = hub.ledger.verifier().to_string()
        args = ["--hub", hub.url, "--log-key", log_key]
        assert _run("witness", *args, "--key", str(wkey), "--state", str(wstate), "--once")[0] == 0
        assert _run("verify", *args, "--state", str(vstate))[0] == 0
    with LedgerHub(tmp_path / "forked", (WITNESS.verifier.to_string(),), key) as evil:
        _append(evil, 5000, 60)  # a size-60 tree that does not extend the size-40 one
        args = ["--hub", evil.url, "--log-key", log_key]
        code, out = _run("witness", *args, "--key", str(wkey), "--state", str(wstate), "--once")
        assert code == 3 and "FORK DETECTED" in out, out
        evidence = json.loads((tmp_path / "w.json.FORK").read_text())
        assert "\n40\n" in evidence["seen_checkpoint"] and "\n60\n" in evidence["new_checkpoint"]
        code, out = _run("witness", *args, "--key", str(wkey), "--state", str(wstate), "--once")
        assert code == 3 and "REFUSING" in out
        code, out = _run("verify", *args, "--state", str(vstate))
        assert code == 3 and "FORK" in out, out
        assert list(tmp_path.glob("v.checkpoint.fork-*.json"))
