-- Dashboard users and their logins (SPEC §7). migrations/postgres/0003_users.sql is the same.
-- Passwords are kept only as argon2id PHC strings (`$argon2id$v=19$m=…`): salt and parameters
-- travel with the hash, so parameters can be raised later without a migration.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

-- One row per signed-in browser. The cookie carries a random 256-bit token; only its SHA-256 is
-- stored, so a leaked database cannot be replayed as logins. Expiry is absolute; sign-out and
-- deleting the user remove the rows.
CREATE TABLE login_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX login_sessions_by_user ON login_sessions (user_id);
CREATE INDEX login_sessions_by_expiry ON login_sessions (expires_at);
