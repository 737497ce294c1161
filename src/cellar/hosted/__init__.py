"""Hosted projects: an organisation's own packages, uploaded to Cellar and served with the mirror.

``model`` holds the values (settings, name patterns, a project's record), ``validate`` what an
upload must be, ``records`` reads records from the tree, ``listing`` what their pages list, and
``overlay`` is what the mirror's plan sees of them. Writing them (files, yanks, pages, under the
lease of ``tree/lease.py``) is ``sync/hosting.py``'s, beside the mirror's own publishing.
docs/hosting.md describes it all for operators.
"""
