// The mini-program's H5 build in Chromium at phone size, against a real
// `crm serve --demo` on a fresh database (scripts/test-app-e2e).
import { writeFileSync } from 'node:fs'
import path from 'node:path'

import { expect, test, type Page } from '@playwright/test'

import {
  CUSTOMERS_URL,
  customerRows,
  DemoApi,
  demoFunnel,
  demoUser,
  HOME_URL,
  LOGIN_URL_PATTERN,
  OUT_DIR,
  rowNames,
  screenshot,
  signIn,
  signInToCustomers,
  signInButton,
  tapToDetail,
} from './support'

/** The quality bar for tap-to-detail on demo data (reported, not enforced). */
const TAP_TO_DETAIL_BUDGET_MS = 300
/** Slower than this is broken, not just slow: the test fails. */
const TAP_TO_DETAIL_LIMIT_MS = 2000

const names = (customers: { name: string }[]) => customers.map((c) => c.name)

test('a manager signs in, lands on 首页 with its funnel, and opens the customer list', async ({
  page,
  request,
}) => {
  const api = await DemoApi.signIn(request)
  const expected = await api.customers()
  expect(expected.length).toBeGreaterThan(0)
  const funnel = await demoFunnel(request, 0)

  await signIn(page)
  await expect(page).toHaveURL(HOME_URL)
  await expect(page.getByLabel(`客户 ${funnel.totals.count} 位`, { exact: true })).toBeVisible()
  for (const stage of funnel.stages) {
    await expect(page.getByLabel(`${stage.name} ${stage.count} 位`, { exact: true })).toBeVisible()
  }
  await expect(page.getByRole('list', { name: '最近联系的客户' }).getByRole('link')).toHaveCount(
    Math.min(5, expected.length),
  )
  await screenshot(page, 'home.png')

  await page.getByRole('navigation', { name: '常用' }).getByRole('link', { name: '客户', exact: true }).tap()
  await expect(page).toHaveURL(CUSTOMERS_URL)
  await expect(page.getByRole('radiogroup', { name: '按阶段筛选' })).toBeVisible()
  // the first page, in the service's order
  await expect(rowNames(page)).toHaveText(names(expected))
  await screenshot(page, 'customers.png')
})

test('searching by 张 and by a full name, then opening the customer', async ({
  page,
  request,
}) => {
  const api = await DemoApi.signIn(request)
  const withZhang = await api.customers('张')
  expect(withZhang.length).toBeGreaterThan(0)
  // a two-character name that only one of the manager's customers has
  const all = await api.customers(undefined, 100)
  const twoCharacter = names(all).filter(
    (name, _, every) => Array.from(name).length === 2 && every.filter((n) => n === name).length === 1,
  )
  const name = twoCharacter.find((n) => !n.startsWith('张')) ?? twoCharacter[0]
  if (name === undefined) throw new Error('the demo data has no unique two-character name')
  const byName = await api.customers(name)
  const customer = byName.find((c) => c.name === name)
  if (customer === undefined) throw new Error(`searching ${name} does not find ${name}`)

  await signInToCustomers(page)
  await expect(customerRows(page).first()).toBeVisible()

  const search = page.getByRole('searchbox')
  await search.fill('张')
  await expect(rowNames(page)).toHaveText(names(withZhang))

  await search.fill(name)
  await expect(rowNames(page)).toHaveText(names(byName))

  await customerRows(page).filter({ has: page.getByText(name, { exact: true }) }).tap()
  await expect(page.locator('.detail__name')).toHaveText(name)
  await expect(page.getByLabel(`公司：${customer.company ?? '—'}`)).toBeVisible()
  await expect(page.getByLabel(`负责人：${customer.owner_name ?? customer.owner_id}`)).toBeVisible()
  // Its history, newest first, as the timeline route has it.
  const history = await api.timeline(customer.id)
  expect(history.length).toBeGreaterThan(0)
  await expect(page.locator('.timeline__entry')).toHaveCount(history.length)
  await screenshot(page, 'customer.png')
})

test('a wrong password says so and stays on 登录', async ({ page }) => {
  await signIn(page, 'not-the-password')

  await expect(page.getByRole('alert')).toContainText('租户、账号或密码不正确')
  await expect(page).toHaveURL(LOGIN_URL_PATTERN)
  await expect(page.locator('#login-password input')).toBeVisible()
  await expect(signInButton(page)).not.toHaveAttribute('disabled')
  await screenshot(page, 'login-error.png')
})

test('tap to detail: time from tapping a customer to its name on the detail page', async ({
  page,
}) => {
  await signInToCustomers(page)
  await expect(customerRows(page).first()).toBeVisible()

  // rows whose name no other row on the page has (read again until the
  // page's rows have rendered: the first may show before the rest)
  const uniqueNames = async () => {
    const shown = await rowNames(page).allTextContents()
    return shown.filter((n) => shown.indexOf(n) === shown.lastIndexOf(n)).slice(0, 5)
  }
  await expect.poll(async () => (await uniqueNames()).length).toBeGreaterThanOrEqual(3)
  const unique = await uniqueNames()

  const samples: number[] = []
  for (const name of unique) {
    const row = customerRows(page).filter({ has: page.getByText(name, { exact: true }) })
    const ms = await tapToDetail(page, row, name)
    samples.push(Math.round(ms))
    await expect(page.locator('.detail__name')).toHaveText(name)
    await page.goBack()
    await expect(page).toHaveURL(CUSTOMERS_URL)
    await expect(row).toBeVisible()
  }

  const sorted = [...samples].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] ?? NaN
  const first = samples[0] ?? NaN
  const max = sorted[sorted.length - 1] ?? NaN
  const summary = {
    samples_ms: samples,
    first_ms: first,
    median_ms: median,
    max_ms: max,
    budget_ms: TAP_TO_DETAIL_BUDGET_MS,
    within_budget: max <= TAP_TO_DETAIL_BUDGET_MS,
  }
  writeFileSync(path.join(OUT_DIR, 'tap-to-detail.json'), `${JSON.stringify(summary, null, 2)}\n`)
  const line =
    `tap to detail: first ${first} ms, median ${median} ms, max ${max} ms ` +
    `(${samples.length} taps: ${samples.join(', ')}; budget ${TAP_TO_DETAIL_BUDGET_MS} ms)`
  console.log(line)
  test.info().annotations.push({ type: 'tap-to-detail', description: line })

  expect(max, `tap to detail over ${TAP_TO_DETAIL_LIMIT_MS} ms`).toBeLessThanOrEqual(
    TAP_TO_DETAIL_LIMIT_MS,
  )
})

/** Opens `customer`'s 360 page from the list, by searching its name. */
async function openCustomer(page: Page, name: string) {
  await signInToCustomers(page)
  await page.getByRole('searchbox').fill(name)
  await customerRows(page).filter({ has: page.getByText(name, { exact: true }) }).first().tap()
  await expect(page.locator('.detail__name')).toHaveText(name)
}

/** Opens 记录跟进, types `subject` and saves. */
async function logActivity(page: Page, subject: string) {
  await page.getByRole('button', { name: '记录跟进' }).tap()
  const form = page.getByRole('dialog', { name: '记录跟进' })
  await form.getByRole('radio', { name: '拜访' }).tap()
  await form.locator('#activity-subject input').fill(subject)
  await form.getByLabel('保存', { exact: true }).tap()
}

test('logging an activity puts it at the top of the timeline, once', async ({ page, request }) => {
  const api = await DemoApi.signIn(request)
  const customer = (await api.customers())[1]
  if (customer === undefined) throw new Error('the demo has fewer than two customers')
  const subject = `e2e 拜访 ${Date.now()}`

  await openCustomer(page, customer.name)
  await logActivity(page, subject)

  await expect(page.getByRole('status').filter({ hasText: '记录跟进：已保存' })).toBeVisible()
  await expect(page.locator('.timeline__entry').first()).toContainText(subject)
  await expect(page.locator('.timeline__entry').first()).toContainText('拜访')
  expect(await api.activitiesWithSubject(customer.id, subject)).toBe(1)
  await screenshot(page, 'customer-activity.png')
})

test('offline: an activity waits on the phone and is sent once when the network is back', async ({
  page,
  request,
}) => {
  const api = await DemoApi.signIn(request)
  const customer = (await api.customers())[2]
  if (customer === undefined) throw new Error('the demo has fewer than three customers')
  const subject = `e2e 离线 ${Date.now()}`
  await openCustomer(page, customer.name)

  // The first attempt reaches the service but its answer is lost; later ones get no further than the phone.
  let attempts = 0
  await page.route('**/v1/customers/*/activities', async (route) => {
    attempts += 1
    if (attempts === 1) await route.fetch()
    await route.abort('internetdisconnected')
  })
  await logActivity(page, subject)
  await expect(page.getByRole('status').filter({ hasText: '已保存在手机上' })).toBeVisible()
  await expect(page.getByRole('status', { name: '待发送 1 条' })).toBeVisible()
  await screenshot(page, 'customer-offline.png')
  await page.getByRole('button', { name: '立即发送' }).tap()
  await expect.poll(() => attempts).toBeGreaterThanOrEqual(2)

  // back online
  await page.unroute('**/v1/customers/*/activities')
  await page.getByRole('button', { name: '立即发送' }).tap()
  await expect(page.getByRole('status', { name: '待发送 1 条' })).toBeHidden()
  await expect(page.locator('.timeline__entry').filter({ hasText: subject })).toHaveCount(1)
  // the service recorded it once, although it received it at least twice with the same key
  expect(await api.activitiesWithSubject(customer.id, subject)).toBe(1)
})

test('新建客户: an invalid phone is refused next to its field, then the customer is created', async ({
  page,
  request,
}) => {
  const name = `测试${Date.now() % 100000}`
  await signInToCustomers(page)
  await page.getByRole('button', { name: '新建客户' }).tap()
  await page.locator('#customer-name input').fill(name)
  await page.locator('#customer-phone input').fill('12345')
  await page.getByLabel('保存客户', { exact: true }).tap()

  await expect(page.locator('#customer-phone-error')).toContainText('11 位手机号')
  await screenshot(page, 'customer-new-error.png')

  await page.locator('#customer-phone input').fill('13912345678')
  await expect(page.locator('#customer-phone-error')).toBeHidden()
  await page.getByLabel('保存客户', { exact: true }).tap()
  await expect(page.locator('.detail__name')).toHaveText(name)
  await expect(page.getByLabel('电话：13912345678')).toBeVisible()
  const api = await DemoApi.signIn(request)
  expect((await api.customers(name)).map((c) => c.name)).toEqual([name])
})

test('filters: lifecycle and owner narrow the list as the service does', async ({ page, request }) => {
  const api = await DemoApi.signIn(request)
  const all = await api.customers(undefined, 100)
  const lifecycle = all[0]?.lifecycle
  const owner = all.find((c) => c.owner_name !== null && c.owner_id !== demoUser().login)
  if (lifecycle === undefined || owner === undefined) throw new Error('the demo has no customers of another owner')
  const names: Record<string, string> = {
    prospect: '潜在客户',
    new: '新客户',
    active: '活跃客户',
    loyal: '忠诚客户',
    at_risk: '流失风险',
    lost: '已流失',
  }

  await signInToCustomers(page)
  await page.getByRole('button', { name: '更多筛选' }).tap()
  await page
    .getByRole('radiogroup', { name: '按生命周期筛选' })
    .getByRole('radio', { name: names[lifecycle] ?? lifecycle, exact: true })
    .tap()
  await expect(rowNames(page)).toHaveText((await api.customersWhere({ lifecycle })).map((c) => c.name))

  await page
    .getByRole('radiogroup', { name: '按负责人筛选' })
    .getByRole('radio', { name: owner.owner_name ?? owner.owner_id, exact: true })
    .tap()
  const expected = await api.customersWhere({ lifecycle, owner_id: owner.owner_id })
  if (expected.length === 0) {
    await expect(page.getByText('没有符合条件的客户')).toBeVisible()
  } else {
    await expect(rowNames(page)).toHaveText(expected.map((c) => c.name))
  }
  await screenshot(page, 'customers-filtered.png')
})
