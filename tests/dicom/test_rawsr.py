"""The fast byte-level content-tree reader gives exactly pydicom's tree."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from medcoop.dicom import sr
from medcoop.dicom.rawsr import read_content_raw
from medcoop.dicom.values import dataset_encoding

from . import builders as b


def _shape(node: sr.Node) -> tuple[object, ...]:
    return (
        node.key,
        node.vt,
        node.text,
        node.num,
        node.unit,
        node.code,
        node.meaning,
        tuple(_shape(child) for child in node.children),
    )


def _slow_tree(ds: pydicom.Dataset) -> sr.Node:
    """pydicom's path: walk the converted Dataset items."""
    root = sr._read_item(ds)
    stack = [(ds, root)]
    while stack:
        item, node = stack.pop()
        for child in item.get("ContentSequence", []):
            child_node = sr._read_item(child)
            node.children.append(child_node)
            stack.append((child, child_node))
    return root


@pytest.mark.corpus
def test_fast_reader_matches_pydicom_on_every_corpus_sr(corpus_dir: Path) -> None:
    compared = 0
    for path in sorted(corpus_dir.glob("*.dcm")):
        if path.stat().st_size > 1_000_000:
            continue  # the two largest SRs take pydicom's slow path ~15 s: kept out for CI time
        fast_ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        if "ContentSequence" not in fast_ds._dict and 0x0040A730 not in fast_ds._dict:
            continue
        fast = read_content_raw(fast_ds, sr._read_item(fast_ds))
        if fast is None:
            # only for ISO 2022 character sets, or a sequence pydicom already decoded
            encoded = isinstance(getattr(fast_ds._dict[0x0040A730], "value", None), bytes)
            assert not encoded or dataset_encoding(fast_ds) is None, path.name
            continue
        slow = _slow_tree(pydicom.dcmread(path, force=True, stop_before_pixels=True))
        assert _shape(fast) == _shape(slow), path.name
        compared += 1
    assert compared >= 33  # of the corpus's 39 SR documents (Giotto's is big endian)


def test_fast_reader_declines_what_it_cannot_read() -> None:
    in_memory = b.ct_rdsr([("1.2.3", 1.0, 2.0)])  # built, not read: nothing encoded
    assert read_content_raw(in_memory, sr._read_item(in_memory)) is None
