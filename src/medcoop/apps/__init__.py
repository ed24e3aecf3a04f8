"""Apps next to the data: the SDK an app is written against, the sandboxed runner, the edge's
triggers, run queue and result export (``medcoop app``, ``medcoop edge apps``).

``sdk`` is the contract (entry point, inputs, typed results); ``sr`` builds and checks TID
1500 reports; ``runner`` runs one app in its own process and sandbox; ``queue`` and
``export`` are the edge's durable run and export queues.
"""
