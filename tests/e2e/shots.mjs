// Screenshots of the dashboard for a person to look at: light and dark,
// desktop and phone, a card expanded, the history view, the new-task form.
//   node tests/e2e/shots.mjs        -> build/e2e-artifacts/shots/*.png
import { Daemon, launchBrowser, artifactPath, sleep } from "./lib.mjs";
import { seedDemo } from "./seed.mjs";

const d = await new Daemon().start();
let ctx;
try {
  const ids = await seedDemo(d);
  const shots = [
    { name: "desktop-light", scheme: "light", viewport: { width: 1280, height: 1000 } },
    { name: "desktop-dark", scheme: "dark", viewport: { width: 1280, height: 1000 } },
    { name: "phone-light", scheme: "light", viewport: { width: 390, height: 844 }, mobile: true },
    { name: "phone-dark", scheme: "dark", viewport: { width: 390, height: 844 }, mobile: true },
  ];
  for (const s of shots) {
    ctx = await launchBrowser({ colorScheme: s.scheme, viewport: s.viewport, deviceScaleFactor: s.mobile ? 2 : 1, isMobile: !!s.mobile, hasTouch: !!s.mobile });
    const page = ctx.pages()[0] || await ctx.newPage();
    await page.goto(d.loginUrl);
    await page.waitForSelector(`#task-${ids.pull}`);
    await sleep(1200);
    await page.screenshot({ path: artifactPath(`shots/${s.name}.png`), fullPage: false });
    await page.click(`#task-${ids.bench} .toggle`);
    await page.waitForSelector(`#task-${ids.bench} .log .ts`);
    await sleep(600);
    await page.locator(`#task-${ids.bench}`).screenshot({ path: artifactPath(`shots/${s.name}-expanded.png`) });
    await page.click("#tab-history");
    await page.waitForSelector("#chart-outcomes svg");
    await sleep(500);
    await page.screenshot({ path: artifactPath(`shots/${s.name}-history.png`), fullPage: true });
    await page.click("#tab-tasks");
    await page.click("#new-btn");
    await page.fill("#n-cmd", "make -j4 'build all'");
    await sleep(300);
    await page.screenshot({ path: artifactPath(`shots/${s.name}-new.png`) });
    await ctx.close();
    ctx = null;
  }
  console.log(`screenshots in ${artifactPath("shots")}`);
} finally {
  if (ctx) await ctx.close();
  await d.stop();
  d.cleanup();
}
