// Two chat pages (examples/chat.html) in headless Chromium behind nginx, talking across two
// `chat --redis` instances; one instance is then killed and a page must reconnect by itself.
// Driven by tests/deploy.rs, which runs Redis, the instances and nginx:
//
//   node chat_pages.mjs http://127.0.0.1:PORT/
//
// Protocol on stdout/stdin: prints "KILL <instance port>" once both pages talk, and waits for a
// line "killed" on stdin; prints "PASS" at the end, or "FAIL why" (and exits 1).
// Chromium: WSPROTO_CHROMIUM or Debian's /usr/bin/chromium (never a download).
import readline from "node:readline";
import { chromium } from "playwright-core";

const base = process.argv[2];
const WAIT = { timeout: 20000 };
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

// The name the page was given ("you are guest3@8081"), waiting for the `n`-th one.
async function name(page, n = 1) {
  await page.waitForFunction(
    (n) => [...document.querySelectorAll("#log p")].filter((p) => p.textContent.startsWith("you are ")).length >= n,
    n, WAIT);
  const all = await page.$$eval("#log p", (ps) => ps.map((p) => p.textContent).filter((t) => t.startsWith("you are ")));
  return all[n - 1].slice("you are ".length);
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

async function hears(page, line) {
  await page.waitForFunction(
    (line) => [...document.querySelectorAll("#log p")].some((p) => p.textContent === line), line, WAIT);
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.WSPROTO_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const one = await browser.newPage();
  const two = await browser.newPage();
  await one.goto(base);
  const nameOne = await name(one);
  await two.goto(base);
  const nameTwo = await name(two);
  const instance = (n) => n.split("@")[1];
  if (instance(nameOne) === instance(nameTwo)) throw new Error(`both pages on one instance: ${nameOne}, ${nameTwo}`);

  // A page on one instance sees what a page on the other says, both ways.
  await say(one, "hello from one");
  await hears(two, `${nameOne}: hello from one`);
  await say(two, "hello from two");
  await hears(one, `${nameTwo}: hello from two`);

  // Page one's instance dies: the page reconnects (with back-off) through nginx to the other.
  console.log(`KILL ${instance(nameOne)}`);
  if ((await nextLine()) !== "killed") throw new Error("expected 'killed'");
  const again = await name(one, 2);
  if (instance(again) !== instance(nameTwo)) throw new Error(`reconnected as ${again}`);
  const status = await one.textContent("#status");
  if (status !== "connected") throw new Error(`status after reconnecting: ${status}`);
  await say(two, "after the kill");
  await hears(one, `${nameTwo}: after the kill`);
  await say(one, "back again");
  await hears(two, `${again}: back again`);
  console.log("PASS");
} catch (e) {
  console.log(`FAIL ${e.message.split("\n")[0]}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  lines.close();
}
