"""Comments, style requests, live events, settings applied live and the viewers-over-time series
(issue 5), against the real server over HTTP and WebSockets. Every refused request is checked to
leave the store unchanged."""

import json
import time
import unittest

import dreamstream as ds
from harness import ServerTestCase, register
from test_live import WORKER_TOKEN, fixture, recv_until, ws_url


def event(type_, pred=lambda msg: True):
    """A recv_until predicate: a text event of type_ for which pred(message) holds."""
    def check(kind, data):
        if kind != "text":
            return False
        msg = json.loads(data)
        return msg.get("type") == type_ and pred(msg)
    return check


def wait_event(ws, type_, pred=lambda msg: True, timeout=10.0):
    return json.loads(recv_until(ws, event(type_, pred), timeout)[1])


class ChatMixin:
    def streamer(self, start=True):
        """A registered streamer (cookie client) with a stream key; started unless told not to."""
        c = self.client()
        user = register(c, display_name="The Streamer")
        st, _, body = c.post("/api/me/stream-key")
        self.assertEqual(st, 201)
        if start:
            self.assertEqual(c.post("/api/streams/start").status, 201)
        return c, user["username"], body["stream_key"]

    def viewer(self, display_name="A Viewer"):
        c = self.client()
        user = register(c, display_name=display_name)
        return c, user["username"]

    def watch(self, name):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/watch/" + name), timeout=10)
        self.addCleanup(ws.close)
        return ws

    def ingest(self, key):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/ingest"),
                                  {"Authorization": "Bearer " + key}, timeout=10)
        self.addCleanup(ws.close)
        return ws

    def stop(self, c):
        c.post("/api/streams/stop")

    def snapshot(self):
        """The store without viewer_samples, which a live stream appends to every 5 s."""
        snap = self.server.db_snapshot()
        snap.pop("viewer_samples", None)
        return snap

    def assertUnchanged(self, before):
        self.assertEqual(self.snapshot(), before)

    def comment(self, c, name, body):
        return c.post("/api/streams/%s/comments" % name, {"body": body})

    def style(self, c, name, prompt):
        return c.post("/api/streams/%s/styles" % name, {"prompt": prompt})

    def _status(self, request_id):
        """A style request's stored status."""
        rows = self.server.query("SELECT status FROM style_requests WHERE id = ?", (request_id,))
        return rows[0][0] if rows else None


class TestComments(ChatMixin, ServerTestCase):
    def test_post_list_newest_first_with_paging(self):
        sc, name, _ = self.streamer()
        a, a_name = self.viewer("Viewer A")
        b, _ = self.viewer()
        ids = []
        for i in range(6):
            st, _, body = self.comment(a if i % 2 == 0 else b, name, "  hello %d  " % i)
            self.assertEqual(st, 201, body)
            ids.append(body["comment"]["id"])
        first = self.comment(a, name, "from A").json["comment"]
        ids.append(first["id"])
        self.assertEqual(first["body"], "from A")
        self.assertEqual(first["author"], {"username": a_name, "display_name": "Viewer A"})
        self.assertIsInstance(first["created_ms"], int)
        self.assertIsInstance(first["session_id"], int)

        st, _, page = self.client().get("/api/streams/%s/comments?limit=3" % name)  # public
        self.assertEqual(st, 200)
        self.assertEqual([c["id"] for c in page["comments"]], ids[::-1][:3])
        self.assertEqual(page["comments"][1]["body"], "hello 5")  # trimmed
        seen = [c["id"] for c in page["comments"]]
        while page["next_before"] is not None:
            page = self.client().get("/api/streams/%s/comments?limit=3&before=%d"
                                     % (name, page["next_before"])).json
            seen += [c["id"] for c in page["comments"]]
        self.assertEqual(seen, ids[::-1])
        self.assertEqual(len(self.client().get("/api/streams/%s/comments" % name).json["comments"]), 7)
        for q in ("limit=0", "limit=101", "limit=x", "before=-1", "before=abc"):
            self.assertError(self.client().get("/api/streams/%s/comments?%s" % (name, q)), 400)
        self.assertError(self.client().get("/api/streams/nobody_here/comments"), 404)
        # Counted on the stream session.
        sessions = sc.get("/api/streams/sessions").json["sessions"]
        self.assertEqual(sessions[0]["comment_count"], 7)
        self.stop(sc)

    def test_one_sessions_comments_for_its_replay(self):
        # ?session=<id>: only that stream session's comments (the replay page's chat), paged
        # newest first like the rest.
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        first = [self.comment(v, name, "first %d" % i).json["comment"] for i in range(3)]
        self.stop(sc)
        self.assertEqual(sc.post("/api/streams/start").status, 201)
        second = self.comment(v, name, "second").json["comment"]
        self.stop(sc)
        one, two = first[0]["session_id"], second["session_id"]
        self.assertNotEqual(one, two)
        path = "/api/streams/%s/comments?session=%d" % (name, one)
        page = self.client().get(path + "&limit=2").json
        seen = [c["id"] for c in page["comments"]]
        while page["next_before"] is not None:
            page = self.client().get("%s&limit=2&before=%d" % (path, page["next_before"])).json
            seen += [c["id"] for c in page["comments"]]
        self.assertEqual(seen, [c["id"] for c in first][::-1])
        got = self.client().get("/api/streams/%s/comments?session=%d" % (name, two)).json
        self.assertEqual([c["id"] for c in got["comments"]], [second["id"]])
        self.assertIsNone(got["next_before"])
        self.assertEqual(self.client().get("/api/streams/%s/comments?session=%d"
                                           % (name, two + 1000)).json["comments"], [])
        # Without it, every session's.
        self.assertEqual(len(self.client().get("/api/streams/%s/comments" % name).json["comments"]),
                         4)
        for q in ("session=0", "session=-1", "session=abc", "session="):
            self.assertError(self.client().get("/api/streams/%s/comments?%s" % (name, q)), 400,
                             "invalid_query")

    def test_markup_is_stored_as_text(self):
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        body = "<img src=x onerror=alert(1)> & <script>alert(2)</script>"
        st, _, got = self.comment(v, name, body)
        self.assertEqual(st, 201)
        self.assertEqual(got["comment"]["body"], body)
        listed = self.client().get("/api/streams/%s/comments" % name).json["comments"][0]
        self.assertEqual(listed["body"], body)
        self.stop(sc)

    def test_refusals_store_nothing(self):
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        before = self.snapshot()
        self.assertError(self.client().post("/api/streams/%s/comments" % name, {"body": "hi"}), 401)
        self.assertError(self.comment(v, "nobody_here", "hi"), 404, "not_found")
        for bad in ("", "   ", "\t\n ", "x" * 501, "a\x07b", "line\nbreak", "nul\x00", "del\x7f"):
            self.assertError(self.comment(v, name, bad), 400, "invalid_comment")
        path = "/api/streams/%s/comments" % name
        self.assertError(v.post(path, raw=b'{"body": "bad \xff\xfe utf8"}'), 400)
        self.assertError(v.post(path, raw=b'{"body": "\\ud800 lone surrogate"}'), 400)
        self.assertError(v.post(path, raw="not json"), 400)
        self.assertError(v.post(path, {"body": 5}), 400, "invalid_type")
        self.assertError(v.post(path, {"text": "hi"}), 400, "missing_field")
        # A cookie request from a foreign origin.
        self.assertError(v.post(path, {"body": "hi"}, origin="http://evil.example"), 403)
        self.assertUnchanged(before)
        # Limits are in characters: 500 two-byte characters fit.
        self.assertEqual(self.comment(v, name, "é" * 500).status, 201)
        self.stop(sc)

    def test_disabled_and_offline(self):
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        self.assertEqual(sc.patch("/api/streams/settings", {"comments_enabled": False}).status, 200)
        before = self.snapshot()
        self.assertError(self.comment(v, name, "hi"), 403, "comments_disabled")
        self.assertUnchanged(before)
        self.assertEqual(sc.patch("/api/streams/settings", {"comments_enabled": True}).status, 200)
        self.assertEqual(self.comment(v, name, "hi").status, 201)
        self.stop(sc)
        before = self.snapshot()
        self.assertError(self.comment(v, name, "anyone there?"), 409, "stream_offline")
        self.assertUnchanged(before)

    def test_flooding_is_rate_limited(self):
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        other, _ = self.viewer()
        for i in range(5):
            self.assertEqual(self.comment(v, name, "msg %d" % i).status, 201)
        before = self.snapshot()
        self.assertError(self.comment(v, name, "one too many"), 429, "rate_limited")
        self.assertUnchanged(before)
        # Per user: someone else may still talk.
        self.assertEqual(self.comment(other, name, "me too").status, 201)
        self.stop(sc)

    def test_delete_rules(self):
        sc, name, _ = self.streamer()
        a, _ = self.viewer()
        b, _ = self.viewer()
        c1 = self.comment(a, name, "first").json["comment"]["id"]
        c2 = self.comment(a, name, "second").json["comment"]["id"]
        path = "/api/streams/%s/comments/%d"
        _, other_name, _ = self.streamer(start=False)
        before = self.snapshot()
        self.assertError(b.delete(path % (name, c1)), 403, "forbidden")
        self.assertError(self.client().delete(path % (name, c1)), 401)
        self.assertError(a.delete(path % (name, 999999)), 404)
        self.assertError(a.delete("/api/streams/%s/comments/abc" % name), 404)
        # Another streamer's path does not reach this comment.
        self.assertError(a.delete(path % (other_name, c1)), 404)
        self.assertUnchanged(before)
        st, _, body = a.delete(path % (name, c1))  # the author
        self.assertEqual((st, body), (200, {"deleted": True}))
        self.assertError(a.delete(path % (name, c1)), 404)  # already gone
        self.assertEqual(sc.delete(path % (name, c2)).status, 200)  # the streamer
        self.assertEqual(self.client().get("/api/streams/%s/comments" % name).json["comments"], [])
        self.stop(sc)

    def test_events_reach_watchers_and_the_streamer(self):
        sc, name, key = self.streamer(start=False)
        ing = self.ingest(key)  # the key starts the stream
        wait_event(ing, "styles")
        watcher = self.watch(name)
        wait_event(watcher, "styles")
        v, v_name = self.viewer()
        cid = self.comment(v, name, "live hello").json["comment"]["id"]
        for ws in (watcher, ing):
            msg = wait_event(ws, "comment")
            self.assertEqual(msg["comment"]["id"], cid)
            self.assertEqual(msg["comment"]["body"], "live hello")
            self.assertEqual(msg["comment"]["author"]["username"], v_name)
        self.assertEqual(sc.delete("/api/streams/%s/comments/%d" % (name, cid)).status, 200)
        for ws in (watcher, ing):
            self.assertEqual(wait_event(ws, "comment_deleted")["id"], cid)
        self.stop(sc)


class TestStyles(ChatMixin, ServerTestCase):
    server_args = ("--style-limit", "5", "--style-window-ms", "60000")

    def state(self, name):
        st, _, body = self.client().get("/api/streams/%s/styles" % name)
        self.assertEqual(st, 200)
        return body

    def test_auto_policy_plays_in_order_skip_and_clear(self):
        sc, name, _ = self.streamer()
        sc.patch("/api/streams/settings", {"base_style": "pencil sketch"})
        v, v_name = self.viewer("Styler")
        st, _, body = self.style(v, name, "  neon city  ")
        self.assertEqual(st, 201, body)
        r1 = body["request"]
        self.assertEqual(r1["prompt"], "neon city")
        self.assertEqual(r1["status"], "active")
        self.assertEqual(r1["author"], {"username": v_name, "display_name": "Styler"})
        for k in ("id", "session_id", "created_ms"):
            self.assertIsInstance(r1[k], int)
        styles = body["styles"]
        self.assertEqual(styles["current"]["prompt"], "neon city")
        self.assertEqual(styles["current"]["source"], "request")
        self.assertEqual(styles["current"]["request"]["id"], r1["id"])
        self.assertEqual(styles["current"]["ends_ms"] - styles["current"]["started_ms"], 30000)
        self.assertEqual(styles["policy"], "auto")
        self.assertEqual(styles["slot_seconds"], 30)
        self.assertEqual(styles["base_style"], "pencil sketch")
        self.assertTrue(styles["enabled"])
        r2 = self.style(v, name, "oil painting").json["request"]
        r3 = self.style(v, name, "thermal").json["request"]
        self.assertEqual(r2["status"], "queued")
        state = self.state(name)
        self.assertEqual([r["id"] for r in state["queue"]], [r2["id"], r3["id"]])
        self.assertEqual(state["pending"], [])
        info = self.client().get("/api/streams/" + name).json
        self.assertEqual(info["current_style"], "neon city")
        self.assertEqual(info["styles"]["current"]["prompt"], "neon city")

        st, _, state = sc.post("/api/streams/%s/styles/skip" % name)
        self.assertEqual(st, 200)
        self.assertEqual(state["current"]["request"]["id"], r2["id"])
        self.assertEqual([r["id"] for r in state["queue"]], [r3["id"]])
        self.assertEqual(self._status(r1["id"]), "skipped")
        st, _, state = sc.post("/api/streams/%s/styles/clear" % name)
        self.assertEqual(st, 200)
        self.assertEqual(state["queue"], [])
        self.assertEqual(state["current"]["prompt"], "oil painting")
        self.assertEqual(self._status(r3["id"]), "cleared")
        state = sc.post("/api/streams/%s/styles/skip" % name).json
        self.assertEqual(state["current"]["source"], "base")
        self.assertEqual(state["current"]["prompt"], "pencil sketch")
        self.assertIsNone(state["current"]["request"])
        self.assertIsNone(state["current"]["ends_ms"])
        self.assertEqual(self.client().get("/api/streams/" + name).json["current_style"], "pencil sketch")
        sessions = sc.get("/api/streams/sessions").json["sessions"]
        self.assertEqual(sessions[0]["style_request_count"], 3)
        self.stop(sc)

    def test_approve_policy(self):
        sc, name, _ = self.streamer()
        self.assertEqual(sc.patch("/api/streams/settings", {"style_policy": "approve"}).status, 200)
        v, _ = self.viewer()
        r1 = self.style(v, name, "watercolour").json["request"]
        r2 = self.style(v, name, "glitch").json["request"]
        self.assertEqual(r1["status"], "pending")
        state = self.state(name)
        self.assertEqual(state["policy"], "approve")
        self.assertEqual([r["id"] for r in state["pending"]], [r1["id"], r2["id"]])
        self.assertEqual(state["current"]["source"], "base")
        base = "/api/streams/%s/styles/" % name
        st, _, state = sc.post(base + "%d/approve" % r1["id"])
        self.assertEqual(st, 200)
        self.assertEqual(state["current"]["prompt"], "watercolour")
        self.assertEqual(self._status(r1["id"]), "active")
        before = self.snapshot()
        self.assertError(sc.post(base + "%d/approve" % r1["id"]), 409, "not_pending")
        self.assertError(sc.post(base + "%d/reject" % r1["id"]), 409)
        self.assertError(sc.post(base + "999999/approve"), 404)
        self.assertError(sc.post(base + "999999/reject"), 404)
        self.assertUnchanged(before)
        st, _, state = sc.post(base + "%d/reject" % r2["id"])
        self.assertEqual(st, 200)
        self.assertEqual(state["pending"], [])
        self.assertEqual(self._status(r2["id"]), "rejected")
        self.assertError(sc.post(base + "%d/approve" % r2["id"]), 409, "not_pending")
        self.stop(sc)

    def test_only_the_streamer_controls(self):
        sc, name, _ = self.streamer()
        sc.patch("/api/streams/settings", {"style_policy": "approve", "base_style": "ink"})
        v, _ = self.viewer()
        r = self.style(v, name, "pop art").json["request"]
        base = "/api/streams/%s/styles/" % name
        before = self.snapshot()
        for path in ("%d/approve" % r["id"], "%d/reject" % r["id"], "skip", "clear"):
            self.assertError(v.post(base + path), 403, "forbidden")
            self.assertError(self.client().post(base + path), 401)
        self.assertUnchanged(before)
        # A viewer's PATCH changes only the viewer's own settings, never the streamer's.
        self.assertEqual(v.patch("/api/streams/settings", {"styles_enabled": False,
                                                          "base_style": "hijacked"}).status, 200)
        info = self.client().get("/api/streams/" + name).json
        self.assertTrue(info["settings"]["styles_enabled"])
        self.assertEqual(info["settings"]["base_style"], "ink")
        self.assertEqual(self.state(name)["pending"][0]["id"], r["id"])
        self.stop(sc)

    def test_refusals_store_nothing(self):
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        before = self.snapshot()
        self.assertError(self.client().post("/api/streams/%s/styles" % name, {"prompt": "x"}), 401)
        self.assertError(self.style(v, "nobody_here", "x"), 404)
        for bad in ("", "    ", "y" * 201, "tab\there", "bell\x07", "nul\x00"):
            self.assertError(self.style(v, name, bad), 400, "invalid_prompt")
        path = "/api/streams/%s/styles" % name
        self.assertError(v.post(path, raw=b'{"prompt": "\xc3\x28 broken"}'), 400)
        self.assertError(v.post(path, {"prompt": ["list"]}), 400, "invalid_type")
        self.assertError(v.post(path, {}), 400, "missing_field")
        self.assertUnchanged(before)
        self.assertEqual(sc.patch("/api/streams/settings", {"styles_enabled": False}).status, 200)
        before = self.snapshot()
        self.assertError(self.style(v, name, "neon"), 403, "styles_disabled")
        self.assertFalse(self.state(name)["enabled"])
        self.assertUnchanged(before)
        sc.patch("/api/streams/settings", {"styles_enabled": True})
        self.assertEqual(self.style(v, name, "ü" * 200).status, 201)  # 200 characters fit
        self.stop(sc)
        before = self.snapshot()
        self.assertError(self.style(v, name, "neon"), 409, "stream_offline")
        self.assertUnchanged(before)

    def test_flooding_is_rate_limited(self):
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        for i in range(5):
            self.assertEqual(self.style(v, name, "look %d" % i).status, 201)
        before = self.snapshot()
        self.assertError(self.style(v, name, "one more"), 429, "rate_limited")
        self.assertUnchanged(before)
        self.stop(sc)

    def test_events_and_settings_reach_watchers_live(self):
        sc, name, _ = self.streamer()
        sc.patch("/api/streams/settings", {"base_style": "charcoal"})
        watcher = self.watch(name)
        joined = wait_event(watcher, "styles")
        self.assertEqual(joined["styles"]["current"]["prompt"], "charcoal")
        v, _ = self.viewer()
        rid = self.style(v, name, "vaporwave").json["request"]["id"]
        wait_event(watcher, "styles", lambda m: m["styles"]["current"]["prompt"] == "vaporwave")
        sc.post("/api/streams/%s/styles/skip" % name)
        msg = wait_event(watcher, "styles", lambda m: m["styles"]["current"]["source"] == "base")
        self.assertEqual(msg["styles"]["current"]["prompt"], "charcoal")
        self.assertEqual(self._status(rid), "skipped")
        # Settings apply live: the settings event and the styles state follow the PATCH.
        sc.patch("/api/streams/settings", {"comments_enabled": False, "styles_enabled": False,
                                           "style_policy": "approve", "base_style": "ink wash",
                                           "style_slot_seconds": 12})
        s = wait_event(watcher, "settings")["settings"]
        self.assertEqual((s["comments_enabled"], s["styles_enabled"], s["style_policy"]),
                         (False, False, "approve"))
        st = wait_event(watcher, "styles", lambda m: m["styles"]["base_style"] == "ink wash")["styles"]
        self.assertEqual((st["enabled"], st["policy"], st["slot_seconds"]), (False, "approve", 12))
        self.assertEqual(st["current"]["prompt"], "ink wash")
        self.stop(sc)

    def test_stream_end_ends_its_requests(self):
        sc, name, _ = self.streamer()
        v, _ = self.viewer()
        watcher = self.watch(name)
        wait_event(watcher, "styles")  # on joining
        r1 = self.style(v, name, "first").json["request"]
        r2 = self.style(v, name, "second").json["request"]
        wait_event(watcher, "styles", lambda m: len(m["styles"]["queue"]) == 1)
        self.stop(sc)
        wait_event(watcher, "styles", lambda m: m["styles"]["current"]["source"] == "base"
                   and not m["styles"]["queue"])
        self.assertEqual(self._status(r1["id"]), "done")
        self.assertEqual(self._status(r2["id"]), "cleared")
        state = self.state(name)
        self.assertEqual((state["queue"], state["pending"]), ([], []))
        # The next stream starts with an empty queue.
        self.assertEqual(sc.post("/api/streams/start").status, 201)
        self.assertEqual(self.state(name)["current"]["source"], "base")
        self.stop(sc)

    def test_slot_ends_by_itself(self):
        sc, name, _ = self.streamer()
        sc.patch("/api/streams/settings", {"style_slot_seconds": 5})
        watcher = self.watch(name)
        v, _ = self.viewer()
        r1 = self.style(v, name, "short one").json["request"]
        r2 = self.style(v, name, "short two").json["request"]
        msg = wait_event(watcher, "styles", lambda m: m["styles"]["current"]["prompt"] == "short two",
                         timeout=9)
        self.assertEqual(msg["styles"]["queue"], [])
        self.assertEqual(self._status(r1["id"]), "done")
        self.assertEqual(self._status(r2["id"]), "active")
        self.stop(sc)


class TestStylesReachTheModel(ChatMixin, ServerTestCase):
    server_args = ("--builtin-workers", "0", "--worker-token", WORKER_TOKEN)

    def worker(self):
        ws = ds.WebSocket.connect(ws_url(self.server, "/ws/worker"),
                                  {"Authorization": "Bearer " + WORKER_TOKEN}, timeout=10)
        self.addCleanup(ws.close)
        ws.send_json({"type": "hello", "name": "style-test-worker", "protocol": 1})
        wait_event(ws, "welcome")
        return ws

    def job(self, w, ing, frame_no):
        ing.send_binary(fixture(frame_no))
        header = wait_event(w, "job")
        kind, _ = w.recv(timeout=10)
        self.assertEqual(kind, "binary")
        w.send_json({"type": "result", "job_id": header["job_id"]})
        w.send_binary(fixture(frame_no))
        return header

    def test_current_style_goes_into_job_params(self):
        sc, name, key = self.streamer(start=False)
        sc.patch("/api/streams/settings", {"base_style": "pencil"})
        w = self.worker()
        ing = self.ingest(key)
        self.assertEqual(self.job(w, ing, 1)["params"]["prompt"], "pencil")
        v, _ = self.viewer()
        self.assertEqual(self.style(v, name, "neon city").status, 201)
        self.assertEqual(self.job(w, ing, 2)["params"]["prompt"], "neon city")
        sc.post("/api/streams/%s/styles/skip" % name)
        self.assertEqual(self.job(w, ing, 3)["params"]["prompt"], "pencil")
        sc.patch("/api/streams/settings", {"base_style": "oil"})
        self.assertEqual(self.job(w, ing, 4)["params"]["prompt"], "oil")
        self.stop(sc)


class TestViewersOverTime(ChatMixin, ServerTestCase):
    def test_owner_only_series(self):
        sc, name, _ = self.streamer()
        watcher = self.watch(name)
        wait_event(watcher, "styles")
        session_id = sc.get("/api/streams/sessions").json["sessions"][0]["id"]
        deadline = time.monotonic() + 10
        while True:
            st, _, body = sc.get("/api/streams/sessions/%d/viewers" % session_id)
            self.assertEqual(st, 200)
            if body["samples"] and body["samples"][-1][1] == 1:
                break
            self.assertLess(time.monotonic(), deadline, body)
            time.sleep(0.3)
        self.assertEqual(body["session_id"], session_id)
        for t, n in body["samples"]:
            self.assertIsInstance(t, int)
            self.assertIsInstance(n, int)
        times = [t for t, _ in body["samples"]]
        self.assertEqual(times, sorted(times))
        other, _ = self.viewer()
        self.assertError(other.get("/api/streams/sessions/%d/viewers" % session_id), 404)
        self.assertError(self.client().get("/api/streams/sessions/%d/viewers" % session_id), 401)
        self.assertError(sc.get("/api/streams/sessions/999999/viewers"), 404)
        self.assertError(sc.get("/api/streams/sessions/abc/viewers"), 404)
        self.stop(sc)


if __name__ == "__main__":
    unittest.main()
