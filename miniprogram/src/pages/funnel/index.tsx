import { View } from '@tarojs/components'

/** The funnel board (being built). */
export default function FunnelPage() {
  return <View>销售漏斗</View>
}
