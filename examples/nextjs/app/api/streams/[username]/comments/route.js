// Posts a comment on <username>'s stream as the signed-in user: {body} -> 201 {comment}.

import { NextResponse } from "next/server";
import { dreamstream, errorReply, forbidden, foreignOrigin, getSession, unauthorized } from "@/lib/dreamstream-server";

export async function POST(request, { params }) {
  if (foreignOrigin(request)) return forbidden();
  const session = await getSession();
  if (!session) return unauthorized();
  const { username } = await params;
  const { body } = await request.json().catch(() => ({}));
  try {
    const comment = await dreamstream(session).postComment(username, body);
    return NextResponse.json({ comment }, { status: 201 });
  } catch (err) {
    return errorReply(err);
  }
}
