"""Investor prospecting: models arrive with the prospects issue."""
