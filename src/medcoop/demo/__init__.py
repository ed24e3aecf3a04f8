"""``medcoop demo``: the whole data path on embedded defaults, on one machine.

A hub on SQLite (served by ``medcoop hub serve`` in a child process), a hospital group's two
edges enrolled in it with one-time codes, the synthetic scanner fleet sending their studies
over DICOM (MPPS N-CREATE, C-STORE, N-SET), and a community of peer hospitals whose edges
back-load their archives, so that peer benchmarks have enough sites to answer. It then
prints what arrived where and the analytics a physicist would look at, and keeps the
scanners sending until Ctrl-C.

``cluster.py`` starts and provisions the pieces, ``scanners.py`` plays the modalities and
``story.py`` runs and narrates the demo. Nothing here is used by the product itself.
"""

from __future__ import annotations

__all__: list[str] = []
