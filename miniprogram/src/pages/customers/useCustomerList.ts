import { useCallback, useEffect, useRef, useState } from 'react'

import { api, type components, type CustomerSummary } from '../../api'

type Stage = components['schemas']['Stage']
type Lifecycle = components['schemas']['Lifecycle']

export interface Filters {
  /** Substring of name, company or phone; Chinese included (two characters are enough). */
  q: string
  /** A stage code, or '' for every stage. */
  stage: string
  /** A lifecycle code, or '' for every lifecycle. */
  lifecycle?: string
  /** One tag, or ''. */
  tag?: string
  /** An owner's login (managers and admins), or ''. */
  owner?: string
}

export type ListState =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | {
      status: 'ready'
      items: CustomerSummary[]
      /** The keyset cursor of the next page; null on the last page. */
      nextCursor: string | null
      loadingMore: boolean
      moreError: unknown
    }

const PAGE_SIZE = 20

/**
 * The customer list for `filters`: the first page, the next ones on the
 * keyset cursor, and a refresh. An answer for filters no longer shown is
 * dropped.
 */
export function useCustomerList(filters: Filters, enabled: boolean) {
  const [state, setState] = useState<ListState>({ status: 'loading' })
  const generation = useRef(0)
  const stateRef = useRef(state)
  stateRef.current = state

  const fetchPage = useCallback(
    (cursor: string | undefined) =>
      api.get('/v1/customers', {
        query: {
          q: filters.q.trim() || undefined,
          stage: (filters.stage || undefined) as Stage | undefined,
          lifecycle: (filters.lifecycle || undefined) as Lifecycle | undefined,
          tag: filters.tag?.trim() || undefined,
          owner_id: filters.owner || undefined,
          limit: PAGE_SIZE,
          cursor,
        },
      }),
    [filters.q, filters.stage, filters.lifecycle, filters.tag, filters.owner],
  )

  /** The first page again; `quiet` keeps the rows shown meanwhile (pull to refresh). */
  const reload = useCallback(
    async (quiet = false) => {
      const mine = ++generation.current
      if (!quiet || stateRef.current.status !== 'ready') setState({ status: 'loading' })
      try {
        const page = await fetchPage(undefined)
        if (mine !== generation.current) return
        setState({
          status: 'ready',
          items: page.items,
          nextCursor: page.next_cursor ?? null,
          loadingMore: false,
          moreError: null,
        })
      } catch (error) {
        if (mine !== generation.current) return
        if (quiet && stateRef.current.status === 'ready') {
          // keep the rows; say the refresh failed below them
          setState({ ...stateRef.current, moreError: error, loadingMore: false })
        } else {
          setState({ status: 'error', error })
        }
      }
    },
    [fetchPage],
  )

  const loadMore = useCallback(async () => {
    const current = stateRef.current
    if (current.status !== 'ready' || current.loadingMore || current.nextCursor === null) return
    const mine = generation.current
    const cursor = current.nextCursor
    setState({ ...current, loadingMore: true, moreError: null })
    try {
      const page = await fetchPage(cursor)
      if (mine !== generation.current) return
      setState((s) =>
        s.status !== 'ready'
          ? s
          : {
              ...s,
              items: [...s.items, ...page.items.filter((c) => !s.items.some((i) => i.id === c.id))],
              nextCursor: page.next_cursor ?? null,
              loadingMore: false,
            },
      )
    } catch (error) {
      if (mine !== generation.current) return
      setState((s) => (s.status !== 'ready' ? s : { ...s, loadingMore: false, moreError: error }))
    }
  }, [fetchPage])

  useEffect(() => {
    if (enabled) void reload()
  }, [reload, enabled])

  return { state, reload, loadMore }
}
