// One run of the browser verifier page in headless Chromium (driven by
// tests/tests/browser_verifier.rs): load it from the issuer's /verify/ over HTTPS, wait for the
// service worker, print `ONLINE` and wait for a line on standard input (the test stops the
// issuer meanwhile), switch the network off, reload the page from its service worker, scan the
// fake camera's video, and print the verdict as one JSON line.
//
//   node verify-page.mjs --url URL --video FILE.y4m --screenshot FILE.png --hc1 TEXT
//        [--spki BASE64] [--a11y]
//
// --spki: the SHA-256 of the issuer's TLS key (SubjectPublicKeyInfo), which Chromium is told to
// accept (`--ignore-certificate-errors-spki-list`): the connection is real TLS, the certificate
// is the test's own. --a11y: also run axe-core on the page (idle and with the verdict), work it
// with the keyboard alone (tab to each control, paste the code, check with Enter), then move the
// page's clock 50 hours on and check the code again (stale lists: --screenshot-later FILE).
//
// Also measured in this browser: a full check of --hc1 in pure wasm and by the page's path (the
// signature by WebCrypto, the rest in wasm), µs, mean of 200 each, with whether both give the
// same report; and the wasm decoding of one 640×480 camera frame (ms).
import { parseArgs } from "node:util";
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    video: { type: "string" },
    screenshot: { type: "string" },
    hc1: { type: "string" },
    spki: { type: "string" },
    a11y: { type: "boolean", default: false },
    "screenshot-later": { type: "string" },
  },
});
for (const k of ["url", "video", "screenshot", "hc1"]) {
  if (!opt[k]) {
    console.error(`--${k} is required`);
    process.exit(2);
  }
}
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const stdin = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => stdin.once("line", resolve));

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
    ...(opt.spki ? [`--ignore-certificate-errors-spki-list=${opt.spki}`] : []),
  ],
  permissions: ["camera"],
  viewport: { width: 420, height: 900 },
});
const failures = [];

/** axe-core on the page as it is: the violations of WCAG 2.1 A/AA and best practice. */
async function axe(page) {
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      resultTypes: ["violations"],
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3),
    }));
  });
}

const verdictOf = (page) =>
  page.evaluate(() => {
    const box = document.querySelector("#verdict");
    return {
      state: box.dataset.state,
      code: box.dataset.code,
      revocation: box.dataset.revocation,
      text: box.querySelector(".state").textContent,
      reason: box.querySelector(".reason").textContent,
      revocation_text: box.querySelector(".revocation").textContent,
      scanned: box.querySelector(".scanned").textContent,
      live: box.getAttribute("aria-live"),
      holder: box.querySelector(".holder").hidden ? "" : box.querySelector(".name").textContent,
    };
  });

try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  // A console error is a failure (a Content-Security-Policy violation is one), except the
  // network errors of the fetches the page makes offline on purpose.
  page.on("console", (m) => {
    if (m.type() === "error" && !/net::ERR_|Failed to fetch|Failed to load resource/.test(m.text())) {
      failures.push(`console error: ${m.text()}`);
    }
  });
  const first = await page.goto(opt.url);
  if (!first.ok()) throw new Error(`${opt.url}: HTTP ${first.status()}`);
  const secure = await page.evaluate(() => window.isSecureContext && location.protocol === "https:");
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  // The service worker installed and holding the page's files.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });

  // The test stops the issuer; then DevTools offline too.
  console.log("ONLINE");
  await nextLine();
  await context.setOffline(true);
  const started = Date.now();
  await page.reload();
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  const offlineReadyMs = Date.now() - started;
  const offline = await page.evaluate(() => !navigator.onLine);
  const lists = {
    trust: await page.textContent("#trust-status"),
    revocations: await page.textContent("#revocation-status"),
    rules: await page.textContent("#rules-status"),
  };

  const a11y = {};
  if (opt.a11y) a11y.idle = await axe(page);

  await page.click("#camera");
  await page.waitForSelector("#verdict[data-state]", { timeout: 30000 });
  const verdict = await verdictOf(page);
  await page.screenshot({ path: opt.screenshot, fullPage: true });

  if (opt.a11y) {
    a11y.verdict = await axe(page);
    // The keyboard alone: Tab from the top reaches every control, in order; the code pasted
    // into the text box and checked with Enter gives the same verdict.
    await page.evaluate(() => {
      document.activeElement?.blur();
      document.querySelector("#verdict").removeAttribute("data-state");
    });
    // Tabbing starts from the top: a click on the header's empty corner.
    await page.mouse.click(2, 2);
    const order = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press("Tab");
      order.push(
        await page.evaluate(() => {
          const el = document.activeElement;
          const name = el?.id || el?.dataset?.lang || el?.getAttribute("type") || el?.tagName;
          const label = el?.labels?.[0]?.textContent || el?.getAttribute("aria-label") || el?.textContent;
          return `${name}|${(label || "").trim()}`;
        }),
      );
    }
    a11y.tab_order = order;
    await page.mouse.click(2, 2);
    let tabs = 0;
    while (tabs < 12 && (await page.evaluate(() => document.activeElement?.id)) !== "hc1") {
      await page.keyboard.press("Tab");
      tabs++;
    }
    await page.keyboard.insertText(opt.hc1);
    await page.keyboard.press("Tab"); // the Check button
    await page.keyboard.press("Enter");
    await page.waitForSelector("#verdict[data-state]", { timeout: 10000 });
    a11y.keyboard_verdict = (await verdictOf(page)).state;
  }

  // Two days and two hours later (the page's clock only), still offline: the trust list is
  // stale but within its grace period, the revocation list expired beyond its own: the same
  // code now reads "cannot decide", not valid.
  let later = null;
  if (opt.a11y) {
    await page.clock.setFixedTime(new Date(Date.now() + 50 * 3600 * 1000));
    await page.reload();
    await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
    await page.fill("#hc1", opt.hc1);
    await page.click("#text-form button[type=submit]");
    await page.waitForSelector("#verdict[data-state]", { timeout: 10000 });
    later = {
      ...(await verdictOf(page)),
      trust: await page.textContent("#trust-status"),
      revocations: await page.textContent("#revocation-status"),
    };
    if (opt["screenshot-later"]) await page.screenshot({ path: opt["screenshot-later"], fullPage: true });
  }

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
    const pure = JSON.parse(v.check(hc1, Date.now()));
    const rounds = 200;
    let t = performance.now();
    for (let i = 0; i < rounds; i++) v.check(hc1, Date.now());
    const checkUs = ((performance.now() - t) * 1000) / rounds;
    // The page's path: the signature by WebCrypto, the rest in wasm (same verifier, same lists).
    const { verifyCode } = window.vaxpassVerify;
    const fast = await verifyCode(v, hc1);
    t = performance.now();
    for (let i = 0; i < rounds; i++) await verifyCode(v, hc1);
    const webCryptoUs = ((performance.now() - t) * 1000) / rounds;
    // Whether WebCrypto itself verified this code's signature (not the wasm fallback).
    const input = v.signatureInput(hc1);
    let webCryptoVerified = false;
    if (input && input.alg === "ES256") {
      const key = await crypto.subtle.importKey("spki", input.key(0), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      webCryptoVerified = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, input.signature, input.tbs);
    }
    // Equal but for the clock (each call reads Date.now()): in checked_at and in messages.
    const clockless = (r) =>
      JSON.stringify({ ...r, checked_at: "" }).replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, "TIME");
    const same = clockless(pure) === clockless(fast);
    // Where the time goes on that path: the wasm before, WebCrypto, the wasm after (µs each).
    const split = {};
    if (webCryptoVerified) {
      const key = await crypto.subtle.importKey("spki", input.key(0), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      const [tbs, sig] = [input.tbs, input.signature];
      const time = async (f) => {
        const t0 = performance.now();
        for (let i = 0; i < rounds; i++) await f();
        return ((performance.now() - t0) * 1000) / rounds;
      };
      split.signature_input_us = await time(() => v.signatureInput(hc1).free());
      split.webcrypto_verify_us = await time(() => crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, sig, tbs));
      split.checks_after_us = await time(() => v.checkWithVerifiedSignature(hc1, Date.now(), 0));
    }
    input?.free();
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
    return { checkUs, webCryptoUs, webCryptoVerified, same, split, frameMs: times[Math.floor(times.length / 2)] };
  }, opt.hc1);

  console.log(
    JSON.stringify({
      ...verdict,
      secure,
      offline,
      lists,
      a11y,
      later,
      offline_ready_ms: offlineReadyMs,
      wasm_check_us: figures.checkUs,
      webcrypto_check_us: figures.webCryptoUs,
      webcrypto_verified: figures.webCryptoVerified,
      same_report: figures.same,
      webcrypto_split: figures.split,
      frame_decode_ms: Number(figures.frameMs.toFixed(1)),
      failures,
    }),
  );
} finally {
  stdin.close();
  await context.close();
}
process.exit(failures.length === 0 ? 0 : 1);
