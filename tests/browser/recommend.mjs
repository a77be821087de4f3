// Recommendations in the widget, in real headless Chromium: a fan with a
// history at the demo backend asks what to watch and gets suggestion chips
// with a reason each, never what they already watched; "Not for me" brings
// a different set; a title the catalogue does not have gets a question back.
import { base, check, launch, repo, scenario, startServer, watchedPage, widget } from "./lib.mjs";
import { join } from "node:path";

await scenario(async (env) => {
  env.servers.push(await startServer(env.config));
  env.browser = await launch();
  const { page, errors } = await watchedPage(env.browser);
  const { online, say, botSays } = widget(page);
  await page.goto(`${base}/`);
  await online();

  const chips = async () => {
    // The chips under the last bot message.
    const last = page.locator("#usher-widget .usher-chips").last();
    await last.locator(".usher-chip").first().waitFor({ timeout: 20000 });
    return last.locator(".usher-chip").allTextContents();
  };

  await say("I'm fan@example.com, what should I watch next?");
  await botSays("You might like these:");
  await botSays("because you watched");
  const first = await chips();
  check(first.at(-1) === "Not for me", `the last chip is "Not for me" (${first.join(", ")})`);
  check(first.length >= 4 && first.length <= 6, `3-5 suggestions (${first.length - 1})`);
  for (const watched of ["Signal from Vega", "The Long Orbit", "Quiet Planet"]) {
    check(!first.includes(watched), `${watched}, already watched, is not suggested`);
  }

  await page.locator("#usher-widget .usher-chips").last().locator(".usher-chip", { hasText: "Not for me" }).click();
  await botSays("Fair enough, here's something different:");
  const second = await chips();
  const overlap = second.filter((t) => t !== "Not for me" && first.includes(t));
  check(overlap.length === 0, `"Not for me" brings a different set (${first.join(", ")} then ${second.join(", ")})`);

  await say("anything like Xyzzy?");
  await botSays("I don't know a title called \"Xyzzy\"");
  check(true, "an unknown title gets a question, not an error");
  check(errors.length === 0, `no page errors (${errors.join("; ")})`);
}, `recommendations: {catalogue: ${join(repo, "catalogue/encore.yaml")}}\n`);
