// Watch <username>: the stream info and the latest comments are read on the server (public API),
// the picture, the viewer count and new comments arrive live in the browser (Watch).

import { notFound } from "next/navigation";
import { dreamstream, getSession } from "@/lib/dreamstream-server";
import Watch from "./Watch";

export const dynamic = "force-dynamic";

export default async function WatchPage({ params }) {
  const { username } = await params;
  const api = dreamstream(null);
  let info;
  let comments;
  try {
    [info, { comments }] = await Promise.all([api.streamInfo(username), api.comments(username, { limit: 50 })]);
  } catch (err) {
    if (err.status === 404) notFound();
    throw err;
  }
  const signedIn = (await getSession()) !== null;
  return (
    <>
      <h1>{info.display_name || info.username}</h1>
      <Watch username={info.username} initialComments={comments} initialViewers={info.viewers} signedIn={signedIn} />
    </>
  );
}
