// safeNextPath (web/js/safe_next.js) in plain node: which ?next= values login may follow.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeNextPath } from '../../web/js/safe_next.js';

const origin = 'http://127.0.0.1:8080';
// What the login page sees: the query string decoded once by URLSearchParams.
const fromQuery = (raw) => new URLSearchParams(`next=${raw}`).get('next');

test('same-site paths are followed, with their query and fragment', () => {
  assert.equal(safeNextPath('/profile', origin), '/profile');
  assert.equal(safeNextPath('/u/alice?tab=chat#c1', origin), '/u/alice?tab=chat#c1');
  assert.equal(safeNextPath(fromQuery('%2Fcheckout%2Fsuccess%3Fsession_id%3Dcs_1'), origin),
    '/checkout/success?session_id=cs_1');
});

test('paths that browsers turn into another site are refused', () => {
  for (const raw of [
    '/%09/evil.example', // tab dropped: //evil.example (issue 8, item 11)
    '/%0A/evil.example',
    '/%0D/evil.example',
    '%09//evil.example',
    '//evil.example',
    '///evil.example',
    '/%5Cevil.example', // backslash reads as a slash
    '%5C%5Cevil.example',
    '/%5C/evil.example',
    '/%252F/evil.example', // decodes to //evil.example
    '/%2509/evil.example',
    'https://evil.example/',
    'javascript:alert(1)',
    'evil.example',
    '',
    '/%E0%A4%A', // malformed escape
  ]) {
    assert.equal(safeNextPath(fromQuery(raw), origin), null, raw);
  }
  assert.equal(safeNextPath(null, origin), null);
  assert.equal(safeNextPath(undefined, origin), null);
});
