import { useCallback, useEffect, useState } from 'react'
import { Text, View } from '@tarojs/components'
import Taro, { useDidShow, useRouter } from '@tarojs/taro'

import {
  api,
  describeError,
  outbox,
  ProblemError,
  type CustomerDetail,
  type Outcome,
  type QueuedCommand,
} from '../../api'
import { FollowUpItem } from '../../components/FollowUpItem'
import { StateView } from '../../components/StateView'
import type { FollowUpView } from '../../followups/labels'
import { feed } from '../../followups/feed'
import { useZone } from '../../followups/zone'
import { customerEditPage } from '../../routes'
import { STAGES, stageInfo } from '../../stages'
import { ActionPanel, type Panel } from './actions'
import { ProfileCard } from './profile'
import { ScheduleForm } from './schedule'
import { describe, when, type TimelineEntry } from './timeline'

import './index.css'

type State =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'missing' }
  | {
      status: 'ready'
      customer: CustomerDetail
      timeline: TimelineEntry[] | null
      /** Its open follow-ups; null when they could not be read. */
      followUps: FollowUpView[] | null
    }

function Row({ label, value, onClick }: { label: string; value: string; onClick?: () => void }) {
  return (
    <View className='detail__row' ariaLabel={`${label}：${value}`}>
      <Text className='detail__label'>{label}</Text>
      {onClick ? (
        <View className='detail__value detail__value--action' ariaRole='button' onClick={onClick}>
          {value}
        </View>
      ) : (
        <Text className='detail__value'>{value}</Text>
      )}
    </View>
  )
}

/** The customer 360: who it is, its stage and tags, its RFM profile, its history, and what to do next. */
export default function CustomerPage() {
  const { params } = useRouter()
  const id = params.id ?? ''
  const [state, setState] = useState<State>({ status: 'loading' })
  const [panel, setPanel] = useState<Panel>(null)
  const [waiting, setWaiting] = useState<QueuedCommand[]>(() => outbox.pending())
  const [notice, setNotice] = useState<string | null>(null)
  const [scheduling, setScheduling] = useState(false)
  const zone = useZone()
  // reminders arrive (as a toast) while this screen is shown too
  useEffect(() => feed.subscribe(() => undefined), [])

  /** Reads the customer; `minPosition`: not older than this write of the person's. */
  const load = useCallback(
    async (minPosition?: number, quiet = false) => {
      if (id === '') {
        setState({ status: 'missing' })
        return
      }
      if (!quiet) setState({ status: 'loading' })
      const fresh = minPosition !== undefined ? { min_position: minPosition } : {}
      try {
        // The timeline is read beside the customer; without it the page still shows who it is.
        const [customer, timeline, followUps] = await Promise.all([
          api.get('/v1/customers/{id}', { path: { id }, query: fresh }),
          api
            .get('/v1/customers/{id}/timeline', { path: { id }, query: { limit: 20, ...fresh } })
            .then((page) => page.items)
            .catch(() => null),
          api
            .get('/v1/follow-ups', { query: { customer_id: id, status: 'open', due: 'all', limit: 20, ...fresh } })
            .then((page) => page.items)
            .catch(() => null),
        ])
        setState({ status: 'ready', customer, timeline, followUps })
        void Taro.setNavigationBarTitle({ title: customer.name })
      } catch (error) {
        if (error instanceof ProblemError && (error.status === 404 || error.status === 400)) {
          setState({ status: 'missing' })
        } else if (!quiet) {
          setState({ status: 'error', error })
        }
      }
    },
    [id],
  )

  // arriving from the new-customer form: its own write is visible at once
  const arrivedAfter = Number(params.min_position)
  useEffect(() => {
    void load(Number.isSafeInteger(arrivedAfter) && arrivedAfter > 0 ? arrivedAfter : undefined)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [load])
  // back from the edit page: show what changed
  useDidShow(() => {
    if (state.status === 'ready') void load(undefined, true)
  })

  // what waits to be sent for this customer; when it goes, read its effect
  useEffect(
    () =>
      outbox.onChange(() => {
        const now = outbox.pending()
        setWaiting((before) => {
          const gone = before.filter((c) => c.customerId === id && !now.some((n) => n.key === c.key))
          if (gone.length > 0) void load(undefined, true)
          return now
        })
      }),
    [id, load],
  )

  function issued(outcome: Outcome) {
    setPanel(null)
    setScheduling(false)
    if (outcome.status === 'sent') {
      setNotice(`${outcome.command.label}：已保存`)
      void load(outcome.answer.position, true)
      if (outcome.command.path === '/v1/follow-ups/{id}/complete') {
        // the completion's activity reaches the timeline a moment later
        setTimeout(() => void load(undefined, true), 1500)
      }
    } else {
      setNotice(`${outcome.command.label}：网络不可用，已保存在手机上，联网后自动发送`)
    }
  }

  async function failed(error: unknown, retry: () => void) {
    if (error instanceof ProblemError && (error.status === 409 || error.status === 412)) {
      const { confirm } = await Taro.showModal({
        title: '客户已被他人修改',
        content: '要重新加载最新资料吗？',
        confirmText: '重新加载',
      })
      if (confirm) void load()
      return
    }
    const { message, detail } = describeError(error)
    const { confirm } = await Taro.showModal({ title: message, content: detail ?? '', confirmText: '重试' })
    if (confirm) retry()
  }

  async function moveStage(customer: CustomerDetail) {
    const others = STAGES.filter((s) => s.code !== customer.stage)
    let index: number
    try {
      index = (await Taro.showActionSheet({ itemList: others.map((s) => s.name) })).tapIndex
    } catch {
      return // dismissed
    }
    const target = others[index]
    if (target === undefined) return
    if (customer.stage.startsWith('closed_') && !target.code.startsWith('closed_')) {
      // reopening a closed deal needs a reason: the form asks for it
      setPanel({ reopen: { stage: target.code, name: target.name, version: customer.version } })
      return
    }
    const send = async () => {
      try {
        const outcome = await outbox.issue({
          method: 'put',
          path: '/v1/customers/{id}/stage',
          params: { id },
          body: { stage: target.code },
          ifMatch: customer.version,
          label: `移至${target.name}`,
          customerId: id,
        })
        issued(outcome)
      } catch (error) {
        void failed(error, () => void send())
      }
    }
    await send()
  }

  async function removeTag(customer: CustomerDetail, tag: string) {
    const { confirm } = await Taro.showModal({ title: `移除标签“${tag}”？`, content: '' })
    if (!confirm) return
    try {
      issued(
        await outbox.issue({
          method: 'delete',
          path: '/v1/customers/{id}/tags/{tag}',
          params: { id, tag },
          ifMatch: customer.version,
          label: '移除标签',
          customerId: id,
        }),
      )
    } catch (error) {
      void failed(error, () => void removeTag(customer, tag))
    }
  }

  if (state.status === 'loading') return <StateView kind='loading' />
  if (state.status === 'missing') {
    return <StateView kind='empty' text='客户不存在或您无权查看' />
  }
  if (state.status === 'error') {
    return <StateView kind='error' error={state.error} onRetry={() => void load()} />
  }

  const c = state.customer
  const stage = stageInfo(c.stage)
  const phone = c.phone ?? ''
  const mine = waiting.filter((w) => w.customerId === id)
  return (
    <View className='detail'>
      <View className='detail__head'>
        <Text className='detail__name'>{c.name}</Text>
        <Text className='detail__stage' style={{ background: stage.colour }}>
          {c.stage_name || stage.name}
        </Text>
        {c.archived && <Text className='detail__archived'>已归档</Text>}
      </View>
      {notice !== null && (
        <View className='detail__notice' ariaRole='status'>
          {notice}
        </View>
      )}
      {mine.length > 0 && (
        <View className='detail__waiting' ariaRole='status' ariaLabel={`待发送 ${mine.length} 条`}>
          <Text>待发送 {mine.length} 条：{mine.map((w) => w.label).join('、')}</Text>
          <View className='detail__value--action' ariaRole='button' onClick={() => void outbox.flush()}>
            立即发送
          </View>
        </View>
      )}
      <View className='detail__card'>
        <Row label='公司' value={c.company ?? '—'} />
        <Row
          label='电话'
          value={phone || '—'}
          {...(phone ? { onClick: () => void Taro.makePhoneCall({ phoneNumber: phone }) } : {})}
        />
        <Row label='阶段' value={c.stage_name || stage.name} onClick={() => void moveStage(c)} />
        <Row label='负责人' value={c.owner_name ?? c.owner_id} />
        <View className='detail__row' ariaLabel='标签'>
          <Text className='detail__label'>标签</Text>
          <View className='detail__tags'>
            {c.tags.map((tag) => (
              <View
                key={tag}
                className='detail__tag'
                ariaRole='button'
                ariaLabel={`标签 ${tag}，点击移除`}
                onClick={() => void removeTag(c, tag)}
              >
                {tag} ×
              </View>
            ))}
            <View className='detail__tag detail__tag--add' ariaRole='button' ariaLabel='添加标签' onClick={() => setPanel('tag')}>
              ＋
            </View>
          </View>
        </View>
      </View>

      <View className='detail__actions'>
        <View
          className='detail__action'
          ariaRole='button'
          ariaLabel='记录跟进'
          onClick={() => {
            setScheduling(false)
            setPanel('activity')
          }}
        >
          记录跟进
        </View>
        <View className='detail__action' ariaRole='button' ariaLabel='记录购买' onClick={() => setPanel('purchase')}>
          记录购买
        </View>
        <View className='detail__action' ariaRole='button' ariaLabel='移动阶段' onClick={() => void moveStage(c)}>
          移动阶段
        </View>
        <View
          className='detail__action'
          ariaRole='button'
          ariaLabel='编辑资料'
          onClick={() => void Taro.navigateTo({ url: customerEditPage(id) })}
        >
          编辑资料
        </View>
      </View>
      {panel !== null && (
        <ActionPanel panel={panel} customerId={id} onClose={() => setPanel(null)} onIssued={issued} />
      )}

      <View className='detail__section detail__section--row'>
        <Text>跟进计划</Text>
        <View
          className='detail__value--action'
          ariaRole='button'
          ariaLabel='安排跟进'
          onClick={() => {
            setPanel(null)
            setScheduling(true)
          }}
        >
          ＋ 安排跟进
        </View>
      </View>
      {scheduling && zone !== null && (
        <ScheduleForm customerId={id} zone={zone} onClose={() => setScheduling(false)} onIssued={issued} />
      )}
      <View className='detail__card' ariaRole='list' ariaLabel='待办跟进'>
        {state.followUps === null && <Text className='detail__note'>跟进计划暂时无法加载</Text>}
        {state.followUps?.length === 0 && <Text className='detail__note'>没有待办的跟进</Text>}
        {zone !== null &&
          state.followUps?.map((item) => (
            <FollowUpItem
              key={item.id}
              item={item}
              zone={zone}
              actions={['complete', 'reschedule', 'cancel']}
              onIssued={issued}
              onStale={() => void load(undefined, true)}
            />
          ))}
      </View>

      <Text className='detail__section'>客户画像</Text>
      <ProfileCard customer={c} />

      <Text className='detail__section'>时间线</Text>
      <View className='detail__card' ariaLabel='时间线'>
        {state.timeline === null && <Text className='detail__note'>时间线暂时无法加载</Text>}
        {state.timeline?.length === 0 && <Text className='detail__note'>暂无记录</Text>}
        {state.timeline?.map((entry) => {
          const { title, line } = describe(entry)
          return (
            <View key={entry.sequence} className='timeline__entry'>
              <View className='timeline__top'>
                <Text className='timeline__title'>{title}</Text>
                <Text className='timeline__when'>{when(entry.occurred_at)}</Text>
              </View>
              {line !== '' && <Text className='timeline__line'>{line}</Text>}
            </View>
          )
        })}
      </View>
    </View>
  )
}
