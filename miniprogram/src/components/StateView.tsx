import { Button, Text, View } from '@tarojs/components'

import { describeError } from '../api'

import './StateView.css'

type Props =
  | { kind: 'loading'; text?: string }
  | { kind: 'empty'; text: string; hint?: string }
  | { kind: 'error'; error: unknown; onRetry: () => void }

/** The loading, empty and error states every list and page shows. */
export function StateView(props: Props) {
  if (props.kind === 'loading') {
    return (
      <View className='state' ariaRole='status' ariaLabel={props.text ?? '加载中'}>
        <View className='state__spinner' />
        <Text className='state__text'>{props.text ?? '加载中…'}</Text>
      </View>
    )
  }
  if (props.kind === 'empty') {
    return (
      <View className='state' ariaRole='status'>
        <Text className='state__text'>{props.text}</Text>
        {props.hint !== undefined && <Text className='state__hint'>{props.hint}</Text>}
      </View>
    )
  }
  const { message, detail } = describeError(props.error)
  return (
    <View className='state state--error' ariaRole='alert'>
      <Text className='state__text'>{message}</Text>
      {detail !== undefined && <Text className='state__hint'>{detail}</Text>}
      <Button className='state__retry' size='mini' onClick={props.onRetry} ariaLabel='重试'>
        重试
      </Button>
    </View>
  )
}
