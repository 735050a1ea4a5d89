import Link from "next/link";
import "./globals.css";

export const metadata = { title: "DreamStream × Next.js" };

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <header>
          <Link href="/">DreamStream × Next.js</Link>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
