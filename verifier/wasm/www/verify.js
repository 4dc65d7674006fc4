// The browser verifier's page: lists fetched once and kept (Cache API), every check in wasm
// on this device, three verdicts (valid / not valid with the reason / cannot decide).
import init, { Verifier, decodePicture, decodeRgba } from "./pkg/vaxpass_verifier_wasm.js";

const LIST_CACHE = "vaxpass-lists-v1";
const $ = (sel) => document.querySelector(sel);

const page = {
  lang: localStorage.getItem("vaxpass-lang") || "vi",
  dict: {},
  config: null,
  verifier: null,
  trustReport: null,
  revocationReport: null,
  camera: null,
};

function t(key, vars = {}) {
  const text = page.dict[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ""));
}

async function setLanguage(lang) {
  const response = await fetch(`i18n/${lang}.json`);
  page.dict = await response.json();
  page.lang = lang;
  localStorage.setItem("vaxpass-lang", lang);
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const b of document.querySelectorAll("button.lang")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  }
  $("#camera").textContent = t(page.camera ? "camera_stop" : "camera_start");
  showLists();
  if (page.lastReport) show(page.lastReport);
}

function age(seconds) {
  if (seconds < 3600) return t("minutes", { n: Math.max(0, Math.round(seconds / 60)) });
  if (seconds < 2 * 86400) return t("hours", { n: Math.round(seconds / 3600) });
  return t("days", { n: Math.round(seconds / 86400) });
}

function showLists() {
  const tl = page.trustReport;
  $("#trust-status").textContent = page.trustError
    ? t("list_refused", { why: page.trustError })
    : tl
      ? t("trust_list", {
          country: tl.issuer_country,
          sequence: tl.sequence,
          age: age(tl.age_seconds),
          signers: tl.entries,
          stale: tl.stale ? t("stale") : "",
        })
      : t("no_trust_list");
  const rl = page.revocationReport;
  $("#revocation-status").textContent = page.revocationError
    ? t("list_refused", { why: page.revocationError })
    : rl
      ? t("revocation_list", {
          country: rl.issuer_country,
          sequence: rl.sequence,
          age: age(rl.age_seconds),
          entries: rl.entries,
          stale: rl.freshness !== "fresh" ? t("stale") : "",
        })
      : t("no_revocations");
  const ru = page.rulesReport;
  $("#rules-status").textContent = !page.config?.rules
    ? ""
    : page.rulesError
      ? t("list_refused", { why: page.rulesError })
      : ru
        ? t("rules_list", {
            country: ru.country,
            sequence: ru.sequence,
            age: age(ru.age_seconds),
            count: ru.rules,
          })
        : t("no_rules");
}

// The bytes at `url`: from the network when it answers (then kept), else the kept copy.
async function fetchKept(url) {
  const cache = await caches.open(LIST_CACHE);
  try {
    const response = await fetch(url, { cache: "no-store" });
    if (response.ok) {
      await cache.put(url, response.clone());
      return new Uint8Array(await response.arrayBuffer());
    }
    if (response.status === 404) return null;
  } catch {
    // Offline: fall back to the kept copy.
  }
  const kept = await cache.match(url);
  return kept ? new Uint8Array(await kept.arrayBuffer()) : null;
}

// One signed list: fetched (or the kept copy), verified in wasm against the pinned anchor by
// `load`, its sequence remembered so that an older one is refused later (rollback).
async function loadList(name, url, anchor, load) {
  page[`${name}Report`] = null;
  page[`${name}Error`] = null;
  const bytes = url ? await fetchKept(url) : null;
  if (!bytes || !anchor) return;
  try {
    const seen = BigInt(localStorage.getItem(`vaxpass-${name}-seq`) || "0");
    page[`${name}Report`] = JSON.parse(load(bytes, anchor, Date.now(), seen));
    localStorage.setItem(`vaxpass-${name}-seq`, String(page[`${name}Report`].sequence));
  } catch (e) {
    page[`${name}Error`] = e.message;
  }
}

async function loadLists() {
  const verifier = new Verifier();
  const anchor = await fetchKept(page.config.anchor);
  await loadList("trust", page.config.trustList, anchor, (...a) => verifier.loadTrustList(...a));
  await loadList("revocation", page.config.revocations, anchor, (...a) => verifier.loadRevocations(...a));
  await loadList("rules", page.config.rules, anchor, (...a) => verifier.loadSignedRules(...a));
  page.verifier = verifier;
  showLists();
}

const UNDECIDED = new Set(["KID_UNKNOWN", "REVOCATION_UNKNOWN"]);

function show(report, source = page.lastSource) {
  page.lastReport = report;
  page.lastSource = source;
  const box = $("#verdict");
  const code = report.failure?.code;
  const state = report.valid ? "valid" : UNDECIDED.has(code) ? "undecided" : "invalid";
  box.className = `verdict ${state}`;
  box.dataset.state = state;
  box.dataset.code = code ?? "";
  $(".state", box).textContent = t(state);
  let reason = report.valid
    ? ""
    : page.dict[`reason_${code}`]
      ? t(`reason_${code}`)
      : `${t("reason_other")} (${code})`;
  const revokedFor = report.revocation?.reason;
  if (code === "REVOKED" && revokedFor) reason += ` ${t(`revoked_${revokedFor}`)}`;
  $(".reason", box).textContent = reason;
  box.dataset.revocation = report.revocation?.status ?? "";
  const rev = report.revocation;
  $(".revocation", box).textContent = !report.payload_verified
    ? ""
    : !rev
      ? t("no_revocation_check")
      : rev.status === "NOT_REVOKED"
        ? t("not_revoked", { sequence: rev.list.sequence })
        : "";
  const scanned = $(".scanned", box);
  scanned.hidden = !source;
  scanned.textContent = source ? t(`scanned_${source}`) : "";
  const holder = $(".holder", box);
  const p = report.payload_verified ? report.payload : null;
  holder.hidden = !p;
  if (p) {
    const n = p.nam || {};
    const name = [n.fn, n.gn].filter(Boolean).join(" ");
    const latin = [n.fnt, n.gnt].filter(Boolean).join(" ").replace(/</g, " ");
    $(".name", holder).textContent = latin && latin !== name ? `${name} (${latin})` : name;
    $(".dob", holder).textContent = p.dob || "";
    const v = p.v?.[0];
    const te = p.t?.[0];
    const r = p.r?.[0];
    $(".details", holder).textContent = v
      ? t("vaccination", v)
      : te
        ? t("test", te)
        : r
          ? t("recovery", r)
          : "";
  }
}

// The signature checked by the browser's WebCrypto (native speed), every other check in wasm;
// the pure-wasm check when WebCrypto is missing (not a secure context) or cannot verify the
// signature, which then also says why it is not valid. Same verdict either way.
const webCryptoKeys = new Map();
const WEBCRYPTO = {
  ES256: { key: { name: "ECDSA", namedCurve: "P-256" }, verify: { name: "ECDSA", hash: "SHA-256" } },
  PS256: { key: { name: "RSA-PSS", hash: "SHA-256" }, verify: { name: "RSA-PSS", saltLength: 32 } },
};

async function cryptoKey(alg, spki) {
  const id = `${alg}:${btoa(String.fromCharCode(...spki))}`;
  let key = webCryptoKeys.get(id);
  if (!key) {
    key = await crypto.subtle.importKey("spki", spki, WEBCRYPTO[alg].key, false, ["verify"]);
    webCryptoKeys.set(id, key);
  }
  return key;
}

async function verifyCode(verifier, text) {
  const input = globalThis.crypto?.subtle ? verifier.signatureInput(text) : undefined;
  if (input) {
    try {
      const alg = input.alg;
      if (WEBCRYPTO[alg]) {
        const [tbs, signature] = [input.tbs, input.signature];
        for (let i = 0; i < input.keyCount; i++) {
          const key = await cryptoKey(alg, input.key(i));
          if (await crypto.subtle.verify(WEBCRYPTO[alg].verify, key, signature, tbs)) {
            return JSON.parse(verifier.checkWithVerifiedSignature(text, Date.now(), i));
          }
        }
      }
    } catch {
      // A key WebCrypto does not take: the wasm check decides.
    } finally {
      input.free();
    }
  }
  return JSON.parse(verifier.check(text, Date.now()));
}

// For tests and pages that embed this one: the check the page makes.
window.vaxpassVerify = { verifyCode, wasm: { Verifier, decodeRgba } };

async function checkText(text, source = "text") {
  if (!page.verifier) return;
  show(await verifyCode(page.verifier, text.trim()), source);
}

async function checkFile(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text;
  try {
    text = decodePicture(bytes);
  } catch {
    // No readable code: the report says so.
    show(JSON.parse(page.verifier.checkPicture(bytes, Date.now())), "picture");
    return;
  }
  await checkText(text, "picture");
}

async function startCamera() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment", width: { ideal: 1280 } },
      audio: false,
    });
  } catch {
    $(".reason", $("#verdict")).textContent = t("camera_unavailable");
    return;
  }
  const video = $("#video");
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const detector =
    "BarcodeDetector" in window
      ? new window.BarcodeDetector({ formats: ["qr_code", "aztec"] })
      : null;
  page.camera = { stream, timer: null };
  $("#camera").textContent = t("camera_stop");
  const scan = async () => {
    if (!page.camera) return;
    if (video.videoWidth > 0) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0);
      let text = null;
      if (detector) {
        const codes = await detector.detect(canvas).catch(() => []);
        text = codes.map((c) => c.rawValue).find((v) => v.startsWith("HC1:")) ?? null;
      }
      if (text === null) {
        const frame = context.getImageData(0, 0, canvas.width, canvas.height);
        try {
          text = decodeRgba(new Uint8Array(frame.data.buffer), frame.width, frame.height);
        } catch {
          text = null; // No code in this frame: try the next.
        }
      }
      if (text) {
        stopCamera();
        await checkText(text, "camera");
        return;
      }
    }
    page.camera.timer = setTimeout(scan, 150);
  };
  scan();
}

function stopCamera() {
  if (!page.camera) return;
  clearTimeout(page.camera.timer);
  for (const track of page.camera.stream.getTracks()) track.stop();
  page.camera = null;
  $("#video").hidden = true;
  $("#camera").textContent = t("camera_start");
}

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").catch(() => {});
  }
  const [config] = await Promise.all([
    fetch("config.json").then((r) => r.json()),
    init(),
  ]);
  page.config = config;
  await setLanguage(page.lang);
  await loadLists();
  for (const b of document.querySelectorAll("button.lang")) {
    b.addEventListener("click", () => setLanguage(b.dataset.lang));
  }
  $("#text-form").addEventListener("submit", (e) => {
    e.preventDefault();
    checkText($("#hc1").value);
  });
  $("#picture").addEventListener("change", (e) => {
    const file = e.target.files?.[0];
    if (file) checkFile(file);
  });
  $("#camera").addEventListener("click", () => (page.camera ? stopCamera() : startCamera()));
  $("#refresh").addEventListener("click", () => loadLists());
  document.body.dataset.ready = "true";
}

main();
