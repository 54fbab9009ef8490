//! The engine's settings: `allowUnsafe` (the safety floor off) and `hostPathAllow` (host directories specs may
//! bind-mount read-only), and the services Crane talks to: `alertmanager_url` (where the built-in evaluator's
//! alerts are sent) and `opa_url` + `opa_policies` (an OPA server deciding some policies). They live in the store
//! (`allow_unsafe`: `"true"`/`"false"`; `host_path_allow`, `opa_policies`: JSON lists; the URLs as text), the
//! floor is read at every apply ([`EngineHandle::safety_floor`]), the service settings are kept in memory
//! ([`Remote`], read on every policy decision), and only an admin changes them, each change an event
//! (`settings.changed`) with the old and new value and who made it.
//!
//! **Architecture Invariant:** the store holds only allow-lists that `crane_core::safety::check_host_path_allow`
//! accepted; what is read back is checked again, so a damaged or hand-edited value can never widen the floor.

use crane_api::{EventKind, SettingsUpdate, SettingsView};

use crate::clock::LockExt;
use crate::{internal, EngineError, EngineHandle, Result};

/// The store setting that turns the safety floor off (`"true"`); absent means the floor is on.
pub(crate) const ALLOW_UNSAFE_KEY: &str = "allow_unsafe";
/// The store setting holding the host-path allow-list, a JSON list of absolute paths; absent means empty.
pub(crate) const HOST_PATH_ALLOW_KEY: &str = "host_path_allow";
/// The store setting holding the Alertmanager URL; absent means none.
pub(crate) const ALERTMANAGER_URL_KEY: &str = "alertmanager_url";
/// The store setting holding the OPA server's URL; absent means none.
pub(crate) const OPA_URL_KEY: &str = "opa_url";
/// The store setting holding the policies OPA decides, a JSON list of names; absent means none.
pub(crate) const OPA_POLICIES_KEY: &str = "opa_policies";
/// The longest URL a setting takes.
const MAX_URL_LEN: usize = 2048;

/// The settings that name other services, as the engine uses them (kept in memory; the store has the same).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Remote {
    /// Where the built-in evaluator's alerts go.
    pub alertmanager_url: Option<String>,
    /// The OPA server.
    pub opa_url: Option<String>,
    /// The policies it decides.
    pub opa_policies: Vec<crane_api::PolicyName>,
}

impl Remote {
    /// The OPA server that decides `policy`, if one does.
    pub(crate) fn opa_for(&self, policy: crane_api::PolicyName) -> Option<&str> {
        self.opa_url.as_deref().filter(|_| self.opa_policies.contains(&policy))
    }
}

/// Checks a service URL a setting names: `""` is none; else an `http://` or `https://` URL with a host, no user or
/// password, no query or fragment, at most 2048 bytes. The answer has no trailing `/`.
pub(crate) fn check_url(setting: &str, text: &str) -> std::result::Result<Option<String>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let example = match setting {
        "opa_url" => "http://127.0.0.1:8181",
        _ => "http://127.0.0.1:9093",
    };
    if text.len() > MAX_URL_LEN {
        return Err(format!(
            "{setting}: the URL is longer than {MAX_URL_LEN} bytes; give the server's base URL, e.g. {example}"
        ));
    }
    if !text.contains("://") {
        return Err(format!("{setting}: the URL must start with http:// or https://, e.g. {example}; got '{text}'"));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|e| format!("{setting}: '{text}' is not a URL ({e}); give the server's base URL, e.g. {example}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{setting}: the URL must start with http:// or https://, e.g. {example}; got '{text}'"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{setting}: the URL has no host; give e.g. {example}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{setting}: the URL carries a user or password, which would be stored and shown in clear; leave them out"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{setting}: give the server's base URL without ?query or #fragment, e.g. {example}"));
    }
    Ok(Some(url.as_str().trim_end_matches('/').to_string()))
}

/// What each setting changes, for the event's reason.
fn consequence(setting: &str, on: bool) -> &'static str {
    match (setting, on) {
        ("alertmanager_url", true) => "the built-in evaluator's firing and resolved alerts are sent there (API v2)",
        ("alertmanager_url", false) => "alerts are no longer sent to an Alertmanager",
        ("opa_url", true) => "the policies in opa_policies are decided by this OPA server",
        ("opa_url", false) => "no OPA server is configured",
        ("opa_policies", true) => {
            "these policies are decided by the OPA server from the next decision; when it cannot be reached, \
             admission refuses and scaling and alert actions hold"
        }
        ("opa_policies", false) => "every policy is decided by the embedded Rego again",
        ("allowUnsafe", true) => {
            "the safety floor is off: specs may ask for privileged containers, any host path (read-write) and any \
             capability, which is root on the host"
        }
        ("allowUnsafe", false) => "the safety floor is on again for every apply from now on",
        _ => "specs may bind-mount these host directories, read-only, from the next apply",
    }
}

impl EngineHandle {
    /// The engine's settings as stored. Any caller may read them (the window and `cranectl status` show them).
    pub async fn settings(&self) -> Result<SettingsView> {
        let store = &self.inner.store;
        let allow_unsafe = store.get_setting(ALLOW_UNSAFE_KEY).await.map_err(internal)?.as_deref() == Some("true");
        let stored = store.get_setting(HOST_PATH_ALLOW_KEY).await.map_err(internal)?;
        let remote = self.read_remote().await?;
        Ok(SettingsView {
            allow_unsafe,
            host_path_allow: self.read_allow_list(stored.as_deref()),
            alertmanager_url: remote.alertmanager_url,
            opa_url: remote.opa_url,
            opa_policies: remote.opa_policies,
        })
    }

    /// The service settings as stored, checked again (a value that does not pass reads as none, with a warning).
    async fn read_remote(&self) -> Result<Remote> {
        let store = &self.inner.store;
        let url = |key: &'static str, stored: Option<String>| {
            stored.and_then(|text| {
                check_url(key, &text).unwrap_or_else(|why| {
                    tracing::warn!("the stored {key} setting is not valid ({why}); it is ignored");
                    None
                })
            })
        };
        let alertmanager_url =
            url(ALERTMANAGER_URL_KEY, store.get_setting(ALERTMANAGER_URL_KEY).await.map_err(internal)?);
        let opa_url = url(OPA_URL_KEY, store.get_setting(OPA_URL_KEY).await.map_err(internal)?);
        let opa_policies = match store.get_setting(OPA_POLICIES_KEY).await.map_err(internal)? {
            Some(text) => serde_json::from_str::<Vec<crane_api::PolicyName>>(&text).unwrap_or_else(|e| {
                tracing::warn!("the stored opa_policies setting is not a list of policy names ({e}); it is ignored");
                Vec::new()
            }),
            None => Vec::new(),
        };
        Ok(Remote { alertmanager_url, opa_url, opa_policies })
    }

    /// Reads the service settings into memory (at start).
    pub(crate) async fn load_remote(&self) -> Result<()> {
        let remote = self.read_remote().await?;
        *self.inner.remote.locked() = remote;
        Ok(())
    }

    /// Changes the settings `update` names (admin only) and returns them all. Every value is checked before
    /// anything is written; each setting that changes is an event with its old and new value and the caller.
    pub async fn set_settings(&self, update: &SettingsUpdate) -> Result<SettingsView> {
        self.audited(crane_api::AuditAction::SettingsChange, None, None, self.set_settings_now(update)).await
    }

    async fn set_settings_now(&self, update: &SettingsUpdate) -> Result<SettingsView> {
        self.authorize(crate::Permission::ManageSettings, None).await?;
        if update.allow_unsafe.is_none()
            && update.host_path_allow.is_none()
            && update.alertmanager_url.is_none()
            && update.opa_url.is_none()
            && update.opa_policies.is_none()
        {
            return Err(EngineError::BadRequest(
                "nothing to change: give allow_unsafe (true or false), host_path_allow (a list of absolute paths), \
                 alertmanager_url, opa_url (URLs, \"\" for none) and/or opa_policies (a list of policy names)"
                    .to_string(),
            ));
        }
        let bad = |why: String| EngineError::BadRequest(why);
        let alertmanager_url =
            update.alertmanager_url.as_deref().map(|u| check_url(ALERTMANAGER_URL_KEY, u)).transpose().map_err(bad)?;
        let opa_url = update.opa_url.as_deref().map(|u| check_url(OPA_URL_KEY, u)).transpose().map_err(bad)?;
        let opa_policies = update.opa_policies.clone().map(|mut list| {
            list.sort();
            list.dedup();
            list
        });
        let allow_list = match &update.host_path_allow {
            Some(list) => Some(
                crane_core::safety::check_host_path_allow(list, Some(&self.inner.config.data_dir))
                    .map_err(|why| EngineError::BadRequest(format!("host_path_allow: {why}")))?,
            ),
            None => None,
        };
        // One settings change at a time, so the old value an event names is the one replaced.
        let _guard = self.inner.writes.lock().await;
        let old = self.settings().await?;
        let next_opa_url = opa_url.clone().unwrap_or_else(|| old.opa_url.clone());
        let next_opa_policies = opa_policies.clone().unwrap_or_else(|| old.opa_policies.clone());
        if next_opa_url.is_none() && !next_opa_policies.is_empty() {
            return Err(EngineError::BadRequest(format!(
                "opa_policies names {} but no opa_url is set: set opa_url to the OPA server (e.g. \
                 http://127.0.0.1:8181) first, or empty opa_policies",
                next_opa_policies
                    .iter()
                    .map(|p| crate::policies::core_name(*p).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let caller = self.caller().clone();
        let who = serde_json::json!({"user": caller.user, "door": caller.door});
        if let Some(on) = update.allow_unsafe.filter(|on| *on != old.allow_unsafe) {
            self.inner
                .store
                .put_setting(ALLOW_UNSAFE_KEY, if on { "true" } else { "false" })
                .await
                .map_err(internal)?;
            self.record(
                None,
                None,
                EventKind::SettingsChanged,
                format!(
                    "setting allowUnsafe changed by {} ({}): {} → {on}; {}",
                    caller.user,
                    door_name(caller.door),
                    old.allow_unsafe,
                    consequence("allowUnsafe", on)
                ),
                serde_json::json!({"setting": "allowUnsafe", "old": old.allow_unsafe, "new": on, "by": who}),
            )
            .await;
        }
        if let Some(list) = allow_list.filter(|list| *list != old.host_path_allow) {
            let text = serde_json::to_string(&list).map_err(internal)?;
            self.inner.store.put_setting(HOST_PATH_ALLOW_KEY, &text).await.map_err(internal)?;
            let shown = |l: &[String]| if l.is_empty() { "(none)".to_string() } else { l.join(", ") };
            self.record(
                None,
                None,
                EventKind::SettingsChanged,
                format!(
                    "setting hostPathAllow changed by {} ({}): {} → {}; {}",
                    caller.user,
                    door_name(caller.door),
                    shown(&old.host_path_allow),
                    shown(&list),
                    consequence("hostPathAllow", !list.is_empty())
                ),
                serde_json::json!({"setting": "hostPathAllow", "old": old.host_path_allow, "new": list, "by": who}),
            )
            .await;
        }
        let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
        for (setting, key, old_value, new_value) in [
            ("alertmanager_url", ALERTMANAGER_URL_KEY, &old.alertmanager_url, alertmanager_url),
            ("opa_url", OPA_URL_KEY, &old.opa_url, opa_url),
        ] {
            let Some(new_value) = new_value.filter(|v| v != old_value) else { continue };
            match &new_value {
                Some(url) => self.inner.store.put_setting(key, url).await.map_err(internal)?,
                None => self.inner.store.put_setting(key, "").await.map_err(internal)?,
            }
            self.record(
                None,
                None,
                EventKind::SettingsChanged,
                format!(
                    "setting {setting} changed by {} ({}): {} → {}; {}",
                    caller.user,
                    door_name(caller.door),
                    shown(old_value),
                    shown(&new_value),
                    consequence(setting, new_value.is_some())
                ),
                serde_json::json!({"setting": setting, "old": old_value, "new": new_value, "by": who}),
            )
            .await;
        }
        if let Some(list) = opa_policies.filter(|list| *list != old.opa_policies) {
            let text = serde_json::to_string(&list).map_err(internal)?;
            self.inner.store.put_setting(OPA_POLICIES_KEY, &text).await.map_err(internal)?;
            let names = |l: &[crane_api::PolicyName]| {
                if l.is_empty() {
                    "(none)".to_string()
                } else {
                    l.iter().map(|p| crate::policies::core_name(*p).to_string()).collect::<Vec<_>>().join(", ")
                }
            };
            self.record(
                None,
                None,
                EventKind::SettingsChanged,
                format!(
                    "setting opa_policies changed by {} ({}): {} → {}; {}",
                    caller.user,
                    door_name(caller.door),
                    names(&old.opa_policies),
                    names(&list),
                    consequence("opa_policies", !list.is_empty())
                ),
                serde_json::json!({"setting": "opa_policies", "old": old.opa_policies, "new": list, "by": who}),
            )
            .await;
        }
        self.load_remote().await?;
        self.settings().await
    }

    /// The safety floor specs are validated under: this engine's data directory is never mounted, the store
    /// setting `allow_unsafe` turns the floor off, and `host_path_allow` lists the host paths specs may mount.
    pub(crate) async fn safety_floor(&self) -> Result<crane_core::Floor> {
        let settings = self.settings().await?;
        Ok(crane_core::Floor {
            allow_unsafe: settings.allow_unsafe,
            host_path_allow: settings.host_path_allow.into_iter().map(Into::into).collect(),
            data_dir: Some(self.inner.config.data_dir.clone()),
        })
    }

    /// The stored allow-list, checked again: a value that does not parse or breaks a rule reads as empty (the
    /// strict floor), with a warning in the log.
    fn read_allow_list(&self, stored: Option<&str>) -> Vec<String> {
        let Some(text) = stored else { return Vec::new() };
        let checked = serde_json::from_str::<Vec<String>>(text)
            .map_err(|e| e.to_string())
            .and_then(|list| crane_core::safety::check_host_path_allow(&list, Some(&self.inner.config.data_dir)));
        checked.unwrap_or_else(|why| {
            tracing::warn!(
                "the stored host_path_allow setting is not a valid allow-list ({why}); no host path is allowed"
            );
            Vec::new()
        })
    }
}

/// The door as a word, for event reasons.
pub(crate) fn door_name(door: crane_api::Door) -> &'static str {
    match door {
        crane_api::Door::Window => "window",
        crane_api::Door::Rest => "REST",
        crane_api::Door::Cli => "cranectl",
        crane_api::Door::Lab => "lab",
        crane_api::Door::Engine => "engine",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_are_checked() {
        let ok = |t: &str| check_url("alertmanager_url", t).unwrap();
        assert_eq!(ok(""), None);
        assert_eq!(ok("  "), None);
        assert_eq!(ok("http://127.0.0.1:9093/"), Some("http://127.0.0.1:9093".to_string()));
        assert_eq!(ok("https://am.example:9093/prefix/"), Some("https://am.example:9093/prefix".to_string()));
        for (bad, says) in [
            ("127.0.0.1:9093", "must start with http"),
            ("ftp://h/", "must start with http"),
            ("http://user:pw@h:9093", "user or password"),
            ("http://h:9093/?x=1", "without ?query"),
            ("http://h:9093/#f", "without ?query"),
            ("not a url", "must start with http"),
            ("http://[::1", "is not a URL"),
        ] {
            let err = check_url("alertmanager_url", bad).unwrap_err();
            assert!(err.starts_with("alertmanager_url: ") && err.contains(says), "{bad}: {err}");
        }
        let long = format!("http://h/{}", "a".repeat(3000));
        assert!(check_url("opa_url", &long).unwrap_err().contains("longer than 2048"));
    }

    #[test]
    fn opa_decides_only_the_policies_named() {
        let remote = Remote {
            alertmanager_url: None,
            opa_url: Some("http://127.0.0.1:8181".into()),
            opa_policies: vec![crane_api::PolicyName::Admission],
        };
        assert_eq!(remote.opa_for(crane_api::PolicyName::Admission), Some("http://127.0.0.1:8181"));
        assert_eq!(remote.opa_for(crane_api::PolicyName::Scaling), None);
        assert_eq!(Remote::default().opa_for(crane_api::PolicyName::Admission), None);
    }
}
