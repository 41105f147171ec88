// Real-browser test of the qbridge web UI: Debian's chromium driven by playwright-core.
//
// Started by tests/e2e/browser.rs against a running `qbridge serve` whose data dir holds one
// failed job, a connection with a Web Connector user, 59 more connections (one with waiting
// jobs), and plugin echo 1.0.0 running with 3.0.0 staged. Env: QBRIDGE_URL, QBRIDGE_TOKEN
// (admin), QBRIDGE_FAILED_JOB (its id), QBRIDGE_WAITING_JOB (a waiting job's id),
// QBRIDGE_QWC_USER (the Web Connector user), QBRIDGE_UPLOAD_WASM (a component to upload),
// QBRIDGE_SCREENSHOTS (folder for PNGs), QBRIDGE_CHROMIUM (default /usr/bin/chromium).
// Exits non-zero with a message on the first failed expectation.
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = mustEnv("QBRIDGE_URL");
const token = mustEnv("QBRIDGE_TOKEN");
const failedJob = mustEnv("QBRIDGE_FAILED_JOB");
const waitingJob = mustEnv("QBRIDGE_WAITING_JOB");
const shots = mustEnv("QBRIDGE_SCREENSHOTS");
const qwcUser = mustEnv("QBRIDGE_QWC_USER");
const uploadWasm = mustEnv("QBRIDGE_UPLOAD_WASM");
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

  // 2. Dashboard for many firms: 60 connections in one compact table by name; filters by name
  // and by verdict; the failed job makes `acme` need attention, and its page says why.
  expect(await page.getByRole("heading", { name: "Dashboard" }).isVisible(), "signed in, the dashboard shows");
  const rows = page.locator("table.connections tbody tr");
  expect((await rows.count()) === 60, `all 60 connections are listed (${await rows.count()})`);
  const acmeRow = rows.filter({ has: page.getByRole("link", { name: "acme", exact: true }) });
  expect((await acmeRow.innerText()).includes("Needs attention"), "the connection with a failed job needs attention");
  expect(await page.getByRole("link", { name: "firm-59", exact: true }).isVisible(), "connections are shown by name");
  expect((await page.locator("svg.chart g.day").count()) === 14, "the last 14 days are charted");
  await page.keyboard.press("Tab");
  expect((await page.evaluate(() => document.activeElement.textContent)) === "Skip to content", "the first Tab reaches the skip link");
  await shot("02-dashboard-60-connections");
  console.log(`screenshot of the 60-connection dashboard: ${join(shots, "02-dashboard-60-connections.png")}`);
  await page.getByLabel("Find a connection").fill("firm-07");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/q=firm-07/);
  expect((await rows.count()) === 1 && (await rows.innerText()).includes("firm-07"), "filtering by name leaves that firm");
  expect((await rows.innerText()).includes("Not connected yet"), "a firm whose Web Connector never called says so");
  await shot("02b-dashboard-filtered");
  await page.getByLabel("Find a connection").fill("");
  await page.getByLabel("Show").selectOption("attention");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/show=attention/);
  expect((await rows.count()) === 1 && (await rows.innerText()).includes("acme"), "filtering by verdict leaves the firm that needs attention");

  // 2b. A waiting job offers Cancel but no Retry (it will be sent anyway), in the list and on its page.
  await page.goto(`${base}/?q=firm-07`);
  await page.getByRole("link", { name: "firm-07", exact: true }).click();
  expect(await page.getByRole("heading", { name: "firm-07" }).isVisible(), "each connection has its own page");
  await page.getByRole("link", { name: "available", exact: true }).click();
  expect(await page.getByRole("button", { name: `Cancel job ${waitingJob}` }).isVisible(), "a waiting job can be cancelled");
  expect((await page.getByRole("button", { name: /^Retry job/ }).count()) === 0, "no Retry on jobs that are merely waiting");
  await page.getByRole("link", { name: `#${waitingJob}` }).click();
  expect((await page.getByRole("button", { name: /^Retry job/ }).count()) === 0, "no Retry on a waiting job's page either");
  await shot("02c-waiting-job");

  await page.goto(`${base}/`);
  await page.getByRole("link", { name: "acme", exact: true }).click();
  const conn = await text();
  expect(conn.includes("Needs attention") && conn.includes("failed and will not be retried"), "the connection's page says the sync needs attention and why");
  await shot("02d-connection");

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
  const valueForm = page.locator('form[action="/secrets"]');
  await valueForm.getByLabel("Plugin").fill("ramp");
  await valueForm.getByLabel("Name").fill("api_key");
  await valueForm.getByLabel("Value").fill("sk_browser_SECRET_VALUE");
  await page.getByRole("button", { name: "Store secret" }).click();
  await page.waitForURL(/notice=secret-set/);
  const secrets = await page.content();
  expect(secrets.includes("api_key") && !secrets.includes("sk_browser_SECRET_VALUE"), "the secret is listed by name, its value never shown");
  // An OAuth2 client-credentials grant: the server fetches tokens; the client secret is never shown.
  const grantForm = page.locator('form[action="/secrets/grant"]');
  await grantForm.getByLabel("Plugin").fill("ramp");
  await grantForm.getByLabel("Name").fill("ramp.access_token");
  await grantForm.getByLabel("Token URL").fill("https://api.ramp.com/developer/v1/token");
  await grantForm.getByLabel("Client id").fill("browser-client");
  await grantForm.getByLabel("Client secret").fill("cs_browser_SECRET_VALUE");
  await page.getByRole("button", { name: "Store grant" }).click();
  await page.waitForURL(/notice=secret-set/);
  const grants = await page.content();
  expect(grants.includes("OAuth2 grant (api.ramp.com)") && !grants.includes("cs_browser_SECRET_VALUE"), "the grant is listed with its token host, its client secret never shown");
  await shot("07-secrets");

  // 6. Tokens.
  await page.getByRole("link", { name: "Tokens" }).click();
  expect((await text()).includes("bootstrap"), "the tokens page lists the bootstrap token");
  await shot("08-tokens");

  // 7. Audit log: verify the chain.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("button", { name: "Verify chain" }).click();
  expect((await text()).includes("Audit log intact"), "the audit chain verifies");
  // Oldest first, a page at a time: the 60 connections' rows come first, so read every page.
  let audit = await text();
  while ((await page.getByRole("link", { name: "Next page" }).count()) > 0) {
    await page.getByRole("link", { name: "Next page" }).click();
    audit += await text();
  }
  expect(audit.includes("job.retry") && audit.includes("secret.set") && audit.includes("grant.create"), "the audit log lists what was done");
  expect(!(await page.content()).includes("sk_browser_SECRET_VALUE"), "the audit log does not hold the secret");
  await shot("09-audit");

  // 8. Web Connector setup: the QWC download and the QuickBooks user checklist.
  await page.getByRole("link", { name: "Connections", exact: true }).click();
  expect(await page.getByRole("heading", { name: "Web Connector setup" }).isVisible(), "the connections page is the Web Connector setup");
  const setup = await text();
  expect(setup.includes("QuickBooks user checklist") && setup.includes("qbridge-sync"), "the checklist names a dedicated QuickBooks user");
  expect(setup.includes("Customers & Receivables") && setup.includes("Login as") && setup.includes("Allow this application to log in automatically"), "the checklist lists the active plugins' areas and the auto-login settings");
  expect(setup.includes("No Company Open") && setup.includes("single-user mode"), "the checklist covers No Company Open and the first authorisation");
  await shot("10-web-connector-setup");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: `Download ${qwcUser}.qwc` }).click(),
  ]);
  expect(download.suggestedFilename() === `${qwcUser}.qwc`, `the download is named ${qwcUser}.qwc`);
  const qwc = readFileSync(await download.path(), "utf8");
  expect(qwc.includes("<QBWCXML>") && qwc.includes(`<UserName>${qwcUser}</UserName>`) && qwc.includes(`<AppURL>${base.replace("127.0.0.1", "localhost")}/qbwc</AppURL>`), "the downloaded QWC names the user and this server");
  const [qwcStatus, qwcType, qwcDisposition] = await page.evaluate(async (url) => {
    const r = await fetch(url);
    return [r.status, r.headers.get("content-type"), r.headers.get("content-disposition")];
  }, `${base}/qwc/${qwcUser}`);
  expect(qwcStatus === 200 && qwcType === "application/xml" && qwcDisposition === `attachment; filename="${qwcUser}.qwc"`, "the QWC is served as an application/xml attachment");

  // 9. Plugins: the staged version's permission diff, approve, rollback offered, upload.
  await page.getByRole("link", { name: "Plugins", exact: true }).click();
  const staged = page.getByRole("region", { name: "Staged version 3.0.0" });
  expect(await staged.isVisible(), "the staged version waits for approval");
  expect((await staged.innerText()).includes("InvoiceAdd"), "the permissions diff shows the added request type");
  await shot("11-plugins-staged");
  await page.getByRole("button", { name: "Approve echo 3.0.0" }).click();
  await page.waitForURL(/notice=plugin-approved/);
  expect((await page.getByRole("region", { name: "Staged version 3.0.0" }).count()) === 0, "approved, nothing waits any more");
  expect(await page.getByRole("button", { name: "Roll echo back to the previous version" }).isVisible(), "rollback is offered");
  await shot("12-plugins-approved");
  await page.getByLabel("Component (.wasm)").setInputFiles(uploadWasm);
  await page.getByRole("button", { name: "Install", exact: true }).click();
  await page.waitForURL(/notice=plugin-activated/);
  expect((await text()).includes("Installed: the new version serves the next call"), "an uploaded component is installed");
  await shot("13-plugins-uploaded");

  // 10. Sign out: back to the sign-in form; pages refuse again. A copy of the session cookie,
  // as a thief would hold it, works until then and is refused after: the session ended on
  // the server, not just in this browser.
  const [session] = (await context.cookies(base)).filter((c) => c.name === "qbridge_session");
  expect(session && session.value.startsWith("qbc_") && !session.value.includes(token), "the session cookie holds a session id, never the token");
  const stolen = () => fetch(`${base}/jobs`, { headers: { cookie: `qbridge_session=${session.value}` }, redirect: "manual" });
  expect((await stolen()).status === 200, "a copy of the cookie works while signed in");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/login`);
  resp = await page.goto(`${base}/jobs`);
  expect(resp.status() === 401, "after signing out, pages need a token again");
  expect((await stolen()).status === 401, "the copied cookie is refused after sign-out");

  expect(problems.length === 0, `no page or console errors${problems.length ? ": " + problems.join("; ") : ""}`);
  console.log("browser test passed");
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
