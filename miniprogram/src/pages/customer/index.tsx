import { useCallback, useEffect, useState } from 'react'
import { Text, View } from '@tarojs/components'
import Taro, { useRouter } from '@tarojs/taro'

import { api, ProblemError, type CustomerDetail } from '../../api'
import { StateView } from '../../components/StateView'
import { stageInfo } from '../../stages'
import { describe, when, type TimelineEntry } from './timeline'

import './index.css'

type State =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'missing' }
  | { status: 'ready'; customer: CustomerDetail; timeline: TimelineEntry[] | null }

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

/** The customer: who it is and its latest history; profile and actions come later. */
export default function CustomerPage() {
  const { params } = useRouter()
  const id = params.id ?? ''
  const [state, setState] = useState<State>({ status: 'loading' })

  const load = useCallback(async () => {
    if (id === '') {
      setState({ status: 'missing' })
      return
    }
    setState({ status: 'loading' })
    try {
      // The timeline is read beside the customer; without it the page still shows who it is.
      const [customer, timeline] = await Promise.all([
        api.get('/v1/customers/{id}', { path: { id } }),
        api
          .get('/v1/customers/{id}/timeline', { path: { id }, query: { limit: 20 } })
          .then((page) => page.items)
          .catch(() => null),
      ])
      setState({ status: 'ready', customer, timeline })
      void Taro.setNavigationBarTitle({ title: customer.name })
    } catch (error) {
      if (error instanceof ProblemError && (error.status === 404 || error.status === 400)) {
        setState({ status: 'missing' })
      } else {
        setState({ status: 'error', error })
      }
    }
  }, [id])

  useEffect(() => {
    void load()
  }, [load])

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
  return (
    <View className='detail'>
      <View className='detail__head'>
        <Text className='detail__name'>{c.name}</Text>
        <Text className='detail__stage' style={{ background: stage.colour }}>
          {c.stage_name || stage.name}
        </Text>
        {c.archived && <Text className='detail__archived'>已归档</Text>}
      </View>
      <View className='detail__card'>
        <Row label='公司' value={c.company ?? '—'} />
        <Row
          label='电话'
          value={phone || '—'}
          {...(phone ? { onClick: () => void Taro.makePhoneCall({ phoneNumber: phone }) } : {})}
        />
        <Row label='阶段' value={c.stage_name || stage.name} />
        <Row label='负责人' value={c.owner_name ?? c.owner_id} />
      </View>
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
