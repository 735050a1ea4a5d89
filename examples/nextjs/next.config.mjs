/** @type {import('next').NextConfig} */
const nextConfig = {
  // The SDK is a local package (file:../../clients/js) outside this folder: compile it with the app.
  transpilePackages: ["dreamstream"],
  // tests/nextjs builds into its own folder, so it never replaces a developer's .next.
  distDir: process.env.NEXT_DIST_DIR || ".next",
};

export default nextConfig;
