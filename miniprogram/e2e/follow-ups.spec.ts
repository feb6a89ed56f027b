// Follow-ups, reminders and notifications (issue 15) in the H5 build, against
// a real `crm serve --demo` (scripts/test-app-e2e): scheduling on the customer
// page, the reminder arriving live on the feed, 首页's today list and counts,
// the 跟进 list's actions, and the rules the forms check.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test'

import {
  CUSTOMERS_URL,
  customerRows,
  followUpItem,
  FollowUpApi,
  HOME_URL,
  openSignedIn,
  screenshot,
  signIn,
  uniqueSubject,
  wallTime,
} from './support'

const MINUTE = 60_000
const FOLLOW_UPS_URL = /\/app\/#\/pages\/follow-ups\/index/
const NOTIFICATIONS_URL = /\/app\/#\/pages\/notifications\/index/

test.describe.configure({ timeout: 60_000 })

// One sign-in for the file (the service limits sign-ins per address; the suite shares them).
let context: APIRequestContext
let api: FollowUpApi
let zone: string
let customer: { id: string; name: string }

test.beforeAll(async ({ playwright }) => {
  context = await playwright.request.newContext({ baseURL: process.env.APP_E2E_URL })
  api = await FollowUpApi.signIn(context)
  zone = await api.timeZone()
  // a customer of the manager whose name no other of its first 100 has
  const all = await api.customers(100)
  const unique = all.find((c) => all.filter((o) => o.name === c.name).length === 1)
  if (unique === undefined) throw new Error('the demo data has no customer with a unique name')
  customer = unique
})
test.afterAll(async () => {
  await context.dispose()
})

/** Finds the customer in 客户 by name and opens it (from 首页, signed in). */
async function openCustomer(page: Page, name: string) {
  await page.getByRole('navigation', { name: '常用' }).getByRole('link', { name: '客户', exact: true }).tap()
  await expect(page).toHaveURL(CUSTOMERS_URL)
  await expect(customerRows(page).first()).toBeVisible()
  await page.getByRole('searchbox').fill(name)
  await customerRows(page).filter({ has: page.getByText(name, { exact: true }) }).tap()
  await expect(page.locator('.detail__name')).toHaveText(name)
}

/** 首页, signed in with the file's session. */
async function home(page: Page) {
  await openSignedIn(page, api.session)
  await expect(page).toHaveURL(HOME_URL)
}

/** Marks the document: a reload would lose the mark. */
async function markDocument(page: Page) {
  await page.evaluate(() => ((window as { __sameDocument?: boolean }).__sameDocument = true))
}
async function expectSameDocument(page: Page) {
  expect(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument)).toBe(true)
}

/** Today in the tenant's zone, at least `ahead` from now (the next minute when that would be tomorrow). */
function laterToday(timeZone: string, ahead: number): number {
  const now = Date.now()
  const day = (t: number) => wallTime(timeZone, t).slice(0, 10)
  return day(now + ahead) === day(now) ? now + ahead : now + 2 * MINUTE
}

test('a follow-up scheduled on the customer page whose reminder lead exceeds the time left notifies at once, live', async ({
  page,
}) => {
  const subject = uniqueSubject('回访报价')

  // this one signs in through the app's own form
  await signIn(page)
  await expect(page).toHaveURL(HOME_URL)
  await openCustomer(page, customer.name)
  await markDocument(page)
  await page.getByRole('button', { name: '安排跟进' }).tap()
  const form = page.getByRole('dialog', { name: '安排跟进' })
  await form.getByRole('radio', { name: '拜访' }).tap()
  await form.locator('#schedule-subject input').fill(subject)
  // due in about three minutes (the minute typed), reminded five minutes before: at once
  await form.locator('#schedule-due_at input').fill(wallTime(zone, Date.now() + 3 * MINUTE))
  await form.getByRole('radio', { name: '提前 5 分钟' }).tap()
  await page.getByLabel('保存跟进', { exact: true }).tap()

  await expect(page.getByRole('status').filter({ hasText: '安排跟进：已保存' })).toBeVisible()
  await expect(followUpItem(page, subject)).toBeVisible()
  const [scheduled] = (await api.list({ customer_id: customer.id })).filter((f) => f.subject === subject)
  expect(scheduled?.remind_before_minutes).toBe(5)
  expect(scheduled?.type).toBe('visit')

  // the reminder arrives on the feed while the customer page is shown: a toast, no reload
  await expect(page.getByText(`跟进提醒：${subject}`)).toBeVisible({ timeout: 20_000 })
  await expectSameDocument(page)
  await screenshot(page, 'follow-up-reminder.png')
  const inbox = await api.inbox()
  const notification = inbox.items.find((n) => n.subject === subject)
  expect(notification?.follow_up_id).toBe(scheduled?.id)
  expect(notification?.read_at ?? null).toBeNull()

  // back on 首页 (still the same document) the badge counts it; the inbox lists it unread
  await page.goBack()
  await page.goBack()
  await expect(page).toHaveURL(HOME_URL)
  await expectSameDocument(page)
  const bell = page.getByRole('link', { name: `通知，未读 ${(await api.inbox()).unread} 条`, exact: true })
  await expect(bell).toBeVisible()
  await bell.tap()
  await expect(page).toHaveURL(NOTIFICATIONS_URL)
  await expect(page.getByRole('listitem', { name: `未读，跟进提醒：${customer.name}，${subject}` })).toBeVisible()
  await page.getByRole('button', { name: '全部已读' }).tap()
  await expect(page.getByRole('status', { name: '未读 0 条' })).toBeVisible()
  await expect(page.getByRole('listitem', { name: `跟进提醒：${customer.name}，${subject}`, exact: true })).toBeVisible()
  expect((await api.inbox()).unread).toBe(0)
})

test('the inbox shows a reminder the moment it fires, without reloading', async ({ page }) => {
  const subject = uniqueSubject('电话确认')

  await home(page)
  await page.getByRole('link', { name: /^通知/ }).tap()
  await expect(page).toHaveURL(NOTIFICATIONS_URL)
  const unread = page.getByRole('status', { name: /^未读 \d+ 条$/ })
  await expect(unread).toBeVisible()
  const before = Number((await unread.getAttribute('aria-label'))?.match(/\d+/)?.[0])
  await markDocument(page)
  // the feed is up before the reminder fires (otherwise the inbox read would already have it)
  await expect(page.getByText('（连接中…）')).toHaveCount(0)

  await api.schedule({
    customer_id: customer.id,
    type: 'call',
    subject,
    due_at: new Date(Date.now() + 3 * MINUTE).toISOString(),
    remind_before_minutes: 10,
  })
  await expect(page.getByRole('listitem', { name: `未读，跟进提醒：${customer.name}，${subject}` })).toBeVisible({
    timeout: 20_000,
  })
  await expect(page.getByRole('status', { name: `未读 ${before + 1} 条` })).toBeVisible()
  await expectSameDocument(page)
})

test('a follow-up due today is on 首页 and in 今天; completing it with an outcome logs its activity exactly once', async ({
  page,
}) => {
  const subject = uniqueSubject('上门演示')
  const outcome = '客户同意下周签约'
  const { id } = await api.schedule({
    customer_id: customer.id,
    type: 'visit',
    subject,
    due_at: new Date(laterToday(zone, 30 * MINUTE)).toISOString(),
  })

  await home(page)
  const counts = await api.counts()
  await expect(page.getByRole('link', { name: `今天跟进 ${counts.today} 条`, exact: true })).toBeVisible()
  await expect(page.getByRole('link', { name: `逾期跟进 ${counts.overdue} 条`, exact: true })).toBeVisible()
  await expect(page.getByRole('list', { name: '今天和逾期的跟进' }).getByRole('listitem').filter({ hasText: subject })).toBeVisible()
  await screenshot(page, 'home-follow-ups.png')

  await page.getByRole('navigation', { name: '常用' }).getByRole('link', { name: '跟进', exact: true }).tap()
  await expect(page).toHaveURL(FOLLOW_UPS_URL)
  await expect(page.getByRole('radio', { name: '今天' })).toHaveAttribute('aria-checked', 'true')
  const item = page.getByRole('list', { name: '今天的跟进' }).getByRole('listitem').filter({ hasText: subject })
  await expect(item).toBeVisible()
  await expect(item).toContainText(customer.name)
  await expect(item).toContainText(`今天 ${wallTime(zone, Date.parse((await api.followUp(id)).due_at)).slice(11)}`)
  await screenshot(page, 'follow-ups.png')

  await item.getByRole('button', { name: '完成', exact: true }).tap()
  await item.locator('textarea').fill(outcome)
  await item.getByLabel('确认完成', { exact: true }).tap()
  await expect(page.getByRole('status').filter({ hasText: '完成跟进：已保存' })).toBeVisible()
  await expect(item).toHaveCount(0)

  const done = await api.followUp(id)
  expect(done.status).toBe('done')
  expect(done.outcome).toBe(outcome)
  expect((await api.list({ due: 'all' })).some((f) => f.id === id)).toBe(false)

  // in 已完成, with its outcome
  await page.getByRole('radio', { name: '已完成' }).tap()
  const finished = page.getByRole('list', { name: '已完成的跟进' }).getByRole('listitem').filter({ hasText: subject })
  await expect(finished).toContainText(`结果：${outcome}`)

  // the activity on the customer's timeline: once, with the outcome as its notes, also after a sweep (5 s)
  await expect.poll(async () => (await api.activities(customer.id, subject)).length, { timeout: 15_000 }).toBe(1)
  await page.waitForTimeout(6_000)
  const activities = await api.activities(customer.id, subject)
  expect(activities).toHaveLength(1)
  expect((activities[0]?.details as { notes?: string } | undefined)?.notes).toBe(outcome)

  // and on the customer page, once
  await finished.getByRole('link').tap()
  await expect(page.locator('.detail__name')).toHaveText(customer.name)
  await expect(page.locator('.timeline__entry').filter({ hasText: subject })).toHaveCount(1)

  // back on 首页 it is gone
  await page.goBack()
  await page.goBack()
  await expect(page).toHaveURL(HOME_URL)
  await expect(page.getByRole('list', { name: '今天和逾期的跟进' }).getByRole('listitem').filter({ hasText: subject })).toHaveCount(0)
})

test('a due time in the past is refused next to the field and nothing is scheduled', async ({ page }) => {
  const subject = uniqueSubject('过期的跟进')
  const before = (await api.list({ customer_id: customer.id, status: 'all' })).length
  let posts = 0
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/follow-ups') posts += 1
  })

  await home(page)
  await openCustomer(page, customer.name)
  await page.getByRole('button', { name: '安排跟进' }).tap()
  const form = page.getByRole('dialog', { name: '安排跟进' })
  await form.locator('#schedule-subject input').fill(subject)
  await form.locator('#schedule-due_at input').fill(wallTime(zone, Date.now() - 60 * MINUTE))
  await page.getByLabel('保存跟进', { exact: true }).tap()

  await expect(form.locator('#schedule-due_at-error')).toHaveText('不能早于现在')
  await expect(form.locator('#schedule-subject-error')).toHaveCount(0)
  await screenshot(page, 'follow-up-past.png')
  // a date that is no date says so too
  await form.locator('#schedule-due_at input').fill('明天上午')
  await page.getByLabel('保存跟进', { exact: true }).tap()
  await expect(form.locator('#schedule-due_at-error')).toContainText('格式')

  expect(posts).toBe(0)
  const after = await api.list({ customer_id: customer.id, status: 'all' })
  expect(after).toHaveLength(before)
  expect(after.some((f) => f.subject === subject)).toBe(false)
  await expect(followUpItem(page, subject)).toHaveCount(0)
})

test('cancelling a follow-up needs a reason', async ({ page }) => {
  const subject = uniqueSubject('取消的跟进')
  const { id } = await api.schedule({
    customer_id: customer.id,
    type: 'meeting',
    subject,
    due_at: new Date(laterToday(zone, 60 * MINUTE)).toISOString(),
  })

  await home(page)
  await page.getByRole('navigation', { name: '常用' }).getByRole('link', { name: '跟进', exact: true }).tap()
  await expect(page).toHaveURL(FOLLOW_UPS_URL)
  const item = page.getByRole('list', { name: '今天的跟进' }).getByRole('listitem').filter({ hasText: subject })
  await item.getByRole('button', { name: '取消', exact: true }).tap()
  await item.getByLabel('确认取消', { exact: true }).tap()
  await expect(item.getByRole('alert')).toHaveText('必填')
  expect((await api.followUp(id)).status).toBe('open')

  await item.locator('textarea').fill('客户已另行采购')
  await item.getByLabel('确认取消', { exact: true }).tap()
  await expect(page.getByRole('status').filter({ hasText: '取消跟进：已保存' })).toBeVisible()
  await expect(item).toHaveCount(0)
  const cancelled = await api.followUp(id)
  expect(cancelled.status).toBe('cancelled')
  expect(cancelled.cancel_reason).toBe('客户已另行采购')
})

test('改期 moves a follow-up to another day; 转派 offers only the manager team and hands it over', async ({ page }) => {
  const subject = uniqueSubject('改约拜访')
  const { id } = await api.schedule({
    customer_id: customer.id,
    type: 'visit',
    subject,
    due_at: new Date(laterToday(zone, 45 * MINUTE)).toISOString(),
  })
  // tomorrow 10:00 in the tenant's zone
  const tomorrow = wallTime(zone, Date.now() + 24 * 60 * MINUTE).slice(0, 10)

  await home(page)
  await page.getByRole('navigation', { name: '常用' }).getByRole('link', { name: '跟进', exact: true }).tap()
  await expect(page).toHaveURL(FOLLOW_UPS_URL)
  const today = page.getByRole('list', { name: '今天的跟进' }).getByRole('listitem').filter({ hasText: subject })
  await today.getByRole('button', { name: '改期', exact: true }).tap()
  await today.locator('[id$="-due_at"] input').fill(`${tomorrow} 10:00`)
  await today.getByLabel('确认改期', { exact: true }).tap()
  await expect(page.getByRole('status').filter({ hasText: '跟进改期：已保存' })).toBeVisible()
  await expect(today).toHaveCount(0)
  expect(wallTime(zone, Date.parse((await api.followUp(id)).due_at))).toBe(`${tomorrow} 10:00`)

  await page.getByRole('radio', { name: '明天' }).tap()
  const next = page.getByRole('list', { name: '明天的跟进' }).getByRole('listitem').filter({ hasText: subject })
  await expect(next).toContainText('明天 10:00')

  // 转派: the manager's team (rep-li, rep-zhang and itself), not rep-wang outside it
  await next.getByRole('button', { name: '转派', exact: true }).tap()
  const people = next.getByRole('radiogroup', { name: '转派给' })
  await expect(people.getByRole('radio', { name: /rep-zhang/ })).toBeVisible()
  await expect(people.getByRole('radio', { name: /rep-wang/ })).toHaveCount(0)
  await people.getByRole('radio', { name: /rep-zhang/ }).tap()
  await next.getByLabel('确认转派', { exact: true }).tap()
  await expect(page.getByRole('status').filter({ hasText: '转派跟进：已保存' })).toBeVisible()
  // no longer mine; in the team's, with its new assignee
  await expect(next).toHaveCount(0)
  expect((await api.followUp(id)).assignee).toBe('rep-zhang')
  await page.getByRole('radio', { name: '团队' }).tap()
  await expect(
    page.getByRole('list', { name: '明天的跟进' }).getByRole('listitem').filter({ hasText: subject }),
  ).toContainText('负责人：rep-zhang')
})
