// Lighthouse (mobile preset) on the H5 build's customer list and funnel board,
// signed in. Run by ../scripts/bench-app, which starts `crm serve --demo` on a
// fresh database and passes BENCH_APP_URL, BENCH_APP_TENANT, BENCH_APP_LOGIN,
// BENCH_APP_PASSWORD and BENCH_APP_OUT.
//
// The pages need the session the app keeps in localStorage ('crm.session').
// Playwright opens Chromium with a persistent profile (its context is the
// browser's default one) and a remote-debugging port, signs in through the
// app's own 登录 page, and Lighthouse then audits each page on that same
// browser through the port with disableStorageReset, so the session stays.
// The first-load JavaScript is every script a fresh load of the page fetches,
// gzipped here (level 9) from the bodies the service sent.

import { Buffer } from 'node:buffer'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'

import { chromium } from '@playwright/test'
import lighthouse from 'lighthouse'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run ../scripts/bench-app`)
  return value
}
const base = env('BENCH_APP_URL')
const out = env('BENCH_APP_OUT')
const user = {
  tenant: env('BENCH_APP_TENANT'),
  login: env('BENCH_APP_LOGIN'),
  password: env('BENCH_APP_PASSWORD'),
}
const chromePath = process.env.CHROME_PATH ?? '/usr/bin/chromium'

const PAGES = [
  { name: 'customers', title: '客户列表', url: `${base}/app/#/pages/customers/index`, ready: '.customer' },
  { name: 'funnel', title: '销售漏斗', url: `${base}/app/#/pages/funnel/index`, ready: '.card' },
]

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })

const port = await freePort()
const profile = mkdtempSync(path.join(tmpdir(), 'crm-bench-app-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromePath,
  headless: false, // the flags below: new headless, as Lighthouse's docs ask
  args: ['--headless=new', '--no-sandbox', `--remote-debugging-port=${port}`],
  viewport: { width: 390, height: 844 },
  locale: 'zh-CN',
})

const results = []
try {
  const page = context.pages()[0] ?? (await context.newPage())
  // sign in through the app: it stores the session its own way
  await page.goto(`${base}/app/#/pages/login/index`)
  await page.locator('#login-tenant_id input').fill(user.tenant)
  await page.locator('#login-login input').fill(user.login)
  await page.locator('#login-password input').fill(user.password)
  await page.getByLabel('登录', { exact: true }).click()
  await page.waitForURL(/#\/pages\/customers\/index/)
  await page.locator('.customer').first().waitFor()

  for (const target of PAGES) {
    // first-load JavaScript: a fresh load with the cache off
    const fresh = await context.newPage()
    const cdp = await context.newCDPSession(fresh)
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true })
    const scripts = new Map()
    fresh.on('response', (response) => {
      if (response.request().resourceType() === 'script') {
        scripts.set(response.url(), response.body().catch(() => Buffer.alloc(0)))
      }
    })
    await fresh.goto(target.url)
    await fresh.locator(target.ready).first().waitFor()
    let raw = 0
    let gzip = 0
    for (const body of scripts.values()) {
      const bytes = await body
      raw += bytes.length
      gzip += gzipSync(bytes, { level: 9 }).length
    }
    await fresh.close()

    const runner = await lighthouse(
      target.url,
      {
        port,
        output: ['html', 'json'],
        logLevel: 'error',
        disableStorageReset: true,
        onlyCategories: ['performance', 'accessibility', 'best-practices'],
      },
      undefined, // the default config: the mobile preset (Moto G Power, simulated slow 4G)
    )
    if (runner === undefined) throw new Error(`Lighthouse gave no result for ${target.url}`)
    const [html, json] = runner.report
    writeFileSync(path.join(out, `lighthouse-${target.name}.html`), html)
    writeFileSync(path.join(out, `lighthouse-${target.name}.json`), json)
    const lhr = runner.lhr
    if (lhr.runtimeError) throw new Error(`Lighthouse: ${lhr.runtimeError.message}`)
    if (!lhr.finalDisplayedUrl.includes(target.url.split('#')[1])) {
      throw new Error(`Lighthouse ended on ${lhr.finalDisplayedUrl}, not ${target.url}: signed out?`)
    }
    const score = (id) => Math.round((lhr.categories[id]?.score ?? 0) * 100)
    const audit = (id) => lhr.audits[id]?.numericValue
    const failed = Object.values(lhr.categories.accessibility.auditRefs)
      .map((ref) => lhr.audits[ref.id])
      .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode !== 'notApplicable')
      .map((a) => a.id)
    results.push({
      page: target.name,
      url: target.url,
      performance: score('performance'),
      accessibility: score('accessibility'),
      best_practices: score('best-practices'),
      fcp_ms: Math.round(audit('first-contentful-paint') ?? NaN),
      lcp_ms: Math.round(audit('largest-contentful-paint') ?? NaN),
      tbt_ms: Math.round(audit('total-blocking-time') ?? NaN),
      cls: Number((audit('cumulative-layout-shift') ?? NaN).toFixed(3)),
      first_load_js: { files: scripts.size, bytes: raw, gzip_bytes: gzip },
      accessibility_failures: failed,
      lighthouse: lhr.lighthouseVersion,
      chromium: lhr.environment.hostUserAgent,
    })
  }
} finally {
  await context.close()
  rmSync(profile, { recursive: true, force: true })
}

writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(results, null, 2)}\n`)
for (const r of results) {
  const kb = (n) => (n / 1024).toFixed(1)
  console.log(
    `${r.page}: performance ${r.performance}, accessibility ${r.accessibility}, best practices ${r.best_practices}; ` +
      `FCP ${r.fcp_ms} ms, LCP ${r.lcp_ms} ms, TBT ${r.tbt_ms} ms, CLS ${r.cls}; ` +
      `first-load JS ${r.first_load_js.files} files, ${kb(r.first_load_js.bytes)} KiB, ${kb(r.first_load_js.gzip_bytes)} KiB gzip` +
      (r.accessibility_failures.length > 0 ? `; a11y audits failed: ${r.accessibility_failures.join(', ')}` : ''),
  )
}
const below = results.filter((r) => r.performance < 90 || r.accessibility < 90)
if (below.length > 0) {
  console.log(`below the goal (performance and accessibility ≥ 90): ${below.map((r) => r.page).join(', ')}`)
}
