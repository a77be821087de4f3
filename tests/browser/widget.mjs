// End-to-end test of the web chat widget in real headless Chromium (Debian's
// chromium driven by playwright-core). Starts `usher serve` itself so it can
// kill and restart it. Run through `cargo test --test browser`.
//
// Env: USHER_BIN (the usher binary), USHER_REPO (repo root), USHER_PORT.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = process.env.USHER_BIN;
const repo = process.env.USHER_REPO;
const port = process.env.USHER_PORT;
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), "usher-browser-"));
writeFileSync(
  join(dir, "config.yaml"),
  `http: {host: 127.0.0.1, port: ${port}}\ndata_dir: ${join(dir, "data")}\nintents: ${join(repo, "intents")}\n` +
    `nlu: {encoder: null, sentiment: ${join(repo, "models/sentiment")}}\n`,
);

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["serve", "--config", join(dir, "config.yaml")], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 180000);
    const onData = (d) => {
      out += d;
      if (out.includes("usher listening on")) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => { out += d; });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${out}`)); });
  });
}

const servers = [];
let browser;
try {
  servers.push(await startServer());
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("dialog", (d) => { pageErrors.push(`dialog opened: ${d.message()}`); d.dismiss(); });

  const online = () => page.waitForSelector("#usher-widget[data-state=online]", { timeout: 30000 });
  const say = async (text) => {
    await page.fill("#usher-widget .usher-input", text);
    await page.press("#usher-widget .usher-input", "Enter");
  };
  const botSays = (s) => page.waitForFunction(
    (s) => [...document.querySelectorAll("#usher-widget .usher-msg.bot, #usher-widget .usher-msg.notice")]
      .some((e) => e.textContent.includes(s)),
    s, { timeout: 20000 });

  await page.goto(`${base}/`);
  await online();
  check(true, "the demo page embeds the widget and it connects");

  await say("hi");
  await botSays("I'm Usher");
  check(true, "typing a message shows the bot's reply");

  await page.locator("#usher-widget .usher-chip", { hasText: "Refund a ticket" }).click();
  await botSays("What's your order number?");
  check(true, "clicking a button chip runs its intent");

  await say("A12345");
  await botSays("Which email address");
  await say("fan@example.com");
  await botSays("refund for order A12345 is on its way to fan@example.com");
  check(true, "the refund form completes in the widget");

  const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
  await say(payload);
  await page.waitForFunction(
    (p) => [...document.querySelectorAll("#usher-widget .usher-msg.fan")].some((e) => e.textContent === p), payload);
  await page.waitForTimeout(300);
  check(await page.evaluate(() => window.__xss === undefined && !document.querySelector('#usher-widget img[src="x"]')),
    "fan HTML is shown as text and never runs");

  const conversation = await page.evaluate(() => localStorage.getItem("usher.conversation"));
  const shown = await page.locator("#usher-widget .usher-msg").count();
  await page.reload();
  await online();
  await botSays("refund for order A12345");
  await page.waitForFunction((n) => document.querySelectorAll("#usher-widget .usher-msg").length >= n, shown - 1);
  check(await page.evaluate(() => localStorage.getItem("usher.conversation")) === conversation,
    "the conversation id survives a reload");
  const texts = await page.locator("#usher-widget .usher-msg.fan").allTextContents();
  check(texts.includes("A12345") && texts.includes("fan@example.com") && texts.includes(payload),
    "the history is shown after a reload");
  check(await page.evaluate(() => window.__xss === undefined), "history renders fan HTML inert too");

  servers[0].kill("SIGKILL");
  await page.waitForSelector("#usher-widget[data-state=offline]", { timeout: 10000 });
  servers.push(await startServer());
  await online();
  await say("thanks a lot");
  await botSays("You're welcome");
  check(true, "the widget reconnects after a server restart and keeps chatting");

  await page.locator("#usher-widget .usher-chip", { hasText: "Talk to a person" }).last().click();
  await botSays("A person will answer here shortly");
  const transcript = await (await fetch(`${base}/api/v1/conversations/${conversation}`)).json();
  check(transcript.tracker.handoff.state === "waiting", "the handoff button parks the conversation");
  check(pageErrors.length === 0, `no page errors (${pageErrors.join("; ")})`);
  console.log("BROWSER OK");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  for (const s of servers) s.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
