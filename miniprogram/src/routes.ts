export const LOGIN_PAGE = '/pages/login/index'
export const CUSTOMERS_PAGE = '/pages/customers/index'
export const customerPage = (id: string) => `/pages/customer/index?id=${encodeURIComponent(id)}`
export const FUNNEL_PAGE = '/pages/funnel/index'
/** New customer without an id; edit with one. */
export const customerEditPage = (id?: string) =>
  id === undefined ? '/pages/customer-edit/index' : `/pages/customer-edit/index?id=${encodeURIComponent(id)}`
export const HOME_PAGE = '/pages/home/index'
/** 跟进, opened on a tab (逾期 today …). */
export const followUpsPage = (tab?: 'overdue' | 'today' | 'tomorrow' | 'week' | 'all' | 'done') =>
  tab === undefined ? '/pages/follow-ups/index' : `/pages/follow-ups/index?tab=${tab}`
export const NOTIFICATIONS_PAGE = '/pages/notifications/index'
