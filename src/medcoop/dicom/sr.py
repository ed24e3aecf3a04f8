"""Content-tree walking for Structured Reports: a document's whole tree as :class:`Node` objects.

:func:`read_tree` reads the still-encoded content tree with :mod:`medcoop.dicom.rawsr`
where it can and otherwise walks pydicom's tree, converting it once into the light nodes
of :mod:`medcoop.dicom.content`; both give the same tree.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from medcoop.dicom.content import MAX_DEPTH, MAX_ITEMS, Node, TreeError, read_item
from medcoop.dicom.rawsr import read_tree_raw

__all__ = ["read_tree"]

_CONTENT_SEQ = 0x0040A730


def read_tree(ds: Dataset) -> Node:
    """Return the document's content tree as :class:`Node` objects (the root is the document).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        An SR document.

    Raises
    ------
    TreeError
        When the tree is deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_ITEMS`.
    """
    fast = read_tree_raw(ds)
    if fast is not None:
        return fast
    root = read_item(ds)
    budget = MAX_ITEMS
    # iterative, so that a hostile tree cannot exhaust Python's stack
    stack: list[tuple[Dataset, Node, int]] = [(ds, root, 0)]
    while stack:
        item, node, depth = stack.pop()
        if _CONTENT_SEQ not in item._dict:
            continue
        children = item[_CONTENT_SEQ].value
        if not children:
            continue
        if depth >= MAX_DEPTH:
            raise TreeError(f"content tree deeper than {MAX_DEPTH} levels")
        budget -= len(children)
        if budget < 0:
            raise TreeError(f"content tree larger than {MAX_ITEMS} items")
        for child in children:
            if not isinstance(child, Dataset):
                continue
            child_node = read_item(child)
            node.children.append(child_node)
            stack.append((child, child_node, depth + 1))
    return root
