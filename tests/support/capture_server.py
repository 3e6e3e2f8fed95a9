"""A tiny HTTP server that prints every POST body (gunzipped) as one line on stdout: run in a
container of the app image, it stands in for Sentry or an alert webhook in the tests."""

import gzip
import http.server
import sys


class Capture(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        text = body.decode("utf-8", "replace").replace("\n", " ")
        sys.stdout.write(f"ENVELOPE {text}\n")
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Capture).serve_forever()
