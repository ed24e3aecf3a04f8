"""The app store's domain: manifests, catalogue, commerce, entitlements and signed packages.

Subpackages and modules import what they need; this package imports nothing, so that
``medcoop.store.tuf`` (the supply chain) and the catalogue can land independently.
"""
