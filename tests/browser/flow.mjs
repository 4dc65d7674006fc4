// The issuer's web pages in headless Chromium (the system's /usr/bin/chromium, never a
// downloaded browser), driven by playwright-core, with axe-core on every page visited.
//
//   node tests/browser/flow.mjs URL SCENARIO.json [--screenshots DIR]
//
// URL: the running service (issuer/tests/web_browser.rs starts it on a loopback port).
// SCENARIO.json: the staff account, the registry person, the misspelling, another clinic's
// record id, the photo of the person's CCCD card's QR code, where to save the two PDFs
// downloaded, and the texts to expect (written by the Rust test).
// The last line printed is `RESULT {"clinic_hc1": …, "portal_hc1": …}`; the Rust test checks
// both HC1 strings with the verifier library. Exit code 1 on any failure.
//
// Every page is checked for: no serious or critical axe-core violation, no console error (a
// Content-Security-Policy violation is one), no horizontal scrolling at 360 px.

import { readFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [base, scenarioFile, ...rest] = process.argv.slice(2);
if (!base || !scenarioFile) {
  console.error('usage: node flow.mjs URL SCENARIO.json [--screenshots DIR]');
  process.exit(2);
}
const s = JSON.parse(readFileSync(scenarioFile, 'utf8'));
const shotsAt = rest.indexOf('--screenshots');
const shotsDir = shotsAt >= 0 ? rest[shotsAt + 1] : null;
if (shotsDir) mkdirSync(shotsDir, { recursive: true });

const DESKTOP = { width: 1280, height: 900 };
const MOBILE = { width: 360, height: 740 };

const profile = mkdtempSync(join(tmpdir(), 'vaxpass-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.VAXPASS_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: DESKTOP,
  locale: 'vi-VN',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));

let step = 0;
const visited = [];

function fail(message) {
  throw new Error(message);
}

function expect(condition, message) {
  if (!condition) fail(message);
}

/** The checks every page gets, and its screenshots when asked. */
async function checkPage(name) {
  step += 1;
  visited.push(name);
  if (consoleErrors.length) fail(`${name}: console errors: ${consoleErrors.join(' | ')}`);
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) fail(`${name}: axe-core: ${JSON.stringify(bad)}`);
  const label = `${String(step).padStart(2, '0')}-${name}`;
  if (shotsDir) await page.screenshot({ path: join(shotsDir, `${label}-desktop.png`), fullPage: true });
  await page.setViewportSize(MOBILE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow <= 0, `${name}: ${overflow} px of horizontal scrolling at 360 px`);
  if (shotsDir) await page.screenshot({ path: join(shotsDir, `${label}-mobile.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
}

/** The browser logs the expected error status of a page itself as a console error. */
function expectedStatus(status) {
  if (status === 200) return;
  const own = `the server responded with a status of ${status}`;
  for (let i = consoleErrors.length - 1; i >= 0; i -= 1) {
    if (consoleErrors[i].includes(own)) consoleErrors.splice(i, 1);
  }
}

async function go(path, status = 200) {
  const response = await page.goto(base + path);
  expect(response.status() === status, `GET ${path}: ${response.status()}, expected ${status}`);
  expectedStatus(status);
  return response;
}

async function submit(formSelector, status = 200) {
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.locator(`${formSelector} button[type="submit"]`).click(),
  ]);
  expect(response.status() === status, `submit ${formSelector}: ${response.status()}, expected ${status}`);
  expectedStatus(status);
  return response;
}

async function fillIntake(form, name) {
  await page.locator(`${form} #id_number`).fill(s.person.id_number);
  await page.locator(`${form} #full_name`).fill(name);
  await page.locator(`${form} #dob-day`).fill(s.person.dob_day);
  await page.locator(`${form} #dob-month`).fill(s.person.dob_month);
  await page.locator(`${form} #dob-year`).fill(s.person.dob_year);
  await page.locator(`${form} label[for="sex-${s.person.sex}"]`).click();
  await page.locator(`${form} #vaccine`).selectOption('EU/1/20/1528');
  await page.locator(`${form} #dose_number`).fill('2');
  await page.locator(`${form} #series_total`).fill('2');
  await page.locator(`${form} #date-day`).fill('1');
  await page.locator(`${form} #date-month`).fill('9');
  await page.locator(`${form} #date-year`).fill('2021');
}

async function fillLookup(lastDay) {
  await page.locator('#full_name').fill(s.person.full_name);
  await page.locator('#dob-day').fill(s.person.dob_day);
  await page.locator('#dob-month').fill(s.person.dob_month);
  await page.locator('#dob-year').fill(s.person.dob_year);
  await page.locator(`label[for="sex-${s.person.sex}"]`).click();
  await page.locator('#id_number').fill(s.person.id_number);
  await page.locator('#last-day').fill(lastDay);
  await page.locator('#last-month').fill('9');
  await page.locator('#last-year').fill('2021');
}

const intakeForm = 'form[action="/clinic/records"]';
let clinicHc1;
let portalHc1;
try {
  // A staff member signs in.
  await go('/clinic/sign-in');
  expect(await page.locator('h1').innerText() === 'Đăng nhập cơ sở tiêm chủng', 'the sign-in page in Vietnamese');
  await checkPage('sign-in');
  await page.locator('#username').fill(s.username);
  await page.locator('#password').fill(s.password);
  await submit('form[action="/clinic/sign-in"]');
  expect(new URL(page.url()).pathname === '/clinic/records/new', `after sign-in: ${page.url()}`);
  await checkPage('intake');

  // The CCCD card's QR code, uploaded as a photo: what was read is shown, the form filled.
  await page.locator('#photo').setInputFiles(s.cccd_photo);
  await submit('form[action="/clinic/records/cccd"]');
  expect(await page.locator('.cccd-read').count() === 1, 'what the card said is shown');
  expect(await page.locator(`${intakeForm} #id_number`).inputValue() === s.person.id_number, 'the ID number filled from the card');
  expect(await page.locator(`${intakeForm} #full_name`).inputValue() === s.person.full_name, 'the name filled from the card');
  expect(await page.locator(`${intakeForm} #dob-year`).inputValue() === s.person.dob_year, 'the birth year filled from the card');
  expect(await page.locator(`${intakeForm} #sex-${s.person.sex}`).isChecked(), 'the sex filled from the card');
  await checkPage('cccd-read');

  // A dose with a deliberately misspelt name: the mismatch reason in Vietnamese.
  await fillIntake(intakeForm, s.misspelt_name);
  await submit(intakeForm);
  expect(/\/clinic\/records\/\d+$/.test(page.url()), `the record page: ${page.url()}`);
  const reason = page.locator('li[data-code="NAME_DIACRITICS_ONLY"]');
  expect(await reason.count() === 1, 'the name mismatch reason is shown');
  expect((await reason.innerText()).includes(s.expect.reason_vi), `the reason in Vietnamese: ${await reason.innerText()}`);
  await checkPage('mismatch');

  // Corrected in the form filled from the record, then confirmed.
  const correction = `section.correction ${intakeForm}`;
  await page.locator(`${correction} #full_name`).fill(s.person.full_name);
  await submit(correction);
  expect(await page.getByText('Kiểm tra trước khi ký').count() === 1, 'the check page');
  await checkPage('check-and-confirm');
  await submit('form[action$="/confirm"]');
  expect(/\/certificate$/.test(page.url()), `the certificate page: ${page.url()}`);

  // The QR code (with its accessible name) and the HC1 text.
  const qr = page.locator('figure.qr[role="img"]');
  expect(await qr.count() === 1, 'one QR code');
  expect((await qr.getAttribute('aria-label')).includes(s.person.full_name), 'the QR code has an accessible name');
  expect(await qr.locator('svg').count() === 1, 'the QR code is an SVG');
  clinicHc1 = await page.locator('#hc1').inputValue();
  const uvci = (await page.locator('.cert-data dd.mono').innerText()).trim();
  expect(uvci.startsWith('URN:UVCI:'), `the UVCI on the certificate page: ${uvci}`);
  expect(clinicHc1.startsWith('HC1:'), 'the HC1 text');
  // The PDF of the paper certificate, downloaded as a person would (the Rust test renders it
  // with pdftoppm and reads its QR code).
  const [clinicPdf] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('a[href$="/certificate.pdf"]').click(),
  ]);
  expect(clinicPdf.suggestedFilename().endsWith('.pdf'), `the PDF's name: ${clinicPdf.suggestedFilename()}`);
  await clinicPdf.saveAs(s.clinic_pdf);
  await page.locator('details.hc1 summary').click();
  await checkPage('certificate');
  await page.emulateMedia({ media: 'print' });
  if (shotsDir) await page.screenshot({ path: join(shotsDir, `${String(step).padStart(2, '0')}-certificate-print.png`), fullPage: true });
  await page.emulateMedia({ media: 'screen' });

  // The clinic's records.
  await go('/clinic/records');
  expect(await page.locator('table.records tbody tr').count() >= 2, 'the records list');
  await checkPage('records');

  // Another clinic's record: a 403 page.
  await go(`/clinic/records/${s.other_clinic_record}`, 403);
  expect(await page.getByText(s.expect.forbidden_vi).count() >= 1, 'the 403 page says why');
  await checkPage('forbidden');

  // A form without its CSRF token is refused, and says so.
  await go('/clinic/records/new');
  await page.evaluate((sel) => document.querySelector(`${sel} input[name="csrf"]`).remove(), intakeForm);
  await fillIntake(intakeForm, s.person.full_name);
  await submit(intakeForm, 403);
  expect(await page.getByText(s.expect.csrf_vi).count() >= 1, 'the CSRF refusal page');
  await checkPage('csrf-refused');

  // Sign out (the session ends), then the citizen's side with no cookies at all.
  await go('/clinic/records/new');
  await submit('form.sign-out');
  expect(new URL(page.url()).pathname === '/clinic/sign-in', 'signed out');
  await go('/clinic/records/new');
  expect(new URL(page.url()).pathname === '/clinic/sign-in', 'the session is revoked');
  await context.clearCookies();

  // A citizen looks the certificate up and gets the same HC1.
  await go('/');
  await checkPage('portal');
  await fillLookup('1');
  await submit('form[action="/lookup"]');
  portalHc1 = await page.locator('#hc1').inputValue();
  expect(portalHc1 === clinicHc1, 'the portal hands out the same HC1');
  const download = page.locator('a[download="vaxpass.png"]');
  expect((await download.getAttribute('href')).startsWith('data:image/png;base64,'), 'a PNG download');
  const [portalPdf] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('a[download="vaxpass.pdf"]').click(),
  ]);
  await portalPdf.saveAs(s.portal_pdf);
  await checkPage('portal-certificate');

  // A wrong lookup: the uniform message.
  await go('/');
  await fillLookup('2');
  await submit('form[action="/lookup"]', 404);
  expect(await page.getByText(s.expect.no_match_vi).count() === 1, 'the uniform miss message');
  await checkPage('portal-miss');

  // The citizen reports a wrong dose date, then looks at the report's status.
  await go('/corrections');
  await checkPage('correction-form');
  await page.locator('#uvci').fill(uvci);
  await page.locator('#hdob-day').fill(s.person.dob_day);
  await page.locator('#hdob-month').fill(s.person.dob_month);
  await page.locator('#hdob-year').fill(s.person.dob_year);
  await page.locator('label[for="kind-dose_details"]').click();
  await page.locator('#ndate-day').fill('2');
  await page.locator('#ndate-month').fill('9');
  await page.locator('#ndate-year').fill('2021');
  await page.locator('#note').fill('Ngày tiêm trên phiếu tiêm chủng là 02/09/2021.');
  await submit('form[action="/corrections"]', 201);
  const reference = (await page.locator('#reference').innerText()).trim();
  const statusToken = (await page.locator('#status-token').innerText()).trim();
  expect(reference.startsWith('VXC-') && statusToken.length === 64, 'a reference and a status code');
  await checkPage('correction-filed');
  await go('/corrections/status');
  await page.locator('#reference').fill(reference);
  await page.locator('#token').fill(statusToken);
  await submit('form[action="/corrections/status"]');
  expect((await page.locator('#correction-status').innerText()).includes(s.expect.corr_open_vi), 'the report is open');
  await checkPage('correction-status');

  // The language switch.
  await go('/');
  await Promise.all([page.waitForNavigation(), page.locator('nav.lang-switch a').click()]);
  expect(await page.locator('html').getAttribute('lang') === 'en', 'English after the switch');
  expect(await page.locator('h1').innerText() === 'Find your vaccine passport', 'the portal in English');
  await checkPage('portal-english');

  // The clinic reviews the report and approves it: a new certificate replaces the old one.
  await go('/lang/vi?back=%2Fclinic%2Fsign-in');
  await page.locator('#username').fill(s.username);
  await page.locator('#password').fill(s.password);
  await submit('form[action="/clinic/sign-in"]');
  await go('/clinic/corrections');
  expect(await page.locator(`a[href="/clinic/corrections/${reference}"]`).count() === 1, 'the report in the clinic\'s list');
  await checkPage('corrections-list');
  await go(`/clinic/corrections/${reference}`);
  expect(await page.locator('table.change').innerText().then((t) => t.includes('02/09/2021')), 'the proposed date');
  await checkPage('correction-review');
  await submit('form[action$="/approve"]');
  expect(/\/certificate$/.test(page.url()), `the new certificate: ${page.url()}`);
  const newUvci = (await page.locator('.cert-data dd.mono').innerText()).trim();
  expect(newUvci !== uvci, 'a new UVCI');

  // The new certificate revoked (issued by mistake), from its page.
  await page.locator('details.revoke summary').click();
  await page.locator('label[for="reason-error"]').click();
  await checkPage('certificate-revoke');
  await submit('form[action$="/revoke"]');
  expect(await page.getByText(s.expect.revoked_vi).count() >= 1, 'revoked');
  await checkPage('revoked');

  // The records, searched by a name typed without diacritics.
  await go('/clinic/records');
  await page.locator('#q').fill(s.misspelt_name.toLowerCase());
  await submit('form.search');
  expect(await page.locator('table.records tbody tr').count() >= 1, 'the search finds the records');
  await checkPage('records-search');

  // A page that does not exist.
  await go('/no-such-page', 404);
  expect(await page.getByText(s.expect.not_found_vi).count() >= 1, 'the 404 page says so');
  await checkPage('not-found');
} catch (e) {
  console.error(`FAILED at step ${step + 1} (after ${visited.join(', ') || 'nothing'}): ${e.message}`);
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(1);
}

await context.close();
rmSync(profile, { recursive: true, force: true });
console.log(`pages checked: ${visited.join(', ')}`);
console.log(`RESULT ${JSON.stringify({ clinic_hc1: clinicHc1, portal_hc1: portalHc1 })}`);
