// What the end-to-end tests share: the demo sign-in passed by
// scripts/test-app-e2e, signing in through the app, the service's API for
// what the screens should show, and where screenshots go.
import path from 'node:path'

import { expect, type APIRequestContext, type Locator, type Page } from '@playwright/test'

import type { components } from '../src/api/schema'

type CustomerSummary = components['schemas']['CustomerSummary']
type CustomerPage = components['schemas']['CustomerPage']
type Session = components['schemas']['Session']

function required(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run ../scripts/test-app-e2e, which starts crm serve --demo`)
  }
  return value
}

/** The demo tenant and a manager's sign-in, as `crm serve --demo` printed them. */
export function demoUser() {
  return {
    tenantId: required('APP_E2E_TENANT'),
    login: required('APP_E2E_LOGIN'),
    password: required('APP_E2E_PASSWORD'),
  }
}

export const OUT_DIR = process.env.APP_E2E_OUT_DIR ?? path.resolve(__dirname, '../../target/app-e2e')

/** A screenshot of the whole phone screen into target/app-e2e/. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(OUT_DIR, name), animations: 'disabled' })
}

export const LOGIN_URL = '/app/#/pages/login/index'
export const LOGIN_URL_PATTERN = /\/app\/#\/pages\/login\/index/
export const CUSTOMERS_URL = /\/app\/#\/pages\/customers\/index/
export const HOME_URL = /\/app\/#\/pages\/home\/index/

/** Signs in (landing on 首页) and opens 客户 from there. */
export async function signInToCustomers(page: Page): Promise<void> {
  await signIn(page)
  await expect(page).toHaveURL(HOME_URL)
  await page.getByRole('navigation', { name: '常用' }).getByRole('link', { name: '客户', exact: true }).tap()
  await expect(page).toHaveURL(CUSTOMERS_URL)
}

/** 登录's button: Taro's H5 Button has no button role, only its aria-label. */
export function signInButton(page: Page): Locator {
  return page.getByLabel('登录', { exact: true })
}

/** Fills in 登录 and taps the button; the caller checks where it lands. */
export async function signIn(page: Page, password = demoUser().password): Promise<void> {
  const user = demoUser()
  await page.goto(LOGIN_URL)
  // Taro's H5 Input puts the aria-label on its host element; the input inside it has the id's field.
  await page.locator('#login-tenant_id input').fill(user.tenantId)
  await page.locator('#login-login input').fill(user.login)
  await page.locator('#login-password input').fill(password)
  await signInButton(page).tap()
}

/** The rows of the customer list, and their names. */
export function customerRows(page: Page): Locator {
  return page.getByRole('list').getByRole('link')
}
export function rowNames(page: Page): Locator {
  return customerRows(page).locator('.customer__name')
}

/** The service's API as the demo user: what the screens should show. */
export class DemoApi {
  private constructor(
    private readonly request: APIRequestContext,
    private readonly token: string,
  ) {}

  static async signIn(request: APIRequestContext): Promise<DemoApi> {
    const user = demoUser()
    const answer = await request.post('/v1/auth/login', {
      data: { tenant_id: user.tenantId, login: user.login, password: user.password },
    })
    expect(answer.status(), await answer.text()).toBe(200)
    const session = (await answer.json()) as Session
    return new DemoApi(request, session.access_token)
  }

  /** The first page of the customer list (the app asks for 20). */
  async customers(q?: string, limit = 20): Promise<CustomerSummary[]> {
    const answer = await this.request.get('/v1/customers', {
      params: { limit, ...(q !== undefined ? { q } : {}) },
      headers: { Authorization: `Bearer ${this.token}` },
    })
    expect(answer.status(), await answer.text()).toBe(200)
    return ((await answer.json()) as CustomerPage).items
  }

  /** The first page of the list with these filters (the app asks for 20). */
  async customersWhere(params: Record<string, string>): Promise<CustomerSummary[]> {
    const answer = await this.request.get('/v1/customers', {
      params: { limit: 20, ...params },
      headers: { Authorization: `Bearer ${this.token}` },
    })
    expect(answer.status(), await answer.text()).toBe(200)
    return ((await answer.json()) as CustomerPage).items
  }

  /** How many of the customer's activities have `subject`. */
  activitiesWithSubject(id: string, subject: string): Promise<number> {
    return activitiesWithSubjectOf(this.request, this.token, id, subject)
  }

  /** The first page of a customer's timeline (the app asks for 20). */
  async timeline(id: string): Promise<unknown[]> {
    const answer = await this.request.get(`/v1/customers/${id}/timeline`, {
      params: { limit: 20 },
      headers: { Authorization: `Bearer ${this.token}` },
    })
    expect(answer.status(), await answer.text()).toBe(200)
    return ((await answer.json()) as { items: unknown[] }).items
  }
}

declare global {
  interface Window {
    __tapProbe?: { start?: number; end?: number }
  }
}

/**
 * Taps `row` and measures in the page, on the page's own clock, from the
 * tap (its touchend or click event) to the first animation frame in which
 * the detail page shows `name`. Returns milliseconds.
 */
export async function tapToDetail(page: Page, row: Locator, name: string): Promise<number> {
  await page.evaluate((expected) => {
    const probe: NonNullable<Window['__tapProbe']> = {}
    window.__tapProbe = probe
    const tapped = (event: Event) => {
      probe.start ??= event.timeStamp
    }
    document.addEventListener('touchend', tapped, { capture: true, once: true })
    document.addEventListener('click', tapped, { capture: true, once: true })
    const shown = () =>
      Array.from(document.querySelectorAll('.detail__name')).some(
        (element) => element.textContent === expected && element.checkVisibility(),
      )
    const observer = new MutationObserver(() => {
      if (probe.start === undefined || !shown()) return
      observer.disconnect()
      requestAnimationFrame(() => {
        probe.end = performance.now()
      })
    })
    observer.observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      characterData: true,
    })
  }, name)
  await row.tap()
  await page.waitForFunction(() => window.__tapProbe?.end !== undefined)
  const { start, end } = await page.evaluate(() => ({
    start: window.__tapProbe?.start ?? NaN,
    end: window.__tapProbe?.end ?? NaN,
  }))
  return end - start
}

// --- the funnel board (e2e/funnel.spec.ts) ------------------------------------

type Funnel = components['schemas']['Funnel']

/** GET /v1/funnel as the demo user, with the app's card count. */
export async function demoFunnel(request: APIRequestContext, cards = 20): Promise<Funnel> {
  const user = demoUser()
  const login = await request.post('/v1/auth/login', {
    data: { tenant_id: user.tenantId, login: user.login, password: user.password },
  })
  expect(login.status(), await login.text()).toBe(200)
  const { access_token } = (await login.json()) as Session
  const answer = await request.get('/v1/funnel', {
    params: { cards },
    headers: { Authorization: `Bearer ${access_token}` },
  })
  expect(answer.status(), await answer.text()).toBe(200)
  return (await answer.json()) as Funnel
}

/** A column of the funnel board, found by its accessible name (`潜在客户，3 位客户`). */
export function funnelColumn(page: Page, name: string, count: number): Locator {
  return page.getByRole('region', { name: `${name}，${count} 位客户`, exact: true })
}

/** Taro's H5 action sheet (a DOM sheet appended to body): the item with this text. */
export function actionSheetItem(page: Page, text: string): Locator {
  return page.locator('.taro__actionSheet .taro-actionsheet__cell').getByText(text, { exact: true })
}

/** How many activities of a customer's timeline have `subject` (its first 100 entries). */
export async function activitiesWithSubjectOf(
  request: APIRequestContext,
  token: string,
  id: string,
  subject: string,
): Promise<number> {
  const answer = await request.get(`/v1/customers/${id}/timeline`, {
    params: { limit: 100 },
    headers: { Authorization: `Bearer ${token}` },
  })
  expect(answer.status(), await answer.text()).toBe(200)
  const items = ((await answer.json()) as { items: Array<{ kind: string; details: { subject?: string } }> }).items
  return items.filter((e) => e.kind === 'activity' && e.details.subject === subject).length
}

// --- follow-ups and notifications (e2e/follow-ups.spec.ts) ---------------------

type FollowUpView = components['schemas']['FollowUpView']
type FollowUpPage = components['schemas']['FollowUpPage']
type FollowUpCounts = components['schemas']['FollowUpCounts']
type ScheduleFollowUpRequest = components['schemas']['ScheduleFollowUpRequest']
type Accepted = components['schemas']['Accepted']
type InboxPage = components['schemas']['InboxPage']
type TimelineEntry = components['schemas']['TimelineEntry']

/** The service's follow-up and notification routes as the demo user. */
export class FollowUpApi {
  private constructor(
    private readonly request: APIRequestContext,
    /** The sign-in's answer: the app can be handed the same session (see `openSignedIn`). */
    readonly session: Session,
  ) {}

  private get token(): string {
    return this.session.access_token
  }

  /**
   * Signs in once for a whole spec file: the service counts every sign-in
   * from an address (30 in 5 minutes), successful ones included, and the
   * suite shares that budget.
   */
  static async signIn(request: APIRequestContext): Promise<FollowUpApi> {
    const user = demoUser()
    const answer = await request.post('/v1/auth/login', {
      data: { tenant_id: user.tenantId, login: user.login, password: user.password },
    })
    expect(answer.status(), await answer.text()).toBe(200)
    return new FollowUpApi(request, (await answer.json()) as Session)
  }

  /** The first page of the customer list. */
  async customers(limit = 100): Promise<CustomerSummary[]> {
    return (await this.get<CustomerPage>('/v1/customers', { limit })).items
  }

  private async get<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
    const answer = await this.request.get(path, { params, headers: { Authorization: `Bearer ${this.token}` } })
    expect(answer.status(), await answer.text()).toBe(200)
    return (await answer.json()) as T
  }

  /** The tenant's time zone (GET /v1/tenant/settings). */
  async timeZone(): Promise<string> {
    return (await this.get<{ time_zone: string }>('/v1/tenant/settings')).time_zone
  }

  async schedule(body: ScheduleFollowUpRequest): Promise<Accepted> {
    const answer = await this.request.post('/v1/follow-ups', {
      data: body,
      headers: { Authorization: `Bearer ${this.token}`, 'Idempotency-Key': crypto.randomUUID() },
    })
    expect(answer.status(), await answer.text()).toBe(201)
    return (await answer.json()) as Accepted
  }

  followUp(id: string): Promise<FollowUpView> {
    return this.get<FollowUpView>(`/v1/follow-ups/${id}`)
  }

  async list(params: Record<string, string | number>): Promise<FollowUpView[]> {
    return (await this.get<FollowUpPage>('/v1/follow-ups', { limit: 100, ...params })).items
  }

  counts(scope: 'mine' | 'team' = 'mine'): Promise<FollowUpCounts> {
    return this.get<FollowUpCounts>('/v1/follow-ups/counts', { scope })
  }

  inbox(params: Record<string, string | number> = {}): Promise<InboxPage> {
    return this.get<InboxPage>('/v1/notifications', params)
  }

  /** The customer's timeline activities with `subject` (its first 100 entries). */
  async activities(customerId: string, subject: string): Promise<TimelineEntry[]> {
    const page = await this.get<{ items: TimelineEntry[] }>(`/v1/customers/${customerId}/timeline`, { limit: 100 })
    return page.items.filter(
      (e) => e.kind === 'activity' && (e.details as { subject?: string }).subject === subject,
    )
  }
}

/** `2026-12-08 14:30`: the wall clock at `instant` in `timeZone`, as the app's due-time field takes it. */
export function wallTime(timeZone: string, instant: number): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(new Date(instant))
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`
}

/** A subject no other test uses. */
export function uniqueSubject(prefix: string): string {
  return `${prefix}${Date.now().toString(36).slice(-5)}`
}

/** A follow-up in a list on screen, by its subject. */
export function followUpItem(page: Page, subject: string): Locator {
  return page.getByRole('listitem').filter({ hasText: subject })
}

/**
 * Opens `hash` (e.g. `/pages/home/index`) already signed in with `session`,
 * as the app keeps it after a sign-in (Taro's H5 storage: `{"data": …}` in
 * localStorage), without spending a sign-in attempt.
 */
export async function openSignedIn(page: Page, session: Session, hash = '/pages/home/index'): Promise<void> {
  const stored = {
    accessToken: session.access_token,
    refreshToken: session.refresh_token,
    accessExpiresAt: Date.now() + session.expires_in * 1000,
    tenantId: session.tenant_id,
    login: session.login,
    role: session.role,
    mustChangePassword: session.must_change_password,
  }
  await page.addInitScript((value) => {
    window.localStorage.setItem('crm.session', JSON.stringify({ data: value }))
  }, stored)
  await page.goto(`/app/#${hash}`)
}
