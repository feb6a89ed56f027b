-- The tenant's directory: users and teams. The facts are events (aggregate
-- types `User` and `Team`); these tables are their read model, written in the
-- same transaction as each append (an inline projection: a login is taken, a
-- role changed or a user deactivated at the instant the event commits), and
-- the secrets that never enter the log.

CREATE TABLE tenants
(
    tenant_id  uuid PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per user. The primary key is also what makes a login unique in its
-- tenant: the row is inserted with the UserInvited event.
CREATE TABLE directory_users
(
    tenant_id    uuid        NOT NULL,
    login        text        NOT NULL,
    user_id      uuid        NOT NULL UNIQUE,
    -- Personal fields in clear, as rm_customers holds them; erased (NULL)
    -- when the user is forgotten, as its data key is destroyed.
    display_name text,
    phone        text,
    email        text,
    role         text        NOT NULL CHECK (role IN ('rep', 'manager', 'admin', 'auditor')),
    active       boolean     NOT NULL,
    forgotten    boolean     NOT NULL DEFAULT false,
    version      bigint      NOT NULL,
    invited_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, login)
);

CREATE TABLE directory_teams
(
    tenant_id  uuid        NOT NULL,
    team_id    uuid        NOT NULL UNIQUE,
    name       text        NOT NULL,
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, team_id)
);

CREATE TABLE directory_team_members
(
    tenant_id uuid NOT NULL,
    team_id   uuid NOT NULL,
    login     text NOT NULL,
    role      text NOT NULL CHECK (role IN ('member', 'manager')),
    PRIMARY KEY (tenant_id, team_id, login),
    FOREIGN KEY (tenant_id, team_id) REFERENCES directory_teams (tenant_id, team_id),
    FOREIGN KEY (tenant_id, login) REFERENCES directory_users (tenant_id, login)
);
-- "Whose customers may this manager see": the teams a login manages, then their members.
CREATE INDEX directory_team_members_by_login ON directory_team_members (tenant_id, login);

-- Password hashes (argon2id, PHC strings). A secret, not a fact: never in the log.
CREATE TABLE user_credentials
(
    user_id       uuid PRIMARY KEY REFERENCES directory_users (user_id),
    password_hash text        NOT NULL,
    -- A password an admin set (or the first admin's): the user should change it.
    one_time      boolean     NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens, stored as their SHA-256 only. Each refresh replaces a
-- token by a new one of its family; a replaced token presented again revokes
-- the family (it leaked).
CREATE TABLE refresh_tokens
(
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES directory_users (user_id),
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
