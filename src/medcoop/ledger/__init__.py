"""The consent and access ledger: a transparency log in the style of Certificate Transparency.

Pure code, no I/O: RFC 9162 hashing and proofs (:mod:`.merkle`), the C2SP tlog-tiles layout
(:mod:`.tiles`), signed notes and cosignatures (:mod:`.note`), checkpoints
(:mod:`.checkpoint`), entries (:mod:`.entries`), receipts (:mod:`.receipt`) and the witness's
decision (:mod:`.witness`). Storage and HTTP live in the hub (``hub/services/ledger``).
"""
