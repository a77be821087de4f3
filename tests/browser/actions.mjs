// The Encore demo's backend actions end to end in the widget, in real
// headless Chromium, against the example backend (examples/encore-backend):
// a cancelled show is refunded and the backend's data changes, a show still
// on is offered resale, an unknown order is called unknown, doors come from
// the backend, and with the backend stopped the fan is told the bot cannot
// check and offered a person.
import { base, check, launch, scenario, startServer, watchedPage, widget } from "./lib.mjs";

await scenario(async (env) => {
  env.servers.push(await startServer(env.config));
  env.browser = await launch();
  const { page, errors } = await watchedPage(env.browser);
  const { online, say, botSays } = widget(page);
  await page.goto(`${base}/`);
  await online();

  await say("I want a refund for order A12345, the show was cancelled");
  await botSays("Which email address");
  await say("fan@example.com");
  await botSays("order A12345 for The Lumineers is refunded");
  check(true, "a cancelled show is refunded");

  await say("check order A12345");
  await botSays("Order A12345 (refunded)");
  check(true, "the backend's data changed: the order reads refunded");

  await say("refund order B23456 please");
  await botSays("Which email address");
  await say("fan@example.com");
  await botSays("Arctic Monkeys is going ahead as planned");
  await botSays("encore.example/resale/B23456");
  check(true, "a show still on is offered resale, never a refund");

  await say("refund order Z99999");
  await botSays("Which email address");
  await say("fan@example.com");
  await botSays("couldn't find order Z99999");
  const texts = await page.locator("#usher-widget .usher-msg.bot").allTextContents();
  check(!texts.some((t) => t.includes("Z99999") && t.includes("refunded")), "an unknown order is never 'on its way'");

  await say("when do doors open for my booking");
  await botSays("What's your order number?");
  await say("B23456");
  await botSays("open at 2026-12-18 19:00");
  check(true, "doors come from the backend");

  env.backend.kill("SIGKILL");
  await new Promise((resolve) => env.backend.on("exit", resolve));
  await say("refund order D45678");
  await botSays("Which email address");
  await say("sam@example.com");
  await botSays("can't check that right now");
  await page.locator("#usher-widget .usher-chip", { hasText: "Talk to a person" }).last().waitFor({ timeout: 10000 });
  check(true, "with the backend stopped the fan is told the bot cannot check and offered a person");
  check(errors.length === 0, `no page errors (${errors.join("; ")})`);
});
