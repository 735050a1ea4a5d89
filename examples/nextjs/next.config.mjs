/** @type {import('next').NextConfig} */
const nextConfig = {
  // The SDK is a local package (file:../../clients/js) outside this folder: compile it with the app.
  transpilePackages: ["dreamstream"],
};

export default nextConfig;
