// Going live. POST hands the browser a fresh stream key for the ingest socket (the old key stops
// working; connecting with it starts the stream); DELETE stops the stream.

import { NextResponse } from "next/server";
import { dreamstream, errorReply, forbidden, foreignOrigin, getSession, unauthorized } from "@/lib/dreamstream-server";

export async function POST(request) {
  if (foreignOrigin(request)) return forbidden();
  const session = await getSession();
  if (!session) return unauthorized();
  try {
    const key = await dreamstream(session).rotateStreamKey();
    return NextResponse.json({ username: session.username, key });
  } catch (err) {
    return errorReply(err);
  }
}

export async function DELETE(request) {
  if (foreignOrigin(request)) return forbidden();
  const session = await getSession();
  if (!session) return unauthorized();
  try {
    return NextResponse.json(await dreamstream(session).stopStream());
  } catch (err) {
    return errorReply(err);
  }
}
