// The SDK against the cross-language vectors of tests/vectors/ (the C++, Python and web page
// tests read the same files). Run: node --test vectors.test.mjs
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";

import { splitInlineFrame } from "../dreamstream.js";

const vectors = (name) =>
  JSON.parse(fs.readFileSync(new URL(`../../../tests/vectors/${name}`, import.meta.url), "utf8"));

test("splitInlineFrame splits as tests/vectors/inline_frames.json says", () => {
  const { cases } = vectors("inline_frames.json");
  assert.ok(cases.length >= 8);
  for (const c of cases) {
    const got = splitInlineFrame(Buffer.from(c.message_hex, "hex"));
    if (c.expect === null) {
      assert.equal(got, null, c.name);
      continue;
    }
    assert.ok(got, c.name);
    assert.deepEqual(got.header, c.expect.frame_header ?? {}, c.name);
    assert.equal(Buffer.from(got.jpeg).toString("hex"), c.expect.jpeg_hex, c.name);
  }
});
