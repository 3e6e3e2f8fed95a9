"""A bare Flask app for the bench's `bare` peer: the stack's /healthz answer without the
production middleware (request ids, JSON access logs, metrics, ProxyFix, error handlers).
gunicorn serves it with the stack's own gunicorn.conf.py: GUNICORN_APP=hello:app."""

from flask import Flask

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/health")
def health() -> dict[str, str]:  # the container's healthcheck
    return {"status": "ok"}
