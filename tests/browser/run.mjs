// Real-browser test of the qbridge web UI: Debian's chromium driven by playwright-core.
//
// Started by tests/e2e/browser.rs against a running `qbridge serve` whose data dir holds one
// failed job. Env: QBRIDGE_URL, QBRIDGE_TOKEN (admin), QBRIDGE_FAILED_JOB (its id),
// QBRIDGE_SCREENSHOTS (folder for PNGs), QBRIDGE_CHROMIUM (default /usr/bin/chromium).
// Exits non-zero with a message on the first failed expectation.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = mustEnv("QBRIDGE_URL");
const token = mustEnv("QBRIDGE_TOKEN");
const failedJob = mustEnv("QBRIDGE_FAILED_JOB");
const shots = mustEnv("QBRIDGE_SCREENSHOTS");
const executablePath = process.env.QBRIDGE_CHROMIUM || "/usr/bin/chromium";

function mustEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set (run this through cargo test ... browser)`);
  return v;
}

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
  console.log(`ok - ${what}`);
}

mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "qbridge-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
});
const problems = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // Pages answer 401 on purpose when signed out, and Chromium logs every non-2xx document as
  // a console error; so failed loads are judged from the responses (any failing stylesheet,
  // script or icon is a problem) and other console errors (CSP violations, script errors) all count.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== "document") {
      problems.push(`${r.status()} for ${r.url()}`);
    }
  });
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const text = () => page.locator("main").innerText();

  // 1. Not signed in: the sign-in form, and only that.
  let resp = await page.goto(`${base}/`);
  expect(resp.status() === 401, "an unauthenticated page answers 401 with the sign-in form");
  await page.getByLabel("API token").fill("qbr_wrong");
  await page.getByRole("button", { name: "Sign in" }).click();
  expect((await page.getByRole("alert").innerText()).includes("Not signed in"), "a wrong token is refused with a reason");
  await shot("01-login");
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`);

  // 2. Dashboard: the failed job makes the connection need attention, in plain words.
  expect(await page.getByRole("heading", { name: "Dashboard" }).isVisible(), "signed in, the dashboard shows");
  const dash = await text();
  expect(dash.includes("Needs attention") && dash.includes("failed and will not be retried"), "the dashboard says the sync needs attention and why");
  await page.keyboard.press("Tab");
  expect((await page.evaluate(() => document.activeElement.textContent)) === "Skip to content", "the first Tab reaches the skip link");
  await shot("02-dashboard");

  // 3. Jobs: the failed job with its advice; detail; retry.
  await page.getByRole("link", { name: "discarded" }).click();
  expect((await text()).includes("create it in QuickBooks (Lists > Chart of Accounts)"), "the failed job's plain-language advice is listed");
  await shot("03-jobs-failed");
  await page.getByRole("link", { name: `#${failedJob}` }).click();
  const detail = await text();
  expect(detail.includes("<InvoiceAddRs") && detail.includes("InvoiceAddRq"), "the job page shows the request and QuickBooks' response");
  await shot("04-job-detail");
  await page.getByRole("button", { name: `Retry job ${failedJob}` }).click();
  await page.waitForURL(/notice=retried/);
  expect((await text()).includes("will be sent again"), "retry is confirmed");
  expect((await page.locator(".facts .state").innerText()) === "available", "the retried job is available again");

  // 4. Support access: grant (hostile name stays text), banner with a live countdown, revoke.
  await page.getByRole("link", { name: "Support access" }).click();
  expect((await page.locator(".banner").count()) === 0, "no banner without an active grant");
  const hostile = `Jane <img src=x onerror="window.__pwned=1"> (Acme)`;
  await page.getByLabel("Who receives it").fill(hostile);
  await page.getByLabel("Reason (ticket number, problem)").fill("ticket 4411");
  await page.getByRole("button", { name: "Grant access" }).click();
  const banner = page.locator(".banner");
  expect(await banner.isVisible(), "the support banner appears on the page");
  expect((await banner.innerText()).includes(hostile), "a hostile name is shown as text");
  expect((await page.evaluate(() => window.__pwned)) === undefined, "the hostile name did not run");
  expect((await page.locator("#new-secret").inputValue()).startsWith("qbs_"), "the grant's token is shown once");
  const first = await banner.locator(".countdown").innerText();
  await page.waitForFunction((t) => document.querySelector(".banner .countdown").textContent !== t, first);
  expect(true, `the countdown runs (was ${first})`);
  await shot("05-support-granted");
  await page.getByRole("link", { name: "Dashboard" }).click();
  expect(await page.locator(".banner").isVisible(), "the banner shows on every page");
  await page.getByRole("link", { name: "Support access" }).click();
  await page.getByRole("button", { name: /^Revoke grant/ }).click();
  await page.waitForURL(/notice=grant-revoked/);
  expect((await page.locator(".banner").count()) === 0, "the banner disappears after revoking");
  await shot("06-support-revoked");

  // 5. Secrets: stored, listed by name, value never shown.
  await page.getByRole("link", { name: "Secrets" }).click();
  await page.getByLabel("Plugin").fill("ramp");
  await page.getByLabel("Name").fill("api_key");
  await page.getByLabel("Value").fill("sk_browser_SECRET_VALUE");
  await page.getByRole("button", { name: "Store secret" }).click();
  await page.waitForURL(/notice=secret-set/);
  const secrets = await page.content();
  expect(secrets.includes("api_key") && !secrets.includes("sk_browser_SECRET_VALUE"), "the secret is listed by name, its value never shown");
  await shot("07-secrets");

  // 6. Tokens.
  await page.getByRole("link", { name: "Tokens" }).click();
  expect((await text()).includes("bootstrap"), "the tokens page lists the bootstrap token");
  await shot("08-tokens");

  // 7. Audit log: verify the chain.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("button", { name: "Verify chain" }).click();
  expect((await text()).includes("Audit log intact"), "the audit chain verifies");
  const audit = await text();
  expect(audit.includes("job.retry") && audit.includes("secret.set") && audit.includes("grant.create"), "the audit log lists what was done");
  expect(!(await page.content()).includes("sk_browser_SECRET_VALUE"), "the audit log does not hold the secret");
  await shot("09-audit");

  // 8. Sign out: back to the sign-in form; pages refuse again.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/login`);
  resp = await page.goto(`${base}/jobs`);
  expect(resp.status() === 401, "after signing out, pages need a token again");

  expect(problems.length === 0, `no page or console errors${problems.length ? ": " + problems.join("; ") : ""}`);
  console.log("browser test passed");
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
