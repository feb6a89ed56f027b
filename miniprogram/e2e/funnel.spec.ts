// The funnel board (销售漏斗) in Chromium at phone size against crm serve --demo:
// the columns' counts are the service's, and a move through the action sheet
// changes them on the screen and in the API.
import { expect, test } from '@playwright/test'

import { actionSheetItem, demoFunnel, funnelColumn, screenshot, signInToCustomers } from './support'

const FUNNEL_URL = /\/app\/#\/pages\/funnel\/index/
const OPEN = ['lead', 'qualified', 'proposal', 'negotiation']

test('the funnel board shows the service counts and a move changes them', async ({
  page,
  request,
}) => {
  const before = await demoFunnel(request, 10)
  expect(before.totals.count).toBeGreaterThan(0)

  await signInToCustomers(page)
  await page.getByRole('link', { name: '销售漏斗', exact: true }).tap()
  await expect(page).toHaveURL(FUNNEL_URL)

  // every column, with the count GET /v1/funnel gives
  for (const stage of before.stages) {
    await expect(funnelColumn(page, stage.name, stage.count)).toBeVisible()
  }
  await expect(page.getByRole('region')).toHaveCount(before.stages.length)

  // an open stage with a card whose name is unique in its column, moved to the next open stage
  const source = before.stages.find(
    (s, i) =>
      OPEN.includes(s.id) &&
      OPEN.includes(before.stages[i + 1]?.id ?? '') &&
      s.customers.some((c) => s.customers.filter((o) => o.name === c.name).length === 1),
  )
  if (source === undefined) throw new Error('the demo funnel has no open stage with cards')
  const target = before.stages[before.stages.indexOf(source) + 1]
  if (target === undefined) throw new Error('no stage after the source')
  const card = source.customers.find((c) => source.customers.filter((o) => o.name === c.name).length === 1)
  if (card === undefined) throw new Error('no card with a unique name')

  const column = funnelColumn(page, source.name, source.count)
  await column.getByRole('button', { name: `移动 ${card.name}`, exact: true }).tap()
  await actionSheetItem(page, target.name).tap()

  await expect(funnelColumn(page, source.name, source.count - 1)).toBeVisible()
  await expect(funnelColumn(page, target.name, target.count + 1)).toBeVisible()
  await expect(
    funnelColumn(page, target.name, target.count + 1).getByRole('link', { name: new RegExp(`^${card.name}，`) }),
  ).toBeVisible()

  // the API agrees
  const after = await demoFunnel(request, 10)
  const count = (id: string) => after.stages.find((s) => s.id === id)?.count
  expect(count(source.id)).toBe(source.count - 1)
  expect(count(target.id)).toBe(target.count + 1)
  expect(after.totals.count).toBe(before.totals.count)
  await page.getByText(`已移至${target.name}`).waitFor({ state: 'hidden' }).catch(() => undefined)
  await screenshot(page, 'funnel.png')
})
