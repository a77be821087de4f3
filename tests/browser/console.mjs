// End-to-end test of human handoff in real headless Chromium: a fan in the
// web chat widget asks for a person; agents sign in to /console in their own
// browser contexts; one claims (the other cannot), replies, notes, and hands
// back; fan HTML stays inert in the console. Run through `cargo test --test browser`.
//
// Env: USHER_BIN, USHER_REPO, USHER_PORT.
import { base, check, launch, scenario, startServer, usher, watchedPage, widget } from "./lib.mjs";

await scenario(async (env) => {
  const config = env.config;
  usher(config, ["agents", "add", "alice", "--password-stdin", "--display-name", "Alice R."], "alice-password\n");
  usher(config, ["agents", "add", "bob", "--password-stdin"], "bob-password\n");
  check(usher(config, ["agents", "list"]).split("\n").includes("bob\tagent"), "usher agents add/list manage accounts");
  env.servers.push(await startServer(config));

  const anonymous = await fetch(`${base}/console/api/queue`);
  check(anonymous.status === 401, "the console API refuses requests without a session");

  const browser = (env.browser = await launch());
  const fanContext = await browser.newContext();
  const { page: fan, errors: fanErrors } = await watchedPage(fanContext);
  const chat = widget(fan);
  await fan.goto(`${base}/`);
  await chat.online();
  await chat.say("qwfp zxcv blorp");
  await chat.say("hi");
  await chat.botSays("I'm Usher");
  await chat.say("when do doors open for order B23456");
  await chat.botSays("Doors for Arctic Monkeys");
  await fan.locator("#usher-widget .usher-chip", { hasText: "Talk to a person" }).last().click();
  await chat.botSays("A person will answer here shortly");
  await chat.botSays("You're number 1 in the queue");
  check(true, "the fan asks for a person and is told their queue position");
  const conversation = await fan.evaluate(() => localStorage.getItem("usher.conversation"));
  const payloads = ['<img src=x onerror="window.__xss=1">', "<script>window.__xss=2</script>"];
  for (const p of payloads) await chat.say(p);
  // Personal data typed in the widget reaches the console redacted.
  const personal = "my email is widget.fan@example.com, card 4242 4242 4242 4242";
  await chat.say(personal);

  // `stale`: the page's live socket is cut off from the server (playwright
  // answers it), so its view lags behind like a slow agent's would.
  async function signIn(name, password, stale = false) {
    const context = await browser.newContext();
    const { page, errors } = await watchedPage(context);
    if (stale) await page.routeWebSocket(/\/console\/ws$/, () => {});
    await page.goto(`${base}/console`);
    await page.waitForSelector("#login:not([hidden])");
    await page.fill("#name", name);
    await page.fill("#password", password);
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#desk:not([hidden])");
    await page.waitForSelector("#live[data-state=online]");
    return { page, errors };
  }
  const { page: alice, errors: aliceErrors } = await signIn("alice", "alice-password");
  const { page: bob, errors: bobErrors } = await signIn("bob", "bob-password", true);
  check(true, "two agents sign in at once");

  const ticket = `.ticket[data-conversation="${conversation}"]`;
  await alice.waitForSelector(ticket);
  await bob.waitForSelector(ticket);
  check((await alice.locator(ticket).textContent()).includes("#1 waiting"), "the live queue shows the fan first");
  await alice.click(ticket);
  await bob.click(ticket);
  await alice.waitForSelector("#claim:not([hidden])");
  await bob.waitForSelector("#claim:not([hidden])");
  await alice.waitForFunction((p) => [...document.querySelectorAll("#transcript .msg.fan .text")]
    .some((e) => e.textContent === p), payloads[1]);
  await alice.waitForFunction(() => [...document.querySelectorAll("#transcript .msg.fan .text")]
    .some((e) => e.textContent.includes("[card ••••4242]")));
  const fanTexts = (await alice.locator("#transcript .msg.fan .text").allTextContents()).join(" | ");
  check(fanTexts.includes("my email is [email], card [card ••••4242]") && !fanTexts.includes("widget.fan@example.com")
    && !fanTexts.includes("4242 4242 4242 4242"), `the console shows the email and card redacted (${fanTexts})`);
  const inert = (page) => page.evaluate(() => window.__xss === undefined && !document.querySelector('img[src="x"]'));
  check(await inert(alice), "fan HTML shows as text in the console and never runs");
  const nlu = await alice.locator("#transcript .msg.fan .nlu").first().textContent();
  check(/\(\d\.\d\d\)/.test(nlu), `each fan message shows intent and confidence (${nlu})`);
  const lookups = await alice.locator("#transcript .msg.fan .lookup").allTextContents();
  check(lookups.some((l) => /^called event_times: ok \(200, \d+ ms\)$/.test(l)),
    `the agent sees what the bot looked up (${lookups.join("; ")})`);
  // Beside each fan message, why the bot did what it did (folded until asked).
  const why = alice.locator("#transcript .msg.fan details.why").first();
  check(!(await why.locator("span").first().isVisible()), "the explanation starts folded");
  await why.locator("summary").click();
  const reasons = await why.locator("span").allTextContents();
  check(reasons.some((l) => /^Rule: /.test(l)) && reasons.some((l) => /^Intents: \w+ \d\.\d\d/.test(l)),
    `the agent reads the rule and the top intents (${reasons.join("; ")})`);

  await alice.click("#claim");
  await alice.waitForSelector("#reply-box:not([hidden])");
  await bob.click("#claim");
  await bob.waitForFunction(() => document.getElementById("error").textContent.includes("alice has already claimed"));
  check(true, "a second agent cannot claim the same conversation");
  await bob.waitForFunction(() => document.getElementById("ticket-state").textContent.includes("claimed by alice"));
  check(await bob.locator("#reply-box").isHidden(), "only the owner gets a reply box");

  await chat.botSays("Alice R. from the support team has joined");
  await alice.selectOption("#canned", { label: "Refund timing" });
  check((await alice.inputValue("#reply-text")).includes("5 to 10 working days"), "a canned reply fills the reply box");
  await alice.fill("#reply-text", "Hi, Alice here. I'm looking at your order now.");
  await alice.click("#send");
  await chat.botSays("Hi, Alice here. I'm looking at your order now.");
  check(true, "the agent's reply reaches the fan in the widget");
  await chat.say("thank you, it's order A12345");
  await alice.waitForFunction(() => [...document.querySelectorAll("#transcript .msg.fan .text")]
    .some((e) => e.textContent.includes("order A12345")));
  check(true, "the fan's answer appears live in the console");
  await alice.fill("#note-text", "Order A12345 <b>VIP</b>");
  await alice.click("#add-note");
  await alice.waitForFunction(() => [...document.querySelectorAll("#transcript .note")]
    .some((e) => e.textContent.includes("Order A12345 <b>VIP</b>")));
  check(await alice.evaluate(() => !document.querySelector("#transcript .note b")), "internal notes show as text");

  await alice.click("#release");
  await chat.botSays("You're back with Usher");
  const bots = await fan.locator("#usher-widget .usher-msg.bot").count();
  await chat.say("hello");
  await fan.waitForFunction((n) => document.querySelectorAll("#usher-widget .usher-msg.bot").length > n, bots);
  const last = await fan.locator("#usher-widget .usher-msg.bot").last().textContent();
  check(last.includes("I'm Usher"), "after hand-back the bot answers the next message");

  await alice.waitForSelector("#fallbacks .fallback");
  await alice.locator("#fallbacks .fallback", { hasText: "qwfp zxcv blorp" }).locator(".copy-yaml").click();
  check((await alice.inputValue("#yaml-example")) === '      - "qwfp zxcv blorp"',
    "a top fallback message copies as a YAML intent example");
  const rate = await alice.locator('#analytics dd[data-metric="Handoff rate"]').textContent();
  check(rate === "100.0%", `analytics show the handoff rate (${rate})`);

  check(await inert(alice) && await inert(bob) && await inert(fan), "no payload ran on any page");
  const errors = [...fanErrors, ...aliceErrors, ...bobErrors];
  check(errors.length === 0, `no page errors (${errors.join("; ")})`);
});
