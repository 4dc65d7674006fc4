// Keeps the page itself (HTML, script, wasm, catalogues, anchor) for offline use: served from
// the cache, refreshed in the background. The lists are kept by the page (verify.js).
const SHELL = "vaxpass-verify-shell-v1";
const FILES = [
  "./",
  "index.html",
  "verify.js",
  "verify.css",
  "config.json",
  "manifest.webmanifest",
  "i18n/vi.json",
  "i18n/en.json",
  "pkg/vaxpass_verifier_wasm.js",
  "pkg/vaxpass_verifier_wasm_bg.wasm",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  const scope = new URL(self.registration.scope);
  const path = url.pathname.slice(scope.pathname.length);
  if (!FILES.includes(path) && path !== "") return;
  event.respondWith(
    caches.open(SHELL).then(async (cache) => {
      const kept = await cache.match(event.request, { ignoreSearch: true });
      const fresh = fetch(event.request)
        .then((response) => {
          if (response.ok) cache.put(event.request, response.clone());
          return response;
        })
        .catch(() => null);
      return kept ?? (await fresh) ?? Response.error();
    }),
  );
});
