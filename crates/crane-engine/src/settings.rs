//! The engine's settings: `allowUnsafe` (the safety floor off) and `hostPathAllow` (host directories specs may
//! bind-mount read-only). They live in the store (`allow_unsafe`: `"true"`/`"false"`; `host_path_allow`: a JSON list
//! of paths), are read at every apply ([`EngineHandle::safety_floor`]), and only an admin changes them, each change
//! an event (`settings.changed`) with the old and new value and who made it.
//!
//! **Architecture Invariant:** the store holds only allow-lists that `crane_core::safety::check_host_path_allow`
//! accepted; what is read back is checked again, so a damaged or hand-edited value can never widen the floor.

use crane_api::{EventKind, SettingsUpdate, SettingsView};

use crate::{internal, EngineError, EngineHandle, Result};

/// The store setting that turns the safety floor off (`"true"`); absent means the floor is on.
pub(crate) const ALLOW_UNSAFE_KEY: &str = "allow_unsafe";
/// The store setting holding the host-path allow-list, a JSON list of absolute paths; absent means empty.
pub(crate) const HOST_PATH_ALLOW_KEY: &str = "host_path_allow";

/// What each setting changes, for the event's reason.
fn consequence(setting: &str, on: bool) -> &'static str {
    match (setting, on) {
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
        Ok(SettingsView { allow_unsafe, host_path_allow: self.read_allow_list(stored.as_deref()) })
    }

    /// Changes the settings `update` names (admin only) and returns them all. Every value is checked before
    /// anything is written; each setting that changes is an event with its old and new value and the caller.
    pub async fn set_settings(&self, update: &SettingsUpdate) -> Result<SettingsView> {
        self.audited(crane_api::AuditAction::SettingsChange, None, None, self.set_settings_now(update)).await
    }

    async fn set_settings_now(&self, update: &SettingsUpdate) -> Result<SettingsView> {
        self.authorize(crate::Permission::ManageSettings, None).await?;
        if update.allow_unsafe.is_none() && update.host_path_allow.is_none() {
            return Err(EngineError::BadRequest(
                "nothing to change: give allow_unsafe (true or false) and/or host_path_allow (a list of absolute \
                 paths)"
                    .to_string(),
            ));
        }
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
