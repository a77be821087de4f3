// Review to training in real headless Chromium: a fan's message the bot
// misreads; a trainer signs in to /console, opens the conversation, sees why
// the bot did what it did, files the message under the right intent; the
// bot reloads, and the next fan who says it is understood.
//
// Env: USHER_BIN, USHER_REPO, USHER_PORT.
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { base, check, launch, repo, scenario, startServer, usher, watchedPage, widget } from "./lib.mjs";

const MESSAGE = "the QR code vanished from my wallet app";

/** Says `text` in the widget on `page`; the bot's first reply to it. */
async function reply(page, text) {
  const bot = "#usher-widget .usher-msg.bot";
  const before = await page.locator(bot).count();
  await widget(page).say(text);
  await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n, [bot, before], { timeout: 20000 });
  return page.$$eval(bot, (ms, n) => ms[n].textContent, before);
}
const ANSWER = "Your tickets are always in your account under My Orders";

await scenario(async (env) => {
  // The trainer edits a copy of the shipped intents, never the repository's.
  const intents = join(env.dir, "intents");
  cpSync(join(repo, "intents"), intents, { recursive: true });
  const config = env.config;
  writeFileSync(config, readFileSync(config, "utf8").replace(`intents: ${join(repo, "intents")}`, `intents: ${intents}`));
  usher(config, ["agents", "add", "carol", "--password-stdin", "--role", "trainer"], "carol-password\n");
  check(usher(config, ["agents", "list"]).split("\n").includes("carol\ttrainer"), "usher agents add --role trainer");
  env.servers.push(await startServer(config));

  const browser = (env.browser = await launch());
  const { page: fan, errors: fanErrors } = await watchedPage(await browser.newContext());
  const chat = widget(fan);
  await fan.goto(`${base}/`);
  await chat.online();
  const misread = await reply(fan, MESSAGE);
  check(!misread.includes(ANSWER), `the bot misreads the message at first (${misread})`);
  const conversation = await fan.evaluate(() => localStorage.getItem("usher.conversation"));

  const { page: carol, errors: carolErrors } = await watchedPage(await browser.newContext());
  await carol.goto(`${base}/console`);
  await carol.waitForSelector("#login:not([hidden])");
  await carol.fill("#name", "carol");
  await carol.fill("#password", "carol-password");
  await carol.click("#login button[type=submit]");
  await carol.waitForSelector("#desk:not([hidden])");
  check((await carol.locator("#whoami").textContent()).includes("(trainer)"), "the console shows the trainer's role");
  await carol.fill("#open-id", conversation);
  await carol.click("#open-form button[type=submit]");
  const message = carol.locator("#transcript .msg.fan", { hasText: MESSAGE }).first();
  await message.waitFor();
  check(await carol.locator("#claim").isHidden(), "a trainer does not claim fans");
  await message.locator("details.why summary").click();
  const why = await message.locator("details.why span").allTextContents();
  check(why.some((l) => l.startsWith("Rule: ")), `the trainer sees why the bot answered as it did (${why[0]})`);

  await message.locator(".train input").fill("lost_ticket");
  await message.locator(".train button").click();
  await carol.waitForFunction(() => [...document.querySelectorAll("#transcript .trained")]
    .some((e) => e.textContent.startsWith("Added to lost_ticket")));
  check(readFileSync(join(intents, "tickets.yaml"), "utf8").includes(`      - ${MESSAGE}\n`),
    "the example is added to the intent's file");

  // The bot reloads with it (in seconds): a new fan who says the same is
  // understood. Each try is a new fan: one fan misread again and again
  // would be offered a person.
  let understood = false;
  for (let i = 0; i < 20 && !understood; i++) {
    const context = await browser.newContext();
    const { page: next } = await watchedPage(context);
    await next.goto(`${base}/`);
    await widget(next).online();
    understood = (await reply(next, MESSAGE)).includes(ANSWER);
    await context.close();
    if (!understood) await carol.waitForTimeout(1000);
  }
  check(understood, "after the reload the next fan message like it is understood");
  check(fanErrors.length === 0 && carolErrors.length === 0, `no script errors (${fanErrors} ${carolErrors})`);
});
