"""Performance scenarios. ``python -m benchmarks`` runs them all; each prints JSON lines
``{name, n, seconds, per_second, api_calls, peak_rss_mb}``."""
