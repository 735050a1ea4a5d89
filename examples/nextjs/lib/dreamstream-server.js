// Server side only (route handlers and server components): talks to DreamStream with the
// user's API token, which lives in an encrypted, httpOnly cookie of this app. The browser
// never sees the token; it sees only a single-use ticket for its ingest socket.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { cookies } from "next/headers";
import { NextResponse } from "next/server";
import { createApi, DreamStreamError } from "dreamstream";

export const DREAMSTREAM_URL = (process.env.DREAMSTREAM_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");

const COOKIE = "ds_next_session";
const TOKEN_NAME = "nextjs-example";
const TOKEN_SCOPES = ["read", "stream", "chat"];
// SESSION_SECRET keeps sessions valid across restarts; without it, a random key per process.
const KEY = createHash("sha256").update(process.env.SESSION_SECRET || randomBytes(32)).digest();

function seal(value) {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", KEY, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
}

function unseal(text) {
  try {
    const raw = Buffer.from(text, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", KEY, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8"));
  } catch {
    return null;  // tampered, or sealed with another key
  }
}

// {username, token, tokenId} of the signed-in user, or null.
export async function getSession() {
  const c = (await cookies()).get(COOKIE);
  return c ? unseal(c.value) : null;
}

export async function saveSession(session, request) {
  const secure = new URL(request.url).protocol === "https:" || request.headers.get("x-forwarded-proto") === "https";
  (await cookies()).set(COOKIE, seal(session), {
    httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: 30 * 24 * 3600,
  });
}

export async function clearSession() {
  (await cookies()).delete(COOKIE);
}

// The SDK's HTTP helpers with the user's token (or anonymous, for public reads).
export function dreamstream(session) {
  return createApi(DREAMSTREAM_URL, { token: session?.token });
}

// Logs in with DreamStream's own login (which answers with its session cookie), trades that
// session for an API token, and ends the session: the app keeps only the token.
// forwardedFor: the browser's address chain (X-Forwarded-For). DreamStream throttles failed
// logins per address and ignores the header unless this server is a `--trusted-proxy`.
export async function login(loginName, password, forwardedFor) {
  const res = await fetch(`${DREAMSTREAM_URL}/api/auth/login`, {
    method: "POST",
    // DreamStream refuses a state change with no Origin unless it carries an API token.
    headers: {
      "Content-Type": "application/json",
      Origin: new URL(DREAMSTREAM_URL).origin,
      ...(forwardedFor ? { "X-Forwarded-For": forwardedFor } : {}),
    },
    body: JSON.stringify({ login: loginName, password }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new DreamStreamError(res.status, body.error?.code ?? "login_failed", body.error?.message ?? "", body);
  const sid = res.headers.getSetCookie().map((c) => c.split(";")[0]).find((c) => c.startsWith("ds_session="));
  // A request made with the session cookie must name DreamStream's own origin.
  const headers = { Cookie: sid, Origin: new URL(DREAMSTREAM_URL).origin, "Content-Type": "application/json" };
  const created = await fetch(`${DREAMSTREAM_URL}/api/me/tokens`, {
    // Only what this app does with it: read the account (read), go live and stop (stream),
    // post comments (chat). It cannot read or rotate the stream key, make tokens or change the
    // account.
    method: "POST", headers, body: JSON.stringify({ name: TOKEN_NAME, scopes: TOKEN_SCOPES }),
  });
  const token = await created.json();
  await fetch(`${DREAMSTREAM_URL}/api/auth/logout`, { method: "POST", headers, body: "{}" });
  if (!created.ok) throw new DreamStreamError(created.status, token.error?.code ?? "token_failed", token.error?.message ?? "", token);
  return { username: body.user.username, token: token.token, tokenId: token.id };
}

// Revokes the API token of this session (best effort: it may be revoked already).
export async function logout(session) {
  await dreamstream(session).request("DELETE", `/api/me/tokens/${session.tokenId}`).catch(() => {});
}

// A DreamStreamError (or anything else) as the JSON error reply DreamStream itself would give.
export function errorReply(err) {
  if (err instanceof DreamStreamError) {
    const message = err.body?.error?.message ?? err.message;
    return NextResponse.json({ error: { code: err.code, message } }, { status: err.status });
  }
  console.error(err);
  return NextResponse.json({ error: { code: "upstream_unavailable", message: "DreamStream did not answer" } }, { status: 502 });
}

// State-changing calls to this app must come from its own pages (the cookie is SameSite=Lax;
// this also refuses a cross-site fetch that names its origin).
export function foreignOrigin(request) {
  const origin = request.headers.get("origin");
  return origin !== null && new URL(origin).host !== request.headers.get("host");
}

export function unauthorized() {
  return NextResponse.json({ error: { code: "unauthorized", message: "sign in first" } }, { status: 401 });
}

export function forbidden() {
  return NextResponse.json({ error: { code: "forbidden", message: "cross-origin request refused" } }, { status: 403 });
}
