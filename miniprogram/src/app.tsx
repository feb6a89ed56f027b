import type { PropsWithChildren } from 'react'
import Taro, { useLaunch } from '@tarojs/taro'

import { describeError, keepSending, onUnauthorized, outbox } from './api'
import { feed } from './followups/feed'
import { notificationTitle } from './followups/labels'
import { LOGIN_PAGE } from './routes'

import './app.css'

let leaving = false

/** The session is over (expired and not renewable): back to sign-in, once. */
function backToSignIn() {
  const pages = Taro.getCurrentPages()
  const current = pages[pages.length - 1]?.route ?? ''
  if (leaving || `/${current}`.startsWith(LOGIN_PAGE)) return
  leaving = true
  void Taro.reLaunch({ url: `${LOGIN_PAGE}?expired=1` }).finally(() => {
    leaving = false
  })
}

function App({ children }: PropsWithChildren) {
  useLaunch(() => {
    onUnauthorized(backToSignIn)
    // Commands kept while offline go out when the network is back.
    outbox.onRefused(({ command, error }) => {
      void Taro.showModal({
        title: `${command.label}未能完成`,
        content: describeError(error).detail ?? describeError(error).message,
        showCancel: false,
      })
    })
    keepSending()
    // a reminder arriving on the live feed, on whatever screen is shown
    feed.onArrival((n) => {
      void Taro.showToast({ title: `${notificationTitle(n.kind)}：${n.subject}`, icon: 'none', duration: 4000 })
    })
    try {
      Taro.onAppShow(() => feed.wake())
      Taro.onNetworkStatusChange((status) => {
        if (status.isConnected) feed.wake()
      })
    } catch {
      // a platform without these events: the feed's own back-off
    }
  })
  // children: the page being shown
  return children
}

export default App
