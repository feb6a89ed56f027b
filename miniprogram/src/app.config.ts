export default defineAppConfig({
  pages: [
    'pages/home/index',
    'pages/customers/index',
    'pages/login/index',
    'pages/customer/index',
    'pages/funnel/index',
    'pages/customer-edit/index',
    'pages/follow-ups/index',
    'pages/notifications/index',
  ],
  window: {
    backgroundTextStyle: 'dark',
    backgroundColor: '#f5f6f8',
    navigationBarBackgroundColor: '#ffffff',
    navigationBarTitleText: '客户管理',
    navigationBarTextStyle: 'black',
  },
})
