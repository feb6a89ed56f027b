-- WeChat accounts bound for signing in from the mini-program. The openid
-- identifies the person at WeChat: a secret, like a password hash, so it
-- never enters the log (UserWeChatBound and UserWeChatUnbound only say that
-- the binding changed). A row is written in the transaction that appends the
-- event, and deleted with UserWeChatUnbound or UserForgotten (erasure).
CREATE TABLE wechat_bindings
(
    -- One WeChat account per user: binding again replaces it.
    user_id   uuid PRIMARY KEY REFERENCES directory_users (user_id),
    tenant_id uuid        NOT NULL,
    openid    text        NOT NULL CHECK (length(openid) BETWEEN 1 AND 128),
    unionid   text CHECK (length(unionid) BETWEEN 1 AND 128),
    bound_at  timestamptz NOT NULL DEFAULT now(),
    -- One user per WeChat account in a tenant; sign-in looks the user up by
    -- it. The same person in another tenant (the same mini-program, so the
    -- same openid) is bound there independently.
    UNIQUE (tenant_id, openid)
);
