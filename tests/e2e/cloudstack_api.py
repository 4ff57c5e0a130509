"""A stand-in for CloudStack's API, as much of it as pulse-sensor's volume-id mapping uses.

It verifies every request's signature the way CloudStack's ApiServer.verifyRequest does: the
parameters other than `signature` (as the servlet decoded them), sorted by name, each value
encoded as Java's URLEncoder encodes it with '+' replaced by %20, joined with '&', lower-cased,
HMAC-SHA1 with the secret key, base64, compared with the signature. A wrong or missing one gets
HTTP 401 with CloudStack's error body. listVolumes and listProjects answer page by page
(`page`, `pagesize`, at most `max_page_size` items a page, as default.page.size does), with the
total in `count`; a volume that belongs to a project is listed only with that `projectid`.

It can be made slow (`delay_s` before each answer) and can be started late or stopped (down).
Loopback only. Used by cloudstack_test.py; `python3 cloudstack_api.py` serves a small example.
"""
import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JAVA_SAFE = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")


def java_url_encode(value):
    """java.net.URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")."""
    return "".join(chr(b) if b in JAVA_SAFE else "%%%02X" % b for b in value.encode("utf-8"))


def signature_of(params, secret):
    """The signature CloudStack computes for `params` (a dict without `signature`)."""
    unsigned = "&".join(f"{name}={java_url_encode(params[name])}" for name in sorted(params))
    digest = hmac.new(secret.encode(), unsigned.lower().encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class CloudStackStandIn:
    def __init__(self, api_key, secret_key, port=0, max_page_size=500, tls=None):
        self.tls = tls  # (certificate file, key file): serve https
        self.api_key = api_key
        self.secret_key = secret_key
        self.port = port
        self.max_page_size = max_page_size
        self.volumes = []  # dicts with id, path and, for a project's volume, projectid
        self.projects = []  # project ids
        self.delay_s = 0.0
        self.lock = threading.Lock()
        self.requests = []  # (time, params without signature and apikey, HTTP status)
        self.server = None
        self.thread = None

    # -- control ---------------------------------------------------------------------------
    def start(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                standin.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def endpoint(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/client/api"

    def served(self, command=None, status=None):
        with self.lock:
            return [r for r in self.requests
                    if (command is None or r[1].get("command") == command)
                    and (status is None or r[2] == status)]

    def wait_for(self, predicate, timeout_s=15):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    # -- the API ---------------------------------------------------------------------------
    def handle(self, request):
        url = urllib.parse.urlsplit(request.path)
        # The servlet's decoding: %XX and '+' as a space; one value per name (the first).
        params = {}
        for name, value in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            params.setdefault(name, value)
        command = params.get("command", "")
        if self.delay_s:
            time.sleep(self.delay_s)
        status, body = self.answer(url.path, command, params)
        logged = {k: v for k, v in params.items() if k.lower() not in ("signature", "apikey")}
        with self.lock:
            self.requests.append((time.monotonic(), logged, status))
        payload = json.dumps(body).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json; charset=UTF-8")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stop while we were slow)

    def error(self, command, code, text):
        return code, {f"{command.lower()}response":
                      {"uuidList": [], "errorcode": code, "errortext": text}}

    def verified(self, params):
        signature = None
        unsigned = {}
        api_key = None
        for name, value in params.items():
            if name.lower() == "signature":
                signature = value
            else:
                if name.lower() == "apikey":
                    api_key = value
                unsigned[name] = value
        if signature is None or api_key != self.api_key:
            return False
        return hmac.compare_digest(signature, signature_of(unsigned, self.secret_key))

    def answer(self, path, command, params):
        if path != "/client/api":
            return 404, {"error": "not found"}
        if not self.verified(params):
            return self.error(command or "api", 401,
                              "unable to verify user credentials and/or request signature")
        if params.get("response") != "json":
            return 400, {"error": "this stand-in answers JSON only"}
        try:
            page = int(params.get("page", "1"))
            page_size = int(params.get("pagesize", str(self.max_page_size)))
        except ValueError:
            return self.error(command, 431, "Unable to execute API command due to invalid value")
        if page_size > self.max_page_size:
            return self.error(command, 431, "Page size can't exceed max allowed page size "
                              f"value: {self.max_page_size}")
        with self.lock:
            if command == "listVolumes":
                project = params.get("projectid")
                items = [{k: v for k, v in vol.items()} for vol in self.volumes
                         if vol.get("projectid") == project]
                array = "volume"
            elif command == "listProjects":
                items = [{"id": p, "name": f"project-{p[:8]}"} for p in self.projects]
                array = "project"
            else:
                return self.error(command, 432, f"The given command {command} does not exist")
        chunk = items[(page - 1) * page_size: page * page_size]
        listing = {"count": len(items), array: chunk} if chunk else {}
        return 200, {f"{command.lower()}response": listing}


if __name__ == "__main__":
    standin = CloudStackStandIn("api-key", "secret-key", port=8080)
    standin.volumes = [{"id": "11111111-2222-3333-4444-555555555555", "path": "disk-file"}]
    standin.start()
    print(f"serving {standin.endpoint} (api key 'api-key', secret 'secret-key'); Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()
