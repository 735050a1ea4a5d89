// The signed-in user of this app: GET who, POST sign in {login, password}, DELETE sign out.

import { NextResponse } from "next/server";
import {
  clearSession, dreamstream, errorReply, forbidden, foreignOrigin, getSession, login, logout, saveSession,
} from "@/lib/dreamstream-server";

export async function GET() {
  const session = await getSession();
  if (!session) return NextResponse.json({ user: null });
  try {
    const { user } = await dreamstream(session).me();
    return NextResponse.json({ user });
  } catch (err) {
    if (err.status === 401) {  // the token was revoked on DreamStream's side
      await clearSession();
      return NextResponse.json({ user: null });
    }
    return errorReply(err);
  }
}

export async function POST(request) {
  if (foreignOrigin(request)) return forbidden();
  const { login: name, password } = await request.json().catch(() => ({}));
  if (typeof name !== "string" || typeof password !== "string") {
    return NextResponse.json({ error: { code: "missing_field", message: "login and password" } }, { status: 400 });
  }
  try {
    const session = await login(name, password, request.headers.get("x-forwarded-for"));
    await saveSession(session, request);
    return NextResponse.json({ user: { username: session.username } });
  } catch (err) {
    return errorReply(err);
  }
}

export async function DELETE(request) {
  if (foreignOrigin(request)) return forbidden();
  const session = await getSession();
  if (session) await logout(session);
  await clearSession();
  return NextResponse.json({ user: null });
}
