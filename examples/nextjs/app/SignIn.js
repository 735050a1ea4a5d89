"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";

// Posts the credentials to this app's /api/session, which signs in against DreamStream and keeps
// the API token server-side.
export default function SignIn() {
  const router = useRouter();
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const res = await fetch("/api/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ login: form.get("login"), password: form.get("password") }),
      });
      if (res.ok) router.refresh();  // the page reads the new session cookie on the server
      else setError((await res.json()).error?.message || "sign-in failed");
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit}>
      <label>Username or e-mail<input name="login" autoComplete="username" required /></label>
      <label>Password<input name="password" type="password" autoComplete="current-password" required /></label>
      <button disabled={busy}>Sign in</button>
      {error && <p className="error" role="alert">{error}</p>}
    </form>
  );
}
