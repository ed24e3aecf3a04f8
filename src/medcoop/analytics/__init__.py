"""Hub analytics, pure computations over records and summaries (no network, no database).

Modules: ``exam_types`` (like-for-like groups), ``drl`` (national and ICRP 135 local DRLs,
comparisons), ``ssde`` (AAPM 204/220), ``sketches`` (mergeable DDSketch summaries),
``benchmarks`` (k-anonymous peer benchmarks with complementary suppression), ``alerts``
(rules and lifecycle), ``notify`` (SMTP and webhook adapters), ``utilization`` (device
usage) and ``protocols`` (protocol sharing).
"""
