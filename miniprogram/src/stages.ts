import type { Stage } from './api'

/** The funnel stages as the service names and colours them (events::values::Stage). */
export const STAGES: ReadonlyArray<{ code: Stage; name: string; colour: string }> = [
  { code: 'lead', name: '潜在客户', colour: '#e6f7ff' },
  { code: 'qualified', name: '合格线索', colour: '#bae7ff' },
  { code: 'proposal', name: '方案阶段', colour: '#91d5ff' },
  { code: 'negotiation', name: '商务谈判', colour: '#69c0ff' },
  { code: 'closed_won', name: '成交', colour: '#40a9ff' },
  { code: 'closed_lost', name: '失败', colour: '#ff7875' },
]

export function stageInfo(code: string): { name: string; colour: string } {
  return STAGES.find((s) => s.code === code) ?? { name: code, colour: '#f0f0f0' }
}
