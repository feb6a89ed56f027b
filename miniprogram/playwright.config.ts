// End-to-end tests of the H5 build in a real browser (Debian's chromium) against
// a running `crm serve --demo`. Run them with ../scripts/test-app-e2e, which
// starts the service on a fresh database and passes it in APP_E2E_* variables.
import path from 'node:path'

import { defineConfig } from '@playwright/test'

/** Screenshots, results.json and failure traces: the repository's target/app-e2e/. */
const OUT_DIR = process.env.APP_E2E_OUT_DIR ?? path.resolve(__dirname, '../target/app-e2e')

export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.ts',
  outputDir: path.join(OUT_DIR, 'test-results'),
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: true,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['json', { outputFile: path.join(OUT_DIR, 'results.json') }]],
  use: {
    baseURL: process.env.APP_E2E_URL,
    browserName: 'chromium',
    // a phone: 390×844 CSS pixels, touch
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    launchOptions: {
      // Debian's chromium: Playwright downloads no browser of its own here.
      executablePath: process.env.APP_E2E_CHROMIUM ?? '/usr/bin/chromium',
      // root has no user namespaces for Chromium's sandbox
      args: ['--no-sandbox'],
    },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
})
