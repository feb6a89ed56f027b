import type { components } from './api'

type Lifecycle = components['schemas']['Lifecycle']

/** The RFM lifecycles as the service names them (projector::profile::lifecycle). */
export const LIFECYCLES: ReadonlyArray<{ code: Lifecycle; name: string; colour: string }> = [
  { code: 'prospect', name: '潜在客户', colour: '#e6f4ff' },
  { code: 'new', name: '新客户', colour: '#d9f7be' },
  { code: 'active', name: '活跃客户', colour: '#b7eb8f' },
  { code: 'loyal', name: '忠诚客户', colour: '#ffe58f' },
  { code: 'at_risk', name: '流失风险', colour: '#ffd8bf' },
  { code: 'lost', name: '已流失', colour: '#f0f0f0' },
]

export function lifecycleInfo(code: string): { name: string; colour: string } {
  return LIFECYCLES.find((l) => l.code === code) ?? { name: code, colour: '#f0f0f0' }
}
