// One run of the browser verifier page in headless Chromium (driven by
// tests/tests/browser_verifier.rs): load it online, switch the network off, reload it from its
// service worker, scan the fake camera's video, and print the verdict as one JSON line.
//
//   node verify-page.mjs --url URL --offline-url URL --video FILE.y4m --screenshot FILE.png --hc1 TEXT
//
// Also measured in this browser: a full check of --hc1 in wasm (µs, mean of 200) and the wasm
// decoding of one 640×480 camera frame (ms).
import { parseArgs } from "node:util";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    "offline-url": { type: "string" },
    video: { type: "string" },
    screenshot: { type: "string" },
    hc1: { type: "string" },
  },
});
for (const k of ["url", "offline-url", "video", "screenshot", "hc1"]) {
  if (!opt[k]) {
    console.error(`--${k} is required`);
    process.exit(2);
  }
}

const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "vaxpass-chromium-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-video-capture=${opt.video}`,
  ],
  permissions: ["camera"],
  viewport: { width: 420, height: 900 },
});
const failures = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  await page.goto(opt.url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  // The service worker installed and holding the page's files.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });

  // Network off: DevTools offline, and the server answers nothing more.
  await page.evaluate((u) => fetch(u), opt["offline-url"]);
  await context.setOffline(true);
  const started = Date.now();
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  const offlineReadyMs = Date.now() - started;
  const offline = await page.evaluate(() => !navigator.onLine);
  const lists = await page.textContent("#trust-status");

  await page.click("#camera");
  await page.waitForSelector("#verdict[data-state]", { timeout: 30000 });
  const verdict = await page.evaluate(() => {
    const box = document.querySelector("#verdict");
    return {
      state: box.dataset.state,
      code: box.dataset.code,
      text: box.querySelector(".state").textContent,
      reason: box.querySelector(".reason").textContent,
      holder: box.querySelector(".holder").hidden ? "" : box.querySelector(".name").textContent,
    };
  });
  await page.screenshot({ path: opt.screenshot, fullPage: true });

  // Figures, in this browser: a full check in wasm, and one 640×480 frame decoded in wasm.
  const figures = await page.evaluate(async (hc1) => {
    const wasm = await import("./pkg/vaxpass_verifier_wasm.js");
    const [anchor, list] = await Promise.all(
      ["anchor.pem", "../trust-list"].map(async (u) => {
        const kept = await caches.open("vaxpass-lists-v1").then((c) => c.match(u));
        return new Uint8Array(await kept.arrayBuffer());
      }),
    );
    const v = new wasm.Verifier();
    v.loadTrustList(list, anchor, Date.now());
    v.check(hc1, Date.now());
    const rounds = 200;
    let t = performance.now();
    for (let i = 0; i < rounds; i++) v.check(hc1, Date.now());
    const checkUs = ((performance.now() - t) * 1000) / rounds;
    const video = document.createElement("video");
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    await video.play();
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 480;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, 640, 480);
    const frame = ctx.getImageData(0, 0, 640, 480);
    const pixels = new Uint8Array(frame.data.buffer);
    wasm.decodeRgba(pixels, 640, 480);
    const times = [];
    for (let i = 0; i < 10; i++) {
      t = performance.now();
      wasm.decodeRgba(pixels, 640, 480);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    for (const track of video.srcObject.getTracks()) track.stop();
    return { checkUs, frameMs: times[Math.floor(times.length / 2)] };
  }, opt.hc1);

  console.log(
    JSON.stringify({
      ...verdict,
      offline,
      lists,
      offline_ready_ms: offlineReadyMs,
      wasm_check_us: figures.checkUs,
      frame_decode_ms: Number(figures.frameMs.toFixed(1)),
      failures,
    }),
  );
} finally {
  await context.close();
}
process.exit(failures.length === 0 ? 0 : 1);
