import { useCallback, useEffect, useRef, useState } from 'react'
import { Button, Input, Text, View } from '@tarojs/components'
import Taro, { useLoad, usePullDownRefresh } from '@tarojs/taro'

import {
  api,
  describeError,
  loadSession,
  NetworkError,
  ProblemError,
  type components,
  type Stage,
} from '../../api'
import { StateView } from '../../components/StateView'
import { customerPage, LOGIN_PAGE } from '../../routes'
import { STAGES, stageInfo } from '../../stages'
import {
  days,
  money,
  percent,
  PERIODS,
  periodFrom,
  randomUuid,
  reasonNeed,
  targetStages,
  type Period,
} from './model'

import './index.css'

type Funnel = components['schemas']['Funnel']
type FunnelStage = components['schemas']['FunnelStage']
type CustomerCard = components['schemas']['CustomerCard']

/** Cards per column (the service allows 0–50). */
const CARDS = 10
const ALL_STAGES: readonly Stage[] = STAGES.map((s) => s.code)

type BoardState =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'ready'; funnel: Funnel }

interface Move {
  card: CustomerCard
  from: Stage
  to: Stage
}

interface ReasonAsk extends Move {
  required: boolean
}

function stageName(code: string): string {
  return stageInfo(code).name
}

function Card({
  card,
  stage,
  onMove,
}: {
  card: CustomerCard
  stage: Stage
  onMove: (card: CustomerCard, from: Stage) => void
}) {
  const owner = card.owner_name ?? card.owner_id
  return (
    <View
      className='card'
      ariaRole='listitem'
      data-card-id={card.id}
      data-stage={stage}
      onLongPress={() => onMove(card, stage)}
    >
      <View
        className='card__main'
        ariaRole='link'
        ariaLabel={`${card.name}，${card.company ?? '—'}，${money(card.deal_value)}，负责人 ${owner}`}
        onClick={() => void Taro.navigateTo({ url: customerPage(card.id) })}
      >
        {/* the spaces: the accessible name contains the visible words in order (axe) */}
        <Text className='card__name'>{card.name}</Text>{' '}
        <Text className='card__company'>{card.company ?? '—'}</Text>{' '}
        <View className='card__meta'>
          <Text className='card__value'>{money(card.deal_value)}</Text>{' '}
          <Text className='card__owner'>负责人 {owner}</Text>
        </View>
      </View>
      <View
        className='card__move'
        ariaRole='button'
        ariaLabel={`移动 ${card.name}`}
        onClick={(e) => {
          e.stopPropagation()
          onMove(card, stage)
        }}
      >
        移动
      </View>
    </View>
  )
}

function Column({
  stage,
  onMove,
  dropTarget,
}: {
  stage: FunnelStage
  onMove: (card: CustomerCard, from: Stage) => void
  dropTarget: boolean
}) {
  const name = stage.name || stageName(stage.id)
  return (
    <View
      className={`column ${dropTarget ? 'column--drop' : ''}`}
      ariaRole='region'
      ariaLabel={`${name}，${stage.count} 位客户`}
      data-drop-stage={stage.id}
    >
      <View className='column__head' style={{ borderTopColor: stage.color || stageInfo(stage.id).colour }}>
        <View className='column__title'>
          <Text className='column__name'>{name}</Text>
          <Text className='column__count'>{stage.count}</Text>
        </View>
        <View className='column__figures'>
          <Text>总额 {money(stage.total_value)}</Text>
          <Text>加权 {money(stage.weighted_value)}</Text>
          <Text>转化率 {percent(stage.conversion_rate)}</Text>
          <Text>周期 {days(stage.avg_cycle_days)}</Text>
        </View>
      </View>
      {stage.customers.length === 0 ? (
        <Text className='column__empty'>暂无客户</Text>
      ) : (
        <View className='column__cards' ariaRole='list'>
          {stage.customers.map((card) => (
            <Card key={card.id} card={card} stage={stage.id} onMove={onMove} />
          ))}
          {stage.count > stage.customers.length && (
            <Text className='column__more'>另有 {stage.count - stage.customers.length} 位</Text>
          )}
        </View>
      )}
    </View>
  )
}

export default function FunnelPage() {
  const [session] = useState(() => loadSession())
  const signedIn = session !== null
  const canPickOwner = session !== null && session.role !== 'rep'
  const [period, setPeriod] = useState<Period>('all')
  const [owner, setOwner] = useState('')
  const [owners, setOwners] = useState<ReadonlyMap<string, string>>(new Map())
  const [state, setState] = useState<BoardState>({ status: 'loading' })
  const [reasonAsk, setReasonAsk] = useState<ReasonAsk | null>(null)
  const [reasonText, setReasonText] = useState('')
  const [dropStage, setDropStage] = useState<string | null>(null)
  const generation = useRef(0)
  const stateRef = useRef(state)
  stateRef.current = state
  /** Idempotency keys of moves not yet answered, kept so that a retry sends the same one. */
  const pendingKeys = useRef(new Map<string, string>())

  useLoad(() => {
    if (!signedIn) void Taro.reLaunch({ url: LOGIN_PAGE })
  })

  const reload = useCallback(
    async (minPosition?: number, quiet = false) => {
      const mine = ++generation.current
      if (!quiet || stateRef.current.status !== 'ready') setState({ status: 'loading' })
      try {
        const funnel = await api.get('/v1/funnel', {
          query: {
            owner_id: owner || undefined,
            from: periodFrom(period),
            cards: CARDS,
            min_position: minPosition,
          },
        })
        if (mine !== generation.current) return
        setState({ status: 'ready', funnel })
        setOwners((known) => {
          let next: Map<string, string> | null = null
          for (const s of funnel.stages) {
            for (const c of s.customers) {
              if (!known.has(c.owner_id) && !next?.has(c.owner_id)) {
                next ??= new Map(known)
                next.set(c.owner_id, c.owner_name ?? c.owner_id)
              }
            }
          }
          return next ?? known
        })
      } catch (error) {
        if (mine !== generation.current) return
        if (quiet && stateRef.current.status === 'ready') {
          void Taro.showToast({ title: describeError(error).message, icon: 'none' })
        } else {
          setState({ status: 'error', error })
        }
      }
    },
    [owner, period],
  )

  useEffect(() => {
    if (signedIn) void reload()
  }, [reload, signedIn])

  usePullDownRefresh(() => {
    void reload(undefined, true).finally(() => void Taro.stopPullDownRefresh())
  })

  const send = useCallback(
    async ({ card, from, to }: Move, reason?: string): Promise<void> => {
      const slot = `${card.id}→${to}→${reason ?? ''}`
      let key = pendingKeys.current.get(slot)
      if (key === undefined) {
        key = randomUuid()
        pendingKeys.current.set(slot, key)
      }
      // CustomerCard carries no version: no If-Match (the service orders the moves).
      try {
        const answer = await api.put('/v1/customers/{id}/stage', {
          path: { id: card.id },
          body: { stage: to, ...(reason !== undefined && reason !== '' ? { reason } : {}) },
          headers: { 'Idempotency-Key': key },
        })
        pendingKeys.current.delete(slot)
        void Taro.showToast({ title: `已移至${stageName(to)}`, icon: 'none' })
        await reload(answer.position, true)
      } catch (error) {
        const retryable =
          error instanceof NetworkError || (error instanceof ProblemError && error.status >= 500)
        if (!retryable) pendingKeys.current.delete(slot)
        if (error instanceof ProblemError && (error.status === 409 || error.status === 412)) {
          const { confirm } = await Taro.showModal({
            title: '数据已变化',
            content: `${card.name} 已被他人修改，刷新看板后再试？`,
            confirmText: '刷新',
          })
          if (confirm) await reload(undefined, true)
          return
        }
        if (error instanceof ProblemError && error.status === 422) {
          if (error.fieldError('reason') !== undefined) {
            setReasonText(reason ?? '')
            setReasonAsk({ card, from, to, required: true })
            return
          }
          const messages = Object.values(error.fieldErrors).flat()
          await Taro.showModal({
            title: '无法移动',
            content: messages.length > 0 ? messages.join('；') : error.detail || error.title,
            showCancel: false,
          })
          return
        }
        if (retryable) {
          const { confirm } = await Taro.showModal({
            title: describeError(error).message,
            content: `${card.name} 未能移至${stageName(to)}，重试？`,
            confirmText: '重试',
          })
          if (confirm) await send({ card, from, to }, reason)
          return
        }
        void Taro.showToast({ title: describeError(error).message, icon: 'none' })
      }
    },
    [reload],
  )

  const moveTo = useCallback(
    (move: Move) => {
      const need = reasonNeed(move.from, move.to)
      if (need === 'none') {
        void send(move)
        return
      }
      setReasonText('')
      setReasonAsk({ ...move, required: need === 'required' })
    },
    [send],
  )

  const openMoveSheet = useCallback(
    (card: CustomerCard, from: Stage) => {
      const targets = targetStages(from, ALL_STAGES)
      Taro.showActionSheet({ itemList: targets.map(stageName) })
        .then(({ tapIndex }) => {
          const to = targets[tapIndex]
          if (to !== undefined) moveTo({ card, from, to })
        })
        .catch(() => {
          // cancelled
        })
    },
    [moveTo],
  )

  // H5: drag a card onto another column (HTML5 drag and drop).
  useEffect(() => {
    if (process.env.TARO_ENV !== 'h5' || state.status !== 'ready') return
    const cards = new Map<string, { card: CustomerCard; from: Stage }>()
    for (const s of state.funnel.stages) for (const c of s.customers) cards.set(c.id, { card: c, from: s.id })
    document.querySelectorAll<HTMLElement>('[data-card-id]').forEach((el) => {
      el.draggable = true
    })
    let dragged: { card: CustomerCard; from: Stage } | null = null
    const column = (e: Event) =>
      (e.target instanceof Element ? e.target.closest<HTMLElement>('[data-drop-stage]') : null)
    const onStart = (e: DragEvent) => {
      const el = e.target instanceof Element ? e.target.closest<HTMLElement>('[data-card-id]') : null
      const id = el?.dataset.cardId
      dragged = id !== undefined ? (cards.get(id) ?? null) : null
      if (dragged !== null && e.dataTransfer !== null) {
        e.dataTransfer.effectAllowed = 'move'
        e.dataTransfer.setData('text/plain', dragged.card.id)
      }
    }
    const allowed = (to: string | undefined): to is Stage =>
      dragged !== null && to !== undefined && targetStages(dragged.from, ALL_STAGES).includes(to as Stage)
    const onOver = (e: DragEvent) => {
      const to = column(e)?.dataset.dropStage
      if (!allowed(to)) return
      e.preventDefault()
      setDropStage(to)
    }
    const onDrop = (e: DragEvent) => {
      const to = column(e)?.dataset.dropStage
      setDropStage(null)
      if (!allowed(to) || dragged === null) return
      e.preventDefault()
      const move = { card: dragged.card, from: dragged.from, to }
      dragged = null
      moveTo(move)
    }
    const onEnd = () => {
      dragged = null
      setDropStage(null)
    }
    document.addEventListener('dragstart', onStart)
    document.addEventListener('dragover', onOver)
    document.addEventListener('drop', onDrop)
    document.addEventListener('dragend', onEnd)
    return () => {
      document.removeEventListener('dragstart', onStart)
      document.removeEventListener('dragover', onOver)
      document.removeEventListener('drop', onDrop)
      document.removeEventListener('dragend', onEnd)
    }
  }, [state, moveTo])

  const totals = state.status === 'ready' ? state.funnel.totals : null

  return (
    <View className='funnel'>
      <View className='funnel__bar'>
        <View className='funnel__chips' ariaRole='radiogroup' ariaLabel='按时间筛选'>
          {PERIODS.map((p) => (
            <View
              key={p.code}
              className={`funnel__chip ${period === p.code ? 'funnel__chip--on' : ''}`}
              ariaRole='radio'
              aria-checked={period === p.code ? 'true' : 'false'}
              ariaLabel={period === p.code ? `${p.name}，已选中` : p.name}
              onClick={() => setPeriod(p.code)}
            >
              {p.name}
            </View>
          ))}
        </View>
        {canPickOwner && owners.size > 0 && (
          <View className='funnel__chips' ariaRole='radiogroup' ariaLabel='按负责人筛选'>
            {[['', '全部负责人'] as const, ...owners].map(([id, name]) => (
              <View
                key={id}
                className={`funnel__chip ${owner === id ? 'funnel__chip--on' : ''}`}
                ariaRole='radio'
                aria-checked={owner === id ? 'true' : 'false'}
                ariaLabel={owner === id ? `${name}，已选中` : name}
                onClick={() => setOwner(id)}
              >
                {name}
              </View>
            ))}
          </View>
        )}
        {totals !== null && (
          <View className='funnel__totals' ariaRole='status'>
            <Text>共 {totals.count} 位客户</Text>
            <Text>总额 {money(totals.total_value)}</Text>
            <Text>加权 {money(totals.weighted_value)}</Text>
          </View>
        )}
      </View>

      {state.status === 'loading' && <StateView kind='loading' />}
      {state.status === 'error' && (
        <StateView kind='error' error={state.error} onRetry={() => void reload()} />
      )}
      {state.status === 'ready' && state.funnel.totals.count === 0 && (
        <StateView kind='empty' text='这段时间没有客户' hint='换个时间或负责人试试' />
      )}
      {state.status === 'ready' && state.funnel.totals.count > 0 && (
        <View className='funnel__board'>
          {state.funnel.stages.map((s) => (
            <Column key={s.id} stage={s} onMove={openMoveSheet} dropTarget={dropStage === s.id} />
          ))}
        </View>
      )}

      {reasonAsk !== null && (
        <View className='reason' ariaRole='dialog' ariaLabel='填写原因'>
          <View className='reason__box'>
            <Text className='reason__title'>
              {reasonAsk.card.name} 移至{stageName(reasonAsk.to)}
            </Text>
            <Text className='reason__hint'>
              {reasonAsk.required ? '重新打开已结束的商机需要填写原因' : '失败原因（可不填）'}
            </Text>
            <Input
              className='reason__input'
              ariaLabel='原因'
              placeholder='原因'
              maxlength={500}
              value={reasonText}
              onInput={(e) => setReasonText(e.detail.value)}
            />
            <View className='reason__actions'>
              <Button size='mini' ariaLabel='取消' onClick={() => setReasonAsk(null)}>
                取消
              </Button>
              <Button
                size='mini'
                type='primary'
                ariaLabel='确定'
                disabled={reasonAsk.required && reasonText.trim() === ''}
                onClick={() => {
                  const ask = reasonAsk
                  setReasonAsk(null)
                  void send(ask, reasonText.trim() || undefined)
                }}
              >
                确定
              </Button>
            </View>
          </View>
        </View>
      )}
    </View>
  )
}
