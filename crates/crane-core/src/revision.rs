//! Revision decisions, as pure functions: what an apply does to an app (create, update, scale or nothing) and which
//! revision number it gets, which revision an undo returns to, and what happens after a rolling update failed.
//!
//! The engine only carries these decisions out; keeping them here makes them table-testable and keeps the three doors
//! (window, REST, CLI) and the loop in agreement.

use crate::spec::AppSpec;
use crate::validate::needs_new_revision;

/// What applying a spec does to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyAction {
    /// The app did not exist: it is created at a new revision.
    Created,
    /// Container settings changed: a new revision is rolled out.
    Updated,
    /// Only the replica count or the autoscaling/update policy changed: same revision, no new containers.
    Scaled,
    /// Nothing changed.
    Unchanged,
}

impl ApplyAction {
    /// The lower-case word used in event kinds (`app.created`…) and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyAction::Created => "created",
            ApplyAction::Updated => "updated",
            ApplyAction::Scaled => "scaled",
            ApplyAction::Unchanged => "unchanged",
        }
    }

    /// Whether the apply records a new revision in the app's history.
    pub fn makes_revision(self) -> bool {
        matches!(self, ApplyAction::Created | ApplyAction::Updated)
    }
}

/// The app as stored before an apply: its spec and current revision.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// The stored spec.
    pub spec: &'a AppSpec,
    /// The revision it runs.
    pub revision: u64,
}

/// Classifies an apply and numbers its revision. `history` holds the revision numbers ever recorded for the app name
/// (after an undo the current revision is not the highest, so new revisions number past every one in the history).
pub fn classify_apply(current: Option<Current<'_>>, new: &AppSpec, history: &[u64]) -> (ApplyAction, u64) {
    let next = history.iter().copied().max().unwrap_or(0).max(current.map_or(0, |c| c.revision)) + 1;
    match current {
        None => (ApplyAction::Created, next),
        Some(c) if needs_new_revision(c.spec, new) => (ApplyAction::Updated, next),
        Some(c) if c.spec != new => (ApplyAction::Scaled, c.revision),
        Some(c) => (ApplyAction::Unchanged, c.revision),
    }
}

/// Why an undo cannot be done, in words that name the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoError {
    /// The requested revision is not in the history.
    #[error("app '{app}' has no revision {wanted}; see `cranectl rollout history {app}` (revisions: {known})")]
    NoSuchRevision {
        /// App name.
        app: String,
        /// The revision asked for.
        wanted: u64,
        /// The revisions there are, comma-separated.
        known: String,
    },
    /// No revision older than the current one exists.
    #[error("app '{app}' has no revision before {current}; nothing to undo")]
    NothingBefore {
        /// App name.
        app: String,
        /// The current revision.
        current: u64,
    },
    /// The app already runs the requested revision.
    #[error("app '{app}' already runs revision {current}")]
    AlreadyCurrent {
        /// App name.
        app: String,
        /// The current revision.
        current: u64,
    },
}

/// The revision `rollout undo` returns to: `to` when given (it must exist and differ from the current one), else the
/// newest revision older than the current one.
pub fn undo_target(app: &str, current: u64, history: &[u64], to: Option<u64>) -> Result<u64, UndoError> {
    let target = match to {
        Some(n) if history.contains(&n) => n,
        Some(n) => {
            let known = history.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
            return Err(UndoError::NoSuchRevision { app: app.to_string(), wanted: n, known });
        }
        None => history
            .iter()
            .copied()
            .filter(|r| *r < current)
            .max()
            .ok_or_else(|| UndoError::NothingBefore { app: app.to_string(), current })?,
    };
    if target == current {
        return Err(UndoError::AlreadyCurrent { app: app.to_string(), current });
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::parse_spec;

    fn spec(yaml: &str) -> AppSpec {
        parse_spec(yaml).expect("valid spec")
    }

    /// `old` is `None` or (yaml, revision); returns "action revision".
    fn check(old: Option<(&str, u64)>, new: &str, history: &[u64], expected: &str) {
        let old_spec = old.map(|(y, r)| (spec(y), r));
        let current = old_spec.as_ref().map(|(s, r)| Current { spec: s, revision: *r });
        let (action, revision) = classify_apply(current, &spec(new), history);
        assert_eq!(format!("{} {revision}", action.as_str()), expected, "old {old:?} new {new} history {history:?}");
    }

    const A: &str = "name: web\nimage: a:1\nreplicas: 2\n";
    const A3: &str = "name: web\nimage: a:1\nreplicas: 3\n";
    const B: &str = "name: web\nimage: a:2\nreplicas: 2\n";

    #[test]
    fn apply_is_classified_and_numbered() {
        check(None, A, &[], "created 1");
        // A name deleted and created again numbers past its old history only if the history survived; it does not.
        check(None, A, &[4], "created 5");
        check(Some((A, 1)), A, &[1], "unchanged 1");
        check(Some((A, 1)), A3, &[1], "scaled 1");
        check(Some((A, 1)), B, &[1], "updated 2");
        // After an undo to 1, the next update is 4, not 2 (2 and 3 exist).
        check(Some((A, 1)), B, &[1, 2, 3], "updated 4");
        check(Some((B, 3)), A, &[1, 2, 3], "updated 4");
    }

    #[test]
    fn undo_targets() {
        assert_eq!(undo_target("web", 3, &[1, 2, 3], None), Ok(2));
        assert_eq!(undo_target("web", 2, &[1, 2, 3], None), Ok(1));
        assert_eq!(undo_target("web", 3, &[1, 2, 3], Some(1)), Ok(1));
        // Undo can go forward to a newer revision by number.
        assert_eq!(undo_target("web", 1, &[1, 2, 3], Some(3)), Ok(3));
        let err = undo_target("web", 3, &[1, 2, 3], Some(9)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "app 'web' has no revision 9; see `cranectl rollout history web` (revisions: 1, 2, 3)"
        );
        let err = undo_target("web", 1, &[1], None).unwrap_err();
        assert_eq!(err.to_string(), "app 'web' has no revision before 1; nothing to undo");
        let err = undo_target("web", 2, &[1, 2], Some(2)).unwrap_err();
        assert_eq!(err.to_string(), "app 'web' already runs revision 2");
    }
}
