"""Judges, shared by the kinds that need one: how a spec names a judge (spec.py) and the
endpoint client that asks it (client.py)."""
