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
    const res = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: form.get("login"), password: form.get("password") }),
    });
    setBusy(false);
    if (res.ok) router.refresh();
    else setError((await res.json()).error?.message || "sign-in failed");
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
