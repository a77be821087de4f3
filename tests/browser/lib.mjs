// Shared by the browser tests: a temporary config, `usher serve` started and
// killed by the test, Debian's chromium through playwright-core, and checks.
import { chromium } from "playwright-core";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const bin = process.env.USHER_BIN;
export const repo = process.env.USHER_REPO;
export const port = process.env.USHER_PORT;
export const base = `http://127.0.0.1:${port}`;
export const backendPort = process.env.USHER_BACKEND_PORT;

/** A temporary data dir and config.yaml over the shipped intents. */
export function makeConfig(extra = "") {
  const dir = mkdtempSync(join(tmpdir(), "usher-browser-"));
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    // A scripted fan types faster than a person: a larger burst per conversation.
    `http: {host: 127.0.0.1, port: ${port}, conversation_burst: 40}\ndata_dir: ${join(dir, "data")}\nintents: ${join(repo, "intents")}\n` +
      `nlu: {encoder: null, sentiment: ${join(repo, "models/sentiment")}}\n` +
      `creative: {melody: ${join(repo, "models/melody")}}\n` +
      // The demo's example backend, which `scenario` starts.
      `actions: {endpoints: {encore: {url: "http://127.0.0.1:${backendPort}"}}}\n${extra}`,
  );
  return { dir, config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

/** Runs `usher ARGS` to completion, feeding `input` on stdin. */
export function usher(config, args, input = "") {
  const out = spawnSync(bin, [...args, "--config", config], { input, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`usher ${args.join(" ")} failed:\n${out.stdout}\n${out.stderr}`);
  return out.stdout;
}

/** Starts the demo's example backend (`usher demo-backend`) with its data in `dir`. */
export function startBackend(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["demo-backend", "--listen", `127.0.0.1:${backendPort}`, "--data",
      join(dir, "encore-backend.sqlite")], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`backend did not start:\n${out}`)), 30000);
    child.stderr.on("data", (d) => {
      out += d;
      if (out.includes("encore-backend listening")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`backend exited ${code}:\n${out}`)); });
  });
}

/** Starts `usher serve`; resolves once it listens. */
export function startServer(config) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["serve", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
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

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A page that records script errors and any dialog (an XSS canary). */
export async function watchedPage(context) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => { errors.push(`dialog opened: ${d.message()}`); d.dismiss(); });
  return { page, errors };
}

/** Drives the web chat widget on `page`. */
export function widget(page) {
  return {
    online: () => page.waitForSelector("#usher-widget[data-state=online]", { timeout: 30000 }),
    say: async (text) => {
      await page.fill("#usher-widget .usher-input", text);
      await page.press("#usher-widget .usher-input", "Enter");
    },
    botSays: async (s) => {
      try {
        await page.waitForFunction(
          (s) => [...document.querySelectorAll("#usher-widget .usher-msg.bot, #usher-widget .usher-msg.notice")]
            .some((e) => e.textContent.includes(s)),
          s, { timeout: 20000 });
      } catch (e) {
        // Say what the bot did say, so a failure explains itself.
        const said = await page.$$eval("#usher-widget .usher-msg", (ms) => ms.slice(-6).map((m) => m.textContent));
        throw new Error(`the bot never said ${JSON.stringify(s)}; the last messages: ${JSON.stringify(said)}`);
      }
    },
  };
}

/**
 * Runs a test body with a fresh config; the body pushes the servers it
 * starts onto `env.servers` and sets `env.browser`. Prints BROWSER OK on
 * success; always kills the servers, closes the browser and cleans up.
 * `extra` is appended to the config.
 */
export async function scenario(body, extra = "") {
  const env = { servers: [], browser: null, ...makeConfig(extra) };
  try {
    env.backend = await startBackend(env.dir);
    env.servers.push(env.backend);
    await body(env);
    console.log("BROWSER OK");
  } catch (e) {
    console.error(e);
    process.exitCode = 1;
  } finally {
    if (env.browser) await env.browser.close();
    for (const s of env.servers) s.kill("SIGKILL");
    env.cleanup();
  }
}
