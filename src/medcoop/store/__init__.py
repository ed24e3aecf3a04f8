"""The app store's domain: app manifests, listings, catalogue search, commerce, packages.

- :mod:`medcoop.store.manifest`: the versioned app manifest (pydantic) and its validation;
- :mod:`medcoop.store.tuf`: signed packages (the hub's TUF repository, vendor signing,
  upload checks);
- :mod:`medcoop.store.cli`: ``medcoop store ...`` (catalogue, commerce, and the TUF commands).

The hub serves it (``hub/api/store.py``, ``hub/web/store.py``); the edge only reads the
manifest of what it installs.
"""
