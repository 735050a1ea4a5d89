// Where to go after logging in: a ?next= value is followed only when it stays on this site.
// Pure (no DOM), so it is unit-tested in node (tests/browser/safe_next.test.mjs).

// Browsers drop tabs and newlines inside URLs and read "\" as "/", so "/\t/evil.example" and
// "/\evil.example" both become "//evil.example": another site.
const kUnsafe = /[\u0000-\u001f\u007f\\]/;

function plainPath(s) {
  return s.startsWith('/') && !s.startsWith('//') && !kUnsafe.test(s);
}

// next: the ?next= value as URLSearchParams gives it (decoded once). origin: location.origin.
// Returns a same-origin path (with its query and fragment), or null.
export function safeNextPath(next, origin) {
  if (typeof next !== 'string' || next === '' || next.length > 2000) return null;
  if (!plainPath(next)) return null;
  // Checked decoded too, so an encoded tab, slash or backslash cannot hide a second slash.
  let decoded;
  try {
    decoded = decodeURIComponent(next);
  } catch {
    return null;
  }
  if (!plainPath(decoded)) return null;
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return null;
  }
  if (url.origin !== origin) return null;
  return url.pathname + url.search + url.hash;
}
