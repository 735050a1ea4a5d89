// The SDK against the cross-language vectors of tests/vectors/ (the C++, Python and web page
// tests read the same files). Run: node --test vectors.test.mjs
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";

import { JobHolder, splitInlineFrame } from "../dreamstream.js";

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

test("JobHolder holds jobs as tests/vectors/job_holding.json says", () => {
  const { cases } = vectors("job_holding.json");
  assert.ok(cases.length >= 8);
  const ids = (jobs) => jobs.map((j) => j.job_id);
  for (const c of cases) {
    const held = new JobHolder(c.slots);
    c.steps.forEach((step, i) => {
      const where = `${c.name}, step ${i}: ${JSON.stringify(step)}`;
      if (step.op === "header") {
        const jobs = step.jobs.map((id) => ({ job_id: id, stream: "alice" }));
        assert.deepEqual(ids(held.header(jobs, step.batch ?? false)), step.expect_lost, where);
      } else if (step.op === "binary") {
        const { kind, refused } = held.binary(new Uint8Array([0xff, 0xd8]));
        assert.equal(kind, step.expect, where);
        assert.deepEqual(ids(refused), step.refused ?? [], where);
      } else if (step.op === "cancel") {
        assert.equal(held.cancel(step.job), step.expect, where);
      } else if (step.op === "start") {
        const message = held.startNext();
        if (step.expect === null) assert.equal(message, null, where);
        else assert.deepEqual(ids(message.items.map((it) => it.job)), step.expect, where);
      } else if (step.op === "finish") {
        held.finish();
      } else {
        assert.fail(`unknown op ${step.op}`);
      }
    });
  }
});
