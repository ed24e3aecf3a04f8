"""Packaged reference tables: national DRLs and AAPM 204 SSDE data (copies of ../shared)."""
