"""What every Python service of the stack (the app, the worker, the scheduler, acme, backup)
shares: its log lines (``pyservice.logs``: one JSON schema, one stream) and the reading of its
settings (``pyservice.settings``: typed, bounded, secrets from ``<NAME>_FILE``).

Only the standard library: the acme and backup images carry this package beside their own
code, and gunicorn's master (gunicorn.conf.py) imports it without importing the app.
"""
