// createApi's request shape against a recording fetch: no server. Run: node --test api.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { createApi } from "../dreamstream.js";

function recordingFetch() {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    return new Response(JSON.stringify({ user: { username: "alice" } }),
                        { status: 200, headers: { "Content-Type": "application/json" } });
  };
  return { calls, fetch };
}

test("the session cookie goes to the site itself only, unless credentials says otherwise", async () => {
  const same = recordingFetch();
  await createApi("http://127.0.0.1:8080", { fetch: same.fetch }).me();
  assert.equal(same.calls[0].init.credentials, "same-origin");
  assert.equal(String(same.calls[0].url), "http://127.0.0.1:8080/api/me");

  // An app on an --allowed-origin sends DreamStream's cookie across origins.
  const cross = recordingFetch();
  await createApi("https://stream.example.com", { fetch: cross.fetch, credentials: "include" })
    .postComment("alice", "hi");
  assert.equal(cross.calls[0].init.credentials, "include");
  assert.equal(cross.calls[0].init.method, "POST");
  assert.equal(cross.calls[0].init.headers.Authorization, undefined);

  const token = recordingFetch();
  await createApi("http://x", { fetch: token.fetch, token: "dst_t", credentials: "omit" }).me();
  assert.equal(token.calls[0].init.credentials, "omit");
  assert.equal(token.calls[0].init.headers.Authorization, "Bearer dst_t");
});

test("a mistyped credentials value is refused at once, before any request", () => {
  const rec = recordingFetch();
  assert.throws(() => createApi("http://x", { fetch: rec.fetch, credentials: "includes" }), TypeError);
  assert.equal(rec.calls.length, 0);
});

test("createToken sends the scopes asked for, and none when left out", async () => {
  const rec = recordingFetch();
  const api = createApi("http://x", { fetch: rec.fetch, token: "dst_t" });
  await api.createToken("next-app", { scopes: ["stream", "chat"] });
  await api.createToken("all-of-mine");
  assert.deepEqual(JSON.parse(rec.calls[0].init.body), { name: "next-app", scopes: ["stream", "chat"] });
  assert.deepEqual(JSON.parse(rec.calls[1].init.body), { name: "all-of-mine" });
  assert.equal(rec.calls[0].init.headers["Content-Type"], "application/json");
  assert.throws(() => api.createToken("x", { scopes: "stream" }), TypeError);
  assert.equal(rec.calls.length, 2);
});
