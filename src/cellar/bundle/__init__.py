"""Bundles that carry a mirror across an air gap: keys and signatures (``keys.py``); the
manifest, export and import follow."""
