"""The certificate client: obtains the edge's certificate from an ACME CA with certbot (HTTP-01
through the webroot nginx serves on port 80), renews it well before it expires, installs it
where nginx reads it, and reports every outcome as one JSON line and as Prometheus metrics.

See docs/certificates.md. Runs as the `acme` service (acme/Dockerfile); `python -m acmeloop`.
"""
