export default definePageConfig({
  navigationBarTitleText: '跟进',
  enablePullDownRefresh: true,
})
