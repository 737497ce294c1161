"""Talking to an upstream index: fetch pages and files, parse PEP 691 JSON and PEP 503 HTML."""
