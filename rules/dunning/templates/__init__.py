"""Dunning templates (Jinja2), shipped as package data."""
