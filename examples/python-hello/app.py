"""Answers every request with the contents of message.txt, on $PORT."""
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

MESSAGE = (Path(__file__).parent / "message.txt").read_text().strip().encode()


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(MESSAGE)))
        self.end_headers()
        self.wfile.write(MESSAGE)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    print(f"listening on port {port}", flush=True)
    HTTPServer(("", port), Hello).serve_forever()
