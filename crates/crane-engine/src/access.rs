//! Users, their tokens, what each role may do, and the audit log: the engine side of "who is asking".
//!
//! Every door authenticates a caller (the REST door by bearer token through [`EngineHandle::authenticate`], the
//! window as the built-in admin) and acts through [`EngineHandle::as_caller`]; each `EngineHandle` method that
//! changes something checks the caller with [`EngineHandle::authorize`] (the decision is
//! [`crane_core::access::check`]) and records the request and its outcome with [`EngineHandle::audited`], so every
//! door gets the same rules and the same log.
//!
//! Tokens look like `crane_<id>_<secret>`: the id (public) finds the stored row, whose SHA-256 of the whole token is
//! compared in constant time. Only the hash is stored. Authentication reads an in-memory map of the tokens, rebuilt
//! after every change of users or tokens, so a request with a random token never reaches the database.
//!
//! **Architecture Invariant:** a token is shown once, when it is made, and never stored: the store holds its
//! SHA-256. The data directory's token (held by the REST door) is the built-in `admin` user's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crane_api::{
    AuditAction, AuditView, Door, ErrorCode, IssuedToken, Role as WireRole, TokenView, UserCreated, UserView,
};
pub use crane_core::access::Permission;
use crane_core::access::Role;
use crane_core::ports::{AuditRecord, StoredToken, StoredUser};
use sha2::{Digest, Sha256};

use crate::clock::LockExt;
use crate::{internal, views, Caller, EngineError, EngineHandle, Result};

/// Most users an engine has (the built-in admin included).
pub const MAX_USERS: usize = 1000;
/// Most tokens one user has.
pub const MAX_TOKENS_PER_USER: usize = 100;
/// Longest token label, in characters.
pub const MAX_TOKEN_LABEL_LEN: usize = 100;
/// Most audit rows one query returns.
pub const MAX_AUDIT_LIMIT: u32 = 10_000;
/// Longest app or target name an audit row keeps, in bytes: a refused request may name anything, and the log must
/// stay small.
pub const MAX_AUDIT_NAME_BYTES: usize = 128;
/// How every user token begins.
pub const TOKEN_PREFIX: &str = "crane_";
/// Hex characters of a token's public id.
pub const TOKEN_ID_LEN: usize = 12;
/// Hex characters of a token's secret part (32 random bytes).
const TOKEN_SECRET_LEN: usize = 64;

/// The wire role of a core role.
pub(crate) fn wire_role(role: Role) -> WireRole {
    match role {
        Role::Viewer => WireRole::Viewer,
        Role::Operator => WireRole::Operator,
        Role::Admin => WireRole::Admin,
    }
}

/// The core role of a wire role.
pub(crate) fn core_role(role: WireRole) -> Role {
    match role {
        WireRole::Viewer => Role::Viewer,
        WireRole::Operator => Role::Operator,
        WireRole::Admin => Role::Admin,
    }
}

/// The wire word of a serde enum (`Door::Cli` → `cli`, `ErrorCode::Forbidden` → `forbidden`).
fn wire_word(value: impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// A serde enum from its wire word.
fn from_wire_word<T: serde::de::DeserializeOwned>(word: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(word.to_string())).ok()
}

/// The id of a well-formed user token (`crane_<12 hex>_<64 hex>`), else `None`.
pub fn token_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex(id, TOKEN_ID_LEN) && hex(secret, TOKEN_SECRET_LEN)).then_some(id)
}

/// SHA-256 of a token, lowercase hex: what the store keeps, and the key of the hello proof for a user token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token and its id.
fn new_token() -> (String, String) {
    let id: [u8; TOKEN_ID_LEN / 2] = rand::random();
    let secret: [u8; TOKEN_SECRET_LEN / 2] = rand::random();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let id = hex(&id);
    (format!("{TOKEN_PREFIX}{id}_{}", hex(&secret)), id)
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// One token as authentication needs it.
struct CachedToken {
    /// Its user.
    user: String,
    /// The role it gives now: the lower of its own and its user's.
    role: Role,
    /// SHA-256 of the token, hex.
    hash: String,
}

/// The tokens by id, read from the store on first use after a change. A generation counter keeps a read that raced
/// with a change from caching what it read.
#[derive(Default)]
pub(crate) struct TokenCache {
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// Bumped by every change of users or tokens.
    generation: u64,
    /// The tokens, when read since the last change.
    tokens: Option<Arc<HashMap<String, CachedToken>>>,
}

impl TokenCache {
    /// Forgets the tokens; the next authentication reads them again. Called after every change of users or tokens.
    pub(crate) fn invalidate(&self) {
        let mut state = self.state.locked();
        state.generation += 1;
        state.tokens = None;
    }

    /// The tokens by id.
    async fn get(&self, store: &dyn crane_core::ports::Store) -> Result<Arc<HashMap<String, CachedToken>>> {
        let generation = {
            let state = self.state.locked();
            if let Some(tokens) = &state.tokens {
                return Ok(tokens.clone());
            }
            state.generation
        };
        let users: HashMap<String, Role> =
            store.list_users().await.map_err(internal)?.into_iter().map(|u| (u.name, u.role)).collect();
        let tokens: HashMap<String, CachedToken> = store
            .list_tokens()
            .await
            .map_err(internal)?
            .into_iter()
            .filter_map(|t| {
                let user_role = *users.get(&t.user)?;
                Some((t.id, CachedToken { role: Role::effective(user_role, t.role), user: t.user, hash: t.hash }))
            })
            .collect();
        let tokens = Arc::new(tokens);
        let mut state = self.state.locked();
        if state.generation == generation {
            state.tokens = Some(tokens.clone());
        }
        Ok(tokens)
    }
}

impl EngineHandle {
    /// Whether this handle's caller may do what `permission` allows; for [`Permission::ManageApp`] on an existing
    /// app, an operator must own it. A refusal is [`EngineError::Forbidden`] naming the rule and the fix. Every
    /// handle method that changes something calls it; other parts of Crane (policies, settings) call it with their
    /// permission.
    pub async fn authorize(&self, permission: Permission, app: Option<&str>) -> Result<()> {
        let caller = self.caller();
        let role = core_role(caller.role);
        let owner = match app {
            Some(name) if permission == Permission::ManageApp && role < Role::Admin => {
                self.inner.store.get_app(name).await.map_err(internal)?.map(|a| a.owner)
            }
            _ => None,
        };
        let app = app.zip(owner.as_deref());
        crane_core::access::check(role, &caller.user, permission, app)
            .map_err(|denied| EngineError::Forbidden(denied.0))
    }

    /// Runs `work` and records it in the audit log as this caller's `action` on `app` / `target`, with its outcome
    /// (`ok` or the error code). Every handle method that changes something goes through it; a door that changes
    /// something outside the engine (the REST door's token rotation) does too.
    pub async fn audited<T>(
        &self,
        action: AuditAction,
        app: Option<&str>,
        target: Option<&str>,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let result = work.await;
        self.audit(action, app, target, result.as_ref().err()).await;
        result
    }

    /// Writes one audit row for this caller. A failed write is logged, never the request's failure: the change is
    /// already made.
    pub(crate) async fn audit(
        &self,
        action: AuditAction,
        app: Option<&str>,
        target: Option<&str>,
        error: Option<&EngineError>,
    ) {
        let caller = self.caller();
        let record = AuditRecord {
            id: 0,
            at: self.inner.now(),
            user: caller.user.clone(),
            role: core_role(caller.role),
            door: wire_word(caller.door),
            action: action.as_str().to_string(),
            app: app.map(audit_name),
            target: target.map(audit_name),
            outcome: error.map_or_else(|| "ok".to_string(), |e| wire_word(e.to_api().code)),
        };
        if let Err(err) = self.inner.store.append_audit(record).await {
            tracing::warn!(%err, action = action.as_str(), user = %caller.user, "cannot write the audit log");
        }
    }

    /// The audit log, newest first, optionally of one user and/or one app; `limit` 1 to [`MAX_AUDIT_LIMIT`].
    /// Admins only.
    pub async fn audit_log(&self, user: Option<&str>, app: Option<&str>, limit: u32) -> Result<Vec<AuditView>> {
        self.authorize(Permission::ManageUsers, None).await?;
        if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
            return Err(EngineError::BadRequest(format!(
                "limit: {limit} is out of range; give a number from 1 to {MAX_AUDIT_LIMIT}"
            )));
        }
        let rows = self.inner.store.list_audit(user, app, limit).await.map_err(internal)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let error: Option<ErrorCode> =
                    (r.outcome != "ok").then(|| from_wire_word(&r.outcome).unwrap_or(ErrorCode::Internal));
                AuditView {
                    id: r.id as f64,
                    at: views::rfc3339(r.at),
                    user: r.user,
                    role: wire_role(r.role),
                    // Doors are written by this engine; an unknown word can only come from a newer Crane.
                    door: from_wire_word(&r.door).unwrap_or(Door::Engine),
                    action: AuditAction::parse(&r.action),
                    app: r.app,
                    target: r.target,
                    ok: error.is_none(),
                    error,
                }
            })
            .collect())
    }

    /// Who a bearer token belongs to: the caller it acts as through `door` (its user, and the lower of its role and
    /// its user's), or `None` for a token this engine did not issue (or revoked). The data directory's token is not
    /// one of these: the REST door checks it itself.
    pub async fn authenticate(&self, token: &str, door: Door) -> Result<Option<Caller>> {
        let Some(id) = token_id(token) else {
            return Ok(None);
        };
        let tokens = self.inner.tokens.get(self.inner.store.as_ref()).await?;
        let Some(found) = tokens.get(id) else {
            return Ok(None);
        };
        if !constant_time_eq(token_hash(token).as_bytes(), found.hash.as_bytes()) {
            return Ok(None);
        }
        Ok(Some(Caller { user: found.user.clone(), role: wire_role(found.role), door }))
    }

    /// The key of the hello proof for the user token with this id: the SHA-256 of the token (which its holder can
    /// compute and the engine stores), or `None` when no such token exists.
    pub async fn hello_key(&self, id: &str) -> Result<Option<String>> {
        let tokens = self.inner.tokens.get(self.inner.store.as_ref()).await?;
        Ok(tokens.get(id).map(|t| t.hash.clone()))
    }

    /// Makes sure the built-in `admin` user exists (the holder of the data directory's token).
    pub(crate) async fn ensure_admin_user(&self) -> Result<()> {
        let admin = StoredUser { name: Caller::ADMIN.to_string(), role: Role::Admin, created_at: self.inner.now() };
        self.inner.store.create_user(&admin, None).await.map_err(internal)?;
        Ok(())
    }

    /// Every user with the number of their tokens. Admins only.
    pub async fn list_users(&self) -> Result<Vec<UserView>> {
        self.authorize(Permission::ManageUsers, None).await?;
        let users = self.inner.store.list_users().await.map_err(internal)?;
        let tokens = self.inner.store.list_tokens().await.map_err(internal)?;
        Ok(users.iter().map(|u| user_view(u, tokens.iter().filter(|t| t.user == u.name).count())).collect())
    }

    /// Adds a user with `role` and makes the user's first token (with the same role), shown once in the answer.
    /// Admins only; a taken name is `Conflict`.
    pub async fn create_user(&self, name: &str, role: WireRole) -> Result<UserCreated> {
        self.audited(AuditAction::UserCreate, None, Some(name), async {
            self.authorize(Permission::ManageUsers, None).await?;
            if let Some(problem) = crane_core::access::user_name_problem(name) {
                return Err(EngineError::BadRequest(format!("name: {problem}")));
            }
            let users = self.inner.store.list_users().await.map_err(internal)?;
            if users.iter().any(|u| u.name == name) {
                return Err(EngineError::Conflict(format!(
                    "a user named '{name}' exists already; choose another name, or make them a new token with \
                     `cranectl token create --user {name} --role ROLE`"
                )));
            }
            if users.len() >= MAX_USERS {
                return Err(EngineError::BadRequest(format!(
                    "this engine has {MAX_USERS} users, the most it keeps; remove one with `cranectl user rm NAME` first"
                )));
            }
            let now = self.inner.now();
            let user = StoredUser { name: name.to_string(), role: core_role(role), created_at: now };
            let (token, stored) = self.token_for(name, user.role, Some("first token".to_string()));
            if !self.inner.store.create_user(&user, Some(&stored)).await.map_err(internal)? {
                return Err(EngineError::Conflict(format!("a user named '{name}' exists already; choose another name")));
            }
            self.inner.tokens.invalidate();
            Ok(UserCreated { user: user_view(&user, 1), token: IssuedToken { token, info: token_view(&stored) } })
        })
        .await
    }

    /// Removes a user and revokes every token of theirs; their apps stay, owned by the name (admins manage them).
    /// The built-in `admin` cannot be removed. Admins only.
    pub async fn remove_user(&self, name: &str) -> Result<()> {
        self.audited(AuditAction::UserRemove, None, Some(name), async {
            self.authorize(Permission::ManageUsers, None).await?;
            if name == Caller::ADMIN {
                return Err(EngineError::BadRequest(
                    "the built-in user 'admin' cannot be removed: it holds the data directory's token and the window; \
                     rotate that token with `cranectl token rotate` instead"
                        .to_string(),
                ));
            }
            let removed = self.inner.store.delete_user(name).await.map_err(internal)?;
            self.inner.tokens.invalidate();
            if !removed {
                return Err(unknown_user(name));
            }
            Ok(())
        })
        .await
    }

    /// Every token (without the tokens themselves). Admins only.
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>> {
        self.authorize(Permission::ManageUsers, None).await?;
        Ok(self.inner.store.list_tokens().await.map_err(internal)?.iter().map(token_view).collect())
    }

    /// Makes a token for `user` (the caller when `None`) giving `role`, at most the user's role; the token is in the
    /// answer, once. Admins only.
    pub async fn create_token(&self, role: WireRole, user: Option<&str>, label: Option<&str>) -> Result<IssuedToken> {
        let user = user.unwrap_or(self.caller().user.as_str()).to_string();
        self.audited(AuditAction::TokenCreate, None, Some(&user), async {
            self.authorize(Permission::ManageUsers, None).await?;
            let label = label.map(str::trim).filter(|l| !l.is_empty());
            if let Some(label) = label {
                if label.chars().count() > MAX_TOKEN_LABEL_LEN || label.chars().any(char::is_control) {
                    return Err(EngineError::BadRequest(format!(
                        "label: at most {MAX_TOKEN_LABEL_LEN} characters on one line; shorten it"
                    )));
                }
            }
            let users = self.inner.store.list_users().await.map_err(internal)?;
            let Some(found) = users.iter().find(|u| u.name == user) else {
                return Err(unknown_user(&user));
            };
            let role = core_role(role);
            if role > found.role {
                return Err(EngineError::BadRequest(format!(
                    "role: user '{user}' is {} {}, so a token of theirs gives at most that role; ask for {} or lower",
                    if found.role == Role::Viewer { "a" } else { "an" },
                    found.role.as_str(),
                    found.role.as_str()
                )));
            }
            let tokens = self.inner.store.list_tokens().await.map_err(internal)?;
            if tokens.iter().filter(|t| t.user == user).count() >= MAX_TOKENS_PER_USER {
                return Err(EngineError::BadRequest(format!(
                    "user '{user}' has {MAX_TOKENS_PER_USER} tokens, the most a user keeps; revoke one with \
                     `cranectl token revoke ID` first"
                )));
            }
            let (token, stored) = self.token_for(&user, role, label.map(str::to_string));
            if !self.inner.store.create_token(&stored).await.map_err(internal)? {
                return Err(unknown_user(&user));
            }
            self.inner.tokens.invalidate();
            Ok(IssuedToken { token, info: token_view(&stored) })
        })
        .await
    }

    /// Revokes a token: it stops working at once. Admins only.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        self.audited(AuditAction::TokenRevoke, None, Some(id), async {
            self.authorize(Permission::ManageUsers, None).await?;
            let removed = self.inner.store.delete_token(id).await.map_err(internal)?;
            self.inner.tokens.invalidate();
            if !removed {
                return Err(EngineError::Missing(format!(
                    "no token with id '{id}'; list tokens with `cranectl token ls`"
                )));
            }
            Ok(())
        })
        .await
    }

    /// A new token for `user` and the row that stores it.
    fn token_for(&self, user: &str, role: Role, label: Option<String>) -> (String, StoredToken) {
        let (token, id) = new_token();
        let stored = StoredToken {
            id,
            user: user.to_string(),
            role,
            hash: token_hash(&token),
            created_at: self.inner.now(),
            label,
        };
        (token, stored)
    }
}

/// A name as an audit row keeps it: at most [`MAX_AUDIT_NAME_BYTES`], cut on a character boundary and marked.
fn audit_name(name: &str) -> String {
    let mut kept = name.to_string();
    if kept.len() > MAX_AUDIT_NAME_BYTES {
        crane_core::text::truncate_on_char_boundary(&mut kept, MAX_AUDIT_NAME_BYTES - '…'.len_utf8());
        kept.push('…');
    }
    kept
}

fn unknown_user(name: &str) -> EngineError {
    EngineError::Missing(format!("no user named '{name}'; list users with `cranectl user ls`"))
}

fn user_view(user: &StoredUser, tokens: usize) -> UserView {
    UserView {
        name: user.name.clone(),
        role: wire_role(user.role),
        created_at: views::rfc3339(user.created_at),
        tokens: tokens as u32,
        builtin: user.name == Caller::ADMIN,
    }
}

fn token_view(token: &StoredToken) -> TokenView {
    TokenView {
        id: token.id.clone(),
        user: token.user.clone(),
        role: wire_role(token.role),
        label: token.label.clone(),
        created_at: views::rfc3339(token.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_their_id_inside_and_only_well_formed_ones_parse() {
        let (token, id) = new_token();
        assert_eq!(token_id(&token), Some(id.as_str()));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN);
        assert_ne!(new_token().0, token);
        for bad in
            ["", "crane_", &token[..token.len() - 1], &token.to_uppercase(), &format!("{token}0"), &"a".repeat(64)]
        {
            assert_eq!(token_id(bad), None, "{bad}");
        }
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn audit_rows_keep_names_short() {
        assert_eq!(audit_name("web"), "web");
        let long = "é".repeat(200);
        let kept = audit_name(&long);
        assert!(kept.len() <= MAX_AUDIT_NAME_BYTES && kept.ends_with('…'), "{} bytes", kept.len());
        assert!(long.starts_with(kept.trim_end_matches('…')));
    }

    #[test]
    fn wire_words() {
        assert_eq!(wire_word(Door::Cli), "cli");
        assert_eq!(wire_word(ErrorCode::Forbidden), "forbidden");
        assert_eq!(from_wire_word::<Door>("window"), Some(Door::Window));
        assert_eq!(from_wire_word::<ErrorCode>("nope"), None);
        for role in Role::ALL {
            assert_eq!(core_role(wire_role(role)), role);
        }
    }
}
