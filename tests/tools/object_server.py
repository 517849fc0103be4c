#!/usr/bin/env python3
"""A loopback object store for the tests and benchmarks of slides by URL.

Serves the files under --root over HTTP/1.1 (keep-alive) with single byte ranges, ETags and
S3's ListObjectsV2 (path-style: /BUCKET/KEY, the bucket being the first folder under the root).
With --access-key, every object request must carry an AWS Signature Version 4 that this server
checks on its own (hmac/hashlib), as S3 does: a wrong key or signature is a 403 with S3's error
XML. --delay-ms sleeps before answering each request (a remote store's latency). It counts
requests and body bytes sent: GET /__stats. GET /__fault?mode=500|truncate|hang&count=N makes
the next N object requests fail that way. Prints "PORT <n>" on stdout once listening.
"""
import argparse
import datetime
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.fault = None
        self.fault_count = 0
        self.signed = 0

    def take_fault(self):
        with self.lock:
            if self.fault_count > 0:
                self.fault_count -= 1
                return self.fault
            return None


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_error(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>"
            % (code, message)).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *a):
        pass

    def send_body(self, status, body, headers=(), ctype="application/xml"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # SigV4 as S3 checks it: the canonical request rebuilt from what arrived.
    def check_signature(self, path, query):
        a = self.state.args
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return s3_error("AccessDenied", "Access Denied")
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        cred = parts.get("Credential", "").split("/")
        if len(cred) != 5 or cred[0] != a.access_key:
            return s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        date, region, service, term = cred[1:]
        amz_date = self.headers.get("x-amz-date", "")
        payload = self.headers.get("x-amz-content-sha256", "")
        if not payload:
            return s3_error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        if a.session_token and self.headers.get("x-amz-security-token", "") != a.session_token:
            return s3_error("InvalidToken", "The provided token is malformed or otherwise invalid.")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return s3_error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
            return s3_error("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
        signed = parts.get("SignedHeaders", "").split(";")
        if "host" not in signed:
            return s3_error("AccessDenied", "host must be signed")
        canon_headers = "".join("%s:%s\n" % (h, " ".join(self.headers.get(h, "").split())) for h in signed)
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        canon_query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                               for k, v in sorted(pairs))
        canon = "\n".join([self.command, path, canon_query, canon_headers, ";".join(signed), payload])
        scope = "/".join([date, region, service, term])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256_hex(canon.encode())])
        key = hmac256(hmac256(hmac256(hmac256(("AWS4" + a.secret_key).encode(), date), region), service), term)
        if hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() != parts.get("Signature", ""):
            return s3_error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        with self.state.lock:
            self.state.signed += 1
        return None

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        st = self.state
        raw_path, _, query = self.path.partition("?")
        if raw_path == "/__stats":
            with st.lock:
                body = json.dumps({"requests": st.requests, "bytes": st.bytes, "signed": st.signed}).encode()
            return self.send_body(200, body, ctype="application/json")
        if raw_path == "/__reset":
            with st.lock:
                st.requests = st.bytes = st.signed = 0
            return self.send_body(200, b"{}", ctype="application/json")
        if raw_path == "/__fault":
            q = dict(urllib.parse.parse_qsl(query))
            with st.lock:
                st.fault, st.fault_count = q.get("mode"), int(q.get("count", "1"))
            return self.send_body(200, b"{}", ctype="application/json")
        with st.lock:
            st.requests += 1
        if st.args.log:
            print("%.3f %s %s %s" % (time.time(), self.client_address[1], raw_path, self.headers.get("Range", "")),
                  file=sys.stderr, flush=True)
        if st.args.delay_ms > 0:
            time.sleep(st.args.delay_ms / 1000.0)
        if st.args.access_key:
            err = self.check_signature(raw_path, query)
            if err:
                return self.send_body(403, err)
        fault = st.take_fault()
        if fault == "500":
            return self.send_body(500, s3_error("InternalError", "We encountered an internal error. Please try again."))
        if fault == "hang":
            time.sleep(3600)
        rel = urllib.parse.unquote(raw_path).lstrip("/")
        root = os.path.abspath(st.args.root)
        full = os.path.normpath(os.path.join(root, rel))  # links inside the root are followed
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if q.get("list-type") == "2":
            return self.list_objects(rel.rstrip("/"), q)
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            return self.send_body(404, s3_error("NoSuchKey", "The specified key does not exist."))
        size = os.path.getsize(full)
        mtime = os.stat(full).st_mtime_ns
        etag = '"%x-%x"' % (size, mtime)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = min(int(b), size - 1) if b else size - 1
            if start >= size:
                return self.send_body(416, s3_error("InvalidRange", "The requested range is not satisfiable"),
                                      headers=[("Content-Range", "bytes */%d" % size)])
            status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault != "truncate":  # zero-copy: the server's CPU stays out of the figures it measures
            self.wfile.flush()
            with open(full, "rb") as f:
                sent = self.connection.sendfile(f, start, length)
            with st.lock:
                st.bytes += sent
            return
        with open(full, "rb") as f:
            f.seek(start)
            data = f.read(length)
        if fault == "truncate":
            data = data[: len(data) // 2]
            self.wfile.write(data)
            with st.lock:
                st.bytes += len(data)
            self.close_connection = True
            return
        self.wfile.write(data)
        with st.lock:
            st.bytes += len(data)

    def list_objects(self, bucket_and_prefix, q):
        bucket = bucket_and_prefix.split("/", 1)[0]
        prefix = q.get("prefix", "")
        base = os.path.join(self.state.args.root, bucket)
        if not os.path.isdir(base):
            return self.send_body(404, s3_error("NoSuchBucket", "The specified bucket does not exist"))
        keys = []
        for d, _, files in os.walk(base):
            for name in files:
                key = os.path.relpath(os.path.join(d, name), base).replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append((key, os.path.getsize(os.path.join(d, name))))
        keys.sort()
        token = q.get("continuation-token", "")
        if token:
            keys = [k for k in keys if k[0] > token]
        page = self.state.args.page_size
        more = len(keys) > page
        keys = keys[:page]
        esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><IsTruncated>%s</IsTruncated>" % (
            esc(bucket), esc(prefix), len(keys), "true" if more else "false")
        for k, size in keys:
            body += "<Contents><Key>%s</Key><Size>%d</Size></Contents>" % (esc(k), size)
        if more:
            body += "<NextContinuationToken>%s</NextContinuationToken>" % esc(keys[-1][0])
        body += "</ListBucketResult>"
        self.send_body(200, body.encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # socketserver's 5 drops the connections of a burst: 1 s SYN retries

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # clients leave as they like
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--access-key", default="")
    ap.add_argument("--secret-key", default="")
    ap.add_argument("--session-token", default="")
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--log", action="store_true", help="a line per object request on stderr")
    args = ap.parse_args()
    Handler.state = State(args)
    server = Server(("127.0.0.1", args.port), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
