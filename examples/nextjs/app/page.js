// "Go live": sign in against DreamStream through this app's route handlers, then stream the
// webcam with the SDK. The signed-in user is read from the session cookie on the server.

import { dreamstream, getSession } from "@/lib/dreamstream-server";
import GoLive from "./GoLive";
import SignIn from "./SignIn";

export const dynamic = "force-dynamic";

export default async function Home() {
  const session = await getSession();
  let user = null;
  if (session) {
    try {
      user = (await dreamstream(session).me()).user;
    } catch {
      user = null;  // the token was revoked, or DreamStream is down: sign in again
    }
  }
  return (
    <>
      <h1>Go live</h1>
      {user ? <GoLive user={user} /> : <SignIn />}
    </>
  );
}
