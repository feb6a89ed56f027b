import { Text, View } from '@tarojs/components'

import type { CustomerDetail } from '../../api'
import { lifecycleInfo } from '../../lifecycles'

const SCORES = [
  { key: 'recency', name: '最近购买 R' },
  { key: 'frequency', name: '购买频次 F' },
  { key: 'monetary', name: '消费金额 M' },
] as const

const yuan = (amount: string) => {
  const n = Number(amount)
  return Number.isFinite(n) ? `¥${n.toLocaleString('zh-CN', { maximumFractionDigits: 0 })}` : `¥${amount}`
}

/** The RFM profile: the three scores drawn, lifecycle, churn risk, predicted value, preferences and next steps. */
export function ProfileCard({ customer }: { customer: CustomerDetail }) {
  const p = customer.profile
  const life = lifecycleInfo(p.lifecycle)
  const churn = Math.round(p.churn_risk * 100)
  return (
    <View className='detail__card profile' ariaLabel='客户画像'>
      <View className='profile__top'>
        <View className='profile__badge' style={{ background: life.colour }} ariaLabel={`生命周期：${life.name}`}>
          {life.name}
        </View>
        <View className='profile__churn' ariaLabel={`流失风险 ${churn}%`}>
          流失风险 {churn}%
        </View>
      </View>
      {SCORES.map((score) => {
        const value = p.rfm[score.key]
        return (
          <View key={score.key} className='profile__score' ariaLabel={`${score.name}：${value} 分（满分 5）`}>
            <Text className='profile__score-name'>{score.name}</Text>
            <View className='profile__bar'>
              <View className='profile__fill' style={{ width: `${(value / 5) * 100}%` }} />
            </View>
            <Text className='profile__score-value'>{value}</Text>
          </View>
        )
      })}
      <View className='profile__figures'>
        <View className='profile__figure' ariaLabel={`预计未来 12 个月价值 ${yuan(p.predicted_value)}`}>
          <Text className='profile__figure-value'>{yuan(p.predicted_value)}</Text>
          <Text className='profile__figure-name'>预计 12 个月价值</Text>
        </View>
        <View className='profile__figure' ariaLabel={`累计购买 ${p.purchase_count} 次，${yuan(p.total_amount)}`}>
          <Text className='profile__figure-value'>{yuan(p.total_amount)}</Text>
          <Text className='profile__figure-name'>累计 {p.purchase_count} 次购买</Text>
        </View>
      </View>
      {p.preferences.length > 0 && (
        <View className='profile__list' ariaLabel='偏好'>
          <Text className='profile__list-name'>偏好</Text>
          <Text className='profile__list-items'>{p.preferences.join('、')}</Text>
        </View>
      )}
      {p.recommended_actions.length > 0 && (
        <View className='profile__list' ariaLabel='建议行动'>
          <Text className='profile__list-name'>建议行动</Text>
          {p.recommended_actions.map((action) => (
            <Text key={action} className='profile__action'>
              · {action}
            </Text>
          ))}
        </View>
      )}
    </View>
  )
}
