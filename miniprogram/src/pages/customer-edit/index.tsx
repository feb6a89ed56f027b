import { View } from '@tarojs/components'

/** New and edit customer (being built). */
export default function CustomerEditPage() {
  return <View>新建客户</View>
}
