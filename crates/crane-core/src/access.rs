//! Who may do what: the three roles, the permissions a request needs, and the decision for one request
//! ([`check`]). The engine asks this for every request of every door, with the caller the door authenticated and,
//! for an app, the app's owner.
//!
//! - `viewer` reads everything and changes nothing;
//! - `operator` manages apps (apply, scale, delete, rollouts, load, the demo image, alerts), but only the apps it
//!   owns: an app is owned by the user who created it;
//! - `admin` does everything: every app, users and tokens, engine settings (managed NGINX among them: it writes
//!   files and signals a process on the host), policies.

use std::cmp::Ordering;

/// What a user may do. Each role includes the ones below it (`Viewer < Operator < Admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything; changes nothing.
    Viewer,
    /// Manages its own apps.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The word stored and shown (`viewer`, `operator`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The role a stored or typed word names.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The role a token gives: never more than its user has (a token made for a user who is later given a lower
    /// role cannot keep the higher one).
    pub fn effective(user: Role, token: Role) -> Role {
        user.min(token)
    }

    /// "a viewer", "an operator", "an admin".
    fn with_article(self) -> String {
        match self {
            Role::Operator | Role::Admin => format!("an {}", self.as_str()),
            Role::Viewer => format!("a {}", self.as_str()),
        }
    }
}

/// What a request needs. Reads need [`Permission::ReadAll`], which every role has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read apps, events, metrics, logs, charts, policies.
    ReadAll,
    /// Change an app (apply, create, scale, delete, rollouts, load, alerts) or build the demo image.
    /// Operators hold it only for apps they own.
    ManageApp,
    /// Create and remove users and tokens, rotate the engine's token, read the audit log.
    ManageUsers,
    /// Change engine settings (such as `allowUnsafe`), and make the engine manage an NGINX on the host.
    ManageSettings,
    /// Change policies.
    ManagePolicies,
}

impl Permission {
    /// The lowest role that holds the permission.
    pub fn least_role(self) -> Role {
        match self {
            Permission::ReadAll => Role::Viewer,
            Permission::ManageApp => Role::Operator,
            Permission::ManageUsers | Permission::ManageSettings | Permission::ManagePolicies => Role::Admin,
        }
    }

    /// What it allows, for messages ("changing apps").
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadAll => "reading",
            Permission::ManageApp => "changing apps",
            Permission::ManageUsers => "managing users, tokens and the audit log",
            Permission::ManageSettings => "changing engine settings",
            Permission::ManagePolicies => "changing policies",
        }
    }
}

/// Why a request is refused: one sentence naming the rule and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `user` with `role` may do what `permission` allows; for an app, `app` is its name and owner (`None` for
/// a request that names no existing app, such as creating one).
pub fn check(role: Role, user: &str, permission: Permission, app: Option<(&str, &str)>) -> Result<(), Denied> {
    let needed = permission.least_role();
    if role.cmp(&needed) == Ordering::Less {
        return Err(Denied(format!(
            "{} needs the {} role; user '{user}' acts as {} here; ask an admin for a token with that role",
            permission.describe(),
            needed.as_str(),
            role.with_article(),
        )));
    }
    match app {
        Some((name, owner)) if permission == Permission::ManageApp && role < Role::Admin && owner != user => {
            Err(Denied(format!(
                "app '{name}' belongs to user '{owner}'; an operator manages only their own apps (you are '{user}'); \
                 ask '{owner}' or an admin to change it"
            )))
        }
        _ => Ok(()),
    }
}

/// Longest user name (the same limit as app names).
pub const MAX_USER_NAME_LEN: usize = crate::validate::MAX_NAME_LEN;

/// What is wrong with a user name, with the fix; `None` for a good one. User names follow the app name rule.
pub fn user_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the user name is empty; use lowercase letters, digits and '-', e.g. `alice`".to_string());
    }
    if name.chars().count() > MAX_USER_NAME_LEN {
        return Some(format!(
            "the user name is {} characters long; the limit is {MAX_USER_NAME_LEN}",
            name.chars().count()
        ));
    }
    if !crate::validate::is_app_name(name) {
        return Some(format!(
            "`{}` is not a valid user name: use {}, e.g. `alice`",
            &name[..crate::text::floor_char_boundary(name, 64)],
            crate::validate::APP_NAME_RULE
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row of the role matrix: `role` as user `me` asks for `permission` on an app owned by `owner` (or on no
    /// app), and is allowed or not.
    fn check_row(role: Role, permission: Permission, owner: Option<&str>, allowed: bool) {
        let got = check(role, "me", permission, owner.map(|o| ("web", o)));
        assert_eq!(got.is_ok(), allowed, "{role:?} {permission:?} owner={owner:?}: {got:?}");
    }

    #[test]
    fn role_matrix() {
        use Permission::*;
        use Role::*;
        for (role, permission, owner, allowed) in [
            (Viewer, ReadAll, None, true),
            (Viewer, ReadAll, Some("other"), true),
            (Viewer, ManageApp, None, false),
            (Viewer, ManageApp, Some("me"), false),
            (Operator, ReadAll, Some("other"), true),
            (Operator, ManageApp, None, true),
            (Operator, ManageApp, Some("me"), true),
            (Operator, ManageApp, Some("other"), false),
            (Operator, ManageUsers, None, false),
            (Operator, ManageSettings, None, false),
            (Operator, ManagePolicies, None, false),
            (Admin, ManageApp, Some("other"), true),
            (Admin, ManageUsers, None, true),
            (Admin, ManageSettings, None, true),
            (Admin, ManagePolicies, None, true),
        ] {
            check_row(role, permission, owner, allowed);
        }
    }

    #[test]
    fn refusals_name_the_rule_and_the_fix() {
        let err = check(Role::Viewer, "vic", Permission::ManageApp, Some(("web", "vic"))).unwrap_err();
        assert_eq!(
            err.0,
            "changing apps needs the operator role; user 'vic' acts as a viewer here; ask an admin for a token with \
             that role"
        );
        let err = check(Role::Operator, "bob", Permission::ManageApp, Some(("web", "alice"))).unwrap_err();
        assert!(err.0.contains("app 'web' belongs to user 'alice'") && err.0.contains("ask 'alice' or an admin"));
        let err = check(Role::Operator, "bob", Permission::ManagePolicies, None).unwrap_err();
        assert!(err.0.starts_with("changing policies needs the admin role"), "{err}");
    }

    #[test]
    fn roles_order_and_a_token_never_exceeds_its_user() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!(Role::effective(Role::Operator, Role::Admin), Role::Operator);
        assert_eq!(Role::effective(Role::Admin, Role::Viewer), Role::Viewer);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn user_names() {
        assert_eq!(user_name_problem("alice"), None);
        assert_eq!(user_name_problem("student-7"), None);
        for bad in ["", "Alice", "7up", "a b", "a_b", &"a".repeat(41)] {
            assert!(user_name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
