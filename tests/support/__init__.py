"""Helpers shared by the end-to-end and Swarm suites and the benchmark, one job per module:

settings    where the stack listens and the names a fork changes, read from Compose itself
stack       Docker and Compose: run commands, inspect containers, wait, stop and start
edge        HTTP clients for the published HTTPS edge
prometheus  queries against the published Prometheus
load        request streams that run beside a deploy or a fault and count every outcome
imports     bulk imports through the edge: post one, follow it until it has finished
images      the images the suites build besides the stack's own (python -m tests.support.images)
capture_server.py   a tiny HTTP server run in a container as a stand-in Sentry or webhook
proc_table.py       a /proc scanner run inside a container (no ps in the images)
"""
