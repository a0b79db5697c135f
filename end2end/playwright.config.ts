import { defineConfig } from "@playwright/test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

// The real server binary (built by `cargo leptos build`) on its own port,
// with a fresh SQLite database for this run.
const root = path.resolve(__dirname, "..");
const port = Number(process.env.KEYSMITH_E2E_PORT ?? 3300);
process.env.KEYSMITH_E2E_DATA ??= fs.mkdtempSync(path.join(os.tmpdir(), "keysmith-e2e-"));
const binary = process.env.KEYSMITH_BIN ?? path.join(root, "target/debug/keysmith");
// A second server declaring MediaKit's permission catalogue
// (examples/mediakit-permissions.toml), for the specs of an operator's own
// scopes (they `test.use` this base URL).
const catalogueUrl = `http://127.0.0.1:${port + 1}`;
process.env.KEYSMITH_E2E_CATALOGUE_URL ??= catalogueUrl;
// A third server sends mail, through a real SMTP server
// (scripts/smtp_sink.py, aiosmtpd) that writes each message to a folder,
// for the specs of mailed links (they `test.use` this base URL). The
// others run without mail, as a server without SMTP settings does.
const smtpPort = port + 2;
const mailUrl = `http://127.0.0.1:${port + 3}`;
process.env.KEYSMITH_E2E_MAIL_URL ??= mailUrl;
process.env.KEYSMITH_E2E_MAIL ??= path.join(process.env.KEYSMITH_E2E_DATA, "mail");

// Debian's Chromium where it exists (browser downloads do not work here),
// else Playwright's own browser on an ordinary machine.
const chromium =
  process.env.CHROMIUM_PATH ?? (fs.existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined);

export default defineConfig({
  testDir: "./tests",
  timeout: 45_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  forbidOnly: !!process.env.CI,
  // No retries: a flaky test is a bug to find. (The page that sometimes
  // came back without its nonce's CSP was issue 21: a favicon request
  // rendered through the page renderer took over a page's headers.)
  retries: 0,
  reporter: "list",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: chromium,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
  webServer: [
    {
      command: `${path.join(root, "tools/venv/bin/python")} ${path.join(root, "scripts/smtp_sink.py")} --port ${smtpPort} --folder ${process.env.KEYSMITH_E2E_MAIL}`,
      port: smtpPort,
      reuseExistingServer: false,
      timeout: 20_000,
      gracefulShutdown: { signal: "SIGTERM" as const, timeout: 5_000 },
    },
    server(port, "keysmith.db", {}),
    server(port + 1, "mediakit.db", {
      KEYSMITH_PERMISSIONS_FILE: path.join(root, "examples/mediakit-permissions.toml"),
    }),
    server(port + 3, "mail.db", {
      KEYSMITH_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      KEYSMITH_MAIL_FROM: "Keysmith <keys@keysmith.test>",
      KEYSMITH_PUBLIC_URL: mailUrl,
    }),
  ],
});

function server(at: number, database: string, settings: Record<string, string>) {
  return {
    command: binary,
    url: `http://127.0.0.1:${at}/login`,
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${at}`,
      LEPTOS_SITE_ROOT: path.join(root, "target/site"),
      DATABASE_URL: `sqlite://${process.env.KEYSMITH_E2E_DATA}/${database}`,
      RUST_LOG: "warn",
      // Every test signs up its own user, all from 127.0.0.1, and the
      // unhappy paths' wrong passwords all count against that one address
      // (the throttle itself is tested in tests/server, 40 at once).
      KEYSMITH_SIGNUP_MAX_PER_HOUR: "1000",
      KEYSMITH_LOGIN_MAX_FAILURES: "1000",
      ...settings,
    },
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe" as const,
    gracefulShutdown: { signal: "SIGTERM" as const, timeout: 5_000 },
  };
}
