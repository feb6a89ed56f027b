/**
 * Commands that must not be lost on a phone's network: each gets its
 * `Idempotency-Key` when the person issues it, and keeps it until the
 * service has answered. Without an answer (no network, a timeout, a gateway
 * or a busy service) the command waits in the device's storage and is sent
 * again later with the same key, so the service records it once however
 * many times it arrives. Queued commands go out in the order they were
 * issued; a new command waits behind them.
 *
 *   const sent = await issue({ method: 'post', path: '/v1/customers/{id}/activities',
 *     params: { id }, body, label: '记录跟进' })
 *   if (sent.status === 'sent') reload(sent.answer.position)
 */
import Taro from '@tarojs/taro'

import { api, type Client } from './client'
import { NetworkError, ProblemError } from './problem'
import type { components } from './schema'
import { loadSession } from './session'

export type Accepted = components['schemas']['Accepted']

type CommandMethod = 'post' | 'put' | 'patch' | 'delete'

/** A command as the person issued it. */
export interface Command {
  method: CommandMethod
  /** The route's template, e.g. `/v1/customers/{id}/stage`. */
  path: string
  params?: Record<string, string>
  body?: unknown
  /** The version the person saw (`If-Match`); for edits that must not overwrite another's. */
  ifMatch?: number
  /** What the person did, in their words (shown while it waits). */
  label: string
  /** The customer it concerns, so its screen can show what waits for it. */
  customerId?: string
}

export interface QueuedCommand extends Command {
  /** The Idempotency-Key, made when the command was issued. */
  key: string
  /** Epoch ms when issued. */
  issuedAt: number
  /** `tenant/login` of who issued it: never sent under someone else's session. */
  issuer: string
  attempts: number
}

export type Outcome =
  | { status: 'sent'; answer: Accepted; command: QueuedCommand }
  | { status: 'queued'; command: QueuedCommand }

/** A queued command the service refused when it was finally sent. */
export interface Refusal {
  command: QueuedCommand
  error: ProblemError
}

const KEY = 'crm.outbox'

/** Statuses that say nothing about whether the command was done: try again later. */
const RETRYABLE = new Set([408, 425, 429, 502, 503, 504])

export function isRetryable(error: unknown): boolean {
  return error instanceof NetworkError || (error instanceof ProblemError && RETRYABLE.has(error.status))
}

/** An RFC 4122 version 4 UUID (crypto where the platform has it). */
export function newIdempotencyKey(random: () => number = Math.random): string {
  const cryptoApi = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (random === Math.random && typeof cryptoApi?.randomUUID === 'function') {
    return cryptoApi.randomUUID()
  }
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16))
  hex[12] = 4
  hex[16] = ((hex[16] ?? 0) & 0x3) | 0x8
  const s = hex.map((n) => n.toString(16)).join('')
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`
}

type Listener = () => void

export interface Outbox {
  /** Sends `command` now, or keeps it for later when no answer comes. Throws the service's refusals. */
  issue(command: Command): Promise<Outcome>
  /** Sends what waits, in order, until one gets no answer. Returns how many were sent. */
  flush(): Promise<number>
  /** What waits for the signed-in person. */
  pending(): QueuedCommand[]
  /** Called whenever the queue changes (a command kept, sent or refused). */
  onChange(listener: Listener): () => void
  /** Called for each queued command the service refused on a later attempt. */
  onRefused(listener: (refusal: Refusal) => void): () => void
}

export interface OutboxOptions {
  client?: Client
  now?: () => number
  newKey?: () => string
}

export function createOutbox(options: OutboxOptions = {}): Outbox {
  const client = options.client ?? api
  const now = options.now ?? Date.now
  const newKey = options.newKey ?? (() => newIdempotencyKey())
  const changeListeners = new Set<Listener>()
  const refusalListeners = new Set<(refusal: Refusal) => void>()
  let flushing: Promise<number> | null = null
  /** Answers of commands sent by a flush, for the issue() that queued them behind others. */
  const answers = new Map<string, Accepted>()
  const refusals = new Map<string, ProblemError>()
  /** Keys an issue() waits on behind others: only their outcomes are kept for it. */
  const awaited = new Set<string>()

  function load(): QueuedCommand[] {
    try {
      const raw: unknown = Taro.getStorageSync(KEY)
      return Array.isArray(raw) ? (raw as QueuedCommand[]) : []
    } catch {
      return []
    }
  }
  function store(queue: QueuedCommand[]) {
    Taro.setStorageSync(KEY, queue)
    for (const listener of [...changeListeners]) listener()
  }
  function issuer(): string {
    const session = loadSession()
    return session === null ? '' : `${session.tenantId}/${session.login}`
  }

  async function send(command: QueuedCommand): Promise<Accepted> {
    const headers: Record<string, string> = { 'Idempotency-Key': command.key }
    if (command.ifMatch !== undefined) headers['If-Match'] = `"${command.ifMatch}"`
    const call = client[command.method].bind(client) as (
      path: string,
      options: { path?: Record<string, string>; body?: unknown; headers: Record<string, string> },
    ) => Promise<unknown>
    const answer = await call(command.path, {
      ...(command.params !== undefined ? { path: command.params } : {}),
      ...(command.body !== undefined ? { body: command.body } : {}),
      headers,
    })
    return answer as Accepted
  }

  function remove(key: string) {
    store(load().filter((c) => c.key !== key))
  }
  function countAttempt(key: string) {
    store(load().map((c) => (c.key === key ? { ...c, attempts: c.attempts + 1 } : c)))
  }

  async function flushNow(): Promise<number> {
    const me = issuer()
    let sent = 0
    for (;;) {
      const next = load().find((c) => c.issuer === me)
      if (next === undefined || me === '') return sent
      try {
        const answer = await send(next)
        if (awaited.has(next.key)) answers.set(next.key, answer)
        remove(next.key)
        sent += 1
      } catch (error) {
        if (isRetryable(error)) {
          countAttempt(next.key)
          return sent
        }
        remove(next.key)
        const refusal =
          error instanceof ProblemError
            ? error
            : new ProblemError({ type: 'about:blank', title: 'Error', status: 0, detail: String(error) })
        if (awaited.has(next.key)) refusals.set(next.key, refusal)
        for (const listener of [...refusalListeners]) listener({ command: next, error: refusal })
      }
    }
  }

  function flush(): Promise<number> {
    flushing ??= flushNow().finally(() => {
      flushing = null
    })
    return flushing
  }

  async function issue(command: Command): Promise<Outcome> {
    const queued: QueuedCommand = { ...command, key: newKey(), issuedAt: now(), issuer: issuer(), attempts: 0 }
    // Behind what already waits: order is kept per device.
    if (flushing !== null) await flushing.catch(() => 0)
    if (pending().length > 0) {
      store([...load(), queued])
      awaited.add(queued.key)
      await flush().finally(() => awaited.delete(queued.key))
      const answer = answers.get(queued.key)
      answers.delete(queued.key)
      if (answer !== undefined) return { status: 'sent', answer, command: queued }
      const refusal = refusals.get(queued.key)
      refusals.delete(queued.key)
      if (refusal !== undefined) throw refusal
      return { status: 'queued', command: queued }
    }
    try {
      const answer = await send(queued)
      return { status: 'sent', answer, command: queued }
    } catch (error) {
      if (!isRetryable(error)) throw error
      store([...load(), { ...queued, attempts: 1 }])
      return { status: 'queued', command: queued }
    }
  }

  function pending(): QueuedCommand[] {
    const me = issuer()
    return load().filter((c) => c.issuer === me)
  }

  return {
    issue,
    flush,
    pending,
    onChange(listener) {
      changeListeners.add(listener)
      return () => void changeListeners.delete(listener)
    },
    onRefused(listener) {
      refusalListeners.add(listener)
      return () => void refusalListeners.delete(listener)
    },
  }
}

/** The app's outbox. */
export const outbox = createOutbox()

const RETRY_MS = [2_000, 5_000, 10_000, 30_000]

/**
 * Sends what waits: at launch, when the network comes back, when the app
 * is shown again, and on a timer that backs off while nothing gets through.
 */
export function keepSending(box: Outbox = outbox): void {
  let failures = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const schedule = () => {
    if (timer !== undefined) clearTimeout(timer)
    if (box.pending().length === 0) {
      timer = undefined
      return
    }
    const delay = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)] ?? 30_000
    timer = setTimeout(() => void attempt(), delay)
  }
  const attempt = async () => {
    await box.flush().catch(() => 0)
    failures = box.pending().length > 0 ? failures + 1 : 0
    schedule()
  }
  box.onChange(() => {
    if (timer === undefined) schedule()
  })
  const now = () => {
    failures = 0
    void attempt()
  }
  try {
    Taro.onNetworkStatusChange((status) => {
      if (status.isConnected) now()
    })
    Taro.onAppShow(now)
  } catch {
    // a platform without these events: the timer alone
  }
  now()
}
