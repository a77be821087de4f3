// End-to-end test of the web chat widget in real headless Chromium (Debian's
// chromium driven by playwright-core). Starts `usher serve` itself so it can
// kill and restart it. Run through `cargo test --test browser`.
//
// Env: USHER_BIN (the usher binary), USHER_REPO (repo root), USHER_PORT.
import { base, check, launch, scenario, startServer, watchedPage, widget } from "./lib.mjs";

await scenario(async (env) => {
  const servers = env.servers;
  const first = await startServer(env.config);
  servers.push(first);
  env.browser = await launch();
  const { page, errors: pageErrors } = await watchedPage(env.browser);
  const { online, say, botSays } = widget(page);

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
  await botSays("order A12345 for The Lumineers is refunded");
  check(true, "the refund form completes in the widget, refunded by the example backend");

  const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
  await say(payload);
  await page.waitForFunction(
    (p) => [...document.querySelectorAll("#usher-widget .usher-msg.fan")].some((e) => e.textContent === p), payload);
  await page.waitForTimeout(300);
  check(await page.evaluate(() => window.__xss === undefined && !document.querySelector('#usher-widget img[src="x"]')),
    "fan HTML is shown as text and never runs");

  const conversation = await page.evaluate(() => localStorage.getItem("usher.conversation"));
  const token = await page.evaluate(() => localStorage.getItem("usher.token"));
  check(/^web-[0-9a-f]{24}$/.test(conversation) && /^[0-9a-f]{64}$/.test(token),
    "the server gave the widget a conversation id and a 256-bit token");
  const shown = await page.locator("#usher-widget .usher-msg").count();
  await page.reload();
  await online();
  await botSays("order A12345 for The Lumineers is refunded");
  await page.waitForFunction((n) => document.querySelectorAll("#usher-widget .usher-msg").length >= n, shown - 1);
  check(await page.evaluate(() => localStorage.getItem("usher.conversation")) === conversation &&
    await page.evaluate(() => localStorage.getItem("usher.token")) === token,
    "the conversation id and its token survive a reload");
  const texts = await page.locator("#usher-widget .usher-msg.fan").allTextContents();
  check(texts.includes("A12345") && texts.includes("[email]") && texts.includes(payload) &&
    !texts.includes("fan@example.com"), `the history is shown after a reload, the email redacted as stored (${texts})`);
  check(await page.evaluate(() => window.__xss === undefined), "history renders fan HTML inert too");

  // A second fan (another browser context) who knows the first one's
  // conversation id but not its token sees none of it.
  const { page: other, errors: otherErrors } = await watchedPage(env.browser);
  await other.goto(`${base}/`);
  await other.evaluate((c) => { localStorage.setItem("usher.conversation", c); localStorage.removeItem("usher.token"); },
    conversation);
  await other.reload();
  await other.waitForSelector("#usher-widget[data-state=online]", { timeout: 30000 });
  const otherTexts = await other.locator("#usher-widget .usher-msg").allTextContents();
  check(!otherTexts.some((t) => t.includes("A12345") || t.includes("fan@example.com")),
    "a second browser with the first fan's conversation id but no token sees none of its history");
  check(await other.evaluate(() => localStorage.getItem("usher.conversation")) !== conversation,
    "without the token the widget gets a conversation of its own");
  const stolen = await other.evaluate(async ({ base, conversation }) => {
    const none = await fetch(`${base}/api/v1/conversations/${conversation}`);
    const forged = await fetch(`${base}/api/v1/conversations/${conversation}`,
      { headers: { authorization: "Bearer " + localStorage.getItem("usher.token") } });
    const socket = await new Promise((resolve) => {
      const ws = new WebSocket(`${base.replace("http", "ws")}/ws?conversation=${conversation}`,
        ["usher", "usher-token." + localStorage.getItem("usher.token")]);
      ws.onopen = () => { ws.close(); resolve("opened"); };
      ws.onclose = () => resolve("refused");
    });
    return { none: none.status, noneBody: await none.text(), forged: forged.status, forgedBody: await forged.text(),
      socket };
  }, { base, conversation });
  check(stolen.none === 401 && stolen.forged === 401 && stolen.socket === "refused" &&
    !(stolen.noneBody + stolen.forgedBody).includes("A12345"),
    `the first fan's history and socket are refused with another conversation's token (${JSON.stringify(stolen)})`);
  check(otherErrors.length === 0, `no page errors in the second browser (${otherErrors.join("; ")})`);
  await other.close();

  first.kill("SIGKILL");
  await page.waitForSelector("#usher-widget[data-state=offline]", { timeout: 10000 });
  servers.push(await startServer(env.config));
  await online();
  await say("thanks a lot");
  await botSays("You're welcome");
  check(true, "the widget reconnects after a server restart and keeps chatting");

  await say("compose a short melody");
  const audio = page.locator("#usher-widget audio").last();
  await audio.waitFor({ timeout: 60000 });
  const duration = await audio.evaluate((a) => new Promise((resolve, reject) => {
    if (a.readyState >= 1) resolve(a.duration);
    a.addEventListener("loadedmetadata", () => resolve(a.duration));
    a.addEventListener("error", () => reject(new Error(`audio error ${a.error && a.error.code}`)));
  }));
  check(duration > 9 && duration < 11, `the melody arrives as playable audio (${duration.toFixed(2)} s)`);
  const roll = page.locator("#usher-widget img").last();
  const width = await roll.evaluate((i) => i.complete && i.naturalWidth
    ? i.naturalWidth
    : new Promise((resolve) => i.addEventListener("load", () => resolve(i.naturalWidth))));
  check(width > 0, `its piano roll image loads (${width} px wide)`);

  await page.locator("#usher-widget .usher-chip", { hasText: "Talk to a person" }).last().click();
  await botSays("A person will answer here shortly");
  const transcript = await (await fetch(`${base}/api/v1/conversations/${conversation}`,
    { headers: { authorization: `Bearer ${token}` } })).json();
  check(transcript.tracker.handoff.state === "waiting", "the handoff button parks the conversation");
  check(pageErrors.length === 0, `no page errors (${pageErrors.join("; ")})`);
});
