/**
 * The session ended (a 401 the refresh token could not mend): the app goes
 * back to sign-in. A tiny emitter of its own, so the API layer needs no page.
 */
type Listener = () => void

const listeners = new Set<Listener>()

export function onUnauthorized(listener: Listener): () => void {
  listeners.add(listener)
  return () => {
    listeners.delete(listener)
  }
}

export function emitUnauthorized(): void {
  for (const listener of [...listeners]) listener()
}
