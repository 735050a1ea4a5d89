// Where the browser opens DreamStream's WebSockets (http(s):// or ws(s)://). NEXT_PUBLIC_ values
// are fixed when `next build` runs.
export const PUBLIC_DREAMSTREAM_URL = process.env.NEXT_PUBLIC_DREAMSTREAM_URL || "http://127.0.0.1:8080";
