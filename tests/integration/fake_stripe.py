"""A local stand-in for the part of Stripe's API that DreamStream uses, plus webhook signing.

FakeStripe runs http.server on 127.0.0.1:0 and implements:
  POST /v1/checkout/sessions       records the form parameters and headers, returns a session
                                   (id cs_test_…, url, amount_total = quantity × unit_amount)
  GET  /v1/checkout/sessions/<id>  returns the session as it stands (tests move it along with
                                   set_session(), e.g. payment_status="paid")
Requests without "Authorization: Bearer <key>" get Stripe's 401 error shape; fail_next makes
the next request answer 500.

sign() and event() build webhook deliveries exactly as Stripe does: the header is
"t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>".
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_KEY = "sk_test_fake_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_fake_9b8c7d6e5f"


class FakeStripe:
    def __init__(self, secret_key=SECRET_KEY):
        self.secret_key = secret_key
        self.lock = threading.Lock()
        self.requests = []   # every request: {"method", "path", "form", "headers"}
        self.sessions = {}   # id -> session object
        self.fail_next = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = {k: v[0] if len(v) == 1 else v
                        for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
                record = {"method": method, "path": self.path, "form": form, "raw": raw,
                          "headers": {k.lower(): v for k, v in self.headers.items()}}
                with fake.lock:
                    fake.requests.append(record)
                    fail = fake.fail_next > 0
                    if fail:
                        fake.fail_next -= 1
                if fail:
                    return self._reply(500, {"error": {"type": "api_error", "message": "boom"}})
                if self.headers.get("Authorization") != "Bearer " + fake.secret_key:
                    return self._reply(401, {"error": {"type": "invalid_request_error",
                                                       "message": "Invalid API Key provided"}})
                if method == "POST" and self.path == "/v1/checkout/sessions":
                    return self._reply(200, fake._create(form))
                prefix = "/v1/checkout/sessions/"
                if method == "GET" and self.path.startswith(prefix):
                    sid = urllib.parse.unquote(self.path[len(prefix):])
                    with fake.lock:
                        session = fake.sessions.get(sid)
                        session = dict(session) if session else None
                    if session is None:
                        return self._reply(404, {"error": {
                            "type": "invalid_request_error",
                            "message": "No such checkout.session: '%s'" % sid}})
                    return self._reply(200, session)
                return self._reply(404, {"error": {"type": "invalid_request_error",
                                                   "message": "Unrecognized request URL"}})

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    # -- sessions ----------------------------------------------------------------------
    def _create(self, form):
        sid = "cs_test_" + uuid.uuid4().hex
        quantity = int(form.get("line_items[0][quantity]", "0"))
        unit = int(form.get("line_items[0][price_data][unit_amount]", "0"))
        session = {
            "id": sid,
            "object": "checkout.session",
            "url": "https://checkout.stripe.test/c/pay/" + sid,
            "mode": form.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "currency": form.get("line_items[0][price_data][currency]"),
            "amount_total": quantity * unit,
            "amount_subtotal": quantity * unit,
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": {k[len("metadata["):-1]: v for k, v in form.items()
                         if k.startswith("metadata[")},
            "payment_intent": None,
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
        }
        with self.lock:
            self.sessions[sid] = session
        return session

    def session(self, sid):
        with self.lock:
            return dict(self.sessions[sid])

    def set_session(self, sid, **fields):
        with self.lock:
            self.sessions[sid].update(fields)
            return dict(self.sessions[sid])

    def pay(self, sid, **fields):
        """Marks the session paid as Stripe does on completion; returns the session object."""
        values = {"status": "complete", "payment_status": "paid",
                  "payment_intent": "pi_" + sid[len("cs_test_"):][:24]}
        values.update(fields)
        return self.set_session(sid, **values)

    def checkout_requests(self):
        with self.lock:
            return [r for r in self.requests
                    if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions"]

    def request_count(self):
        with self.lock:
            return len(self.requests)


def event(event_type, session_object, event_id=None):
    """A webhook body (bytes) as Stripe sends it: an Event wrapping the session object."""
    return json.dumps({
        "id": event_id or "evt_" + uuid.uuid4().hex,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": session_object},
    }, separators=(",", ":")).encode()


def sign(payload, secret=WEBHOOK_SECRET, t=None, extra_v1=()):
    """The Stripe-Signature header for payload (bytes), as Stripe computes it."""
    t = int(time.time()) if t is None else int(t)
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + payload, hashlib.sha256).hexdigest()
    parts = ["t=%d" % t] + ["v1=%s" % v for v in extra_v1] + ["v1=" + mac]
    return ",".join(parts)
