export const LOGIN_PAGE = '/pages/login/index'
export const CUSTOMERS_PAGE = '/pages/customers/index'
export const customerPage = (id: string) => `/pages/customer/index?id=${encodeURIComponent(id)}`
