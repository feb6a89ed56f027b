/**
 * Server-Sent Events, as the HTML standard reads them, fed by chunks of
 * text however they were cut: lines end in CRLF, LF or CR; `:` lines are
 * comments (heartbeats); a blank line dispatches the event. `id:` sets the
 * last event id (kept across events, to resume from), `retry:` the
 * reconnection time.
 */
export interface SseEvent {
  /** `message` unless the event said otherwise. */
  event: string
  data: string
  /** The last event id when it was dispatched. */
  lastEventId: string
}

export class SseParser {
  private buffer = ''
  private started = false
  private data: string[] = []
  private type = ''
  /** The last event id seen (kept after dispatches, as the standard says). */
  lastEventId = ''
  /** Milliseconds the server asked to wait before reconnecting. */
  retry: number | undefined

  /** Reads `chunk`; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    let text = this.buffer + chunk
    if (!this.started && text.length > 0) {
      this.started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    const events: SseEvent[] = []
    let start = 0
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c !== 10 && c !== 13) continue
      // a CR at the very end may be the first half of a CRLF: wait for more
      if (c === 13 && i === text.length - 1) break
      const line = text.slice(start, i)
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++
      start = i + 1
      const event = this.line(line)
      if (event !== undefined) events.push(event)
    }
    this.buffer = text.slice(start)
    return events
  }

  /** The stream ended: an event without its blank line is dropped (as the standard says). */
  end(): void {
    this.buffer = ''
    this.data = []
    this.type = ''
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') {
      const type = this.type
      this.type = ''
      if (this.data.length === 0) return undefined
      const data = this.data.join('\n')
      this.data = []
      return { event: type === '' ? 'message' : type, data, lastEventId: this.lastEventId }
    }
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (field) {
      case 'data':
        this.data.push(value)
        break
      case 'event':
        this.type = value
        break
      case 'id':
        if (!value.includes('\u0000')) this.lastEventId = value
        break
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value)
        break
      default:
        break
    }
    return undefined
  }
}

/**
 * UTF-8 bytes to text across chunk boundaries, for platforms without
 * TextDecoder (WeChat's chunked requests hand over ArrayBuffers). Invalid
 * sequences become U+FFFD.
 */
export class Utf8Stream {
  private pending: number[] = []

  decode(chunk: ArrayBuffer | Uint8Array): string {
    const bytes = chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk)
    const all = this.pending.length > 0 ? [...this.pending, ...Array.from(bytes)] : Array.from(bytes)
    this.pending = []
    let out = ''
    let i = 0
    while (i < all.length) {
      const b = all[i]!
      const need = b < 0x80 ? 0 : b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 && b < 0xe0 ? 1 : -1
      if (need === -1) {
        out += '\ufffd'
        i++
        continue
      }
      if (i + need >= all.length && all.slice(i + 1).every((x) => (x & 0xc0) === 0x80)) {
        // a character cut by the chunk's end: the rest comes with the next chunk
        this.pending = all.slice(i)
        break
      }
      let cp = need === 0 ? b : need === 1 ? b & 0x1f : need === 2 ? b & 0x0f : b & 0x07
      let ok = true
      for (let k = 1; k <= need; k++) {
        const x = all[i + k]
        if (x === undefined || (x & 0xc0) !== 0x80) {
          ok = false
          break
        }
        cp = (cp << 6) | (x & 0x3f)
      }
      if (!ok || (need === 2 && cp < 0x800) || (need === 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) {
        out += '\ufffd'
        i++
        continue
      }
      out += String.fromCodePoint(cp)
      i += need + 1
    }
    return out
  }
}
