"""Apps next to the data: SDK, runner, queue, monitoring, cloud runs and first-party apps.

``sdk`` is the contract (entry point, inputs, typed results); ``sr`` builds and checks TID
1500 reports; ``runner`` runs one app in its own process and sandbox; ``queue`` and
``export`` are the edge's durable run and export queues (``medcoop app``,
``medcoop edge apps``); ``firstparty`` holds the platform's own apps.
"""
