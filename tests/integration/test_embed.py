"""The embed page /u/<name>/embed (issue 12, part 4): other sites may frame it, no other page.

Its own Content-Security-Policy frame-ancestors (`serve --embed-ancestors`, default `*`) and no
X-Frame-Options; every other page, file and API answer keeps `frame-ancestors 'none'` and
`X-Frame-Options: DENY`. An invalid username is a 404; the page has no controls and sets no
cookie. tests/browser/embed.test.mjs frames it from another origin in Chromium.
"""

import re
import unittest

from harness import Server, ServerTestCase, register, unique_name


def frame_ancestors(headers):
    csp = headers.get("Content-Security-Policy") or ""
    m = re.search(r"(?:^|;)\s*frame-ancestors\s+([^;]*)", csp)
    return m.group(1).strip() if m else None


class TestEmbedHeaders(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.streamer = register(cls.server.client())["username"]

    def assertFramingDenied(self, response, what):
        self.assertEqual(frame_ancestors(response.headers), "'none'", what)
        self.assertEqual(response.headers.get("X-Frame-Options"), "DENY", what)

    def test_the_embed_page_may_be_framed_by_any_site(self):
        r = self.client().get("/u/%s/embed" % self.streamer)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("Content-Type").startswith("text/html"))
        self.assertEqual(frame_ancestors(r.headers), "*")
        self.assertIsNone(r.headers.get("X-Frame-Options"))
        # The rest of the policy stays as strict as on every page.
        csp = r.headers.get("Content-Security-Policy")
        self.assertIn("default-src 'self'", csp)
        self.assertIn("script-src 'self'", csp)
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.headers.get("Cache-Control"), "no-store")

    def test_head_of_the_embed_page_has_the_same_policy(self):
        r = self.client().head("/u/%s/embed" % self.streamer)
        self.assertEqual(r.status, 200)
        self.assertEqual(frame_ancestors(r.headers), "*")
        self.assertIsNone(r.headers.get("X-Frame-Options"))

    def test_a_trailing_slash_and_upper_case_name_are_the_same_page(self):
        for path in ("/u/%s/embed/" % self.streamer, "/u/%s/embed" % self.streamer.upper()):
            r = self.client().get(path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(frame_ancestors(r.headers), "*", path)

    def test_every_other_page_still_refuses_frames(self):
        c = self.client()
        for path in ("/", "/login", "/register", "/profile", "/studio", "/u/" + self.streamer,
                     "/u/nobody-here", "/checkout/success", "/receipts/1"):
            r = c.get(path)
            self.assertEqual(r.status, 404 if path == "/u/nobody-here" else 200, path)
            self.assertFramingDenied(r, path)

    def test_files_api_answers_and_errors_still_refuse_frames(self):
        c = self.client()
        for path in ("/static/js/pages/embed.js", "/static/css/app.css", "/healthz",
                     "/api/streams/" + self.streamer, "/api/me", "/no-such-page",
                     "/u/%s/latest.jpg" % self.streamer, "/u/%s/embed/more" % self.streamer):
            self.assertFramingDenied(c.get(path), path)

    def test_an_invalid_username_is_404(self):
        for name in ("ab", "x" * 31, "bad%20name", "semi;colon", "dots.in.name", "%2e%2e"):
            r = self.client().get("/u/%s/embed" % name)
            self.assertError(r, 404)
            self.assertFramingDenied(r, name)
        for path in ("/u//embed", "/u/embed/", "/u/a/b/embed", "/u/%s/embed/x" % self.streamer,
                     "/u/%s/embedx" % self.streamer):
            r = self.client().get(path)
            if path == "/u/embed/":  # the watch page of a user called "embed", who is not here
                self.assertEqual(r.status, 404)
                self.assertIn("/static/js/pages/watch.js", r.text)
                self.assertFramingDenied(r, path)
                continue
            self.assertError(r, 404)

    def test_item9_an_unknown_valid_name_is_404_like_its_watch_page(self):
        # Issue 20 item 9: OBS, a link checker or a search engine learns from the status that
        # the name is wrong; the body is still the page, which says "No channel" itself.
        name = unique_name("nobody")
        r = self.client().get("/u/%s/embed" % name)
        self.assertEqual(r.status, 404)
        self.assertIn("/static/js/pages/embed.js", r.text)
        self.assertEqual(frame_ancestors(r.headers), "*")
        watch = self.client().get("/u/%s" % name)
        self.assertEqual(watch.status, 404)
        self.assertIn("/static/js/pages/watch.js", watch.text)
        # A name in another spelling is the same channel; an existing one is 200.
        self.assertEqual(self.client().get("/u/%s/embed" % self.streamer.upper()).status, 200)
        self.assertEqual(self.client().head("/u/%s/embed" % name).status, 404)

    def test_the_page_is_the_picture_alone_with_no_controls(self):
        c = self.client()
        r = c.get("/u/%s/embed" % self.streamer)
        html = r.text.lower()
        for chrome in ("<form", "<button", "<input", "<a ", "data-site-header", "<nav", "<header"):
            self.assertNotIn(chrome, html, chrome)
        self.assertIn("data-frame", html)
        self.assertIn("/static/js/pages/embed.js", html)
        self.assertIsNone(r.headers.get("Set-Cookie"))
        js = c.get("/static/js/pages/embed.js").text
        # Read-only: it opens the public watch socket and calls no API that needs a session.
        self.assertIn("/ws/watch/", js)
        for needs_session in ("post(", "del(", "patch(", "initNav", "/api/me"):
            self.assertNotIn(needs_session, js, needs_session)


class TestEmbedAncestorsOption(unittest.TestCase):

    def test_the_option_names_the_sites_and_the_rest_still_refuse(self):
        sites = "https://a.example https://obs.example:8443"
        with Server(["--embed-ancestors", sites]) as server:
            name = register(server.client())["username"]
            r = server.client().get("/u/%s/embed" % name)
            self.assertEqual(r.status, 200)
            self.assertEqual(frame_ancestors(r.headers), sites)
            self.assertIsNone(r.headers.get("X-Frame-Options"))
            watch = server.client().get("/u/" + name)
            self.assertEqual(frame_ancestors(watch.headers), "'none'")
            self.assertEqual(watch.headers.get("X-Frame-Options"), "DENY")

    def test_none_turns_embedding_off(self):
        with Server(env={"DREAMSTREAM_EMBED_ANCESTORS": "'none'"}) as server:
            name = register(server.client())["username"]
            r = server.client().get("/u/%s/embed" % name)
            self.assertEqual(r.status, 200)
            self.assertEqual(frame_ancestors(r.headers), "'none'")
            self.assertEqual(r.headers.get("X-Frame-Options"), "DENY")

    def test_the_environment_sets_it(self):
        with Server(env={"DREAMSTREAM_EMBED_ANCESTORS": "'self' https://b.example"}) as server:
            r = server.client().get("/u/someone/embed")
            self.assertEqual(frame_ancestors(r.headers), "'self' https://b.example")

    def test_a_value_that_would_break_the_policy_is_refused_at_start(self):
        for bad in ("* ; script-src *", "https://a.example, https://b.example", "   ", "a\u00e9"):
            server = Server(["--embed-ancestors", bad])
            try:
                with self.assertRaises(Exception, msg=bad):
                    server.start()
                self.assertEqual(server.stop(), 2, bad)
                self.assertIn("--embed-ancestors", server.logs())
            finally:
                server.cleanup()


if __name__ == "__main__":
    unittest.main()
