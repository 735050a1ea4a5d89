// Going live. POST hands the browser a single-use ingest ticket (connecting with it starts the
// stream; the user's stream key, which OBS may be using, stays secret and unchanged); DELETE
// stops the stream.

import { NextResponse } from "next/server";
import { dreamstream, errorReply, forbidden, foreignOrigin, getSession, unauthorized } from "@/lib/dreamstream-server";

export async function POST(request) {
  if (foreignOrigin(request)) return forbidden();
  const session = await getSession();
  if (!session) return unauthorized();
  try {
    const { ticket } = await dreamstream(session).createIngestTicket();
    return NextResponse.json({ username: session.username, ticket });
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
