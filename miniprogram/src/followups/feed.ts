/**
 * The live notifications feed (`GET /v1/notifications/stream`, Server-Sent
 * Events), one per app, shared by the screens that show the unread badge
 * and the inbox.
 *
 * It first reads the inbox (newest id, unread count), then follows the
 * stream from that id. On H5 it reads the stream with fetch and a
 * ReadableStream (EventSource cannot send the Bearer header); on WeChat
 * with a chunked `Taro.request`, or, where the platform cannot hand over
 * chunks, by polling the inbox every 20 s. A dropped connection is
 * reopened with back-off and resumes after the last id received, so nothing
 * is missed; `event: shutdown` reconnects at once (to another instance).
 */
import Taro from '@tarojs/taro'

import { api, defaultBaseUrl, loadSession, type components } from '../api'
import { backoffDelay } from './backoff'
import { SseParser, Utf8Stream, type SseEvent } from './sse'

export type Notification = components['schemas']['Notification']

export interface FeedState {
  unread: number
  /** The stream (or the polling) is up. */
  live: boolean
}

type ChangeListener = (state: FeedState) => void
type ArrivalListener = (notification: Notification) => void

const POLL_MS = 20_000
/** The service sends a heartbeat every 15 s: this long without a byte, the connection is dead. */
const SILENCE_MS = 45_000
const STREAM_PATH = '/v1/notifications/stream'

class Unauthorized extends Error {}
class NoChunks extends Error {}

interface Connection {
  /** Resolves when the stream ends (closed by the service), rejects on failure. */
  done: Promise<void>
  abort: () => void
}

/** H5: fetch with the Bearer header, the body read as a stream. */
function connectWithFetch(url: string, token: string, onEvent: (e: SseEvent) => void, onOpen: () => void): Connection {
  const controller = new AbortController()
  let watchdog: ReturnType<typeof setTimeout> | undefined
  const heard = () => {
    clearTimeout(watchdog)
    watchdog = setTimeout(() => controller.abort(), SILENCE_MS)
  }
  heard()
  const done = (async () => {
    const res = await fetch(url, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
      cache: 'no-store',
      signal: controller.signal,
    })
    if (res.status === 401) throw new Unauthorized()
    if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`)
    onOpen()
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    const parser = new SseParser()
    for (;;) {
      const { done: ended, value } = await reader.read()
      if (ended) break
      heard()
      for (const event of parser.push(decoder.decode(value, { stream: true }))) onEvent(event)
    }
  })().finally(() => clearTimeout(watchdog))
  return { done, abort: () => controller.abort() }
}

/** WeChat: a chunked request; throws NoChunks where the platform cannot. */
function connectWithChunks(url: string, token: string, onEvent: (e: SseEvent) => void, onOpen: () => void): Connection {
  const parser = new SseParser()
  const utf8 = new Utf8Stream()
  const task = Taro.request({
    url,
    method: 'GET',
    header: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
    enableChunked: true,
    responseType: 'arraybuffer',
    // wx.request ends a request at its timeout: the feed reconnects after the last id then
    timeout: 60_000,
  }) as Promise<{ statusCode: number }> & {
    abort?: () => void
    onChunkReceived?: (cb: (res: { data: ArrayBuffer }) => void) => void
    onHeadersReceived?: (cb: (res: { statusCode?: number }) => void) => void
  }
  if (typeof task.onChunkReceived !== 'function') {
    task.abort?.()
    task.catch(() => undefined)
    return { done: Promise.reject(new NoChunks()), abort: () => undefined }
  }
  task.onHeadersReceived?.((res) => {
    if (res.statusCode === undefined || res.statusCode === 200) onOpen()
  })
  let watchdog: ReturnType<typeof setTimeout> | undefined
  const heard = () => {
    clearTimeout(watchdog)
    watchdog = setTimeout(() => task.abort?.(), SILENCE_MS)
  }
  heard()
  task.onChunkReceived((res) => {
    heard()
    for (const event of parser.push(utf8.decode(res.data))) onEvent(event)
  })
  const done = task
    .then((res) => {
      if (res.statusCode === 401) throw new Unauthorized()
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
    })
    .finally(() => clearTimeout(watchdog))
  return { done, abort: () => task.abort?.() }
}

export interface Feed {
  /** Follows the feed while anyone listens; returns the unsubscribe. */
  subscribe(onChange: ChangeListener): () => void
  /** Each notification as it arrives (does not start the feed by itself). */
  onArrival(listener: ArrivalListener): () => void
  state(): FeedState
  /** The inbox's unread count as a screen read it (after marking read). */
  setUnread(unread: number): void
  /** Reconnect now (the app came back to the foreground, the network is back). */
  wake(): void
}

export function createFeed(): Feed {
  const changeListeners = new Set<ChangeListener>()
  const arrivalListeners = new Set<ArrivalListener>()
  let unread = 0
  let live = false
  /** The newest notification id seen; undefined until the inbox is read. */
  let lastId: number | undefined
  let owner = ''
  let running = false
  let polling = false
  let connection: Connection | null = null
  let wakeUp: (() => void) | null = null

  const emit = () => {
    const state = { unread, live }
    for (const listener of [...changeListeners]) listener(state)
  }
  const setLive = (value: boolean) => {
    if (live !== value) {
      live = value
      emit()
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        wakeUp = null
        resolve()
      }
      wakeUp = done
    })
  }

  function arrived(n: Notification) {
    if (lastId !== undefined && n.id <= lastId) return
    lastId = n.id
    if (n.read_at === null || n.read_at === undefined) unread += 1
    for (const listener of [...arrivalListeners]) listener(n)
    emit()
  }

  function onEvent(event: SseEvent) {
    if (event.event !== 'notification') return
    try {
      arrived(JSON.parse(event.data) as Notification)
    } catch {
      // not a notification we can read: the inbox still has it
    }
  }

  async function readInbox() {
    const page = await api.get('/v1/notifications', { query: { limit: 1 } })
    lastId = Math.max(lastId ?? 0, page.items[0]?.id ?? 0)
    unread = page.unread
    emit()
  }

  /** Polling (WeChat without chunks): every notification newer than the last id, oldest first. */
  async function pollOnce() {
    const page = await api.get('/v1/notifications', { query: { limit: 100 } })
    const fresh = page.items.filter((n) => n.id > (lastId ?? 0)).sort((a, b) => a.id - b.id)
    for (const n of fresh) arrived(n)
    // the inbox's own count: it has the fresh ones, and those read elsewhere
    unread = page.unread
    emit()
  }

  async function run() {
    let failures = 0
    while (changeListeners.size > 0) {
      const session = loadSession()
      if (session === null) break
      const who = `${session.tenantId}/${session.login}`
      if (who !== owner) {
        owner = who
        lastId = undefined
      }
      try {
        if (lastId === undefined) await readInbox()
        if (polling) {
          await pollOnce()
          setLive(true)
          failures = 0
          await sleep(POLL_MS)
          continue
        }
        const url = `${defaultBaseUrl()}${STREAM_PATH}?after=${lastId ?? 0}`
        const connect = process.env.TARO_ENV === 'h5' ? connectWithFetch : connectWithChunks
        const opened = () => {
          failures = 0
          setLive(true)
        }
        connection = connect(url, session.accessToken, onEvent, opened)
        await connection.done
        connection = null
        setLive(false)
        // closed by the service (a shutdown, a proxy's timeout): again at once, after the last id
        await sleep(300)
      } catch (error) {
        connection = null
        setLive(false)
        if (changeListeners.size === 0) break
        if (error instanceof NoChunks) {
          polling = true
          continue
        }
        if (error instanceof Unauthorized) {
          // an expired access token: the client renews it (or ends the session)
          await api.get('/v1/notifications', { query: { limit: 1 } }).catch(() => undefined)
          if (loadSession() === null) break
        }
        await sleep(backoffDelay(failures))
        failures += 1
      }
    }
    running = false
    setLive(false)
  }

  function start() {
    if (running) return
    running = true
    void run()
  }

  return {
    subscribe(onChange) {
      changeListeners.add(onChange)
      onChange({ unread, live })
      start()
      return () => {
        changeListeners.delete(onChange)
        if (changeListeners.size === 0) {
          connection?.abort()
          wakeUp?.()
        }
      }
    },
    onArrival(listener) {
      arrivalListeners.add(listener)
      return () => void arrivalListeners.delete(listener)
    },
    state: () => ({ unread, live }),
    setUnread(value) {
      unread = value
      emit()
    },
    wake() {
      if (!running) {
        if (changeListeners.size > 0) start()
        return
      }
      wakeUp?.()
    },
  }
}

/** The app's feed. */
export const feed = createFeed()
