"""The fast byte-level content-tree reader gives exactly pydicom's tree."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from medcoop.dicom import content
from medcoop.dicom.rawsr import read_tree_raw
from medcoop.dicom.values import dataset_encoding

from . import builders as b


def shape(node: content.Node) -> tuple[object, ...]:
    """Everything a node holds, its children's included."""
    return (
        node.key,
        node.vt,
        node.text,
        node.num,
        node.unit,
        node.code,
        node.meaning,
        tuple(shape(child) for child in node.children),
    )


def slow_tree(ds: pydicom.Dataset) -> content.Node:
    """pydicom's path: walk the converted Dataset items."""
    root = content.read_item(ds)
    stack = [(ds, root)]
    while stack:
        item, node = stack.pop()
        for child in item.get("ContentSequence", []):
            child_node = content.read_item(child)
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
        fast = read_tree_raw(fast_ds)
        if fast is None:
            # only for ISO 2022 character sets, or a sequence pydicom already decoded
            encoded = isinstance(getattr(fast_ds._dict[0x0040A730], "value", None), bytes)
            assert not encoded or dataset_encoding(fast_ds) is None, path.name
            continue
        slow = slow_tree(pydicom.dcmread(path, force=True, stop_before_pixels=True))
        assert shape(fast) == shape(slow), path.name
        compared += 1
    assert compared >= 33  # of the corpus's 39 SR documents (dcmread parses 5 at once)


def test_fast_reader_declines_what_it_cannot_read() -> None:
    in_memory = b.ct_rdsr([("1.2.3", 1.0, 2.0)])  # built, not read: nothing encoded
    assert read_tree_raw(in_memory) is None


def test_node_lookups_see_every_child_however_many() -> None:
    parent = content.Node("DCM:1", "CONTAINER")
    parent.children = [content.Node(f"DCM:{i % 12}", "NUM") for i in range(30)]
    assert parent.find("DCM:5") is parent.children[5]  # the first of its key, indexed
    parent.children.append(content.Node("DCM:99", "TEXT"))
    assert parent.find("DCM:99") is parent.children[-1]  # the index follows the list
    parent.children = parent.children[:3]
    assert parent.find("DCM:5") is None
