"""Hosted projects: an organisation's own packages, uploaded to Cellar and served with the mirror.

``model`` holds the values (settings, name patterns, a project's record), ``validate`` what an
upload must be, ``records`` reads records from the tree, ``store`` adds files, yanks and
publishes (under the lease of ``tree/lease.py``), and ``overlay`` is what the mirror's plan sees
of them. docs/hosting.md describes it all for operators.
"""
